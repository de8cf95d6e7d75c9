package console

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/identity"
	"github.com/claude-gateway/claude-gateway/core/spend"
	"github.com/claude-gateway/claude-gateway/core/store/embedded"
	"github.com/claude-gateway/claude-gateway/core/store/memory"
)

// scanOnly hides a store's own totals (spend.Reporter, spend.SeriesReporter):
// the console then computes every page from the records.
type scanOnly struct{ spend.Store }

// TestStoreTotalsMatchScannedPages: every spend page's data (overview for
// the last hour, day and 30 days; spend by each grouping over date ranges
// that include today, a single day and none) is the same whether it comes
// from the embedded store's totals or from reading the records, for an
// admin and for a key session.
func TestStoreTotalsMatchScannedPages(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 7, 33, 123, time.UTC)
	clock := func() time.Time { return now }
	ctx := context.Background()
	repo := identity.Repo{Store: memory.New(clock)}
	if err := repo.PutTeam(ctx, &identity.Team{TeamID: "core"}); err != nil {
		t.Fatal(err)
	}
	const devKey = "sk-dev-0123456789abcdef0123"
	if err := repo.Put(ctx, &identity.Key{Token: identity.HashKey(devKey), UserID: "dev", TeamID: "core"}); err != nil {
		t.Fatal(err)
	}
	st, err := embedded.Open(filepath.Join(t.TempDir(), "state"), embedded.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rng := rand.New(rand.NewPCG(11, 12))
	keys := []string{identity.HashKey(devKey), spend.HashKey("sk-other"), ""}
	recs := make([]spend.Record, 3000)
	for i := range recs {
		// Most within the last day, the rest over 35 days; some on boundaries.
		ago := time.Duration(rng.Int64N(int64(26 * time.Hour)))
		if i%3 == 0 {
			ago = time.Duration(rng.Int64N(int64(35 * 24 * time.Hour)))
		}
		start := now.Add(-ago)
		if i%17 == 0 {
			start = start.Truncate(15 * time.Minute)
		}
		recs[i] = spend.Record{CallID: fmt.Sprint("c", i), StartTime: start, KeyHash: keys[i%3], UserID: []string{"dev", "ana", ""}[i%3],
			TeamID: []string{"core", "web"}[i%2], ModelGroup: []string{"sonnet", "haiku", "opus"}[i%3], DeploymentID: fmt.Sprint("dep-", i%5),
			Provider: []string{"bedrock", "vertex_ai"}[i%2], Status: []int{200, 200, 529, 0, 429}[i%5], TTFTMillis: int64(rng.IntN(3000)),
			InputTokens: rng.Int64N(4000), OutputTokens: rng.Int64N(800), CacheReadInputTokens: rng.Int64N(3) * 1000, Cost: rng.Float64() / 20}
	}
	if err := st.PutSpend(ctx, recs); err != nil {
		t.Fatal(err)
	}
	inMonth := 0
	for _, r := range recs {
		if !r.StartTime.Before(now.Truncate(24*time.Hour).AddDate(0, 0, -29)) {
			inMonth++
		}
	}
	fromTotals := New(Options{MasterKey: testMaster, Spend: st, Keys: repo, Now: clock})
	scanned := New(Options{MasterKey: testMaster, Spend: scanOnly{st}, Keys: repo, Now: clock})
	day := func(d int) string { return now.AddDate(0, 0, d).Format(time.DateOnly) }
	paths := []string{"/ui/api/overview?range=hour", "/ui/api/overview?range=day", "/ui/api/overview?range=month"}
	for _, by := range []string{"user", "team", "api_key", "model_group", "deployment", "provider", "day"} {
		paths = append(paths, "/ui/api/spend?group_by="+by,
			"/ui/api/spend?group_by="+by+"&start_date="+day(-29)+"&end_date="+day(0),
			"/ui/api/spend?group_by="+by+"&start_date="+day(-1)+"&end_date="+day(-1),
			"/ui/api/spend?group_by="+by+"&start_date="+day(5)+"&end_date="+day(6))
	}
	paths = append(paths, "/ui/api/spend.csv?group_by=user&start_date="+day(-29)+"&end_date="+day(0))
	for _, key := range []string{testMaster, devKey} {
		ckA, ckB := signInTo(t, fromTotals, key), signInTo(t, scanned, key)
		for _, p := range paths {
			a, b := get(t, fromTotals, ckA, p), get(t, scanned, ckB, p)
			if !sameJSON(a, b) {
				t.Fatalf("%s as %.6s...: from the store's totals\n%s\nfrom the records\n%s", p, key, a, b)
			}
			if want := fmt.Sprintf(`"totals":{"requests":%d,`, inMonth); key == testMaster && strings.Contains(p, "range=month") && !strings.Contains(a, want) {
				t.Fatalf("month totals are not the %d records of the last 30 days: %s", inMonth, a)
			}
		}
	}
}

func signInTo(t *testing.T, c *Console, key string) *http.Cookie {
	t.Helper()
	r := httptest.NewRequest("POST", testOrigin+"/ui/api/login", strings.NewReader(`{"key":"`+key+`"}`))
	r.Header.Set("Origin", testOrigin)
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	w := httptest.NewRecorder()
	c.ServeHTTP(w, r)
	for _, ck := range w.Result().Cookies() {
		if ck.Name == cookieName && w.Code == 200 {
			return ck
		}
	}
	t.Fatalf("sign-in: %d %s", w.Code, w.Body)
	return nil
}

func get(t *testing.T, c *Console, ck *http.Cookie, path string) string {
	t.Helper()
	r := httptest.NewRequest("GET", testOrigin+path, nil)
	r.AddCookie(ck)
	w := httptest.NewRecorder()
	c.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("%s: %d %s", path, w.Code, w.Body)
	}
	return w.Body.String()
}

// sameJSON compares two answers with numbers equal to 1e-9 (sums of costs
// taken in another order), or two CSV files by their cells.
func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return a == b
	}
	return near(x, y)
}

func near(x, y any) bool {
	switch x := x.(type) {
	case float64:
		y, ok := y.(float64)
		return ok && math.Abs(x-y) <= 1e-9*max(1, math.Abs(y))
	case []any:
		y, ok := y.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !near(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := y.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k := range x {
			if !near(x[k], y[k]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(x, y)
}
