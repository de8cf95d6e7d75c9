package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/sso/oidctest"
)

// Two gateway processes share one DynamoDB server behind a round-robin
// front (the public URL): every request of the sign-in, the device
// authorization, the page, the IdP callback, each poll, the refreshes, lands
// on the other process from the one before. The flow completes, the refresh
// rotation and its reuse detection hold across processes.
func TestMultiInstanceSSODeviceFlow(t *testing.T) {
	endpoint := os.Getenv("DYNAMODB_ENDPOINT")
	if endpoint == "" {
		t.Skip("SKIP: DYNAMODB_ENDPOINT is not set; run through scripts/test-services.sh (make test does) to start dynalite")
	}
	bin := gatewayBinary(t)
	front := httptest.NewUnstartedServer(nil)
	public := "http://" + front.Listener.Addr().String()
	idp := oidctest.New(oidctest.Options{ClientID: "gateway", ClientSecret: "idp-secret", RedirectURI: public + "/sso/callback"})
	defer idp.Close()
	idp.SignInAs(oidctest.User{Sub: "dana", Email: "dana@example.com", EmailVerified: true, Groups: []string{"eng"}})
	cfgPath := writeConfig(t, `
model_list:
  - model_name: claude-sonnet-4-5
    litellm_params: {model: simulated/claude-sonnet-4-5, output_tokens: 3, time_to_first_token_ms: 0}
general_settings:
  master_key: sk-multi
  sso:
    public_url: `+public+`
    issuer: `+idp.Issuer()+`
    client_id: gateway
    client_secret: os.environ/SSO_SECRET
    allowed_email_domains: [example.com]
    groups: {eng: {managed_settings: {availableModels: [sonnet]}}}
`)
	table := fmt.Sprintf("gw-sso-%d", time.Now().UnixNano())
	env := []string{"GATEWAY_CONFIG=" + cfgPath, "GATEWAY_STATE_STORE=dynamodb", "GATEWAY_STATE_TABLE=" + table,
		"AWS_ENDPOINT_URL_DYNAMODB=" + endpoint, "AWS_ACCESS_KEY_ID=AKIDLOCAL", "AWS_SECRET_ACCESS_KEY=local",
		"AWS_REGION=us-east-1", "LOG_LEVEL=warn", "SSO_SECRET=idp-secret"}
	var backends []*url.URL
	for i := 0; i < 2; i++ {
		port := freePort(t)
		cmd := exec.Command(bin)
		cmd.Env = append(append(os.Environ(), env...), "PORT="+port, fmt.Sprintf("GATEWAY_STATE_CREATE_TABLE=%v", i == 0))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		base := "http://127.0.0.1:" + port
		up := false
		for j := 0; j < 200 && !up; j++ {
			if resp, err := http.Get(base + "/health/liveliness"); err == nil {
				resp.Body.Close()
				up = true
			} else {
				time.Sleep(25 * time.Millisecond)
			}
		}
		if !up {
			t.Fatal("gateway did not start")
		}
		u, _ := url.Parse(base)
		backends = append(backends, u)
	}
	var next atomic.Int64
	served := [2]atomic.Int64{}
	front.Config.Handler = &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		i := next.Add(1) % 2
		served[i].Add(1)
		r.SetURL(backends[i])
		r.Out.Host = r.In.Host
	}}
	front.Start()
	defer front.Close()

	form := func(path string, v url.Values) (int, map[string]any) {
		resp, err := http.PostForm(public+path, v)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	code, da := form("/oauth/device_authorization", url.Values{"surface": {"claude_code"}})
	if code != 200 {
		t.Fatalf("device authorization: %d %v", code, da)
	}
	dc := da["device_code"].(string)
	poll := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {dc}}
	if code, body := form("/oauth/token", poll); code != 400 || body["error"] != "authorization_pending" {
		t.Fatalf("poll before sign-in: %d %v", code, body)
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err := browser.Get(da["verification_uri_complete"].(string))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("page: %s", page)
	}
	req, _ := http.NewRequest(http.MethodPost, public+"/device", strings.NewReader(url.Values{"csrf": {string(m[1])}, "user_code": {da["user_code"].(string)}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", public)
	if resp, err = browser.Do(req); err != nil {
		t.Fatal(err)
	}
	done, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("sign-in across instances: %d %s", resp.StatusCode, done)
	}
	code, tok := form("/oauth/token", poll)
	if code != 200 {
		t.Fatalf("token across instances: %d %v", code, tok)
	}
	if code, body := form("/oauth/token", poll); code != 400 || body["error"] != "invalid_grant" {
		t.Errorf("device code replayed on the other instance: %d %v", code, body)
	}
	access := tok["access_token"].(string)
	for i := 0; i < 2; i++ { // one request on each process
		req, _ := http.NewRequest(http.MethodGet, public+"/managed/settings", nil)
		req.Header.Set("Authorization", "Bearer "+access)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("managed settings %d: %v %v", i, err, resp)
		}
		resp.Body.Close()
	}
	refresh := tok["refresh_token"].(string)
	code, rot := form("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	if code != 200 {
		t.Fatalf("refresh: %d %v", code, rot)
	}
	if code, body := form("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}); code != 401 || body["error"] != "invalid_grant" {
		t.Fatalf("reuse on the other instance: %d %v", code, body)
	}
	if code, body := form("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rot["refresh_token"].(string)}}); code != 401 {
		t.Errorf("rotated token after reuse was detected elsewhere: %d %v", code, body)
	}
	if served[0].Load() < 4 || served[1].Load() < 4 {
		t.Errorf("requests per instance %d/%d: both must serve steps of the flow", served[0].Load(), served[1].Load())
	}
}
