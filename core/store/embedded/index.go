package embedded

import (
	"bytes"
	"slices"
	"sort"
	"strconv"

	"github.com/claude-gateway/claude-gateway/core/spend"
)

// rec is where one spend record lives in the log, and the first part of its
// sort key (StartTime; the call id, in index.idBytes, breaks ties): the
// same order as spend.SortKey's strings. It holds no pointer, so the
// garbage collector never scans the index, whatever its size.
type rec struct {
	start int64
	seg   uint32
	off   uint32
	size  uint32
	idAt  uint64 // where its call id starts in index.idBytes (4 GiB is only 120M UUIDs)
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

// index is the in-memory index of the log, rebuilt by reading every
// segment at Open: records in arrival order, and lists of their positions
// in sort-key order (all of them, and per term) that a query walks backwards
// from its upper bound, so the newest page costs a binary search and a page
// of reads whatever the log's size.
//
// Call ids are kept back to back in one byte slice and found through an
// open-addressing table of positions (ids.go), so the index is a few slices
// of numbers, none of them pointers (about 120 bytes a record).
type index struct {
	recs    []rec
	idBytes []byte // call ids of recs, back to back, in recs order
	byTime  []int32
	post    map[string]int32 // term (see terms) -> its list in lists
	lists   [][]int32        // positions, sort-key order
	ids     idTable
}

func newIndex() index {
	return index{post: map[string]int32{}, ids: newIDTable()}
}

// grow makes room for about n more records (Open's estimate from the
// segments' sizes), so rebuilding the index does not copy it as it grows.
func (x *index) grow(n int) {
	x.recs = slices.Grow(x.recs, n)
	x.byTime = slices.Grow(x.byTime, n)
	x.idBytes = slices.Grow(x.idBytes, 36*n) // a UUID call id
	x.ids.reserve(x, len(x.recs)+n)
}

// id is the call id of the record at position i.
func (x *index) id(i int32) []byte {
	end := len(x.idBytes)
	if int(i)+1 < len(x.recs) {
		end = int(x.recs[i+1].idAt)
	}
	return x.idBytes[x.recs[i].idAt:end]
}

// less orders positions as their records' spend.SortKey strings order.
func (x *index) less(i, j int32) bool {
	a, b := &x.recs[i], &x.recs[j]
	return a.start < b.start || (a.start == b.start && bytes.Compare(x.id(i), x.id(j)) < 0)
}

// atOrAfter reports whether the sort key of the record at i is >= b.
func (x *index) atOrAfter(b bound, i int32) bool {
	r := &x.recs[i]
	return r.start > b.start || (r.start == b.start && string(x.id(i)) >= b.id)
}

// find returns the position of the record with this call id.
func (x *index) find(id string) (int32, bool) {
	return x.ids.findString(x, id, x.ids.hashString(id))
}

// has reports whether a record with this call id is indexed.
func (x *index) has(id string) bool { _, ok := x.find(id); return ok }

// add indexes r, whose call id is id, under its terms; a call id already
// indexed is ignored (the first copy in the log wins, as PutSpend leaves a
// stored record as it is) and add returns false.
func (x *index) add(r rec, id []byte, terms [][]byte) bool {
	h := x.ids.hash(id)
	if _, dup := x.ids.find(x, id, h); dup {
		return false
	}
	i := int32(len(x.recs))
	r.idAt = uint64(len(x.idBytes))
	x.idBytes = append(x.idBytes, id...)
	x.recs = append(x.recs, r)
	x.ids.insert(x, h, i)
	x.byTime = x.insert(x.byTime, i)
	for _, t := range terms {
		j, ok := x.post[string(t)] // no allocation for the lookup
		if !ok {
			j = int32(len(x.lists))
			x.post[string(t)] = j
			x.lists = append(x.lists, nil)
		}
		x.lists[j] = x.insert(x.lists[j], i)
	}
	return true
}

// insert puts i into l in sort-key order. Records arrive nearly in order,
// so the place is almost always at or near the end.
func (x *index) insert(l []int32, i int32) []int32 {
	n := len(l)
	if n == 0 || !x.less(i, l[n-1]) {
		return append(l, i)
	}
	at := sort.Search(n, func(k int) bool { return x.less(i, l[k]) })
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
	var ids []byte
	for i, r := range x.recs {
		if r.start < cutoff {
			remap[i] = -1
			continue
		}
		remap[i] = int32(len(kept))
		id := x.id(int32(i))
		r.idAt = uint64(len(ids))
		ids = append(ids, id...)
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
	x.recs, x.idBytes = kept, ids
	x.byTime = filter(x.byTime)
	post, lists := make(map[string]int32, len(x.post)), make([][]int32, 0, len(x.post))
	for t, j := range x.post {
		if l := filter(x.lists[j]); len(l) > 0 {
			post[t] = int32(len(lists))
			lists = append(lists, l)
		}
	}
	x.post, x.lists = post, lists
	x.ids.rebuild(x, len(kept))
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
			j, ok := x.post[string(t.kind)+t.v]
			if !ok {
				return nil, false
			}
			return x.lists[j], true
		}
	}
	return x.byTime, true
}

// span returns the part [from, to) of l within [lo, hi).
func (x *index) span(l []int32, lo, hi bound) (from, to int) {
	to = len(l)
	if hi.set {
		to = sort.Search(len(l), func(k int) bool { return x.atOrAfter(hi, l[k]) })
	}
	if lo.set {
		from = sort.Search(to, func(k int) bool { return x.atOrAfter(lo, l[k]) })
	}
	return from, to
}
