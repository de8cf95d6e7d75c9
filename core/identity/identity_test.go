package identity_test

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/identity"
	"github.com/claude-gateway/claude-gateway/core/store/guard"
	"github.com/claude-gateway/claude-gateway/core/store/memory"
)

func TestParseWindow(t *testing.T) {
	now := time.Date(2026, 5, 17, 13, 45, 0, 0, time.UTC)
	tests := []struct {
		in         string
		start, end string
		bad        bool
	}{
		{in: "1h", start: "2026-05-17T13:00:00Z", end: "2026-05-17T14:00:00Z"},
		{in: "1d", start: "2026-05-17T00:00:00Z", end: "2026-05-18T00:00:00Z"},
		{in: "30s", start: "2026-05-17T13:45:00Z", end: "2026-05-17T13:45:30Z"},
		{in: "1mo", start: "2026-05-01T00:00:00Z", end: "2026-06-01T00:00:00Z"},
		{in: "3mo", start: "2026-04-01T00:00:00Z", end: "2026-07-01T00:00:00Z"},
		{in: "", start: "1970-01-01T00:00:00Z", end: "2100-01-01T00:00:00Z"},
		{in: "0d", bad: true}, {in: "d", bad: true}, {in: "7w", bad: true}, {in: "-1h", bad: true},
	}
	for _, tc := range tests {
		w, err := identity.ParseWindow(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseWindow(%q) accepted", tc.in)
			}
			continue
		}
		start, end := w.Span(now)
		if err != nil || start.Format(time.RFC3339) != tc.start || end.Format(time.RFC3339) != tc.end {
			t.Errorf("ParseWindow(%q).Span = %v..%v, %v; want %s..%s", tc.in, start, end, err, tc.start, tc.end)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func putKey(t *testing.T, g *identity.Gatekeeper, k identity.Key) string {
	t.Helper()
	secret := identity.NewSecret()
	k.Token = identity.HashKey(secret)
	if err := g.Repo().Put(context.Background(), &k); err != nil {
		t.Fatal(err)
	}
	return secret
}

func TestAllowsModel(t *testing.T) {
	g := identity.NewGatekeeper(memory.New(nil), identity.Options{})
	tests := []struct {
		models []string
		model  string
		want   bool
	}{
		{nil, "claude-opus", true},
		{[]string{"claude-haiku"}, "claude-haiku", true},
		{[]string{"claude-haiku"}, "claude-opus", false},
		{[]string{"claude-*-4-5"}, "claude-sonnet-4-5", true},
		{[]string{"claude-*-4-5"}, "claude-sonnet-4-1", false},
		{[]string{"all-proxy-models"}, "anything", true},
	}
	for _, tc := range tests {
		c, e := g.Admit(context.Background(), putKey(t, g, identity.Key{Models: tc.models}))
		if e != nil {
			t.Fatal(e)
		}
		if got := c.AllowsModel(tc.model); got != tc.want {
			t.Errorf("models %v: AllowsModel(%q) = %v", tc.models, tc.model, got)
		}
	}
}

// TestBudgetAcrossInstances: two gatekeepers share one store. Spend charged
// on one is refused on the other after one Refresh; the overshoot is at
// most the calls admitted before that refresh.
func TestBudgetAcrossInstances(t *testing.T) {
	ctx := context.Background()
	st := memory.New(nil)
	a := identity.NewGatekeeper(st, identity.Options{})
	b := identity.NewGatekeeper(st, identity.Options{})
	secret := putKey(t, a, identity.Key{MaxBudget: ptr(1.0), BudgetDuration: "1d"})
	cb, e := b.Admit(ctx, secret)
	if e != nil {
		t.Fatal(e)
	}
	for range 4 {
		ca, e := a.Admit(ctx, secret)
		if e != nil {
			t.Fatal(e)
		}
		if e := ca.Begin(ctx, "m"); e != nil {
			t.Fatal(e)
		}
		ca.End(0.25, 10)
	}
	a.Wait()
	if e := cb.Begin(ctx, "m"); e != nil {
		t.Fatalf("instance b refused before its refresh: %v", e)
	}
	cb.End(0, 0)
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	cb, _ = b.Admit(ctx, secret)
	if e := cb.Begin(ctx, "m"); e == nil || e.Status != 402 {
		t.Fatalf("instance b after refresh: %v, want 402 budget exceeded", e)
	}
}

func TestRevocationAcrossInstances(t *testing.T) {
	ctx := context.Background()
	st := memory.New(nil)
	a := identity.NewGatekeeper(st, identity.Options{})
	b := identity.NewGatekeeper(st, identity.Options{})
	secret := putKey(t, a, identity.Key{})
	if _, e := b.Admit(ctx, secret); e != nil {
		t.Fatal(e)
	}
	if err := a.Repo().Delete(ctx, identity.HashKey(secret)); err != nil {
		t.Fatal(err)
	}
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, e := b.Admit(ctx, secret); e == nil || e.Status != 401 {
		t.Fatalf("deleted key after refresh: %v, want 401", e)
	}
}

func TestParallelLimit(t *testing.T) {
	ctx := context.Background()
	g := identity.NewGatekeeper(memory.New(nil), identity.Options{})
	secret := putKey(t, g, identity.Key{MaxParallelRequests: ptr(int64(2))})
	var open []*identity.Caller
	for i, want := range []int{0, 0, 429} {
		c, _ := g.Admit(ctx, secret)
		e := c.Begin(ctx, "m")
		got := 0
		if e != nil {
			got = e.Status
		} else {
			open = append(open, c)
		}
		if got != want || (e != nil && e.RetryAfter <= 0) {
			t.Fatalf("call %d: %v, want %d", i, e, want)
		}
	}
	open[0].End(0, 0)
	c, _ := g.Admit(ctx, secret)
	if e := c.Begin(ctx, "m"); e != nil {
		t.Fatalf("after one ended: %v", e)
	}
}

// BenchmarkAdmit is the steady-state auth + policy check of a virtual key
// (cached: no store round trip).
func BenchmarkAdmit(b *testing.B) {
	ctx := context.Background()
	g := identity.NewGatekeeper(memory.New(nil), identity.Options{})
	secret := identity.NewSecret()
	k := identity.Key{Token: identity.HashKey(secret), Models: []string{"claude-*"}, MaxBudget: ptr(100.0), BudgetDuration: "30d", MaxParallelRequests: ptr(int64(100))}
	if err := g.Repo().Put(ctx, &k); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		c, e := g.Admit(ctx, secret)
		if e != nil {
			b.Fatal(e)
		}
		if e := c.Begin(ctx, "claude-sonnet"); e != nil {
			b.Fatal(e)
		}
		c.End(0, 0)
	}
}

// TestAdmitAllocatesNothing: in steady state a virtual key's check and its
// charge allocate nothing (the Caller of the key's last call is reused),
// also for keys called concurrently (run with -race).
func TestAdmitAllocatesNothing(t *testing.T) {
	ctx := context.Background()
	g := identity.NewGatekeeper(memory.New(nil), identity.Options{})
	secret := putKey(t, g, identity.Key{MaxBudget: ptr(1e6), MaxParallelRequests: ptr(int64(4)), TPMLimit: ptr(int64(1e9))})
	call := func() {
		c, e := g.Admit(ctx, secret)
		if e != nil {
			t.Fatal(e)
		}
		if e := c.Begin(ctx, "m"); e != nil {
			t.Fatal(e)
		}
		c.End(0.001, 20)
	}
	call()
	if n := testing.AllocsPerRun(100, call); n != 0 {
		t.Errorf("Admit + Begin + End allocate %v times per call, want 0", n)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				call()
			}
		}()
	}
	wg.Wait()
	g.Wait()
	k, _ := g.Repo().Get(ctx, identity.HashKey(secret))
	const calls = 1 + 101 + 4*200 // AllocsPerRun calls once more to warm up
	if s, _ := g.Repo().KeySpend(ctx, k, time.Now()); math.Abs(s-calls*0.001) > 1e-9 {
		t.Errorf("spend = %v, want %v (every call charged once)", s, calls*0.001)
	}
	// Every call ended: the parallel limit has all its room again.
	var open []*identity.Caller
	for range 4 {
		c, _ := g.Admit(ctx, secret)
		if e := c.Begin(ctx, "m"); e != nil {
			t.Fatalf("call %d of 4 refused after the others ended: %v", len(open)+1, e)
		}
		open = append(open, c)
	}
	for _, c := range open {
		c.End(0, 0)
	}
}

// BenchmarkAdmitThousandKeys is the steady-state check and the charge after
// the call (inline, on the memory store behind the gateway's guard) with
// calls spread over 1,000 keys, as the load script's gw-keys target.
func BenchmarkAdmitThousandKeys(b *testing.B) {
	ctx := context.Background()
	g := identity.NewGatekeeper(guard.New(memory.New(nil), guard.Options{Backend: "memory"}), identity.Options{})
	secrets := make([]string, 1000)
	for i := range secrets {
		secrets[i] = identity.NewSecret()
		k := identity.Key{Token: identity.HashKey(secrets[i]), Models: []string{"claude-sonnet"}}
		if err := g.Repo().Put(ctx, &k); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		c, e := g.Admit(ctx, secrets[i%len(secrets)])
		i++
		if e != nil {
			b.Fatal(e)
		}
		if e := c.Begin(ctx, "claude-sonnet"); e != nil {
			b.Fatal(e)
		}
		c.End(0.000156, 20)
	}
}
