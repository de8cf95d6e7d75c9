package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/router"
)

// DefaultRefresh is how often cached keys, users, teams and their budget
// counters are re-read from the store. It bounds how long a key deleted or
// blocked on another instance keeps working here, and how stale a budget
// check can be.
const DefaultRefresh = 2 * time.Second

// maxCached caps the cache size at which unknown keys stop being remembered.
const maxCached = 100_000

// Gatekeeper admits virtual keys and enforces their effective policy (the
// narrowest of key, user and team). Steady-state checks read only process
// memory: a background loop re-reads every cached key, user and team and
// their counters each Refresh, so budgets and revocations made on other
// instances are seen within one Refresh. A level with an rpm_limit pays one
// atomic store increment per request (the limit must hold across instances).
type Gatekeeper struct {
	repo    Repo
	now     func() time.Time
	log     *slog.Logger
	refresh time.Duration
	groups  map[string][]string

	mu    sync.RWMutex
	cache map[[32]byte]*keyState
	users map[string]*subject
	teams map[string]*subject

	charges charger
}

// subject is one cached policy holder (a key, a user or a team) and its
// live counters, which this instance bumps at once and the refresh loop
// resets to the store's totals.
type subject struct {
	name     string                 // counter subject (key hash, "u:"+id, "t:"+id)
	policy   atomic.Pointer[Policy] // nil: unknown or deleted
	spend    atomic.Int64           // micro-USD in the current budget window
	tpm      atomic.Int64           // tokens in the current minute
	inflight atomic.Int64
	// The current windows' counter names.
	spendName, tpmName, rpmName atomic.Pointer[counterName]
}

// keyState is one cached key: its document (nil = unknown or deleted, a
// negative entry so a flood of bad keys costs one read per Refresh), its own
// counters and its user's and team's.
type keyState struct {
	subject
	sum  [32]byte
	key  atomic.Pointer[Key]
	raw  atomic.Pointer[string]  // the stored document key was decoded from
	user atomic.Pointer[subject] // nil: the key names no user
	team atomic.Pointer[subject] // nil: the key names no team
	// spare is a Caller of this key whose call ended, for the key's next
	// Admit: a steady-state check allocates nothing.
	spare atomic.Pointer[Caller]
}

// inProcess is a store that answers from process memory, with no I/O to
// wait for (core/store/guard reports it of the store it wraps): charges to
// it are sent inline (see charger).
type inProcess interface{ InProcess() bool }

// Options tune a Gatekeeper.
type Options struct {
	Logger *slog.Logger
	// Refresh is the background re-read interval (DefaultRefresh if 0).
	Refresh time.Duration
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// AccessGroups maps a named access group (model_info.access_groups) to
	// the model groups it allows; "models" lists may name a group.
	AccessGroups map[string][]string
}

// NewGatekeeper returns a Gatekeeper over s. Call Run to start the refresh loop.
func NewGatekeeper(s router.Store, o Options) *Gatekeeper {
	g := &Gatekeeper{repo: Repo{Store: s}, now: o.Now, log: o.Logger, refresh: o.Refresh, groups: o.AccessGroups,
		cache: map[[32]byte]*keyState{}, users: map[string]*subject{}, teams: map[string]*subject{}}
	g.charges.g = g
	if ip, ok := s.(inProcess); ok {
		g.charges.inline = ip.InProcess()
	}
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

// Repo is the document store the Gatekeeper reads (the admin API writes through it).
func (g *Gatekeeper) Repo() Repo { return g.repo }

// RefreshInterval is the bound on how stale this instance's view can be.
func (g *Gatekeeper) RefreshInterval() time.Duration { return g.refresh }

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

// Refresh re-reads every cached key, user and team (one Get), the owners
// new to the cache (one more Get, only if any), and every counter (one Counts).
func (g *Gatekeeper) Refresh(ctx context.Context) error {
	g.mu.RLock()
	keys := make([]*keyState, 0, len(g.cache))
	for _, st := range g.cache {
		keys = append(keys, st)
	}
	users, uids := subjects(g.users)
	teams, tids := subjects(g.teams)
	g.mu.RUnlock()
	if len(keys)+len(users)+len(teams) == 0 {
		return nil
	}
	tokens := make([]string, len(keys))
	for i, st := range keys {
		tokens[i] = st.name
	}
	names := make([]string, 0, len(tokens)+len(uids)+len(tids))
	names = appendPrefixed(appendPrefixed(appendPrefixed(names, keyPrefix, tokens), userPrefix, uids), teamPrefix, tids)
	es, err := g.repo.Store.Get(ctx, names)
	if err != nil {
		return err
	}
	changed, kdocs, err := changedKeys(keys, es[:len(tokens)], names)
	if err != nil {
		return err
	}
	udocs, err := decodeDocs[User](es[len(tokens):len(tokens)+len(uids)], names[len(tokens):])
	if err != nil {
		return err
	}
	tdocs, err := decodeDocs[Team](es[len(tokens)+len(uids):], names[len(tokens)+len(uids):])
	if err != nil {
		return err
	}
	for i, u := range users {
		u.policy.Store(userPolicy(udocs[i]))
	}
	for i, t := range teams {
		t.policy.Store(teamPolicy(tdocs[i]))
	}
	all := make([]*subject, 0, len(keys)+len(users)+len(teams))
	for i, st := range keys {
		if changed[i] {
			st.setKey(kdocs[i])
			st.raw.Store(&es[i].Value)
		}
		all = append(all, &st.subject)
	}
	fresh, err := g.link(ctx, keys)
	if err != nil {
		return err
	}
	all = append(append(append(all, users...), teams...), fresh...)
	return g.loadCounters(ctx, all)
}

func subjects(m map[string]*subject) ([]*subject, []string) {
	out, ids := make([]*subject, 0, len(m)), make([]string, 0, len(m))
	for id, s := range m {
		out, ids = append(out, s), append(ids, id)
	}
	return out, ids
}

func appendPrefixed(dst []string, prefix string, ids []string) []string {
	for _, id := range ids {
		dst = append(dst, prefix+id)
	}
	return dst
}

// changedKeys decodes the key documents in es that differ from what each
// cached key was decoded from: a steady-state refresh of many keys decodes
// none. changed[i] reports whether kdocs[i] is new.
func changedKeys(keys []*keyState, es []router.Entry, names []string) (changed []bool, kdocs []*Key, err error) {
	changed, kdocs = make([]bool, len(keys)), make([]*Key, len(keys))
	for i, st := range keys {
		if raw := st.raw.Load(); raw != nil && *raw == es[i].Value {
			continue
		}
		changed[i] = true
		if !es[i].Found() || es[i].Value == tombstone {
			continue
		}
		if kdocs[i], err = decodeDoc[Key](es[i].Value, names[i]); err != nil {
			return nil, nil, err
		}
	}
	return changed, kdocs, nil
}

func decodeDocs[T any](es []router.Entry, names []string) ([]*T, error) {
	out := make([]*T, len(es))
	for i, e := range es {
		if !e.Found() || e.Value == tombstone {
			continue
		}
		v, err := decodeDoc[T](e.Value, names[i])
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func userPolicy(u *User) *Policy {
	if u == nil {
		return nil
	}
	return &u.Policy
}

func teamPolicy(t *Team) *Policy {
	if t == nil {
		return nil
	}
	return &t.Policy
}

func (st *keyState) setKey(k *Key) {
	st.key.Store(k)
	if k == nil {
		st.policy.Store(nil)
		return
	}
	p := k.Policy()
	st.policy.Store(&p)
}

// link points each key at its user's and team's cached subjects, loading
// owners not yet cached in one Get; it returns the subjects it created.
func (g *Gatekeeper) link(ctx context.Context, keys []*keyState) ([]*subject, error) {
	var newUsers, newTeams []string
	g.mu.RLock()
	for _, st := range keys {
		if k := st.key.Load(); k != nil {
			if k.UserID != "" && g.users[k.UserID] == nil && !contains(newUsers, k.UserID) {
				newUsers = append(newUsers, k.UserID)
			}
			if k.TeamID != "" && g.teams[k.TeamID] == nil && !contains(newTeams, k.TeamID) {
				newTeams = append(newTeams, k.TeamID)
			}
		}
	}
	g.mu.RUnlock()
	var fresh []*subject
	if len(newUsers)+len(newTeams) > 0 {
		names := appendPrefixed(appendPrefixed(nil, userPrefix, newUsers), teamPrefix, newTeams)
		es, err := g.repo.Store.Get(ctx, names)
		if err != nil {
			return nil, err
		}
		udocs, err := decodeDocs[User](es[:len(newUsers)], names)
		if err != nil {
			return nil, err
		}
		tdocs, err := decodeDocs[Team](es[len(newUsers):], names[len(newUsers):])
		if err != nil {
			return nil, err
		}
		g.mu.Lock()
		for i, id := range newUsers {
			fresh = append(fresh, g.adopt(g.users, id, userSubject(id), userPolicy(udocs[i])))
		}
		for i, id := range newTeams {
			fresh = append(fresh, g.adopt(g.teams, id, teamSubject(id), teamPolicy(tdocs[i])))
		}
		g.mu.Unlock()
	}
	g.mu.RLock()
	for _, st := range keys {
		var u, t *subject
		if k := st.key.Load(); k != nil {
			if k.UserID != "" {
				u = g.users[k.UserID]
			}
			if k.TeamID != "" {
				t = g.teams[k.TeamID]
			}
		}
		st.user.Store(u)
		st.team.Store(t)
	}
	g.mu.RUnlock()
	return fresh, nil
}

// adopt returns m[id], creating it with p if absent. g.mu must be held.
func (g *Gatekeeper) adopt(m map[string]*subject, id, name string, p *Policy) *subject {
	if s := m[id]; s != nil {
		return s
	}
	s := &subject{name: name}
	s.policy.Store(p)
	m[id] = s
	return s
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// loadCounters reads the budget and token counters of subs in one Counts.
func (g *Gatekeeper) loadCounters(ctx context.Context, subs []*subject) error {
	if len(subs) == 0 {
		return nil
	}
	now := g.now()
	names := make([]string, 0, 2*len(subs))
	for _, s := range subs {
		var w Window
		if p := s.policy.Load(); p != nil {
			w, _ = ParseWindow(p.BudgetDuration)
		}
		sn, _, _ := s.spendCounter(w, now)
		tn, _, _ := s.minuteCounter(&s.tpmName, tpmPrefix, now)
		names = append(names, sn, tn)
	}
	vals, err := g.repo.Store.Counts(ctx, names)
	if err != nil {
		return err
	}
	for i, s := range subs {
		s.spend.Store(vals[2*i])
		s.tpm.Store(vals[2*i+1])
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

// Admit looks the presented key up: 401 authentication_error if it, its
// user or its team is unknown, deleted, blocked or expired.
func (g *Gatekeeper) Admit(ctx context.Context, secret string) (*Caller, *llm.Error) {
	if secret == "" {
		return nil, authError("missing API key")
	}
	sum := hashSecret(secret)
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
	if k == nil {
		return nil, authError("invalid API key")
	}
	levels := [3]level{{s: &st.subject, p: st.policy.Load(), what: "key"}}
	n := 1
	if u := st.user.Load(); u != nil {
		if p := u.policy.Load(); p != nil {
			levels[n] = level{s: u, p: p, what: "user"}
			n++
		}
	}
	if t := st.team.Load(); t != nil {
		p := t.policy.Load()
		if p == nil {
			return nil, authError("the key's team " + k.TeamID + " does not exist")
		}
		levels[n] = level{s: t, p: p, what: "team"}
		n++
	}
	now := clock{read: g.now}
	for _, l := range levels[:n] {
		switch {
		case l.p.Blocked:
			return nil, authError("API key is blocked" + l.owner())
		case l.p.Expires != nil && l.p.Expired(now.get()):
			return nil, authError("API key expired" + l.owner() + " at " + l.p.Expires.UTC().Format(time.RFC3339))
		}
	}
	c := st.spare.Swap(nil)
	if c == nil {
		c = &Caller{g: g, st: st, reuse: true}
	}
	c.start(k, levels, n)
	return c, nil
}

func (g *Gatekeeper) load(ctx context.Context, sum [32]byte) (*keyState, error) {
	token := hex.EncodeToString(sum[:])
	k, err := g.repo.Get(ctx, token)
	if err != nil {
		return nil, err
	}
	st := &keyState{sum: sum}
	st.name = token
	st.setKey(k)
	if k != nil {
		fresh, err := g.link(ctx, []*keyState{st})
		if err != nil {
			return nil, err
		}
		if err := g.loadCounters(ctx, append(fresh, &st.subject)); err != nil {
			return nil, err
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if k == nil && len(g.cache) >= maxCached {
		// A flood of made-up keys must not grow memory: past the cap,
		// unknown keys are read each time instead of remembered.
		return st, nil
	}
	if prev := g.cache[sum]; prev != nil {
		return prev, nil
	}
	g.cache[sum] = st
	return st, nil
}

// hashSecret is SHA-256 of the secret, hashed from a stack buffer: a
// []byte conversion of a key longer than 32 bytes would allocate per request.
func hashSecret(secret string) [32]byte {
	var buf [128]byte
	if len(secret) > len(buf) {
		return sha256.Sum256([]byte(secret))
	}
	return sha256.Sum256(append(buf[:0], secret...))
}

func authError(msg string) *llm.Error {
	return &llm.Error{Status: 401, Type: llm.ErrAuthentication, Message: msg}
}

// newCaller returns a Caller of st that End does not hand on: wrappers
// such as the SSO caller may still read their parts after ending them.
func (g *Gatekeeper) newCaller(st *keyState, k *Key, levels [3]level, n int) *Caller {
	c := &Caller{g: g, st: st}
	c.start(k, levels, n)
	return c
}

// Wait blocks until every charge begun by End has reached the store (tests,
// and shutdown on platforms that freeze the process after a response).
func (g *Gatekeeper) Wait() { g.charges.wg.Wait() }
