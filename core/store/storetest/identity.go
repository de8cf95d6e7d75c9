package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/identity"
	"github.com/claude-gateway/claude-gateway/core/identity/keyadmin"
	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/claude-gateway/claude-gateway/core/spend"
)

// testIdentityKeys: key documents written, listed, updated and deleted
// through the store; a deleted key reads as unknown.
func testIdentityKeys(t *testing.T, s router.Store, _ spend.Store) {
	ctx := ctxT(t)
	repo := identity.Repo{Store: s}
	var tokens []string
	t0 := time.Now().UTC()
	for i := range 5 {
		k := &identity.Key{Token: identity.HashKey(fmt.Sprintf("sk-conformance-%d", i)), KeyAlias: fmt.Sprint("dev-", i), Models: []string{"claude-*"},
			CreatedAt: t0.Add(time.Duration(i) * time.Millisecond)}
		if err := repo.Put(ctx, k); err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, k.Token)
	}
	got, err := repo.Tokens(ctx)
	if err != nil || fmt.Sprint(got) != fmt.Sprint(tokens) {
		t.Fatalf("Tokens = %v, %v; want %v", got, err, tokens)
	}
	if err := repo.Delete(ctx, tokens[2]); err != nil {
		t.Fatal(err)
	}
	keys, err := repo.GetMany(ctx, tokens)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		if (k == nil) != (i == 2) || (k != nil && k.KeyAlias != fmt.Sprint("dev-", i)) {
			t.Fatalf("GetMany[%d] = %+v after deleting 2", i, k)
		}
	}
	if got, _ := repo.Tokens(ctx); len(got) != 4 {
		t.Fatalf("Tokens after delete = %v", got)
	}
}

// testIdentityBudgetRace: 50 goroutines charge one key, its user and its
// team at once; every charge lands exactly once at every level and a fresh
// instance sees the sums.
func testIdentityBudgetRace(t *testing.T, s router.Store, _ spend.Store) {
	ctx := ctxT(t)
	max := 100.0
	a := identity.NewGatekeeper(s, identity.Options{})
	repo := a.Repo()
	u := &identity.User{UserID: "race-user", Policy: identity.Policy{MaxBudget: &max, BudgetDuration: "1d"}}
	tm := &identity.Team{TeamID: "race-team", Policy: identity.Policy{MaxBudget: &max}}
	if err := repo.PutUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := repo.PutTeam(ctx, tm); err != nil {
		t.Fatal(err)
	}
	secret := identity.NewSecret()
	if err := repo.Put(ctx, &identity.Key{Token: identity.HashKey(secret), MaxBudget: &max, BudgetDuration: "30d", UserID: u.UserID, TeamID: tm.TeamID}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, e := a.Admit(ctx, secret)
			if e != nil {
				t.Error(e)
				return
			}
			if e := c.Begin(ctx, "m"); e != nil {
				t.Error(e)
				return
			}
			c.End(0.5, 1)
		}()
	}
	wg.Wait()
	a.Wait()
	b := identity.NewGatekeeper(s, identity.Options{})
	c, e := b.Admit(context.Background(), secret)
	if e != nil {
		t.Fatal(e)
	}
	hdr := http.Header{}
	c.Headers(hdr)
	if spendHdr := hdr.Get("x-litellm-key-spend"); spendHdr != "25.000000" {
		t.Fatalf("spend seen by a fresh instance = %s, want 25.000000 (50 x 0.5)", spendHdr)
	}
	now := time.Now()
	us, err1 := repo.UserSpend(ctx, u, now)
	ts, err2 := repo.TeamSpend(ctx, tm, now)
	if err1 != nil || err2 != nil || us != 25 || ts != 25 {
		t.Fatalf("user spend %v (%v), team spend %v (%v); want 25 each", us, err1, ts, err2)
	}
}

// testIdentityOwners: users and teams written, listed, read in one call and
// deleted through the store.
func testIdentityOwners(t *testing.T, s router.Store, _ spend.Store) {
	ctx := ctxT(t)
	repo := identity.Repo{Store: s}
	for i := range 3 {
		if err := repo.PutUser(ctx, &identity.User{UserID: fmt.Sprint("user-", i), UserEmail: fmt.Sprintf("u%d@example.com", i)}); err != nil {
			t.Fatal(err)
		}
		if err := repo.PutTeam(ctx, &identity.Team{TeamID: fmt.Sprint("team-", i), MembersWithRoles: []identity.Member{{Role: "user", UserID: fmt.Sprint("user-", i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := repo.DeleteUser(ctx, "user-1"); err != nil {
		t.Fatal(err)
	}
	if err := repo.DeleteTeam(ctx, "team-0"); err != nil {
		t.Fatal(err)
	}
	uids, err1 := repo.UserIDs(ctx)
	tids, err2 := repo.TeamIDs(ctx)
	if err1 != nil || err2 != nil || fmt.Sprint(uids) != "[user-0 user-2]" || fmt.Sprint(tids) != "[team-1 team-2]" {
		t.Fatalf("UserIDs %v (%v), TeamIDs %v (%v)", uids, err1, tids, err2)
	}
	us, err := repo.GetUsers(ctx, []string{"user-0", "user-1", "nobody"})
	if err != nil || us[0] == nil || us[0].UserEmail != "u0@example.com" || us[1] != nil || us[2] != nil {
		t.Fatalf("GetUsers = %v, %v", us, err)
	}
	ts, err := repo.GetTeams(ctx, []string{"team-0", "team-2"})
	if err != nil || ts[0] != nil || ts[1] == nil || ts[1].MembersWithRoles[0].UserID != "user-2" {
		t.Fatalf("GetTeams = %v, %v", ts, err)
	}
}

// testIdentityExpiry: a key past its expiry is refused, and a budget window
// resets by itself when the next window starts (its counter is another one;
// the old one expires in the store).
func testIdentityExpiry(t *testing.T, s router.Store, _ spend.Store) {
	ctx := ctxT(t)
	now := time.Now()
	clock := func() time.Time { return now }
	g := identity.NewGatekeeper(s, identity.Options{Now: clock})
	one := 1.0
	exp := now.Add(90 * time.Minute)
	expiring, budgeted := identity.NewSecret(), identity.NewSecret()
	for _, k := range []*identity.Key{
		{Token: identity.HashKey(expiring), Expires: &exp},
		{Token: identity.HashKey(budgeted), MaxBudget: &one, BudgetDuration: "1h"},
	} {
		if err := g.Repo().Put(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	c, e := g.Admit(ctx, budgeted)
	if e != nil || c.Begin(ctx, "m") != nil {
		t.Fatalf("budgeted key: %v", e)
	}
	c.End(1.0, 0)
	g.Wait()
	if c, _ := g.Admit(ctx, budgeted); c.Begin(ctx, "m") == nil {
		t.Fatal("spent budget admitted")
	}
	now = now.Add(time.Hour) // the next 1h window
	if err := g.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if c, _ := g.Admit(ctx, budgeted); c.Begin(ctx, "m") != nil {
		t.Fatal("budget did not reset in the next window")
	}
	if _, e := g.Admit(ctx, expiring); e != nil {
		t.Fatalf("key before its expiry: %v", e)
	}
	now = now.Add(time.Hour)
	if _, e := g.Admit(ctx, expiring); e == nil || e.Status != 401 {
		t.Fatalf("key after its expiry: %v, want 401", e)
	}
}

// testIdentityPaging: /key/list pages through 25 keys in the store, each
// once, with LiteLLM's page fields.
func testIdentityPaging(t *testing.T, s router.Store, _ spend.Store) {
	ctx := ctxT(t)
	repo := identity.Repo{Store: s}
	want := map[string]bool{}
	for i := range 25 {
		k := &identity.Key{Token: identity.HashKey(fmt.Sprintf("sk-paging-%02d-0000000000", i)), TeamID: []string{"a", "b"}[i%2]}
		if err := repo.Put(ctx, k); err != nil {
			t.Fatal(err)
		}
		want[k.Token] = true
	}
	mux := http.NewServeMux()
	for p, h := range keyadmin.Handlers(repo, keyadmin.Options{}) {
		mux.Handle(p, h)
	}
	list := func(q string) (keys []string, total, pages int) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", "/key/list?"+q, nil))
		var out struct {
			Keys       []string `json:"keys"`
			TotalCount int      `json:"total_count"`
			TotalPages int      `json:"total_pages"`
		}
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &out) != nil {
			t.Fatalf("/key/list?%s: %d %s", q, rec.Code, rec.Body.String())
		}
		return out.Keys, out.TotalCount, out.TotalPages
	}
	seen := map[string]bool{}
	for page := 1; page <= 3; page++ {
		keys, total, pages := list(fmt.Sprintf("page=%d&size=10", page))
		if total != 25 || pages != 3 || len(keys) != []int{10, 10, 5}[page-1] {
			t.Fatalf("page %d: %d keys, total %d, pages %d", page, len(keys), total, pages)
		}
		for _, k := range keys {
			if seen[k] || !want[k] {
				t.Fatalf("page %d: key %s repeated or unknown", page, k)
			}
			seen[k] = true
		}
	}
	if keys, total, _ := list("team_id=b&size=100"); total != 12 || len(keys) != 12 {
		t.Fatalf("team_id=b: %d keys, total %d; want 12", len(keys), total)
	}
}

// adminMux serves the key, user and team admin routes over repo, as every
// instance of the gateway does over the shared store.
func adminMux(repo identity.Repo) *http.ServeMux {
	mux := http.NewServeMux()
	for p, h := range keyadmin.Handlers(repo, keyadmin.Options{}) {
		mux.Handle(p, h)
	}
	return mux
}

// adminCall sends one admin request and decodes the answer into out.
func adminCall(t *testing.T, mux http.Handler, method, target, body string, out any) {
	t.Helper()
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(method, target, strings.NewReader(body)))
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), out) != nil {
		t.Errorf("%s %s: %d %s", method, target, rec.Code, rec.Body.String())
	}
}

// keyPages walks /key/list page by page (size 10) and returns the hashes in order.
func keyPages(t *testing.T, mux http.Handler) []string {
	t.Helper()
	var all []string
	for page := 1; ; page++ {
		var out struct {
			Keys       []string `json:"keys"`
			TotalPages int      `json:"total_pages"`
		}
		adminCall(t, mux, "GET", fmt.Sprintf("/key/list?page=%d&size=10", page), "", &out)
		all = append(all, out.Keys...)
		if page >= out.TotalPages || len(out.Keys) == 0 {
			return all
		}
	}
}

// testIdentityConcurrentGenerate: 50 goroutines, each its own admin API
// over the shared store (50 instances), generate a key and create a user at
// once; every key and user is listed exactly once, and /key/list pages
// through all of them. Meanwhile an admin pages through the keys that were
// there before: each of those is on exactly one page (listings are in
// creation order, so new keys land after them; a key generated during the
// walk may show on two pages or none, as with any page-number paging).
func testIdentityConcurrentGenerate(t *testing.T, s router.Store, _ spend.Store) {
	const before, racers = 15, 50
	first := adminMux(identity.Repo{Store: s})
	old := map[string]bool{}
	for i := range before {
		var g struct{ Token string }
		adminCall(t, first, "POST", "/key/generate", fmt.Sprintf(`{"key_alias":"old-%d"}`, i), &g)
		old[g.Token] = true
	}
	want := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mux := adminMux(identity.Repo{Store: s})
			<-start
			var g struct{ Token string }
			adminCall(t, mux, "POST", "/key/generate", fmt.Sprintf(`{"key_alias":"racer-%d"}`, i), &g)
			var u struct{}
			adminCall(t, mux, "POST", "/user/new", fmt.Sprintf(`{"user_id":"racer-%02d","auto_create_key":false}`, i), &u)
			mu.Lock()
			want[g.Token] = true
			mu.Unlock()
		}()
	}
	close(start)
	during := keyPages(t, first)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	seen := map[string]int{}
	for _, k := range during {
		seen[k]++
	}
	for k := range old {
		if seen[k] != 1 {
			t.Errorf("paging during the generates: existing key %s listed %d times, want 1", k, seen[k])
		}
	}
	for k := range old {
		want[k] = true
	}
	after := keyPages(t, first)
	got := map[string]int{}
	for _, k := range after {
		got[k]++
	}
	if len(after) != before+racers || len(got) != before+racers {
		t.Fatalf("after the generates: %d keys listed (%d distinct), want %d", len(after), len(got), before+racers)
	}
	for k := range want {
		if got[k] != 1 {
			t.Errorf("key %s listed %d times, want 1", k, got[k])
		}
	}
	var users struct {
		Users []identity.User `json:"users"`
		Total int             `json:"total"`
	}
	adminCall(t, first, "GET", "/user/list?page_size=100", "", &users)
	ids := map[string]bool{}
	for _, u := range users.Users {
		ids[u.UserID] = true
	}
	if users.Total != racers || len(users.Users) != racers || len(ids) != racers {
		t.Errorf("/user/list: total %d, %d users (%d distinct), want %d", users.Total, len(users.Users), len(ids), racers)
	}
}

// testIdentityLegacyIndex: keys an older gateway listed in its single index
// entry (a JSON array) are listed, once, after the upgrade; the entry is
// emptied and keys generated since are listed after them.
func testIdentityLegacyIndex(t *testing.T, s router.Store, _ spend.Store) {
	ctx := ctxT(t)
	repo := identity.Repo{Store: s}
	farFuture := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	t0 := time.Now().UTC().Add(-time.Hour)
	var old []string
	for i := range 3 {
		k := identity.Key{Token: identity.HashKey(fmt.Sprint("sk-legacy-", i)), KeyAlias: fmt.Sprint("legacy-", i), CreatedAt: t0.Add(time.Duration(i) * time.Second)}
		b, _ := json.Marshal(k)
		if err := s.Put(ctx, "idk:"+k.Token, string(b), farFuture); err != nil {
			t.Fatal(err)
		}
		old = append(old, k.Token)
	}
	b, _ := json.Marshal(append(old, identity.HashKey("sk-legacy-deleted")))
	if err := s.Put(ctx, "identity:keys", string(b), farFuture); err != nil {
		t.Fatal(err)
	}
	fresh := &identity.Key{Token: identity.HashKey("sk-after-upgrade"), CreatedAt: time.Now().UTC()}
	if err := repo.Put(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint(append(old, fresh.Token))
	for range 2 {
		got, err := repo.Tokens(ctx)
		if err != nil || fmt.Sprint(got) != want {
			t.Fatalf("Tokens = %v, %v; want %v", got, err, want)
		}
	}
	if es, err := s.Get(ctx, []string{"identity:keys"}); err != nil || es[0].Value != "[]" {
		t.Fatalf("old index entry after the migration = %q, %v; want []", es[0].Value, err)
	}
}

// testSets: the store's sets directly: members once, in byte order, paged by
// SetRange, removed.
func testSets(t *testing.T, s router.Store, _ spend.Store) {
	ctx := ctxT(t)
	sets, ok := s.(identity.Sets)
	if !ok {
		t.Fatalf("%T has no Sets", s)
	}
	odd := []string{"a/b", "ünï", "x y", strings.Repeat("m", 300), "%2F", ""}
	for i := range 30 {
		if err := sets.SetAdd(ctx, "conf", fmt.Sprintf("%03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range append(odd, "005", "017") { // odd members; two added again
		if err := sets.SetAdd(ctx, "conf", m); err != nil {
			t.Fatalf("SetAdd(%q): %v", m, err)
		}
	}
	if err := sets.SetAdd(ctx, "other", "000"); err != nil {
		t.Fatal(err)
	}
	if err := sets.SetRemove(ctx, "conf", "010"); err != nil {
		t.Fatal(err)
	}
	if err := sets.SetRemove(ctx, "conf", "never-added"); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 30 {
		if i != 10 {
			want = append(want, fmt.Sprintf("%03d", i))
		}
	}
	want = append(want, odd...)
	sort.Strings(want)
	want = want[1:] // "" is never greater than the start of a range
	var got []string
	for after := ""; ; {
		page, err := sets.SetRange(ctx, "conf", after, 7)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if len(page) < 7 {
			break
		}
		after = page[len(page)-1]
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("SetRange pages = %q\nwant %q", got, want)
	}
	i := sort.SearchStrings(want, "028") + 1
	if page, err := sets.SetRange(ctx, "conf", "028", 2); err != nil || fmt.Sprint(page) != fmt.Sprint(want[i:i+2]) {
		t.Fatalf("SetRange after 028 = %q, %v", page, err)
	}
	if page, err := sets.SetRange(ctx, "empty", "", 10); err != nil || len(page) != 0 {
		t.Fatalf("SetRange of an empty set = %q, %v", page, err)
	}
}
