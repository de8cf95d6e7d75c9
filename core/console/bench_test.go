package console

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/spend"
	"github.com/claude-gateway/claude-gateway/core/store/embedded"
)

// benchRecords is the size of the benchmark's embedded store: a million
// records over 30 days (about 33,000 a day), ending now.
const benchRecords = 1_000_000

// benchStore opens (creating once, then reusing from the temp directory:
// writing a million records takes a while) an embedded store of
// benchRecords spend records spread over the 30 days before the file was made.
func benchStore(b *testing.B) (*embedded.Store, time.Time) {
	path := filepath.Join(os.TempDir(), fmt.Sprintf("claude-gateway-console-bench-%d-v2", benchRecords))
	stamp := path + ".made"
	made, err := os.ReadFile(stamp)
	st, oerr := embedded.Open(path, embedded.Options{})
	if oerr != nil {
		b.Fatal(oerr)
	}
	b.Cleanup(func() { st.Close() })
	if end, perr := time.Parse(time.RFC3339, string(made)); err == nil && perr == nil {
		return st, end
	}
	end := time.Now().UTC()
	step := 30 * 24 * time.Hour / benchRecords
	users, models := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"}, []string{"claude-sonnet", "claude-opus", "claude-haiku"}
	batch := make([]spend.Record, 0, 10_000)
	for i := range benchRecords {
		batch = append(batch, spend.Record{
			CallID: fmt.Sprintf("bench-%08d", i), StartTime: end.Add(-time.Duration(i+1) * step),
			ModelGroup: models[i%3], RequestedModel: models[i%3], DeploymentID: fmt.Sprintf("dep-%d", i%6), Provider: "bedrock",
			KeyHash: spend.HashKey(users[i%8]), UserID: users[i%8], TeamID: fmt.Sprintf("team-%d", i%3),
			Status: map[bool]int{true: 529, false: 200}[i%50 == 0], TTFTMillis: int64(200 + i%800), Stream: true,
			InputTokens: 1200, OutputTokens: 300, CacheReadInputTokens: 5000, Cost: 0.0123,
		})
		if len(batch) == cap(batch) {
			if err := st.PutSpend(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := os.WriteFile(stamp, []byte(end.Format(time.RFC3339)), 0o644); err != nil {
		b.Fatal(err)
	}
	return st, end
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

// BenchmarkFirstPaint serves the overview's first paint from an embedded
// store of a million records. Cold: a fresh console per iteration (a new
// instance: nothing cached), last day. Warm30d: the 30-day view once its
// settled days are cached (every later view on an instance).
func BenchmarkFirstPaint(b *testing.B) {
	st, end := benchStore(b)
	now := func() time.Time { return end }
	ck := &http.Cookie{Name: cookieName, Value: newSigner(testMaster).encode(session{Role: roleAdmin, Expires: end.Add(time.Hour).Unix(), Nonce: "n"})}
	b.Run("Cold/day", func(b *testing.B) {
		for b.Loop() {
			firstPaint(b, New(Options{MasterKey: testMaster, Spend: st, Now: now}), ck, "day")
		}
	})
	b.Run("Cold/hour", func(b *testing.B) {
		for b.Loop() {
			firstPaint(b, New(Options{MasterKey: testMaster, Spend: st, Now: now}), ck, "hour")
		}
	})
	b.Run("Warm/month", func(b *testing.B) {
		c := New(Options{MasterKey: testMaster, Spend: st, Now: now})
		firstPaint(b, c, ck, "month")
		for b.Loop() {
			firstPaint(b, c, ck, "month")
		}
	})
	b.Run("Warm/spend-by-user-30d", func(b *testing.B) {
		c := New(Options{MasterKey: testMaster, Spend: st, Now: now})
		q := "/ui/api/spend?group_by=user&start_date=" + end.AddDate(0, 0, -29).Format(time.DateOnly) + "&end_date=" + end.Format(time.DateOnly)
		get := func() {
			r := httptest.NewRequest("GET", "https://gw.example"+q, nil)
			r.AddCookie(ck)
			w := httptest.NewRecorder()
			c.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Fatal(w.Body)
			}
		}
		get()
		for b.Loop() {
			get()
		}
	})
}
