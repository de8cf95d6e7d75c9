package spend

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// TTFTHistogram is a log-scale histogram of time to first token: eight bins
// per doubling (each bin about 9% wide) from 1 ms to 65 s, so percentiles
// over any number of buckets cost constant memory and merge by addition.
type TTFTHistogram [TTFTBins]uint32

// TTFTBins is how many bins a TTFTHistogram has.
const TTFTBins = 16*ttftPerDoubling + 1

const ttftPerDoubling = 8

// TTFTBin is the bin a time to first token of ms milliseconds falls in
// (values past the ends go to the first and last bins).
func TTFTBin(ms int64) int {
	if ms <= 1 {
		return 0
	}
	i := int(math.Log2(float64(ms)) * ttftPerDoubling)
	return min(max(i, 0), TTFTBins-1)
}

// Add counts one time to first token.
func (h *TTFTHistogram) Add(ms int64) { h[TTFTBin(ms)]++ }

// Merge adds o's counts to h.
func (h *TTFTHistogram) Merge(o *TTFTHistogram) {
	for i := range h {
		h[i] += o[i]
	}
}

// Count is how many values h holds.
func (h *TTFTHistogram) Count() uint64 {
	var n uint64
	for _, c := range h {
		n += uint64(c)
	}
	return n
}

// Quantile returns the q-quantile in milliseconds (the geometric middle of
// its bin, to 0.1 ms), or -1 when the histogram is empty.
func (h *TTFTHistogram) Quantile(q float64) float64 {
	n := h.Count()
	if n == 0 {
		return -1
	}
	rank := max(uint64(math.Ceil(q*float64(n))), 1)
	var seen uint64
	for i, c := range h {
		seen += uint64(c)
		if seen >= rank {
			return math.Round(math.Exp2((float64(i)+0.5)/ttftPerDoubling)*10) / 10
		}
	}
	return -1
}

// Bucket totals the spend records that started in one time step.
type Bucket struct {
	// Start is the step's first instant; it holds records with
	// Start <= StartTime < Start+Step.
	Start time.Time `json:"start"`
	// Row totals the records (its Group is empty).
	Row ReportRow `json:"totals"`
	// TTFT holds the time to first token of each record that has one (> 0).
	TTFT TTFTHistogram `json:"-"`
}

// Add counts one record: ReportRow's rules, and its time to first token if any.
func (b *Bucket) Add(r Record) {
	b.Row.add(r)
	if r.TTFTMillis > 0 {
		b.TTFT.Add(r.TTFTMillis)
	}
}

// SeriesQuery asks for N consecutive buckets of Step from Start.
type SeriesQuery struct {
	Start time.Time
	Step  time.Duration
	N     int
	// KeyHash limits the series to one client key's records (Record.KeyHash).
	KeyHash string
}

// MaxSeriesBuckets bounds SeriesQuery.N.
const MaxSeriesBuckets = 10_000

// End is the instant after the last bucket.
func (q SeriesQuery) End() time.Time { return q.Start.Add(time.Duration(q.N) * q.Step) }

// Validate reports a query no store should answer.
func (q SeriesQuery) Validate() error {
	switch {
	case q.Step <= 0:
		return errors.New("spend: series step must be positive")
	case q.N < 1 || q.N > MaxSeriesBuckets:
		return fmt.Errorf("spend: series of %d buckets (want 1 to %d)", q.N, MaxSeriesBuckets)
	case q.Start.IsZero():
		return errors.New("spend: series needs a start")
	case q.Step > time.Duration(math.MaxInt64)/time.Duration(q.N):
		return errors.New("spend: series too long")
	}
	return nil
}

// SeriesReporter is implemented by stores that keep time-bucketed totals
// themselves (the embedded store does, updated on every write), so a chart
// costs a few lookups instead of reading every record in its range. Its
// answer must equal ScanSeries' for the same records.
type SeriesReporter interface {
	SpendSeries(ctx context.Context, q SeriesQuery) ([]Bucket, error)
}

// Series returns q's buckets: from the store's own totals when it is a
// SeriesReporter, else by ScanSeries.
func Series(ctx context.Context, s Store, q SeriesQuery) ([]Bucket, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if sr, ok := s.(SeriesReporter); ok {
		return sr.SpendSeries(ctx, q)
	}
	return ScanSeries(ctx, s, q)
}

// ScanSeries computes q's buckets by paging through the store's time index
// (or key index, with KeyHash): the reference answer every SeriesReporter
// must give, and the way for stores without one.
func ScanSeries(ctx context.Context, s Store, q SeriesQuery) ([]Bucket, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	out := NewBuckets(q)
	err := scan(ctx, s, Query{Start: q.Start, End: q.End(), KeyHash: q.KeyHash}, func(r Record) {
		if i := int(r.StartTime.Sub(q.Start) / q.Step); i >= 0 && i < len(out) {
			out[i].Add(r)
		}
	})
	return out, err
}

// NewBuckets returns q's empty buckets, their Start set.
func NewBuckets(q SeriesQuery) []Bucket {
	out := make([]Bucket, q.N)
	for i := range out {
		out[i].Start = q.Start.Add(time.Duration(i) * q.Step)
	}
	return out
}

// scan calls fn for each record q matches, newest first, a page at a time.
func scan(ctx context.Context, s Store, q Query, fn func(Record)) error {
	q.Limit = reportPage
	for {
		page, err := s.QuerySpend(ctx, q)
		if err != nil {
			return err
		}
		for _, r := range page.Records {
			fn(r)
		}
		if page.NextCursor == "" {
			return nil
		}
		q.Cursor = page.NextCursor
	}
}
