package gateway_test

import (
	"bufio"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/claude-gateway/claude-gateway/core/providers/bedrock/bedrocktest"
	"github.com/claude-gateway/claude-gateway/core/providers/vertex/vertextest"
	"github.com/tidwall/gjson"
)

// A body with fields neither the gateway nor the upstream has heard of (as a
// new Claude Code release sends) is served by Bedrock and Vertex, streaming
// and not: Bedrock's never reach it (its accepted-field list), Vertex's are
// learned from its first 400 and left out from then on; /health lists them.
func TestUnknownFieldsNeverBreakRequests(t *testing.T) {
	bfake := bedrocktest.NewServer(t, bedrocktest.Options{RefusedFields: []string{"output_config"}})
	vfake := vertextest.NewServer(t, vertextest.Options{})
	gws := map[string]string{
		"bedrock": startGateway(t, "model_list:\n  - model_name: claude-sonnet\n"+bedrockParams(bfake, "")+cliGeneral, gateway.Options{}).URL,
		"vertex":  startGateway(t, "model_list:\n  - model_name: claude-sonnet\n"+vertexParams(t, vfake, "")+cliGeneral, gateway.Options{}).URL,
	}
	upstreamCalls := map[string]func() int{
		"bedrock": func() int { return len(bfake.Calls()) },
		"vertex":  func() int { return len(vfake.Calls()) },
	}
	const body = `{"model":"claude-sonnet","max_tokens":100,"stream":%s,"messages":[{"role":"user","content":"hi"}],` +
		`"brand_new_field":{"enabled":true},"output_config":{"effort":"low"}}`
	for name, url := range gws {
		for i, stream := range []string{"true", "false", "true", "false"} {
			before := upstreamCalls[name]()
			resp := post(t, url+"/v1/messages", strings.Replace(body, "%s", stream, 1), nil)
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 {
				t.Fatalf("%s request %d: %d %s", name, i, resp.StatusCode, b)
			}
			if stream == "true" && !strings.Contains(string(b), "event: message_stop") {
				t.Fatalf("%s request %d: incomplete stream %s", name, i, b)
			}
			calls := upstreamCalls[name]() - before
			// One refusal, once per process (Bedrock: output_config on this
			// model; Vertex: brand_new_field), then one call per request.
			if want := map[bool]int{true: 2, false: 1}[i == 0]; calls != want {
				t.Errorf("%s request %d: %d upstream calls, want %d", name, i, calls, want)
			}
		}
		req, _ := http.NewRequest("GET", url+"/health", nil)
		req.Header.Set("Authorization", "Bearer "+masterKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := map[string]string{"bedrock": "field output_config", "vertex": "field brand_new_field"}[name]
		if !strings.Contains(string(h), want) {
			t.Errorf("%s /health does not list %q: %s", name, want, h)
		}
	}
	for _, c := range bfake.Calls() {
		if gjson.GetBytes(c.Body, "brand_new_field").Exists() {
			t.Error("an unknown field reached Bedrock")
		}
	}
}

// An accepted Bedrock stream whose first event is slow in coming (a long
// prompt's time to first token can pass 20 s) is committed after the bound
// (stream_commit_after) and kept alive with pings before message_start;
// the events then flow as usual. The upstream is held silent until the
// client has seen the response and a ping, so no clock decides the test.
func TestSilentUpstreamIsCommittedAndPinged(t *testing.T) {
	release := make(chan struct{})
	up := bedrocktest.NewServer(t, bedrocktest.Options{Reply: func(*bedrocktest.Call) bedrocktest.Reply {
		return bedrocktest.Reply{BeforeEvent: func(i int) {
			if i == 0 {
				<-release
			}
		}}
	}})
	gw := startGateway(t, "model_list:\n  - model_name: claude-sonnet\n"+bedrockParams(up, "")+cliGeneral+"  stream_commit_after: 0.05\n",
		gateway.Options{PingInterval: 20 * time.Millisecond})
	resp := post(t, gw.URL+"/v1/messages", simpleBody, nil) // returns on the response header
	if resp.StatusCode != 200 {
		close(release)
		t.Fatalf("status %d", resp.StatusCode)
	}
	r := bufio.NewReader(resp.Body)
	var seen []string
	for len(seen) == 0 || seen[len(seen)-1] != "message_stop" {
		line, err := r.ReadString('\n')
		if err != nil {
			close(release)
			t.Fatalf("after %q: %v", seen, err)
		}
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "event: "); ok {
			seen = append(seen, name)
			if name == "ping" && len(seen) == 1 {
				close(release) // the client was kept alive: let the model speak
			}
		}
	}
	if seen[0] != "ping" || !slices.Contains(seen, "message_start") {
		t.Errorf("events %q: want pings before message_start", seen)
	}
}

// Bedrock's Anthropic Messages API endpoints (bedrock_api: messages, SigV4;
// bedrock_api: mantle, a Bedrock API key): streaming and not, a captured
// Claude Code request (billing block and all), and a throttle mapped to 429
// with retry-after, against a fake that checks signatures, keys and bodies.
func TestBedrockMessagesAPI(t *testing.T) {
	captured := loadCaptures(t, "cc-print-text")["cc-print-text.json"]
	for _, api := range []string{"messages", "mantle"} {
		t.Run(api, func(t *testing.T) {
			throttle, midStream := false, false
			up := bedrocktest.NewServer(t, bedrocktest.Options{APIKey: "bedrock-api-key-test", Reply: func(*bedrocktest.Call) bedrocktest.Reply {
				if midStream {
					return bedrocktest.Reply{StreamException: &bedrocktest.Exception{Type: "InternalServerException", Message: "model stream failed"}, ExceptionAfter: 2}
				}
				if throttle {
					return bedrocktest.Reply{Error: &bedrocktest.Exception{Type: "ThrottlingException", Message: "Too many requests, please wait before trying again.", RetryAfter: "3"}}
				}
				return bedrocktest.Reply{}
			}})
			params := bedrockParams(up, "      bedrock_api: "+api+"\n")
			if api == "mantle" {
				params = "    litellm_params:\n      model: bedrock/us.anthropic.claude-opus-4-5-20251101-v1:0\n      bedrock_api: mantle\n" +
					"      aws_region_name: us-east-1\n      api_key: bedrock-api-key-test\n      api_base: " + up.URL + "\n"
			}
			gw := startGateway(t, "model_list:\n  - model_name: \"*\"\n"+params+"router_settings: {num_retries: 0}\n"+cliGeneral, gateway.Options{})
			for _, body := range []string{simpleBody, strings.Replace(simpleBody, `"stream":true`, `"stream":false`, 1), string(captured.Body)} {
				resp := post(t, gw.URL+"/v1/messages", body, map[string]string{"anthropic-beta": captured.Headers["anthropic-beta"]})
				b, _ := io.ReadAll(resp.Body)
				stream := gjson.Get(body, "stream").Bool()
				if resp.StatusCode != 200 || stream && !strings.Contains(string(b), "event: message_stop") || !stream && gjson.GetBytes(b, "type").Str != "message" {
					t.Fatalf("%d %.300s", resp.StatusCode, b)
				}
			}
			for _, c := range up.Calls() {
				if c.Rejected != "" {
					t.Errorf("refused: %s", c.Rejected)
				}
				if c.Bearer != (api == "mantle") || !strings.HasPrefix(c.Op, "messages") || c.ModelID != "us.anthropic.claude-opus-4-5-20251101-v1:0" {
					t.Errorf("call %s %s bearer=%v", c.Op, c.ModelID, c.Bearer)
				}
			}
			// count_tokens: not on this API; the client still gets a count.
			cresp := post(t, gw.URL+"/v1/messages/count_tokens", `{"model":"claude-sonnet","messages":[{"role":"user","content":"hi"}]}`, nil)
			cb, _ := io.ReadAll(cresp.Body)
			if cresp.StatusCode != 200 || gjson.GetBytes(cb, "input_tokens").Int() < 1 {
				t.Errorf("count_tokens: %d %s", cresp.StatusCode, cb)
			}
			// A mid-stream failure reaches the client as a well-formed error event.
			midStream = true
			mresp := post(t, gw.URL+"/v1/messages", simpleBody, nil)
			mb, _ := io.ReadAll(mresp.Body)
			if mresp.StatusCode != 200 || !strings.Contains(string(mb), "event: error") || strings.Contains(string(mb), "message_stop") {
				t.Errorf("mid-stream failure: %d %s", mresp.StatusCode, mb)
			}
			midStream, throttle = false, true
			resp := post(t, gw.URL+"/v1/messages", simpleBody, nil)
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 429 || resp.Header.Get("retry-after") == "" || gjson.GetBytes(b, "error.type").Str != "rate_limit_error" {
				t.Errorf("throttled: %d retry-after=%q %s", resp.StatusCode, resp.Header.Get("retry-after"), b)
			}
		})
	}
}
