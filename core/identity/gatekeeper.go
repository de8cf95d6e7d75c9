package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/router"
)

// DefaultRefresh is how often cached keys and budget counters are re-read
// from the store. It bounds how long a key deleted or blocked on another
// instance keeps working here, and how stale a budget check can be.
const DefaultRefresh = 2 * time.Second

// maxCached caps the cache size at which unknown keys stop being remembered.
const maxCached = 100_000

// Gatekeeper admits virtual keys and enforces their policy. Steady-state
// checks read only process memory: a background loop re-reads every cached
// key and its counters each Refresh, so budgets and revocations made on other
// instances are seen within one Refresh. Keys with an rpm_limit pay one
// atomic store increment per request (the limit must hold across instances).
type Gatekeeper struct {
	repo    Repo
	now     func() time.Time
	log     *slog.Logger
	refresh time.Duration

	mu    sync.RWMutex
	cache map[[32]byte]*keyState
	// charges tracks store increments still in flight (Wait).
	charges sync.WaitGroup
}

// keyState is one cached key: its document (nil = unknown or deleted, a
// negative entry so a flood of bad keys costs one read per Refresh) and the
// live counters.
type keyState struct {
	sum      [32]byte
	token    string // hex of sum, as stored
	key      atomic.Pointer[Key]
	spend    atomic.Int64 // micro-USD in the current budget window
	tpm      atomic.Int64 // tokens in the current minute
	inflight atomic.Int64
}

// Options tune a Gatekeeper.
type Options struct {
	Logger *slog.Logger
	// Refresh is the background re-read interval (DefaultRefresh if 0).
	Refresh time.Duration
	// Now is the clock (time.Now if nil).
	Now func() time.Time
}

// NewGatekeeper returns a Gatekeeper over s. Call Run to start the refresh loop.
func NewGatekeeper(s router.Store, o Options) *Gatekeeper {
	g := &Gatekeeper{repo: Repo{Store: s}, now: o.Now, log: o.Logger, refresh: o.Refresh, cache: map[[32]byte]*keyState{}}
	if g.now == nil {
		g.now = time.Now
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.refresh <= 0 {
		g.refresh = DefaultRefresh
	}
	return g
}

// Repo is the key store the Gatekeeper reads (the admin API writes through it).
func (g *Gatekeeper) Repo() Repo { return g.repo }

// Run refreshes the cache every Refresh until ctx ends.
func (g *Gatekeeper) Run(ctx context.Context) {
	t := time.NewTicker(g.refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := g.Refresh(ctx); err != nil {
				g.log.Warn("identity refresh failed; serving cached keys", "error", err)
			}
		}
	}
}

// Refresh re-reads every cached key and its counters: one Get and one Counts.
func (g *Gatekeeper) Refresh(ctx context.Context) error {
	g.mu.RLock()
	states := make([]*keyState, 0, len(g.cache))
	for _, st := range g.cache {
		states = append(states, st)
	}
	g.mu.RUnlock()
	if len(states) == 0 {
		return nil
	}
	tokens := make([]string, len(states))
	for i, st := range states {
		tokens[i] = st.token
	}
	keys, err := g.repo.GetMany(ctx, tokens)
	if err != nil {
		return err
	}
	for i, st := range states {
		st.key.Store(keys[i])
	}
	return g.loadCounters(ctx, states)
}

func (g *Gatekeeper) loadCounters(ctx context.Context, states []*keyState) error {
	now := g.now()
	names := make([]string, 0, 2*len(states))
	for _, st := range states {
		k := st.key.Load()
		if k == nil {
			k = &Key{}
		}
		w, _ := ParseWindow(k.BudgetDuration)
		sn, _ := spendCounter(st.token, w, now)
		tn, _ := minuteCounter(tpmPrefix, st.token, now)
		names = append(names, sn, tn)
	}
	vals, err := g.repo.Store.Counts(ctx, names)
	if err != nil {
		return err
	}
	for i, st := range states {
		st.spend.Store(vals[2*i])
		st.tpm.Store(vals[2*i+1])
	}
	return nil
}

// Forget drops token from the cache, so this instance sees an admin change
// at once (other instances see it within one Refresh).
func (g *Gatekeeper) Forget(token string) {
	var sum [32]byte
	if _, err := hex.Decode(sum[:], []byte(token)); err != nil {
		return
	}
	g.mu.Lock()
	delete(g.cache, sum)
	g.mu.Unlock()
}

// Admit looks the presented key up: 401 authentication_error if it is
// unknown, deleted, blocked or expired.
func (g *Gatekeeper) Admit(ctx context.Context, secret string) (*Caller, *llm.Error) {
	if secret == "" {
		return nil, authError("missing API key")
	}
	sum := sha256.Sum256([]byte(secret))
	g.mu.RLock()
	st := g.cache[sum]
	g.mu.RUnlock()
	if st == nil {
		var err error
		if st, err = g.load(ctx, sum); err != nil {
			return nil, &llm.Error{Status: 503, Type: llm.ErrAPI, Message: "key store unavailable", Cause: err, Retryable: true}
		}
	}
	k := st.key.Load()
	switch {
	case k == nil:
		return nil, authError("invalid API key")
	case k.Blocked:
		return nil, authError("API key is blocked")
	case k.Expired(g.now()):
		return nil, authError("API key expired at " + k.Expires.UTC().Format(time.RFC3339))
	}
	return &Caller{g: g, st: st, key: k}, nil
}

func (g *Gatekeeper) load(ctx context.Context, sum [32]byte) (*keyState, error) {
	token := hex.EncodeToString(sum[:])
	k, err := g.repo.Get(ctx, token)
	if err != nil {
		return nil, err
	}
	st := &keyState{sum: sum, token: token}
	st.key.Store(k)
	if k != nil {
		if err := g.loadCounters(ctx, []*keyState{st}); err != nil {
			return nil, err
		}
	}
	g.mu.Lock()
	if k == nil && len(g.cache) >= maxCached {
		// A flood of made-up keys must not grow memory: past the cap,
		// unknown keys are read each time instead of remembered.
		g.mu.Unlock()
		return st, nil
	}
	if prev := g.cache[sum]; prev != nil {
		st = prev
	} else {
		g.cache[sum] = st
	}
	g.mu.Unlock()
	return st, nil
}

func authError(msg string) *llm.Error {
	return &llm.Error{Status: 401, Type: llm.ErrAuthentication, Message: msg}
}

// Caller is one admitted request's key.
type Caller struct {
	g     *Gatekeeper
	st    *keyState
	key   *Key
	begun bool
}

// Key is the caller's key document.
func (c *Caller) Key() *Key { return c.key }

// AllowsModel reports whether the key may call model: an empty list allows
// every model; entries are exact names, "*" patterns, or "all-proxy-models".
func (c *Caller) AllowsModel(model string) bool {
	if len(c.key.Models) == 0 {
		return true
	}
	for _, m := range c.key.Models {
		if m == "all-proxy-models" || m == model || (strings.Contains(m, "*") && wildcardMatch(m, model)) {
			return true
		}
	}
	return false
}

// Begin checks model access, budget and limits for one call to model. A nil
// result must be paired with End.
func (c *Caller) Begin(ctx context.Context, model string) *llm.Error {
	k, st, now := c.key, c.st, c.g.now()
	if !c.AllowsModel(model) {
		return &llm.Error{Status: 403, Type: llm.ErrPermission,
			Message: "this key may not use model " + strconv.Quote(model) + "; allowed models: " + strings.Join(k.Models, ", ")}
	}
	if k.MaxBudget != nil && st.spend.Load() >= microUSD(*k.MaxBudget) {
		w, _ := ParseWindow(k.BudgetDuration)
		msg := "budget exceeded: spend " + fmtUSD(st.spend.Load()) + " USD of max_budget " + fmtUSD(microUSD(*k.MaxBudget)) + " USD"
		if k.BudgetDuration != "" {
			_, end := w.Span(now)
			msg += "; the " + k.BudgetDuration + " budget resets at " + end.Format(time.RFC3339)
		}
		// 400, as LiteLLM: Claude Code shows it and does not retry (it retries 429 and 5xx).
		return &llm.Error{Status: 400, Type: llm.ErrInvalidRequest, Message: msg}
	}
	if k.TPMLimit != nil && st.tpm.Load() >= *k.TPMLimit {
		_, end := minuteCounter(tpmPrefix, st.token, now)
		return rateError("tpm_limit", *k.TPMLimit, end.Sub(now))
	}
	if k.MaxParallelRequests != nil {
		if st.inflight.Add(1) > *k.MaxParallelRequests {
			st.inflight.Add(-1)
			return rateError("max_parallel_requests", *k.MaxParallelRequests, time.Second)
		}
	}
	c.begun = true
	if k.RPMLimit != nil {
		name, end := minuteCounter(rpmPrefix, st.token, now)
		_, ok, err := c.g.repo.Store.Incr(ctx, name, 1, *k.RPMLimit, end.Add(time.Minute))
		if err == nil && !ok {
			c.release()
			return rateError("rpm_limit", *k.RPMLimit, end.Sub(now))
		}
		if err != nil {
			c.g.log.Warn("rpm counter unavailable; admitting", "error", err)
		}
	}
	return nil
}

func rateError(limit string, n int64, wait time.Duration) *llm.Error {
	if wait < time.Second {
		wait = time.Second
	}
	return &llm.Error{Status: 429, Type: llm.ErrRateLimit, RetryAfter: wait,
		Message: "key " + limit + " of " + strconv.FormatInt(n, 10) + " reached"}
}

func (c *Caller) release() {
	if c.begun && c.key.MaxParallelRequests != nil {
		c.st.inflight.Add(-1)
	}
	c.begun = false
}

// End closes a call begun with Begin and charges its cost and tokens: one
// atomic store increment per window, off the request path.
func (c *Caller) End(costUSD float64, tokens int64) {
	c.release()
	now := c.g.now()
	micro := microUSD(costUSD)
	c.st.spend.Add(micro)
	c.st.tpm.Add(tokens)
	if micro == 0 && tokens == 0 {
		return
	}
	c.g.charges.Add(1)
	go func() {
		defer c.g.charges.Done()
		c.g.charge(c.st.token, c.key.BudgetDuration, micro, tokens, now)
	}()
}

// Wait blocks until every charge begun by End has reached the store (tests,
// and shutdown on platforms that freeze the process after a response).
func (g *Gatekeeper) Wait() { g.charges.Wait() }

func (g *Gatekeeper) charge(token, duration string, micro, tokens int64, now time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, _ := ParseWindow(duration)
	if micro > 0 {
		name, end := spendCounter(token, w, now)
		if _, _, err := g.repo.Store.Incr(ctx, name, micro, 0, end.Add(time.Hour)); err != nil {
			g.log.Warn("charging key spend failed", "error", err)
		}
	}
	if tokens > 0 {
		name, end := minuteCounter(tpmPrefix, token, now)
		if _, _, err := g.repo.Store.Incr(ctx, name, tokens, 0, end.Add(time.Minute)); err != nil {
			g.log.Warn("charging key tokens failed", "error", err)
		}
	}
}

// Labels name the key in spend records: alias, user_id, team_id.
func (c *Caller) Labels() (alias, user, team string) {
	return c.key.KeyAlias, c.key.UserID, c.key.TeamID
}

// Headers are LiteLLM's per-key response headers.
func (c *Caller) Headers(set func(k, v string)) {
	set("x-litellm-key-spend", fmtUSD(c.st.spend.Load()))
	if c.key.MaxBudget != nil {
		set("x-litellm-key-max-budget", strconv.FormatFloat(*c.key.MaxBudget, 'f', -1, 64))
	}
}

// wildcardMatch matches s against a pattern where each * stands for any run of characters.
func wildcardMatch(p, s string) bool {
	for {
		i := strings.IndexByte(p, '*')
		if i < 0 {
			return p == s
		}
		if !strings.HasPrefix(s, p[:i]) {
			return false
		}
		s, p = s[i:], p[i+1:]
		if p == "" {
			return true
		}
		for j := 0; j <= len(s); j++ {
			if wildcardMatch(p, s[j:]) {
				return true
			}
		}
		return false
	}
}
