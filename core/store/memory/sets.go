package memory

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Set members are entries too (under setEntryPrefix, never expiring), so a
// snapshot of the entries (core/store/embedded) keeps them; sets indexes
// them by set, sorted, for SetRange.
const setEntryPrefix = "\x00set\x00"

// setForever is a set member's expiry: members stay until removed.
var setForever = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC) // within UnixNano, which snapshots hold

func setEntry(set, member string) string { return setEntryPrefix + set + "\x00" + member }

// SetAdd adds member to set (listings: identity's key, user and team indexes).
func (s *Store) SetAdd(_ context.Context, set, member string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries[setEntry(set, member)] = entry{expires: setForever}
	s.addMember(set, member)
	return nil
}

// addMember inserts member into set's sorted index. Caller holds mu.
func (s *Store) addMember(set, member string) {
	if s.sets == nil {
		s.sets = map[string][]string{}
	}
	ms := s.sets[set]
	if i, found := slices.BinarySearch(ms, member); !found {
		s.sets[set] = slices.Insert(ms, i, member)
		s.version++
	}
}

// SetRemove removes member from set, if there.
func (s *Store) SetRemove(_ context.Context, set, member string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.entries, setEntry(set, member))
	ms := s.sets[set]
	if i, found := slices.BinarySearch(ms, member); found {
		s.sets[set] = slices.Delete(ms, i, i+1)
		s.version++
	}
	return nil
}

// SetRange returns up to limit members of set after after, ascending.
func (s *Store) SetRange(_ context.Context, set, after string, limit int) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ms := s.sets[set]
	i, found := slices.BinarySearch(ms, after)
	if found {
		i++
	}
	return slices.Clone(ms[i:min(len(ms), i+max(limit, 0))]), nil
}

// restoreMember indexes a restored entry if it is a set member. Caller holds mu.
func (s *Store) restoreMember(key string) {
	rest, ok := strings.CutPrefix(key, setEntryPrefix)
	if !ok {
		return
	}
	if set, member, ok := strings.Cut(rest, "\x00"); ok {
		s.addMember(set, member)
	}
}
