package memory

import (
	"fmt"

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

func TestSpendStoreBounded(t *testing.T) {
	s := NewSpendStore()
	s.max = 3
	base := time.Unix(1000, 0)
	for i := 0; i < 5; i++ {
		r := spend.Record{CallID: fmt.Sprintf("id-%d", i), StartTime: base.Add(time.Duration(i) * time.Second)}
		if err := s.PutSpend(context.Background(), []spend.Record{r}); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.byID) != 3 || len(s.keys) != 3 {
		t.Fatalf("kept %d records, %d keys, want 3", len(s.byID), len(s.keys))
	}
	if _, ok := s.byID["id-0"]; ok {
		t.Error("oldest record kept")
	}
	if _, ok := s.byID["id-4"]; !ok {
		t.Error("newest record dropped")
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
