package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/providers/anthropic/anthropictest"
	"github.com/claude-gateway/claude-gateway/core/providers/bedrock/bedrocktest"
	"github.com/claude-gateway/claude-gateway/core/providers/vertex/vertextest"
	"github.com/claude-gateway/claude-gateway/core/sse"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

const masterKey = "sk-master-test"

// startGateway builds the gateway from YAML (with ${UPSTREAM} replaced) and
// serves it on a loopback httptest server.
func startGateway(t *testing.T, yaml string, opts gateway.Options) *httptest.Server {
	return startGatewayTB(t, yaml, opts)
}

func startGatewayTB(t testing.TB, yaml string, opts gateway.Options) *httptest.Server {
	t.Helper()
	env := map[string]string{"MASTER": masterKey, "UPSTREAM_KEY": "sk-upstream"}
	cfg, err := config.Parse([]byte(yaml), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.Build(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(func() { srv.Close(); gw.Close(context.Background()) })
	return srv
}

func anthropicConfig(upstream string) string {
	return `
model_list:
  - model_name: claude-sonnet
    litellm_params:
      model: anthropic/claude-sonnet-4-5-20250929
      api_key: os.environ/UPSTREAM_KEY
      api_base: ` + upstream + `
  - model_name: "claude-*"
    litellm_params:
      model: anthropic/claude-opus-4-1
      api_key: os.environ/UPSTREAM_KEY
      api_base: ` + upstream + `
general_settings:
  master_key: os.environ/MASTER
`
}

func post(t *testing.T, url, body string, h map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("content-type", "application/json")
	req.Header.Set("x-api-key", masterKey)
	req.Header.Set("anthropic-version", "2023-06-01")
	for k, v := range h {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

const simpleBody = `{"model":"claude-sonnet","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}`

func TestStreamingIsIncremental(t *testing.T) {
	up := anthropictest.New(t, "sk-upstream")
	up.Gate = make(chan struct{})
	up.Sent = make(chan int, 16)
	gw := startGateway(t, anthropicConfig(up.URL), gateway.Options{})
	resp := post(t, gw.URL+"/v1/messages?beta=true", simpleBody, nil)
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	rd := sse.NewReader(resp.Body)
	want := anthropictest.DefaultEvents("x")
	for i := range want {
		<-up.Sent // the upstream has flushed event i and now waits on the gate
		got := make(chan llm.Event, 1)
		go func() { ev, _ := rd.Next(); got <- ev }()
		select {
		case ev := <-got:
			if ev.Type != want[i].Name {
				t.Fatalf("event %d: got %s, want %s", i, ev.Type, want[i].Name)
			}
			if i == 0 && gjson.GetBytes(ev.Data, "message.model").String() != "claude-sonnet" {
				t.Errorf("message_start model = %s, want the requested alias", gjson.GetBytes(ev.Data, "message.model"))
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d not relayed while the upstream holds event %d", i, i+1)
		}
		if i < len(want)-1 {
			up.Gate <- struct{}{}
		}
	}
}

func TestResponseHeadersAndModelEcho(t *testing.T) {
	up := anthropictest.New(t, "sk-upstream")
	gw := startGateway(t, anthropicConfig(up.URL), gateway.Options{})
	resp := post(t, gw.URL+"/v1/messages", strings.Replace(simpleBody, `"stream":true`, `"stream":false`, 1), nil)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if m := gjson.GetBytes(body, "model").String(); m != "claude-sonnet" {
		t.Errorf("model = %q, want claude-sonnet", m)
	}
	for _, h := range []string{"x-litellm-call-id", "x-litellm-model-id", "x-litellm-model-group", "x-litellm-model-api-base",
		"x-litellm-attempted-retries", "x-litellm-overhead-duration-ms"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("missing header %s", h)
		}
	}
	if got := resp.Header.Get("x-litellm-model-api-base"); got != up.URL {
		t.Errorf("api base header = %q, want %q", got, up.URL)
	}
	reqs := up.Requests()
	if len(reqs) != 1 || gjson.GetBytes(reqs[0].Body, "model").String() != "claude-sonnet-4-5-20250929" {
		t.Fatalf("upstream got %d requests, model %s", len(reqs), gjson.GetBytes(reqs[len(reqs)-1].Body, "model"))
	}
}

func TestUnknownFieldsPreserved(t *testing.T) {
	up := anthropictest.New(t, "sk-upstream")
	gw := startGateway(t, anthropicConfig(up.URL), gateway.Options{})
	body := `{"model":"claude-sonnet","max_tokens":100,"future_field":{"a":[1,2,{"b":null}],"c":"\u00e9"},` +
		`"messages":[{"role":"user","content":[{"type":"text","text":"hi","brand_new":true}]}],"output_config":{"effort":"high"}}`
	resp := post(t, gw.URL+"/v1/messages", body, map[string]string{"anthropic-beta": "a-beta-2099-01-01, other-beta"})
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	got := up.Requests()[0]
	want, _ := sjson.SetBytes([]byte(body), "model", "claude-sonnet-4-5-20250929")
	if !bytes.Equal(got.Body, want) {
		t.Errorf("upstream body changed beyond model:\n got %s\nwant %s", got.Body, want)
	}
	if b := got.Header.Get("anthropic-beta"); b != "a-beta-2099-01-01,other-beta" {
		t.Errorf("anthropic-beta = %q", b)
	}
}

func TestErrorShapes(t *testing.T) {
	up := anthropictest.New(t, "sk-upstream")
	gw := startGateway(t, `
model_list:
  - model_name: claude-sonnet
    litellm_params:
      model: anthropic/claude-sonnet-4-5
      api_key: os.environ/UPSTREAM_KEY
      api_base: `+up.URL+`
  - model_name: claude-haiku
    litellm_params:
      model: anthropic/claude-haiku-4-5
      api_key: os.environ/UPSTREAM_KEY
      api_base: `+up.URL+`
general_settings:
  master_key: os.environ/MASTER
`, gateway.Options{})
	big := `{"model":"claude-sonnet","max_tokens":1,"messages":[{"role":"user","content":"` + strings.Repeat("x", 33<<20) + `"}]}`
	cases := []struct {
		name, path, body string
		h                map[string]string
		status           int
		errType, msgHas  string
	}{
		{"malformed", "/v1/messages", `{"model":`, nil, 400, "invalid_request_error", "JSON"},
		{"missing model", "/v1/messages", `{"max_tokens":1,"messages":[]}`, nil, 400, "invalid_request_error", "model"},
		{"missing max_tokens", "/v1/messages", `{"model":"claude-sonnet","messages":[]}`, nil, 400, "invalid_request_error", "max_tokens"},
		{"missing messages", "/v1/messages", `{"model":"claude-sonnet","max_tokens":1}`, nil, 400, "invalid_request_error", "messages"},
		{"unknown model", "/v1/messages", `{"model":"gpt-9","max_tokens":1,"messages":[]}`, nil, 404, "not_found_error", "claude-haiku, claude-sonnet"},
		{"bad key", "/v1/messages", simpleBody, map[string]string{"x-api-key": "wrong"}, 401, "authentication_error", ""},
		{"no key", "/v1/messages", simpleBody, map[string]string{"x-api-key": ""}, 401, "authentication_error", ""},
		{"too large", "/v1/messages", big, nil, 413, "request_too_large", ""},
		{"count_tokens missing messages", "/v1/messages/count_tokens", `{"model":"claude-sonnet"}`, nil, 400, "invalid_request_error", "messages"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := post(t, gw.URL+c.path, c.body, c.h)
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, b)
			}
			if gjson.GetBytes(b, "type").String() != "error" || gjson.GetBytes(b, "error.type").String() != c.errType {
				t.Errorf("body %s, want error type %s", b, c.errType)
			}
			if !strings.Contains(gjson.GetBytes(b, "error.message").String(), c.msgHas) {
				t.Errorf("message %q lacks %q", gjson.GetBytes(b, "error.message"), c.msgHas)
			}
		})
	}
}

func TestBearerAuthAccepted(t *testing.T) {
	up := anthropictest.New(t, "sk-upstream")
	gw := startGateway(t, anthropicConfig(up.URL), gateway.Options{})
	resp := post(t, gw.URL+"/v1/messages", simpleBody, map[string]string{"x-api-key": "", "Authorization": "Bearer " + masterKey})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestUpstreamErrorPassedThrough(t *testing.T) {
	up := anthropictest.New(t, "sk-upstream")
	upstreamBody := `{"type":"error","error":{"type":"invalid_request_error","message":"thinking.display: Extra inputs are not permitted"},"request_id":"req_1"}`
	up.Respond = func(w http.ResponseWriter, r *http.Request, body []byte) {
		if gjson.GetBytes(body, "metadata.kind").String() == "limited" {
			w.Header().Set("retry-after", "7")
			w.Header().Set("x-should-retry", "true")
			w.Header().Set("content-type", "application/json")
			w.WriteHeader(429)
			w.Write([]byte(`{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`))
			return
		}
		w.Header().Set("content-type", "application/json")
		w.WriteHeader(400)
		w.Write([]byte(upstreamBody))
	}
	gw := startGateway(t, strings.Replace(anthropicConfig(up.URL), "general_settings:", "router_settings:\n  num_retries: 0\ngeneral_settings:", 1), gateway.Options{})
	resp := post(t, gw.URL+"/v1/messages", simpleBody, nil)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || string(b) != upstreamBody {
		t.Errorf("got %d %s, want the upstream's 400 body unchanged", resp.StatusCode, b)
	}
	resp = post(t, gw.URL+"/v1/messages", `{"model":"claude-sonnet","max_tokens":5,"metadata":{"kind":"limited"},"messages":[{"role":"user","content":"x"}]}`, nil)
	b, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != 429 || resp.Header.Get("retry-after") != "7" || resp.Header.Get("x-should-retry") != "true" ||
		gjson.GetBytes(b, "error.message").String() != "slow down" {
		t.Errorf("got %d retry-after=%q x-should-retry=%q %s", resp.StatusCode, resp.Header.Get("retry-after"), resp.Header.Get("x-should-retry"), b)
	}
}

func TestPingsWhileUpstreamSilent(t *testing.T) {
	up := anthropictest.New(t, "sk-upstream")
	up.Respond = func(w http.ResponseWriter, r *http.Request, body []byte) {
		evs := anthropictest.DefaultEvents("m")
		up.Stream(w, evs[:1])
		time.Sleep(300 * time.Millisecond)
		up.Stream(w, evs[1:])
	}
	gw := startGateway(t, anthropicConfig(up.URL), gateway.Options{PingInterval: 40 * time.Millisecond})
	resp := post(t, gw.URL+"/v1/messages", simpleBody, nil)
	var types []string
	rd := sse.NewReader(resp.Body)
	for {
		ev, err := rd.Next()
		if err != nil {
			break
		}
		types = append(types, ev.Type)
	}
	pings := strings.Count(strings.Join(types, " "), "ping")
	if pings < 2 || types[0] != "message_start" || types[len(types)-1] != "message_stop" {
		t.Errorf("events %v: want pings between message_start and the rest", types)
	}
}

// TestNoPingAfterMessageStop: an upstream that is slow to close its stream
// after message_stop gets no keep-alive ping relayed after it: message_stop
// is the last event a client sees (the AWS SDK's Bedrock reader and Claude
// Code both treat it as the end).
func TestNoPingAfterMessageStop(t *testing.T) {
	up := anthropictest.New(t, "sk-upstream")
	up.Respond = func(w http.ResponseWriter, r *http.Request, body []byte) {
		up.Stream(w, anthropictest.DefaultEvents("m"))
		time.Sleep(200 * time.Millisecond) // the connection stays open
	}
	gw := startGateway(t, anthropicConfig(up.URL), gateway.Options{PingInterval: 10 * time.Millisecond})
	resp := post(t, gw.URL+"/v1/messages", simpleBody, nil)
	defer resp.Body.Close()
	var types []string
	rd := sse.NewReader(resp.Body)
	for {
		ev, err := rd.Next()
		if err != nil {
			break
		}
		types = append(types, ev.Type)
	}
	if len(types) == 0 || types[len(types)-1] != "message_stop" {
		t.Errorf("events %v: want message_stop last", types)
	}
}

func TestTruncatedStreamEndsWithError(t *testing.T) {
	up := anthropictest.New(t, "sk-upstream")
	up.Respond = func(w http.ResponseWriter, r *http.Request, body []byte) {
		up.Stream(w, anthropictest.DefaultEvents("m")[:3]) // no message_stop
	}
	gw := startGateway(t, anthropicConfig(up.URL), gateway.Options{})
	resp := post(t, gw.URL+"/v1/messages", simpleBody, nil)
	var last llm.Event
	rd := sse.NewReader(resp.Body)
	for {
		ev, err := rd.Next()
		if err != nil {
			break
		}
		last = ev
	}
	if last.Type != "error" || gjson.GetBytes(last.Data, "error.type").String() != "api_error" {
		t.Errorf("last event %s %s, want an api_error error event", last.Type, last.Data)
	}
}

func TestClientDisconnectCancelsUpstream(t *testing.T) {
	up := anthropictest.New(t, "sk-upstream")
	canceled := make(chan struct{})
	up.Respond = func(w http.ResponseWriter, r *http.Request, body []byte) {
		up.Stream(w, anthropictest.DefaultEvents("m")[:1])
		select {
		case <-r.Context().Done():
			close(canceled)
		case <-time.After(10 * time.Second):
		}
	}
	gw := startGateway(t, anthropicConfig(up.URL), gateway.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", gw.URL+"/v1/messages", strings.NewReader(simpleBody))
	req.Header.Set("x-api-key", masterKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sse.NewReader(resp.Body).Next(); err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()
	select {
	case <-canceled:
	case <-time.After(5 * time.Second):
		t.Fatal("upstream request not canceled after the client left")
	}
}

func TestCountTokensRoutedToProvider(t *testing.T) {
	up := anthropictest.New(t, "sk-upstream")
	gw := startGateway(t, anthropicConfig(up.URL), gateway.Options{})
	resp := post(t, gw.URL+"/v1/messages/count_tokens?beta=true", `{"model":"claude-sonnet","messages":[{"role":"user","content":"hello"}]}`, nil)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || gjson.GetBytes(b, "input_tokens").Int() <= 0 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	reqs := up.Requests()
	if reqs[len(reqs)-1].Path != "/v1/messages/count_tokens" {
		t.Errorf("upstream path %s", reqs[len(reqs)-1].Path)
	}
}

func TestModelsHealthAndProbe(t *testing.T) {
	up := anthropictest.New(t, "sk-upstream")
	gw := startGateway(t, anthropicConfig(up.URL), gateway.Options{})
	get := func(method, path string, auth bool) (*http.Response, []byte) {
		req, _ := http.NewRequest(method, gw.URL+path, nil)
		if auth {
			req.Header.Set("Authorization", "Bearer "+masterKey)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, b := get("GET", "/v1/models?limit=1000", true)
	if resp.StatusCode != 200 {
		t.Fatalf("models %d %s", resp.StatusCode, b)
	}
	var list struct {
		Object  string `json:"object"`
		HasMore *bool  `json:"has_more"`
		FirstID string `json:"first_id"`
		LastID  string `json:"last_id"`
		Data    []map[string]any
	}
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	if list.Object != "list" || list.HasMore == nil || *list.HasMore || len(list.Data) != 1 || list.FirstID != "claude-sonnet" || list.LastID != "claude-sonnet" {
		t.Errorf("models list %s", b)
	}
	for _, k := range []string{"id", "type", "object", "display_name", "created_at", "created", "owned_by"} {
		if _, ok := list.Data[0][k]; !ok {
			t.Errorf("model entry lacks %s: %s", k, b)
		}
	}
	if resp, _ := get("GET", "/v1/models", false); resp.StatusCode != 401 {
		t.Errorf("models without key: %d", resp.StatusCode)
	}
	for _, p := range []string{"/health/liveliness", "/health/readiness"} {
		if resp, b := get("GET", p, false); resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", p, resp.StatusCode, b)
		}
	}
	if resp, _ := get("GET", "/health", false); resp.StatusCode != 401 {
		t.Errorf("/health without key: %d", resp.StatusCode)
	}
	if resp, b := get("GET", "/health", true); resp.StatusCode != 200 || gjson.GetBytes(b, "deployments.#").Int() != 2 {
		t.Errorf("/health: %d %s", resp.StatusCode, b)
	}
	if resp, _ := get("HEAD", "/api/hello", false); resp.StatusCode != 200 {
		t.Errorf("HEAD /api/hello: %d", resp.StatusCode)
	}
}

// capture is one request recorded from Claude Code or an SDK.
type capture struct {
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Query   string            `json:"query"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

func loadCaptures(t *testing.T, prefix string) map[string]capture {
	files, _ := filepath.Glob(filepath.Join("..", "..", "..", "shared", "claude-code-requests", prefix+"*.json"))
	if len(files) == 0 {
		t.Skip("SKIP: ../shared/claude-code-requests not found beside the repo")
	}
	out := map[string]capture{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c capture
		if err := json.Unmarshal(data, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = c
	}
	return out
}

// TestClaudeCodeCaptures replays every captured Claude Code request through
// the gateway to each provider's fake (each rejecting what the real service
// rejects): every one must be served without a 400.
func TestClaudeCodeCaptures(t *testing.T) {
	captures := loadCaptures(t, "cc-")
	up := anthropictest.New(t, "sk-upstream")
	creds := bedrocktest.Credentials{AccessKeyID: "AKIDCAPTURES", SecretAccessKey: "captures-secret"}
	bfake := bedrocktest.NewServer(t, bedrocktest.Options{Region: "us-east-1", Credentials: creds})
	vfake := vertextest.NewServer(t, vertextest.Options{})
	configs := map[string]string{
		"anthropic": anthropicConfig(up.URL),
		"bedrock": `
model_list:
  - model_name: "*"
    litellm_params:
      model: bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0
      aws_region_name: us-east-1
      aws_access_key_id: ` + creds.AccessKeyID + `
      aws_secret_access_key: ` + creds.SecretAccessKey + `
      api_base: ` + bfake.URL + `
general_settings:
  master_key: os.environ/MASTER
`,
		"vertex": `
model_list:
  - model_name: "*"
    litellm_params:
      model: vertex_ai/claude-sonnet-4-5@20250929
      vertex_ai_location: us-east5
      vertex_ai_project: ` + vfake.Project() + `
      vertex_credentials: ` + vfake.WriteServiceAccountFile(t) + `
      api_base: ` + vfake.URL + `
general_settings:
  master_key: os.environ/MASTER
`,
	}
	for provider, yaml := range configs {
		gw := startGateway(t, yaml, gateway.Options{})
		for name, c := range captures {
			t.Run(provider+"/"+name, func(t *testing.T) {
				url := gw.URL + c.Path
				if c.Query != "" {
					url += "?" + c.Query
				}
				req, _ := http.NewRequest(c.Method, url, bytes.NewReader(c.Body))
				if c.Method == "GET" {
					req.Body = nil
				}
				for k, v := range c.Headers {
					switch strings.ToLower(k) {
					case "content-length", "authorization", "x-api-key", "accept-encoding":
						continue
					}
					req.Header.Set(k, v)
				}
				req.Header.Set("Authorization", "Bearer "+masterKey)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(bufio.NewReader(resp.Body))
				if resp.StatusCode != 200 {
					t.Fatalf("%s %s: %d %s", c.Method, c.Path, resp.StatusCode, b)
				}
				if gjson.GetBytes(c.Body, "stream").Bool() && !bytes.Contains(b, []byte("event: message_stop")) {
					t.Errorf("stream did not complete: %.300s", b)
				}
			})
		}
	}
	if bfake.Rejected() != 0 {
		t.Errorf("bedrock fake rejected %d requests", bfake.Rejected())
	}
	// The billing-header block: gone for Bedrock (reserved there), kept for
	// the Anthropic API (how it recognises Claude Code) and for Vertex.
	const billing = `"x-anthropic-billing-header:`
	count := func(bodies [][]byte) (with int) {
		for _, b := range bodies {
			if strings.Contains(gjson.GetBytes(b, "system").Raw, billing) {
				with++
			}
		}
		return with
	}
	var ab, bb, vb [][]byte
	for _, r := range up.Requests() {
		ab = append(ab, r.Body)
	}
	for _, c := range bfake.Calls() {
		bb = append(bb, c.Body)
	}
	for _, c := range vfake.Calls() {
		vb = append(vb, c.Body)
	}
	if n := count(bb); n != 0 || len(bb) == 0 {
		t.Errorf("bedrock: %d of %d bodies carry the billing header", n, len(bb))
	}
	if count(ab) == 0 || count(vb) == 0 {
		t.Errorf("billing header not kept: anthropic %d/%d, vertex %d/%d", count(ab), len(ab), count(vb), len(vb))
	}
}

func ExampleBuild() {
	cfg, _ := config.Parse([]byte(`
model_list:
  - model_name: claude-sonnet
    litellm_params: {model: simulated/claude-sonnet-4-5, output_tokens: 3}
`), func(string) (string, bool) { return "", false })
	gw, _ := gateway.Build(context.Background(), cfg, gateway.Options{})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/v1/messages", strings.NewReader(`{"model":"claude-sonnet","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`))
	gw.ServeHTTP(rec, req)
	fmt.Println(rec.Code, gjson.Get(rec.Body.String(), "content.0.text"))
	// Output: 200 The gateway routes
}
