package embedded

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/spend"
)

// benchRecords is the log size of BenchmarkSpendLogs (EMBEDDED_BENCH_RECORDS
// overrides the million).
func benchRecords() int {
	if n, err := strconv.Atoi(os.Getenv("EMBEDDED_BENCH_RECORDS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// BenchmarkSpendLogs: /spend/logs' queries on a log of a million records:
// the newest page (the target is < 50 ms), filtered by model and by key, and
// a page deep in the past through a cursor. It also reports the time to
// write the log in batches of 1000 (one fsync each), to reopen it (the index
// rebuild) and the index's heap bytes per record.
func BenchmarkSpendLogs(b *testing.B) {
	ctx := context.Background()
	n := benchRecords()
	dir := filepath.Join(b.TempDir(), "state")
	s, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	base := time.Now().Add(-time.Duration(n) * time.Second)
	batch := make([]spend.Record, 0, 1000)
	for i := range n {
		start := base.Add(time.Duration(i) * time.Second)
		batch = append(batch, spend.Record{
			CallID: fmt.Sprintf("019a%012x-7000-8000-%012x", i, i), StartTime: start, EndTime: start.Add(time.Second),
			ModelGroup: []string{"claude-sonnet", "claude-haiku", "claude-opus"}[i%3], RequestedModel: "claude-sonnet-4-5",
			DeploymentID: fmt.Sprint("dep-", i%4), Provider: "bedrock", KeyHash: spend.HashKey(fmt.Sprint("sk-", i%50)),
			Endpoint: "/v1/messages", InputTokens: 1200, OutputTokens: 300, Cost: 0.0042, Status: 200, Stream: true,
		})
		if len(batch) == cap(batch) || i == n-1 {
			if err := s.PutSpend(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	write := time.Since(t0)
	s.Close()
	s = nil

	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	t0 = time.Now()
	s, err = Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	reopen := time.Since(t0)
	defer s.Close()
	runtime.GC()
	runtime.ReadMemStats(&m1)
	b.Logf("%d records: written in %s (%.1f us/record), reopened in %s, index %.0f B/record",
		n, write.Round(time.Millisecond), float64(write.Microseconds())/float64(n), reopen.Round(time.Millisecond),
		float64(m1.HeapAlloc-m0.HeapAlloc)/float64(n))

	deep, err := s.QuerySpend(ctx, spend.Query{End: base.Add(time.Duration(n/2) * time.Second), Limit: 1})
	if err != nil || len(deep.Records) != 1 {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		q    spend.Query
	}{
		{"NewestPage", spend.Query{Limit: 100}},
		{"NewestPageByModel", spend.Query{Model: "claude-haiku", Limit: 100}},
		{"NewestPageByKey", spend.Query{KeyHash: spend.HashKey("sk-7"), Limit: 100}},
		{"PageMidLog", spend.Query{Cursor: spend.EncodeCursor(spend.SortKey(deep.Records[0])), Limit: 100}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				p, err := s.QuerySpend(ctx, bc.q)
				if err != nil || len(p.Records) != 100 {
					b.Fatalf("%d records, %v", len(p.Records), err)
				}
			}
		})
	}
	b.ReportMetric(float64(reopen.Milliseconds()), "reopen-ms")
}
