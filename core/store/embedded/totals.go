package embedded

import (
	"encoding/binary"
	"sort"
	"time"

	"github.com/claude-gateway/claude-gateway/core/spend"
)

// Totals steps. A slot is 15 minutes: days, quarter hours and any multiple
// of them are sums of whole slots, in UTC (Unix time has no leap seconds,
// so every UTC day is 96 slots).
const (
	slotNanos   = int64(15 * time.Minute)
	minuteNanos = int64(time.Minute)
)

// totals are the spend reports' sums, kept by the store beside its index
// (updated under the same lock on every write, rebuilt with it at Open):
// per slot, one cell per tuple of groupings (model group, deployment,
// provider, key, user, team) seen in it; and per minute, one cell for all
// records. A report or a chart then adds up cells instead of reading
// records: a 30-day report is a few thousand slots, whatever the number of
// records. Memory grows with the distinct tuples per slot and the minutes
// that have records, not with the records.
//
// Records that started in the first slot of 1970 (where spend.SortKey puts
// zero and pre-1970 times too) are left out: queries read that slot's
// records instead.
type totals struct {
	tuples   [][numDims]string
	tupleIDs map[string]int32 // tupleKey -> index in tuples
	slots    map[int64]*slot  // by start / slotNanos
	slotNums []int64          // ascending
	minutes  map[int64]*cell  // by start / minuteNanos; cell.tuple unused
	key      []byte           // scratch for tupleKey
	// The slot, minute and tuple last added to: records come in time
	// order, and one after the other mostly from the same groupings.
	last       *slot
	lastNum    int64
	lastMinute *cell
	lastMinNum int64
	lastTuple  int32
}

func newTotals() totals {
	return totals{tupleIDs: map[string]int32{}, slots: map[int64]*slot{}, minutes: map[int64]*cell{},
		lastNum: -1, lastMinNum: -1, lastTuple: -1}
}

// sums are a cell's totals, spend.ReportRow's fields without its Group
// and the derivable TotalTokens: there is one per cell, and a store holds
// about a third as many cells as records, so they stay small.
type sums struct {
	requests, failed, in, out, cacheW, cr int64
	cost                                  float64
}

func (s *sums) add(f *fact) {
	s.requests++
	if spend.Failed(int(f.status)) {
		s.failed++
	}
	s.in += f.in
	s.out += f.out
	s.cacheW += f.cacheW
	s.cr += f.cr
	s.cost += f.cost
}

func (s *sums) merge(o *sums) {
	s.requests += o.requests
	s.failed += o.failed
	s.in += o.in
	s.out += o.out
	s.cacheW += o.cacheW
	s.cr += o.cr
	s.cost += o.cost
}

func (s *sums) row() spend.ReportRow {
	return spend.ReportRow{Requests: s.requests, FailedRequests: s.failed, InputTokens: s.in, OutputTokens: s.out,
		CacheCreationInputTokens: s.cacheW, CacheReadInputTokens: s.cr, TotalTokens: s.in + s.out + s.cacheW + s.cr, Cost: s.cost}
}

// hist is a sparse spend.TTFTHistogram: bin<<24 | count entries, bins
// ascending; a bin whose count fills 24 bits goes on in a second entry.
type hist []uint32

const histCountMask = 1<<24 - 1

func (h *hist) add(ms int64) {
	bin := uint32(spend.TTFTBin(ms))
	i := sort.Search(len(*h), func(k int) bool {
		return (*h)[k]>>24 > bin || ((*h)[k]>>24 == bin && (*h)[k]&histCountMask < histCountMask)
	})
	if i < len(*h) && (*h)[i]>>24 == bin {
		(*h)[i]++
		return
	}
	*h = append(*h, 0)
	copy((*h)[i+1:], (*h)[i:])
	(*h)[i] = bin<<24 | 1
}

func (h hist) addTo(d *spend.TTFTHistogram) {
	for _, e := range h {
		d[e>>24] += e & histCountMask
	}
}

// cell totals the records of one tuple in one slot (or of one minute).
type cell struct {
	tuple int32
	sums
	ttft hist
}

func (c *cell) add(f *fact) {
	c.sums.add(f)
	if f.ttft > 0 {
		c.ttft.add(f.ttft)
	}
}

// slot is one 15-minute step's cells.
type slot struct {
	cells []cell
	at    map[int32]int32 // tuple -> index in cells, once there are many
	last  int32           // index in cells of the cell last added to, +1 (0: none)
}

// slotMapAt is how many cells a slot holds before it indexes them by tuple.
const slotMapAt = 8

func (s *slot) cell(tuple int32) *cell {
	if s.last > 0 && s.cells[s.last-1].tuple == tuple {
		return &s.cells[s.last-1]
	}
	c := s.find(tuple)
	s.last = int32(c) + 1
	return &s.cells[c]
}

// find returns the index of tuple's cell, adding it if there is none.
func (s *slot) find(tuple int32) int {
	if s.at != nil {
		if i, ok := s.at[tuple]; ok {
			return int(i)
		}
	} else {
		for i := range s.cells {
			if s.cells[i].tuple == tuple {
				return i
			}
		}
	}
	s.cells = append(s.cells, cell{tuple: tuple})
	if s.at == nil && len(s.cells) > slotMapAt {
		s.at = make(map[int32]int32, 2*len(s.cells))
		for i, c := range s.cells {
			s.at[c.tuple] = int32(i)
		}
	} else if s.at != nil {
		s.at[tuple] = int32(len(s.cells) - 1)
	}
	return len(s.cells) - 1
}

// add counts a record that started at start (unix nanos).
func (t *totals) add(start int64, f *fact) {
	if start < slotNanos {
		return
	}
	num := start / slotNanos
	s := t.last
	if num != t.lastNum {
		if s = t.slots[num]; s == nil {
			s = &slot{}
			t.slots[num] = s
			t.insertNum(num)
		}
		t.last, t.lastNum = s, num
	}
	s.cell(t.tuple(f)).add(f)
	if mn := start / minuteNanos; mn != t.lastMinNum {
		m := t.minutes[mn]
		if m == nil {
			m = &cell{}
			t.minutes[mn] = m
		}
		t.lastMinute, t.lastMinNum = m, mn
	}
	t.lastMinute.add(f)
}

func (t *totals) insertNum(num int64) {
	n := len(t.slotNums)
	if n == 0 || t.slotNums[n-1] < num {
		t.slotNums = append(t.slotNums, num)
		return
	}
	i := sort.Search(n, func(k int) bool { return t.slotNums[k] >= num })
	t.slotNums = append(t.slotNums, 0)
	copy(t.slotNums[i+1:], t.slotNums[i:])
	t.slotNums[i] = num
}

// tuple interns f's groupings.
func (t *totals) tuple(f *fact) int32 {
	if t.lastTuple >= 0 && t.sameTuple(f, t.lastTuple) {
		return t.lastTuple
	}
	t.lastTuple = t.internTuple(f)
	return t.lastTuple
}

func (t *totals) sameTuple(f *fact, tuple int32) bool {
	tu := &t.tuples[tuple]
	for i, d := range f.dims {
		if string(d) != tu[i] { // no allocation for the comparison
			return false
		}
	}
	return true
}

func (t *totals) internTuple(f *fact) int32 {
	t.key = t.key[:0]
	for _, d := range f.dims {
		t.key = binary.AppendUvarint(t.key, uint64(len(d)))
		t.key = append(t.key, d...)
	}
	if id, ok := t.tupleIDs[string(t.key)]; ok {
		return id
	}
	var tu [numDims]string
	for i, d := range f.dims {
		tu[i] = string(d)
	}
	id := int32(len(t.tuples))
	t.tuples = append(t.tuples, tu)
	t.tupleIDs[string(t.key)] = id
	return id
}

// dropBefore forgets the cells of records that started before cutoff (unix
// nanos). The slot holding cutoff itself goes whole, with its minutes: the
// caller counts again its records from cutoff to the returned end.
func (t *totals) dropBefore(cutoff int64) (recountTo int64) {
	if cutoff < slotNanos {
		return cutoff
	}
	last := cutoff / slotNanos // the slot holding cutoff
	i := sort.Search(len(t.slotNums), func(k int) bool { return t.slotNums[k] > last })
	for _, num := range t.slotNums[:i] {
		delete(t.slots, num)
	}
	t.slotNums = append(t.slotNums[:0:0], t.slotNums[i:]...)
	t.last, t.lastNum, t.lastMinute, t.lastMinNum = nil, -1, nil, -1
	end := (last + 1) * slotNanos
	for m := range t.minutes {
		if m*minuteNanos < end {
			delete(t.minutes, m)
		}
	}
	return end
}

// span returns the part of slotNums in [from, to).
func (t *totals) span(from, to int64) []int64 {
	a := sort.Search(len(t.slotNums), func(k int) bool { return t.slotNums[k] >= from })
	b := sort.Search(len(t.slotNums), func(k int) bool { return t.slotNums[k] >= to })
	return t.slotNums[a:max(a, b)]
}

// keyFilter says which tuples a query with this key hash counts (nil: all).
func (t *totals) keyFilter(keyHash string) func(tuple int32) bool {
	if keyHash == "" {
		return nil
	}
	return func(tuple int32) bool { return t.tuples[tuple][dimKey] == keyHash }
}

// groupDim is the tuple field a report groups by (-1 for by day).
func groupDim(by string) int {
	switch by {
	case spend.GroupByModelGroup:
		return dimModelGroup
	case spend.GroupByDeployment:
		return dimDeployment
	case spend.GroupByProvider:
		return dimProvider
	case spend.GroupByAPIKey:
		return dimKey
	case spend.GroupByUser:
		return dimUser
	case spend.GroupByTeam:
		return dimTeam
	}
	return -1
}

// report adds the cells of slots [from, to) to acc, grouped by `by`.
func (t *totals) report(acc *spend.Accumulator, from, to int64, by, keyHash string) {
	match := t.keyFilter(keyHash)
	dim := groupDim(by)
	perTuple := map[int32]*sums{}
	var day sums
	dayNum := int64(-1)
	flushDay := func() {
		if day.requests > 0 {
			acc.AddRow(time.Unix(0, dayNum*int64(24*time.Hour)).UTC().Format(time.DateOnly), day.row())
		}
		day = sums{}
	}
	for _, num := range t.span(from, to) {
		if dim < 0 {
			if d := num * slotNanos / int64(24*time.Hour); d != dayNum {
				flushDay()
				dayNum = d
			}
		}
		for i := range t.slots[num].cells {
			c := &t.slots[num].cells[i]
			if match != nil && !match(c.tuple) {
				continue
			}
			if dim < 0 {
				day.merge(&c.sums)
				continue
			}
			s := perTuple[c.tuple]
			if s == nil {
				s = &sums{}
				perTuple[c.tuple] = s
			}
			s.merge(&c.sums)
		}
	}
	flushDay()
	for tu, s := range perTuple {
		acc.AddRow(t.tuples[tu][dim], s.row())
	}
}

// seriesSlots fills buckets of k slots each from slot first on.
func (t *totals) seriesSlots(out []spend.Bucket, first, k int64, keyHash string) {
	match := t.keyFilter(keyHash)
	acc := make([]sums, len(out))
	for _, num := range t.span(first, first+k*int64(len(out))) {
		i := (num - first) / k
		for j := range t.slots[num].cells {
			c := &t.slots[num].cells[j]
			if match != nil && !match(c.tuple) {
				continue
			}
			acc[i].merge(&c.sums)
			c.ttft.addTo(&out[i].TTFT)
		}
	}
	for i := range out {
		out[i].Row = acc[i].row()
	}
}

// seriesMinutes fills buckets of k minutes each from minute first on.
func (t *totals) seriesMinutes(out []spend.Bucket, first, k int64) {
	for i := range out {
		var s sums
		for m := first + int64(i)*k; m < first+int64(i+1)*k; m++ {
			if c := t.minutes[m]; c != nil {
				s.merge(&c.sums)
				c.ttft.addTo(&out[i].TTFT)
			}
		}
		out[i].Row = s.row()
	}
}
