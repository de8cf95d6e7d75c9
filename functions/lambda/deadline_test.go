package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/claude-gateway/claude-gateway/core/faultinject"
	"github.com/claude-gateway/claude-gateway/core/spend"
	"github.com/claude-gateway/claude-gateway/core/store/embedded"
	"github.com/claude-gateway/claude-gateway/functions/lambda/runtimeapi"
)

// A request that outlives its invocation: the real bootstrap under the
// Runtime API fake with a 3 s function timeout and a 1 s deadline margin,
// in front of an upstream that hangs (before its headers, or after
// message_start). The client gets a timeout error in the route's shape
// (before the first byte) or an SSE error event and no message_stop (after
// it), about a margin before the deadline; the invocation completes before
// Lambda would kill it; and the spend record is in the store although the
// process is then killed with SIGKILL and no shutdown phase.
func TestRequestEndsBeforeInvocationDeadline(t *testing.T) {
	const timeout, margin = 3 * time.Second, time.Second
	hang := newUpstream(t, faultinject.HangHeaders)
	midStream := newUpstream(t, faultinject.HangMidStream)
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	yaml := fmt.Sprintf(`model_list:
  - model_name: claude-hang
    litellm_params: {model: anthropic/claude-sonnet-4-5, api_key: sk-upstream, api_base: %q, timeout: 60, stream_timeout: 60}
  - model_name: claude-midstream
    litellm_params: {model: anthropic/claude-sonnet-4-5, api_key: sk-upstream, api_base: %q, timeout: 60, stream_timeout: 60}
router_settings: {num_retries: 0}
general_settings:
  master_key: os.environ/GATEWAY_MASTER_KEY
`, hang.URL, midStream.URL)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, model string
		stream            bool
		check             func(t *testing.T, resp *runtimeapi.Response, body string)
	}{
		{"messages, upstream hangs before headers", "/v1/messages", "claude-hang", false, func(t *testing.T, resp *runtimeapi.Response, body string) {
			if resp.StatusCode != 504 || gjson.Get(body, "type").String() != "error" || gjson.Get(body, "error.type").String() != "timeout_error" {
				t.Fatalf("status %d body %s, want a 504 Anthropic timeout_error", resp.StatusCode, body)
			}
		}},
		{"messages stream, upstream hangs after message_start", "/v1/messages", "claude-midstream", true, func(t *testing.T, resp *runtimeapi.Response, body string) {
			if resp.StatusCode != 200 || !strings.HasPrefix(body, "event: message_start\n") {
				t.Fatalf("status %d body %q, want a started stream", resp.StatusCode, body)
			}
			if strings.Contains(body, "message_stop") || strings.Count(body, "event: message_start") != 1 {
				t.Fatalf("a cut stream must not look whole: %q", body)
			}
			last := body[strings.LastIndex(body, "event: "):]
			if !strings.HasPrefix(last, "event: error\ndata: ") || gjson.Get(strings.TrimSpace(strings.SplitN(last, "data: ", 2)[1]), "error.type").String() != "timeout_error" {
				t.Fatalf("stream does not end with a timeout error event: %q", body)
			}
		}},
		{"chat completions, upstream hangs before headers", "/v1/chat/completions", "claude-hang", false, func(t *testing.T, resp *runtimeapi.Response, body string) {
			if resp.StatusCode != 504 || gjson.Get(body, "type").Exists() || gjson.Get(body, "error.message").String() == "" {
				t.Fatalf("status %d body %s, want a 504 in OpenAI's shape", resp.StatusCode, body)
			}
		}},
		{"chat completions stream, upstream hangs after message_start", "/v1/chat/completions", "claude-midstream", true, func(t *testing.T, resp *runtimeapi.Response, body string) {
			if resp.StatusCode != 200 || strings.Contains(body, "[DONE]") || !strings.Contains(body, `"error"`) {
				t.Fatalf("status %d body %q, want a stream ending in an OpenAI error chunk", resp.StatusCode, body)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store := filepath.Join(t.TempDir(), "state")
			logs := &syncBuffer{}
			opts := fnOptions(t, logs, "GATEWAY_CONFIG="+cfg, "GATEWAY_STATE_STORE=embedded", "GATEWAY_STATE_FILE="+store,
				"GATEWAY_LAMBDA_DEADLINE_MARGIN="+margin.String())
			opts.Timeout = timeout
			in, err := runtimeapi.Start(opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				in.Kill()
				if t.Failed() {
					t.Logf("function output:\n%s", logs.String())
				}
			})
			start := time.Now()
			deadline := start.Add(timeout)
			resp, err := in.Invoke(context.Background(), event(t, runtimeapi.FormatFunctionURL, deadlineRequest(tc.path, tc.model, tc.stream)))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			answered := time.Now()
			<-resp.Done()
			done := time.Now()
			if fe := resp.Err(); fe != nil {
				t.Fatalf("invocation failed (%v) after %v: the handler did not return before the deadline", fe, done.Sub(start))
			}
			if !done.Before(deadline) {
				t.Fatalf("invocation completed %v after the deadline", done.Sub(deadline))
			}
			// Ended about a margin before the deadline: not at once, not at it.
			if took := answered.Sub(start); took < timeout-margin-300*time.Millisecond || took > timeout-margin/4 {
				t.Errorf("answered after %v, want about %v", took, timeout-margin)
			}
			tc.check(t, resp, string(b))
			callID := resp.Headers.Get("X-Litellm-Call-Id")

			// No shutdown phase: the record must already be on disk.
			in.Kill()
			st, err := embedded.Open(store, embedded.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			page, err := st.QuerySpend(context.Background(), spend.Query{RequestID: callID})
			if err != nil {
				t.Fatal(err)
			}
			if callID == "" || len(page.Records) != 1 {
				t.Fatalf("spend records for call %q: %+v", callID, page.Records)
			}
			rec := page.Records[0]
			wantStatus := 504
			if tc.stream {
				wantStatus = 200
			}
			if rec.Status != wantStatus || rec.ErrorType != "timeout_error" || rec.Disconnected || rec.ModelGroup != tc.model {
				t.Fatalf("spend record %+v, want status %d, error_type timeout_error, not disconnected", rec, wantStatus)
			}
		})
	}
}

func newUpstream(t *testing.T, f faultinject.Fault) *faultinject.Upstream {
	t.Helper()
	u, err := faultinject.New(faultinject.Spec{Fault: f})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(u.Close)
	return u
}

func deadlineRequest(path, model string, stream bool) *http.Request {
	body := fmt.Sprintf(`{"model":%q,"max_tokens":256,"stream":%v,"messages":[{"role":"user","content":"Hello"}]}`, model, stream)
	r := httptest.NewRequest("POST", "https://abc.lambda-url.us-east-1.on.aws"+path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer sk-local-dev")
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("anthropic-version", "2023-06-01")
	return r
}
