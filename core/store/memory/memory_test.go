package memory

import (
	"fmt"
	"runtime"

	"context"
	"github.com/claude-gateway/claude-gateway/core/spend"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestIncrLimitAndExpiry(t *testing.T) {
	now := time.Unix(1000, 0)
	s := New(func() time.Time { return now })
	ctx := context.Background()
	exp := now.Add(time.Minute)
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, ok, _ := s.Incr(ctx, "rpm", 1, 20, exp); ok {
				admitted.Add(1)
			}
		}()
	}
	wg.Wait()
	if admitted.Load() != 20 {
		t.Fatalf("admitted %d, want 20", admitted.Load())
	}
	if c, _ := s.Counts(ctx, []string{"rpm", "none"}); c[0] != 20 || c[1] != 0 {
		t.Fatalf("counts %v", c)
	}
	now = exp
	if v, ok, _ := s.Incr(ctx, "rpm", 1, 20, now.Add(time.Minute)); !ok || v != 1 {
		t.Fatalf("after expiry: %d %v", v, ok)
	}
	s.Put(ctx, "cool", "x", now.Add(time.Second))
	if e, _ := s.Get(ctx, []string{"cool", "none"}); e[0].Value != "x" || !e[0].Found() || e[1].Found() {
		t.Fatalf("get %v", e)
	}
	now = now.Add(2 * time.Second)
	if e, _ := s.Get(ctx, []string{"cool"}); e[0].Found() {
		t.Fatal("expired entry still found")
	}
}

// TestSpendStoreBounded: past its byte budget the store drops its oldest
// records, and their interned strings with them.
func TestSpendStoreBounded(t *testing.T) {
	s := NewSpendStore()
	base := time.Unix(1000, 0)
	rec := func(i int) spend.Record {
		return spend.Record{CallID: fmt.Sprintf("id-%d", i), StartTime: base.Add(time.Duration(i) * time.Second),
			SessionID: fmt.Sprintf("session-%d", i), ModelGroup: "claude-sonnet"}
	}
	if err := s.PutSpend(context.Background(), []spend.Record{rec(0)}); err != nil {
		t.Fatal(err)
	}
	s.maxBytes = 3 * (s.bytes + s.strs.bytes) // room for three such records (and a shared string to spare)
	for i := 1; i < 5; i++ {
		if err := s.PutSpend(context.Background(), []spend.Record{rec(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.recs) != 3 || len(s.byID)+len(s.collide) != 3 {
		t.Fatalf("kept %d records, %d ids, want 3", len(s.recs), len(s.byID)+len(s.collide))
	}
	for i, want := range []bool{false, false, true, true, true} {
		if _, ok := s.find(fmt.Sprintf("id-%d", i)); ok != want {
			t.Errorf("record id-%d kept = %v, want %v", i, ok, want)
		}
	}
	if _, ok := s.strs.lookup("session-0"); ok {
		t.Error("an evicted record's session id is still interned")
	}
	if _, ok := s.strs.lookup("session-4"); !ok {
		t.Error("a kept record's session id is not interned")
	}
}

// TestSpendStoreCompact: a realistic record costs at most 300 bytes of heap
// in the store (the budget), indexes included.
func TestSpendStoreCompact(t *testing.T) {
	const n = 20000
	recs := make([]spend.Record, n)
	start := time.Now()
	for i := range recs {
		recs[i] = spend.Record{
			CallID: fmt.Sprintf("019af%03x-7c2e-7d41-9c3a-%012x", i%4096, i), StartTime: start.Add(time.Duration(i) * time.Millisecond),
			EndTime: start.Add(time.Duration(i)*time.Millisecond + 2*time.Second), TTFTMillis: 412,
			ModelGroup: "claude-sonnet", RequestedModel: "claude-sonnet-4-5", DeploymentID: "dep-bedrock-us-east-1",
			Provider: "bedrock", Region: "us-east-1", APIBase: "https://bedrock-runtime.us-east-1.amazonaws.com",
			KeyHash: spend.HashKey(fmt.Sprint("sk-", i%50)), SessionID: fmt.Sprintf("session-%d", i/20), Endpoint: "/v1/messages",
			InputTokens: 12000 + int64(i), OutputTokens: 800, CacheReadInputTokens: 90000, Cost: 0.0123,
			Status: 200, Stream: true, KeyAlias: "ci", UserID: "ana", TeamID: "platform",
		}
	}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	s := NewSpendStore()
	for i := 0; i < n; i += 100 {
		if err := s.PutSpend(context.Background(), recs[i:i+100]); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	per := float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / n
	t.Logf("%.0f bytes per record in memory (accounted: %d)", per, (s.bytes+s.strs.bytes)/n)
	if per > 300 {
		t.Errorf("%.0f bytes per record, want <= 300", per)
	}
	runtime.KeepAlive(s)
	if got, _ := s.QuerySpend(context.Background(), spend.Query{RequestID: recs[777].CallID}); len(got.Records) != 1 || got.Records[0].InputTokens != recs[777].InputTokens {
		t.Fatalf("record 777 read back as %+v", got.Records)
	}
}

// TestSnapshotRestore: a snapshot holds the live entries only, its version
// moves with every change, and Restore brings the entries back.
func TestSnapshotRestore(t *testing.T) {
	now := time.Unix(1000, 0)
	s := New(func() time.Time { return now })
	ctx := context.Background()
	s.Incr(ctx, "rpm", 3, 0, now.Add(time.Minute))
	s.Put(ctx, "cool", "dep-1", now.Add(time.Hour))
	s.Put(ctx, "gone", "x", now.Add(-time.Second))
	items, v := s.Snapshot()
	if len(items) != 2 {
		t.Fatalf("snapshot = %+v, want the 2 live entries", items)
	}
	if _, v2 := s.Snapshot(); v2 != v {
		t.Fatalf("version moved without a change: %d -> %d", v, v2)
	}
	s.Incr(ctx, "rpm", 1, 0, now.Add(time.Minute))
	if s.Version() == v {
		t.Fatal("version did not move on Incr")
	}
	r := New(func() time.Time { return now })
	r.Restore(items)
	if c, _ := r.Counts(ctx, []string{"rpm"}); c[0] != 3 {
		t.Fatalf("restored counter = %d, want 3", c[0])
	}
	if e, _ := r.Get(ctx, []string{"cool", "gone"}); e[0].Value != "dep-1" || e[1].Found() {
		t.Fatalf("restored entries = %+v", e)
	}
}
