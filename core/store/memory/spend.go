package memory

import (
	"bytes"
	"context"
	"hash/maphash"
	"sort"
	"sync"

	"github.com/claude-gateway/claude-gateway/core/spend"
)

// SpendStore keeps spend records in memory, for a single instance with no
// state server, and tests. Records are lost when the process ends; use the
// embedded store to keep them.
//
// Its rule is a memory budget, not a record count: past MaxSpendBytes the
// oldest records go. Each record is held as one pointer-free byte string
// (the strings records repeat are interned, numbers are varints), about
// 150 bytes with its indexes, so the garbage collector has little to trace
// however many records there are.
type SpendStore struct {
	mu   sync.RWMutex
	recs []spendEntry // sort-key order, oldest first
	strs *strtab
	// byID finds a record's sort time from a hash of its call id; the rare
	// call id whose hash another one already has is in collide instead.
	byID     map[uint64]int64
	collide  map[string]int64
	seed     maphash.Seed
	bytes    int // memory the records hold, estimated
	maxBytes int
}

// spendEntry is one stored record: its sort time (spend.SortKey's
// nanoseconds) and its encoding (compact.go).
type spendEntry struct {
	key  int64
	data []byte
}

// entryOverhead estimates what a record costs beyond its encoding: its
// entry, its byID slot, and the allocation's rounding.
const entryOverhead = 32 + 24 + 16

// MaxSpendBytes bounds the memory the memory store's records take (about
// 100,000 records): past it the oldest records go, so a long-running process
// on the memory store does not grow without end.
const MaxSpendBytes = 16 << 20

// NewSpendStore returns an empty spend store holding at most MaxSpendBytes of records.
func NewSpendStore() *SpendStore {
	return &SpendStore{strs: newStrtab(), byID: map[uint64]int64{}, collide: map[string]int64{},
		seed: maphash.MakeSeed(), maxBytes: MaxSpendBytes}
}

var _ spend.Store = (*SpendStore)(nil)

// PutSpend implements spend.Store: a call id already stored is left as it is.
func (s *SpendStore) PutSpend(_ context.Context, recs []spend.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range spend.Dedupe(recs) {
		if _, ok := s.find(r.CallID); ok {
			continue
		}
		s.insert(&r)
	}
	s.evict()
	return nil
}

// insert stores r, which is not stored yet. Records come roughly in time
// order, so the place is found from the end and little is moved.
func (s *SpendStore) insert(r *spend.Record) {
	key := sortNanos(r)
	e := spendEntry{key: key, data: encodeRecord(nil, s.strs, r, key)}
	i := len(s.recs)
	for i > 0 && i > len(s.recs)-64 && less(e, s.recs[i-1]) {
		i--
	}
	if i > 0 && less(e, s.recs[i-1]) { // far from the end: search instead of walking
		i = sort.Search(i, func(j int) bool { return less(e, s.recs[j]) })
	}
	s.recs = append(s.recs, spendEntry{})
	copy(s.recs[i+1:], s.recs[i:])
	s.recs[i] = e
	h := maphash.String(s.seed, r.CallID)
	if _, taken := s.byID[h]; taken {
		s.collide[r.CallID] = key
	} else {
		s.byID[h] = key
	}
	s.bytes += cap(e.data) + entryOverhead
}

// evict drops the oldest records while the store is over its budget.
func (s *SpendStore) evict() {
	n := 0
	for n < len(s.recs) && s.bytes+s.strs.bytes > s.maxBytes {
		e := s.recs[n]
		for _, id := range recordStrIDs(e.data) {
			s.strs.release(id)
		}
		id := string(recordCallID(e.data))
		if _, ok := s.collide[id]; ok {
			delete(s.collide, id)
		} else {
			delete(s.byID, maphash.String(s.seed, id))
		}
		s.bytes -= cap(e.data) + entryOverhead
		s.recs[n] = spendEntry{} // let the encoding go now, not when the array is reallocated
		n++
	}
	if n > 0 {
		// Re-slicing, not copying: append reallocates (amortised) once the
		// front's room is used up.
		s.recs = s.recs[n:]
	}
}

// sortNanos is the time part of spend.SortKey(r).
func sortNanos(r *spend.Record) int64 {
	if r.StartTime.IsZero() || r.StartTime.UnixNano() < 0 {
		return 0
	}
	return r.StartTime.UnixNano()
}

// less orders entries as spend.SortKey does: time, then call id.
func less(a, b spendEntry) bool {
	if a.key != b.key {
		return a.key < b.key
	}
	return bytes.Compare(recordCallID(a.data), recordCallID(b.data)) < 0
}

// find returns the index of the record with call id id.
func (s *SpendStore) find(id string) (int, bool) {
	key, ok := s.collide[id]
	if !ok {
		if key, ok = s.byID[maphash.String(s.seed, id)]; !ok {
			return 0, false
		}
	}
	for i := sort.Search(len(s.recs), func(j int) bool { return s.recs[j].key >= key }); i < len(s.recs) && s.recs[i].key == key; i++ {
		if string(recordCallID(s.recs[i].data)) == id {
			return i, true
		}
	}
	return 0, false
}

// QuerySpend implements spend.Store.
func (s *SpendStore) QuerySpend(_ context.Context, q spend.Query) (spend.Page, error) {
	q, err := q.Normalize()
	if err != nil {
		return spend.Page{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var page spend.Page
	if q.RequestID != "" {
		if i, ok := s.find(q.RequestID); ok {
			if r := s.decode(i); q.Matches(r) && inBounds(q, r) {
				page.Records = append(page.Records, r)
			}
		}
		return page, nil
	}
	want, ok := s.labelFilter(q)
	if !ok {
		return page, nil // a key, user or team no stored record has
	}
	lo, hi := q.Bounds()
	end := len(s.recs)
	if hi != "" {
		end = sort.Search(len(s.recs), func(j int) bool { return s.sortKey(j) >= hi })
	}
	for i := end - 1; i >= 0; i-- {
		if lo != "" && s.sortKey(i) < lo {
			break
		}
		if !want.matches(s.recs[i].data) {
			continue
		}
		r := s.decode(i)
		if !q.Matches(r) {
			continue
		}
		if len(page.Records) == q.Limit {
			page.NextCursor = spend.EncodeCursor(spend.SortKey(page.Records[len(page.Records)-1]))
			break
		}
		page.Records = append(page.Records, r)
	}
	return page, nil
}

func (s *SpendStore) decode(i int) spend.Record {
	return decodeRecord(s.recs[i].data, s.strs, s.recs[i].key)
}

// sortKey is spend.SortKey of record i, built from its entry.
func (s *SpendStore) sortKey(i int) string {
	var b [19 + 1 + 64]byte
	k := appendPadded(b[:0], s.recs[i].key)
	k = append(k, '#')
	return string(append(k, recordCallID(s.recs[i].data)...))
}

// appendPadded appends n in 19 zero-padded digits, as spend.SortKey writes it.
func appendPadded(dst []byte, n int64) []byte {
	var d [19]byte
	for i := len(d) - 1; i >= 0; i-- {
		d[i] = byte('0' + n%10)
		n /= 10
	}
	return append(dst, d[:]...)
}

// labels are the interned ids a query's key, user and team filters ask
// for; a filter that is not set matches any id.
type labels struct {
	key, user, team       uint32
	byKey, byUser, byTeam bool
}

// labelFilter turns q's exact-match filters into interned ids; ok is false
// when one names a value no stored record holds.
func (s *SpendStore) labelFilter(q spend.Query) (l labels, ok bool) {
	ok = true
	look := func(v string, id *uint32, by *bool) {
		if v != "" && ok {
			*by = true
			*id, ok = s.strs.lookup(v)
		}
	}
	look(q.KeyHash, &l.key, &l.byKey)
	look(q.UserID, &l.user, &l.byUser)
	look(q.TeamID, &l.team, &l.byTeam)
	return l, ok
}

// matches checks an encoded record's ids against the filters, before it is decoded.
func (l labels) matches(data []byte) bool {
	if !l.byKey && !l.byUser && !l.byTeam {
		return true
	}
	ids := recordStrIDs(data)
	return (!l.byKey || ids[fKeyHash] == l.key) && (!l.byUser || ids[fUserID] == l.user) && (!l.byTeam || ids[fTeamID] == l.team)
}

// inBounds applies the cursor to a record found by id.
func inBounds(q spend.Query, r spend.Record) bool {
	lo, hi := q.Bounds()
	k := spend.SortKey(r)
	return k >= lo && (hi == "" || k < hi)
}
