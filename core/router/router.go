// Package router picks a deployment for each request and retries elsewhere
// when one fails, before the first byte reaches the client. It knows
// deployments, health and limits, and nothing of HTTP or wire formats.
//
// A request resolves to a model group (exact name, model_group_alias, then
// wildcard patterns). Within the group, deployments are tried by order tier
// (lower order first), and within a tier the routing strategy picks among
// those that are not cooling down, within their rpm/tpm limits and not yet
// tried for this request. Failures are retried per num_retries and
// retry_policy, cool deployments down per allowed_fails, and when a group is
// exhausted its fallbacks are tried. See state.go for how shared state is
// kept off the request path and affinity.go for session affinity.
package router

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/llm"
)

// Pricer prices usage on a deployment in USD (the same shape the server's
// price table implements). cost-based-routing ranks deployments by the
// price of one input plus one output token; model_info prices win over it.
type Pricer interface {
	Cost(d *Deployment, u llm.Usage) float64
}

// Options configure a Router. Every field is optional.
type Options struct {
	// Store holds state shared by all instances: rate windows, cooldowns,
	// affinity pins. nil keeps that state in this process only.
	Store  Store
	Logger *slog.Logger
	// Now is the clock (tests use a fake one).
	Now func() time.Time
	// Sleep waits d or until ctx ends, for backoff (tests use a fake).
	Sleep func(ctx context.Context, d time.Duration) error
	// AfterFunc calls f after d unless stop is called first, for attempt
	// timeouts (nil: time.AfterFunc; tests drive a fake clock).
	AfterFunc func(d time.Duration, f func()) (stop func() bool)
	// Rand makes picks repeatable (used under a lock); nil uses the
	// runtime's generator.
	Rand *rand.Rand
	// Go runs background work: Store writes and refreshes (nil: a goroutine;
	// tests may run it inline).
	Go func(func())
	// RefreshInterval is how often shared state is re-read from the Store in
	// the background: 0 means 1s, negative never (call Refresh yourself).
	RefreshInterval time.Duration
	// Pricer prices deployments for cost-based-routing.
	Pricer Pricer
	// Litellm is litellm_settings: its fallbacks follow router_settings'
	// ones, and its num_retries and request_timeout apply when
	// router_settings does not set num_retries or timeout.
	Litellm *config.LitellmSettings
	// FailClosed refuses a request when its rpm limit cannot be checked
	// (general_settings.state_fail_closed); by default it is served.
	FailClosed bool
	// AffinityTTL is how long an idle session stays pinned (0: one hour).
	AffinityTTL time.Duration
	// CommitAfter bounds the wait for an accepted stream's first event
	// before the stream is handed to the server anyway, which then commits
	// the response and pings until events flow (0: DefaultCommitAfter;
	// negative: wait for the first event however long it takes). Only a
	// failure within it can fail over.
	CommitAfter time.Duration
	// Observer sees attempts and cooldowns (nil: nothing does).
	Observer Observer
}

// DefaultCommitAfter is the default CommitAfter: time for an upstream's
// early refusals to fail over, short of the idle watchdogs of Claude Code
// and the SDKs.
const DefaultCommitAfter = 5 * time.Second

// DefaultMaxFallbacks is LiteLLM's max_fallbacks default.
const DefaultMaxFallbacks = 5

// Router routes requests over model groups. It is safe for concurrent use.
type Router struct {
	groups   map[string]*group
	names    []string // served group names, sorted, without patterns
	patterns []string // wildcard group names, most specific first
	aliases  map[string]string
	all      []*member // every deployment, config order
	deps     []*Deployment

	settings         config.RouterSettings
	strategy         picker
	retries          int
	cooldown         time.Duration
	allowedFailsSet  bool
	maxFallbacks     int
	fallbacks        []map[string][]string
	cwFallbacks      []map[string][]string
	defaultFallbacks []string
	requestTimeout   time.Duration
	commitAfter      time.Duration
	enforceLimits    bool // rpm/tpm limits and context windows are checked
	tracksUsage      bool // every deployment's tpm is counted (usage-based routing)
	failClosed       bool

	store     Store
	obs       Observer
	log       *slog.Logger
	now       func() time.Time
	sleep     func(ctx context.Context, d time.Duration) error
	afterFunc func(d time.Duration, f func()) func() bool
	goFn      func(func())
	rnd       randSource
	aff       *affinity

	refreshEvery time.Duration
	lastRefresh  atomic.Int64
	refreshMu    sync.Mutex
	cooldownKeys []string // parallel to all
	countKeys    []string
	countOwners  []countOwner

	logMu      sync.Mutex
	lastLogged map[string]int64
	pending    tracker // background work under way

	scratch sync.Pool
}

// New builds a router over deployments.
func New(deps []*Deployment, settings config.RouterSettings, opts Options) *Router {
	r := &Router{
		groups:       map[string]*group{},
		aliases:      settings.ModelGroupAlias,
		deps:         deps,
		settings:     settings,
		retries:      3,
		cooldown:     5 * time.Second,
		maxFallbacks: DefaultMaxFallbacks,
		store:        opts.Store,
		obs:          opts.Observer,
		log:          opts.Logger,
		now:          opts.Now,
		sleep:        opts.Sleep,
		afterFunc:    opts.AfterFunc,
		commitAfter:  opts.CommitAfter,
		goFn:         opts.Go,
		refreshEvery: opts.RefreshInterval,
		failClosed:   opts.FailClosed,
		lastLogged:   map[string]int64{},
	}
	if r.obs == nil {
		r.obs = nopObserver{}
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.store == nil {
		r.store = newLocalStore(r.now)
	}
	if r.sleep == nil {
		r.sleep = sleepCtx
	}
	if r.commitAfter == 0 {
		r.commitAfter = DefaultCommitAfter
	}
	if r.afterFunc == nil {
		r.afterFunc = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	if r.goFn == nil {
		r.goFn = func(f func()) { go f() }
	}
	if r.refreshEvery == 0 {
		r.refreshEvery = time.Second
	}
	r.rnd = runtimeRand{}
	if opts.Rand != nil {
		r.rnd = &lockedRand{r: opts.Rand}
	}
	ttl := opts.AffinityTTL
	if ttl <= 0 {
		ttl = time.Hour
	}
	r.aff = newAffinity(ttl)

	lit := opts.Litellm
	if lit == nil {
		lit = &config.LitellmSettings{}
	}
	switch {
	case settings.NumRetriesSet:
		r.retries = settings.NumRetries
	case lit.NumRetriesSet:
		r.retries = lit.NumRetries
	}
	r.retries = max(r.retries, 0)
	r.requestTimeout = lit.RequestTimeout
	if settings.CooldownTimeSet {
		r.cooldown = settings.CooldownTime
	}
	_, r.allowedFailsSet = settings.Raw["allowed_fails"]
	if settings.MaxFallbacks > 0 {
		r.maxFallbacks = settings.MaxFallbacks
	} else if _, set := settings.Raw["max_fallbacks"]; set {
		r.maxFallbacks = 0
	}
	r.fallbacks = append(append([]map[string][]string(nil), settings.Fallbacks...), lit.Fallbacks...)
	r.cwFallbacks = settings.ContextWindowFallbacks
	r.defaultFallbacks = settings.DefaultFallbacks

	s, err := newStrategy(settings.RoutingStrategy)
	if err != nil {
		r.log.Warn("router: "+err.Error()+"; using simple-shuffle", "strategy", settings.RoutingStrategy)
		s = simpleShuffle{}
	}
	r.strategy = s
	_, usage := s.(lowestUsage)
	r.tracksUsage = usage
	r.enforceLimits = settings.EnablePreCallChecks || usage

	var order []string
	byName := map[string][]*Deployment{}
	for _, d := range deps {
		name := d.Config.ModelName
		if _, seen := byName[name]; !seen {
			order = append(order, name)
		}
		byName[name] = append(byName[name], d)
	}
	members := map[*Deployment]*member{}
	for _, name := range order {
		g := newGroup(name, byName[name], opts.Pricer, settings.SessionAffinity)
		r.groups[name] = g
		for _, m := range g.members {
			members[m.d] = m
		}
		if strings.Contains(name, "*") {
			r.patterns = append(r.patterns, name)
		} else {
			r.names = append(r.names, name)
		}
	}
	for _, d := range deps {
		m := members[d]
		r.all = append(r.all, m)
		r.cooldownKeys = append(r.cooldownKeys, m.cooldownKey)
	}
	sort.Strings(r.names)
	// The most specific pattern wins: more literal characters first, then
	// config order ("claude-*" before "*").
	sort.SliceStable(r.patterns, func(a, b int) bool {
		return literalLen(r.patterns[a]) > literalLen(r.patterns[b])
	})
	return r
}

func literalLen(p string) int { return len(p) - strings.Count(p, "*") }

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Strategy returns the routing strategy in use.
func (r *Router) Strategy() string { return r.strategy.Name() }

// Groups lists the served model group names (wildcard patterns excluded).
func (r *Router) Groups() []string { return r.names }

// Deployments lists every deployment, in config order.
func (r *Router) Deployments() []*Deployment { return r.deps }

// Resolve maps a requested model name to a group: exact names win, then
// model_group_alias, then wildcard patterns (most specific first).
func (r *Router) Resolve(model string) (string, bool) {
	if _, ok := r.groups[model]; ok {
		return model, true
	}
	if g, ok := r.aliases[model]; ok {
		if _, ok := r.groups[g]; ok {
			return g, true
		}
		model = g // an alias may name a model a pattern serves
	}
	for _, p := range r.patterns {
		if wildcardMatch(p, model) {
			return p, true
		}
	}
	return "", false
}

// wildcardMatch matches s against a pattern where each * stands for any run of characters.
func wildcardMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for i, p := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(s, p)
		}
		j := strings.Index(s, p)
		if j < 0 {
			return false
		}
		s = s[j+len(p):]
	}
	return true
}

// Result is the outcome of routing one request.
type Result struct {
	// Group is the model group that served (or was tried last).
	Group string
	// Deployment served the request (or was tried last); nil if none was tried.
	Deployment *Deployment
	// Response is set for non-streaming requests.
	Response *llm.Response
	// Stream is set for streaming requests. Its first event has already been
	// read from the upstream (so a failure there could still be retried).
	Stream llm.Stream
	// Retries counts attempts after the first in each group tried;
	// Fallbacks counts fallback groups tried.
	Retries   int
	Fallbacks int
	// UpstreamTime is the time spent waiting on upstreams before the result.
	UpstreamTime time.Duration
	// UpstreamStatus is the last upstream HTTP status seen (0 if none answered).
	UpstreamStatus int
	finish         func(usage llm.Usage, err error)
}

// Finish reports the end of the call (usage known, any mid-stream error),
// updating token windows, health and the session's pin (Store writes go out
// in the background). Later calls are ignored.
func (res *Result) Finish(usage llm.Usage, err error) {
	if res == nil || res.finish == nil {
		return
	}
	f := res.finish
	res.finish = nil
	f(usage, err)
}

// Route serves req on a deployment of its model group, retrying on other
// deployments and fallback groups while nothing has been sent to the
// client. The returned Result is never nil; on failure the error is an
// *llm.Error.
func (r *Router) Route(ctx context.Context, req *llm.Request) (*Result, error) {
	res := &Result{}
	name, ok := r.Resolve(req.Model)
	if !ok {
		return res, &llm.Error{Status: 404, Type: llm.ErrNotFound,
			Message: fmt.Sprintf("model %q not found; this gateway serves: %s", req.Model, strings.Join(r.names, ", "))}
	}
	r.maybeRefresh(r.now().UnixNano())
	rs := r.getScratch()
	defer r.scratch.Put(rs)

	res.Group = name
	out := r.serveGroup(ctx, req, r.groups[name], res, rs)
	if out.served {
		return res, nil
	}
	tried := []string{name}
	for _, fb := range r.fallbacksFor(name, out) {
		if res.Fallbacks >= r.maxFallbacks || ctx.Err() != nil {
			break
		}
		gname, ok := r.Resolve(fb)
		if !ok || contains(tried, gname) {
			continue
		}
		tried = append(tried, gname)
		res.Fallbacks++
		res.Group = gname
		o := r.serveGroup(ctx, req, r.groups[gname], res, rs)
		if o.served {
			return res, nil
		}
		out = out.then(o)
	}
	return res, r.finalError(out)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// outcome is how serving one group ended.
type outcome struct {
	served bool
	last   *failure // the last attempt's failure (nil: no attempt failed)
	// soonest is the earliest time an unavailable deployment recovers
	// (cooldown or rate window end; unix nanos, 0: none known).
	soonest int64
	// tooLong: the prompt exceeds every deployment's context window.
	tooLong bool
	// storeDown: limits could not be checked and the router fails closed.
	storeDown bool
}

// then merges a later group's outcome into an earlier one.
func (o outcome) then(next outcome) outcome {
	if next.last == nil {
		next.last = o.last
	}
	if o.soonest > 0 && (next.soonest == 0 || o.soonest < next.soonest) {
		next.soonest = o.soonest
	}
	next.storeDown = next.storeDown || o.storeDown
	return next
}

// scratch is per-request working memory, pooled so a pick allocates nothing.
type scratch struct {
	tried    []bool
	excluded []bool
	cands    []*member
	seeded   splitMix // a session's deterministic randomness
	env      pickEnv  // here, not on the stack: strategies take a pointer
}

func (r *Router) getScratch() *scratch {
	if s, ok := r.scratch.Get().(*scratch); ok {
		return s
	}
	return &scratch{}
}

func (s *scratch) reset(n int) {
	if cap(s.tried) < n {
		s.tried, s.excluded = make([]bool, n), make([]bool, n)
	}
	s.tried, s.excluded = s.tried[:n], s.excluded[:n]
	clear(s.tried)
	clear(s.excluded)
	s.cands = s.cands[:0]
}

// pickArgs is what one pick depends on besides the group.
type pickArgs struct {
	now      int64
	est      int64 // estimated input tokens
	limits   bool  // skip deployments over rpm/tpm limits
	ctxCheck bool  // skip deployments whose context window is too small
	pinned   *member
	minTier  int  // lowest tier allowed (after the retry budget is spent)
	retry    bool // allow deployments already tried for this request
}

// pick chooses the next deployment of g: the first tier with an untried,
// available deployment, else (when retry) the first tier with a tried one
// that is still available. It returns nil and the earliest recovery time
// of the unavailable ones when there is none.
func (r *Router) pick(g *group, rs *scratch, a *pickArgs) (m *member, tier int, soonest int64) {
	env := &rs.env
	for pass := 0; pass < 2; pass++ {
		if pass == 1 && !a.retry {
			break
		}
		for ti := a.minTier; ti < len(g.tiers); ti++ {
			t := g.tiers[ti]
			cands := rs.cands[:0]
			for _, c := range g.members[t[0]:t[1]] {
				if rs.excluded[c.index] || rs.tried[c.index] != (pass == 1) {
					continue
				}
				if until, blocked := r.blocked(c, env.minute, a); blocked {
					if until > 0 && (soonest == 0 || until < soonest) {
						soonest = until
					}
					continue
				}
				cands = append(cands, c)
			}
			rs.cands = cands
			if len(cands) == 0 {
				continue
			}
			if a.pinned != nil {
				for _, c := range cands {
					if c == a.pinned {
						return c, ti, soonest
					}
				}
			}
			return cands[r.strategy.Pick(cands, env)], ti, soonest
		}
	}
	return nil, 0, soonest
}

// blocked reports whether m cannot take a request now, and until when
// (0: not a matter of time).
func (r *Router) blocked(m *member, minute int64, a *pickArgs) (int64, bool) {
	if until, ok := m.cooledUntil(a.now); ok {
		return until, true
	}
	if a.limits {
		if until := m.rpmFullUntil.Load(); until > a.now {
			return until, true
		}
		if m.tpm > 0 {
			// A window with nothing counted admits any request, or a
			// prompt larger than the whole limit could never be served.
			if used := m.tpmIn(minute); used > 0 && used+a.est > m.tpm {
				return windowEnd(minute), true
			}
		}
	}
	if a.ctxCheck && m.maxInput > 0 && a.est > m.maxInput {
		return 0, true
	}
	return 0, false
}

// fits reports whether any deployment of g takes a prompt of est tokens.
func fits(g *group, est int64) bool {
	for _, m := range g.members {
		if m.maxInput <= 0 || est <= m.maxInput {
			return true
		}
	}
	return false
}

// prepare sets up the picks of one request in g. tooLong reports that the
// prompt fits no deployment's context window and context-window fallbacks
// exist to take it.
func (r *Router) prepare(g *group, req *llm.Request, rs *scratch) (a pickArgs, pk pinKey, tooLong bool) {
	rs.reset(len(g.members))
	a = pickArgs{
		now:    r.now().UnixNano(),
		est:    req.EstimatedInputTokens,
		limits: r.enforceLimits && req.Kind == llm.KindMessages,
	}
	if r.settings.EnablePreCallChecks && a.est > 0 {
		a.ctxCheck = true
		if !fits(g, a.est) {
			if len(lookupFallbacks(r.cwFallbacks, g.name)) > 0 {
				return a, pk, true
			}
			// Only an estimate (images inflate it): with nowhere better to
			// go, let the upstream judge.
			a.ctxCheck = false
		}
	}
	env := &rs.env
	*env = pickEnv{rnd: r.rnd, minute: minuteOf(a.now), kind: 1, scores: env.scores}
	if req.Stream {
		env.kind = 0
	}
	if g.affinity && req.SessionID != "" && req.Kind == llm.KindMessages {
		pk = pinKey{g: g, hash: sessionHash(req.SessionID)}
		var check bool
		a.pinned, check = r.aff.lookup(pk, a.now)
		if check {
			r.readPin(pk)
		}
		rs.seeded.s = pk.hash
		env.rnd = &rs.seeded
	}
	return a, pk, false
}

// serveGroup tries g's deployments until one answers or the group is exhausted.
func (r *Router) serveGroup(ctx context.Context, req *llm.Request, g *group, res *Result, rs *scratch) outcome {
	var o outcome
	a, pk, tooLong := r.prepare(g, req, rs)
	env := &rs.env
	if tooLong {
		o.tooLong = true
		return o
	}

	attempts, retries, budget := 0, 0, r.retries
	maxTier := -1
	var lastRetryAfter time.Duration
	for {
		if err := ctx.Err(); err != nil {
			f := classify(ctx, err, false)
			o.last = &f
			return o
		}
		a.now = r.now().UnixNano()
		env.minute = minuteOf(a.now)
		a.retry = retries < budget
		a.minTier = 0
		if !a.retry && attempts > 0 {
			// Retries spent: only an untried deployment of a higher order
			// tier may still serve (LiteLLM's order fallback is no retry).
			a.minTier = maxTier + 1
		}
		m, tier, soonest := r.pick(g, rs, &a)
		if soonest > 0 && (o.soonest == 0 || soonest < o.soonest) {
			o.soonest = soonest
		}
		if m == nil {
			return o
		}
		if rs.tried[m.index] {
			wait, ok := r.backoff(retries+1, lastRetryAfter, r.rnd)
			if !ok {
				rs.excluded[m.index] = true
				continue
			}
			if err := r.sleep(ctx, wait); err != nil {
				f := classify(ctx, err, false)
				o.last = &f
				return o
			}
		}
		if a.limits && m.rpm > 0 {
			admitted, err := r.admitRPM(ctx, m, env.minute)
			if err != nil && r.failClosed {
				o.storeDown = true
				rs.excluded[m.index] = true
				continue
			}
			if !admitted {
				continue // now known full locally: the next pick skips it
			}
		}

		if attempts > 0 {
			retries++
			res.Retries++
		}
		attempts++
		rs.tried[m.index] = true
		maxTier = max(maxTier, tier)
		res.Deployment = m.d
		m.inFlight.Add(1)
		start := r.now()
		actx := r.obs.AttemptStart(ctx, m.d, attempts-1)
		at, err := r.try(actx, m, req)
		elapsed := r.now().Sub(start)
		res.UpstreamTime += elapsed
		if err == nil {
			r.obs.AttemptEnd(actx, m.d, at.status, "")
			if req.Kind == llm.KindMessages {
				m.observeLatency(env.kind, elapsed)
			}
			res.UpstreamStatus = at.status
			res.Response, res.Stream = at.resp, at.stream
			if pk.g != nil {
				r.aff.record(pk, m, a.pinned, a.now)
			}
			res.finish = r.finisher(m, pk)
			o.served = true
			return o
		}
		m.inFlight.Add(-1)
		f := classify(ctx, err, at.timedOut)
		if !f.transport && f.class != classCanceled {
			res.UpstreamStatus = f.status
		}
		o.last = &f
		r.obs.AttemptEnd(actx, m.d, f.status, f.observed())
		if f.class == classCanceled {
			return o
		}
		if f.class == classTimeout {
			m.observeLatency(env.kind, elapsed) // a slow deployment ranks as slow
		}
		r.recordFailure(m, f)
		r.log.Debug("attempt failed", "group", g.name, "deployment", m.id, "status", f.status,
			"class", f.class.String(), "err", f.err.Error())
		lastRetryAfter = f.retryAfter
		budget = r.retryBudget(f)
		if budget == 0 && !f.retryable() {
			return o // a client error: the same request fails everywhere
		}
	}
}

// admitRPM counts one request in m's rpm window, the Store's conditional
// increment being the check (the attempt's one round trip).
func (r *Router) admitRPM(ctx context.Context, m *member, minute int64) (bool, error) {
	n, ok, err := r.store.Incr(ctx, rpmKey(m.id, minute), 1, m.rpm, windowExpiry(minute))
	if err != nil {
		r.storeFailed("rpm check", err)
		return !r.failClosed, err
	}
	if !ok {
		n = max(n, m.rpm)
	}
	m.seeRPM(minute, n)
	return ok, nil
}

// recordFailure counts a failure of m and cools it down when the rules say so.
func (r *Router) recordFailure(m *member, f failure) {
	now := r.now()
	minute := minuteOf(now.UnixNano())
	fails := m.addFail(minute)
	reason := f.class.String()
	if f.status > 0 {
		reason = fmt.Sprintf("%d %s", f.status, f.err.Type)
	}
	if d, cool := r.cooldownFor(m, f, fails); cool {
		r.coolDown(m, now.Add(d), reason)
		return
	}
	if _, could := r.cooldownFor(m, f, math.MaxInt64); !could {
		return
	}
	// Count it where every instance sees it: allowed_fails is per
	// deployment, not per instance.
	r.background(func(ctx context.Context) {
		n, _, err := r.store.Incr(ctx, failsKey(m.id, minute), 1, 0, windowExpiry(minute))
		if err != nil {
			r.storeFailed("count failure", err)
			return
		}
		if d, cool := r.cooldownFor(m, f, n); cool {
			r.coolDown(m, r.now().Add(d), reason)
		}
	})
}

// finisher is what Result.Finish runs for a call served by m. Local state
// changes at once; the Store writes (token count, session pin) go out in
// the background, so they never hold up the end of the response.
func (r *Router) finisher(m *member, pk pinKey) func(llm.Usage, error) {
	return func(u llm.Usage, err error) {
		m.inFlight.Add(-1)
		if err != nil {
			// A stream that broke after its first byte: no retry is
			// possible, but it counts toward allowed_fails.
			r.recordFailure(m, failure{err: &llm.Error{Status: 502, Type: llm.ErrAPI, Message: err.Error()},
				class: classInternal, transport: true})
		}
		now := r.now()
		minute := minuteOf(now.UnixNano())
		total := u.Total()
		count := total > 0 && (r.tracksUsage || r.enforceLimits && m.tpm > 0)
		if count {
			m.addTPM(minute, total)
		}
		pin := pk.g != nil && r.aff.needsWrite(pk, m, now.UnixNano())
		if !count && !pin {
			return
		}
		r.background(func(ctx context.Context) {
			if count {
				n, _, err := r.store.Incr(ctx, tpmKey(m.id, minute), total, 0, windowExpiry(minute))
				if err != nil {
					r.storeFailed("count tokens", err)
				} else {
					m.seeTPM(minute, n)
				}
			}
			if pin {
				r.writePin(ctx, pk, m, now)
			}
		})
	}
}

// lookupFallbacks finds group's entry in a fallbacks list (exact name, else "*").
func lookupFallbacks(list []map[string][]string, group string) []string {
	var star []string
	for _, entry := range list {
		if fb, ok := entry[group]; ok {
			return fb
		}
		if fb, ok := entry["*"]; ok && star == nil {
			star = fb
		}
	}
	return star
}

// fallbacksFor lists the groups to try after group ended with o.
func (r *Router) fallbacksFor(group string, o outcome) []string {
	if o.tooLong || (o.last != nil && o.last.contextWindow) {
		return lookupFallbacks(r.cwFallbacks, group)
	}
	if o.last != nil && (o.last.class == classCanceled || !o.last.retryable()) {
		return nil
	}
	if fb := lookupFallbacks(r.fallbacks, group); len(fb) > 0 {
		return fb
	}
	return r.defaultFallbacks
}

// finalError is the client's answer when nothing served. When deployments
// are cooling down or over their limits it is a 429 with the soonest
// recovery as retry-after: a wait will do, and Claude Code waits on a 429
// where it gives up after a few 529s.
func (r *Router) finalError(o outcome) *llm.Error {
	now := r.now().UnixNano()
	last := o.last
	switch {
	case last != nil && (last.class == classCanceled || !last.retryable()):
		return last.err
	case o.soonest > now:
		wait := time.Duration(o.soonest - now)
		wait = max(time.Duration(math.Ceil(wait.Seconds()))*time.Second, time.Second)
		msg := fmt.Sprintf("every deployment is cooling down or over its rate limit; retry after %ds", int(wait.Seconds()))
		return &llm.Error{Status: 429, Type: llm.ErrRateLimit, Message: msg, RetryAfter: wait, Retryable: true}
	case last != nil:
		e := last.err
		if e.Status == 529 || e.Status == 503 || e.Type == llm.ErrOverloaded {
			wait := e.RetryAfter
			if wait <= 0 {
				wait = max(r.cooldown, time.Second)
			}
			return &llm.Error{Status: 429, Type: llm.ErrRateLimit, RetryAfter: wait, Retryable: true,
				Message: "upstream overloaded: " + e.Message, Cause: e}
		}
		return e
	case o.storeDown:
		return &llm.Error{Status: 503, Type: llm.ErrAPI, Message: "rate limits cannot be checked: state store unavailable", Retryable: true}
	case o.tooLong:
		return &llm.Error{Status: 400, Type: llm.ErrInvalidRequest, Message: "prompt is too long for every deployment of this model"}
	}
	return &llm.Error{Status: 429, Type: llm.ErrRateLimit, Message: "no deployment available", RetryAfter: time.Second, Retryable: true}
}
