package router

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// Session affinity: the requests of one conversation go to the deployment
// that served it first, while that deployment is healthy and within its
// limits, so the provider's prompt cache keeps hitting and extended-thinking
// signatures stay valid. On failover the conversation moves and sticks to
// the new deployment.
//
// Pins live in the Store (key "affinity:<group>:<session hash>", TTL
// refreshed as the session goes on) so all instances share them, and in a
// bounded local map, which is all the request path reads:
//   - a local hit is used at once; a pin older than affinityRecheck is
//     re-read from the Store in the background (another instance may have
//     failed the session over);
//   - a local miss starts a background Store read for the next request,
//     and this request picks with randomness seeded by the session id, so
//     every instance picks the same deployment for a new session;
//   - the pin is written to the Store in Result.Finish, after the answer,
//     when it changed or its TTL is a quarter spent.
//
// A pin holds within its order tier: once a lower (preferred) tier is
// healthy again the session returns to it, because order is the operator's
// statement of which deployments should serve.

// affinityRecheck is how often a local pin is re-read from the Store.
const affinityRecheck = time.Minute

// maxPins bounds the local map; beyond it expired pins are swept, then
// arbitrary ones dropped (they are still in the Store).
const maxPins = 100_000

type pinKey struct {
	g    *group
	hash uint64
}

type pin struct {
	m       *member
	setAt   int64 // when this pin was chosen (unix nanos)
	written int64 // when it was last written to the Store (0: never)
	checked int64 // when the Store was last read for it
	expires int64
}

type affinity struct {
	mu   sync.Mutex
	ttl  time.Duration
	pins map[pinKey]*pin
}

func newAffinity(ttl time.Duration) *affinity {
	return &affinity{ttl: ttl, pins: map[pinKey]*pin{}}
}

// sessionHash hashes a session id: Store keys stay short and carry no
// user-supplied text. It also seeds the session's picks.
func sessionHash(session string) uint64 {
	// FNV-1a, inline to stay allocation-free on the request path.
	h := uint64(14695981039346656037)
	for i := 0; i < len(session); i++ {
		h ^= uint64(session[i])
		h *= 1099511628211
	}
	return h
}

func (k pinKey) storeKey() string {
	return "affinity:" + k.g.name + ":" + strconv.FormatUint(k.hash, 16)
}

// lookup returns the pinned member (nil if none) and whether the Store
// should be read for this key in the background.
func (a *affinity) lookup(k pinKey, now int64) (*member, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.pins[k]
	if !ok || p.expires <= now {
		if !ok {
			p = &pin{}
			a.insert(k, p, now)
		}
		if now-p.checked < int64(10*time.Second) {
			return nil, false // a read is under way or just came back empty
		}
		p.checked = now
		return nil, true
	}
	if now-p.checked >= int64(affinityRecheck) {
		p.checked = now
		return p.m, true
	}
	return p.m, false
}

// insert adds p, keeping the map bounded. Caller holds mu.
func (a *affinity) insert(k pinKey, p *pin, now int64) {
	if len(a.pins) >= maxPins {
		for key, q := range a.pins {
			if q.expires <= now {
				delete(a.pins, key)
			}
		}
		for key := range a.pins {
			if len(a.pins) < maxPins*9/10 {
				break
			}
			delete(a.pins, key)
		}
	}
	a.pins[k] = p
}

// record pins k to m after m served a request.
func (a *affinity) record(k pinKey, m *member, now int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.pins[k]
	if !ok {
		p = &pin{checked: now}
		a.insert(k, p, now)
	}
	if p.m != m {
		p.m, p.setAt, p.written = m, now, 0
	}
	p.expires = now + int64(a.ttl)
}

// needsWrite reports whether k's pin (to m) should be written to the Store
// now, and marks it written.
func (a *affinity) needsWrite(k pinKey, m *member, now int64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.pins[k]
	if !ok || p.m != m {
		return false // moved on since; the newer pin writes itself
	}
	if p.written != 0 && now-p.written < int64(a.ttl/4) {
		return false
	}
	p.written = now
	return true
}

// adopt takes a pin read from the Store if it is newer than the local one.
func (a *affinity) adopt(k pinKey, e Entry, now int64) {
	if !e.Found() || e.Expires.UnixNano() <= now {
		return
	}
	var m *member
	for _, c := range k.g.members {
		if c.id == e.Value {
			m = c
			break
		}
	}
	if m == nil {
		return // a deployment no longer configured
	}
	writtenAt := e.Expires.Add(-a.ttl).UnixNano()
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.pins[k]
	if !ok {
		p = &pin{checked: now}
		a.insert(k, p, now)
	}
	if p.m == m {
		p.written = max(p.written, writtenAt)
		p.expires = max(p.expires, e.Expires.UnixNano())
		return
	}
	if p.m == nil || writtenAt > p.setAt {
		p.m, p.setAt, p.written, p.expires = m, writtenAt, writtenAt, e.Expires.UnixNano()
	}
}

// readPin reads k from the Store in the background.
func (r *Router) readPin(k pinKey) {
	r.background(func(ctx context.Context) {
		es, err := r.store.Get(ctx, []string{k.storeKey()})
		if err != nil {
			r.storeFailed("get affinity", err)
			return
		}
		r.aff.adopt(k, es[0], r.now().UnixNano())
	})
}

// writePin stores k's pin to m (called from Finish, after the answer).
func (r *Router) writePin(ctx context.Context, k pinKey, m *member) {
	now := r.now()
	if !r.aff.needsWrite(k, m, now.UnixNano()) {
		return
	}
	if err := r.store.Put(ctx, k.storeKey(), m.id, now.Add(r.aff.ttl)); err != nil {
		r.storeFailed("put affinity", err)
	}
}
