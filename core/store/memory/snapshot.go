package memory

import "time"

// Item is one live entry as a snapshot holds it: a counter (N) or a value.
type Item struct {
	Key     string
	N       int64
	Value   string
	Expires time.Time
}

// Snapshot returns the live entries and the store's version: a later call
// returning the same version means nothing changed in between.
func (s *Store) Snapshot() ([]Item, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := make([]Item, 0, len(s.entries))
	for k, e := range s.entries {
		if now.Before(e.expires) {
			out = append(out, Item{Key: k, N: e.n, Value: e.value, Expires: e.expires})
		}
	}
	return out, s.version
}

// Version is the count of changes so far (see Snapshot).
func (s *Store) Version() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version
}

// Restore loads items (a snapshot read back), skipping the expired ones.
func (s *Store) Restore(items []Item) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, it := range items {
		if now.Before(it.Expires) {
			s.entries[it.Key] = entry{n: it.N, value: it.Value, expires: it.Expires}
			s.restoreMember(it.Key)
		}
	}
}
