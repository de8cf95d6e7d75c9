package gateway_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/faultinject"
	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/claude-gateway/claude-gateway/core/providers/bedrock/bedrocktest"
)

// stsMode is what the STS endpoint in front of the fake does.
type stsMode int32

const (
	stsUp   stsMode = iota
	stsDown         // 503 at once
	stsSlow         // answers after 5 s, past the deployment's timeout
)

// STS down, then slow, at refresh time for a Bedrock deployment that
// assumes a role (credentials live 1 min, under the 5 min refresh window,
// so every request refreshes): its group fails over to the other deployment
// with no client-visible error, a group on another deployment is served
// throughout, and the Bedrock deployment serves again once STS is back.
func TestSTSOutage(t *testing.T) {
	noCloudEnv(t)
	br := bedrocktest.NewServer(t, bedrocktest.Options{Region: "us-west-2"})
	caller := bedrocktest.RandomCredentials(false)
	sts := bedrocktest.NewSTS(t, br, br.Region, caller, time.Minute)
	var mode atomic.Int32
	target, _ := url.Parse(sts.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch stsMode(mode.Load()) {
		case stsDown:
			http.Error(w, "Service Unavailable", 503)
			return
		case stsSlow:
			select {
			case <-r.Context().Done():
				return
			case <-time.After(5 * time.Second):
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	healthy, err := faultinject.New(faultinject.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(healthy.Close)
	other, err := faultinject.New(faultinject.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)
	yaml := fmt.Sprintf(`model_list:
  - model_name: claude-sonnet
    litellm_params:
      model: bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0
      aws_region_name: us-west-2
      aws_access_key_id: %s
      aws_secret_access_key: %s
      aws_role_name: arn:aws:iam::123456789012:role/claude-gateway-bedrock
      aws_session_name: claude-gateway
      aws_sts_endpoint: %s
      api_base: %s
      order: 1
    model_info: {id: bedrock}
  - model_name: claude-sonnet
    litellm_params: {model: anthropic/claude-sonnet-4-5, api_key: os.environ/UPSTREAM_KEY, api_base: %q, order: 2}
    model_info: {id: anthropic}
  - model_name: claude-other
    litellm_params: {model: anthropic/claude-sonnet-4-5, api_key: os.environ/UPSTREAM_KEY, api_base: %q}
    model_info: {id: other}
router_settings: {cooldown_time: 1, timeout: 1}
general_settings:
  master_key: os.environ/MASTER
`, caller.AccessKeyID, caller.SecretAccessKey, front.URL, br.URL, healthy.URL, other.URL)
	gw := buildGateway(t, yaml, gateway.Options{})
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)

	served := func(model string, stream bool) (string, time.Duration) { return servedBy(t, srv.URL, model, stream) }
	if id, _ := served("claude-sonnet", true); id != "bedrock" {
		t.Fatalf("before the outage served by %q", id)
	}
	before := sts.Calls()
	for _, m := range []stsMode{stsDown, stsSlow} {
		mode.Store(int32(m))
		for i := range 6 {
			// A slow STS does answer in the end: a refresh that outlived its
			// request may have stored fresh credentials, and then Bedrock
			// rightly serves again. Down, it never may.
			if id, _ := served("claude-sonnet", i%2 == 0); id != "anthropic" && (m == stsDown || id != "bedrock") {
				t.Fatalf("STS mode %d, request %d served by %q", m, i, id)
			}
			// The other group never waits on STS.
			if id, took := served("claude-other", i%2 == 1); id != "other" || took > 500*time.Millisecond {
				t.Errorf("STS mode %d: other group served by %q in %v", m, id, took)
			}
		}
		mode.Store(int32(stsUp))
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			if id, _ := served("claude-sonnet", true); id == "bedrock" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the Bedrock deployment did not serve again after STS mode %d ended", m)
			}
		}
	}
	if sts.Calls() <= before {
		t.Error("no STS call after the first: credentials were not refreshed per request")
	}
}
