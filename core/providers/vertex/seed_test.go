package vertex

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/providers/vertex/vertextest"
)

// The seed configs' Vertex deployments, loaded unchanged and pointed at the
// fake with api_base and ADC (GOOGLE_APPLICATION_CREDENTIALS), serve
// streaming and non-streaming requests; all of them share one token.
func TestSeedConfigsServeThroughFake(t *testing.T) {
	dir := filepath.Join(sharedDir(t), "seed-configs")
	srv := vertextest.NewServer(t, vertextest.Options{})
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", srv.WriteServiceAccountFile(t))
	lookup := func(k string) (string, bool) {
		if k == "VERTEXAI_PROJECT" {
			return srv.Project(), true
		}
		return "placeholder-" + k, true
	}
	cache := NewCredentialCache()
	want := map[string][]string{
		"basic-load-balancing.yaml": {"us-east5/claude-3-5-sonnet-v2@20241022", "europe-west1/claude-3-5-sonnet-v2@20241022"},
		"multi-model.yaml": {"us-east5/claude-3-5-sonnet-v2@20241022", "us-east5/claude-3-5-haiku@20241022",
			"us-east5/claude-3-opus@20240229"},
	}
	for name, targets := range want {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Skip(err)
			}
			cfg, err := config.Parse(data, lookup)
			if err != nil {
				t.Fatal(err)
			}
			from := len(srv.Calls())
			for _, d := range cfg.Deployments {
				if d.Params.Provider != config.ProviderVertex {
					continue
				}
				d.Params.APIBase = srv.URL
				p, err := New(context.Background(), d, Options{Credentials: cache})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := p.Send(context.Background(), messagesRequest(false)); err != nil {
					t.Fatal(err)
				}
				s, err := p.Stream(context.Background(), messagesRequest(true, "claude-code-20250219"))
				if err != nil {
					t.Fatal(err)
				}
				evs, err := drain(t, s)
				s.Close()
				if err != nil || len(evs) == 0 {
					t.Fatalf("stream: %d events, %v", len(evs), err)
				}
			}
			var got []string
			for _, c := range srv.Calls()[from:] {
				if c.Project != srv.Project() || c.Status != 200 {
					t.Errorf("call %+v", c)
				}
				if k := c.Location + "/" + c.Model; !slices.Contains(got, k) {
					got = append(got, k)
				}
			}
			if !slices.Equal(got, targets) {
				t.Errorf("served %v, want %v", got, targets)
			}
		})
	}
	if n := srv.TokenFetches(); n != 1 {
		t.Errorf("%d token fetches across all seed deployments, want 1", n)
	}
}
