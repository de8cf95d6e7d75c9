package main

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/claude-gateway/claude-gateway/core/sso/devicetest"
	"github.com/claude-gateway/claude-gateway/core/sso/oidctest"
)

// Two gateway processes share one DynamoDB server behind a round-robin
// front (the public URL): every request of the sign-in, the device
// authorization, the page, the IdP callback, each poll, the refreshes, lands
// on the other process from the one before. The flow completes, the refresh
// rotation and its reuse detection hold across processes.
func TestMultiInstanceSSODeviceFlow(t *testing.T) {
	front := httptest.NewUnstartedServer(nil)
	public := "http://" + front.Listener.Addr().String()
	idp := oidctest.New(oidctest.Options{ClientID: "gateway", ClientSecret: "idp-secret", RedirectURI: public + "/sso/callback"})
	defer idp.Close()
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
	var backends []*url.URL
	for _, in := range startInstances(t, dynamoEnv(t, cfgPath, "gw-sso", "SSO_SECRET=idp-secret"), 2) {
		u, _ := url.Parse(in.base)
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

	form := func(path string, v url.Values) (int, map[string]any) { return devicetest.Form(t, public, path, v) }
	tok := devicetest.Login(t, public, idp, oidctest.User{Sub: "dana", Email: "dana@example.com", EmailVerified: true, Groups: []string{"eng"}})
	if code, body := devicetest.Poll(t, public, tok.DeviceCode); code != 400 || body["error"] != "invalid_grant" {
		t.Errorf("device code replayed on the other instance: %d %v", code, body)
	}
	access := tok.Access
	for i := 0; i < 2; i++ { // one request on each process
		req, _ := http.NewRequest(http.MethodGet, public+"/managed/settings", nil)
		req.Header.Set("Authorization", "Bearer "+access)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("managed settings %d: %v %v", i, err, resp)
		}
		resp.Body.Close()
	}
	refresh := tok.Refresh
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
