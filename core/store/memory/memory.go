// Package memory is the in-process state store: counters, cooldowns and
// affinity entries in one map, for a single instance or tests.
package memory

import (
	"context"
	"sync"
	"time"

	"github.com/claude-gateway/claude-gateway/core/router"
)

// Store implements router.Store in memory, and the sets identity lists
// keys, users and teams with (sets.go). The zero value is not usable; use New.
type Store struct {
	mu      sync.Mutex
	now     func() time.Time
	entries map[string]entry
	sets    map[string][]string // set -> members, sorted (sets.go)
	sweep   time.Time
	// version counts changes, so a persisting owner (core/store/embedded)
	// writes a snapshot only when something changed.
	version uint64
}

type entry struct {
	n       int64
	value   string
	expires time.Time
}

// New returns an empty store. now may be nil (time.Now).
func New(now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{now: now, entries: map[string]entry{}}
}

var _ router.Store = (*Store)(nil)

// live returns the entry at key if it has not expired. Caller holds mu.
func (s *Store) live(key string, now time.Time) (entry, bool) {
	e, ok := s.entries[key]
	if !ok || !now.Before(e.expires) {
		return entry{}, false
	}
	return e, true
}

// maybeSweep drops expired entries at most once a minute, so memory stays
// bounded by what is live. Caller holds mu.
func (s *Store) maybeSweep(now time.Time) {
	if now.Sub(s.sweep) < time.Minute {
		return
	}
	s.sweep = now
	for k, e := range s.entries {
		if !now.Before(e.expires) {
			delete(s.entries, k)
		}
	}
}

// Incr implements router.Store.
func (s *Store) Incr(_ context.Context, key string, delta, limit int64, expires time.Time) (int64, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.maybeSweep(now)
	e, ok := s.live(key, now)
	if !ok {
		e = entry{expires: expires}
	}
	if limit > 0 && e.n+delta > limit {
		return e.n, false, nil
	}
	e.n += delta
	s.entries[key] = e
	s.version++
	return e.n, true, nil
}

// Counts implements router.Store.
func (s *Store) Counts(_ context.Context, keys []string) ([]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := make([]int64, len(keys))
	for i, k := range keys {
		if e, ok := s.live(k, now); ok {
			out[i] = e.n
		}
	}
	return out, nil
}

// Put implements router.Store.
func (s *Store) Put(_ context.Context, key, value string, expires time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.maybeSweep(now)
	s.entries[key] = entry{value: value, expires: expires}
	s.version++
	return nil
}

// Get implements router.Store.
func (s *Store) Get(_ context.Context, keys []string) ([]router.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := make([]router.Entry, len(keys))
	for i, k := range keys {
		if e, ok := s.live(k, now); ok {
			out[i] = router.Entry{Value: e.value, Expires: e.expires}
		}
	}
	return out, nil
}

// InProcess reports true: every operation is a map access under a mutex,
// with no I/O to wait for (core/store/guard gives such stores no deadline).
func (s *Store) InProcess() bool { return true }
