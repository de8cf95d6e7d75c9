// Package storetest is the conformance suite every state store passes: the
// same behaviour for counters, entries and spend records, atomicity under
// concurrency, expiry, idempotent spend writes and paging. Each backend's
// tests call Run with a factory that opens a fresh, empty store.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/claude-gateway/claude-gateway/core/spend"
)

// Factory opens a fresh, empty store (its own table, prefix or file) and
// registers its cleanup with tb.
type Factory func(tb testing.TB) (router.Store, spend.Store)

// Run runs the whole suite against the stores open makes.
func Run(t *testing.T, open Factory) {
	tests := []struct {
		name string
		fn   func(*testing.T, router.Store, spend.Store)
	}{
		{"IncrAccumulates", testIncrAccumulates},
		{"IncrLimit", testIncrLimit},
		{"IncrRace", testIncrRace},
		{"IncrExpiry", testIncrExpiry},
		{"PutGet", testPutGet},
		{"ManyKeys", testManyKeys},
		{"OddKeys", testOddKeys},
		{"SpendIdempotent", testSpendIdempotent},
		{"SpendPaging", testSpendPaging},
		{"SpendFilters", testSpendFilters},
		{"SpendReport", testSpendReport},
		{"SpendSeries", testSpendSeries},
		{"SpendBadCursor", testSpendBadCursor},
		{"IdentityKeys", testIdentityKeys},
		{"IdentityBudgetRace", testIdentityBudgetRace},
		{"IdentityOwners", testIdentityOwners},
		{"IdentityExpiry", testIdentityExpiry},
		{"IdentityPaging", testIdentityPaging},
		{"IdentityConcurrentGenerate", testIdentityConcurrentGenerate},
		{"IdentityLegacyIndex", testIdentityLegacyIndex},
		{"Sets", testSets},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, sp := open(t)
			tc.fn(t, st, sp)
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func testIncrAccumulates(t *testing.T, s router.Store, _ spend.Store) {
	ctx := ctxT(t)
	exp := time.Now().Add(time.Hour)
	for i, want := range []int64{5, 6, 16} {
		delta := []int64{5, 1, 10}[i]
		v, ok, err := s.Incr(ctx, "acc", delta, 0, exp)
		if err != nil || !ok || v != want {
			t.Fatalf("Incr #%d = %d, %v, %v; want %d, true, nil", i, v, ok, err, want)
		}
	}
	got, err := s.Counts(ctx, []string{"acc", "missing"})
	if err != nil || len(got) != 2 || got[0] != 16 || got[1] != 0 {
		t.Fatalf("Counts = %v, %v; want [16 0]", got, err)
	}
	if got, err := s.Counts(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("Counts(nil) = %v, %v", got, err)
	}
}

func testIncrLimit(t *testing.T, s router.Store, _ spend.Store) {
	ctx := ctxT(t)
	exp := time.Now().Add(time.Hour)
	steps := []struct {
		delta, limit, value int64
		ok                  bool
	}{
		{3, 5, 3, true},
		{3, 5, 3, false}, // 6 > 5: nothing added
		{2, 5, 5, true},  // exactly the limit
		{1, 5, 5, false},
		{0, 5, 5, true},
		{1, 0, 6, true}, // no limit
		{1, 6, 6, false},
	}
	for i, st := range steps {
		v, ok, err := s.Incr(ctx, "lim", st.delta, st.limit, exp)
		if err != nil || ok != st.ok || v != st.value {
			t.Fatalf("step %d Incr(%d, limit %d) = %d, %v, %v; want %d, %v", i, st.delta, st.limit, v, ok, err, st.value, st.ok)
		}
	}
	// A delta larger than the limit is refused even on a new key.
	if v, ok, err := s.Incr(ctx, "lim-new", 3, 2, exp); err != nil || ok || v != 0 {
		t.Fatalf("Incr over limit on a new key = %d, %v, %v; want 0, false", v, ok, err)
	}
	if c, _ := s.Counts(ctx, []string{"lim-new"}); c[0] != 0 {
		t.Fatalf("refused Incr left count %d", c[0])
	}
}

// testIncrRace: 50 goroutines race for a limit of 20; exactly 20 win.
func testIncrRace(t *testing.T, s router.Store, _ spend.Store) {
	ctx := ctxT(t)
	exp := time.Now().Add(time.Hour)
	var admitted, errs atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, ok, err := s.Incr(ctx, "race", 1, 20, exp)
			if err != nil {
				errs.Add(1)
				t.Errorf("Incr: %v", err)
			}
			if ok {
				admitted.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if admitted.Load() != 20 || errs.Load() != 0 {
		t.Fatalf("admitted %d (errors %d), want exactly 20", admitted.Load(), errs.Load())
	}
	if c, err := s.Counts(ctx, []string{"race"}); err != nil || c[0] != 20 {
		t.Fatalf("count after race = %v, %v; want 20", c, err)
	}
}

func testIncrExpiry(t *testing.T, s router.Store, _ spend.Store) {
	ctx := ctxT(t)
	past := time.Now().Add(-time.Second)
	if v, ok, err := s.Incr(ctx, "exp", 4, 10, past); err != nil || !ok || v != 4 {
		t.Fatalf("Incr with past expiry = %d, %v, %v; want 4, true", v, ok, err)
	}
	if c, err := s.Counts(ctx, []string{"exp"}); err != nil || c[0] != 0 {
		t.Fatalf("expired counter counts %v, %v; want 0", c, err)
	}
	// An expired counter starts again from zero (limit applies to the new window).
	future := time.Now().Add(time.Hour)
	if v, ok, err := s.Incr(ctx, "exp", 7, 10, future); err != nil || !ok || v != 7 {
		t.Fatalf("Incr after expiry = %d, %v, %v; want 7, true", v, ok, err)
	}
	if v, ok, err := s.Incr(ctx, "exp", 4, 10, future); err != nil || ok || v != 7 {
		t.Fatalf("Incr over limit in the new window = %d, %v, %v; want 7, false", v, ok, err)
	}
	if c, err := s.Counts(ctx, []string{"exp"}); err != nil || c[0] != 7 {
		t.Fatalf("count in the new window = %v, %v; want 7", c, err)
	}
}

func testPutGet(t *testing.T, s router.Store, _ spend.Store) {
	ctx := ctxT(t)
	exp := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	if err := s.Put(ctx, "cool", "until-later", exp); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, []string{"cool", "missing"})
	if err != nil || len(got) != 2 {
		t.Fatalf("Get = %v, %v", got, err)
	}
	if !got[0].Found() || got[0].Value != "until-later" || !sameMilli(got[0].Expires, exp) {
		t.Fatalf("Get[0] = %+v; want until-later expiring %v", got[0], exp)
	}
	if got[1].Found() || got[1].Value != "" {
		t.Fatalf("missing key found: %+v", got[1])
	}
	// Overwrite.
	exp2 := exp.Add(time.Minute)
	if err := s.Put(ctx, "cool", "", exp2); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, []string{"cool"}); !got[0].Found() || got[0].Value != "" || !sameMilli(got[0].Expires, exp2) {
		t.Fatalf("after overwrite: %+v", got[0])
	}
	// Expired entries are not found.
	if err := s.Put(ctx, "gone", "x", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, []string{"gone"}); got[0].Found() {
		t.Fatalf("expired entry found: %+v", got[0])
	}
	if got, err := s.Get(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("Get(nil) = %v, %v", got, err)
	}
}

func sameMilli(a, b time.Time) bool {
	d := a.Sub(b)
	return d > -time.Millisecond && d < time.Millisecond
}

// testManyKeys: more keys than one batch read takes (DynamoDB: 100), with duplicates.
func testManyKeys(t *testing.T, s router.Store, _ spend.Store) {
	ctx := ctxT(t)
	exp := time.Now().Add(time.Hour)
	var keys []string
	for i := range 150 {
		k := fmt.Sprintf("many-%03d", i)
		keys = append(keys, k)
		if i%3 == 0 {
			if _, _, err := s.Incr(ctx, k, int64(i), 0, exp); err != nil {
				t.Fatal(err)
			}
		}
		if i%5 == 0 {
			if err := s.Put(ctx, k+"-e", fmt.Sprint(i), exp); err != nil {
				t.Fatal(err)
			}
		}
	}
	keys = append(keys, keys[3], keys[0]) // duplicates
	counts, err := s.Counts(ctx, keys)
	if err != nil || len(counts) != len(keys) {
		t.Fatalf("Counts: %v (len %d)", err, len(counts))
	}
	for i, k := range keys {
		var n int
		fmt.Sscanf(k, "many-%d", &n)
		want := int64(0)
		if n%3 == 0 {
			want = int64(n)
		}
		if counts[i] != want {
			t.Fatalf("Counts[%d] (%s) = %d, want %d", i, k, counts[i], want)
		}
	}
	ekeys := make([]string, len(keys))
	for i, k := range keys {
		ekeys[i] = k + "-e"
	}
	entries, err := s.Get(ctx, ekeys)
	if err != nil || len(entries) != len(ekeys) {
		t.Fatalf("Get: %v (len %d)", err, len(entries))
	}
	for i, k := range keys {
		var n int
		fmt.Sscanf(k, "many-%d", &n)
		if found := entries[i].Found(); found != (n%5 == 0) || (found && entries[i].Value != fmt.Sprint(n)) {
			t.Fatalf("Get[%d] (%s) = %+v", i, ekeys[i], entries[i])
		}
	}
}

// testOddKeys: keys as the router makes them (deployment ids, model names with
// slashes, session ids) must all work and stay distinct.
func testOddKeys(t *testing.T, s router.Store, _ spend.Store) {
	ctx := ctxT(t)
	exp := time.Now().Add(time.Hour)
	keys := []string{
		"rpm:bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0:29012345",
		"a/b/c", "a%2Fb%2Fc", "with space", "ünïcödé-键", "..", ".", "__reserved__",
		"#hash", strings.Repeat("long", 100), strings.Repeat("longer", 500), "bad-utf8-\xff\xfe", "bad-utf8-\xfe\xff",
	}
	for i, k := range keys {
		if _, _, err := s.Incr(ctx, k, int64(i+1), 0, exp); err != nil {
			t.Fatalf("Incr(%q): %v", k, err)
		}
		if err := s.Put(ctx, "e:"+k, k, exp); err != nil {
			t.Fatalf("Put(%q): %v", k, err)
		}
	}
	counts, err := s.Counts(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	ekeys := make([]string, len(keys))
	for i, k := range keys {
		ekeys[i] = "e:" + k
	}
	entries, err := s.Get(ctx, ekeys)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		if counts[i] != int64(i+1) {
			t.Errorf("Counts(%q) = %d, want %d", k, counts[i], i+1)
		}
		if entries[i].Value != k {
			t.Errorf("Get(%q) = %+v", ekeys[i], entries[i])
		}
	}
}

// base is a fixed day so records never collide with "now".
var base = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)

func record(i int) spend.Record {
	start := base.Add(time.Duration(i)*97*time.Minute + time.Duration(i)*1234567) // spreads over days, nanoseconds included
	groups := []string{"claude-sonnet", "claude-haiku", "claude-opus"}
	g := groups[i%3]
	requested := g
	if i%4 == 1 {
		requested = "claude-3-5-sonnet-alias" // asked by alias
	}
	return spend.Record{
		CallID:         fmt.Sprintf("call-%04d-%08x", i, rand.Uint32()),
		StartTime:      start,
		EndTime:        start.Add(1500 * time.Millisecond),
		TTFTMillis:     int64(200 + i),
		ModelGroup:     g,
		RequestedModel: requested,
		DeploymentID:   fmt.Sprintf("dep-%d", i%4),
		Provider:       []string{"bedrock", "vertex_ai", "anthropic"}[i%3],
		Region:         "us-east-1",
		APIBase:        "https://bedrock-runtime.us-east-1.amazonaws.com",
		KeyHash:        spend.HashKey(fmt.Sprintf("sk-key-%d", i%2)),
		UserID:         []string{"ana", "ben", ""}[i%3],
		TeamID:         []string{"platform", "", "mobile", "platform"}[i%4],
		SessionID:      fmt.Sprintf("sess-%d", i%5),
		Endpoint:       "/v1/messages",
		InputTokens:    int64(10 * i), OutputTokens: int64(i),
		CacheCreationInputTokens: int64(i % 7), CacheReadInputTokens: int64(i % 11),
		Cost:   float64(i) * 0.001,
		Status: []int{200, 200, 429, 200, 529}[i%5], ErrorType: []string{"", "", "rate_limit_error", "", "overloaded_error"}[i%5],
		Retries: i % 3, Fallbacks: i % 2, Stream: i%2 == 0, Disconnected: i%13 == 0,
	}
}

func records(n int) []spend.Record {
	out := make([]spend.Record, n)
	for i := range out {
		out[i] = record(i)
	}
	return out
}

func putAll(t *testing.T, sp spend.Store, recs []spend.Record, batch int) {
	t.Helper()
	ctx := ctxT(t)
	for i := 0; i < len(recs); i += batch {
		if err := sp.PutSpend(ctx, recs[i:min(i+batch, len(recs))]); err != nil {
			t.Fatalf("PutSpend: %v", err)
		}
	}
}

// canon renders a record for comparison (times in UTC, to the nanosecond).
func canon(r spend.Record) string {
	r.StartTime, r.EndTime = r.StartTime.UTC(), r.EndTime.UTC()
	// Through JSON and back, as stores keep records: invalid UTF-8 becomes U+FFFD.
	b, _ := json.Marshal(r)
	var back spend.Record
	json.Unmarshal(b, &back)
	b, _ = json.Marshal(back)
	return string(b)
}

// expect returns what q should answer over all, newest first.
func expect(all []spend.Record, q spend.Query) []spend.Record {
	var out []spend.Record
	for _, r := range all {
		if q.Matches(r) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return spend.SortKey(out[i]) > spend.SortKey(out[j]) })
	return out
}

// collect pages through q and checks every page.
func collect(t *testing.T, sp spend.Store, q spend.Query) []spend.Record {
	t.Helper()
	ctx := ctxT(t)
	var out []spend.Record
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("paging does not end")
		}
		p, err := sp.QuerySpend(ctx, q)
		if err != nil {
			t.Fatalf("QuerySpend(%+v): %v", q, err)
		}
		limit := q.Limit
		if limit == 0 {
			limit = spend.DefaultLimit
		}
		if len(p.Records) > limit {
			t.Fatalf("page of %d records, limit %d", len(p.Records), limit)
		}
		out = append(out, p.Records...)
		if p.NextCursor == "" {
			return out
		}
		// A full page may carry a cursor to an empty last page (a store need
		// not read ahead to know), but an empty page ends the query.
		if len(p.Records) == 0 {
			t.Fatal("empty page with a next cursor")
		}
		q.Cursor = p.NextCursor
	}
}

func sameRecords(t *testing.T, what string, got, want []spend.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d records, want %d", what, len(got), len(want))
	}
	for i := range got {
		if g, w := canon(got[i]), canon(want[i]); g != w {
			t.Fatalf("%s: record %d\n got %s\nwant %s", what, i, g, w)
		}
	}
}

func testSpendIdempotent(t *testing.T, _ router.Store, sp spend.Store) {
	ctx := ctxT(t)
	recs := records(5)
	recs[4].RequestedModel, recs[4].SessionID = "bad-utf8-\xff", "sess-\xfe" // client-supplied strings
	recs[3].RequestedModel = strings.Repeat("very-long-model-name-", 40)
	dup := recs[2]
	// The same call id twice in one batch, then the whole batch again (a retry).
	batch := append(append([]spend.Record{}, recs...), dup)
	if err := sp.PutSpend(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if err := sp.PutSpend(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if err := sp.PutSpend(ctx, nil); err != nil {
		t.Fatalf("PutSpend(nil): %v", err)
	}
	sameRecords(t, "all after retries", collect(t, sp, spend.Query{}), expect(recs, spend.Query{}))
	p, err := sp.QuerySpend(ctx, spend.Query{RequestID: dup.CallID})
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, "by request id", p.Records, []spend.Record{dup})
	if p.NextCursor != "" {
		t.Fatal("next cursor on a request-id lookup")
	}
	q := spend.Query{Model: recs[4].RequestedModel}
	sameRecords(t, "by a non-UTF-8 model name", collect(t, sp, q), expect(recs, q))
	q = spend.Query{Model: recs[3].RequestedModel}
	sameRecords(t, "by a long model name", collect(t, sp, q), expect(recs, q))
	if p, _ := sp.QuerySpend(ctx, spend.Query{RequestID: "no-such-call"}); len(p.Records) != 0 {
		t.Fatalf("unknown request id found %d records", len(p.Records))
	}
}

func testSpendPaging(t *testing.T, _ router.Store, sp spend.Store) {
	all := records(57)
	putAll(t, sp, all, 25)
	for _, limit := range []int{1, 10, 57, 100} {
		q := spend.Query{Limit: limit}
		sameRecords(t, fmt.Sprintf("limit %d", limit), collect(t, sp, q), expect(all, q))
	}
	sameRecords(t, "default limit", collect(t, sp, spend.Query{}), expect(all, spend.Query{}))
}

func testSpendFilters(t *testing.T, _ router.Store, sp spend.Store) {
	all := records(60)
	putAll(t, sp, all, 60)
	k0 := spend.HashKey("sk-key-0")
	day2 := base.AddDate(0, 0, 1)
	queries := []spend.Query{
		{Model: "claude-haiku"},
		{Model: "claude-3-5-sonnet-alias"},
		{Model: "claude-sonnet"},
		{Model: "nobody"},
		{KeyHash: k0},
		{KeyHash: k0, Model: "claude-opus"},
		{Start: day2, End: day2.AddDate(0, 0, 1)},
		{Start: day2},
		{End: day2},
		{Start: day2, End: day2.AddDate(0, 0, 2), Model: "claude-sonnet", Limit: 3},
		{Start: day2, End: day2.AddDate(0, 0, 2), KeyHash: k0, Limit: 2},
		{Start: day2, End: day2.AddDate(0, 0, 2), KeyHash: k0, Model: "claude-3-5-sonnet-alias", Limit: 1},
		{Start: all[10].StartTime, End: all[20].StartTime, Limit: 4}, // exact bounds: [10, 20)
		{UserID: "ana"},
		{UserID: "nobody"},
		{TeamID: "platform"},
		{TeamID: "platform", UserID: "ben"},
		{TeamID: "mobile", Model: "claude-haiku"},
		{UserID: "ana", KeyHash: k0, Model: "claude-sonnet"},
		{Start: day2, End: day2.AddDate(0, 0, 2), UserID: "ben", Limit: 2},
		{Start: day2, TeamID: "platform", Model: "claude-3-5-sonnet-alias", Limit: 1},
		{RequestID: all[7].CallID, Model: all[7].ModelGroup},
		{RequestID: all[7].CallID, Model: "nobody"},
		{RequestID: all[7].CallID, Start: all[8].StartTime},
	}
	for _, q := range queries {
		sameRecords(t, fmt.Sprintf("%+v", q), collect(t, sp, q), expect(all, q))
	}
}

func testSpendReport(t *testing.T, _ router.Store, sp spend.Store) {
	ctx := ctxT(t)
	all := records(40)
	putAll(t, sp, all, 40)
	start, end := base.AddDate(0, 0, 1), base.AddDate(0, 0, 3)
	k1 := spend.HashKey("sk-key-1")
	ranges := []spend.ReportQuery{
		{Start: start, End: end},
		{Start: start, End: end, KeyHash: k1},
		{Start: all[5].StartTime, End: all[30].StartTime},                      // not on any step boundary: [5, 30)
		{Start: all[5].StartTime.Add(-time.Nanosecond), End: all[6].StartTime}, // one record
		{Start: start},
		{End: end, KeyHash: k1},
		{},
	}
	for _, by := range []string{spend.GroupByModelGroup, spend.GroupByDeployment, spend.GroupByProvider, spend.GroupByDay, spend.GroupByAPIKey, spend.GroupByUser, spend.GroupByTeam} {
		for _, q := range ranges {
			q.GroupBy = by
			got, err := spend.Summarize(ctx, sp, q)
			if err != nil {
				t.Fatal(err)
			}
			acc := spend.NewAccumulator(q)
			for _, r := range expect(all, spend.Query{Start: q.Start, End: q.End, KeyHash: q.KeyHash}) {
				acc.Add(r)
			}
			want := acc.Report()
			if g, w := reportJSON(got), reportJSON(want); g != w {
				t.Fatalf("report %+v\n got %s\nwant %s", q, g, w)
			}
			if len(got.Rows) == 0 || got.Total.Requests == 0 {
				t.Fatalf("report %+v is empty", q)
			}
		}
	}
	if _, err := spend.Summarize(ctx, sp, spend.ReportQuery{GroupBy: "color"}); err == nil {
		t.Fatal("unknown group_by accepted")
	}
}

// testSpendSeries: time-bucketed totals (the console's charts) equal the
// records' own, whether the store keeps totals (spend.SeriesReporter) or
// spend.Series reads the records: whole quarter hours, hours and days,
// minutes, steps on no boundary, one key's records.
func testSpendSeries(t *testing.T, _ router.Store, sp spend.Store) {
	ctx := ctxT(t)
	all := records(40)
	putAll(t, sp, all, 40)
	k0 := spend.HashKey("sk-key-0")
	mid := all[20].StartTime.Truncate(time.Minute)
	for _, q := range []spend.SeriesQuery{
		{Start: base, Step: 15 * time.Minute, N: 96},
		{Start: base, Step: 15 * time.Minute, N: 96, KeyHash: k0},
		{Start: base.Add(-time.Hour), Step: time.Hour, N: 72},
		{Start: base.Truncate(24 * time.Hour), Step: 24 * time.Hour, N: 4},
		{Start: base.Truncate(24 * time.Hour), Step: 24 * time.Hour, N: 4, KeyHash: k0},
		{Start: mid.Add(-30 * time.Minute), Step: time.Minute, N: 60},
		{Start: mid.Add(-30 * time.Minute), Step: time.Minute, N: 60, KeyHash: k0},
		{Start: all[3].StartTime, Step: 7*time.Minute + time.Second, N: 500},
	} {
		got, err := spend.Series(ctx, sp, q)
		if err != nil {
			t.Fatal(err)
		}
		want := spend.NewBuckets(q)
		for _, r := range expect(all, spend.Query{Start: q.Start, End: q.End(), KeyHash: q.KeyHash}) {
			want[int(r.StartTime.Sub(q.Start)/q.Step)].Add(r)
		}
		if len(got) != len(want) {
			t.Fatalf("series %+v: %d buckets, want %d", q, len(got), len(want))
		}
		n := int64(0)
		for i := range want {
			g, w := got[i], want[i]
			n += g.Row.Requests
			if !g.Start.Equal(w.Start) || reportJSON(spend.Report{Total: g.Row}) != reportJSON(spend.Report{Total: w.Row}) || g.TTFT != w.TTFT {
				t.Fatalf("series %+v, bucket %d:\n got %v %+v\nwant %v %+v", q, i, g.Start, g.Row, w.Start, w.Row)
			}
		}
		if n == 0 {
			t.Fatalf("series %+v is empty", q)
		}
	}
	if _, err := spend.Series(ctx, sp, spend.SeriesQuery{Start: base, Step: time.Minute}); err == nil {
		t.Fatal("series of no buckets accepted")
	}
}

// reportJSON renders a report with costs rounded (sums may add in another order).
func reportJSON(r spend.Report) string {
	round := func(x float64) float64 { return float64(int64(x*1e9+0.5)) / 1e9 }
	for i := range r.Rows {
		r.Rows[i].Cost = round(r.Rows[i].Cost)
	}
	r.Total.Cost = round(r.Total.Cost)
	b, _ := json.Marshal(r)
	return string(b)
}

func testSpendBadCursor(t *testing.T, _ router.Store, sp spend.Store) {
	ctx := ctxT(t)
	for _, c := range []string{"not base64!", "aGVsbG8", spend.EncodeCursor("12345#x")} {
		if _, err := sp.QuerySpend(ctx, spend.Query{Cursor: c}); !errors.Is(err, spend.ErrBadCursor) {
			t.Fatalf("cursor %q: err = %v, want ErrBadCursor", c, err)
		}
	}
}

// Bench measures each operation's latency; compare a backend's figures with
// the memory store's to get the latency it adds per request.
func Bench(b *testing.B, open Factory) {
	st, sp := open(b)
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	b.Run("Incr", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, _, err := st.Incr(ctx, "bench-rpm", 1, 0, exp); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("IncrLimited", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, _, err := st.Incr(ctx, fmt.Sprintf("bench-lim-%d", i/1000), 1, 1000, exp); err != nil {
				b.Fatal(err)
			}
		}
	})
	keys := []string{"bench-rpm", "bench-tpm", "bench-x"}
	b.Run("Counts3", func(b *testing.B) {
		for b.Loop() {
			if _, err := st.Counts(ctx, keys); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Put", func(b *testing.B) {
		for b.Loop() {
			if err := st.Put(ctx, "bench-cool", "1", exp); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Get3", func(b *testing.B) {
		for b.Loop() {
			if _, err := st.Get(ctx, keys); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("IncrParallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, _, err := st.Incr(ctx, "bench-par", 1, 0, exp); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	n := 0
	b.Run("PutSpend100", func(b *testing.B) {
		for b.Loop() {
			recs := make([]spend.Record, 100)
			for i := range recs {
				recs[i] = record(n)
				n++
			}
			if err := sp.PutSpend(ctx, recs); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("QuerySpend100", func(b *testing.B) {
		for b.Loop() {
			if _, err := sp.QuerySpend(ctx, spend.Query{Limit: 100}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// SharedFactory opens n stores on one shared namespace (one table, prefix or
// collection), each with its own client, as n gateway instances would.
type SharedFactory func(tb testing.TB, n int) ([]router.Store, []spend.Store)

// RunMultiInstance is the store side of the multi-instance check: four
// instances share one rpm window with a limit of 60; 200 requests spread
// over them are admitted or refused, and every one is recorded through its
// instance's batching recorder. Exactly 60 are admitted, and exactly 200
// spend records exist afterwards, each with its status.
func RunMultiInstance(t *testing.T, open SharedFactory) {
	const instances, requests, limit = 4, 200, 60
	stores, spends := open(t, instances)
	recorders := make([]*spend.BatchRecorder, instances)
	for i := range recorders {
		recorders[i] = spend.NewBatchRecorder(spends[i], spend.BatchOptions{BatchSize: 25, FlushInterval: 10 * time.Millisecond})
	}
	ctx := ctxT(t)
	window := fmt.Sprintf("rpm:dep-1:%d", time.Now().Unix()/60)
	exp := time.Now().Add(2 * time.Minute)
	var admitted atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			inst := i % instances
			t0 := time.Now()
			_, ok, err := stores[inst].Incr(ctx, window, 1, limit, exp)
			if err != nil {
				t.Errorf("Incr: %v", err)
				return
			}
			r := spend.Record{CallID: fmt.Sprintf("multi-%03d", i), StartTime: t0, EndTime: time.Now(),
				ModelGroup: "claude-sonnet", RequestedModel: "claude-sonnet", DeploymentID: "dep-1", Status: 200}
			if ok {
				admitted.Add(1)
				r.InputTokens, r.OutputTokens, r.Cost = 100, 10, 0.0005
			} else {
				r.Status, r.ErrorType = 429, "rate_limit_error"
			}
			recorders[inst].Record(ctx, r)
		}()
	}
	close(start)
	wg.Wait()
	for _, r := range recorders {
		r.Close(ctx)
		if st := r.Stats(); st.Unsaved != 0 {
			t.Fatalf("recorder left %d records unsaved", st.Unsaved)
		}
	}
	if admitted.Load() != limit {
		t.Fatalf("admitted %d of %d across %d instances, want exactly %d", admitted.Load(), requests, instances, limit)
	}
	all := collect(t, spends[0], spend.Query{Limit: spend.MaxLimit})
	statuses := map[int]int{}
	seen := map[string]bool{}
	for _, r := range all {
		if seen[r.CallID] {
			t.Fatalf("record %s twice", r.CallID)
		}
		seen[r.CallID] = true
		statuses[r.Status]++
	}
	if len(all) != requests || statuses[200] != limit || statuses[429] != requests-limit {
		t.Fatalf("%d records (statuses %v), want %d: %d served, %d refused", len(all), statuses, requests, limit, requests-limit)
	}
}
