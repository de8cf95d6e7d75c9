package embedded

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/claude-gateway/claude-gateway/core/spend"
	"github.com/claude-gateway/claude-gateway/core/store/storetest"
)

func open(tb testing.TB) (router.Store, spend.Store) {
	s, err := Open(filepath.Join(tb.TempDir(), "state.db"), Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s, s
}

func TestConformance(t *testing.T) { storetest.Run(t, open) }

func BenchmarkStore(b *testing.B) { storetest.Bench(b, open) }

// TestSurvivesRestart: counters, entries and spend records written before
// Close are there after reopening the file; expired ones are not.
func TestSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	s.Incr(ctx, "rpm", 7, 0, exp)
	s.Put(ctx, "cooldown", "dep-1", exp)
	s.Put(ctx, "short", "x", time.Now().Add(-time.Second))
	rec := spend.Record{CallID: "c1", StartTime: time.Now(), ModelGroup: "g", Cost: 0.5, Status: 200}
	if err := s.PutSpend(ctx, []spend.Record{rec}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if c, _ := s.Counts(ctx, []string{"rpm"}); c[0] != 7 {
		t.Fatalf("counter after restart = %d, want 7", c[0])
	}
	e, _ := s.Get(ctx, []string{"cooldown", "short"})
	if e[0].Value != "dep-1" || !e[0].Expires.Equal(exp) || e[1].Found() {
		t.Fatalf("entries after restart = %+v", e)
	}
	p, err := s.QuerySpend(ctx, spend.Query{RequestID: "c1"})
	if err != nil || len(p.Records) != 1 || p.Records[0].Cost != 0.5 {
		t.Fatalf("spend after restart = %+v, %v", p, err)
	}
}

// TestSecondProcessRefused: the file is locked while one store holds it.
func TestSecondProcessRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s2, err := Open(path, Options{}); err == nil {
		s2.Close()
		t.Fatal("second open of a locked file succeeded")
	}
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t)
	st := s.(*Store)
	now := time.Now()
	recs := []spend.Record{
		{CallID: "old", StartTime: now.Add(-48 * time.Hour), ModelGroup: "g", RequestedModel: "alias", KeyHash: "k"},
		{CallID: "new", StartTime: now, ModelGroup: "g", KeyHash: "k"},
	}
	if err := st.PutSpend(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if n, err := st.prune(now.Add(-24 * time.Hour)); err != nil || n != 1 {
		t.Fatalf("prune = %d, %v", n, err)
	}
	for _, q := range []spend.Query{{}, {Model: "g"}, {Model: "alias"}, {KeyHash: "k"}, {RequestID: "old"}} {
		p, err := st.QuerySpend(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Records {
			if r.CallID == "old" {
				t.Fatalf("pruned record still found by %+v", q)
			}
		}
	}
}
