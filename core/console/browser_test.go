package console

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/claude-gateway/claude-gateway/core/identity"
	"github.com/claude-gateway/claude-gateway/core/identity/keyadmin"
	"github.com/claude-gateway/claude-gateway/core/router"
)

// The users and teams pages over the real /user/* and /team/* handlers
// (core/identity/keyadmin), in headless Chromium: list with budget bars,
// create a user (its key shown once), block a team.
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
	ctx0 := context.Background()
	budget := 50.0
	if err := f.repo.PutTeam(ctx0, &identity.Team{TeamID: "core", TeamAlias: "<b>Core</b>", MembersWithRoles: []identity.Member{{Role: "admin", UserID: "alice@corp"}}}); err != nil {
		t.Fatal(err)
	}
	if err := f.repo.PutUser(ctx0, &identity.User{UserID: "alice@corp", UserEmail: "alice@corp", UserRole: identity.RoleInternalUser, Teams: []string{"core"},
		Policy: identity.Policy{MaxBudget: &budget, Models: []string{"claude-sonnet"}}}); err != nil {
		t.Fatal(err)
	}
	// The real clock: the browser drops a cookie that expired by its own clock.
	c := New(Options{MasterKey: testMaster, Spend: memoryStore(), Keys: f.repo, Admin: keyadmin.Handlers(f.repo, keyadmin.Options{})})
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	base := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/ui/"

	ctx, do := headless(t, bin)
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
	if rows := cells("users"); len(rows) != 1 || rows[0][0] != "alice@corp" || rows[0][3] != "core" || !strings.Contains(rows[0][5], "$0.0000 / $50") {
		t.Errorf("users table %q", rows)
	}
	do("create user", chromedp.Click(chromedp.ID("create-users")), chromedp.WaitVisible(chromedp.ID("f-user_id")),
		chromedp.SendKeys(chromedp.ID("f-user_id"), "bob@corp"), chromedp.SendKeys(chromedp.ID("f-max_budget"), "20"+kb.Enter),
		chromedp.WaitVisible(chromedp.ID("new-key")))
	if k, _ := chromedp.Run(ctx, chromedp.TextContent(chromedp.ID("new-key"))); !strings.HasPrefix(k, "sk-") {
		t.Errorf("shown key %q", k)
	}
	do("done", chromedp.Click(chromedp.ID("done-key")), chromedp.WaitNotPresent(chromedp.ID("new-key")),
		chromedp.WaitVisible(`//table[@id="users"]//td[.="bob@corp"]`))

	do("teams", chromedp.Navigate(base+"#/teams"), chromedp.WaitVisible(chromedp.CSS(`#page-teams[data-ready="true"] #teams`)))
	if rows := cells("teams"); len(rows) != 2 || rows[0][0] != "core" || rows[0][1] != "<b>Core</b>" || rows[0][2] != "alice@corp" {
		t.Errorf("teams table %q", rows)
	}
	do("block team", chromedp.Click(`//table[@id="teams"]//button[.="Block"]`), chromedp.WaitVisible(`//table[@id="teams"]//button[.="Unblock"]`))
	if ts, err := f.repo.GetTeams(ctx0, []string{"core"}); err != nil || ts[0] == nil || !ts[0].Blocked {
		t.Errorf("team after Block: %+v %v", ts, err)
	}
	if us, err := f.repo.GetUsers(ctx0, []string{"bob@corp"}); err != nil || us[0] == nil || us[0].MaxBudget == nil || *us[0].MaxBudget != 20 {
		t.Errorf("created user: %+v %v", us, err)
	}
}

// The deployments page in headless Chromium over a console whose streams
// last a second: it follows the event stream, reconnects when the server
// ends it and still shows a deployment cooling down without a reload;
// when the session's streams are used up (other tabs) it falls back to
// polling and keeps updating.
func TestDeploymentsLiveInBrowser(t *testing.T) {
	bin := os.Getenv("CHROMIUM_BIN")
	if bin == "" {
		bin = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(bin); err != nil {
		t.Skip("no Chromium (scripts/chromium.sh installs it; make test runs it)")
	}
	var cooling atomic.Bool
	health := func(context.Context) []router.DeploymentHealth {
		h := router.DeploymentHealth{ID: "bedrock-1", Group: "sonnet", Healthy: true}
		if cooling.Load() {
			h.Healthy, h.CooldownUntil, h.CooldownReason = false, time.Now().Add(time.Minute), "529 overloaded_error"
		}
		return []router.DeploymentHealth{h}
	}
	c := New(Options{MasterKey: testMaster, Spend: memoryStore(), Health: health, StreamLifetime: time.Second})
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	base := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/ui/"
	ctx, do := headless(t, bin)
	do("sign in", chromedp.Navigate(base), chromedp.WaitVisible(chromedp.ID("signin-key")), chromedp.SendKeys(chromedp.ID("signin-key"), testMaster+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`#page-overview[data-ready="true"]`)))

	do("deployments, live", chromedp.Navigate(base+"#/deployments"), chromedp.WaitVisible(chromedp.CSS(`#deploy-updated[data-mode="live"]`)),
		chromedp.WaitVisible(`//tr[@data-id="bedrock-1"]//span[.="Healthy"]`))
	// Streams end after a second: the page reconnects and stays live.
	do("reconnects", chromedp.Sleep(2500*time.Millisecond))
	conns, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('deploy-updated').dataset.connections + ' ' + document.getElementById('deploy-updated').dataset.mode`))
	var n int
	var mode string
	fmt.Sscan(conns, &n, &mode)
	if err != nil || n < 2 || n > 4 || mode != "live" {
		t.Errorf("after 2.5 s of 1 s streams: %q %v, want 2 to 4 connections, still live", conns, err)
	}
	cooling.Store(true)
	do("cooling, no reload", chromedp.WaitVisible(`//tr[@data-id="bedrock-1"]//span[.="Cooling down"]`))
	cooling.Store(false)
	do("healthy again", chromedp.WaitVisible(`//tr[@data-id="bedrock-1"]//span[.="Healthy"]`))

	// Three other tabs' streams use up the session's bound: the page polls.
	do("leave", chromedp.Navigate(base+"#/overview"), chromedp.WaitVisible(chromedp.CSS(`#page-overview[data-ready="true"]`)))
	open, err := chromedp.Run(ctx, chromedp.Evaluate[int](`new Promise((resolve) => {
		window.__held = [1, 2, 3].map(() => new EventSource('api/deployments/stream'));
		const check = () => window.__held.every((e) => e.readyState === 1) ? resolve(3) : setTimeout(check, 50);
		check(); })`, chromedp.EvalAwaitPromise))
	if err != nil || open != 3 {
		t.Fatalf("holding streams: %d %v", open, err)
	}
	do("deployments, polling", chromedp.Navigate(base+"#/deployments"), chromedp.WaitVisible(chromedp.CSS(`#deploy-updated[data-mode="poll"]`)),
		chromedp.WaitVisible(`//tr[@data-id="bedrock-1"]//span[.="Healthy"]`))
	cooling.Store(true)
	do("cooling while polling", chromedp.WaitVisible(`//tr[@data-id="bedrock-1"]//span[.="Cooling down"]`))
}

// headless starts Chromium (bin) with the flags this machine needs (no
// sandbox as root, no QUIC or component updates: the network is closed) for
// at most a minute; do runs steps in it and fails the test, naming what,
// if they fail.
func headless(t *testing.T, bin string) (ctx context.Context, do func(what string, steps ...chromedp.Action[chromedp.Void])) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true), chromedp.UserDataDir(t.TempDir()))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	return ctx, func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
}
