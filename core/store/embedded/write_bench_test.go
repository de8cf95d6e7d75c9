package embedded

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/spend"
)

// gatewayRecord is record i as the gateway writes them under load: a few
// deployments and keys, time moving on by a millisecond a record.
func gatewayRecord(base time.Time, i int) spend.Record {
	start := base.Add(time.Duration(i) * time.Millisecond)
	return spend.Record{
		CallID: fmt.Sprintf("019a%012x-7000-8000-%012x", i, i), StartTime: start, EndTime: start.Add(40 * time.Millisecond),
		TTFTMillis: int64(20 + i%200), ModelGroup: "claude-sonnet", RequestedModel: "claude-sonnet-4-5",
		DeploymentID: fmt.Sprint("dep-", i%4), Provider: "anthropic", APIBase: "https://api.anthropic.com",
		KeyHash: keyHashes[i%len(keyHashes)], Endpoint: "/v1/messages", InputTokens: 1200, OutputTokens: 300,
		CacheReadInputTokens: 4096, Cost: 0.0042, Status: 200, Stream: i%2 == 0,
	}
}

var keyHashes = func() []string {
	out := make([]string, 20)
	for i := range out {
		out[i] = spend.HashKey(fmt.Sprint("sk-", i))
	}
	return out
}()

// BenchmarkPutSpend is the write path per record (ns/op, B/op and
// allocs/op are per record): PutSpend in the batches the gateway's recorder
// sends (up to 1000 records, one fsync each; 1 is a quiet gateway's batch).
// Records are made with the timer stopped. The fsync makes ns/op depend on
// the disk; cpu-ns/op (see benchWrites), B/op and allocs/op do not.
func BenchmarkPutSpend(b *testing.B) {
	for _, batch := range []int{1000, 100, 1} {
		b.Run(fmt.Sprint("batch=", batch), func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "state"), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			benchWrites(b, batch, func(recs []spend.Record) {
				if err := s.PutSpend(context.Background(), recs); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// BenchmarkIndexRecords is the write path's CPU part alone, without the
// write and the fsync (so the same on any disk): taking a batch of 1000
// records, encoding them, indexing them and adding them to the totals, per
// record.
func BenchmarkIndexRecords(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "state"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	seg := &segment{num: 1}
	benchWrites(b, 1000, func(recs []spend.Record) {
		s.wmu.Lock()
		c := s.claim(recs)
		s.wmu.Unlock()
		c.encode(recs)
		s.mu.Lock()
		s.apply(c, seg, uint32(len(segMagic)))
		s.mu.Unlock()
		s.wmu.Lock()
		s.finished([]*commit{c})
		s.release(c)
		s.wmu.Unlock()
	})
}

// benchWrites calls put with batches of n fresh records, b.N records in all.
// Besides ns/op it reports cpu-ns/op, the process's CPU time per record
// (the fsync's wait is not in it, nor other processes' load).
func benchWrites(b *testing.B, n int, put func([]spend.Record)) {
	base := time.Now().Add(-time.Hour)
	recs := make([]spend.Record, 0, n)
	var cpu time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		b.StopTimer()
		recs = recs[:0]
		for ; len(recs) < n && i < b.N; i++ {
			recs = append(recs, gatewayRecord(base, i))
		}
		c0 := cpuTime()
		b.StartTimer()
		put(recs)
		b.StopTimer()
		cpu += cpuTime() - c0
		b.StartTimer()
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
}
