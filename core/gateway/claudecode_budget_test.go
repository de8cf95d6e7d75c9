package gateway_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/gateway"
)

// TestClaudeCodeOverBudget: the real CLI with a virtual key whose team
// budget is spent shows the gateway's message (budget, spend, reset) and
// gives up at once: the 402 billing_error is sent once (a 400 is sent 6
// times, a 429 retried with backoff for minutes; see identity.budgetError).
func TestClaudeCodeOverBudget(t *testing.T) {
	bin := os.Getenv("CLAUDE_CODE_BIN")
	if bin == "" {
		t.Skip("SKIP: CLAUDE_CODE_BIN not set (scripts/claude-code-cli.sh installs the CLI; make test sets it)")
	}
	gw := startGateway(t, `
model_list:
  - model_name: "*"
    litellm_params: {model: simulated/claude-sonnet-4-5, time_to_first_token_ms: 0, tokens_per_second: 0, output_tokens: 3}
`+cliGeneral, gateway.Options{})
	var messages atomic.Int64
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/messages") && !strings.Contains(r.URL.Path, "count_tokens") {
			messages.Add(1)
			b, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(b))
			var m struct {
				Model     string `json:"model"`
				MaxTokens int    `json:"max_tokens"`
				Stream    bool   `json:"stream"`
				Messages  []any  `json:"messages"`
				Tools     []any  `json:"tools"`
			}
			json.Unmarshal(b, &m)
			t.Logf("CLI -> %s model=%s max_tokens=%d stream=%v messages=%d tools=%d", r.URL.Path, m.Model, m.MaxTokens, m.Stream, len(m.Messages), len(m.Tools))
		}
		gw.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	if code, _, out := call(t, "POST", gw.URL+"/team/new", masterKey, `{"team_id":"interns","max_budget":0,"budget_duration":"7d"}`); code != 200 {
		t.Fatalf("/team/new: %d %s", code, out)
	}
	secret, _ := generateKey(t, gw.URL, `{"team_id":"interns","key_alias":"laptop"}`)

	start := time.Now()
	out, err := runClaude(t, bin, cliDir(t), append([]string{"ANTHROPIC_BASE_URL=" + front.URL, "ANTHROPIC_AUTH_TOKEN=" + secret}, quietCLI...), "-p", "say hello")
	took := time.Since(start)
	if err == nil {
		t.Fatalf("claude -p succeeded over budget:\n%s", out)
	}
	for _, want := range []string{"budget exceeded (its team)", "max_budget 0.000000 USD", "resets at"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the CLI's output lacks %q:\n%s", want, out)
		}
	}
	if n := messages.Load(); n != 1 || took > 30*time.Second {
		t.Errorf("%d /v1/messages calls in %v: retried (want exactly 1, no backoff)", n, took)
	}
	t.Logf("claude -p over budget: %d /v1/messages calls, exit after %v: %s", messages.Load(), took, strings.TrimSpace(string(out)))
}
