package gateway_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/claude-gateway/claude-gateway/core/sso/oidctest"
)

// consoleBrowser is a browser's cookie handling for the console over plain
// http on loopback (Go's cookie jar never sends Secure cookies over http;
// Chromium does on localhost): it follows redirects by hand, keeping every
// cookie set on the way.
type consoleBrowser struct {
	t       *testing.T
	cookies map[string]*http.Cookie
}

func newConsoleBrowser(t *testing.T) *consoleBrowser {
	return &consoleBrowser{t: t, cookies: map[string]*http.Cookie{}}
}

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// get sends one request (cookies whose path matches) and keeps what it sets.
func (b *consoleBrowser) do(method, rawURL, body string, hdr map[string]string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(method, rawURL, strings.NewReader(body))
	for _, c := range b.cookies {
		if strings.HasPrefix(req.URL.Path, c.Path) {
			req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	return resp, string(out)
}

// ssoSignIn clicks "Sign in with SSO" (with next), lets the IdP sign user
// in and follows its redirect back; it returns the callback's answer.
func (b *consoleBrowser) ssoSignIn(base string, idp *oidctest.IdP, user oidctest.User, next string) (*http.Response, string) {
	b.t.Helper()
	idp.SignInAs(user)
	resp, _ := b.do("GET", base+"/ui/sso/start?next="+url.QueryEscape(next), "", nil)
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), idp.Issuer()+"/authorize?") {
		b.t.Fatalf("sso start: %d %v", resp.StatusCode, resp.Header)
	}
	resp, page := b.do("GET", resp.Header.Get("Location"), "", nil)
	if resp.StatusCode != http.StatusFound {
		b.t.Fatalf("IdP authorize: %d %s", resp.StatusCode, page)
	}
	return b.do("GET", resp.Header.Get("Location"), "", nil)
}

// api calls a console route as the page does (same origin, CSRF token).
func (b *consoleBrowser) api(base, method, path, body, csrf string) (int, string) {
	b.t.Helper()
	hdr := map[string]string{"Content-Type": "application/json"}
	if method != "GET" {
		hdr["Origin"], hdr["Sec-Fetch-Site"], hdr["X-CSRF-Token"] = base, "same-origin", csrf
	}
	resp, out := b.do(method, base+"/ui/api/"+path, body, hdr)
	return resp.StatusCode, out
}

func (b *consoleBrowser) session(base string) (role, email, csrf string) {
	b.t.Helper()
	_, out := b.api(base, "GET", "session", "", "")
	var s struct {
		Role string `json:"role"`
		CSRF string `json:"csrf_token"`
		User struct {
			Email string `json:"email"`
		} `json:"user"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		b.t.Fatalf("session: %s", out)
	}
	return s.Role, s.User.Email, s.CSRF
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestConsoleSSOSignIn signs people in to the console through the IdP
// (authorization code + PKCE, state and nonce in a sealed Lax cookie): an
// admin gets the admin console and is named in the audit log; anyone else
// sees only their own usage and is refused the admin routes; tampered,
// foreign, replayed or forged answers are refused; "next" cannot leave the
// console; a deprovisioned person's session ends.
func TestConsoleSSOSignIn(t *testing.T) {
	logs := &lockedBuffer{}
	g := startSSOGateway(t, ssoModels, gateway.Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	base := g.URL

	// Spend for alice (her SSO token) and for someone else (the master key).
	alice, _ := deviceLogin(t, base, g.idp, ssoAlice)
	for _, key := range []string{alice, masterKey, masterKey} {
		if code, _, out := call(t, "POST", base+"/v1/messages", key, message("claude-haiku-4-5")); code != 200 {
			t.Fatalf("model call: %d %s", code, out)
		}
	}

	t.Run("admin", func(t *testing.T) {
		b := newConsoleBrowser(t)
		resp, page := b.ssoSignIn(base, g.idp, ssoDave, "#/keys")
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/#/keys" {
			t.Fatalf("callback: %d %v %s", resp.StatusCode, resp.Header, page)
		}
		sc := b.cookies["cg_console"]
		if sc == nil || !sc.HttpOnly || !sc.Secure || sc.SameSite != http.SameSiteStrictMode || b.cookies["cg_console_sso"] != nil {
			t.Fatalf("cookies after sign-in: %+v", b.cookies)
		}
		role, email, csrf := b.session(base)
		if role != "admin" || email != "dave@example.com" {
			t.Fatalf("session: %s %s", role, email)
		}
		if code, out := b.api(base, "GET", "admin/key/list?size=5", "", ""); code != 200 {
			t.Errorf("admin key list: %d %s", code, out)
		}
		if code, out := b.api(base, "POST", "admin/key/generate", `{"key_alias":"from-dave"}`, csrf); code != 200 || !strings.Contains(out, `"key":"sk-`) {
			t.Errorf("admin generate: %d %s", code, out)
		}
		if l := logs.String(); !strings.Contains(l, `msg="console admin action" actor=sso:dave@example.com sub=dave method=POST route=/key/generate status=200`) {
			t.Errorf("no audit line naming dave:\n%s", l)
		}
		if code, _ := b.api(base, "POST", "admin/key/generate", `{}`, "forged"); code != 403 {
			t.Errorf("no CSRF token: %d", code)
		}
	})

	t.Run("non-admin sees only their own usage", func(t *testing.T) {
		b := newConsoleBrowser(t)
		resp, page := b.ssoSignIn(base, g.idp, ssoAlice, "")
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/#/overview" {
			t.Fatalf("callback: %d %v %s", resp.StatusCode, resp.Header, page)
		}
		role, email, csrf := b.session(base)
		if role != "user" || email != "alice@example.com" {
			t.Fatalf("session: %s %s", role, email)
		}
		for _, p := range []string{"admin/key/list", "deployments", "deployments/stream", "users", "teams", "key-spend?tokens=x"} {
			if code, _ := b.api(base, "GET", p, "", ""); code != 403 {
				t.Errorf("GET %s as a non-admin: %d, want 403", p, code)
			}
		}
		if code, _ := b.api(base, "POST", "admin/key/generate", `{}`, csrf); code != 403 {
			t.Errorf("generate as a non-admin: %d, want 403", code)
		}
		// The recorder flushes in batches: wait for alice's one call.
		var out string
		waitFor(t, func() bool {
			_, out = b.api(base, "GET", "overview?range=hour", "", "")
			return strings.Contains(out, `"totals":{"requests":1,`)
		})
		if _, logs := b.api(base, "GET", "logs?limit=100", "", ""); strings.Count(logs, `"request_id"`) != 1 || !strings.Contains(logs, "alice@example.com") {
			t.Errorf("alice's request log: %s", logs)
		}
		if _, logs := b.api(base, "GET", "logs?user_id=&api_key="+url.QueryEscape(masterKey), "", ""); strings.Contains(logs, `"request_id"`) {
			t.Errorf("alice's log filters widened to others: %s", logs)
		}
		if code, out := b.api(base, "GET", "my-keys", "", ""); code != 200 || out != "{\"keys\":[]}\n" {
			t.Errorf("alice's keys: %d %s", code, out)
		}
		// A key made for her appears in her view; its hash does not.
		secret, token := generateKey(t, base, `{"user_id":"alice@example.com","key_alias":"alice-ci","max_budget":5}`)
		_ = secret
		if code, out := b.api(base, "GET", "my-keys", "", ""); code != 200 || !strings.Contains(out, `"key_alias":"alice-ci"`) || strings.Contains(out, token) {
			t.Errorf("alice's keys after one was made: %d %s", code, out)
		}
	})

	t.Run("tampered, foreign or replayed answers are refused", func(t *testing.T) {
		b := newConsoleBrowser(t)
		g.idp.SignInAs(ssoDave)
		resp, _ := b.do("GET", base+"/ui/sso/start", "", nil)
		resp, _ = b.do("GET", resp.Header.Get("Location"), "", nil)
		back, _ := url.Parse(resp.Header.Get("Location"))
		q := back.Query()
		q.Set("state", q.Get("state")+"x")
		tampered := *back
		tampered.RawQuery = q.Encode()
		if resp, page := b.do("GET", tampered.String(), "", nil); resp.StatusCode != 403 || !strings.Contains(page, "state mismatch") || b.cookies["cg_console"] != nil {
			t.Errorf("tampered state: %d %s", resp.StatusCode, page)
		}
		// The sign-in cookie was spent by that attempt: the genuine answer now fails too.
		if resp, page := b.do("GET", back.String(), "", nil); resp.StatusCode != 400 || b.cookies["cg_console"] != nil {
			t.Errorf("answer after the cookie was spent: %d %s", resp.StatusCode, page)
		}
		// Another browser's answer (no sign-in cookie here), or a forged cookie.
		other := newConsoleBrowser(t)
		if resp, _ := other.do("GET", back.String(), "", nil); resp.StatusCode != 400 {
			t.Errorf("foreign browser: %d", resp.StatusCode)
		}
		other.cookies["cg_console_sso"] = &http.Cookie{Name: "cg_console_sso", Value: "AAAA" + strings.Repeat("A", 80), Path: "/ui/sso/"}
		if resp, _ := other.do("GET", back.String(), "", nil); resp.StatusCode != 400 {
			t.Errorf("forged sign-in cookie: %d", resp.StatusCode)
		}
		for _, probe := range []struct {
			name string
			set  func(bool)
		}{{"wrong nonce", g.idp.WrongNonce}, {"foreign signing key", g.idp.SignWithForeignKey},
			{"expired ID token", func(on bool) {
				if on {
					g.idp.IDTokenTTL(-time.Minute)
				} else {
					g.idp.IDTokenTTL(10 * time.Minute)
				}
			}}} {
			probe.set(true)
			b := newConsoleBrowser(t)
			resp, page := b.ssoSignIn(base, g.idp, ssoDave, "")
			probe.set(false)
			if resp.StatusCode != 403 || b.cookies["cg_console"] != nil || strings.Contains(page, "<script") {
				t.Errorf("%s: %d %s", probe.name, resp.StatusCode, page)
			}
		}
	})

	t.Run("next cannot leave the console", func(t *testing.T) {
		for _, next := range []string{"//evil.example/", "https://evil.example", "/\\evil.example", "#/keys/../../x", "javascript:alert(1)", "#/signin"} {
			b := newConsoleBrowser(t)
			if resp, _ := b.ssoSignIn(base, g.idp, ssoAlice, next); resp.Header.Get("Location") != "/ui/#/overview" {
				t.Errorf("next=%q landed on %q", next, resp.Header.Get("Location"))
			}
		}
	})

	t.Run("a deprovisioned person's session ends", func(t *testing.T) {
		b := newConsoleBrowser(t)
		b.ssoSignIn(base, g.idp, ssoCarol, "")
		if role, _, _ := b.session(base); role != "user" {
			t.Fatalf("carol's session: %q", role)
		}
		if code, _, out := call(t, "POST", base+"/sso/user/revoke", masterKey, `{"sub":"carol"}`); code != 200 {
			t.Fatalf("revoke: %d %s", code, out)
		}
		if code, _ := b.api(base, "GET", "overview", "", ""); code != 401 {
			t.Errorf("deprovisioned carol's overview: %d, want 401", code)
		}
	})
}
