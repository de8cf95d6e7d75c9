package spend

import (
	"context"
	"testing"
	"time"
)

func TestTTFTQuantile(t *testing.T) {
	var h TTFTHistogram
	if h.Quantile(0.5) != -1 {
		t.Error("empty histogram has a median")
	}
	for i := int64(1); i <= 1000; i++ {
		h.Add(i)
	}
	h.Add(1 << 20) // beyond the last bin: counted there
	h.Add(-3)      // below the first: counted there
	for _, tc := range []struct{ q, want float64 }{{0.5, 500}, {0.99, 990}, {0.01, 10}} {
		if got := h.Quantile(tc.q); got < tc.want*0.91 || got > tc.want*1.09 {
			t.Errorf("q%v = %v, want ~%v", tc.q, got, tc.want)
		}
	}
	if got := h.Quantile(1); got < 60000 {
		t.Errorf("max = %v, want the overflow bin", got)
	}
	if got := h.Quantile(0); got > 1.1 {
		t.Errorf("min = %v, want the first bin", got)
	}
	var m TTFTHistogram
	m.Merge(&h)
	m.Merge(&h)
	if m.Count() != 2*h.Count() || m.Quantile(0.5) != h.Quantile(0.5) {
		t.Errorf("merged: %d values, median %v", m.Count(), m.Quantile(0.5))
	}
}

// A store that is only a Store: no totals of its own.
type plainStore struct{ recs []Record }

func (p *plainStore) PutSpend(context.Context, []Record) error { return nil }
func (p *plainStore) QuerySpend(_ context.Context, q Query) (Page, error) {
	var out Page
	for i := len(p.recs) - 1; i >= 0; i-- {
		if q.Matches(p.recs[i]) {
			out.Records = append(out.Records, p.recs[i])
		}
	}
	return out, nil
}

func TestSeriesScansAndValidates(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	s := &plainStore{recs: []Record{
		{CallID: "a", StartTime: t0.Add(-time.Nanosecond), Status: 200, InputTokens: 99}, // before the series
		{CallID: "b", StartTime: t0, Status: 200, InputTokens: 10, TTFTMillis: 300, Cost: 0.5, KeyHash: "k1"},
		{CallID: "c", StartTime: t0.Add(59 * time.Second), Status: 529, OutputTokens: 5, KeyHash: "k2"},
		{CallID: "d", StartTime: t0.Add(2*time.Minute + time.Second), Status: 0, CacheReadInputTokens: 7, TTFTMillis: 0, KeyHash: "k1"},
		{CallID: "e", StartTime: t0.Add(3 * time.Minute), Status: 200, InputTokens: 1000}, // after it
	}}
	ctx := context.Background()
	got, err := Series(ctx, s, SeriesQuery{Start: t0, Step: time.Minute, N: 3})
	if err != nil {
		t.Fatal(err)
	}
	want := []ReportRow{
		{Requests: 2, FailedRequests: 1, InputTokens: 10, OutputTokens: 5, TotalTokens: 15, Cost: 0.5},
		{},
		{Requests: 1, FailedRequests: 1, CacheReadInputTokens: 7, TotalTokens: 7},
	}
	for i, w := range want {
		if got[i].Row != w || !got[i].Start.Equal(t0.Add(time.Duration(i)*time.Minute)) {
			t.Errorf("bucket %d = %v %+v, want %+v", i, got[i].Start, got[i].Row, w)
		}
	}
	if got[0].TTFT.Count() != 1 || got[2].TTFT.Count() != 0 {
		t.Errorf("TTFT counts %d, %d; want 1, 0 (no first token is not a value)", got[0].TTFT.Count(), got[2].TTFT.Count())
	}
	k1, _ := Series(ctx, s, SeriesQuery{Start: t0, Step: time.Minute, N: 3, KeyHash: "k1"})
	if k1[0].Row.Requests != 1 || k1[2].Row.Requests != 1 {
		t.Errorf("key k1: %+v", k1)
	}
	for _, bad := range []SeriesQuery{
		{Start: t0, Step: 0, N: 3}, {Start: t0, Step: time.Minute, N: 0}, {Start: t0, Step: time.Minute, N: MaxSeriesBuckets + 1},
		{Step: time.Minute, N: 3}, {Start: t0, Step: 1 << 62, N: 4},
	} {
		if _, err := Series(ctx, s, bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	rep, err := Summarize(ctx, s, ReportQuery{Start: t0, End: t0.Add(3 * time.Minute), GroupBy: GroupByAPIKey, KeyHash: "k1"})
	if err != nil || len(rep.Rows) != 1 || rep.Rows[0].Group != "k1" || rep.Total.Requests != 2 {
		t.Errorf("report for k1 = %+v, %v", rep, err)
	}
}
