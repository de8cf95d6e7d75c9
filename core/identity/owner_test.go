package identity_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/identity"
	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/claude-gateway/claude-gateway/core/store/memory"
)

func putOwners(t *testing.T, g *identity.Gatekeeper, u *identity.User, tm *identity.Team) {
	t.Helper()
	ctx := context.Background()
	if u != nil {
		if err := g.Repo().PutUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if tm != nil {
		if err := g.Repo().PutTeam(ctx, tm); err != nil {
			t.Fatal(err)
		}
	}
}

// TestEffectivePolicy: a key's policy is the narrowest of key, user and
// team, level by level: models intersect, every limit and budget holds.
func TestEffectivePolicy(t *testing.T) {
	groups := map[string][]string{"interns": {"claude-haiku"}}
	tests := []struct {
		name       string
		key        identity.Policy
		user, team identity.Policy
		model      string
		want       int    // 0 admitted, else the status
		msg        string // in the refusal
	}{
		{"team narrows models", identity.Policy{}, identity.Policy{}, identity.Policy{Models: []string{"claude-haiku"}}, "claude-opus", 403, "(its team)"},
		{"user narrows models", identity.Policy{Models: []string{"claude-*"}}, identity.Policy{Models: []string{"claude-haiku"}}, identity.Policy{}, "claude-opus", 403, "(its user)"},
		{"intersection admits", identity.Policy{Models: []string{"claude-*"}}, identity.Policy{Models: []string{"interns"}}, identity.Policy{Models: []string{"claude-haiku", "claude-opus"}}, "claude-haiku", 0, ""},
		{"access group refuses others", identity.Policy{Models: []string{"interns"}}, identity.Policy{}, identity.Policy{}, "claude-opus", 403, "interns"},
		{"all-team-models defers to the team", identity.Policy{Models: []string{"all-team-models"}}, identity.Policy{}, identity.Policy{Models: []string{"claude-opus"}}, "claude-opus", 0, ""},
		{"team over budget", identity.Policy{MaxBudget: ptr(10.0)}, identity.Policy{}, identity.Policy{MaxBudget: ptr(0.0), BudgetDuration: "1mo"}, "m", 402, "budget exceeded (its team)"},
		{"user over budget", identity.Policy{}, identity.Policy{MaxBudget: ptr(0.0)}, identity.Policy{MaxBudget: ptr(5.0)}, "m", 402, "(its user)"},
		{"team blocked", identity.Policy{}, identity.Policy{}, identity.Policy{Blocked: true}, "m", 401, "blocked (its team)"},
		{"user parallel limit", identity.Policy{}, identity.Policy{MaxParallelRequests: ptr(int64(0))}, identity.Policy{}, "m", 429, "user max_parallel_requests"},
		{"team rpm", identity.Policy{RPMLimit: ptr(int64(100))}, identity.Policy{}, identity.Policy{RPMLimit: ptr(int64(0))}, "m", 429, "team rpm_limit of 0"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			g := identity.NewGatekeeper(memory.New(nil), identity.Options{AccessGroups: groups})
			uid, tid := fmt.Sprint("u", i), fmt.Sprint("t", i)
			putOwners(t, g, &identity.User{UserID: uid, Policy: tc.user}, &identity.Team{TeamID: tid, Policy: tc.team})
			k := identity.Key{UserID: uid, TeamID: tid}
			k.SetPolicy(tc.key)
			c, e := g.Admit(ctx, putKey(t, g, k))
			if e == nil {
				e = c.Begin(ctx, tc.model)
			}
			got := 0
			if e != nil {
				got = e.Status
			}
			if got != tc.want || (e != nil && !strings.Contains(e.Message, tc.msg)) {
				t.Fatalf("got %d %v, want %d containing %q", got, e, tc.want, tc.msg)
			}
		})
	}
}

// TestTeamBudgetSharedByTwoKeys: spend on one key counts against the team,
// so the team's other key is refused once the team budget is spent, on this
// instance at once and on another after one Refresh.
func TestTeamBudgetSharedByTwoKeys(t *testing.T) {
	ctx := context.Background()
	st := memory.New(nil)
	a := identity.NewGatekeeper(st, identity.Options{})
	b := identity.NewGatekeeper(st, identity.Options{})
	putOwners(t, a, nil, &identity.Team{TeamID: "platform", Policy: identity.Policy{MaxBudget: ptr(1.0), BudgetDuration: "30d"}})
	k1, k2 := putKey(t, a, identity.Key{TeamID: "platform"}), putKey(t, a, identity.Key{TeamID: "platform"})
	if _, e := b.Admit(ctx, k2); e != nil {
		t.Fatal(e)
	}
	c, _ := a.Admit(ctx, k1)
	if e := c.Begin(ctx, "m"); e != nil {
		t.Fatal(e)
	}
	c.End(1.5, 10)
	a.Wait()
	c, _ = a.Admit(ctx, k2)
	if e := c.Begin(ctx, "m"); e == nil || e.Status != 402 || !strings.Contains(e.Message, "team") {
		t.Fatalf("second key on the same instance: %v, want 402 team budget", e)
	}
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	c, _ = b.Admit(ctx, k2)
	if e := c.Begin(ctx, "m"); e == nil || e.Status != 402 {
		t.Fatalf("second key on another instance after a refresh: %v, want 402", e)
	}
	h := http.Header{}
	c.Headers(h)
	if spend := h.Get("x-litellm-key-spend"); spend != "0.000000" {
		t.Fatalf("k2's own spend = %s, want 0 (the team's spend is not the key's)", spend)
	}
}

// TestOvershootBound: with C calls in flight when the budget is crossed,
// the spend ends at most C x (cost of one call) over max_budget (the README
// states this bound; across instances add the spend of one Refresh).
func TestOvershootBound(t *testing.T) {
	for name, st := range stores() {
		t.Run(name, func(t *testing.T) { testOvershootBound(t, st) })
	}
}

func testOvershootBound(t *testing.T, st router.Store) {
	ctx := context.Background()
	g := identity.NewGatekeeper(st, identity.Options{})
	const budget, cost, concurrency = 1.0, 0.1, 8
	secret := putKey(t, g, identity.Key{MaxBudget: ptr(budget)})
	var mu sync.Mutex
	admitted := 0
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, e := g.Admit(ctx, secret)
				if e != nil {
					t.Error(e)
					return
				}
				if e := c.Begin(ctx, "m"); e != nil {
					return // over budget
				}
				mu.Lock()
				admitted++
				mu.Unlock()
				c.End(cost, 1)
			}
		}()
	}
	wg.Wait()
	g.Wait()
	spent := float64(admitted) * cost
	if spent < budget || spent > budget+concurrency*cost+1e-9 {
		t.Fatalf("spent %.2f of %.2f with %d in flight: outside [budget, budget + %d x %.2f]", spent, budget, concurrency, concurrency, cost)
	}
}

// TestRateLimitHeaders: the remaining requests and tokens of the narrowest level.
func TestRateLimitHeaders(t *testing.T) {
	ctx := context.Background()
	g := identity.NewGatekeeper(memory.New(nil), identity.Options{})
	putOwners(t, g, nil, &identity.Team{TeamID: "t", Policy: identity.Policy{RPMLimit: ptr(int64(3)), TPMLimit: ptr(int64(1000))}})
	secret := putKey(t, g, identity.Key{TeamID: "t", RPMLimit: ptr(int64(10))})
	for i, want := range []string{"2", "1", "0"} {
		c, _ := g.Admit(ctx, secret)
		if e := c.Begin(ctx, "m"); e != nil {
			t.Fatal(e)
		}
		h := http.Header{}
		c.Headers(h)
		if h.Get("x-ratelimit-remaining-requests") != want || h.Get("x-ratelimit-remaining-tokens") != fmt.Sprint(1000-100*i) {
			t.Fatalf("call %d headers %v, want %s requests left", i, h, want)
		}
		c.End(0, 100)
	}
	c, _ := g.Admit(ctx, putKey(t, g, identity.Key{}))
	h := http.Header{}
	c.Headers(h)
	if _, ok := h["X-Ratelimit-Remaining-Requests"]; ok || h.Get("x-litellm-key-spend") == "" {
		t.Fatalf("key without limits: headers %v", h)
	}
}

// TestDeletedTeamRefusesItsKeys: a key whose team is gone is refused (fail
// closed: the team's limits can no longer be applied).
func TestDeletedTeamRefusesItsKeys(t *testing.T) {
	ctx := context.Background()
	g := identity.NewGatekeeper(memory.New(nil), identity.Options{})
	putOwners(t, g, nil, &identity.Team{TeamID: "gone"})
	secret := putKey(t, g, identity.Key{TeamID: "gone"})
	if _, e := g.Admit(ctx, secret); e != nil {
		t.Fatal(e)
	}
	if err := g.Repo().DeleteTeam(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if err := g.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, e := g.Admit(ctx, secret); e == nil || e.Status != 401 {
		t.Fatalf("key of a deleted team: %v, want 401", e)
	}
}

// BenchmarkAdmitWithOwners is the steady-state check of a key with a user
// and a team, each with models, a budget and a parallel limit.
func BenchmarkAdmitWithOwners(b *testing.B) {
	ctx := context.Background()
	g := identity.NewGatekeeper(memory.New(nil), identity.Options{AccessGroups: map[string][]string{"eng": {"claude-sonnet"}}})
	pol := identity.Policy{Models: []string{"claude-*"}, MaxBudget: ptr(100.0), BudgetDuration: "30d", MaxParallelRequests: ptr(int64(100))}
	if err := g.Repo().PutUser(ctx, &identity.User{UserID: "u", Policy: pol}); err != nil {
		b.Fatal(err)
	}
	tp := pol
	tp.Models = []string{"eng"}
	if err := g.Repo().PutTeam(ctx, &identity.Team{TeamID: "t", Policy: tp}); err != nil {
		b.Fatal(err)
	}
	secret := identity.NewSecret()
	k := identity.Key{Token: identity.HashKey(secret), UserID: "u", TeamID: "t"}
	k.SetPolicy(pol)
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

// TestChargeLearnsFleetTotal: an instance's own charge answers the store's
// total, so it sees spend made elsewhere without waiting for a Refresh.
func TestChargeLearnsFleetTotal(t *testing.T) {
	for name, st := range stores() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			a := identity.NewGatekeeper(st, identity.Options{})
			b := identity.NewGatekeeper(st, identity.Options{})
			secret := putKey(t, a, identity.Key{MaxBudget: ptr(1.0)})
			cb, _ := b.Admit(ctx, secret)
			ca, _ := a.Admit(ctx, secret)
			if ca.Begin(ctx, "m") != nil || cb.Begin(ctx, "m") != nil {
				t.Fatal("fresh key refused")
			}
			ca.End(0.9, 0)
			a.Wait()
			cb.End(0.2, 0) // b's charge returns 1.1 USD: a's and its own
			b.Wait()
			cb, _ = b.Admit(ctx, secret)
			if e := cb.Begin(ctx, "m"); e == nil || e.Status != 402 || !strings.Contains(e.Message, "spend 1.100000") {
				t.Fatalf("b after its own charge: %v, want 402 with the fleet's spend 1.1", e)
			}
		})
	}
}

// remoteStore is the memory store seen as a remote one (not InProcess):
// charges to it go through the flusher goroutine.
type remoteStore struct{ *memory.Store }

func (remoteStore) InProcess() bool { return false }

// stores are a fresh in-process store (charges sent inline) and a fresh
// remote one (charges merged by the flusher).
func stores() map[string]router.Store {
	return map[string]router.Store{"in process": memory.New(nil), "remote": remoteStore{memory.New(nil)}}
}

// TestInProcessChargeInline: on an in-process store a call's charge is in
// the store when End returns (no goroutine, nothing to Wait for); on a
// remote one it is there after Wait.
func TestInProcessChargeInline(t *testing.T) {
	for name, st := range stores() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			g := identity.NewGatekeeper(st, identity.Options{})
			secret := putKey(t, g, identity.Key{MaxBudget: ptr(10.0), TPMLimit: ptr(int64(1000))})
			c, _ := g.Admit(ctx, secret)
			if e := c.Begin(ctx, "m"); e != nil {
				t.Fatal(e)
			}
			c.End(0.5, 40)
			if name == "remote" {
				g.Wait()
			}
			k, _ := g.Repo().Get(ctx, identity.HashKey(secret))
			if s, err := g.Repo().KeySpend(ctx, k, time.Now()); err != nil || s != 0.5 {
				t.Fatalf("stored spend = %v, %v; want 0.5", s, err)
			}
		})
	}
}

// gatedStore holds every Incr until release is closed and counts them.
type gatedStore struct {
	*memory.Store
	release chan struct{}
	incrs   atomic.Int64
}

// InProcess is false: the store waits, as a remote one does, so charges
// go through the flusher.
func (s *gatedStore) InProcess() bool { return false }

func (s *gatedStore) Incr(ctx context.Context, key string, delta, limit int64, expires time.Time) (int64, bool, error) {
	s.incrs.Add(1)
	<-s.release
	return s.Store.Incr(ctx, key, delta, limit, expires)
}

// TestChargesMerge: calls that end while a charge is on its way to the
// store are merged into one increment per counter; every cent lands once,
// and a call ending in a new budget window is charged to that window.
func TestChargesMerge(t *testing.T) {
	ctx := context.Background()
	// A minute before the end of an hour to come (the store expires
	// counters by the real clock).
	now := time.Now().UTC().Truncate(time.Hour).Add(2*time.Hour - time.Minute)
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	st := &gatedStore{Store: memory.New(nil), release: make(chan struct{})}
	g := identity.NewGatekeeper(st, identity.Options{Now: func() time.Time { return *clock.Load() }})
	secret := putKey(t, g, identity.Key{MaxBudget: ptr(100.0), BudgetDuration: "1h"})
	call := func() {
		c, e := g.Admit(ctx, secret)
		if e != nil {
			t.Fatal(e)
		}
		if e := c.Begin(ctx, "m"); e != nil {
			t.Fatal(e)
		}
		c.End(0.25, 10)
	}
	call() // its increment now waits in the store
	for st.incrs.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() { defer wg.Done(); call() }()
	}
	wg.Wait()
	later := now.Add(2 * time.Minute) // the next hour's window
	clock.Store(&later)
	call()
	close(st.release)
	g.Wait()
	if n := st.incrs.Load(); n != 3 {
		t.Errorf("store increments = %d, want 3 (the first call, the 20 merged, the new window)", n)
	}
	repo := g.Repo()
	k, _ := repo.Get(ctx, identity.HashKey(secret))
	if s, err := repo.KeySpend(ctx, k, now); err != nil || s != 21*0.25 {
		t.Errorf("spend in the first window = %v, %v; want %v", s, err, 21*0.25)
	}
	if s, err := repo.KeySpend(ctx, k, later); err != nil || s != 0.25 {
		t.Errorf("spend in the second window = %v, %v; want 0.25", s, err)
	}
}
