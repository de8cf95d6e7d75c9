package memory

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/claude-gateway/claude-gateway/core/spend"
)

// strtab interns the strings spend records repeat (model, deployment, key
// hash, session, labels), counting references so a value no stored record
// uses any more is let go. Id 0 is "" and is never counted.
type strtab struct {
	ids   map[string]uint32
	vals  []string
	refs  []uint32
	free  []uint32
	bytes int // memory held by the live values, estimated
}

// strOverhead estimates what one interned value costs beyond its bytes: its
// map entry, its slot in vals and refs.
const strOverhead = 64

func newStrtab() *strtab {
	return &strtab{ids: map[string]uint32{}, vals: []string{""}, refs: []uint32{0}}
}

// intern returns s's id and counts one more reference to it.
func (t *strtab) intern(s string) uint32 {
	if s == "" {
		return 0
	}
	if id, ok := t.ids[s]; ok {
		t.refs[id]++
		return id
	}
	var id uint32
	if n := len(t.free); n > 0 {
		id, t.free = t.free[n-1], t.free[:n-1]
		t.vals[id], t.refs[id] = s, 1
	} else {
		id = uint32(len(t.vals))
		t.vals, t.refs = append(t.vals, s), append(t.refs, 1)
	}
	t.ids[s] = id
	t.bytes += len(s) + strOverhead
	return id
}

// lookup returns s's id without counting a reference; ok is false if no
// stored record holds s.
func (t *strtab) lookup(s string) (uint32, bool) {
	if s == "" {
		return 0, true
	}
	id, ok := t.ids[s]
	return id, ok
}

// release drops one reference to id, and the value with the last one.
func (t *strtab) release(id uint32) {
	if id == 0 {
		return
	}
	if t.refs[id]--; t.refs[id] == 0 {
		s := t.vals[id]
		delete(t.ids, s)
		t.vals[id] = ""
		t.free = append(t.free, id)
		t.bytes -= len(s) + strOverhead
	}
}

// The interned fields of a record, in their encoded order.
const (
	fModelGroup = iota
	fRequestedModel
	fDeploymentID
	fProvider
	fRegion
	fAPIBase
	fKeyHash
	fSessionID
	fEndpoint
	fErrorType
	fKeyAlias
	fUserID
	fTeamID
	nStrFields
)

func strFields(r *spend.Record) [nStrFields]*string {
	return [nStrFields]*string{&r.ModelGroup, &r.RequestedModel, &r.DeploymentID, &r.Provider, &r.Region, &r.APIBase,
		&r.KeyHash, &r.SessionID, &r.Endpoint, &r.ErrorType, &r.KeyAlias, &r.UserID, &r.TeamID}
}

// Flag bits of an encoded record.
const (
	flagStream = 1 << iota
	flagDisconnected
	flagZeroStart // StartTime is the zero time
	flagRawStart  // StartTime is before 1970: given in full, not by the sort key
	flagZeroEnd
)

// encodeRecord appends r in compact form: the call id, then varints (the
// string fields as interned ids, the end time as an offset from the start),
// the cost as 8 bytes. key is the record's sort time (spend.SortKey's
// nanoseconds), kept beside the encoding rather than in it.
func encodeRecord(dst []byte, t *strtab, r *spend.Record, key int64) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(r.CallID)))
	dst = append(dst, r.CallID...)
	var flags uint64
	if r.Stream {
		flags |= flagStream
	}
	if r.Disconnected {
		flags |= flagDisconnected
	}
	start := key
	switch {
	case r.StartTime.IsZero():
		flags |= flagZeroStart
	case r.StartTime.UnixNano() != key:
		flags |= flagRawStart
		start = r.StartTime.UnixNano()
	}
	if r.EndTime.IsZero() {
		flags |= flagZeroEnd
	}
	dst = binary.AppendUvarint(dst, flags)
	if flags&flagRawStart != 0 {
		dst = binary.AppendVarint(dst, start)
	}
	if flags&flagZeroEnd == 0 {
		dst = binary.AppendVarint(dst, r.EndTime.UnixNano()-start)
	}
	for _, p := range strFields(r) {
		dst = binary.AppendUvarint(dst, uint64(t.intern(*p)))
	}
	for _, n := range [...]int64{r.TTFTMillis, r.InputTokens, r.OutputTokens, r.CacheCreationInputTokens,
		r.CacheReadInputTokens, int64(r.Status), int64(r.Retries), int64(r.Fallbacks)} {
		dst = binary.AppendVarint(dst, n)
	}
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(r.Cost))
}

// recordCallID returns the call id at the start of an encoded record, as
// bytes of b (no copy).
func recordCallID(b []byte) []byte {
	n, w := binary.Uvarint(b)
	return b[w : w+int(n)]
}

// decoder reads an encoded record field by field.
type decoder struct {
	b []byte
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	d.b = d.b[n:]
	return v
}

// decodeRecord rebuilds the record encodeRecord wrote under key. Times come
// back in UTC.
func decodeRecord(b []byte, t *strtab, key int64) spend.Record {
	var r spend.Record
	d := decoder{b}
	n := d.uvarint()
	r.CallID, d.b = string(d.b[:n]), d.b[n:]
	flags := d.uvarint()
	start := key
	if flags&flagRawStart != 0 {
		start = d.varint()
	}
	if flags&flagZeroStart == 0 {
		r.StartTime = time.Unix(0, start).UTC()
	}
	if flags&flagZeroEnd == 0 {
		r.EndTime = time.Unix(0, start+d.varint()).UTC()
	}
	for _, p := range strFields(&r) {
		*p = t.vals[d.uvarint()]
	}
	r.TTFTMillis, r.InputTokens, r.OutputTokens = d.varint(), d.varint(), d.varint()
	r.CacheCreationInputTokens, r.CacheReadInputTokens = d.varint(), d.varint()
	r.Status, r.Retries, r.Fallbacks = int(d.varint()), int(d.varint()), int(d.varint())
	r.Cost = math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	r.Stream, r.Disconnected = flags&flagStream != 0, flags&flagDisconnected != 0
	return r
}

// recordStrIDs returns the interned ids an encoded record holds.
func recordStrIDs(b []byte) (ids [nStrFields]uint32) {
	d := decoder{b}
	d.b = d.b[d.uvarint():]
	flags := d.uvarint()
	if flags&flagRawStart != 0 {
		d.varint()
	}
	if flags&flagZeroEnd == 0 {
		d.varint()
	}
	for i := range ids {
		ids[i] = uint32(d.uvarint())
	}
	return ids
}
