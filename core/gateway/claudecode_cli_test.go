package gateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/claude-gateway/claude-gateway/core/providers/bedrock/bedrocktest"
	"github.com/claude-gateway/claude-gateway/core/providers/vertex/vertextest"
	"github.com/tidwall/gjson"
)

// The real Claude Code CLI (CLAUDE_CODE_BIN, installed from npm by
// scripts/claude-code-cli.sh, which `make test` and `make smoke-claude-code`
// run) against the gateway, in first-party mode (ANTHROPIC_BASE_URL), with
// each provider's fake behind it refusing what the real service refuses.

// toolMarker in a prompt makes the scripted model call the Bash tool.
const (
	toolMarker  = "RUN-THE-MARKER-COMMAND"
	toolCommand = "echo gateway-roundtrip-42"
	toolOutput  = "gateway-roundtrip-42"
)

// scriptedModel answers a Messages body as a tiny deterministic model: a
// tool_result is echoed back ("Tool said: ..."); a prompt with toolMarker,
// when the request offers Bash, gets a Bash tool_use; anything else gets
// "reply #N from <who>", N counting the assistant turns so far plus one.
func scriptedModel(who string, body []byte) []string {
	msgs := gjson.GetBytes(body, "messages").Array()
	var last gjson.Result
	if len(msgs) > 0 {
		last = msgs[len(msgs)-1]
	}
	turn := 1
	for _, m := range msgs {
		if m.Get("role").Str == "assistant" {
			turn++
		}
	}
	offersBash := false
	gjson.GetBytes(body, "tools").ForEach(func(_, t gjson.Result) bool {
		offersBash = t.Get("name").Str == "Bash"
		return !offersBash
	})
	var toolResult, prompt string
	last.Get("content").ForEach(func(_, b gjson.Result) bool {
		switch b.Get("type").Str {
		case "tool_result":
			if c := b.Get("content"); c.Type == gjson.String {
				toolResult = c.Str
			} else {
				c.ForEach(func(_, nb gjson.Result) bool { toolResult += nb.Get("text").Str; return true })
			}
		case "text":
			prompt = b.Get("text").Str
		}
		return true
	})
	if c := last.Get("content"); c.Type == gjson.String {
		prompt = c.Str
	}
	switch {
	case toolResult != "":
		return textEvents("Tool said: " + strings.TrimSpace(toolResult))
	case offersBash && strings.Contains(prompt, toolMarker):
		input, _ := json.Marshal(map[string]string{"command": toolCommand, "description": "Print the marker"})
		partial, _ := json.Marshal(string(input))
		return []string{
			messageStart(),
			`{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_01GatewayRoundTrip","name":"Bash","input":{}}}`,
			`{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":` + string(partial) + `}}`,
			`{"type":"content_block_stop","index":0}`,
			`{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":12}}`,
			`{"type":"message_stop"}`,
		}
	}
	return textEvents(fmt.Sprintf("reply #%d from %s", turn, who))
}

func messageStart() string {
	return `{"type":"message_start","message":{"id":"msg_01Scripted","type":"message","role":"assistant","model":"claude-scripted","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}}`
}

func textEvents(text string) []string {
	t, _ := json.Marshal(text)
	return []string{
		messageStart(),
		`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":` + string(t) + `}}`,
		`{"type":"content_block_stop","index":0}`,
		`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":5}}`,
		`{"type":"message_stop"}`,
	}
}

// cliBackend is a gateway with one kind of upstream behind its "*" group.
type cliBackend struct {
	name, url string
	// served is who must answer ("bedrock" or "vertex").
	served string
	// check runs after each case: the fakes refused nothing they should not.
	check func(t *testing.T)
}

func bedrockCLIFake(t *testing.T, fail bool) *bedrocktest.Server {
	return bedrocktest.NewServer(t, bedrocktest.Options{Region: "us-east-1", Reply: func(c *bedrocktest.Call) bedrocktest.Reply {
		if fail {
			return bedrocktest.Reply{Error: &bedrocktest.Exception{Type: "InternalServerException", Status: 500,
				Message: "The system encountered an unexpected error during processing. Try your request again."}}
		}
		return bedrocktest.Reply{Events: scriptedModel("bedrock", c.Body)}
	}})
}

func bedrockParams(f *bedrocktest.Server, extra string) string {
	p := "    litellm_params:\n      model: bedrock/us.anthropic.claude-opus-4-5-20251101-v1:0\n" + extra
	for k, v := range f.Params() {
		p += "      " + k + ": " + v + "\n"
	}
	return p
}

func vertexParams(t *testing.T, f *vertextest.Server, extra string) string {
	return "    litellm_params:\n      model: vertex_ai/claude-opus-4-5@20251101\n      vertex_ai_location: us-east5\n" +
		"      vertex_ai_project: " + f.Project() + "\n      vertex_credentials: " + f.WriteServiceAccountFile(t) +
		"\n      api_base: " + f.URL + "\n" + extra
}

const cliGeneral = "general_settings:\n  master_key: os.environ/MASTER\n"

func cliBackends(t *testing.T) []cliBackend {
	vertexFake := func() *vertextest.Server {
		return vertextest.NewServer(t, vertextest.Options{Respond: func(b []byte) []string { return scriptedModel("vertex", b) }})
	}
	vertexOK := func(f *vertextest.Server) func(t *testing.T) {
		return func(t *testing.T) {
			for _, c := range f.Calls() {
				if c.Status != 200 {
					t.Errorf("vertex fake answered %d to %s", c.Status, c.Method)
				}
			}
		}
	}
	b := bedrockCLIFake(t, false)
	bm := bedrockCLIFake(t, false)
	v := vertexFake()
	broken, v2 := bedrockCLIFake(t, true), vertexFake()
	return []cliBackend{
		{name: "bedrock", served: "bedrock", url: startGateway(t, "model_list:\n  - model_name: \"*\"\n"+bedrockParams(b, "")+cliGeneral, gateway.Options{}).URL,
			check: func(t *testing.T) {
				for _, c := range b.Calls() {
					if c.Rejected != "" {
						t.Errorf("bedrock fake refused a Claude Code request: %s", c.Rejected)
					}
				}
			}},
		// Bedrock's Anthropic Messages API (bedrock_api: messages, SigV4).
		{name: "bedrock-messages", served: "bedrock", url: startGateway(t, "model_list:\n  - model_name: \"*\"\n"+bedrockParams(bm, "      bedrock_api: messages\n")+cliGeneral, gateway.Options{}).URL,
			check: func(t *testing.T) {
				for _, c := range bm.Calls() {
					if c.Rejected != "" || !strings.HasPrefix(c.Op, "messages") {
						t.Errorf("bedrock messages fake: %s refused %q", c.Op, c.Rejected)
					}
				}
			}},
		{name: "vertex", served: "vertex", url: startGateway(t, "model_list:\n  - model_name: \"*\"\n"+vertexParams(t, v, "")+cliGeneral, gateway.Options{}).URL,
			check: vertexOK(v)},
		// The first pick (order 1) answers 500; the group fails over to Vertex.
		{name: "mixed", served: "vertex", url: startGateway(t, "model_list:\n  - model_name: \"*\"\n"+bedrockParams(broken, "      order: 1\n")+
			"  - model_name: \"*\"\n"+vertexParams(t, v2, "      order: 2\n")+cliGeneral, gateway.Options{}).URL,
			check: func(t *testing.T) {
				vertexOK(v2)(t)
				if len(broken.Calls()) == 0 {
					t.Error("the failing first pick was never tried")
				}
			}},
	}
}

// TestClaudeCodeCLI: print mode, a Bash tool round trip and a two-turn
// conversation, through a Bedrock deployment, a Vertex deployment and a mixed
// group whose first pick fails.
func TestClaudeCodeCLI(t *testing.T) {
	bin := os.Getenv("CLAUDE_CODE_BIN")
	if bin == "" {
		t.Skip("SKIP: CLAUDE_CODE_BIN not set (scripts/claude-code-cli.sh installs the CLI; make test sets it)")
	}
	var mu sync.Mutex // the fakes' checks read shared call lists
	for _, b := range cliBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			newDir := func() string { return cliDir(t) }
			t.Run("print", func(t *testing.T) {
				if out := claudeCLI(t, bin, newDir(), b.url, "say hello"); !strings.Contains(out, "reply #1 from "+b.served) {
					t.Errorf("answer %q", out)
				}
			})
			t.Run("bash-round-trip", func(t *testing.T) {
				if out := claudeCLI(t, bin, newDir(), b.url, "please "+toolMarker); !strings.Contains(out, "Tool said: "+toolOutput) {
					t.Errorf("answer %q", out)
				}
			})
			t.Run("multi-turn", func(t *testing.T) {
				dir := newDir()
				if out := claudeCLI(t, bin, dir, b.url, "first question"); !strings.Contains(out, "reply #1 from "+b.served) {
					t.Fatalf("turn 1: %q", out)
				}
				if out := claudeCLI(t, bin, dir, b.url, "second question", "--continue"); !strings.Contains(out, "reply #2 from "+b.served) {
					t.Errorf("turn 2: %q", out)
				}
			})
			mu.Lock()
			defer mu.Unlock()
			b.check(t)
		})
	}
}

// TestThinkingSurvivesProviderFailover: a conversation carrying an earlier
// turn's thinking block fails over from Bedrock (500) to Vertex; the block
// and its signature reach Vertex byte for byte (signatures are portable
// across platforms; see core/quirks/quirks.yaml, thinking-signatures).
func TestThinkingSurvivesProviderFailover(t *testing.T) {
	broken := bedrockCLIFake(t, true)
	v := vertextest.NewServer(t, vertextest.Options{})
	gw := startGateway(t, "model_list:\n  - model_name: claude-opus\n"+bedrockParams(broken, "      order: 1\n")+
		"  - model_name: claude-opus\n"+vertexParams(t, v, "      order: 2\n")+cliGeneral, gateway.Options{})
	thinking := `{"type":"thinking","thinking":"The user wants a listing.","signature":"EqQBCkYIBRgCKkBsig+from/bedrock=="}`
	body := `{"model":"claude-opus","max_tokens":2048,"stream":true,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[` +
		`{"role":"user","content":"list files"},` +
		`{"role":"assistant","content":[` + thinking + `,{"type":"tool_use","id":"toolu_1","name":"Bash","input":{"command":"ls"}}]},` +
		`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"a.txt"}]}]}`
	resp := post(t, gw.URL+"/v1/messages", body, nil)
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(out), "message_stop") {
		t.Fatalf("%d %s", resp.StatusCode, out)
	}
	if len(broken.Calls()) == 0 {
		t.Fatal("the Bedrock deployment was not tried first")
	}
	calls := v.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d Vertex calls", len(calls))
	}
	if got := gjson.GetBytes(calls[0].Body, "messages.1.content.0").Raw; got != thinking {
		t.Errorf("thinking block changed on failover:\n got %s\nwant %s", got, thinking)
	}
}

// TestClaudeCodeInteractive: the interactive CLI (in tmux, onboarding
// pre-accepted) holds a two-turn conversation through a Bedrock deployment
// and a mixed group: interactive mode sends what print mode does not
// (safeguards and more betas), and the billing-header block as well.
func TestClaudeCodeInteractive(t *testing.T) {
	bin := os.Getenv("CLAUDE_CODE_BIN")
	if bin == "" {
		t.Skip("SKIP: CLAUDE_CODE_BIN not set (scripts/claude-code-cli.sh installs the CLI; make test sets it)")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("SKIP: tmux not installed")
	}
	for _, b := range cliBackends(t) {
		if b.name == "vertex" || b.name == "bedrock-messages" {
			continue // print mode covers them; keep the wall time down
		}
		t.Run(b.name, func(t *testing.T) {
			// Not t.TempDir: the CLI may still write under HOME for a moment
			// after tmux kill-session returns, and t.TempDir fails the test
			// when its RemoveAll meets a file created meanwhile.
			dir, err := os.MkdirTemp("", "cgw-cc-interactive-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				for range 20 {
					if os.RemoveAll(dir) == nil {
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
			})
			home, project := filepath.Join(dir, "home"), filepath.Join(dir, "project")
			for _, d := range []string{home, project} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			state, _ := json.Marshal(map[string]any{"hasCompletedOnboarding": true, "theme": "dark",
				"projects": map[string]any{project: map[string]any{"hasTrustDialogAccepted": true, "hasCompletedProjectOnboarding": true}}})
			if err := os.WriteFile(filepath.Join(home, ".claude.json"), state, 0o600); err != nil {
				t.Fatal(err)
			}
			session := fmt.Sprintf("cgw-%d-%s", os.Getpid(), b.name)
			tmux := func(args ...string) string {
				out, err := exec.Command("tmux", args...).CombinedOutput()
				if err != nil {
					t.Fatalf("tmux %q: %v %s", args, err, out)
				}
				return string(out)
			}
			tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "50", "-c", project,
				"env", "HOME="+home, "TERM=xterm-256color", "ANTHROPIC_BASE_URL="+b.url, "ANTHROPIC_AUTH_TOKEN="+masterKey,
				"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", "DISABLE_AUTOUPDATER=1", bin)
			t.Cleanup(func() { exec.Command("tmux", "kill-session", "-t", session).Run() })
			waitFor := func(want string) {
				t.Helper()
				deadline := time.Now().Add(90 * time.Second)
				for time.Now().Before(deadline) {
					if strings.Contains(tmux("capture-pane", "-p", "-t", session), want) {
						return
					}
					time.Sleep(200 * time.Millisecond)
				}
				t.Fatalf("%q never appeared; screen:\n%s", want, tmux("capture-pane", "-p", "-t", session))
			}
			waitFor("❯")
			tmux("send-keys", "-t", session, "first question", "Enter")
			waitFor("reply #1 from " + b.served)
			tmux("send-keys", "-t", session, "second question", "Enter")
			waitFor("reply #2 from " + b.served)
			b.check(t)
		})
	}
}
