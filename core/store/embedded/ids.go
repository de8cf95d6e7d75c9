package embedded

import (
	"bytes"
	"hash/maphash"
)

// idTable finds a record's position by its call id: an open-addressing
// hash table (linear probing) of positions, the ids themselves staying in
// index.idBytes. A slot is the upper half of the id's hash and the position
// plus one (0 is an empty slot), 8 bytes; with the table between 3/8 and 3/4
// full that is about 14 bytes a record, a third of a Go map's, and nothing
// for the garbage collector to scan. Two ids with one hash are simply two
// slots: a lookup compares the ids.
type idTable struct {
	slots []uint64
	n     int
	seed  maphash.Seed
}

func newIDTable() idTable { return idTable{seed: maphash.MakeSeed()} }

// hash and hashString give one id the same hash (maphash's rule), as
// bytes from a frame or as a string from a record or a query.
func (t *idTable) hash(id []byte) uint64       { return maphash.Bytes(t.seed, id) }
func (t *idTable) hashString(id string) uint64 { return maphash.String(t.seed, id) }

// slotOf is the slot of position pos for an id hashing to h.
func slotOf(h uint64, pos int32) uint64 { return h&^(1<<32-1) | uint64(pos+1) }

// start is where probing for hash h begins, and the mask that wraps it.
func (t *idTable) start(h uint64) (at, mask uint64) {
	mask = uint64(len(t.slots) - 1)
	return h & mask, mask
}

// find returns the position of id (hash h) among x's records.
func (t *idTable) find(x *index, id []byte, h uint64) (int32, bool) {
	if len(t.slots) == 0 {
		return 0, false
	}
	for at, mask := t.start(h); ; at = (at + 1) & mask {
		s := t.slots[at]
		if s == 0 {
			return 0, false
		}
		if s>>32 == h>>32 {
			if pos := int32(s&(1<<32-1)) - 1; bytes.Equal(x.id(pos), id) {
				return pos, true
			}
		}
	}
}

// findString is find for an id held as a string (converting one longer
// than 32 bytes to find would allocate).
func (t *idTable) findString(x *index, id string, h uint64) (int32, bool) {
	if len(t.slots) == 0 {
		return 0, false
	}
	for at, mask := t.start(h); ; at = (at + 1) & mask {
		s := t.slots[at]
		if s == 0 {
			return 0, false
		}
		if s>>32 == h>>32 {
			if pos := int32(s&(1<<32-1)) - 1; string(x.id(pos)) == id {
				return pos, true
			}
		}
	}
}

// insert adds position pos, whose id (not in the table) hashes to h; x
// gives the ids of the positions already in it, should the table grow.
func (t *idTable) insert(x *index, h uint64, pos int32) {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.resize(x, max(2*len(t.slots), 64))
	}
	t.put(h, pos)
	t.n++
}

func (t *idTable) put(h uint64, pos int32) {
	at, mask := t.start(h)
	for t.slots[at] != 0 {
		at = (at + 1) & mask
	}
	t.slots[at] = slotOf(h, pos)
}

// resize makes the table size slots (a power of two) and puts back every
// position in it, hashing their ids again.
func (t *idTable) resize(x *index, size int) {
	old := t.slots
	t.slots = make([]uint64, size)
	for _, s := range old {
		if s != 0 {
			pos := int32(s&(1<<32-1)) - 1
			t.put(t.hash(x.id(pos)), pos)
		}
	}
}

// reserve sizes the table for n positions in all.
func (t *idTable) reserve(x *index, n int) {
	size := 64
	for size*3 < n*4 {
		size *= 2
	}
	if size > len(t.slots) {
		t.resize(x, size)
	}
}

// rebuild empties the table and puts the n positions of x's records in it.
func (t *idTable) rebuild(x *index, n int) {
	t.slots, t.n = nil, 0
	t.reserve(x, n)
	for pos := range int32(n) {
		t.put(t.hash(x.id(pos)), pos)
	}
	t.n = n
}
