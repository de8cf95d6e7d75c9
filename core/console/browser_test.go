package console

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The users and teams pages against admin handlers in LiteLLM's shapes
// (/user/list, /user/new, /team/list, /team/block), in headless Chromium.
// The whole console is driven through a real gateway in core/gateway's
// TestConsoleInBrowser.
func TestUsersAndTeamsPagesInBrowser(t *testing.T) {
	bin := os.Getenv("CHROMIUM_BIN")
	if bin == "" {
		bin = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(bin); err != nil {
		t.Skip("no Chromium (scripts/chromium.sh installs it; make test runs it)")
	}
	f := newFixture(t)
	var mu sync.Mutex
	var calls []string
	record := func(r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		calls = append(calls, r.URL.Path+" "+string(b))
		mu.Unlock()
	}
	blocked := false
	c := New(Options{MasterKey: testMaster, Spend: memoryStore(), Keys: f.repo, Admin: map[string]http.Handler{
		"GET /user/list": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"users":[{"user_id":"alice@corp","user_email":"alice@corp","user_role":"internal_user","max_budget":50,"spend":40,"models":["claude-sonnet"],"teams":["core"]}],"total":1,"page":1,"page_size":100,"total_pages":1}`)
		}),
		"POST /user/new": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			record(r)
			io.WriteString(w, `{"user_id":"bob@corp","key":"sk-user-key-shown-once-123456"}`)
		}),
		"GET /team/list": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			b := blocked
			mu.Unlock()
			json.NewEncoder(w).Encode([]map[string]any{{"team_id": "core", "team_alias": "<b>Core</b>", "max_budget": 100, "spend": 25,
				"models": []string{}, "members_with_roles": []map[string]string{{"user_id": "alice@corp", "role": "admin"}}, "blocked": b}})
		}),
		"POST /team/block": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			record(r)
			mu.Lock()
			blocked = true
			mu.Unlock()
			io.WriteString(w, `{"team_id":"core","blocked":true}`)
		}),
	}})
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	base := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/ui/"

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true), chromedp.UserDataDir(t.TempDir()))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	cells := func(table string) [][]string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[[][]string](`[...document.querySelectorAll('#`+table+` tbody tr')].map(tr => [...tr.cells].map(td => td.textContent))`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	do("sign in", chromedp.Navigate(base), chromedp.WaitVisible(chromedp.ID("signin-key")), chromedp.SendKeys(chromedp.ID("signin-key"), testMaster+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`#page-overview[data-ready="true"]`)))

	do("users", chromedp.Navigate(base+"#/users"), chromedp.WaitVisible(chromedp.CSS(`#page-users[data-ready="true"] #users`)))
	if rows := cells("users"); len(rows) != 1 || rows[0][0] != "alice@corp" || rows[0][3] != "core" || !strings.Contains(rows[0][5], "$40") || !strings.Contains(rows[0][5], "$50") {
		t.Errorf("users table %q", rows)
	}
	do("create user", chromedp.Click(chromedp.ID("create-users")), chromedp.WaitVisible(chromedp.ID("f-user_id")),
		chromedp.SendKeys(chromedp.ID("f-user_id"), "bob@corp"), chromedp.SendKeys(chromedp.ID("f-max_budget"), "20"+kb.Enter),
		chromedp.WaitVisible(chromedp.ID("new-key")))
	if k, _ := chromedp.Run(ctx, chromedp.TextContent(chromedp.ID("new-key"))); k != "sk-user-key-shown-once-123456" {
		t.Errorf("shown key %q", k)
	}
	do("done", chromedp.Click(chromedp.ID("done-key")), chromedp.WaitNotPresent(chromedp.ID("new-key")))

	do("teams", chromedp.Navigate(base+"#/teams"), chromedp.WaitVisible(chromedp.CSS(`#page-teams[data-ready="true"] #teams`)))
	if rows := cells("teams"); len(rows) != 1 || rows[0][0] != "core" || rows[0][1] != "<b>Core</b>" || rows[0][2] != "alice@corp" {
		t.Errorf("teams table %q", rows)
	}
	do("block team", chromedp.Click(`//table[@id="teams"]//button[.="Block"]`), chromedp.WaitVisible(`//table[@id="teams"]//button[.="Unblock"]`))
	mu.Lock()
	defer mu.Unlock()
	if want := `/user/new {"user_id":"bob@corp","max_budget":20}|/team/block {"team_id":"core"}`; strings.Join(calls, "|") != want {
		t.Errorf("admin calls %q, want %q", strings.Join(calls, "|"), want)
	}
}
