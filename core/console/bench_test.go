package console

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/spend"
	"github.com/claude-gateway/claude-gateway/core/store/embedded"
)

// benchRecords is the size of the benchmark's embedded store: a million
// records over 30 days (about 33,000 a day), ending now.
const benchRecords = 1_000_000

// benchEnd is the fixture's last instant: fixed, so the fixture and its
// totals are the same on every machine and every run.
var benchEnd = time.Date(2026, 11, 30, 12, 7, 0, 0, time.UTC)

// benchDir builds once (then reuses from the temp directory) an embedded
// store of benchRecords spend records spread evenly over the 30 days before
// benchEnd: record i (oldest first) has user i%8, model i%3, deployment
// i%6, team i%3, status 529 when i%50 == 0, 1200+300+5000 tokens and costs
// 0.0123. They are written oldest first (the index appends in time order)
// in batches of 20,000 (one fsync each): about 20 s here.
func benchDir(b *testing.B) string {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("claude-gateway-console-bench-%d-v3", benchRecords))
	if _, err := os.Stat(dir + ".made"); err == nil {
		return dir
	}
	os.RemoveAll(dir)
	st, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	step := 30 * 24 * time.Hour / benchRecords
	users, models := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"}, []string{"claude-sonnet", "claude-opus", "claude-haiku"}
	batch := make([]spend.Record, 0, 20_000)
	for i := range benchRecords {
		batch = append(batch, spend.Record{
			CallID: fmt.Sprintf("bench-%08d", i), StartTime: benchEnd.Add(-time.Duration(benchRecords-i) * step),
			ModelGroup: models[i%3], RequestedModel: models[i%3], DeploymentID: fmt.Sprintf("dep-%d", i%6), Provider: "bedrock",
			KeyHash: spend.HashKey(users[i%8]), UserID: users[i%8], TeamID: fmt.Sprintf("team-%d", i%3),
			Status: map[bool]int{true: 529, false: 200}[i%50 == 0], TTFTMillis: int64(200 + i%800), Stream: true,
			InputTokens: 1200, OutputTokens: 300, CacheReadInputTokens: 5000, Cost: 0.0123,
		})
		if len(batch) == cap(batch) || i == benchRecords-1 {
			if err := st.PutSpend(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := os.WriteFile(dir+".made", nil, 0o644); err != nil {
		b.Fatal(err)
	}
	return dir
}

// benchStore opens the fixture and checks its known totals.
func benchStore(b *testing.B) (*embedded.Store, time.Duration) {
	dir := benchDir(b)
	t0 := time.Now()
	st, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	open := time.Since(t0)
	rep, err := spend.Summarize(context.Background(), st, spend.ReportQuery{GroupBy: spend.GroupByUser})
	if err != nil || rep.Total.Requests != benchRecords || rep.Total.FailedRequests != benchRecords/50 ||
		rep.Total.TotalTokens != 6500*benchRecords || len(rep.Rows) != 8 {
		b.Fatalf("fixture totals %+v, %v", rep.Total, err)
	}
	return st, open
}

// firstPaint is what a browser fetches before the overview's charts paint:
// the page, its four assets, the session probe and the day's series.
func firstPaint(b *testing.B, c *Console, ck *http.Cookie, rng string) {
	for _, p := range []string{"/ui/", "/ui/assets/app.css?v=" + c.assets.load().version, "/ui/assets/vendor/uplot/uPlot.min.css?v=" + c.assets.load().version,
		"/ui/assets/vendor/uplot/uPlot.iife.min.js?v=" + c.assets.load().version, "/ui/assets/app.js?v=" + c.assets.load().version,
		"/ui/api/session", "/ui/api/overview?range=" + rng} {
		r := httptest.NewRequest("GET", "https://gw.example"+p, nil)
		r.Header.Set("Accept-Encoding", "gzip")
		r.AddCookie(ck)
		w := httptest.NewRecorder()
		c.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("%s: %d %s", p, w.Code, w.Body)
		}
	}
}

// pages are each spend page's data endpoint, as the page asks for it.
func benchPages() map[string]string {
	from, to := benchEnd.AddDate(0, 0, -29).Format(time.DateOnly), benchEnd.Format(time.DateOnly)
	out := map[string]string{
		"overview-hour": "/ui/api/overview?range=hour", "overview-day": "/ui/api/overview?range=day",
		"overview-month": "/ui/api/overview?range=month", "request-log": "/ui/api/logs",
	}
	for _, by := range []string{"user", "team", "api_key", "model_group", "deployment", "provider", "day"} {
		out["spend-by-"+by+"-30d"] = "/ui/api/spend?group_by=" + by + "&start_date=" + from + "&end_date=" + to
	}
	return out
}

// BenchmarkFirstPaint serves the console's pages from an embedded store of
// a million records (built once, see benchDir). Open: opening the store (the
// index and totals rebuilt from the log). Cold/<page>: on the store just
// opened, a new console (nothing cached: the store keeps its totals, the
// console no cache for such a store) and that page's first paint (the page,
// its assets, the session probe, the day overview and the page's data).
// Warm/<page>: the data request again on the same console.
func BenchmarkFirstPaint(b *testing.B) {
	now := func() time.Time { return benchEnd }
	ck := &http.Cookie{Name: cookieName, Value: newSigner(testMaster).encode(session{Role: roleAdmin, Expires: benchEnd.Add(time.Hour).Unix(), Nonce: "n"})}
	get := func(b *testing.B, c *Console, p string) {
		r := httptest.NewRequest("GET", "https://gw.example"+p, nil)
		r.AddCookie(ck)
		w := httptest.NewRecorder()
		c.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("%s: %d %s", p, w.Code, w.Body)
		}
	}
	pages := benchPages()
	names := make([]string, 0, len(pages))
	for n := range pages {
		names = append(names, n)
	}
	sort.Strings(names)
	b.Run("Open", func(b *testing.B) {
		for b.Loop() {
			st, _ := benchStore(b)
			st.Close()
		}
	})
	st, _ := benchStore(b)
	defer st.Close()
	for _, name := range names {
		b.Run("Cold/"+name, func(b *testing.B) {
			for b.Loop() {
				c := New(Options{MasterKey: testMaster, Spend: st, Now: now})
				firstPaint(b, c, ck, "day")
				get(b, c, pages[name])
			}
		})
	}
	c := New(Options{MasterKey: testMaster, Spend: st, Now: now})
	for _, name := range names {
		b.Run("Warm/"+name, func(b *testing.B) {
			get(b, c, pages[name])
			for b.Loop() {
				get(b, c, pages[name])
			}
		})
	}
}
