package console

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/identity"
	"github.com/claude-gateway/claude-gateway/core/identity/keyadmin"
	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/claude-gateway/claude-gateway/core/spend"
	"github.com/claude-gateway/claude-gateway/core/store/memory"
)

const (
	testMaster = "sk-master-console-test"
	testHost   = "gw.example"
	testOrigin = "https://gw.example"
)

// fixture is a console over memory stores, with two virtual keys and a
// handful of spend records at known times.
type fixture struct {
	c          *Console
	now        time.Time
	repo       identity.Repo
	alice, bob string // virtual keys
	queries    *atomic.Int64
}

// countingStore counts QuerySpend calls, to see what the rollup caches.
type countingStore struct {
	spend.Store
	n *atomic.Int64
}

func (s countingStore) QuerySpend(ctx context.Context, q spend.Query) (spend.Page, error) {
	s.n.Add(1)
	return s.Store.QuerySpend(ctx, q)
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	now := time.Date(2026, 11, 20, 12, 7, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	repo := identity.Repo{Store: memory.New(clock)}
	f := &fixture{now: now, repo: repo, alice: "sk-alice-0123456789abcdef", bob: "sk-bob-0123456789abcdef00", queries: &atomic.Int64{}}
	ctx := context.Background()
	budget := 10.0
	for _, team := range []string{"core", "web"} {
		if err := repo.PutTeam(ctx, &identity.Team{TeamID: team}); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []*identity.Key{
		{Token: identity.HashKey(f.alice), KeyName: "sk-...cdef", KeyAlias: "alice-laptop", UserID: "alice", TeamID: "core", MaxBudget: &budget},
		{Token: identity.HashKey(f.bob), KeyName: "sk-...ef00", KeyAlias: "=cmd|' /C calc'!A0", UserID: "bob", TeamID: "web"},
	} {
		if err := repo.Put(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	ss := memory.NewSpendStore()
	var recs []spend.Record
	add := func(id string, ago time.Duration, key, user, model string, status int, ttft int64, cost float64) {
		recs = append(recs, spend.Record{CallID: id, StartTime: now.Add(-ago), KeyHash: identity.HashKey(key), UserID: user,
			ModelGroup: model, DeploymentID: model + "-1", Provider: "bedrock", Status: status, TTFTMillis: ttft,
			InputTokens: 100, OutputTokens: 10, Cost: cost})
	}
	add("a1", 2*time.Minute, f.alice, "alice", "sonnet", 200, 400, 0.5)
	add("a2", 3*time.Minute, f.alice, "alice", "sonnet", 200, 600, 0.25)
	add("a3", 30*time.Hour, f.alice, "alice", "opus", 200, 900, 2)
	add("b1", 5*time.Minute, f.bob, "bob", "haiku", 529, 0, 0)
	add("b2", 50*time.Minute, f.bob, "bob", "haiku", 200, 200, 0.125)
	if err := ss.PutSpend(ctx, recs); err != nil {
		t.Fatal(err)
	}
	admin := keyadmin.Handlers(repo, keyadmin.Options{Now: clock})
	f.c = New(Options{MasterKey: testMaster, Spend: countingStore{ss, f.queries}, Admin: admin, Keys: repo, Now: clock,
		Health: func(context.Context) []router.DeploymentHealth {
			return []router.DeploymentHealth{{ID: "haiku-1", Group: "haiku", Healthy: false, CooldownUntil: now.Add(time.Minute), CooldownReason: "529 overloaded_error"},
				{ID: "sonnet-1", Group: "sonnet", Healthy: true, RPM: 100, RPMUsed: 7}}
		}})
	return f
}

// do sends a request the way the console's page would (same origin), with
// an optional session cookie and CSRF token.
func (f *fixture) do(t *testing.T, method, path, body string, cookie *http.Cookie, csrf string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, "https://"+testHost+path, strings.NewReader(body))
	if method != http.MethodGet {
		r.Header.Set("Origin", testOrigin)
		r.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			r.Header.Del(hdr[i])
		} else {
			r.Header.Set(hdr[i], hdr[i+1])
		}
	}
	if cookie != nil {
		r.AddCookie(cookie)
	}
	if csrf != "" {
		r.Header.Set("X-CSRF-Token", csrf)
	}
	w := httptest.NewRecorder()
	f.c.ServeHTTP(w, r)
	return w
}

// signIn returns the session cookie and CSRF token for key.
func (f *fixture) signIn(t *testing.T, key string) (*http.Cookie, string) {
	t.Helper()
	w := f.do(t, "POST", "/ui/api/login", `{"key":"`+key+`"}`, nil, "")
	if w.Code != 200 {
		t.Fatalf("sign-in: %d %s", w.Code, w.Body)
	}
	var out struct {
		CSRF string `json:"csrf_token"`
	}
	json.Unmarshal(w.Body.Bytes(), &out)
	for _, c := range w.Result().Cookies() {
		if c.Name == cookieName {
			return c, out.CSRF
		}
	}
	t.Fatal("sign-in set no session cookie")
	return nil, ""
}

func TestSignIn(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name   string
		key    string
		hdr    []string
		status int
		role   string
	}{
		{name: "master key", key: testMaster, status: 200, role: roleAdmin},
		{name: "virtual key", key: f.alice, status: 200, role: roleKey},
		{name: "wrong key", key: "sk-wrong-0123456789abcdef", status: 401},
		{name: "master key from another origin", key: testMaster, hdr: []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}, status: 403},
		{name: "origin header of another host", key: testMaster, hdr: []string{"Sec-Fetch-Site", "", "Origin", "https://evil.example"}, status: 403},
		{name: "no origin at all", key: testMaster, hdr: []string{"Sec-Fetch-Site", "", "Origin", ""}, status: 403},
		{name: "origin header of this host", key: testMaster, hdr: []string{"Sec-Fetch-Site", "", "Origin", testOrigin}, status: 200, role: roleAdmin},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do(t, "POST", "/ui/api/login", `{"key":"`+tc.key+`"}`, nil, "", tc.hdr...)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.status != 200 {
				if len(w.Result().Cookies()) != 0 {
					t.Errorf("refused sign-in set a cookie")
				}
				return
			}
			var out map[string]any
			json.Unmarshal(w.Body.Bytes(), &out)
			if out["role"] != tc.role {
				t.Errorf("role %v, want %s", out["role"], tc.role)
			}
			set := w.Header().Get("Set-Cookie")
			for _, attr := range []string{"Secure", "HttpOnly", "SameSite=Strict", "Path=/ui"} {
				if !strings.Contains(set, attr) {
					t.Errorf("cookie lacks %s: %s", attr, set)
				}
			}
			if strings.Contains(set, tc.key) || strings.Contains(set, strings.TrimPrefix(tc.key, "sk-")) {
				t.Errorf("cookie carries the key: %s", set)
			}
		})
	}
}

func TestSessionRequired(t *testing.T) {
	f := newFixture(t)
	good, _ := f.signIn(t, testMaster)
	tampered := *good
	tampered.Value = strings.Replace(good.Value, good.Value[:4], "eyJy", 1) + "x"
	// A cookie signed for another gateway (another master key).
	foreign := &http.Cookie{Name: cookieName, Value: newSigner("sk-other").encode(session{Role: roleAdmin, Expires: f.now.Add(time.Hour).Unix(), Nonce: "n"})}
	expired := &http.Cookie{Name: cookieName, Value: f.c.sign.encode(session{Role: roleAdmin, Expires: f.now.Add(-time.Second).Unix(), Nonce: "n"})}
	for name, ck := range map[string]*http.Cookie{"none": nil, "tampered": &tampered, "foreign": foreign, "expired": expired, "good": good} {
		w := f.do(t, "GET", "/ui/api/session", "", ck, "")
		var out struct{ Role, CSRF string }
		json.Unmarshal(w.Body.Bytes(), &out)
		if want := map[bool]string{true: roleAdmin, false: ""}[name == "good"]; w.Code != 200 || out.Role != want {
			t.Errorf("session with %s cookie: %d role %q, want %q", name, w.Code, out.Role, want)
		}
	}
	for _, path := range []string{"/ui/api/overview", "/ui/api/spend", "/ui/api/logs", "/ui/api/deployments", "/ui/api/admin/key/list"} {
		for name, ck := range map[string]*http.Cookie{"none": nil, "tampered": &tampered, "foreign": foreign, "expired": expired} {
			if w := f.do(t, "GET", path, "", ck, ""); w.Code != 401 {
				t.Errorf("GET %s with %s cookie: %d, want 401", path, name, w.Code)
			}
		}
		if w := f.do(t, "GET", path, "", good, ""); w.Code != 200 {
			t.Errorf("GET %s signed in: %d %s", path, w.Code, w.Body)
		}
	}
}

func TestCSRF(t *testing.T) {
	f := newFixture(t)
	ck, token := f.signIn(t, testMaster)
	_, otherToken := f.signIn(t, testMaster)
	body := `{"key_alias":"made-by-test"}`
	tests := []struct {
		name   string
		token  string
		hdr    []string
		status int
	}{
		{name: "no token", status: 403},
		{name: "token of another session", token: otherToken, status: 403},
		{name: "right token from another site", token: token, hdr: []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}, status: 403},
		{name: "right token, same origin", token: token, status: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do(t, "POST", "/ui/api/admin/key/generate", body, ck, tc.token, tc.hdr...)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.status == 403 && !strings.Contains(w.Body.String(), `"permission_error"`) {
				t.Errorf("refusal not in the error shape: %s", w.Body)
			}
		})
	}
	// Only the accepted call made a key.
	ts, _ := f.repo.Tokens(context.Background())
	if len(ts) != 3 {
		t.Errorf("%d keys stored, want 3 (two seeded, one made)", len(ts))
	}
	if w := f.do(t, "POST", "/ui/api/logout", "{}", ck, ""); w.Code != 403 {
		t.Errorf("logout without token: %d, want 403", w.Code)
	}
}

func TestKeySessionSeesOnlyItsOwnUsage(t *testing.T) {
	f := newFixture(t)
	ck, _ := f.signIn(t, f.alice)
	for _, path := range []string{"/ui/api/deployments", "/ui/api/admin/key/list", "/ui/api/key-spend?tokens=x"} {
		if w := f.do(t, "GET", path, "", ck, ""); w.Code != 403 {
			t.Errorf("key session GET %s: %d, want 403", path, w.Code)
		}
	}
	var ov series
	w := f.do(t, "GET", "/ui/api/overview?range=hour", "", ck, "")
	json.Unmarshal(w.Body.Bytes(), &ov)
	if ov.Totals.Requests != 2 || ov.Totals.Spend != 0.75 {
		t.Errorf("alice's last hour: %+v, want her 2 requests and $0.75", ov.Totals)
	}
	// An api_key parameter naming someone else is overridden.
	w = f.do(t, "GET", "/ui/api/logs?api_key="+identity.HashKey(f.bob), "", ck, "")
	var logs struct{ Data []spend.Record }
	json.Unmarshal(w.Body.Bytes(), &logs)
	if len(logs.Data) != 3 {
		t.Fatalf("alice's log: %d records, want 3: %s", len(logs.Data), w.Body)
	}
	for _, r := range logs.Data {
		if r.UserID != "alice" {
			t.Errorf("alice sees %s's record %s", r.UserID, r.CallID)
		}
	}
	var rep spend.Report
	w = f.do(t, "GET", "/ui/api/spend?group_by=user&start_date=2026-11-01&end_date=2026-11-20", "", ck, "")
	json.Unmarshal(w.Body.Bytes(), &rep)
	if len(rep.Rows) != 1 || rep.Rows[0].Group != "alice" || rep.Total.Requests != 3 {
		t.Errorf("alice's spend by user: %+v", rep)
	}
	var info struct {
		Key map[string]any `json:"key"`
	}
	json.Unmarshal(f.do(t, "GET", "/ui/api/session", "", ck, "").Body.Bytes(), &info)
	if info.Key["key_alias"] != "alice-laptop" || info.Key["max_budget"] != 10.0 {
		t.Errorf("session key info: %v", info.Key)
	}
	if strings.Contains(w.Body.String(), f.alice) {
		t.Error("a response carries the key itself")
	}
}

func TestBlockedKeyEndsItsSession(t *testing.T) {
	f := newFixture(t)
	key, _ := f.signIn(t, f.alice)
	admin, token := f.signIn(t, testMaster)
	if w := f.do(t, "POST", "/ui/api/admin/key/block", `{"key":"`+identity.HashKey(f.alice)+`"}`, admin, token); w.Code != 200 {
		t.Fatalf("block: %d %s", w.Code, w.Body)
	}
	if w := f.do(t, "GET", "/ui/api/overview", "", key, ""); w.Code != 401 {
		t.Errorf("blocked key's session: %d, want 401", w.Code)
	}
	if w := f.do(t, "POST", "/ui/api/login", `{"key":"`+f.alice+`"}`, nil, ""); w.Code != 401 {
		t.Errorf("blocked key signs in: %d", w.Code)
	}
}

func TestOverview(t *testing.T) {
	f := newFixture(t)
	ck, _ := f.signIn(t, testMaster)
	tests := []struct {
		rng          string
		points       int
		step         int64
		requests     int64
		errors       int64
		spend        float64
		p50, p99     float64
		lastRequests int64
	}{
		// 12:07 now; records at 12:05 (bob, 529), 12:04, 12:03 (alice), 11:17 (bob), yesterday 06:07 (alice).
		{rng: "hour", points: 60, step: 60, requests: 4, errors: 1, spend: 0.875, p50: 400, p99: 600},
		{rng: "day", points: 96, step: 900, requests: 4, errors: 1, spend: 0.875, p50: 400, p99: 600, lastRequests: 3},
		{rng: "month", points: 30, step: 86400, requests: 5, errors: 1, spend: 2.875, p50: 400, p99: 900, lastRequests: 4},
	}
	for _, tc := range tests {
		t.Run(tc.rng, func(t *testing.T) {
			w := f.do(t, "GET", "/ui/api/overview?range="+tc.rng, "", ck, "")
			var s series
			if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil || w.Code != 200 {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if len(s.T) != tc.points || len(s.Reqs) != tc.points || len(s.P99) != tc.points || s.Step != tc.step {
				t.Fatalf("%d points of %d s, want %d of %d", len(s.T), s.Step, tc.points, tc.step)
			}
			if s.T[len(s.T)-1] > f.now.Unix() || s.T[len(s.T)-1]+tc.step <= f.now.Unix() {
				t.Errorf("last bucket %d does not hold now", s.T[len(s.T)-1])
			}
			tot := s.Totals
			if tot.Requests != tc.requests || tot.Errors != tc.errors || tot.Spend != tc.spend {
				t.Errorf("totals %+v, want %d requests %d errors $%v", tot, tc.requests, tc.errors, tc.spend)
			}
			// Histogram bins are ~9% wide: the quantile is within one bin.
			if tot.P50 == nil || *tot.P50 < tc.p50*0.91 || *tot.P50 > tc.p50*1.09 || tot.P99 == nil || *tot.P99 < tc.p99*0.91 || *tot.P99 > tc.p99*1.09 {
				t.Errorf("ttft p50 %v p99 %v, want ~%v ~%v", deref(tot.P50), deref(tot.P99), tc.p50, tc.p99)
			}
			if tc.lastRequests > 0 && s.Reqs[len(s.Reqs)-1] != tc.lastRequests {
				t.Errorf("current bucket holds %d requests, want %d", s.Reqs[len(s.Reqs)-1], tc.lastRequests)
			}
		})
	}
	if w := f.do(t, "GET", "/ui/api/overview?range=year", "", ck, ""); w.Code != 400 {
		t.Errorf("unknown range: %d", w.Code)
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestSpendReportAndCSV(t *testing.T) {
	f := newFixture(t)
	ck, _ := f.signIn(t, testMaster)
	tests := []struct {
		by   string
		want map[string]int64 // group -> requests
	}{
		{"user", map[string]int64{"alice": 3, "bob": 2}},
		{"model_group", map[string]int64{"sonnet": 2, "opus": 1, "haiku": 2}},
		{"deployment", map[string]int64{"sonnet-1": 2, "opus-1": 1, "haiku-1": 2}},
		{"day", map[string]int64{"2026-11-19": 1, "2026-11-20": 4}},
		{"provider", map[string]int64{"bedrock": 5}},
	}
	for _, tc := range tests {
		t.Run(tc.by, func(t *testing.T) {
			w := f.do(t, "GET", "/ui/api/spend?group_by="+tc.by+"&start_date=2026-11-14&end_date=2026-11-20", "", ck, "")
			var rep spend.Report
			json.Unmarshal(w.Body.Bytes(), &rep)
			got := map[string]int64{}
			for _, r := range rep.Rows {
				got[r.Group] = r.Requests
			}
			if len(got) != len(tc.want) || rep.Total.Requests != 5 || rep.Total.Cost != 2.875 {
				t.Fatalf("rows %v total %+v, want %v", got, rep.Total, tc.want)
			}
			for g, n := range tc.want {
				if got[g] != n {
					t.Errorf("%s: %d requests, want %d", g, got[g], n)
				}
			}
		})
	}
	w := f.do(t, "GET", "/ui/api/spend.csv?group_by=api_key&start_date=2026-11-20&end_date=2026-11-20", "", ck, "")
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") || !strings.Contains(w.Header().Get("Content-Disposition"), "spend-api_key-2026-11-20-2026-11-20.csv") {
		t.Errorf("csv headers: %v", w.Header())
	}
	rows, err := csv.NewReader(w.Body).ReadAll()
	if err != nil || len(rows) != 4 || rows[0][0] != "api_key" || rows[3][0] != "total" || rows[3][1] != "4" || rows[3][8] != "0.875000" {
		t.Errorf("csv %v, %v", rows, err)
	}
	for _, tc := range []struct{ from, to string }{{"2026-11-20", "2026-11-19"}, {"yesterday", ""}, {"2024-01-01", "2026-11-20"}} {
		if w := f.do(t, "GET", "/ui/api/spend?start_date="+tc.from+"&end_date="+tc.to, "", ck, ""); w.Code != 400 {
			t.Errorf("range %s..%s: %d, want 400", tc.from, tc.to, w.Code)
		}
	}
}

func TestCSVCellDefusesFormulas(t *testing.T) {
	for in, want := range map[string]string{"=cmd|' /C calc'!A0": "'=cmd|' /C calc'!A0", "+1": "'+1", "-x": "'-x", "@sum": "'@sum", "alice": "alice", "": ""} {
		if got := csvCell(in); got != want {
			t.Errorf("csvCell(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRollupCachesSettledBuckets(t *testing.T) {
	f := newFixture(t)
	ck, _ := f.signIn(t, testMaster)
	get := func() (int64, string) {
		before := f.queries.Load()
		w := f.do(t, "GET", "/ui/api/overview?range=month", "", ck, "")
		if w.Code != 200 {
			t.Fatal(w.Body)
		}
		var s series
		json.Unmarshal(w.Body.Bytes(), &s)
		s.Refresh = ""
		b, _ := json.Marshal(s)
		return f.queries.Load() - before, string(b)
	}
	first, a := get()
	second, b := get()
	// Now is 12:07: the open part of today is the 11:45 slice (not settled
	// for 15 minutes) and the current one, read as one run.
	if first < 2 || second != 1 || a != b {
		t.Errorf("store queries: %d then %d (want 1: only today's open slices); same answer: %v", first, second, a == b)
	}
}

func TestDeployments(t *testing.T) {
	f := newFixture(t)
	ck, _ := f.signIn(t, testMaster)
	w := f.do(t, "GET", "/ui/api/deployments", "", ck, "")
	var out struct {
		Deployments []deploymentView `json:"deployments"`
	}
	json.Unmarshal(w.Body.Bytes(), &out)
	if len(out.Deployments) != 2 {
		t.Fatalf("%s", w.Body)
	}
	h := out.Deployments[0]
	if h.Healthy || !h.CooldownUntil.Equal(f.now.Add(time.Minute)) || h.RecentRequests != 2 || h.RecentFailures != 1 ||
		len(h.RecentErrors) != 1 || h.RecentErrors[0].Status != 529 || h.RecentErrors[0].RequestID != "b1" {
		t.Errorf("haiku-1: %+v", h)
	}
	if s := out.Deployments[1]; !s.Healthy || s.RPMUsed != 7 || s.RPM != 100 || len(s.RecentErrors) != 0 {
		t.Errorf("sonnet-1: %+v", s)
	}
}

func TestKeySpend(t *testing.T) {
	f := newFixture(t)
	// Charge alice's budget counter as the Gatekeeper does (micro-USD in the window).
	g := identity.NewGatekeeper(f.repo.Store, identity.Options{Now: func() time.Time { return f.now }})
	c, e := g.Admit(context.Background(), f.alice)
	if e != nil {
		t.Fatal(e)
	}
	if e := c.Begin(context.Background(), "sonnet"); e != nil {
		t.Fatal(e)
	}
	c.End(1.5, 10)
	g.Wait()
	ck, _ := f.signIn(t, testMaster)
	w := f.do(t, "GET", "/ui/api/key-spend?tokens="+identity.HashKey(f.alice)+","+identity.HashKey(f.bob)+",unknown", "", ck, "")
	var out struct {
		Data map[string]struct {
			Spend     float64  `json:"spend"`
			MaxBudget *float64 `json:"max_budget"`
		} `json:"data"`
	}
	json.Unmarshal(w.Body.Bytes(), &out)
	a := out.Data[identity.HashKey(f.alice)]
	if len(out.Data) != 2 || a.Spend != 1.5 || a.MaxBudget == nil || *a.MaxBudget != 10 {
		t.Errorf("key spend: %s", w.Body)
	}
}

func TestPageAndAssets(t *testing.T) {
	f := newFixture(t)
	w := f.do(t, "GET", "/ui/", "", nil, "", "Accept-Encoding", "")
	page := w.Body.String()
	if w.Code != 200 || !strings.Contains(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("index: %d %v", w.Code, w.Header())
	}
	cspv := w.Header().Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(cspv, want) {
			t.Errorf("CSP lacks %q: %s", want, cspv)
		}
	}
	if strings.Contains(cspv, "unsafe") {
		t.Errorf("CSP allows unsafe sources: %s", cspv)
	}
	// No inline script, no inline style, no inline handlers.
	for _, bad := range []*regexp.Regexp{regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`),
		regexp.MustCompile(`<style`), regexp.MustCompile(`\sstyle=`), regexp.MustCompile(`\son[a-z]+=`)} {
		if m := bad.FindString(page); m != "" {
			t.Errorf("index has inline code: %q", m)
		}
	}
	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(page, -1) {
		if !strings.Contains(tag, ` src="assets/`) {
			t.Errorf("script not from this origin's assets: %s", tag)
		}
	}
	srcs := regexp.MustCompile(`(?:src|href)="(assets/[^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(srcs) < 4 {
		t.Fatalf("index links %d assets", len(srcs))
	}
	for _, m := range srcs {
		w := f.do(t, "GET", "/ui/"+m[1], "", nil, "", "Accept-Encoding", "gzip")
		if w.Code != 200 || w.Header().Get("Content-Encoding") != "gzip" || !strings.Contains(w.Header().Get("Cache-Control"), "immutable") {
			t.Errorf("%s: %d %v", m[1], w.Code, w.Header())
		}
	}
	if w := f.do(t, "GET", "/ui/assets/app.js", "", nil, "", "Accept-Encoding", ""); w.Header().Get("Content-Type") != "text/javascript; charset=utf-8" || w.Header().Get("Cache-Control") != "no-cache" {
		t.Errorf("app.js without version: %v", w.Header())
	}
	if w := f.do(t, "GET", "/ui/assets/nope.js", "", nil, ""); w.Code != 404 {
		t.Errorf("missing asset: %d", w.Code)
	}
	if w := f.do(t, "GET", "/ui", "", nil, ""); w.Code != 301 || w.Header().Get("Location") != "/ui/" {
		t.Errorf("/ui: %d %v", w.Code, w.Header())
	}
	const budget = 300 << 10
	if n := f.c.assets.load().compressedSize(); n > budget {
		t.Errorf("console is %d bytes gzipped, over %d", n, budget)
	} else {
		t.Logf("console: %d bytes gzipped", n)
	}
}

func TestNoMasterKeyNoConsole(t *testing.T) {
	c := New(Options{Spend: memoryStore()})
	w := httptest.NewRecorder()
	c.ServeHTTP(w, httptest.NewRequest("GET", "/ui/", nil))
	body, _ := io.ReadAll(w.Body)
	if w.Code != 503 || !strings.Contains(string(body), "master_key") {
		t.Errorf("%d %s", w.Code, body)
	}
}

func memoryStore() spend.Store { return memory.NewSpendStore() }

// Admin routes the console was given, such as LiteLLM's /team/* that
// another package serves, are reachable under /ui/api/admin for admin
// sessions only, with the CSRF rule on writes.
func TestAdminRoutesForwarded(t *testing.T) {
	f := newFixture(t)
	var got []string
	f.c = New(Options{MasterKey: testMaster, Spend: memoryStore(), Keys: f.repo, Now: func() time.Time { return f.now },
		Admin: map[string]http.Handler{
			"GET /team/list": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = append(got, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
				io.WriteString(w, `[{"team_id":"core","team_alias":"Core","max_budget":100,"spend":12.5}]`)
			}),
			"POST /team/new": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				got = append(got, r.Method+" "+r.URL.Path+" "+string(b))
				io.WriteString(w, `{"team_id":"web"}`)
			}),
		}})
	admin, token := f.signIn(t, testMaster)
	key, keyToken := f.signIn(t, f.alice)
	tests := []struct {
		name, method, path, body string
		ck                       *http.Cookie
		csrf                     string
		status                   int
	}{
		{"admin lists teams", "GET", "/ui/api/admin/team/list?page=2", "", admin, "", 200},
		{"admin creates a team", "POST", "/ui/api/admin/team/new", `{"team_alias":"Web"}`, admin, token, 200},
		{"admin without CSRF token", "POST", "/ui/api/admin/team/new", `{}`, admin, "", 403},
		{"key session lists teams", "GET", "/ui/api/admin/team/list", "", key, "", 403},
		{"key session creates a team", "POST", "/ui/api/admin/team/new", `{}`, key, keyToken, 403},
		{"route this gateway lacks", "GET", "/ui/api/admin/user/list", "", admin, "", 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if w := f.do(t, tc.method, tc.path, tc.body, tc.ck, tc.csrf); w.Code != tc.status {
				t.Errorf("%d, want %d: %s", w.Code, tc.status, w.Body)
			}
		})
	}
	if want := []string{"GET /team/list?page=2", `POST /team/new {"team_alias":"Web"}`}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("admin handlers saw %q, want %q", got, want)
	}
}

func TestWrongKeysThrottled(t *testing.T) {
	f := newFixture(t)
	for i := range maxFailedSignIns {
		if w := f.do(t, "POST", "/ui/api/login", `{"key":"sk-guess-`+strings.Repeat("x", i+1)+`"}`, nil, ""); w.Code != 401 {
			t.Fatalf("guess %d: %d", i, w.Code)
		}
	}
	// Even the right key waits out the minute from this address...
	if w := f.do(t, "POST", "/ui/api/login", `{"key":"`+testMaster+`"}`, nil, ""); w.Code != 429 || w.Header().Get("Retry-After") == "" {
		t.Errorf("after %d wrong keys: %d %v", maxFailedSignIns, w.Code, w.Header())
	}
	// ...while another address signs in.
	r := httptest.NewRequest("POST", "https://"+testHost+"/ui/api/login", strings.NewReader(`{"key":"`+testMaster+`"}`))
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	r.RemoteAddr = "198.51.100.7:4000"
	w := httptest.NewRecorder()
	f.c.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Errorf("another address: %d", w.Code)
	}
}

func TestUsersAndTeamsListed(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	budget := 5.0
	f.repo.PutUser(ctx, &identity.User{UserID: "alice", UserRole: identity.RoleInternalUser, Policy: identity.Policy{MaxBudget: &budget}})
	f.repo.PutTeam(ctx, &identity.Team{TeamID: "core", TeamAlias: "Core"})
	admin, _ := f.signIn(t, testMaster)
	var users struct {
		Users []map[string]any `json:"users"`
		Total int              `json:"total"`
	}
	json.Unmarshal(f.do(t, "GET", "/ui/api/users", "", admin, "").Body.Bytes(), &users)
	if users.Total != 1 || users.Users[0]["user_id"] != "alice" || users.Users[0]["max_budget"] != 5.0 || users.Users[0]["spend"] != 0.0 {
		t.Errorf("users %+v", users)
	}
	var teams []map[string]any
	json.Unmarshal(f.do(t, "GET", "/ui/api/teams", "", admin, "").Body.Bytes(), &teams)
	if len(teams) != 2 || teams[0]["team_alias"] != "Core" || teams[1]["team_id"] != "web" {
		t.Errorf("teams %+v", teams)
	}
	key, _ := f.signIn(t, f.alice)
	for _, p := range []string{"/ui/api/users", "/ui/api/teams"} {
		if w := f.do(t, "GET", p, "", key, ""); w.Code != 403 {
			t.Errorf("key session %s: %d", p, w.Code)
		}
	}
}
