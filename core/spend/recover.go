package spend

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
)

// Recover writes to s the records of the spend_record_unsaved lines in r (a
// log file, or the lines an operator exported from Cloud Logging or
// CloudWatch). Other lines are skipped. Writing is idempotent on the call
// id, so a log can be replayed twice. It returns how many records it wrote.
func Recover(ctx context.Context, r io.Reader, s Store) (int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var batch []Record
	written := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := s.PutSpend(ctx, batch); err != nil {
			return fmt.Errorf("spend: recover: %w", err)
		}
		written += len(batch)
		batch = batch[:0]
		return nil
	}
	for line := 1; sc.Scan(); line++ {
		var l struct {
			Message string  `json:"message"` // core/logging's key
			Msg     string  `json:"msg"`     // slog's default key
			Record  *Record `json:"record"`
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil || (l.Message != UnsavedMessage && l.Msg != UnsavedMessage) {
			continue
		}
		if l.Record == nil || l.Record.CallID == "" {
			return written, fmt.Errorf("spend: recover: line %d: %s without a record", line, UnsavedMessage)
		}
		batch = append(batch, *l.Record)
		if len(batch) == 100 {
			if err := flush(); err != nil {
				return written, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return written, fmt.Errorf("spend: recover: %w", err)
	}
	return written, flush()
}
