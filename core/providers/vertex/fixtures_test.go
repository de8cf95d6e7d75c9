package vertex

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/claude-gateway/claude-gateway/core/llm"
)

// sharedDir finds the team's shared/ directory (captures and seed configs)
// by walking up from the package; tests that need it skip without it.
func sharedDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		cand := filepath.Join(dir, "shared")
		if st, err := os.Stat(filepath.Join(cand, "claude-code-requests")); err == nil && st.IsDir() {
			return cand
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("shared/ (captured requests, seed configs) not found above the package")
		}
		dir = parent
	}
}

type fixture struct {
	Name    string
	Path    string            `json:"path"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// request is the fixture as the server would hand it to a provider.
func (f fixture) request() *llm.Request {
	req := &llm.Request{Kind: llm.KindMessages, Body: f.Body}
	if f.Path == "/v1/messages/count_tokens" {
		req.Kind = llm.KindCountTokens
	}
	for _, b := range strings.Split(f.Headers["anthropic-beta"], ",") {
		if b = strings.TrimSpace(b); b != "" {
			req.Betas = append(req.Betas, b)
		}
	}
	return req
}

func loadFixtures(t testing.TB) []fixture {
	t.Helper()
	dir := filepath.Join(sharedDir(t), "claude-code-requests")
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(paths) == 0 {
		t.Skip("no captured requests")
	}
	var out []fixture
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var f fixture
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		f.Name = strings.TrimSuffix(filepath.Base(p), ".json")
		out = append(out, f)
	}
	return out
}
