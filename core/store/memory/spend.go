package memory

import (
	"context"
	"sort"
	"strings"
	"sync"

	"github.com/claude-gateway/claude-gateway/core/spend"
)

// SpendStore keeps spend records in memory, for a single instance with no
// state server, and tests. Records are lost when the process ends; use the
// embedded store to keep them.
type SpendStore struct {
	mu   sync.RWMutex
	byID map[string]spend.Record
	keys []string // sort keys, ascending
	max  int
}

// MaxSpendRecords bounds the memory store: past it the oldest records go, so
// a long-running process on the memory store does not grow without end.
const MaxSpendRecords = 100_000

// NewSpendStore returns an empty spend store holding at most MaxSpendRecords.
func NewSpendStore() *SpendStore {
	return &SpendStore{byID: map[string]spend.Record{}, max: MaxSpendRecords}
}

var _ spend.Store = (*SpendStore)(nil)

// PutSpend implements spend.Store: a call id already stored is left as it is.
func (s *SpendStore) PutSpend(_ context.Context, recs []spend.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range spend.Dedupe(recs) {
		if _, ok := s.byID[r.CallID]; ok {
			continue
		}
		s.byID[r.CallID] = r
		k := spend.SortKey(r)
		i := sort.SearchStrings(s.keys, k)
		s.keys = append(s.keys, "")
		copy(s.keys[i+1:], s.keys[i:])
		s.keys[i] = k
	}
	if over := len(s.keys) - s.max; s.max > 0 && over > 0 {
		for _, k := range s.keys[:over] {
			delete(s.byID, k[strings.IndexByte(k, '#')+1:])
		}
		s.keys = append(s.keys[:0:0], s.keys[over:]...)
	}
	return nil
}

// QuerySpend implements spend.Store.
func (s *SpendStore) QuerySpend(_ context.Context, q spend.Query) (spend.Page, error) {
	q, err := q.Normalize()
	if err != nil {
		return spend.Page{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var page spend.Page
	if q.RequestID != "" {
		if r, ok := s.byID[q.RequestID]; ok && q.Matches(r) && inBounds(q, r) {
			page.Records = append(page.Records, r)
		}
		return page, nil
	}
	lo, hi := q.Bounds()
	end := len(s.keys)
	if hi != "" {
		end = sort.SearchStrings(s.keys, hi)
	}
	for i := end - 1; i >= 0 && s.keys[i] >= lo; i-- {
		r := s.byID[s.keys[i][20:]]
		if !q.Matches(r) {
			continue
		}
		if len(page.Records) == q.Limit {
			page.NextCursor = spend.EncodeCursor(spend.SortKey(page.Records[len(page.Records)-1]))
			break
		}
		page.Records = append(page.Records, r)
	}
	return page, nil
}

// inBounds applies the cursor to a record found by id.
func inBounds(q spend.Query, r spend.Record) bool {
	lo, hi := q.Bounds()
	k := spend.SortKey(r)
	return k >= lo && (hi == "" || k < hi)
}
