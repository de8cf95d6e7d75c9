// Package devicetest plays Claude Code's /login against a gateway in tests:
// the device authorization request, the user's browser on the verification
// page and the IdP round trip, then the polls. It drives the real HTTP
// routes, so every check the gateway makes (CSRF field, Origin, the
// authorization_pending and slow_down answers) is exercised.
package devicetest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/sso/oidctest"
)

// deviceGrant is the token request's grant_type for a device code (RFC 8628).
const deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// Tokens is what a completed login yields. DeviceCode is kept so a test can
// replay it and see it refused.
type Tokens struct {
	Access, Refresh, DeviceCode string
}

// Form posts v to base+path as application/x-www-form-urlencoded and
// decodes the JSON answer, as an OAuth client does.
func Form(t testing.TB, base, path string, v url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(base+path, v)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// Poll is one token request for deviceCode.
func Poll(t testing.TB, base, deviceCode string) (int, map[string]any) {
	t.Helper()
	return Form(t, base, "/oauth/token", url.Values{"grant_type": {deviceGrant}, "device_code": {deviceCode}})
}

// Login signs user in at idp and runs the device flow against base. A poll
// before the browser step must answer authorization_pending; after it,
// polls honour slow_down until the tokens arrive.
func Login(t testing.TB, base string, idp *oidctest.IdP, user oidctest.User) Tokens {
	t.Helper()
	idp.SignInAs(user)
	code, da := Form(t, base, "/oauth/device_authorization", url.Values{"surface": {"claude_code"}})
	if code != 200 {
		t.Fatalf("device authorization: %d %v", code, da)
	}
	dc, _ := da["device_code"].(string)
	if code, body := Poll(t, base, dc); code != 400 || body["error"] != "authorization_pending" {
		t.Fatalf("poll before sign-in: %d %v", code, body)
	}
	approve(t, base, da["verification_uri_complete"].(string), da["user_code"].(string))
	for i := 0; i < 20; i++ {
		code, body := Poll(t, base, dc)
		if code == 200 {
			return Tokens{Access: body["access_token"].(string), Refresh: body["refresh_token"].(string), DeviceCode: dc}
		}
		if body["error"] != "slow_down" {
			t.Fatalf("poll: %d %v", code, body)
		}
		time.Sleep(500 * time.Millisecond) // the tests' interval bucket
	}
	t.Fatal("never got a token")
	return Tokens{}
}

// approve is the browser half: open the verification page, submit its form
// with the CSRF field and a same-origin Origin, follow the IdP round trip.
func approve(t testing.TB, base, verificationURI, userCode string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err := browser.Get(verificationURI)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(page)
	if m == nil {
		t.Fatalf("verification page: %s", page)
	}
	form := url.Values{"csrf": {string(m[1])}, "user_code": {userCode}}
	req, _ := http.NewRequest(http.MethodPost, base+"/device", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	if resp, err = browser.Do(req); err != nil {
		t.Fatal(err)
	}
	done, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("sign-in: %d %s", resp.StatusCode, done)
	}
}
