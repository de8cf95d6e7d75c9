package embedded

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/spend"
)

// day0 is a UTC midnight; the random records spread over the three days from it.
var day0 = time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)

// randomRecords makes n records over three days from day0 with few enough
// distinct groupings that they repeat: odd strings (invalid UTF-8, U+2028,
// empty), statuses with and without errors, costs that JSON cannot hold,
// times on and next to 15-minute boundaries, records from before 1970 and
// without a time, and call ids written twice.
func randomRecords(rng *rand.Rand, n int) []spend.Record {
	pick := func(vs ...string) string { return vs[rng.IntN(len(vs))] }
	out := make([]spend.Record, n)
	for i := range out {
		var start time.Time
		switch rng.IntN(20) {
		case 0:
			start = day0.Add(time.Duration(rng.IntN(3*96)) * 15 * time.Minute) // on a boundary
		case 1:
			start = day0.Add(time.Duration(rng.IntN(3*96))*15*time.Minute - time.Nanosecond)
		case 2:
			start = []time.Time{{}, time.Unix(0, 0), time.Unix(-3600, 0), time.Unix(600, 0)}[rng.IntN(4)]
		default:
			start = day0.Add(time.Duration(rng.Int64N(int64(72 * time.Hour))))
		}
		cost := rng.Float64() / 10
		if rng.IntN(50) == 0 {
			cost = []float64{math.NaN(), math.Inf(1), -0.5}[rng.IntN(3)]
		}
		out[i] = spend.Record{
			CallID: fmt.Sprintf("call-%d", rng.IntN(n*9/10)), StartTime: start, EndTime: start.Add(time.Second),
			TTFTMillis: []int64{0, -5, 1, int64(rng.IntN(5000)), 90_000}[rng.IntN(5)],
			ModelGroup: pick("claude-sonnet", "claude-haiku", "", "bad\xffname"), RequestedModel: pick("claude-sonnet", "alias"),
			DeploymentID: pick("dep-1", "dep-2", "dep-\u2028"), Provider: pick("bedrock", "vertex_ai"),
			KeyHash: pick(spend.HashKey("sk-a"), spend.HashKey("sk-b"), "", "k\xfe\xff"), UserID: pick("ana", "ben", "", "u\xc3\xff"),
			TeamID:      pick("platform", "", "t\xff\xfe"),
			InputTokens: rng.Int64N(5000), OutputTokens: rng.Int64N(900), CacheCreationInputTokens: rng.Int64N(3) * 1000,
			CacheReadInputTokens: rng.Int64N(2) * 4000, Cost: cost, Status: []int{200, 200, 200, 0, 429, 529, 400}[rng.IntN(7)],
		}
	}
	return out
}

// putRandom writes recs in random batches.
func putRandom(t *testing.T, s *Store, rng *rand.Rand, recs []spend.Record) {
	t.Helper()
	for i := 0; i < len(recs); {
		j := min(len(recs), i+1+rng.IntN(300))
		if err := s.PutSpend(context.Background(), recs[i:j]); err != nil {
			t.Fatal(err)
		}
		i = j
	}
}

// checkTotals compares the store's reports and series (from its totals)
// with the same questions answered by reading every record.
func checkTotals(t *testing.T, s *Store, rng *rand.Rand, what string) {
	t.Helper()
	ctx := context.Background()
	at := func(slots int, off time.Duration) time.Time {
		return day0.Add(time.Duration(slots)*15*time.Minute + off)
	}
	ranges := []spend.ReportQuery{
		{Start: day0, End: day0.AddDate(0, 0, 3)},
		{Start: day0.AddDate(0, 0, 1), End: day0.AddDate(0, 0, 2)},
		{},
		{End: day0.AddDate(0, 0, 1)},
		{Start: day0.AddDate(0, 0, 2)},
		{Start: time.Unix(-7200, 0), End: at(3, 0)},
		{Start: at(7, 0), End: at(7, 0)},
		{Start: at(9, 0), End: at(5, 0)},
	}
	for range 3 {
		a, b := rng.IntN(3*96), rng.IntN(3*96)
		ranges = append(ranges, spend.ReportQuery{Start: at(min(a, b), time.Duration(rng.Int64N(int64(15*time.Minute)))),
			End: at(max(a, b), time.Duration(rng.Int64N(int64(15*time.Minute))))})
	}
	keys := []string{"", spend.HashKey("sk-a"), "k\ufffd\ufffd", "nobody"}
	for _, by := range []string{spend.GroupByModelGroup, spend.GroupByDeployment, spend.GroupByProvider, spend.GroupByDay, spend.GroupByAPIKey, spend.GroupByUser, spend.GroupByTeam} {
		for i, q := range ranges {
			q.GroupBy, q.KeyHash = by, keys[(i+len(by))%len(keys)]
			got, err := s.ReportSpend(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			want, err := spend.ScanReport(ctx, s, q)
			if err != nil {
				t.Fatal(err)
			}
			sameReport(t, fmt.Sprintf("%s: report %+v", what, q), got, want)
		}
	}
	series := []spend.SeriesQuery{
		{Start: day0, Step: 15 * time.Minute, N: 3 * 96},
		{Start: day0.Add(-time.Hour), Step: time.Hour, N: 80, KeyHash: spend.HashKey("sk-b")},
		{Start: day0, Step: 24 * time.Hour, N: 3},
		{Start: day0, Step: 24 * time.Hour, N: 3, KeyHash: "k\ufffd\ufffd"},
		{Start: at(100, 0), Step: time.Minute, N: 60},
		{Start: at(100, 3*time.Minute), Step: 5 * time.Minute, N: 100},
		{Start: at(100, time.Minute), Step: time.Minute, N: 60, KeyHash: spend.HashKey("sk-a")},
		{Start: at(50, 7*time.Second), Step: 7 * time.Minute, N: 200},
		{Start: time.Unix(-7200, 0), Step: 15 * time.Minute, N: 20},
	}
	for _, q := range series {
		got, err := s.SpendSeries(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		want, err := spend.ScanSeries(ctx, s, q)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if !got[i].Start.Equal(want[i].Start) || !sameRow(got[i].Row, want[i].Row) || got[i].TTFT != want[i].TTFT {
				t.Fatalf("%s: series %+v, bucket %d:\n got %+v\nwant %+v", what, q, i, got[i].Row, want[i].Row)
			}
		}
	}
}

func sameRow(a, b spend.ReportRow) bool {
	c := math.Abs(a.Cost-b.Cost) <= 1e-9*max(1, math.Abs(b.Cost))
	a.Cost, b.Cost = 0, 0
	return c && a == b
}

func sameReport(t *testing.T, what string, got, want spend.Report) {
	t.Helper()
	ok := len(got.Rows) == len(want.Rows) && sameRow(got.Total, want.Total) && got.GroupBy == want.GroupBy &&
		got.Start.Equal(want.Start) && got.End.Equal(want.End)
	for i := 0; ok && i < len(got.Rows); i++ {
		ok = sameRow(got.Rows[i], want.Rows[i])
	}
	if !ok {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Fatalf("%s\n got %s\nwant %s", what, g, w)
	}
}

// TestTotalsEqualScan: the store's reports and charts, read from its totals,
// equal the answers from its records: as written, after a reopen (the
// totals rebuilt from the log), and after pruning at a time inside a slot.
func TestTotalsEqualScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dir := filepath.Join(t.TempDir(), "state")
	s, err := Open(dir, Options{SegmentBytes: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	putRandom(t, s, rng, randomRecords(rng, 900))
	if s.tot.tuples == nil || len(s.tot.slotNums) < 50 {
		t.Fatalf("totals hold %d tuples in %d slots", len(s.tot.tuples), len(s.tot.slotNums))
	}
	checkTotals(t, s, rng, "written")
	s.Close()
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	checkTotals(t, s, rng, "reopened")
	cutoff := day0.Add(30*time.Hour + 7*time.Minute + 3*time.Second)
	if n, err := s.prune(cutoff); err != nil || n == 0 {
		t.Fatalf("prune = %d, %v", n, err)
	}
	checkTotals(t, s, rng, "pruned")
	// More records after pruning land in the slot it cut.
	putRandom(t, s, rng, randomRecords(rand.New(rand.NewPCG(3, 4)), 300))
	checkTotals(t, s, rng, "pruned, then written")
}

// TestTotalsFromVersion1Log: a log written before frames carried report
// fields (payload version 1) is counted from its records' JSON at Open.
func TestTotalsFromVersion1Log(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	seg := []byte(segMagic)
	recs := spend.Dedupe(randomRecords(rng, 400))
	for _, r := range recs {
		seg = appendFrameV1(seg, r, unixNanos(r.StartTime))
	}
	if err := os.WriteFile(filepath.Join(dir, segName(1)), seg, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if p, err := s.QuerySpend(context.Background(), spend.Query{Limit: 1000}); err != nil || len(p.Records) != len(recs) {
		t.Fatalf("%d records, %v", len(p.Records), err)
	}
	checkTotals(t, s, rng, "version 1 log")
	putRandom(t, s, rng, randomRecords(rand.New(rand.NewPCG(7, 8)), 300)) // v2 frames after v1 ones
	checkTotals(t, s, rng, "version 1 log, then version 2")
}

// appendFrameV1 is appendFrame as it was before the report fields.
func appendFrameV1(dst []byte, r spend.Record, start int64) []byte {
	f := appendFrame(nil, &r, start)
	var h scanned
	if !decodeHead(f[frameHead:], &h) {
		panic("bad frame")
	}
	js := h.json
	payload := f[frameHead : len(f)-len(js)-len(h.report)]
	payload = append(append([]byte(nil), payload...), js...)
	payload[0] = payloadV1
	dst = append(dst, make([]byte, frameHead)...)
	dst = append(dst, payload...)
	at := len(dst) - len(payload) - frameHead
	binary.BigEndian.PutUint32(dst[at:], uint32(len(payload)))
	binary.BigEndian.PutUint32(dst[at+4:], crc32.Checksum(payload, crcTable()))
	return dst
}
