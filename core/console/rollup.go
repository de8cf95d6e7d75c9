package console

import (
	"context"
	"errors"
	goruntime "runtime"
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
	TTFT spend.TTFTHistogram
	// Groups holds, for day buckets only, the report rows of each dimension.
	Groups map[string][]spend.ReportRow
}

func (b *bucket) add(r spend.Record) {
	row := spend.ReportRow{Requests: 1, InputTokens: r.InputTokens, OutputTokens: r.OutputTokens,
		CacheCreationInputTokens: r.CacheCreationInputTokens, CacheReadInputTokens: r.CacheReadInputTokens, Cost: r.Cost}
	row.TotalTokens = r.InputTokens + r.OutputTokens + r.CacheCreationInputTokens + r.CacheReadInputTokens
	if spend.Failed(r.Status) {
		row.FailedRequests = 1
	}
	b.Row.Merge(row)
	if r.TTFTMillis > 0 {
		b.TTFT.Add(r.TTFTMillis)
	}
}

// rollup answers time-bucketed questions about spend records. A store that
// keeps its own totals (spend.SeriesReporter, as the embedded store does)
// answers them directly: no cache, nothing read at first paint. For any
// other store it pages through the records once per missing range and
// remembers buckets that can no longer change (ended more than rollupGrace
// ago), so a 30-day view is read once per instance, then served from memory.
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
	groups  bool
	start   int64
}

func newRollup(s spend.Store, now func() time.Time) *rollup {
	return &rollup{store: s, now: now, cache: map[bucketID]*bucket{}}
}

// daySlice is the step an open day is assembled from: every settled slice
// is cached, so today's day bucket costs one slice of reading, not a day's.
const daySlice = 15 * time.Minute

// buckets returns n consecutive buckets of step from `from`, for one key's
// records only when keyHash is set. Day steps also fill Groups, except from
// a SeriesReporter (reports then come from the store's spend.Reporter).
func (ru *rollup) buckets(ctx context.Context, keyHash string, from time.Time, step time.Duration, n int) ([]*bucket, error) {
	if sr, ok := ru.store.(spend.SeriesReporter); ok {
		bs, err := sr.SpendSeries(ctx, spend.SeriesQuery{Start: from, Step: step, N: n, KeyHash: keyHash})
		if err != nil {
			return nil, err
		}
		out := make([]*bucket, len(bs))
		for i := range bs {
			out[i] = &bucket{Row: bs[i].Row, TTFT: bs[i].TTFT}
		}
		return out, nil
	}
	return ru.get(ctx, bucketID{keyHash: keyHash, step: step, groups: step >= 24*time.Hour}, from, n)
}

func (ru *rollup) get(ctx context.Context, id bucketID, from time.Time, n int) ([]*bucket, error) {
	out := make([]*bucket, n)
	startOf := func(i int) time.Time { return from.Add(time.Duration(i) * id.step) }
	ru.mu.Lock()
	for i := range out {
		k := id
		k.start = startOf(i).UnixNano()
		out[i] = ru.cache[k]
	}
	ru.mu.Unlock()
	settled := ru.now().Add(-rollupGrace)
	var missing []int
	for i := range out {
		if out[i] != nil {
			continue
		}
		// An open day is the sum of its slices, most of them cached.
		if id.step > daySlice && id.step%daySlice == 0 && startOf(i+1).After(settled) {
			b, err := ru.compose(ctx, id, startOf(i))
			if err != nil {
				return nil, err
			}
			out[i] = b
			continue
		}
		missing = append(missing, i)
	}
	if err := ru.fillParallel(ctx, id, from, out, missing); err != nil {
		return nil, err
	}
	return out, nil
}

// compose builds one bucket of id.step at start from daySlice buckets.
func (ru *rollup) compose(ctx context.Context, id bucketID, start time.Time) (*bucket, error) {
	sub := id
	sub.step = daySlice
	parts, err := ru.get(ctx, sub, start, int(id.step/daySlice))
	if err != nil {
		return nil, err
	}
	b := &bucket{}
	groups := map[string]map[string]*spend.ReportRow{}
	for _, p := range parts {
		b.Row.Merge(p.Row)
		b.TTFT.Merge(&p.TTFT)
		for d, rows := range p.Groups {
			if groups[d] == nil {
				groups[d] = map[string]*spend.ReportRow{}
			}
			for _, r := range rows {
				if groups[d][r.Group] == nil {
					groups[d][r.Group] = &spend.ReportRow{Group: r.Group}
				}
				groups[d][r.Group].Merge(r)
			}
		}
	}
	if id.groups {
		b.Groups = map[string][]spend.ReportRow{}
		for d, m := range groups {
			rows := make([]spend.ReportRow, 0, len(m))
			for _, r := range m {
				rows = append(rows, *r)
			}
			sort.Slice(rows, func(i, j int) bool { return rows[i].Group < rows[j].Group })
			b.Groups[d] = rows
		}
	}
	return b, nil
}

// maxFillers bounds how many store reads one view runs at once.
const maxFillers = 4

// fillParallel computes the missing buckets in up to maxFillers runs of
// consecutive buckets read concurrently (a cold 30-day view reads a month of
// records: the cores share it).
func (ru *rollup) fillParallel(ctx context.Context, id bucketID, from time.Time, out []*bucket, missing []int) error {
	if len(missing) == 0 {
		return nil
	}
	// Runs of consecutive missing buckets, then cut into about equal chunks.
	var runs [][2]int
	for _, i := range missing {
		if n := len(runs); n > 0 && runs[n-1][1] == i {
			runs[n-1][1]++
		} else {
			runs = append(runs, [2]int{i, i + 1})
		}
	}
	per := max(1, (len(missing)+maxFillers-1)/min(maxFillers, max(1, goruntime.GOMAXPROCS(0))))
	var chunks [][2]int
	for _, r := range runs {
		for a := r[0]; a < r[1]; a += per {
			chunks = append(chunks, [2]int{a, min(a+per, r[1])})
		}
	}
	errs := make([]error, len(chunks))
	var wg sync.WaitGroup
	for k, c := range chunks {
		wg.Go(func() { errs[k] = ru.fill(ctx, id, from, out, c[0], c[1]) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// fill computes buckets [i, j) in one pass over the store's time index.
func (ru *rollup) fill(ctx context.Context, id bucketID, from time.Time, out []*bucket, i, j int) error {
	step := id.step
	start, end := from.Add(time.Duration(i)*step), from.Add(time.Duration(j)*step)
	accs := make([]map[string]*spend.Accumulator, j-i)
	for k := i; k < j; k++ {
		out[k] = &bucket{}
		if id.groups {
			accs[k-i] = map[string]*spend.Accumulator{}
			for _, d := range dimensions {
				accs[k-i][d] = spend.NewAccumulator(spend.ReportQuery{GroupBy: d})
			}
		}
	}
	// Nothing has started in the future: read only up to now.
	if now := ru.now(); end.After(now) {
		end = now.Add(time.Nanosecond)
	}
	q := spend.Query{Start: start, End: end, KeyHash: id.keyHash, Limit: spend.MaxLimit}
	for start.Before(end) {
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
		if id.groups {
			out[k].Groups = map[string][]spend.ReportRow{}
			for d, a := range accs[k-i] {
				out[k].Groups[d] = a.Report().Rows
			}
		}
		if bEnd := from.Add(time.Duration(k+1) * step); !bEnd.After(settled) {
			key := id
			key.start = from.Add(time.Duration(k) * step).UnixNano()
			ru.cache[key] = out[k]
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
				rows[day].Merge(b.Row)
			}
		} else {
			for _, r := range b.Groups[by] {
				if rows[r.Group] == nil {
					rows[r.Group] = &spend.ReportRow{Group: r.Group}
				}
				rows[r.Group].Merge(r)
			}
		}
		total.Merge(b.Row)
	}
	total.Group = "total"
	out := spend.Report{GroupBy: by, Rows: make([]spend.ReportRow, 0, len(rows)), Total: total}
	for _, r := range rows {
		out.Rows = append(out.Rows, *r)
	}
	sort.Slice(out.Rows, func(i, j int) bool { return out.Rows[i].Group < out.Rows[j].Group })
	return out
}
