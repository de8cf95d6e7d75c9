package console

import (
	"context"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/claude-gateway/claude-gateway/core/spend"
)

// dimensions are the spend groupings a day bucket keeps rows for.
var dimensions = []string{
	spend.GroupByUser, spend.GroupByTeam, spend.GroupByAPIKey, spend.GroupByModelGroup,
	spend.GroupByDeployment, spend.GroupByProvider,
}

// bucket totals the spend records that started in one time step.
type bucket struct {
	Row  spend.ReportRow
	TTFT ttftHist
	// Groups holds, for day buckets only, the report rows of each dimension.
	Groups map[string][]spend.ReportRow
}

// failed is spend.ReportRow's rule: an error status, or none at all.
func failed(r spend.Record) bool { return r.Status >= 400 || r.Status == 0 }

func (b *bucket) add(r spend.Record) {
	row := spend.ReportRow{Requests: 1, InputTokens: r.InputTokens, OutputTokens: r.OutputTokens,
		CacheCreationInputTokens: r.CacheCreationInputTokens, CacheReadInputTokens: r.CacheReadInputTokens, Cost: r.Cost}
	row.TotalTokens = r.InputTokens + r.OutputTokens + r.CacheCreationInputTokens + r.CacheReadInputTokens
	if failed(r) {
		row.FailedRequests = 1
	}
	addRow(&b.Row, row)
	if r.TTFTMillis > 0 {
		b.TTFT.add(r.TTFTMillis)
	}
}

// ttftHist is a log-scale histogram of time to first token: eight bins per
// doubling (each bin about 9% wide) from 1 ms to 65 s, so percentiles over
// any number of buckets cost constant memory and merge by addition.
type ttftHist [ttftBins]uint32

const (
	ttftPerDoubling = 8
	ttftBins        = 16*ttftPerDoubling + 1
)

func (h *ttftHist) add(ms int64) {
	i := int(math.Log2(float64(ms)) * ttftPerDoubling)
	h[min(max(i, 0), ttftBins-1)]++
}

func (h *ttftHist) merge(o *ttftHist) {
	for i := range h {
		h[i] += o[i]
	}
}

// quantile returns the q-quantile in milliseconds (the geometric middle of
// its bin), or -1 when the histogram is empty.
func (h *ttftHist) quantile(q float64) float64 {
	var n uint64
	for _, c := range h {
		n += uint64(c)
	}
	if n == 0 {
		return -1
	}
	rank := uint64(math.Ceil(q * float64(n)))
	var seen uint64
	for i, c := range h {
		seen += uint64(c)
		if seen >= max(rank, 1) {
			return math.Round(math.Exp2((float64(i)+0.5)/ttftPerDoubling)*10) / 10
		}
	}
	return -1
}

// rollup answers time-bucketed questions about spend records by paging
// through the store once per missing range, and remembers buckets that can
// no longer change (ended more than rollupGrace ago), so a 30-day view with
// a million records is read once per instance, then served from memory.
type rollup struct {
	store spend.Store
	now   func() time.Time

	mu    sync.Mutex
	cache map[bucketID]*bucket
}

// rollupGrace is how long after its end a bucket may still gain records: the
// recorder flushes in batches and a long stream is recorded when it ends.
const rollupGrace = 15 * time.Minute

// maxCachedBuckets bounds the cache (a day bucket with its group rows is the
// largest entry); past it the cache starts again empty.
const maxCachedBuckets = 20_000

type bucketID struct {
	keyHash string
	step    time.Duration
	start   int64
}

func newRollup(s spend.Store, now func() time.Time) *rollup {
	return &rollup{store: s, now: now, cache: map[bucketID]*bucket{}}
}

// buckets returns n consecutive buckets of step from `from`, for one key's
// records only when keyHash is set. Day steps also fill Groups.
func (ru *rollup) buckets(ctx context.Context, keyHash string, from time.Time, step time.Duration, n int) ([]*bucket, error) {
	out := make([]*bucket, n)
	ru.mu.Lock()
	for i := range out {
		out[i] = ru.cache[bucketID{keyHash, step, from.Add(time.Duration(i) * step).UnixNano()}]
	}
	ru.mu.Unlock()
	for i := 0; i < n; {
		if out[i] != nil {
			i++
			continue
		}
		j := i
		for j < n && out[j] == nil {
			j++
		}
		if err := ru.fill(ctx, keyHash, from, step, out, i, j); err != nil {
			return nil, err
		}
		i = j
	}
	return out, nil
}

// fill computes buckets [i, j) in one pass over the store's time index.
func (ru *rollup) fill(ctx context.Context, keyHash string, from time.Time, step time.Duration, out []*bucket, i, j int) error {
	start, end := from.Add(time.Duration(i)*step), from.Add(time.Duration(j)*step)
	groups := step >= 24*time.Hour
	accs := make([]map[string]*spend.Accumulator, j-i)
	for k := i; k < j; k++ {
		out[k] = &bucket{}
		if groups {
			accs[k-i] = map[string]*spend.Accumulator{}
			for _, d := range dimensions {
				accs[k-i][d] = spend.NewAccumulator(spend.ReportQuery{GroupBy: d})
			}
		}
	}
	q := spend.Query{Start: start, End: end, KeyHash: keyHash, Limit: spend.MaxLimit}
	for {
		page, err := ru.store.QuerySpend(ctx, q)
		if err != nil {
			return err
		}
		for _, r := range page.Records {
			k := int(r.StartTime.Sub(from) / step)
			if k < i || k >= j {
				continue
			}
			out[k].add(r)
			for _, a := range accs[k-i] {
				a.Add(r)
			}
		}
		if page.NextCursor == "" {
			break
		}
		q.Cursor = page.NextCursor
	}
	settled := ru.now().Add(-rollupGrace)
	ru.mu.Lock()
	defer ru.mu.Unlock()
	if len(ru.cache)+(j-i) > maxCachedBuckets {
		clear(ru.cache)
	}
	for k := i; k < j; k++ {
		if groups {
			out[k].Groups = map[string][]spend.ReportRow{}
			for d, a := range accs[k-i] {
				out[k].Groups[d] = a.Report().Rows
			}
		}
		if bEnd := from.Add(time.Duration(k+1) * step); !bEnd.After(settled) {
			ru.cache[bucketID{keyHash, step, from.Add(time.Duration(k) * step).UnixNano()}] = out[k]
		}
	}
	return nil
}

// report totals day buckets into a spend report grouped by `by` (a
// dimension, or "day": one row per bucket).
func report(days []*bucket, first time.Time, by string) spend.Report {
	rows := map[string]*spend.ReportRow{}
	var total spend.ReportRow
	for i, b := range days {
		day := first.AddDate(0, 0, i).Format(time.DateOnly)
		if by == spend.GroupByDay {
			if b.Row.Requests > 0 {
				rows[day] = &spend.ReportRow{Group: day}
				addRow(rows[day], b.Row)
			}
		} else {
			for _, r := range b.Groups[by] {
				if rows[r.Group] == nil {
					rows[r.Group] = &spend.ReportRow{Group: r.Group}
				}
				addRow(rows[r.Group], r)
			}
		}
		addRow(&total, b.Row)
	}
	total.Group = "total"
	out := spend.Report{GroupBy: by, Rows: make([]spend.ReportRow, 0, len(rows)), Total: total}
	for _, r := range rows {
		out.Rows = append(out.Rows, *r)
	}
	sort.Slice(out.Rows, func(i, j int) bool { return out.Rows[i].Group < out.Rows[j].Group })
	return out
}

func addRow(dst *spend.ReportRow, r spend.ReportRow) {
	dst.Requests += r.Requests
	dst.FailedRequests += r.FailedRequests
	dst.InputTokens += r.InputTokens
	dst.OutputTokens += r.OutputTokens
	dst.CacheCreationInputTokens += r.CacheCreationInputTokens
	dst.CacheReadInputTokens += r.CacheReadInputTokens
	dst.TotalTokens += r.TotalTokens
	dst.Cost += r.Cost
}
