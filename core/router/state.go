package router

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// Shared state and the Store.
//
// The rule: at most one Store round trip on the way to an attempt's first
// byte, and none when no limit applies. So:
//   - rpm is enforced by the one Incr of the attempt (the increment is the
//     check), only for deployments with an rpm limit, only when limits are
//     enforced (enable_pre_call_checks, or usage-based routing).
//   - cooldowns, tpm counts and rpm counts of other instances are read in
//     the background (Router.Refresh, at most once per RefreshInterval,
//     started by a request but never awaited by it). This instance's own
//     failures and counts apply locally at once.
//   - writes go out in the background: cooldowns and failure counts when
//     an attempt fails, token counts and session pins from Result.Finish.
//     Router.Drain waits for them at shutdown. (On AWS Lambda a frozen
//     sandbox finishes them on its next invocation.)
//
// The trade-off: another instance's cooldown or token use is seen up to one
// refresh interval (1 s by default) late, so an instance may send a request
// or two to a deployment another instance has just cooled down; tpm limits
// are approximate by the same margin (LiteLLM's are too). rpm limits are
// exact: the Store's conditional increment decides.

// Store keys. Minute windows carry the unix minute, so a new window is a new
// key and old ones simply expire.
func rpmKey(id string, minute int64) string {
	return "rpm:" + id + ":" + strconv.FormatInt(minute, 10)
}

func tpmKey(id string, minute int64) string {
	return "tpm:" + id + ":" + strconv.FormatInt(minute, 10)
}

func failsKey(id string, minute int64) string {
	return "fails:" + id + ":" + strconv.FormatInt(minute, 10)
}

// windowMargin keeps a window's key a little past its end, for instances
// whose clocks run a little behind.
const windowMargin = time.Minute

func windowExpiry(minute int64) time.Time {
	return time.Unix(0, windowEnd(minute)).Add(windowMargin)
}

// storeTimeout bounds background and after-response Store calls.
const storeTimeout = 5 * time.Second

// background runs f with its own bounded context, off the request path.
func (r *Router) background(f func(ctx context.Context)) {
	r.pending.add()
	r.goFn(func() {
		defer r.pending.done()
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		defer cancel()
		f(ctx)
	})
}

// Drain waits until background Store writes (cooldowns, failure and token
// counts, session pins) are done, or ctx ends. Call it before shutting
// down so no write is lost.
func (r *Router) Drain(ctx context.Context) error { return r.pending.wait(ctx) }

// tracker counts work under way and lets one wait for none.
type tracker struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to 0
}

func (t *tracker) add() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == 0 {
		t.idle = make(chan struct{})
	}
	t.n++
}

func (t *tracker) done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n--; t.n == 0 {
		close(t.idle)
	}
}

func (t *tracker) wait(ctx context.Context) error {
	t.mu.Lock()
	if t.n == 0 {
		t.mu.Unlock()
		return nil
	}
	idle := t.idle
	t.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// maybeRefresh starts a background refresh when the last one is older than
// the refresh interval and none is running.
func (r *Router) maybeRefresh(now int64) {
	if r.refreshEvery <= 0 {
		return
	}
	last := r.lastRefresh.Load()
	if now-last < int64(r.refreshEvery) || !r.lastRefresh.CompareAndSwap(last, now) {
		return
	}
	r.background(func(ctx context.Context) { _ = r.Refresh(ctx) })
}

// Refresh reads shared state (cooldowns set by any instance, rpm and tpm
// counts of the current minute) from the Store into this instance's view:
// two round trips for all deployments. Routes call it in the background;
// Health calls it directly.
func (r *Router) Refresh(ctx context.Context) error {
	r.refreshMu.Lock()
	defer r.refreshMu.Unlock()
	now := r.now().UnixNano()
	minute := minuteOf(now)
	entries, err := r.store.Get(ctx, r.cooldownKeys)
	if err != nil {
		r.storeFailed("refresh cooldowns", err)
		return err
	}
	for i, e := range entries {
		if e.Found() && e.Expires.UnixNano() > now {
			r.all[i].coolUntil(e.Expires.UnixNano(), e.Value)
		}
	}
	// Counts of the members whose windows matter.
	keys := r.countKeys[:0]
	r.countOwners = r.countOwners[:0]
	for _, m := range r.all {
		if m.rpm > 0 && r.enforceLimits {
			keys = append(keys, rpmKey(m.id, minute))
			r.countOwners = append(r.countOwners, countOwner{m, false})
		}
		if m.tpm > 0 && r.enforceLimits || r.tracksUsage {
			keys = append(keys, tpmKey(m.id, minute))
			r.countOwners = append(r.countOwners, countOwner{m, true})
		}
	}
	r.countKeys = keys
	if len(keys) == 0 {
		return nil
	}
	counts, err := r.store.Counts(ctx, keys)
	if err != nil {
		r.storeFailed("refresh counts", err)
		return err
	}
	for i, n := range counts {
		o := r.countOwners[i]
		if o.tpm {
			o.m.seeTPM(minute, n)
		} else {
			o.m.seeRPM(minute, n)
		}
	}
	return nil
}

type countOwner struct {
	m   *member
	tpm bool
}

// storeFailed logs a Store failure, at most once per minute per kind, so an
// outage does not flood the log.
func (r *Router) storeFailed(what string, err error) {
	now := r.now().UnixNano()
	r.logMu.Lock()
	last := r.lastLogged[what]
	if now-last < int64(time.Minute) {
		r.logMu.Unlock()
		return
	}
	r.lastLogged[what] = now
	r.logMu.Unlock()
	r.log.Warn("state store call failed", "op", what, "err", err)
}

// coolDown puts m in cooldown until until, locally at once and in the Store
// in the background so every instance skips it.
func (r *Router) coolDown(m *member, until time.Time, reason string) {
	if !m.coolUntil(until.UnixNano(), reason) {
		return
	}
	r.obs.CooledDown(m.d, reason)
	r.log.Info("deployment cooling down", "deployment", m.id, "group", m.group.name,
		"until", until.UTC().Format(time.RFC3339), "reason", reason)
	r.background(func(ctx context.Context) {
		if err := r.store.Put(ctx, m.cooldownKey, reason, until); err != nil {
			r.storeFailed("put cooldown", err)
		}
	})
}

// localStore is the Store used when Options.Store is nil: this process's
// state only (core/store/memory is the real in-memory store; the router
// cannot import it).
type localStore struct {
	mu  sync.Mutex
	now func() time.Time
	n   map[string]int64
	v   map[string]string
	exp map[string]time.Time
	ops int
}

func newLocalStore(now func() time.Time) *localStore {
	return &localStore{now: now, n: map[string]int64{}, v: map[string]string{}, exp: map[string]time.Time{}}
}

// sweep drops expired keys every few thousand writes, bounding memory by
// what is live. Caller holds mu.
func (s *localStore) sweep() {
	if s.ops++; s.ops%4096 != 0 {
		return
	}
	now := s.now()
	for k, e := range s.exp {
		if !now.Before(e) {
			delete(s.n, k)
			delete(s.v, k)
			delete(s.exp, k)
		}
	}
}

func (s *localStore) live(key string) bool {
	e, ok := s.exp[key]
	if ok && !s.now().Before(e) {
		delete(s.n, key)
		delete(s.v, key)
		delete(s.exp, key)
		return false
	}
	return ok
}

func (s *localStore) Incr(_ context.Context, key string, delta, limit int64, expires time.Time) (int64, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep()
	if !s.live(key) {
		s.exp[key] = expires
	}
	if limit > 0 && s.n[key]+delta > limit {
		return s.n[key], false, nil
	}
	s.n[key] += delta
	return s.n[key], true, nil
}

func (s *localStore) Counts(_ context.Context, keys []string) ([]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]int64, len(keys))
	for i, k := range keys {
		if s.live(k) {
			out[i] = s.n[k]
		}
	}
	return out, nil
}

func (s *localStore) Put(_ context.Context, key, value string, expires time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep()
	s.v[key], s.exp[key] = value, expires
	return nil
}

func (s *localStore) Get(_ context.Context, keys []string) ([]Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Entry, len(keys))
	for i, k := range keys {
		if s.live(k) {
			out[i] = Entry{Value: s.v[k], Expires: s.exp[k]}
		}
	}
	return out, nil
}
