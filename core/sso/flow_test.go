package sso

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/sso/oidctest"
	"github.com/claude-gateway/claude-gateway/core/store/memory"
)

// clock is a settable time source shared by the service and the store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// rig is a gateway's SSO routes on loopback beside a test IdP
// (oidctest: checks PKCE S256, the exact redirect URI and the client
// secret, signs RS256 ID tokens with rotating JWKS keys).
type rig struct {
	t     testing.TB
	idp   *oidctest.IdP
	gw    *httptest.Server
	svc   *Service
	cfg   *config.SSOSettings
	clock *clock
}

var alice = oidctest.User{Sub: "u-alice", Email: "Alice@Example.com", EmailVerified: true, Groups: []string{"eng", "everyone"}}

func newRig(t testing.TB, edit func(*config.SSOSettings)) *rig {
	t.Helper()
	gw := httptest.NewUnstartedServer(nil)
	public := "http://" + gw.Listener.Addr().String()
	idp := oidctest.New(oidctest.Options{ClientID: "gateway", ClientSecret: "s3cret", RedirectURI: public + PathCallback})
	t.Cleanup(idp.Close)
	cfg := &config.SSOSettings{
		PublicURL: public, Issuer: idp.Issuer(), ClientID: "gateway", ClientSecret: "s3cret",
		Scopes: []string{"openid", "email", "profile"}, AllowedEmailDomains: []string{"example.com"}, GroupsClaim: "groups",
		AccessTokenTTL: time.Hour, RefreshTokenTTL: 30 * 24 * time.Hour, DeviceCodeTTL: 10 * time.Minute,
		PollInterval: 5 * time.Second, VerifyAttemptsPerMinute: 10,
		ManagedSettings: map[string]any{"env": map[string]any{"CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY": "1"}},
		Groups: []config.SSOGroup{
			{Name: "eng", ManagedSettings: map[string]any{"availableModels": []any{"sonnet"}, "permissions": map[string]any{"deny": []any{"WebFetch"}}}},
		},
	}
	if edit != nil {
		edit(cfg)
	}
	c := &clock{t: time.Now()}
	store := memory.New(c.Now)
	svc := New(cfg, store, Options{Now: c.Now})
	mux := http.NewServeMux()
	for p, h := range svc.Routes() {
		mux.Handle(p, h)
	}
	for p, h := range svc.AdminRoutes() {
		mux.Handle(p, h)
	}
	gw.Config.Handler = mux
	gw.Start()
	t.Cleanup(gw.Close)
	idp.SignInAs(alice)
	return &rig{t: t, idp: idp, gw: gw, svc: svc, cfg: cfg, clock: c}
}

func (r *rig) postForm(path string, form url.Values) (int, map[string]any, http.Header) {
	r.t.Helper()
	resp, err := http.PostForm(r.gw.URL+path, form)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body, resp.Header
}

func (r *rig) deviceAuth() (deviceCode, userCode string) {
	r.t.Helper()
	st, body, _ := r.postForm(PathDevice, url.Values{"surface": {"claude_code"}})
	if st != 200 {
		r.t.Fatalf("device authorization: %d %v", st, body)
	}
	return body["device_code"].(string), body["user_code"].(string)
}

// poll is one token poll; it advances the clock past the interval first.
func (r *rig) poll(deviceCode string) (int, map[string]any) {
	r.t.Helper()
	r.clock.Advance(6 * time.Second)
	st, body, _ := r.postForm(PathToken, url.Values{"grant_type": {grantDevice}, "device_code": {deviceCode}})
	return st, body
}

// browser is a cookie-keeping client that follows redirects (gateway ->
// IdP -> gateway) the way a browser does.
type browser struct {
	*http.Client
	r *rig
}

func (r *rig) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{Client: &http.Client{Jar: jar}, r: r}
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// open loads the verification page and returns its CSRF token.
func (b *browser) open(userCode string) (csrf, page string) {
	b.r.t.Helper()
	resp, err := b.Get(b.r.gw.URL + PathVerify + "?user_code=" + url.QueryEscape(userCode))
	if err != nil {
		b.r.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfRe.FindStringSubmatch(string(body))
	if m == nil {
		b.r.t.Fatalf("no csrf token on the page: %s", body)
	}
	return m[1], string(body)
}

// submit posts the code form with the given Origin ("" for none).
func (b *browser) submit(origin string, form url.Values) (int, string) {
	b.r.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.r.gw.URL+PathVerify, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := b.Do(req)
	if err != nil {
		b.r.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// signIn is the whole browser half: page, confirm, IdP, callback.
func (r *rig) signIn(userCode string) (int, string) {
	b := r.browser()
	csrf, _ := b.open(userCode)
	return b.submit(r.gw.URL, url.Values{"csrf": {csrf}, "user_code": {userCode}})
}

func (r *rig) get(path, token string, hdr map[string]string) (*http.Response, []byte) {
	r.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, r.gw.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// login runs the device flow to the tokens.
func (r *rig) login() (access, refresh string) {
	r.t.Helper()
	dc, uc := r.deviceAuth()
	if st, page := r.signIn(uc); st != 200 {
		r.t.Fatalf("sign-in: %d %s", st, page)
	}
	st, body := r.poll(dc)
	if st != 200 {
		r.t.Fatalf("token: %d %v", st, body)
	}
	return body["access_token"].(string), body["refresh_token"].(string)
}

func TestDiscoveryDocument(t *testing.T) {
	r := newRig(t, nil)
	resp, body := r.get(PathMetadata, "", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var md map[string]any
	_ = json.Unmarshal(body, &md)
	for _, k := range []string{"issuer", "device_authorization_endpoint", "token_endpoint", "revocation_endpoint"} {
		v, _ := md[k].(string)
		if !strings.HasPrefix(v, r.gw.URL) {
			t.Errorf("%s = %q, want an absolute URL on %s (Claude Code ignores other origins)", k, v, r.gw.URL)
		}
	}
	if _, ok := md["authorization_endpoint"]; ok {
		t.Error("authorization_endpoint must be absent")
	}
	if md["gateway_protocol_version"] != float64(1) {
		t.Errorf("gateway_protocol_version = %v", md["gateway_protocol_version"])
	}
}

var userCodeRe = regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)

func TestDeviceFlowEndToEnd(t *testing.T) {
	r := newRig(t, func(c *config.SSOSettings) { c.LoginNotice = "Use your corp account" })
	st, body, _ := r.postForm(PathDevice, url.Values{"surface": {"claude_code"}, "unknown_param": {"ignored"}})
	if body["login_notice"] != "Use your corp account" {
		t.Errorf("login_notice = %v", body["login_notice"])
	}
	if st != 200 {
		t.Fatalf("device authorization %d %v", st, body)
	}
	dc, uc := body["device_code"].(string), body["user_code"].(string)
	if len(dc) < 43 {
		t.Errorf("device_code %d chars: want >= 256 bits", len(dc))
	}
	if !userCodeRe.MatchString(uc) {
		t.Errorf("user_code %q: want XXXX-XXXX over the base-20 alphabet", uc)
	}
	if body["verification_uri"] != r.gw.URL+PathVerify || body["verification_uri_complete"] != r.gw.URL+PathVerify+"?user_code="+uc {
		t.Errorf("verification URIs: %v %v", body["verification_uri"], body["verification_uri_complete"])
	}
	if body["expires_in"] != float64(600) || body["interval"] != float64(5) {
		t.Errorf("expires_in/interval: %v %v", body["expires_in"], body["interval"])
	}

	if st, body := r.poll(dc); st != 400 || body["error"] != "authorization_pending" {
		t.Fatalf("first poll: %d %v, want authorization_pending", st, body)
	}
	// A second poll without waiting the interval.
	st, body, _ = r.postForm(PathToken, url.Values{"grant_type": {grantDevice}, "device_code": {dc}})
	if st != 400 || body["error"] != "slow_down" {
		t.Fatalf("fast poll: %d %v, want slow_down", st, body)
	}

	// The page shows the code pre-filled but does not submit it.
	b := r.browser()
	csrf, page := b.open(uc)
	if !strings.Contains(page, `value="`+uc+`"`) || strings.Contains(page, "<script") {
		t.Errorf("page should pre-fill %s without script: %s", uc, page)
	}
	if r.idp.Authorizations != 0 {
		t.Fatal("opening the page reached the IdP: the code was submitted without the user")
	}
	if st, page := b.submit(r.gw.URL, url.Values{"csrf": {csrf}, "user_code": {strings.ToLower(strings.ReplaceAll(uc, "-", ""))}}); st != 200 || !strings.Contains(page, "alice@example.com") {
		t.Fatalf("sign-in: %d %s", st, page)
	}

	st, body = r.poll(dc)
	if st != 200 || body["token_type"] != "Bearer" || body["email"] != "alice@example.com" || body["expires_in"] != float64(3600) {
		t.Fatalf("token: %d %v", st, body)
	}
	access, refresh := body["access_token"].(string), body["refresh_token"].(string)
	if st, body := r.poll(dc); st != 400 || body["error"] != "invalid_grant" {
		t.Errorf("replayed device code: %d %v, want invalid_grant", st, body)
	}

	sess, e := r.svc.Verify(t.Context(), access)
	if e != nil || sess.Sub != "u-alice" || strings.Join(sess.Groups, ",") != "eng,everyone" {
		t.Fatalf("verify: %v %+v", e, sess)
	}

	// Managed settings: base then the eng group, ETag, 304 only on a match.
	resp, raw := r.get(PathSettings, access, nil)
	var ms struct {
		UUID, Checksum string
		Settings       map[string]any
	}
	_ = json.Unmarshal(raw, &ms)
	if resp.StatusCode != 200 || ms.UUID == "" || !strings.HasPrefix(ms.Checksum, "sha256:") || resp.Header.Get("ETag") != `"`+ms.Checksum+`"` {
		t.Fatalf("settings: %d %s %v", resp.StatusCode, raw, resp.Header)
	}
	if want := `{"availableModels":["sonnet"],"env":{"CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY":"1"},"permissions":{"deny":["WebFetch"]}}`; string(canonicalJSON(ms.Settings)) != want {
		t.Errorf("settings = %s, want %s", canonicalJSON(ms.Settings), want)
	}
	if resp, _ := r.get(PathSettings, access, map[string]string{"If-None-Match": resp.Header.Get("ETag")}); resp.StatusCode != 304 {
		t.Errorf("If-None-Match match: %d, want 304", resp.StatusCode)
	}
	if resp, _ := r.get(PathSettings, access, map[string]string{"If-None-Match": `"sha256:00"`}); resp.StatusCode != 200 {
		t.Errorf("If-None-Match mismatch: %d, want 200", resp.StatusCode)
	}

	// Refresh rotates; the spent token's reuse revokes the whole family.
	st, body, _ = r.postForm(PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	if st != 200 || body["refresh_token"] == refresh || body["access_token"] == access {
		t.Fatalf("refresh: %d %v", st, body)
	}
	access2, refresh2 := body["access_token"].(string), body["refresh_token"].(string)
	if _, e := r.svc.Verify(t.Context(), access2); e != nil {
		t.Fatalf("rotated access token: %v", e)
	}
	st, body, _ = r.postForm(PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	if st != 401 || body["error"] != "invalid_grant" {
		t.Fatalf("reused refresh token: %d %v, want 401 invalid_grant", st, body)
	}
	for name, tok := range map[string]string{"first access": access, "rotated access": access2} {
		if _, e := r.svc.Verify(t.Context(), tok); e == nil || e.Status != 401 || e.ShouldRetry != "false" {
			t.Errorf("%s token after reuse detection: %v, want 401 with x-should-retry false", name, e)
		}
	}
	if st, body, _ := r.postForm(PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh2}}); st != 401 || body["error"] != "invalid_grant" {
		t.Errorf("rotated refresh token after reuse detection: %d %v, want 401 invalid_grant", st, body)
	}
}

func TestManagedSettingsNoPolicyIs404(t *testing.T) {
	r := newRig(t, func(c *config.SSOSettings) { c.ManagedSettings, c.Groups = nil, nil })
	access, _ := r.login()
	if resp, body := r.get(PathSettings, access, nil); resp.StatusCode != 404 {
		t.Errorf("no policy: %d %s, want 404", resp.StatusCode, body)
	}
	r2 := newRig(t, func(c *config.SSOSettings) { c.ManagedSettings, c.Groups = map[string]any{}, nil })
	access, _ = r2.login()
	if resp, body := r2.get(PathSettings, access, nil); resp.StatusCode != 200 || !strings.Contains(string(body), `"settings":{}`) {
		t.Errorf("empty policy: %d %s, want 200 with {}", resp.StatusCode, body)
	}
	if resp, _ := r2.get(PathSettings, "cgwat.nope.nope", nil); resp.StatusCode != 401 || resp.Header.Get("x-should-retry") != "false" {
		t.Errorf("bad bearer: %d, want 401 x-should-retry false", resp.StatusCode)
	}
}

func TestDeprovisioning(t *testing.T) {
	t.Run("allow rules changed", func(t *testing.T) {
		r := newRig(t, nil)
		_, refresh := r.login()
		r.cfg.AllowedEmailDomains = []string{"other.example"}
		st, body, _ := r.postForm(PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
		if st != 401 || body["error"] != "invalid_grant" {
			t.Fatalf("refresh of a user no longer allowed: %d %v, want 401 invalid_grant", st, body)
		}
	})
	t.Run("admin revokes the user", func(t *testing.T) {
		r := newRig(t, nil)
		access, refresh := r.login()
		resp, err := http.Post(r.gw.URL+PathRevokeUser, "application/json", strings.NewReader(`{"sub":"u-alice"}`))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("revoke user: %v %v", err, resp)
		}
		resp.Body.Close()
		if _, e := r.svc.Verify(t.Context(), access); e == nil || e.Status != 401 {
			t.Errorf("access token of a revoked user: %v, want 401", e)
		}
		if st, body, _ := r.postForm(PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}); st != 401 || body["error"] != "invalid_grant" {
			t.Errorf("refresh of a revoked user: %d %v", st, body)
		}
		// A new sign-in after the revocation works again.
		r.clock.Advance(time.Second)
		if access, _ := r.login(); access == "" {
			t.Error("no token after signing in again")
		}
	})
	t.Run("user not allowed is denied at sign-in", func(t *testing.T) {
		r := newRig(t, nil)
		r.idp.SignInAs(oidctest.User{Sub: "u-mallory", Email: "mallory@elsewhere.com", EmailVerified: true})
		dc, uc := r.deviceAuth()
		if st, _ := r.signIn(uc); st != 403 {
			t.Errorf("sign-in of a foreign domain: %d, want 403", st)
		}
		if st, body := r.poll(dc); st != 400 || body["error"] != "access_denied" {
			t.Errorf("poll after a refused sign-in: %d %v, want access_denied", st, body)
		}
	})
}

func TestExpiry(t *testing.T) {
	r := newRig(t, nil)
	r.idp.IDTokenTTL(time.Hour) // the IdP's clock does not move with the test's
	dc, _ := r.deviceAuth()
	r.clock.Advance(11 * time.Minute)
	if st, body := r.poll(dc); st != 400 || body["error"] != "expired_token" {
		t.Errorf("expired device code: %d %v, want expired_token", st, body)
	}
	access, refresh := r.login()
	r.clock.Advance(61 * time.Minute)
	if _, e := r.svc.Verify(t.Context(), access); e == nil || e.Status != 401 || e.ShouldRetry != "false" {
		t.Errorf("expired access token: %v", e)
	}
	st, body, _ := r.postForm(PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	if st != 200 {
		t.Fatalf("refresh after the access token expired: %d %v", st, body)
	}
	r.clock.Advance(31 * 24 * time.Hour)
	if st, body, _ := r.postForm(PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["refresh_token"].(string)}}); st != 401 || body["error"] != "invalid_grant" {
		t.Errorf("refresh past the sign-in's life: %d %v", st, body)
	}
}

func TestSecurityProbes(t *testing.T) {
	t.Run("cross-site form post", func(t *testing.T) {
		r := newRig(t, nil)
		_, uc := r.deviceAuth()
		b := r.browser()
		csrf, _ := b.open(uc)
		for _, origin := range []string{"https://evil.example", "null", ""} {
			if st, _ := b.submit(origin, url.Values{"csrf": {csrf}, "user_code": {uc}}); st != 403 {
				t.Errorf("Origin %q: %d, want 403", origin, st)
			}
		}
		if st, _ := b.submit(r.gw.URL, url.Values{"csrf": {"forged-token-forged-token-forged-token-1"}, "user_code": {uc}}); st != 403 {
			t.Errorf("wrong CSRF token: %d, want 403", st)
		}
		if r.idp.Authorizations != 0 {
			t.Error("a refused post reached the IdP")
		}
	})
	t.Run("guessed user codes are rate limited", func(t *testing.T) {
		r := newRig(t, nil)
		b := r.browser()
		csrf, _ := b.open("")
		var last int
		for i := 0; i < 12; i++ {
			last, _ = b.submit(r.gw.URL, url.Values{"csrf": {csrf}, "user_code": {"BCDF-GHJ" + string(userCodeAlphabet[i])}})
			if i < 10 && last != 400 {
				t.Fatalf("attempt %d: %d, want 400 (unknown code)", i, last)
			}
		}
		if last != 429 {
			t.Errorf("attempt 12: %d, want 429", last)
		}
		// Even the right code is refused until the minute passes.
		_, uc := r.deviceAuth()
		if st, _ := b.submit(r.gw.URL, url.Values{"csrf": {csrf}, "user_code": {uc}}); st != 429 {
			t.Errorf("right code while limited: %d, want 429", st)
		}
	})
	t.Run("no open redirect", func(t *testing.T) {
		r := newRig(t, nil)
		_, uc := r.deviceAuth()
		b := r.browser()
		b.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		csrf, _ := b.open(uc)
		form := url.Values{"csrf": {csrf}, "user_code": {uc}, "redirect_uri": {"https://evil.example/cb"}, "next": {"https://evil.example"}}
		req, _ := http.NewRequest(http.MethodPost, r.gw.URL+PathVerify+"?redirect_uri=https://evil.example", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", r.gw.URL)
		resp, err := b.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		q := loc.Query()
		if resp.StatusCode != 303 || !strings.HasPrefix(loc.String(), r.idp.Issuer()+"/authorize?") {
			t.Fatalf("redirect to %q (%d), want the IdP's authorization endpoint", loc, resp.StatusCode)
		}
		if q.Get("redirect_uri") != r.gw.URL+PathCallback || q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" || len(q.Get("state")) < 43 {
			t.Errorf("authorize query %v: want the exact redirect URI, S256, a nonce and a 256-bit state", q)
		}
		// A callback with a state that was never issued is refused.
		resp2, _ := b.Get(r.gw.URL + PathCallback + "?state=forged&code=x")
		if resp2.StatusCode != 400 {
			t.Errorf("forged state: %d, want 400", resp2.StatusCode)
		}
		resp2.Body.Close()
	})
	t.Run("state is single-use and bound to the browser", func(t *testing.T) {
		r := newRig(t, nil)
		_, uc := r.deviceAuth()
		b := r.browser()
		var callback string
		b.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if req.URL.Path == PathCallback {
				callback = req.URL.String()
				return http.ErrUseLastResponse
			}
			return nil
		}
		csrf, _ := b.open(uc)
		b.submit(r.gw.URL, url.Values{"csrf": {csrf}, "user_code": {uc}})
		if callback == "" {
			t.Fatal("never redirected back")
		}
		other := r.browser()
		if resp, _ := other.Get(callback); resp.StatusCode != 403 {
			t.Errorf("callback in another browser: %d, want 403", resp.StatusCode)
		}
		b.CheckRedirect = nil
		if resp, _ := b.Get(callback); resp.StatusCode != 200 {
			t.Errorf("callback in the right browser: %d, want 200", resp.StatusCode)
		}
		if resp, _ := b.Get(callback); resp.StatusCode != 400 {
			t.Errorf("replayed callback: %d, want 400", resp.StatusCode)
		}
	})
	idTokenProbes := []struct {
		name  string
		stage func(*oidctest.IdP)
	}{
		{"ID token signed with a foreign key", func(p *oidctest.IdP) { p.SignWithForeignKey(true) }},
		{"expired ID token", func(p *oidctest.IdP) { p.IDTokenTTL(-time.Minute) }},
		{"ID token with another nonce", func(p *oidctest.IdP) { p.WrongNonce(true) }},
	}
	for _, tc := range idTokenProbes {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, nil)
			tc.stage(r.idp)
			dc, uc := r.deviceAuth()
			if st, page := r.signIn(uc); st != 403 {
				t.Errorf("sign-in: %d %s, want 403", st, page)
			}
			if st, body := r.poll(dc); st != 400 || body["error"] != "authorization_pending" {
				t.Errorf("poll: %d %v, want still pending", st, body)
			}
		})
	}
	t.Run("bearer tokens that are not ours", func(t *testing.T) {
		r := newRig(t, nil)
		access, _ := r.login()
		for _, tok := range []string{"", "sk-anything", AccessPrefix + "fam.secret", access + "x", strings.Replace(access, ".", ".x", 1)} {
			if _, e := r.svc.Verify(t.Context(), tok); e == nil || e.Status != 401 {
				t.Errorf("token %q: %v, want 401", tok, e)
			}
		}
	})
}

func TestJWKSKeyRotation(t *testing.T) {
	r := newRig(t, nil)
	r.login()
	fetches := r.idp.JWKSFetches
	r.idp.RotateKey(true) // the old key is gone from the JWKS
	r.login()
	if r.idp.JWKSFetches <= fetches {
		t.Errorf("JWKS fetched %d times after rotation, want a re-fetch for the new kid", r.idp.JWKSFetches-fetches)
	}
}

func TestSignOutRevokesTheSignIn(t *testing.T) {
	r := newRig(t, nil)
	access, refresh := r.login()
	if st, _, _ := r.postForm(PathRevoke, url.Values{"token": {access}}); st != 200 {
		t.Fatalf("revoke: %d", st)
	}
	if _, e := r.svc.Verify(t.Context(), access); e == nil {
		t.Error("access token works after sign-out")
	}
	if st, _, _ := r.postForm(PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}); st != 401 {
		t.Errorf("refresh after sign-out: %d, want 401", st)
	}
}
