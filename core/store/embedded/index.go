package embedded

import (
	"sort"
	"strconv"

	"github.com/claude-gateway/claude-gateway/core/spend"
)

// rec is where one spend record lives in the log, and its sort key
// (StartTime, call id): the same order as spend.SortKey's strings.
type rec struct {
	start int64
	id    string
	seg   uint32
	off   uint32
	size  uint32
}

// less orders recs as their spend.SortKey strings order.
func less(a, b *rec) bool {
	return a.start < b.start || (a.start == b.start && a.id < b.id)
}

// bound is a sort-key bound from spend.Query.Bounds: a TimeKey (id "") or a
// cursor's whole sort key.
type bound struct {
	start int64
	id    string
	set   bool
}

func parseBound(s string) bound {
	if len(s) < 19 {
		return bound{}
	}
	n, err := strconv.ParseInt(s[:19], 10, 64)
	if err != nil {
		return bound{}
	}
	b := bound{start: n, set: true}
	if len(s) > 20 {
		b.id = s[20:]
	}
	return b
}

// atOrAfter reports whether r's sort key is >= b.
func (b bound) atOrAfter(r *rec) bool {
	return r.start > b.start || (r.start == b.start && r.id >= b.id)
}

// index is the in-memory index of the log, rebuilt by reading every
// segment at Open: records in arrival order, and lists of their positions
// in sort-key order (all of them, and per term) that a query walks backwards
// from its upper bound, so the newest page costs a binary search and a page
// of reads whatever the log's size.
type index struct {
	recs   []rec
	byTime []int32
	post   map[string][]int32 // term (see terms) -> positions, sort-key order
	ids    map[string]int32
}

func newIndex() index {
	return index{post: map[string][]int32{}, ids: map[string]int32{}}
}

// has reports whether a record with this call id is indexed.
func (x *index) has(id string) bool { _, ok := x.ids[id]; return ok }

// add indexes r under its terms; a call id already indexed is ignored
// (the first copy in the log wins, as PutSpend leaves a stored record as it
// is) and add returns false.
func (x *index) add(r rec, terms [][]byte) bool {
	if _, dup := x.ids[r.id]; dup {
		return false
	}
	i := int32(len(x.recs))
	x.recs = append(x.recs, r)
	x.ids[r.id] = i
	x.byTime = x.insert(x.byTime, i)
	for _, t := range terms {
		l := x.post[string(t)] // no allocation for the lookup
		if l == nil {
			x.post[string(t)] = x.insert(nil, i)
			continue
		}
		x.post[string(t)] = x.insert(l, i)
	}
	return true
}

// insert puts i into l in sort-key order. Records arrive nearly in order,
// so the place is almost always at or near the end.
func (x *index) insert(l []int32, i int32) []int32 {
	r := &x.recs[i]
	n := len(l)
	if n == 0 || !less(r, &x.recs[l[n-1]]) {
		return append(l, i)
	}
	at := sort.Search(n, func(k int) bool { return less(r, &x.recs[l[k]]) })
	l = append(l, 0)
	copy(l[at+1:], l[at:])
	l[at] = i
	return l
}

// dropBefore forgets the records that started before cutoff (unix nanos)
// and returns how many went; positions are renumbered.
func (x *index) dropBefore(cutoff int64) int {
	remap := make([]int32, len(x.recs))
	kept := x.recs[:0:0]
	for i, r := range x.recs {
		if r.start < cutoff {
			remap[i] = -1
			continue
		}
		remap[i] = int32(len(kept))
		kept = append(kept, r)
	}
	dropped := len(x.recs) - len(kept)
	if dropped == 0 {
		return 0
	}
	filter := func(l []int32) []int32 {
		out := l[:0]
		for _, i := range l {
			if j := remap[i]; j >= 0 {
				out = append(out, j)
			}
		}
		return out
	}
	x.recs = kept
	x.byTime = filter(x.byTime)
	for t, l := range x.post {
		if l = filter(l); len(l) == 0 {
			delete(x.post, t)
		} else {
			x.post[t] = l
		}
	}
	x.ids = make(map[string]int32, len(kept))
	for i, r := range kept {
		x.ids[r.id] = int32(i)
	}
	return dropped
}

// list is the positions a query walks: those of its most selective term,
// else all of them. ok is false if no record can match.
func (x *index) list(q spend.Query) (l []int32, ok bool) {
	for _, t := range []struct {
		kind byte
		v    string
	}{{'k', q.KeyHash}, {'u', q.UserID}, {'t', q.TeamID}, {'m', q.Model}} {
		if t.v != "" {
			l, ok := x.post[string(t.kind)+t.v]
			return l, ok
		}
	}
	return x.byTime, true
}

// span returns the part [from, to) of l within [lo, hi).
func (x *index) span(l []int32, lo, hi bound) (from, to int) {
	to = len(l)
	if hi.set {
		to = sort.Search(len(l), func(k int) bool { return hi.atOrAfter(&x.recs[l[k]]) })
	}
	if lo.set {
		from = sort.Search(to, func(k int) bool { return lo.atOrAfter(&x.recs[l[k]]) })
	}
	return from, to
}
