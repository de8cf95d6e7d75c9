package gateway_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/claude-gateway/claude-gateway/core/providers/anthropic/anthropictest"
	"github.com/tidwall/gjson"
)

// TestNativeIngressShapes: the Vertex- and Bedrock-shaped routes answer in
// their cloud's format, errors included, whoever serves them.
func TestNativeIngressShapes(t *testing.T) {
	up := anthropictest.New(t, "sk-upstream")
	gw := startGateway(t, anthropicConfig(up.URL), gateway.Options{})
	vertex := gw.URL + "/vertex_ai/v1/projects/p/locations/us-east5/publishers/anthropic/models/"
	auth := map[string]string{"Authorization": "Bearer " + masterKey}
	body := `{"anthropic_version":"vertex-2023-10-16","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}`
	cases := []struct {
		name, url, body string
		h               map[string]string
		status          int
		check           func(t *testing.T, hdr func(string) string, b []byte)
	}{
		{"vertex rawPredict", vertex + "claude-sonnet:rawPredict", body, auth, 200, func(t *testing.T, _ func(string) string, b []byte) {
			if gjson.GetBytes(b, "content.0.text").String() != "Hello there" {
				t.Errorf("body %s", b)
			}
		}},
		{"vertex streamRawPredict", vertex + "claude-sonnet:streamRawPredict", body, auth, 200, func(t *testing.T, hdr func(string) string, b []byte) {
			if !strings.HasPrefix(hdr("Content-Type"), "text/event-stream") || !strings.Contains(string(b), "event: message_stop") {
				t.Errorf("%s: %s", hdr("Content-Type"), b)
			}
		}},
		{"vertex count-tokens", vertex + "count-tokens:rawPredict", `{"model":"claude-sonnet","messages":[{"role":"user","content":"hi"}]}`, auth, 200,
			func(t *testing.T, _ func(string) string, b []byte) {
				if gjson.GetBytes(b, "input_tokens").Int() <= 0 {
					t.Errorf("body %s", b)
				}
			}},
		{"vertex wrong key", vertex + "claude-sonnet:rawPredict", body, map[string]string{"Authorization": "Bearer nope"}, 401, googleError("UNAUTHENTICATED")},
		{"vertex unknown model", vertex + "gemini-pro:rawPredict", body, auth, 404, googleError("NOT_FOUND")},
		{"vertex unknown method", vertex + "claude-sonnet:predict", body, auth, 404, googleError("NOT_FOUND")},
		{"bedrock bad json", gw.URL + "/bedrock/model/claude-sonnet/invoke", `{"max_tokens":`, auth, 400, bedrockError("ValidationException")},
		{"bedrock no max_tokens", gw.URL + "/bedrock/model/claude-sonnet/invoke", `{"messages":[]}`, auth, 400, bedrockError("ValidationException")},
		{"bedrock wrong key", gw.URL + "/bedrock/model/claude-sonnet/invoke", body, map[string]string{"x-api-key": "nope"}, 403, bedrockError("AccessDeniedException")},
		{"bedrock x-api-key", gw.URL + "/bedrock/model/claude-sonnet/invoke", body, map[string]string{"x-api-key": masterKey}, 200, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := post(t, c.url, c.body, c.h)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, b)
			}
			if c.check != nil {
				c.check(t, resp.Header.Get, b)
			}
		})
	}
}

func googleError(status string) func(t *testing.T, _ func(string) string, b []byte) {
	return func(t *testing.T, _ func(string) string, b []byte) {
		if gjson.GetBytes(b, "error.status").String() != status || gjson.GetBytes(b, "error.code").Int() == 0 || gjson.GetBytes(b, "error.message").String() == "" {
			t.Errorf("want Google error %s, got %s", status, b)
		}
	}
}

func bedrockError(name string) func(t *testing.T, hdr func(string) string, b []byte) {
	return func(t *testing.T, hdr func(string) string, b []byte) {
		if !strings.HasPrefix(hdr("x-amzn-errortype"), name+":") || gjson.GetBytes(b, "message").String() == "" {
			t.Errorf("want Bedrock %s, got %q %s", name, hdr("x-amzn-errortype"), b)
		}
	}
}

// TestModelListLimits: /v1/models gives each group the limits every one of
// its deployments allows (model_info over the built-in table), as Anthropic's
// list does; unknown models keep null limits.
func TestModelListLimits(t *testing.T) {
	gw := startGateway(t, `
model_list:
  - model_name: claude-opus
    litellm_params:
      model: simulated/us.anthropic.claude-opus-4-5-20251101-v1:0
  - model_name: claude-opus
    litellm_params:
      model: simulated/claude-opus-4-5@20251101
    model_info:
      max_output_tokens: 32000
  - model_name: claude-custom
    litellm_params:
      model: simulated/my-fine-tune
general_settings:
  master_key: os.environ/MASTER
`, gateway.Options{})
	req, _ := http.NewRequest("GET", gw.URL+"/v1/models?limit=1000", nil)
	req.Header.Set("Authorization", "Bearer "+masterKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	opus := gjson.GetBytes(b, `data.#(id=="claude-opus")`)
	if opus.Get("display_name").String() != "Claude Opus 4.5" || opus.Get("max_input_tokens").Int() != 200000 || opus.Get("max_tokens").Int() != 32000 ||
		!opus.Get("capabilities.thinking.supported").Bool() || opus.Get("created_at").String() != "2025-11-24T00:00:00Z" {
		t.Errorf("claude-opus: %s", opus.Raw)
	}
	custom := gjson.GetBytes(b, `data.#(id=="claude-custom")`)
	if custom.Get("max_tokens").Type != gjson.Null || custom.Get("capabilities").Exists() {
		t.Errorf("claude-custom: %s", custom.Raw)
	}
	if gjson.GetBytes(b, "has_more").Bool() || gjson.GetBytes(b, "first_id").String() == "" || gjson.GetBytes(b, "last_id").String() == "" {
		t.Errorf("list: %s", b)
	}
}
