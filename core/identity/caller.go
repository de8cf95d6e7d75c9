package identity

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/claude-gateway/claude-gateway/core/llm"
)

// Caller is one admitted request's key with its user and team: the levels
// whose policies all apply (the effective policy is their narrowest).
//
// End is the last use of a Caller that Gatekeeper.Admit returned: End hands
// it to the key's next Admit, so the steady-state check allocates nothing.
type Caller struct {
	g      *Gatekeeper
	st     *keyState
	reuse  bool // End hands the Caller to st's next Admit
	key    *Key
	levels [3]level // key, then user and team when the key has them
	n      int
	begun  int // levels whose inflight count Begin raised

	// Remaining requests and tokens in the minute, for the rate-limit
	// headers; -1 where no level has the limit.
	remReq, remTok, limReq, limTok int64
}

// start readies c for a call of key k under levels[:n].
func (c *Caller) start(k *Key, levels [3]level, n int) {
	c.key, c.levels, c.n, c.begun = k, levels, n, 0
	c.remReq, c.remTok, c.limReq, c.limTok = -1, -1, -1, -1
}

// level is one policy holder of a call and the policy read at Admit.
type level struct {
	s    *subject
	p    *Policy
	what string // "key", "user", "team"
}

// owner says whose policy refused, for messages ("" for the key itself).
func (l level) owner() string {
	if l.what == "key" {
		return ""
	}
	return " (its " + l.what + ")"
}

// Key is the caller's key document.
func (c *Caller) Key() *Key { return c.key }

// AllowsModel reports whether every level allows model: an empty list
// allows every model; entries are exact names, "*" patterns (the gateway's
// wildcard groups), named access groups, or "all-proxy-models"; a key's
// "all-team-models" defers to its team's list.
func (c *Caller) AllowsModel(model string) bool {
	for _, l := range c.levels[:c.n] {
		if !c.g.allows(l, model) {
			return false
		}
	}
	return true
}

func (g *Gatekeeper) allows(l level, model string) bool {
	if len(l.p.Models) == 0 {
		return true
	}
	for _, m := range l.p.Models {
		switch {
		case m == model || m == "all-proxy-models" || (m == "all-team-models" && l.what == "key"):
			return true
		case strings.Contains(m, "*") && wildcardMatch(m, model):
			return true
		}
		for _, member := range g.groups[m] {
			if member == model {
				return true
			}
		}
	}
	return false
}

// Begin checks model access, budgets and limits of every level for one call
// to model. A nil result must be paired with End.
func (c *Caller) Begin(ctx context.Context, model string) *llm.Error {
	now := clock{read: c.g.now}
	c.remReq, c.remTok, c.limReq, c.limTok = -1, -1, -1, -1
	for _, l := range c.levels[:c.n] {
		if !c.g.allows(l, model) {
			return &llm.Error{Status: 403, Type: llm.ErrPermission,
				Message: "this key" + l.owner() + " may not use model " + strconv.Quote(model) + "; allowed models: " + strings.Join(l.p.Models, ", ")}
		}
	}
	for _, l := range c.levels[:c.n] {
		if e := l.budgetError(&now); e != nil {
			return e
		}
	}
	for _, l := range c.levels[:c.n] {
		if l.p.TPMLimit == nil {
			continue
		}
		used := l.s.tpm.Load()
		if used >= *l.p.TPMLimit {
			t := now.get()
			end := t.Truncate(time.Minute).Add(time.Minute)
			return rateError(l, "tpm_limit", *l.p.TPMLimit, end.Sub(t))
		}
		c.remTok, c.limTok = minRemaining(c.remTok, *l.p.TPMLimit-used), minRemaining(c.limTok, *l.p.TPMLimit)
	}
	for _, l := range c.levels[:c.n] {
		if l.p.MaxParallelRequests != nil && l.s.inflight.Add(1) > *l.p.MaxParallelRequests {
			l.s.inflight.Add(-1)
			c.release()
			return rateError(l, "max_parallel_requests", *l.p.MaxParallelRequests, time.Second)
		}
		c.begun++
	}
	for _, l := range c.levels[:c.n] {
		if l.p.RPMLimit == nil {
			continue
		}
		t := now.get()
		name, _, end := l.s.minuteCounter(&l.s.rpmName, rpmPrefix, t)
		if *l.p.RPMLimit == 0 { // the store reads limit 0 as "none"
			c.release()
			c.remReq, c.limReq = 0, 0
			return rateError(l, "rpm_limit", 0, end.Sub(t))
		}
		v, ok, err := c.g.repo.Store.Incr(ctx, name, 1, *l.p.RPMLimit, end.Add(time.Minute))
		if err != nil {
			c.g.log.Warn("rpm counter unavailable; admitting", "level", l.what, "error", err)
			continue
		}
		if !ok {
			c.release()
			c.remReq, c.limReq = 0, *l.p.RPMLimit
			return rateError(l, "rpm_limit", *l.p.RPMLimit, end.Sub(t))
		}
		c.remReq, c.limReq = minRemaining(c.remReq, *l.p.RPMLimit-v), minRemaining(c.limReq, *l.p.RPMLimit)
	}
	return nil
}

// clock reads the time once, at its first use: a steady-state call of a
// key without expiry, rate limits or a budget window reads none (time.Now
// cost ~70 ns here, and a keyed request read it seven times).
type clock struct {
	read func() time.Time
	t    time.Time
}

func (c *clock) get() time.Time {
	if c.t.IsZero() {
		c.t = c.read()
	}
	return c.t
}

// minRemaining is the smaller of a and b, where -1 stands for "no limit".
func minRemaining(a, b int64) int64 {
	if a < 0 || b < a {
		return max(b, 0)
	}
	return a
}

// budgetError refuses a level whose window's spend reached max_budget with
// 402 billing_error (the Anthropic API's type for billing problems). Tried
// with the real Claude Code CLI (2.1.332, claude -p): 402 is shown once and
// not retried (1 request); LiteLLM's 400 is shown but sent 6 times; 403 is
// shown as "Failed to authenticate"; 429 is retried with backoff for minutes
// (a retry storm against a budget that cannot recover before its reset).
func (l level) budgetError(now *clock) *llm.Error {
	if l.p.MaxBudget == nil {
		return nil
	}
	spent, max := l.s.spend.Load(), microUSD(*l.p.MaxBudget)
	if spent < max {
		return nil
	}
	msg := "budget exceeded" + l.owner() + ": spend " + fmtUSD(spent) + " USD of max_budget " + fmtUSD(max) + " USD"
	if l.p.BudgetDuration != "" {
		w, _ := ParseWindow(l.p.BudgetDuration)
		_, end := w.Span(now.get())
		msg += "; the " + l.p.BudgetDuration + " budget resets at " + end.Format(time.RFC3339)
	} else {
		msg += "; the budget has no budget_duration and does not reset"
	}
	return &llm.Error{Status: 402, Type: llm.ErrBilling, Message: msg}
}

func rateError(l level, limit string, n int64, wait time.Duration) *llm.Error {
	if wait < time.Second {
		wait = time.Second
	}
	return &llm.Error{Status: 429, Type: llm.ErrRateLimit, RetryAfter: wait,
		Message: l.what + " " + limit + " of " + strconv.FormatInt(n, 10) + " reached"}
}

// release undoes the inflight counts Begin raised.
func (c *Caller) release() {
	for _, l := range c.levels[:c.begun] {
		if l.p.MaxParallelRequests != nil {
			l.s.inflight.Add(-1)
		}
	}
	c.begun = 0
}

// End closes a call begun with Begin and charges its cost and tokens to
// every level: one atomic store increment per window each, off the request
// path (see charger). This instance's counters move at once. A Caller from
// Admit must not be used after End (the key's next call takes it over).
func (c *Caller) End(costUSD float64, tokens int64) {
	c.release()
	if micro := microUSD(costUSD); micro != 0 || tokens != 0 {
		c.g.charges.add(c.levels[:c.n], micro, tokens, &clock{read: c.g.now})
	}
	if c.reuse {
		c.st.spare.Store(c)
	}
}

// KeyHash is the key's hex SHA-256 (its document's token), the api_key of
// its spend records.
func (c *Caller) KeyHash() string { return c.key.Token }

// Labels name the key in spend records: alias, user_id, team_id.
func (c *Caller) Labels() (alias, user, team string) {
	return c.key.KeyAlias, c.key.UserID, c.key.TeamID
}

// Headers are LiteLLM's per-key response headers: the key's spend and
// budget, and the remaining requests and tokens of the minute where an
// rpm_limit or tpm_limit applies (the narrowest level's).
func (c *Caller) Headers(h interface{ Set(key, value string) }) {
	set := h.Set
	// Canonical names: http.Header.Set then keeps them as they are
	// instead of making a canonical copy per request.
	set("X-Litellm-Key-Spend", fmtUSD(c.st.spend.Load()))
	if c.key.MaxBudget != nil {
		set("X-Litellm-Key-Max-Budget", strconv.FormatFloat(*c.key.MaxBudget, 'f', -1, 64))
	}
	if c.limReq >= 0 {
		set("X-Ratelimit-Limit-Requests", strconv.FormatInt(c.limReq, 10))
		set("X-Ratelimit-Remaining-Requests", strconv.FormatInt(c.remReq, 10))
	}
	if c.limTok >= 0 {
		set("X-Ratelimit-Limit-Tokens", strconv.FormatInt(c.limTok, 10))
		set("X-Ratelimit-Remaining-Tokens", strconv.FormatInt(c.remTok, 10))
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
