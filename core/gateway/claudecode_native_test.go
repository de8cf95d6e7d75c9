package gateway_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/claude-gateway/claude-gateway/core/providers/anthropic/anthropictest"
	"github.com/claude-gateway/claude-gateway/core/providers/vertex/vertextest"
	"github.com/tidwall/gjson"
)

// nativeMode is one of Claude Code's cloud modes pointed at the gateway.
type nativeMode struct {
	name string
	env  func(gatewayURL string) []string
}

// nativeModes: Claude Code's Bedrock and Vertex modes with the gateway as
// base URL, cloud auth skipped, and the gateway key as ANTHROPIC_AUTH_TOKEN
// (which both modes send as Authorization: Bearer). Every model Claude Code
// picks is named in its cloud's form, so each request exercises the id ->
// group mapping.
var nativeModes = []nativeMode{
	{"bedrock-mode", func(u string) []string {
		id := "us.anthropic.claude-opus-4-5-20251101-v1:0"
		return []string{"CLAUDE_CODE_USE_BEDROCK=1", "ANTHROPIC_BEDROCK_BASE_URL=" + u + "/bedrock", "CLAUDE_CODE_SKIP_BEDROCK_AUTH=1",
			"AWS_REGION=us-east-1", "ANTHROPIC_MODEL=" + id, "ANTHROPIC_SMALL_FAST_MODEL=" + id, "ANTHROPIC_DEFAULT_HAIKU_MODEL=" + id}
	}},
	{"vertex-mode", func(u string) []string {
		id := "claude-opus-4-5@20251101"
		return []string{"CLAUDE_CODE_USE_VERTEX=1", "ANTHROPIC_VERTEX_BASE_URL=" + u + "/vertex_ai/v1", "CLAUDE_CODE_SKIP_VERTEX_AUTH=1",
			"ANTHROPIC_VERTEX_PROJECT_ID=my-project", "CLOUD_ML_REGION=us-east5",
			"ANTHROPIC_MODEL=" + id, "ANTHROPIC_SMALL_FAST_MODEL=" + id, "ANTHROPIC_DEFAULT_HAIKU_MODEL=" + id}
	}},
}

// nativeBackends: one gateway per upstream kind, each serving the group
// claude-opus-4-5 (no wildcard, so an unmapped id fails the test).
func nativeBackends(t *testing.T) []cliBackend {
	b := bedrockCLIFake(t, false)
	v := vertextest.NewServer(t, vertextest.Options{Respond: func(b []byte) []string { return scriptedModel("vertex", b) }})
	a := anthropictest.New(t, "sk-upstream")
	a.Respond = func(w http.ResponseWriter, _ *http.Request, body []byte) {
		var evs []anthropictest.Event
		for _, e := range scriptedModel("anthropic", body) {
			evs = append(evs, anthropictest.Event{Name: gjson.Get(e, "type").String(), Data: e})
		}
		a.Stream(w, evs)
	}
	group := "model_list:\n  - model_name: claude-opus-4-5\n"
	return []cliBackend{
		{name: "bedrock", served: "bedrock", url: startGateway(t, group+bedrockParams(b, "")+cliGeneral, gateway.Options{}).URL,
			check: func(t *testing.T) {
				for _, c := range b.Calls() {
					if c.Rejected != "" {
						t.Errorf("bedrock fake refused a request: %s", c.Rejected)
					}
				}
			}},
		{name: "vertex", served: "vertex", url: startGateway(t, group+vertexParams(t, v, "")+cliGeneral, gateway.Options{}).URL,
			check: func(t *testing.T) {
				for _, c := range v.Calls() {
					if c.Status != 200 {
						t.Errorf("vertex fake answered %d to %s", c.Status, c.Method)
					}
				}
			}},
		{name: "anthropic", served: "anthropic", url: startGateway(t, group+"    litellm_params:\n      model: anthropic/claude-opus-4-5-20251101\n"+
			"      api_key: os.environ/UPSTREAM_KEY\n      api_base: "+a.URL+"\n"+cliGeneral, gateway.Options{}).URL,
			check: func(t *testing.T) {
				if len(a.Requests()) == 0 {
					t.Error("the Anthropic fake was never called")
				}
			}},
	}
}

// TestClaudeCodeNativeModes: the real CLI in Bedrock mode and in Vertex mode,
// pointed at the gateway, answers print mode and completes a Bash tool round
// trip, served in turn by a Bedrock, a Vertex and an Anthropic deployment.
func TestClaudeCodeNativeModes(t *testing.T) {
	bin := os.Getenv("CLAUDE_CODE_BIN")
	if bin == "" {
		t.Skip("SKIP: CLAUDE_CODE_BIN not set (scripts/claude-code-cli.sh installs the CLI; make test sets it)")
	}
	var mu sync.Mutex // the fakes' checks read shared call lists
	for _, b := range nativeBackends(t) {
		for _, mode := range nativeModes {
			t.Run(mode.name+"/"+b.name, func(t *testing.T) {
				t.Parallel()
				env := mode.env(b.url)
				newDir := func() string { return cliDir(t) }
				t.Run("print", func(t *testing.T) {
					if out := claudeNativeCLI(t, bin, newDir(), env, "say hello"); !strings.Contains(out, "reply #1 from "+b.served) {
						t.Errorf("answer %q", out)
					}
				})
				t.Run("bash-round-trip", func(t *testing.T) {
					if out := claudeNativeCLI(t, bin, newDir(), env, "please "+toolMarker); !strings.Contains(out, "Tool said: "+toolOutput) {
						t.Errorf("answer %q", out)
					}
				})
				mu.Lock()
				defer mu.Unlock()
				b.check(t)
			})
		}
	}
}

// TestClaudeCodeModelDiscovery: with CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY
// the CLI reads the gateway's /v1/models at start and keeps what it can use
// (ids starting with "claude", their display names) in its cache.
func TestClaudeCodeModelDiscovery(t *testing.T) {
	bin := os.Getenv("CLAUDE_CODE_BIN")
	if bin == "" {
		t.Skip("SKIP: CLAUDE_CODE_BIN not set (scripts/claude-code-cli.sh installs the CLI; make test sets it)")
	}
	gw := startGateway(t, "model_list:\n  - model_name: claude-opus-4-5\n    litellm_params:\n      model: simulated/claude-opus-4-5-20251101\n"+cliGeneral, gateway.Options{})
	dir := cliDir(t)
	claudeNativeCLI(t, bin, dir, []string{"ANTHROPIC_BASE_URL=" + gw.URL, "CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY=1", "ANTHROPIC_MODEL=claude-opus-4-5"}, "say hello")
	b, err := os.ReadFile(filepath.Join(dir, "home", ".claude", "cache", "gateway-models.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := gjson.GetBytes(b, `models.#(id=="claude-opus-4-5").display_name`).String(); got != "Claude Opus 4.5" {
		t.Errorf("Claude Code's model cache: %s", b)
	}
}
