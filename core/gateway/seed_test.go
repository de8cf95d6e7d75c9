package gateway_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/claude-gateway/claude-gateway/core/providers/bedrock/bedrocktest"
	"github.com/claude-gateway/claude-gateway/core/providers/vertex/vertextest"
	"github.com/tidwall/gjson"
)

// loadSeed parses a seed config unchanged, with every os.environ/ it names set
// from env or to a placeholder.
func loadSeed(t *testing.T, name string, env map[string]string) *config.Config {
	t.Helper()
	path := filepath.Join("..", "..", "..", "shared", "seed-configs", name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("SKIP: seed config %s not found beside the repo: %v", name, err)
	}
	for _, m := range regexp.MustCompile(`os\.environ/([A-Za-z0-9_]+)`).FindAllStringSubmatch(string(data), -1) {
		if _, ok := env[m[1]]; !ok {
			env[m[1]] = "placeholder-" + strings.ToLower(m[1])
		}
	}
	cfg, err := config.Parse(data, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func serve(t *testing.T, cfg *config.Config) *httptest.Server {
	t.Helper()
	gw, err := gateway.Build(context.Background(), cfg, gateway.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(func() { srv.Close(); gw.Close(context.Background()) })
	return srv
}

// The seed's two Bedrock regions (each its own fake, checking the SigV4
// signature for that region) and two Vertex regions (a fake checking the
// bearer token got through the real service-account OAuth2 flow) all receive
// traffic through the gateway, streaming and not.
func TestSeedBasicLoadBalancing(t *testing.T) {
	creds := bedrocktest.Credentials{AccessKeyID: "AKIDSEEDTEST", SecretAccessKey: "seed-secret"}
	fakes := map[string]*bedrocktest.Server{
		"us-east-1": bedrocktest.NewServer(t, bedrocktest.Options{Region: "us-east-1", Credentials: creds}),
		"us-west-2": bedrocktest.NewServer(t, bedrocktest.Options{Region: "us-west-2", Credentials: creds}),
	}
	vfake := vertextest.NewServer(t, vertextest.Options{})
	saFile := vfake.WriteServiceAccountFile(t)
	cfg := loadSeed(t, "basic-load-balancing.yaml", map[string]string{
		"AWS_ACCESS_KEY_ID": creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY": creds.SecretAccessKey,
		"LITELLM_MASTER_KEY": masterKey, "VERTEXAI_PROJECT": vfake.Project(),
	})
	for i := range cfg.Deployments {
		p := &cfg.Deployments[i].Params
		switch p.Provider {
		case config.ProviderBedrock:
			p.APIBase = fakes[p.AWSRegionName].URL
		case config.ProviderVertex:
			p.APIBase, p.VertexCredentials = vfake.URL, saFile
		}
	}
	gw := serve(t, cfg)
	for i := 0; i < 60; i++ {
		body := simpleBody
		if i%2 == 1 {
			body = strings.Replace(simpleBody, `"stream":true`, `"stream":false`, 1)
		}
		resp := post(t, gw.URL+"/v1/messages", body, nil)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, b)
		}
		if i%2 == 1 && gjson.GetBytes(b, "model").String() != "claude-sonnet" {
			t.Fatalf("model not echoed: %s", b)
		}
		if i%2 == 0 && !strings.Contains(string(b), "event: message_stop") {
			t.Fatalf("stream incomplete: %s", b)
		}
	}
	for region, f := range fakes {
		if f.Accepted() == 0 || f.Rejected() != 0 {
			t.Errorf("bedrock %s: accepted %d rejected %d", region, f.Accepted(), f.Rejected())
		}
	}
	served := map[string]int{}
	for _, c := range vfake.Calls() {
		if c.Status == 200 {
			served[c.Location]++
		}
	}
	if served["us-east5"] == 0 || served["europe-west1"] == 0 {
		t.Errorf("vertex calls served per location: %v", served)
	}
	if n := vfake.TokenFetches(); n != 1 {
		t.Errorf("vertex token fetched %d times, want once for all requests", n)
	}
}
