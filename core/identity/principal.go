package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"
)

// Principals admits callers whose policy comes from configuration instead of
// a stored key document: users signed in through SSO, and the IdP groups
// they belong to. Each principal has its own budget and rate counters in the
// store, under the same layout as a key's (so spend reports read alike), and
// its policy is whatever the caller passes in: a config change applies on
// the next request.
//
// Counters are cached like the Gatekeeper's: Run re-reads them every
// Refresh, so a principal's steady-state check costs no store round trip
// (except rpm_limit, an atomic increment per request).
type Principals struct {
	g  *Gatekeeper
	mu sync.RWMutex
	m  map[string]*keyState
}

// NewPrincipals returns the principal source of g (its store, clock and refresh).
func NewPrincipals(g *Gatekeeper) *Principals {
	return &Principals{g: g, m: map[string]*keyState{}}
}

// Caller admits principal id (for example "user:<sub>" or "group:<name>")
// under policy k. k.Token is ignored: the counters are keyed by a hash of id.
func (p *Principals) Caller(ctx context.Context, id string, k *Key) (*Caller, error) {
	p.mu.RLock()
	st := p.m[id]
	p.mu.RUnlock()
	if st == nil {
		sum := sha256.Sum256([]byte("principal:" + id))
		st = &keyState{sum: sum}
		st.name = hex.EncodeToString(sum[:])
		pol := k.Policy()
		st.policy.Store(&pol) // the budget window the counters are read in
		if err := p.g.loadCounters(ctx, []*subject{&st.subject}); err != nil {
			return nil, err
		}
		p.mu.Lock()
		if prev := p.m[id]; prev != nil {
			st = prev
		} else if len(p.m) < maxCached {
			p.m[id] = st
		}
		p.mu.Unlock()
	}
	kk := *k
	kk.Token = st.name
	pol := kk.Policy()
	st.key.Store(&kk)
	st.policy.Store(&pol)
	return p.g.newCaller(st, &kk, [3]level{{s: &st.subject, p: &pol, what: "key"}}, 1), nil
}

// Run re-reads every cached principal's counters each Refresh until ctx ends.
func (p *Principals) Run(ctx context.Context) {
	t := time.NewTicker(p.g.refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.mu.RLock()
			states := make([]*subject, 0, len(p.m))
			for _, st := range p.m {
				states = append(states, &st.subject)
			}
			p.mu.RUnlock()
			if len(states) == 0 {
				continue
			}
			if err := p.g.loadCounters(ctx, states); err != nil {
				p.g.log.Warn("principal counters refresh failed; serving cached counters", "error", err)
			}
		}
	}
}
