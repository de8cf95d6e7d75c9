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
//   - the pin is written to the Store in the background from Result.Finish,
//     when it changed or its TTL is a quarter spent, and only once it
//     agrees with the Store (see pin.confirmed).
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
	m     *member
	setAt int64 // when this pin was chosen (unix nanos)
	// confirmed: the pin agrees with the Store (read from it, or the Store
	// had none, or this instance moved the session on a failover). Only
	// confirmed pins are written, so an instance that has not heard of a
	// session's pin yet never overwrites it with its own first guess.
	confirmed bool
	written   int64 // when it was last written to the Store (0: never)
	checked   int64 // when the Store was last read for it
	expires   int64
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
	if !ok {
		a.insert(k, &pin{checked: now}, now)
		return nil, true
	}
	recheck := int64(affinityRecheck)
	if !p.confirmed {
		recheck = int64(pinRetry)
	}
	check := now-p.checked >= recheck
	if check {
		p.checked = now
	}
	if p.m == nil || p.expires <= now {
		return nil, check
	}
	return p.m, check
}

// pinned counts this instance's live session pins per member (for
// metrics; it walks the map, so only collection calls it).
func (a *affinity) pinned(now int64) map[*member]int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[*member]int64{}
	for _, p := range a.pins {
		if p.m != nil && p.expires > now {
			out[p.m]++
		}
	}
	return out
}

// pinRetry is how soon an unanswered Store read for a pin is repeated.
const pinRetry = 10 * time.Second

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

// record notes that m served a request of k's session that was pinned to
// pinned (nil: none known when it started).
func (a *affinity) record(k pinKey, m, pinned *member, now int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.pins[k]
	if !ok {
		p = &pin{checked: now}
		a.insert(k, p, now)
	}
	switch {
	case p.m == m:
	case p.m == nil || p.expires <= now:
		p.m, p.setAt, p.written = m, now, 0
	case pinned != nil:
		// The pinned deployment could not serve: the session moves.
		p.m, p.setAt, p.written, p.confirmed = m, now, 0, true
	default:
		// A pin arrived from the Store while this request was being
		// served elsewhere: the Store's pin stands.
		return
	}
	p.expires = now + int64(a.ttl)
}

// needsWrite reports whether k's pin (to m) should be written to the Store
// now, and marks it written.
func (a *affinity) needsWrite(k pinKey, m *member, now int64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.pins[k]
	if !ok || p.m != m || !p.confirmed {
		return false // moved on since, or not agreed with the Store yet
	}
	if p.written != 0 && now-p.written < int64(a.ttl/4) {
		return false
	}
	p.written = now
	return true
}

// adopt takes in what the Store holds for k: a newer pin replaces the
// local one; an unconfirmed local pin yields to any; none confirms ours.
func (a *affinity) adopt(k pinKey, e Entry, now int64) {
	var m *member
	if e.Found() && e.Expires.UnixNano() > now {
		for _, c := range k.g.members {
			if c.id == e.Value {
				m = c
				break
			}
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.pins[k]
	if !ok {
		p = &pin{checked: now}
		a.insert(k, p, now)
	}
	if m == nil {
		p.confirmed = true // nothing (usable) stored: ours is the first
		return
	}
	writtenAt := e.Expires.Add(-a.ttl).UnixNano()
	switch {
	case p.m == m:
		p.written = max(p.written, writtenAt)
	case p.m == nil || !p.confirmed || p.expires <= now || writtenAt > p.setAt:
		p.m, p.setAt, p.written = m, writtenAt, writtenAt
	default:
		return // ours is newer; it will be written
	}
	p.confirmed = true
	p.expires = max(p.expires, e.Expires.UnixNano())
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

// writePin stores k's pin to m, written at now.
func (r *Router) writePin(ctx context.Context, k pinKey, m *member, now time.Time) {
	if err := r.store.Put(ctx, k.storeKey(), m.id, now.Add(r.aff.ttl)); err != nil {
		r.storeFailed("put affinity", err)
	}
}
