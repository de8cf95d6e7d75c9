package gateway_test

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/providers/anthropic/anthropictest"
)

// context1MConfig: claude-sonnet-4-5 declares the 1M context (model_info),
// claude-haiku does not.
func context1MConfig(upstream string) string {
	return `
model_list:
  - model_name: claude-sonnet-4-5
    litellm_params:
      model: anthropic/claude-sonnet-4-5-20250929
      api_key: os.environ/UPSTREAM_KEY
      api_base: ` + upstream + `
    model_info: {max_input_tokens: 1000000}
  - model_name: claude-haiku-4-5
    litellm_params:
      model: anthropic/claude-haiku-4-5-20251001
      api_key: os.environ/UPSTREAM_KEY
      api_base: ` + upstream + `
` + cliGeneral
}

// upstreamBetas is the anthropic-beta flags of the fake's last request.
func upstreamBetas(t *testing.T, a *anthropictest.Server) []string {
	t.Helper()
	reqs := a.Requests()
	if len(reqs) == 0 {
		t.Fatal("the upstream was never called")
	}
	return llm.ParseBetas(reqs[len(reqs)-1].Header)
}

// A group whose deployments declare a 1M context is listed twice, plain
// (200k) and as "name[1m]" (1M); a "[1m]" name, on /v1/messages or a
// Bedrock id, reaches the group with the context-1m beta.
func TestContext1MVariant(t *testing.T) {
	a := anthropictest.New(t, "sk-upstream")
	gw := startGateway(t, context1MConfig(a.URL), gateway.Options{})

	code, _, out := call(t, "GET", gw.URL+"/v1/models?limit=1000", masterKey, "")
	if code != 200 {
		t.Fatalf("models: %d %s", code, out)
	}
	var ids []string
	for _, m := range gjson.Get(out, "data").Array() {
		ids = append(ids, m.Get("id").String())
	}
	if want := []string{"claude-haiku-4-5", "claude-sonnet-4-5", "claude-sonnet-4-5[1m]"}; !slices.Equal(ids, want) {
		t.Fatalf("ids %v, want %v", ids, want)
	}
	if in := gjson.Get(out, `data.#(id=="claude-sonnet-4-5").max_input_tokens`).Int(); in != 200000 {
		t.Errorf("plain entry max_input_tokens %d", in)
	}
	if in := gjson.Get(out, `data.#(id=="claude-sonnet-4-5[1m]").max_input_tokens`).Int(); in != 1000000 {
		t.Errorf("[1m] entry max_input_tokens %d", in)
	}
	if last := gjson.Get(out, "last_id").String(); last != "claude-sonnet-4-5[1m]" {
		t.Errorf("last_id %q", last)
	}
	if code, _, out := call(t, "GET", gw.URL+"/v1/models/claude-sonnet-4-5[1m]", masterKey, ""); code != 200 || gjson.Get(out, "max_input_tokens").Int() != 1000000 {
		t.Errorf("GET one [1m] model: %d %s", code, out)
	}
	if code, _, _ := call(t, "GET", gw.URL+"/v1/models/claude-haiku-4-5[1m]", masterKey, ""); code != 404 {
		t.Errorf("GET a [1m] variant nobody serves: %d, want 404", code)
	}

	code, _, out = call(t, "POST", gw.URL+"/v1/messages", masterKey, message("claude-sonnet-4-5[1m]"))
	if code != 200 {
		t.Fatalf("messages with [1m]: %d %s", code, out)
	}
	if b := upstreamBetas(t, a); !slices.Contains(b, "context-1m-2025-08-07") {
		t.Errorf("upstream betas %v lack context-1m", b)
	}
	reqs := a.Requests()
	if m := gjson.GetBytes(reqs[len(reqs)-1].Body, "model").String(); m != "claude-sonnet-4-5-20250929" {
		t.Errorf("upstream model %q", m)
	}

	// A Bedrock-mode client naming the tagged id (URL-encoded, as the AWS SDK sends it).
	id := url.PathEscape("us.anthropic.claude-sonnet-4-5-20250929-v1:0[1m]")
	req, _ := http.NewRequest("POST", gw.URL+"/bedrock/model/"+id+"/invoke",
		strings.NewReader(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+masterKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("bedrock invoke with [1m]: %d %s", resp.StatusCode, body)
	}
	if n := len(a.Requests()); n != 2 {
		t.Fatalf("%d upstream calls", n)
	}
	if b := upstreamBetas(t, a); !slices.Contains(b, "context-1m-2025-08-07") {
		t.Errorf("bedrock route: upstream betas %v lack context-1m", b)
	}
}

// The real CLI with gateway model discovery keeps both spellings, and with
// ANTHROPIC_MODEL=claude-sonnet-4-5[1m] (and in Bedrock mode with the
// tagged inference profile id) its requests reach the group with the
// context-1m beta.
func TestClaudeCodeContext1M(t *testing.T) {
	bin := os.Getenv("CLAUDE_CODE_BIN")
	if bin == "" {
		t.Skip("SKIP: CLAUDE_CODE_BIN not set (scripts/claude-code-cli.sh installs the CLI; make test sets it)")
	}
	a := anthropictest.New(t, "sk-upstream")
	gw := startGateway(t, context1MConfig(a.URL), gateway.Options{})
	modes := []struct {
		name string
		env  []string
	}{
		{"gateway", []string{"ANTHROPIC_BASE_URL=" + gw.URL, "CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY=1", "ANTHROPIC_MODEL=claude-sonnet-4-5[1m]",
			"ANTHROPIC_SMALL_FAST_MODEL=claude-haiku-4-5", "ANTHROPIC_DEFAULT_HAIKU_MODEL=claude-haiku-4-5"}},
		{"bedrock", []string{"CLAUDE_CODE_USE_BEDROCK=1", "ANTHROPIC_BEDROCK_BASE_URL=" + gw.URL + "/bedrock", "CLAUDE_CODE_SKIP_BEDROCK_AUTH=1",
			"AWS_REGION=us-east-1", "ANTHROPIC_MODEL=us.anthropic.claude-sonnet-4-5-20250929-v1:0[1m]",
			"ANTHROPIC_SMALL_FAST_MODEL=us.anthropic.claude-haiku-4-5-20251001-v1:0", "ANTHROPIC_DEFAULT_HAIKU_MODEL=us.anthropic.claude-haiku-4-5-20251001-v1:0"}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			dir := cliDir(t)
			before := len(a.Requests())
			if out := claudeNativeCLI(t, bin, dir, m.env, "say hello"); !strings.Contains(out, "Hello there") {
				t.Errorf("CLI answered %q", out)
			}
			wide := 0
			for _, r := range a.Requests()[before:] {
				if gjson.GetBytes(r.Body, "model").String() == "claude-sonnet-4-5-20250929" {
					if !slices.Contains(llm.ParseBetas(r.Header), "context-1m-2025-08-07") {
						t.Errorf("a sonnet request without context-1m: %v", r.Header.Values("anthropic-beta"))
					}
					wide++
				}
			}
			if wide == 0 {
				t.Error("no request reached the 1M group")
			}
			if m.name != "gateway" {
				return
			}
			b, err := os.ReadFile(filepath.Join(dir, "home", ".claude", "cache", "gateway-models.json"))
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{"claude-sonnet-4-5", "claude-sonnet-4-5[1m]"} {
				if !gjson.GetBytes(b, `models.#(id=="`+id+`")`).Exists() {
					t.Errorf("Claude Code's model cache lacks %s: %s", id, b)
				}
			}
		})
	}
}
