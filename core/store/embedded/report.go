package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/claude-gateway/claude-gateway/core/spend"
)

// count adds an indexed record to the totals. Caller holds mu (or is Open).
func (s *Store) count(h *scanned) {
	var f fact
	if h.report != nil {
		f = parseReport(h.terms.all(), h.report)
	} else {
		var r spend.Record
		if json.Unmarshal(h.json, &r) != nil {
			return // QuerySpend reports the bad record when it reads it
		}
		f = factOf(r)
	}
	s.tot.add(h.start, &f)
}

// recount adds to the totals again the indexed records that started in
// [from, to), read from the log (see totals.dropBefore). Caller holds mu.
func (s *Store) recount(from, to int64) error {
	l := s.idx.byTime
	a, b := s.idx.span(l, bound{start: from, set: true}, bound{start: to, set: true})
	var buf []byte
	var h scanned
	for k := a; k < b; k++ {
		p, err := s.payload(l[k], &buf)
		if err != nil {
			return err
		}
		if !decodeHead(p, &h) {
			return fmt.Errorf("embedded store: record %s: bad frame", s.idx.id(l[k]))
		}
		h.start = s.idx.recs[l[k]].start
		s.count(&h)
	}
	return nil
}

// ReportSpend implements spend.Reporter from the totals: the whole slots of
// the range from their cells, the parts of a slot at either end (a range
// that is not on 15-minute boundaries) by reading those records.
func (s *Store) ReportSpend(ctx context.Context, q spend.ReportQuery) (spend.Report, error) {
	if !spend.ValidGroupBy(q.GroupBy) {
		return spend.ScanReport(ctx, s, q) // its error
	}
	lo, hi := int64(0), int64(math.MaxInt64)
	if !q.Start.IsZero() {
		lo = unixNanos(q.Start)
	}
	if !q.End.IsZero() {
		hi = unixNanos(q.End)
	}
	// Whole slots [first, last); slot 0 is never counted (see totals).
	first, last := max(ceilDiv(lo, slotNanos), 1), hi/slotNanos
	if first >= last || (!q.End.IsZero() && !q.Start.IsZero() && !q.Start.Before(q.End)) {
		return spend.ScanReport(ctx, s, q)
	}
	acc := spend.NewAccumulator(q)
	s.mu.RLock()
	s.tot.report(acc, first, last, q.GroupBy, q.KeyHash)
	s.mu.RUnlock()
	edges := []spend.ReportQuery{
		{Start: q.Start, End: time.Unix(0, first*slotNanos)},
		{Start: time.Unix(0, last*slotNanos), End: q.End},
	}
	for i, e := range edges {
		if (i == 0 && lo >= first*slotNanos && !q.Start.IsZero()) || (i == 1 && hi <= last*slotNanos) {
			continue // the range starts (ends) on a slot boundary
		}
		e.GroupBy, e.KeyHash = q.GroupBy, q.KeyHash
		rep, err := spend.ScanReport(ctx, s, e)
		if err != nil {
			return spend.Report{}, err
		}
		for _, row := range rep.Rows {
			acc.AddRow(row.Group, row)
		}
	}
	return acc.Report(), nil
}

// SpendSeries implements spend.SeriesReporter from the totals when the
// buckets are whole slots (15-minute multiples on 15-minute boundaries) or,
// for all keys, whole minutes; any other series is read record by record.
func (s *Store) SpendSeries(ctx context.Context, q spend.SeriesQuery) ([]spend.Bucket, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	start, step := q.Start.UnixNano(), int64(q.Step)
	slots := step%slotNanos == 0 && start%slotNanos == 0
	minutes := step%minuteNanos == 0 && start%minuteNanos == 0 && q.KeyHash == ""
	if q.Start.Before(time.Unix(0, slotNanos)) || (!slots && !minutes) {
		return spend.ScanSeries(ctx, s, q)
	}
	out := spend.NewBuckets(q)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if slots {
		s.tot.seriesSlots(out, start/slotNanos, step/slotNanos, q.KeyHash)
	} else {
		s.tot.seriesMinutes(out, start/minuteNanos, step/minuteNanos)
	}
	return out, nil
}

func ceilDiv(a, b int64) int64 {
	if a%b == 0 {
		return a / b
	}
	return a/b + 1
}
