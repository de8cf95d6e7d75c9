package gateway_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// sdkResults is what testdata/official_sdks.cjs prints: each check's
// result, or the error the SDK raised for it.
type sdkResults map[string]struct {
	Error *struct {
		Class   string `json:"class"`
		Status  int    `json:"status"`
		Message string `json:"message"`
	} `json:"error"`
	Text           string `json:"text"`
	Deltas         string `json:"deltas"`
	Type           string `json:"type"`
	Object         string `json:"object"`
	StopReason     string `json:"stop_reason"`
	FinishReason   string `json:"finish_reason"`
	OutputTokens   int    `json:"output_tokens"`
	InputTokens    int    `json:"input_tokens"`
	Completion     int    `json:"completion_tokens"`
	TotalTokens    int    `json:"total_tokens"`
	Chunks         int    `json:"chunks"`
	Tool           string `json:"tool"`
	Command        string `json:"command"`
	Answer         string `json:"answer"`
	UnexpectedPass string `json:"unexpected"`
}

// TestOfficialNodeSDKs: the official Node SDKs (@anthropic-ai/sdk and openai,
// NODE_SDKS_DIR from scripts/node-sdks.sh, which `make test` runs) used as an
// application uses them, against the gateway with a Bedrock (InvokeModel and
// Messages API), a Vertex and a failing-over mixed group behind it: plain and
// streamed messages, a tool round trip, count_tokens, the model list and a
// bad key on the Anthropic SDK; plain and streamed chat completions (with
// usage), tool calls and a bad key on the OpenAI SDK. Each SDK parses what the
// gateway sends with its own code, so a shape it does not expect fails here.
func TestOfficialNodeSDKs(t *testing.T) {
	dir := os.Getenv("NODE_SDKS_DIR")
	if dir == "" {
		t.Skip("SKIP: NODE_SDKS_DIR not set (scripts/node-sdks.sh installs the SDKs; make test sets it)")
	}
	var mu sync.Mutex // the fakes' checks read shared call lists
	for _, b := range cliBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			res := runNodeSDKs(t, dir, b.url)
			want := "reply #1 from " + b.served
			ok := func(name string) bool {
				t.Helper()
				r, found := res[name]
				switch {
				case !found:
					t.Errorf("%s: no result", name)
				case r.Error != nil:
					t.Errorf("%s: the SDK raised %s (status %d): %s", name, r.Error.Class, r.Error.Status, r.Error.Message)
				default:
					return true
				}
				return false
			}
			// Non-streaming calls get the fakes' default answer; streamed ones the scripted model's.
			if r := res["messages_create"]; ok("messages_create") && (r.Text == "" || r.StopReason != "end_turn" || r.Type != "message" || r.OutputTokens <= 0) {
				t.Errorf("messages.create: %+v", r)
			}
			if r := res["messages_stream"]; ok("messages_stream") && (r.Deltas != want || r.Text != want || r.StopReason != "end_turn" || r.OutputTokens != 5) {
				t.Errorf("messages.stream: %+v", r)
			}
			if r := res["tool_round_trip"]; ok("tool_round_trip") &&
				(r.StopReason != "tool_use" || r.Tool != "Bash" || r.Command != toolCommand || r.Answer != "Tool said: "+toolOutput) {
				t.Errorf("tool round trip: %+v", r)
			}
			if r := res["count_tokens"]; ok("count_tokens") && r.InputTokens <= 0 {
				t.Errorf("countTokens: %+v", r)
			}
			ok("models_list") // the "*" group lists no concrete model; the SDK must read the page
			if r := res["chat_create"]; ok("chat_create") && (r.Text == "" || r.FinishReason != "stop" || r.Object != "chat.completion" || r.Completion <= 0) {
				t.Errorf("chat.completions.create: %+v", r)
			}
			if r := res["chat_stream"]; ok("chat_stream") && (r.Text != want || r.FinishReason != "stop" || r.TotalTokens <= 0 || r.Chunks < 3) {
				t.Errorf("chat.completions.create (stream): %+v", r)
			}
			if r := res["chat_tools"]; ok("chat_tools") && (r.FinishReason != "tool_calls" || r.Tool != "Bash" || r.Command != toolCommand) {
				t.Errorf("chat tool call: %+v", r)
			}
			for _, name := range []string{"bad_key", "chat_bad_key"} {
				r := res[name]
				if r.Error == nil || r.Error.Status != 401 || r.Error.Class != "AuthenticationError" {
					t.Errorf("%s: want the SDK's AuthenticationError with status 401, got %+v (error %+v)", name, r, r.Error)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			b.check(t)
		})
	}
}

// runNodeSDKs runs testdata/official_sdks.cjs against the gateway at url.
func runNodeSDKs(t *testing.T, dir, url string) sdkResults {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "testdata/official_sdks.cjs")
	cmd.Env = append(os.Environ(), "NODE_SDKS_DIR="+dir, "BASE_URL="+url, "API_KEY="+masterKey, "MARKER="+toolMarker)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var res sdkResults
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("SDK driver printed %q: %v\n%s", out, err, stderr.String())
	}
	return res
}
