package gateway_test

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/faultinject"
	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/claude-gateway/claude-gateway/core/providers/vertex/vertextest"
)

// Google's token endpoint down, then slow (answering after 5 s, past the
// deployment's 1 s timeout), at refresh time (tokens here live 1 s, so every
// request refreshes): the Vertex deployment's group fails over to the other
// deployment with no client-visible error, a group on another deployment is
// served throughout with bounded latency, and the Vertex deployment serves
// again once the endpoint is back and its cooldown has passed.
func TestTokenEndpointOutage(t *testing.T) {
	vx := vertextest.NewServer(t, vertextest.Options{TokenLifetimes: []time.Duration{time.Second}})
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
	yaml := "model_list:\n  - model_name: claude-sonnet\n" + vertexParams(t, vx, "      order: 1\n") + "    model_info: {id: vertex}\n" +
		fmt.Sprintf("  - model_name: claude-sonnet\n    litellm_params: {model: anthropic/claude-sonnet-4-5, api_key: os.environ/UPSTREAM_KEY, api_base: %q, order: 2}\n    model_info: {id: anthropic}\n", healthy.URL) +
		fmt.Sprintf("  - model_name: claude-other\n    litellm_params: {model: anthropic/claude-sonnet-4-5, api_key: os.environ/UPSTREAM_KEY, api_base: %q}\n    model_info: {id: other}\n", other.URL) +
		"router_settings: {cooldown_time: 1, timeout: 1}\n" + cliGeneral
	gw := startGateway(t, yaml, gateway.Options{})
	served := func(model string, stream bool) (string, time.Duration) { return servedBy(t, gw.URL, model, stream) }
	if id, _ := served("claude-sonnet", true); id != "vertex" {
		t.Fatalf("before the outage served by %q", id)
	}
	outages := []struct {
		name       string
		start, end func()
		// mayRecover: a slow endpoint does answer in the end, and a refresh
		// that outlived its request may have cached a fresh token, with which
		// Vertex rightly serves again. A down endpoint never may.
		mayRecover bool
	}{
		{"down", func() { vx.TokenOutage(true) }, func() { vx.TokenOutage(false) }, false},
		{"slow", func() { vx.TokenDelay(5 * time.Second) }, func() { vx.TokenDelay(0) }, true},
	}
	for _, o := range outages {
		fetches := vx.TokenFetches()
		o.start()
		for i := range 6 {
			if id, took := served("claude-sonnet", i%2 == 0); id != "anthropic" && (!o.mayRecover || id != "vertex") {
				t.Fatalf("token endpoint %s, request %d served by %q", o.name, i, id)
			} else if took > 3*time.Second {
				t.Errorf("token endpoint %s, request %d took %v to fail over", o.name, i, took)
			}
			// The other group never waits on Google's token endpoint.
			if id, took := served("claude-other", i%2 == 1); id != "other" || took > 500*time.Millisecond {
				t.Errorf("token endpoint %s: other group served by %q in %v", o.name, id, took)
			}
		}
		o.end()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			if id, _ := served("claude-sonnet", true); id == "vertex" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the Vertex deployment did not serve again after the token endpoint was %s", o.name)
			}
		}
		if vx.TokenFetches() <= fetches {
			t.Errorf("token endpoint %s: no token fetch: the outage was never met", o.name)
		}
	}
}

// servedBy sends one request for model (streaming or not) to the gateway at
// base and fails the test unless the client sees a clean 200; it returns
// the deployment that served (x-litellm-model-id) and how long it took.
// The credential fault tests use it to watch failover and recovery.
func servedBy(t *testing.T, base, model string, stream bool) (string, time.Duration) {
	t.Helper()
	body := strings.Replace(simpleBody, `"stream":true`, fmt.Sprintf(`"stream":%v`, stream), 1)
	body = strings.Replace(body, `"claude-sonnet"`, fmt.Sprintf("%q", model), 1)
	start := time.Now()
	resp := post(t, base+"/v1/messages", body, nil)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || strings.Contains(string(b), "event: error") {
		t.Fatalf("%s: client saw %d %s", model, resp.StatusCode, b)
	}
	return resp.Header.Get("x-litellm-model-id"), time.Since(start)
}
