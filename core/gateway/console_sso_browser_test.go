package gateway_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/claude-gateway/claude-gateway/core/sso/oidctest"
)

// TestConsoleSSOInBrowser signs in to the console in headless Chromium
// through a real OpenID provider (zitadel/oidc's example OP): the "Sign in
// with SSO" button, the IdP's own login form, back on the console as an
// admin on the page asked for, with the admin pages; a person who is no
// admin lands on their own usage and keys only and is refused the admin
// API; an answer whose state was tampered with on the way is refused.
func TestConsoleSSOInBrowser(t *testing.T) {
	chromium(t)
	srv := httptest.NewUnstartedServer(nil)
	// "localhost": a secure context for Chromium, so Secure cookies work over http.
	public := "http://localhost:" + fmt.Sprint(srv.Listener.Addr().(*net.TCPAddr).Port)
	issuer := oidctest.ExampleOP(t, `{
		"id-ada": {"ID": "id-ada", "Username": "ada", "Password": "ada's secret", "FirstName": "Ada", "LastName": "L",
			"Email": "ada@example.com", "EmailVerified": true, "PreferredLanguage": "en"},
		"id-erin": {"ID": "id-erin", "Username": "erin", "Password": "erin's secret", "FirstName": "Erin", "LastName": "E",
			"Email": "erin@example.com", "EmailVerified": true, "PreferredLanguage": "en"}}`,
		public+"/sso/callback", public+"/ui/sso/callback")
	yaml := `
model_list:
  - model_name: claude-sonnet
    litellm_params: {model: simulated/claude-sonnet-4-5, time_to_first_token_ms: 0, tokens_per_second: 0, output_tokens: 3}
general_settings:
  master_key: os.environ/MASTER
  sso:
    public_url: ` + public + `
    issuer: ` + issuer + `
    client_id: web
    client_secret: secret
    allowed_email_domains: [example.com]
    admin_emails: [ada@example.com]
`
	cfg, err := config.Parse([]byte(yaml), func(k string) (string, bool) { return masterKey, k == "MASTER" })
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.Build(context.Background(), cfg, gateway.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var tamper atomic.Bool
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tamper.Load() && r.URL.Path == "/ui/sso/callback" {
			// An attacker's edit of the IdP's answer on its way back.
			q := r.URL.Query()
			q.Set("state", q.Get("state")[1:]+"A")
			r.URL.RawQuery = q.Encode()
		}
		gw.ServeHTTP(w, r)
	})
	srv.Start()
	t.Cleanup(func() { srv.Close(); gw.Close(context.Background()) })
	base := public + "/ui/"

	// Erin's usage: a key in her name, two calls; the master key's call is someone else's.
	erinKey, _ := generateKey(t, public, `{"user_id":"erin@example.com","key_alias":"erin-laptop","max_budget":2}`)
	for _, k := range []string{erinKey, erinKey, masterKey} {
		if code := modelCall(t, public, k); code != 200 {
			t.Fatalf("model call: %d", code)
		}
	}

	login := func(b *browser, user, password string) {
		t.Helper()
		b.run(t, "IdP login page", chromedp.WaitVisible(chromedp.ID("username")))
		var at string
		b.eval(t, "location.origin + '/'", &at)
		if at != issuer {
			t.Fatalf("the button led to %s, not the IdP %s", at, issuer)
		}
		// The example OP serves no favicon: its 404 is the IdP's, not the console's.
		time.Sleep(300 * time.Millisecond)
		if errs := b.takeErrors(); len(errs) > 1 {
			t.Logf("errors on the IdP's page: %v", errs)
		}
		b.run(t, "log in at the IdP", chromedp.SendKeys(chromedp.ID("username"), user), chromedp.SendKeys(chromedp.ID("password"), password+kb.Enter))
	}

	t.Run("an admin signs in through the IdP", func(t *testing.T) {
		b := newBrowser(t)
		b.run(t, "open keys", chromedp.Navigate(base+"#/keys"), chromedp.WaitVisible(chromedp.ID("sso-button")))
		var navShown, ssoShown bool
		b.eval(t, `document.getElementById('nav').offsetParent !== null`, &navShown)
		b.eval(t, `document.getElementById('signin-sso').offsetParent !== null`, &ssoShown)
		if navShown || !ssoShown {
			t.Errorf("signed out: nav shown %v, SSO button shown %v", navShown, ssoShown)
		}
		b.shot(t, "11-signin-sso")
		b.run(t, "click SSO", chromedp.Click(chromedp.ID("sso-button")))
		login(b, "ada", "ada's secret")
		// Back on the page asked for before signing in.
		b.run(t, "keys page", chromedp.WaitVisible(chromedp.CSS(`#page-keys[data-ready="true"] #keys`)))
		var who string
		b.eval(t, `document.getElementById('who').textContent`, &who)
		if who != "admin · ada@example.com" {
			t.Errorf("header names %q", who)
		}
		var navs []string
		b.eval(t, `[...document.querySelectorAll('#nav a')].filter(a => !a.hidden).map(a => a.textContent)`, &navs)
		if strings.Join(navs, ",") != "Overview,Spend,Deployments,Keys,Users,Teams,Request log" {
			t.Errorf("admin's pages: %v", navs)
		}
		b.run(t, "deployments", chromedp.Navigate(base+"#/deployments"), chromedp.WaitVisible(chromedp.CSS(`#page-deployments[data-ready="true"] #deployments`)))
		b.shot(t, "12-sso-admin-deployments")
		var cookies string
		b.eval(t, "document.cookie", &cookies)
		if cookies != "" {
			t.Errorf("cookies readable from script: %q", cookies)
		}
		if errs := b.takeErrors(); len(errs) != 0 {
			t.Errorf("browser errors: %v", errs)
		}
	})

	t.Run("a person who is no admin sees only their own usage", func(t *testing.T) {
		b := newBrowser(t)
		b.run(t, "open", chromedp.Navigate(base), chromedp.WaitVisible(chromedp.ID("sso-button")), chromedp.Click(chromedp.ID("sso-button")))
		login(b, "erin", "erin's secret")
		b.run(t, "overview", chromedp.WaitVisible(chromedp.CSS(`#page-overview[data-ready="true"] #my-keys`)))
		var navs []string
		b.eval(t, `[...document.querySelectorAll('#nav a')].filter(a => !a.hidden).map(a => a.textContent)`, &navs)
		if strings.Join(navs, ",") != "Overview,Spend,Request log" {
			t.Errorf("erin's pages: %v", navs)
		}
		var who, keys string
		b.eval(t, `document.getElementById('who').textContent`, &who)
		b.eval(t, `document.querySelector('#my-keys tbody').textContent`, &keys)
		if who != "erin@example.com" || !strings.Contains(keys, "erin-laptop") || !strings.Contains(keys, "/ $2") {
			t.Errorf("header %q, her keys %q", who, keys)
		}
		// Her two calls, not the master key's third (the recorder flushes in batches).
		deadline := time.Now().Add(10 * time.Second)
		for {
			var got string
			b.eval(t, `document.querySelector('#stat-requests .v').textContent`, &got)
			if got == "2" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("erin's requests %q, want her own 2", got)
			}
			time.Sleep(300 * time.Millisecond)
			b.run(t, "reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`#page-overview[data-ready="true"]`)))
		}
		b.shot(t, "13-sso-user-overview")
		var status []int
		b.eval(t, `Promise.all(['api/admin/key/list', 'api/deployments', 'api/deployments/stream', 'api/users'].map(p => fetch(p).then(r => r.status)))`, &status)
		if fmt.Sprint(status) != "[403 403 403 403]" {
			t.Errorf("admin API as erin: %v, want 403s", status)
		}
		b.run(t, "keys page refused", chromedp.Navigate(base+"#/keys"), chromedp.WaitVisible(chromedp.CSS(`#page-overview[data-ready="true"]`)))
		b.takeErrors() // the refused fetches above log 403s
	})

	t.Run("a tampered state is refused", func(t *testing.T) {
		b := newBrowser(t)
		tamper.Store(true)
		defer tamper.Store(false)
		b.run(t, "open", chromedp.Navigate(base), chromedp.WaitVisible(chromedp.ID("sso-button")), chromedp.Click(chromedp.ID("sso-button")))
		login(b, "ada", "ada's secret")
		b.run(t, "refused", chromedp.WaitVisible(chromedp.ID("sso-error")))
		var msg string
		b.eval(t, `document.getElementById('sso-error').textContent`, &msg)
		if !strings.Contains(msg, "state mismatch") {
			t.Errorf("refusal %q", msg)
		}
		b.shot(t, "14-sso-tampered-state")
		var role string
		b.eval(t, `fetch('/ui/api/session').then(r => r.json()).then(s => s.role)`, &role)
		if role != "" {
			t.Errorf("a tampered answer signed in as %q", role)
		}
		b.takeErrors()
	})
}
