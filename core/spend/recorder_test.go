package spend_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/spend"
	"github.com/claude-gateway/claude-gateway/core/store/memory"
)

// faulty wraps a store: the first failN writes fail; hang blocks writes until their context ends.
type faulty struct {
	spend.Store
	mu     sync.Mutex
	failN  int
	hang   bool
	writes int
	wrote  chan int // batch sizes written, if set
}

func (f *faulty) PutSpend(ctx context.Context, recs []spend.Record) error {
	f.mu.Lock()
	f.writes++
	hang, fail := f.hang, f.failN > 0
	if fail {
		f.failN--
	}
	f.mu.Unlock()
	if hang {
		<-ctx.Done()
		return ctx.Err()
	}
	if fail {
		return errors.New("store unavailable")
	}
	if err := f.Store.PutSpend(ctx, recs); err != nil {
		return err
	}
	if f.wrote != nil {
		f.wrote <- len(recs)
	}
	return nil
}

func rec(i int) spend.Record {
	return spend.Record{CallID: fmt.Sprintf("call-%d", i), StartTime: time.Unix(1700000000+int64(i), 0), ModelGroup: "g", Cost: 0.01, Status: 200}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// unsaved parses the spend_record_unsaved lines: the records they carry.
func (s *syncBuffer) unsaved(t *testing.T) []spend.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []spend.Record
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	for sc.Scan() {
		var line struct {
			Msg    string       `json:"msg"`
			Record spend.Record `json:"record"`
			CallID string       `json:"call_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line is not JSON: %s", sc.Text())
		}
		if line.Msg == spend.UnsavedMessage {
			if line.CallID != line.Record.CallID {
				t.Fatalf("call_id %q does not match the record's %q", line.CallID, line.Record.CallID)
			}
			out = append(out, line.Record)
		}
	}
	return out
}

func logger(b *syncBuffer) *slog.Logger { return slog.New(slog.NewJSONHandler(b, nil)) }

func count(t *testing.T, s spend.Store) int {
	p, err := s.QuerySpend(context.Background(), spend.Query{Limit: spend.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	return len(p.Records)
}

func TestBatchRecorderFlushAndClose(t *testing.T) {
	mem := memory.NewSpendStore()
	r := spend.NewBatchRecorder(mem, spend.BatchOptions{FlushInterval: time.Hour})
	ctx := context.Background()
	for i := range 5 {
		r.Record(ctx, rec(i))
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, mem); n != 5 {
		t.Fatalf("after Flush: %d records, want 5", n)
	}
	for i := 5; i < 8; i++ {
		r.Record(ctx, rec(i))
	}
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, mem); n != 8 {
		t.Fatalf("after Close: %d records, want 8", n)
	}
	// A record arriving after Close (a request that outlived shutdown) is still written.
	r.Record(ctx, rec(8))
	if n := count(t, mem); n != 9 {
		t.Fatalf("late record: %d records, want 9", n)
	}
	if st := r.Stats(); st.Written != 9 || st.Unsaved != 0 || st.Buffered != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

// TestBatchRecorderFullBatch: a full batch is written without waiting for the timer.
func TestBatchRecorderFullBatch(t *testing.T) {
	f := &faulty{Store: memory.NewSpendStore(), wrote: make(chan int, 10)}
	r := spend.NewBatchRecorder(f, spend.BatchOptions{BatchSize: 10, FlushInterval: time.Hour})
	defer r.Close(context.Background())
	for i := range 10 {
		r.Record(context.Background(), rec(i))
	}
	select {
	case n := <-f.wrote:
		if n != 10 {
			t.Fatalf("batch of %d, want 10", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("full batch not written")
	}
}

func TestBatchRecorderRetries(t *testing.T) {
	var logs syncBuffer
	f := &faulty{Store: memory.NewSpendStore(), failN: 2}
	r := spend.NewBatchRecorder(f, spend.BatchOptions{FlushInterval: time.Hour, Backoff: time.Millisecond, Logger: logger(&logs)})
	r.Record(context.Background(), rec(1))
	r.Close(context.Background())
	if n := count(t, f.Store); n != 1 {
		t.Fatalf("%d records, want 1 after two failed attempts", n)
	}
	if st := r.Stats(); st.Retries != 2 || st.Written != 1 || st.Unsaved != 0 {
		t.Fatalf("stats = %+v", st)
	}
	if u := logs.unsaved(t); len(u) != 0 {
		t.Fatalf("logged %d unsaved records", len(u))
	}
}

// TestBatchRecorderStoreDown: when every attempt fails, each record is logged
// as one structured line holding the whole record.
func TestBatchRecorderStoreDown(t *testing.T) {
	var logs syncBuffer
	f := &faulty{Store: memory.NewSpendStore(), failN: 1 << 30}
	r := spend.NewBatchRecorder(f, spend.BatchOptions{FlushInterval: time.Hour, Attempts: 3, Backoff: time.Millisecond, Logger: logger(&logs)})
	want := []spend.Record{rec(1), rec(2), rec(3)}
	want[1].InputTokens, want[1].Cost, want[1].KeyHash = 1234, 0.5, "abc"
	for _, x := range want {
		r.Record(context.Background(), x)
	}
	r.Close(context.Background())
	got := logs.unsaved(t)
	if len(got) != 3 {
		t.Fatalf("logged %d unsaved records, want 3", len(got))
	}
	for i := range want {
		if !got[i].StartTime.Equal(want[i].StartTime) {
			t.Fatalf("record %d time %v, want %v", i, got[i].StartTime, want[i].StartTime)
		}
		got[i].StartTime, got[i].EndTime = want[i].StartTime, want[i].EndTime
		if got[i] != want[i] {
			t.Fatalf("logged record %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if f.writes != 3 {
		t.Fatalf("%d attempts, want 3", f.writes)
	}
	if st := r.Stats(); st.Unsaved != 3 || st.Retries != 2 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestBatchRecorderBufferFull(t *testing.T) {
	var logs syncBuffer
	mem := memory.NewSpendStore()
	r := spend.NewBatchRecorder(mem, spend.BatchOptions{FlushInterval: time.Hour, MaxBuffered: 2, Logger: logger(&logs)})
	for i := range 3 {
		r.Record(context.Background(), rec(i))
	}
	u := logs.unsaved(t)
	if len(u) != 1 || u[0].CallID != "call-2" {
		t.Fatalf("unsaved = %+v, want call-2 (buffer full)", u)
	}
	r.Close(context.Background())
	if n := count(t, mem); n != 2 {
		t.Fatalf("%d records stored, want 2", n)
	}
}

// TestBatchRecorderCloseDeadline: a hanging store cannot hold Close past its
// deadline; what is not written is logged.
func TestBatchRecorderCloseDeadline(t *testing.T) {
	var logs syncBuffer
	f := &faulty{Store: memory.NewSpendStore(), hang: true}
	r := spend.NewBatchRecorder(f, spend.BatchOptions{FlushInterval: time.Hour, Logger: logger(&logs)})
	for i := range 4 {
		r.Record(context.Background(), rec(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	r.Close(ctx)
	if u := logs.unsaved(t); len(u) != 4 {
		t.Fatalf("logged %d unsaved records, want 4", len(u))
	}
}

func TestSyncRecorder(t *testing.T) {
	var logs syncBuffer
	f := &faulty{Store: memory.NewSpendStore(), failN: 1}
	r := spend.NewSyncRecorder(f, spend.SyncOptions{Backoff: time.Millisecond, Logger: logger(&logs)})
	r.Record(context.Background(), rec(1))
	if n := count(t, f.Store); n != 1 {
		t.Fatalf("not written before Record returned: %d records", n)
	}
	f.failN = 100
	r.Record(context.Background(), rec(2))
	if u := logs.unsaved(t); len(u) != 1 || u[0].CallID != "call-2" {
		t.Fatalf("unsaved = %+v", u)
	}
	if st := r.Stats(); st.Written != 1 || st.Unsaved != 1 || st.Retries != 3 {
		t.Fatalf("stats = %+v", st)
	}
}

// TestSyncRecorderIgnoresCancel: the request context may already be done
// (client gone); the record is still written.
func TestSyncRecorderIgnoresCancel(t *testing.T) {
	mem := memory.NewSpendStore()
	r := spend.NewSyncRecorder(mem, spend.SyncOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r.Record(ctx, rec(1))
	if n := count(t, mem); n != 1 {
		t.Fatalf("%d records", n)
	}
}

// TestSyncRecorderWriteDeadline: a request marked with a write deadline
// (Lambda's invocation deadline) gets its record written or logged as
// unsaved by then, never later, even if the store hangs; its request
// context having ended (WithoutCancel) does not shorten it.
func TestSyncRecorderWriteDeadline(t *testing.T) {
	var logs syncBuffer
	f := &faulty{Store: memory.NewSpendStore(), hang: true}
	r := spend.NewSyncRecorder(f, spend.SyncOptions{Logger: logger(&logs)})
	ctx, cancel := context.WithCancel(spend.WithWriteDeadline(context.Background(), time.Now().Add(200*time.Millisecond)))
	cancel()
	start := time.Now()
	r.Record(ctx, rec(1))
	if took := time.Since(start); took < 150*time.Millisecond || took > time.Second {
		t.Fatalf("Record returned after %v with a 200ms write deadline and a hanging store", took)
	}
	if u := logs.unsaved(t); len(u) != 1 || u[0].CallID != "call-1" {
		t.Fatalf("unsaved = %+v", u)
	}
	f.mu.Lock()
	f.hang = false
	f.mu.Unlock()
	r.Record(spend.WithWriteDeadline(context.Background(), time.Now().Add(time.Second)), rec(2))
	if n := count(t, f.Store); n != 1 {
		t.Fatalf("%d records written before the deadline, want 1", n)
	}
	if _, ok := spend.WriteDeadline(context.Background()); ok {
		t.Fatal("a plain context has a write deadline")
	}
}

// TestRecover: the unsaved lines a recorder logged while the store was down
// are written once it is back, once each even if replayed.
func TestRecover(t *testing.T) {
	var logs syncBuffer
	f := &faulty{Store: memory.NewSpendStore(), failN: 1 << 30}
	r := spend.NewBatchRecorder(f, spend.BatchOptions{FlushInterval: time.Hour, Attempts: 1, Logger: logger(&logs)})
	for i := range 3 {
		r.Record(context.Background(), rec(i))
	}
	r.Close(context.Background())
	log := logs.b.String() + `{"msg":"request","status":200}` + "\nnot json\n"

	back := memory.NewSpendStore()
	for range 2 {
		n, err := spend.Recover(context.Background(), strings.NewReader(log), back)
		if err != nil || n != 3 {
			t.Fatalf("Recover = %d, %v", n, err)
		}
	}
	if n := count(t, back); n != 3 {
		t.Fatalf("%d records after two replays, want 3", n)
	}
	if _, err := spend.Recover(context.Background(), strings.NewReader(`{"message":"spend_record_unsaved"}`), back); err == nil {
		t.Fatal("a line without its record was accepted")
	}
}
