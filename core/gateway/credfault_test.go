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

// Google's token endpoint down at refresh time (tokens here live 1 s, so
// every request refreshes): the Vertex deployment fails over to the other
// one with no client-visible error, and serves again once the endpoint is
// back and its cooldown has passed.
func TestTokenEndpointOutage(t *testing.T) {
	vx := vertextest.NewServer(t, vertextest.Options{TokenLifetimes: []time.Duration{time.Second}})
	healthy, err := faultinject.New(faultinject.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(healthy.Close)
	yaml := "model_list:\n  - model_name: claude-sonnet\n" + vertexParams(t, vx, "      order: 1\n") + "    model_info: {id: vertex}\n" +
		fmt.Sprintf("  - model_name: claude-sonnet\n    litellm_params: {model: anthropic/claude-sonnet-4-5, api_key: os.environ/UPSTREAM_KEY, api_base: %q, order: 2}\n    model_info: {id: anthropic}\n", healthy.URL) +
		"router_settings: {cooldown_time: 1}\n" + cliGeneral
	gw := startGateway(t, yaml, gateway.Options{})
	served := func(stream bool) string {
		t.Helper()
		resp := post(t, gw.URL+"/v1/messages", strings.Replace(simpleBody, `"stream":true`, fmt.Sprintf(`"stream":%v`, stream), 1), nil)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || strings.Contains(string(b), "event: error") {
			t.Fatalf("client saw %d %s", resp.StatusCode, b)
		}
		return resp.Header.Get("x-litellm-model-id")
	}
	if id := served(true); id != "vertex" {
		t.Fatalf("before the outage served by %q", id)
	}
	vx.TokenOutage(true)
	for i := range 10 {
		if id := served(i%2 == 0); id != "anthropic" {
			t.Fatalf("during the outage, request %d served by %q", i, id)
		}
	}
	vx.TokenOutage(false)
	for deadline := time.Now().Add(10 * time.Second); served(true) != "vertex"; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the Vertex deployment did not serve again after the token endpoint recovered")
		}
	}
}
