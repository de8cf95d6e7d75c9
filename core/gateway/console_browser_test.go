package gateway_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/claude-gateway/claude-gateway/core/providers/anthropic/anthropictest"
	"github.com/claude-gateway/claude-gateway/core/spend"
	"github.com/claude-gateway/claude-gateway/core/store/embedded"
)

// chromium finds Debian's Chromium (scripts/chromium.sh installs it for
// `make test`, and sets CHROMIUM_BIN); without one the browser tests skip.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM_BIN"), "/usr/bin/chromium"} {
		if p != "" {
			if _, err := exec.LookPath(p); err == nil {
				return p
			}
		}
	}
	t.Skip("no Chromium (scripts/chromium.sh installs Debian's chromium; make test runs it)")
	return ""
}

// browser starts headless Chromium with the flags this machine needs (no
// sandbox as root, no background networking: the network is closed) and
// collects console errors, exceptions and CSP reports.
type browser struct {
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

func newBrowser(t *testing.T) *browser {
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium(t)), chromedp.NoSandbox,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true), chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	b := &browser{ctx: ctx}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException || m.Source == "security" {
				b.mu.Lock()
				b.errors = append(b.errors, m.String())
				b.mu.Unlock()
			}
		}
	}()
	return b
}

func (b *browser) takeErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.errors
	b.errors = nil
	return out
}

func (b *browser) run(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval runs JavaScript in the page (awaiting a promise) and returns its value.
func eval[T any](t *testing.T, b *browser, js string) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("eval %s: %v", js, err)
	}
	return v
}

// eval decodes the JSON value of js (awaiting a promise) into out.
func (b *browser) eval(t *testing.T, js string, out any) {
	t.Helper()
	if err := json.Unmarshal(eval[[]byte](t, b, js), out); err != nil {
		t.Fatalf("eval %s: %v", js, err)
	}
}

// shot saves a screenshot for reviewers under .cache/console-screenshots.
func (b *browser) shot(t *testing.T, name string) {
	t.Helper()
	dir := os.Getenv("CONSOLE_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join("..", "..", ".cache", "console-screenshots")
	}
	img, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err == nil {
		_ = os.WriteFile(filepath.Join(dir, name+".png"), img, 0o644)
	}
}

// seededStateFile writes spend records with known totals to an embedded
// state file: 30 requests in the last hour, 3 of them failed, $0.10 each
// for alice and $0.20 each for bob, and a "<script>" model group name.
func seededStateFile(t *testing.T) (path string, requests int, cost float64) {
	path = filepath.Join(t.TempDir(), "state.db")
	st, err := embedded.Open(path, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	var recs []spend.Record
	for i := range 30 {
		user, c := "alice", 0.10
		if i%3 == 0 {
			user, c = "bob", 0.20
		}
		status := 200
		if i%10 == 9 {
			status = 529
		}
		model := "claude-sonnet"
		if i == 7 {
			model = `<img src=x onerror="window.__xss=1">`
		}
		recs = append(recs, spend.Record{CallID: fmt.Sprintf("seed-%02d", i), StartTime: now.Add(-time.Duration(i+1) * time.Minute),
			ModelGroup: model, DeploymentID: "steady", Provider: "simulated", UserID: user, Status: status,
			TTFTMillis: int64(300 + 10*i), InputTokens: 1000, OutputTokens: 100, Cost: c})
		cost += c
	}
	if err := st.PutSpend(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return path, len(recs), cost
}

// flakyUpstream is an Anthropic API fake that answers 500 while fail is set.
func flakyUpstream(t *testing.T, fail *atomic.Bool) *anthropictest.Server {
	up := anthropictest.New(t, "sk-upstream")
	up.Respond = func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "application/json")
		if fail.Load() {
			w.WriteHeader(500)
			io.WriteString(w, `{"type":"error","error":{"type":"api_error","message":"injected failure"}}`)
			return
		}
		io.WriteString(w, `{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":2}}`)
	}
	return up
}

// TestConsoleInBrowser drives the console in headless Chromium against a
// whole gateway on a seeded embedded store: sign-in, charts with the seeded
// totals, spend table and CSV, a key created (shown once), used and blocked,
// CSRF refusal, a deployment cooling down and recovering, XSS probes
// rendered as text, keyboard navigation, a phone-sized layout, a key
// session's narrower view, and no CSP violation or script error throughout.
func TestConsoleInBrowser(t *testing.T) {
	b := newBrowser(t)
	stateFile, seededReqs, seededCost := seededStateFile(t)
	var fail atomic.Bool
	up := flakyUpstream(t, &fail)
	yaml := `
model_list:
  - model_name: claude-sonnet
    litellm_params: {model: anthropic/claude-sonnet-4-5, api_key: os.environ/UPSTREAM_KEY, api_base: ` + up.URL + `}
    model_info: {id: flaky}
  - model_name: claude-sonnet
    litellm_params: {model: simulated/steady, output_tokens: 3}
    model_info: {id: steady}
router_settings: {allowed_fails: 0, cooldown_time: 8}
general_settings:
  master_key: os.environ/MASTER
`
	env := map[string]string{"MASTER": masterKey, "UPSTREAM_KEY": "sk-upstream"}
	cfg, err := config.Parse([]byte(yaml), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.Build(context.Background(), cfg, gateway.Options{Platform: "local",
		Getenv: func(k string) string { return map[string]string{"GATEWAY_STATE_FILE": stateFile}[k] }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(func() { srv.Close(); gw.Close(context.Background()) })
	// "localhost" is a secure context for Chromium, so it keeps the Secure cookie over plain http.
	base := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/ui/"

	text := func(t *testing.T, sel string) string {
		s, err := chromedp.Run(b.ctx, chromedp.TextContent(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return strings.TrimSpace(s)
	}
	waitPage := func(t *testing.T, name string) {
		b.run(t, "page "+name, chromedp.WaitVisible(chromedp.CSS(`#page-`+name+`[data-ready="true"]`)))
	}

	t.Run("missing session shows sign-in", func(t *testing.T) {
		b.run(t, "open", chromedp.Navigate(base+"#/keys"), chromedp.WaitVisible(chromedp.ID("signin-key")))
		var hash string
		b.eval(t, "location.hash", &hash)
		if hash != "#/signin" {
			t.Errorf("hash %q, want #/signin", hash)
		}
		var navShown, ssoShown bool
		b.eval(t, `document.getElementById('nav').offsetParent !== null`, &navShown)
		b.eval(t, `document.getElementById('signin-sso').offsetParent !== null`, &ssoShown)
		if navShown || ssoShown {
			t.Errorf("signed out: nav shown %v, SSO button shown %v (no sso configured)", navShown, ssoShown)
		}
		b.run(t, "wrong key", chromedp.SendKeys(chromedp.ID("signin-key"), "sk-wrong-key-0000000000"+kb.Enter),
			chromedp.WaitVisible(`//p[@id="signin-error" and contains(., "unknown")]`))
		if errs := b.takeErrors(); len(errs) != 1 || !strings.Contains(errs[0], "401") {
			t.Errorf("browser errors after a refused sign-in: %v, want the one 401", errs)
		}
		b.shot(t, "01-signin")
	})

	t.Run("sign in and see the seeded totals in charts", func(t *testing.T) {
		b.eval(t, `document.getElementById('signin-key').value = ''`, new(string))
		b.run(t, "sign in", chromedp.SendKeys(chromedp.ID("signin-key"), masterKey+kb.Enter))
		waitPage(t, "overview")
		if got := text(t, "#stat-requests .v"); got != fmt.Sprint(seededReqs) {
			t.Errorf("requests stat %q, want %d", got, seededReqs)
		}
		if got := text(t, "#stat-errors .v"); got != "3" {
			t.Errorf("errors stat %q, want 3", got)
		}
		if got := text(t, "#stat-spend .v"); got != fmt.Sprintf("$%.4f", seededCost) {
			t.Errorf("spend stat %q, want $%.4f", got, seededCost)
		}
		// Three uPlot charts, each with ink on its canvas.
		var inked int
		b.run(t, "charts", chromedp.WaitVisible(chromedp.CSS(".chart canvas")), chromedp.Sleep(200*time.Millisecond))
		b.eval(t, `[...document.querySelectorAll('.chart canvas')].filter(c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; for (let i = 3; i < d.length; i += 4) if (d[i]) return true; return false; }).length`, &inked)
		if inked != 3 {
			t.Errorf("%d charts drawn, want 3", inked)
		}
		var cookies string
		b.eval(t, "document.cookie", &cookies)
		if cookies != "" {
			t.Errorf("the session cookie is readable from script: %q", cookies)
		}
		var stored int
		b.eval(t, "localStorage.length + sessionStorage.length", &stored)
		if stored != 0 {
			t.Errorf("the console stored %d items in web storage", stored)
		}
		b.shot(t, "02-overview")
	})

	t.Run("spend by user, sorted, and its CSV", func(t *testing.T) {
		b.run(t, "spend", chromedp.Navigate(base+"#/spend"))
		waitPage(t, "spend")
		b.run(t, "group by user", chromedp.Evaluate[chromedp.Void](`document.getElementById('group-by').value = 'user'`), chromedp.Click(chromedp.CSS(`#page-spend button[type="submit"]`)),
			chromedp.WaitVisible(`//h2[.="By user"]`))
		var rows [][]string
		b.eval(t, `[...document.querySelectorAll('#page-spend .table-wrap tbody tr')].map(tr => [...tr.cells].map(td => td.textContent))`, &rows)
		// Default order: spend, highest first. alice: 20 x $0.10, bob: 10 x $0.20.
		if len(rows) != 2 || rows[0][1] != "20" && rows[0][1] != "10" {
			t.Fatalf("rows %v", rows)
		}
		b.run(t, "sort by user", chromedp.Click(`//th/button[.="User"]`))
		b.eval(t, `[...document.querySelectorAll('#page-spend .table-wrap tbody tr')].map(tr => [...tr.cells].map(td => td.textContent))`, &rows)
		if rows[0][0] != "alice" || rows[0][1] != "20" || rows[1][0] != "bob" || rows[1][1] != "10" {
			t.Errorf("sorted by user: %v", rows)
		}
		var body string
		b.eval(t, `fetch(document.getElementById('csv').href).then(r => r.text())`, &body)
		recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil || len(recs) != 4 || recs[1][0] != "alice" || recs[1][1] != "20" || recs[2][0] != "bob" || recs[3][0] != "total" || recs[3][1] != fmt.Sprint(seededReqs) {
			t.Errorf("csv %v %v", recs, err)
		}
		b.shot(t, "03-spend")
	})

	var secret string
	t.Run("create a key, see it once, use it, block it", func(t *testing.T) {
		probe := `<img src=x onerror="window.__xss=1">`
		b.run(t, "keys", chromedp.Navigate(base+"#/keys"))
		waitPage(t, "keys")
		b.run(t, "create", chromedp.Click(chromedp.ID("create-key")), chromedp.WaitVisible(chromedp.ID("f-key_alias")),
			chromedp.SendKeys(chromedp.ID("f-key_alias"), probe), chromedp.SendKeys(chromedp.ID("f-max_budget"), "5"+kb.Enter), chromedp.WaitVisible(chromedp.ID("new-key")))
		secret = text(t, "#new-key")
		if !strings.HasPrefix(secret, "sk-") {
			t.Fatalf("shown key %q", secret)
		}
		b.shot(t, "04-key-created")
		b.run(t, "done", chromedp.Click(chromedp.ID("done-key")), chromedp.WaitNotPresent(chromedp.ID("new-key")),
			chromedp.WaitVisible(chromedp.CSS(`#keys td.alias`)))
		var shownAgain bool
		b.eval(t, `document.documentElement.outerHTML.includes(`+jsString(secret)+`)`, &shownAgain)
		if shownAgain {
			t.Error("the key is still in the page after the dialog closed")
		}
		var alias string
		var xss bool
		b.eval(t, `document.querySelector('#keys td.alias').textContent`, &alias)
		b.eval(t, `window.__xss === 1 || !!document.querySelector('#keys img')`, &xss)
		if alias != probe || xss {
			t.Errorf("alias rendered as %q, script ran: %v", alias, xss)
		}
		if code := modelCall(t, srv.URL, secret); code != 200 {
			t.Fatalf("the new key's model call: %d", code)
		}
		b.run(t, "block", chromedp.Click(chromedp.CSS(`#keys button.block`)), chromedp.WaitVisible(`//table[@id="keys"]//span[.="Blocked"]`))
		if code := modelCall(t, srv.URL, secret); code != 401 {
			t.Errorf("blocked key's model call: %d, want 401", code)
		}
		b.shot(t, "05-keys")
	})

	t.Run("regenerate a key: the new secret shown once, the old one refused", func(t *testing.T) {
		old := newKeyWithAlias(t, srv.URL, "regen-me")
		b.run(t, "keys", chromedp.Navigate(base+"#/keys"), chromedp.Reload()) // the page is on #/keys already
		waitPage(t, "keys")
		var status int
		b.eval(t, `fetch('api/admin/key/regenerate', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: '{}'}).then(r => r.status)`, &status)
		if status != 403 {
			t.Errorf("regenerate without the CSRF token: %d, want 403", status)
		}
		time.Sleep(200 * time.Millisecond)
		b.takeErrors() // the refused fetch
		b.run(t, "regenerate", chromedp.Click(`//tr[td[@class="alias" and .="regen-me"]]//button[.="Regenerate"]`),
			chromedp.WaitVisible(chromedp.ID("confirm-ok")))
		b.shot(t, "05b-regenerate-confirm")
		b.run(t, "confirm", chromedp.Click(chromedp.ID("confirm-ok")), chromedp.WaitVisible(chromedp.ID("new-key")))
		fresh := text(t, "#new-key")
		if !strings.HasPrefix(fresh, "sk-") || fresh == old {
			t.Fatalf("regenerated key %q (old %q)", fresh, old)
		}
		b.run(t, "done", chromedp.Click(chromedp.ID("done-key")), chromedp.WaitNotPresent(chromedp.ID("new-key")))
		var shownAgain bool
		b.eval(t, `document.documentElement.outerHTML.includes(`+jsString(fresh)+`)`, &shownAgain)
		if shownAgain {
			t.Error("the regenerated key is still in the page after the dialog closed")
		}
		if code := modelCall(t, srv.URL, old); code != 401 {
			t.Errorf("the old secret after regenerate: %d, want 401", code)
		}
		if code := modelCall(t, srv.URL, fresh); code != 200 {
			t.Errorf("the new secret: %d, want 200", code)
		}
	})

	t.Run("CSRF: a state-changing call without the token is refused", func(t *testing.T) {
		var status []int
		b.eval(t, `Promise.all([
			fetch('api/admin/key/generate', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: '{}'}).then(r => r.status),
			fetch('api/admin/key/generate', {method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRF-Token': 'forged'}, body: '{}'}).then(r => r.status),
			fetch('api/logout', {method: 'POST'}).then(r => r.status)])`, &status)
		if len(status) != 3 || status[0] != 403 || status[1] != 403 || status[2] != 403 {
			t.Errorf("statuses %v, want 403 403 403", status)
		}
		time.Sleep(300 * time.Millisecond)
		if errs := b.takeErrors(); len(errs) != 3 || !strings.Contains(strings.Join(errs, ""), "403") {
			// Chromium logs each refused fetch; nothing else may be logged.
			t.Errorf("errors while refusing: %v", errs)
		}
	})

	t.Run("a deployment cools down after failures and comes back", func(t *testing.T) {
		b.run(t, "deployments", chromedp.Navigate(base+"#/deployments"))
		waitPage(t, "deployments")
		b.run(t, "live", chromedp.WaitVisible(chromedp.CSS(`#deploy-updated[data-mode="live"]`)))
		fail.Store(true)
		for i := 0; i < 20 && !strings.Contains(healthOf(t, srv.URL), `"cooldown_until"`); i++ {
			if code := modelCall(t, srv.URL, masterKey); code != 200 {
				t.Fatalf("call while flaky fails: %d (the steady deployment should answer)", code)
			}
		}
		b.run(t, "cooling", chromedp.WaitVisible(`//tr[@data-id="flaky"]//span[.="Cooling down"]`))
		if got := text(t, `tr[data-id="flaky"] td:nth-child(4)`); !strings.Contains(got, "500") || !strings.Contains(got, " s)") {
			t.Errorf("cooldown cell %q: want its end, time left and the 500", got)
		}
		b.shot(t, "06-deployment-cooling")
		fail.Store(false)
		b.run(t, "recovered", chromedp.WaitVisible(`//tr[@data-id="flaky"]//span[.="Healthy"]`))
		b.shot(t, "07-deployment-recovered")
		// Both changes came down the event stream: no reload, no polling.
		var polls, streams int
		b.eval(t, `performance.getEntriesByType('resource').filter(e => e.name.endsWith('/ui/api/deployments')).length`, &polls)
		b.eval(t, `performance.getEntriesByType('resource').filter(e => e.name.endsWith('/ui/api/deployments/stream')).length + (document.getElementById('deploy-updated').dataset.connections | 0)`, &streams)
		var mode string
		b.eval(t, `document.getElementById('deploy-updated').dataset.mode`, &mode)
		if polls != 0 || mode != "live" || streams == 0 {
			t.Errorf("deployments page: %d polls, mode %q, %d stream connections; want live over SSE", polls, mode, streams)
		}
	})

	t.Run("request log expands and renders names as text", func(t *testing.T) {
		b.run(t, "logs", chromedp.Navigate(base+"#/logs"))
		waitPage(t, "logs")
		b.run(t, "expand", chromedp.Click(chromedp.CSS(`#logs tbody button[aria-expanded="false"]`)), chromedp.WaitVisible(chromedp.CSS(`#logs tr.detail dl`)))
		var xss bool
		b.eval(t, `window.__xss === 1 || !!document.querySelector('#logs img')`, &xss)
		var shown bool
		b.eval(t, `document.querySelector('#logs').textContent.includes('<img src=x onerror')`, &shown)
		if xss || !shown {
			t.Errorf("model name probe: script ran %v, shown as text %v", xss, shown)
		}
		b.shot(t, "08-logs")
	})

	t.Run("keyboard navigation", func(t *testing.T) {
		b.run(t, "overview", chromedp.Navigate(base+"#/overview"))
		waitPage(t, "overview")
		// The skip link is the first stop in the tab order; Enter on it moves focus to the content.
		var first string
		b.eval(t, `[...document.querySelectorAll('a[href], button, input, select, [tabindex]')].filter(e => e.tabIndex >= 0 && e.offsetParent !== null || e.classList.contains('skip'))[0].textContent`, &first)
		if first != "Skip to content" {
			t.Errorf("first focusable element %q", first)
		}
		b.run(t, "skip", chromedp.Focus(chromedp.CSS(".skip")), chromedp.KeyEvent(kb.Enter))
		var focused string
		b.eval(t, `document.activeElement.id`, &focused)
		if focused != "main" {
			t.Errorf("Enter on the skip link focused %q, want main", focused)
		}
		b.run(t, "back to skip", chromedp.Focus(chromedp.CSS(".skip")))
		var seen []string
		for range 4 {
			var s string
			b.run(t, "tab", chromedp.KeyEvent(kb.Tab))
			b.eval(t, `document.activeElement.textContent.trim()`, &s)
			seen = append(seen, s)
		}
		if strings.Join(seen, "|") != "Overview|Spend|Deployments|Keys" {
			t.Errorf("tab order %v", seen)
		}
		b.run(t, "enter on Keys", chromedp.KeyEvent(kb.Enter))
		waitPage(t, "keys")
		// Sort a table from the keyboard: focus a header button, press Enter.
		b.run(t, "spend", chromedp.Navigate(base+"#/spend"))
		waitPage(t, "spend")
		b.run(t, "focus sort", chromedp.Focus(`//th/button[.="Requests"]`), chromedp.KeyEvent(kb.Enter))
		var sorted string
		b.eval(t, `document.evaluate('//th[button[.="Requests"]]', document, null, 9, null).singleNodeValue.getAttribute('aria-sort')`, &sorted)
		if sorted != "descending" {
			t.Errorf("Requests header aria-sort %q after Enter, want descending", sorted)
		}
	})

	t.Run("readable on a phone", func(t *testing.T) {
		b.run(t, "phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3), chromedp.EmulateMobile), chromedp.Navigate(base+"#/overview"))
		waitPage(t, "overview")
		var overflow bool
		b.eval(t, `document.documentElement.scrollWidth > window.innerWidth + 1`, &overflow)
		if overflow {
			t.Error("the overview scrolls sideways at 390 px")
		}
		b.shot(t, "09-phone-overview")
		b.run(t, "laptop", chromedp.ResetViewport())
	})

	t.Run("a virtual key sees only its own usage", func(t *testing.T) {
		own := newKey(t, srv.URL)
		for range 2 {
			if code := modelCall(t, srv.URL, own); code != 200 {
				t.Fatalf("own key call: %d", code)
			}
		}
		b.run(t, "sign out", chromedp.Click(chromedp.ID("signout")), chromedp.WaitVisible(chromedp.ID("signin-key")),
			chromedp.SendKeys(chromedp.ID("signin-key"), own+kb.Enter))
		waitPage(t, "overview")
		var navs []string
		b.eval(t, `[...document.querySelectorAll('#nav a')].filter(a => !a.hidden).map(a => a.textContent)`, &navs)
		if strings.Join(navs, ",") != "Overview,Spend,Request log" {
			t.Errorf("key session's pages: %v", navs)
		}
		// The recorder flushes asynchronously: wait for the two calls to land.
		deadline := time.Now().Add(10 * time.Second)
		for text(t, "#stat-requests .v") != "2" && time.Now().Before(deadline) {
			time.Sleep(300 * time.Millisecond)
			b.run(t, "reload", chromedp.Reload())
			waitPage(t, "overview")
		}
		if got := text(t, "#stat-requests .v"); got != "2" {
			t.Errorf("key session's requests %q, want its own 2", got)
		}
		b.shot(t, "10-key-session")
		b.run(t, "keys page", chromedp.Navigate(base+"#/keys"))
		waitPage(t, "overview") // refused: back to the overview
	})

	t.Run("no CSP violation or script error, and the detector works", func(t *testing.T) {
		if errs := b.takeErrors(); len(errs) != 0 {
			t.Errorf("errors in the browser: %v", errs)
		}
		var ran bool
		b.eval(t, `(() => { const s = document.createElement('script'); s.textContent = 'window.__inline = 1'; document.body.append(s); return window.__inline === 1; })()`, &ran)
		time.Sleep(200 * time.Millisecond)
		errs := b.takeErrors()
		if ran || len(errs) == 0 || !strings.Contains(strings.Join(errs, " "), "Content Security Policy") {
			t.Errorf("an inline script ran=%v; reported %v", ran, errs)
		}
	})
}

// healthOf returns GET /health as text.
func healthOf(t *testing.T, url string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/health", nil)
	req.Header.Set("x-api-key", masterKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func jsString(s string) string { return fmt.Sprintf("%q", s) }

// modelCall makes one non-streaming Messages call with key and returns the status.
func modelCall(t *testing.T, url, key string) int {
	t.Helper()
	body := `{"model":"claude-sonnet","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`
	resp := post(t, url+"/v1/messages", body, map[string]string{"x-api-key": key})
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// newKey makes a virtual key through the admin API.
func newKey(t *testing.T, url string) string {
	t.Helper()
	resp := post(t, url+"/key/generate", `{"key_alias":"own"}`, nil)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	k := between(string(b), `"key":"`, `"`)
	if resp.StatusCode != 200 || k == "" {
		t.Fatalf("key/generate: %d %s", resp.StatusCode, b)
	}
	return k
}

// newKeyWithAlias makes a virtual key with an alias through the admin API.
func newKeyWithAlias(t *testing.T, url, alias string) string {
	t.Helper()
	resp := post(t, url+"/key/generate", `{"key_alias":`+jsString(alias)+`}`, nil)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	k := between(string(b), `"key":"`, `"`)
	if resp.StatusCode != 200 || k == "" {
		t.Fatalf("key/generate: %d %s", resp.StatusCode, b)
	}
	return k
}

func between(s, a, b string) string {
	_, rest, ok := strings.Cut(s, a)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, b)
	return v
}
