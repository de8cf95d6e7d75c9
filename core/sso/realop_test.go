package sso

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/sso/oidctest"
	"github.com/claude-gateway/claude-gateway/core/store/memory"
)

// TestRealOIDCProvider signs in through a real OpenID provider: the
// example OP of github.com/zitadel/oidc (OIDC_OP_BIN, built from the module
// proxy by scripts/oidc-provider.sh; make test sets it), on loopback. It
// enforces the registered redirect URI, PKCE and the client secret itself,
// signs RS256 ID tokens from its JWKS, and keeps email out of the ID token
// (the gateway reads it from UserInfo).
func TestRealOIDCProvider(t *testing.T) {
	gw := httptest.NewUnstartedServer(nil)
	public := "http://" + gw.Listener.Addr().String()
	issuer := oidctest.ExampleOP(t, `{"id-erin": {"ID": "id-erin", "Username": "erin", "Password": "correct horse",
		"FirstName": "Erin", "LastName": "E", "Email": "erin@example.com", "EmailVerified": true, "PreferredLanguage": "en"}}`, public+PathCallback)
	cfg := &config.SSOSettings{
		PublicURL: public, Issuer: issuer, ClientID: "web", ClientSecret: "secret",
		Scopes: []string{"openid", "email", "profile"}, AllowedEmailDomains: []string{"example.com"}, GroupsClaim: "groups",
		AccessTokenTTL: time.Hour, RefreshTokenTTL: 24 * time.Hour, DeviceCodeTTL: 10 * time.Minute,
		PollInterval: 5 * time.Second, VerifyAttemptsPerMinute: 10, ManagedSettings: map[string]any{},
	}
	c := &clock{t: time.Now()}
	svc := New(cfg, memory.New(c.Now), Options{Now: c.Now})
	mux := http.NewServeMux()
	for p, h := range svc.Routes() {
		mux.Handle(p, h)
	}
	gw.Config.Handler = mux
	gw.Start()
	defer gw.Close()
	r := &rig{t: t, gw: gw, svc: svc, cfg: cfg, clock: c}

	signIn := func(password string) (int, string) {
		dc, uc := r.deviceAuth()
		_ = dc
		b := r.browser()
		csrf, _ := b.open(uc)
		st, page := b.submit(public, url.Values{"csrf": {csrf}, "user_code": {uc}})
		m := regexp.MustCompile(`name="id" value="([^"]+)"`).FindStringSubmatch(page)
		if st != 200 || m == nil {
			t.Fatalf("the OP's login page: %d %s", st, page)
		}
		resp, err := b.PostForm(issuer+"login/username", url.Values{"id": {m[1]}, "username": {"erin"}, "password": {password}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 && strings.Contains(string(body), "signed in") {
			if st, tok := r.poll(dc); st != 200 || tok["email"] != "erin@example.com" {
				t.Fatalf("token after the real OP's sign-in: %d %v", st, tok)
			}
		}
		return resp.StatusCode, string(body)
	}
	if st, page := signIn("correct horse"); st != 200 || !strings.Contains(page, "erin@example.com") {
		t.Fatalf("sign-in through the real OP: %d %s", st, page)
	}
	// A wrong password never reaches the gateway's callback.
	if _, page := signIn("wrong"); strings.Contains(page, "You are signed in") {
		t.Error("a wrong password signed in")
	}
}
