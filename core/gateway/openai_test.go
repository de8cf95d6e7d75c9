package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/claude-gateway/claude-gateway/core/providers/anthropic/anthropictest"
	"github.com/claude-gateway/claude-gateway/core/providers/bedrock/bedrocktest"
	"github.com/claude-gateway/claude-gateway/core/providers/vertex/vertextest"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/openai/openai-go/v3/shared"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// The OpenAI Chat Completions endpoint, end to end: the official openai-go
// SDK against the real HTTP server, routed to the simulated provider and to
// the fake Anthropic API, Bedrock runtime and Vertex AI.
//
// Every backend offers the same model aliases; what each alias makes the
// upstream do is arranged per backend (see backend.prepare):
//
//	claude-sonnet   a plain text answer
//	claude-tools    a tool_use for the first tool offered, text once the
//	                conversation ends with a tool result
//	claude-limited  a 429 with retry-after: 7
//	claude-drop     a stream that fails after a few events

// answer is what a test wants the upstream's next answer to be.
type answer int

const (
	answerText    answer = iota
	answerTool           // a tool_use block for the first tool offered
	answerFinal          // the text answer after a tool result
	answerLimited        // 429, retry-after 7
	answerDrop           // a stream failing part way
)

// backend is a gateway in front of one kind of upstream.
type backend struct {
	name string
	url  string // the gateway's
	// prepare arranges the upstream's next answer and returns the model
	// alias to ask for.
	prepare func(a answer, stream bool) string
	// upstreamBodies are the Anthropic bodies the upstream received, in
	// order (nil: the upstream is in-process and cannot be observed).
	upstreamBodies func() [][]byte
	// text is the upstream's plain answer.
	text string
	// toolArgs are the arguments of the upstream's tool call.
	toolArgs string
}

// lastUpstreamBody is the latest Anthropic body the upstream received.
func (b *backend) lastUpstreamBody(t *testing.T) []byte {
	t.Helper()
	bodies := b.upstreamBodies()
	if len(bodies) == 0 {
		t.Fatal("the upstream received nothing")
	}
	return bodies[len(bodies)-1]
}

const (
	fakeToolID   = "toolu_01FakeToolCall"
	fakeToolText = "Let me check."
	fakeToolArgs = `{"city": "Paris"}`
)

// toolNameFor decides, from the Anthropic body a fake received, whether the
// model calls a tool: the first one offered, unless the conversation ends
// with a tool result (then the model answers in text). This is what the
// simulated provider's tool_use knob does, with the turn after a tool result
// answered in text as a real model would.
func toolNameFor(body []byte) string {
	name := gjson.GetBytes(body, "tools.0.name").Str
	msgs := gjson.GetBytes(body, "messages").Array()
	if name == "" || len(msgs) == 0 {
		return ""
	}
	for _, b := range msgs[len(msgs)-1].Get("content").Array() {
		if b.Get("type").Str == "tool_result" {
			return ""
		}
	}
	return name
}

// toolEvents are the Anthropic events of a text block and a tool call whose
// arguments arrive in pieces split inside keys and values.
func toolEvents(model, tool string) []anthropictest.Event {
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	evs := []anthropictest.Event{
		aev("message_start", `{"type":"message_start","message":{"id":"msg_fake_tool","type":"message","role":"assistant","model":`+q(model)+`,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":30,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}`),
		aev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`),
		aev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`+q(fakeToolText)+`}}`),
		aev("content_block_stop", `{"type":"content_block_stop","index":0}`),
		aev("content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"`+fakeToolID+`","name":`+q(tool)+`,"input":{}}}`),
	}
	for _, part := range []string{`{"ci`, `ty": "Pa`, `ris"}`} {
		evs = append(evs, anthropictest.Event{Name: "content_block_delta",
			Data: `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":` + q(part) + `}}`})
	}
	return append(evs,
		anthropictest.Event{Name: "content_block_stop", Data: `{"type":"content_block_stop","index":1}`},
		anthropictest.Event{Name: "message_delta", Data: `{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":12}}`},
		anthropictest.Event{Name: "message_stop", Data: `{"type":"message_stop"}`})
}

func aev(name, data string) anthropictest.Event { return anthropictest.Event{Name: name, Data: data} }

// toolMessage is the same answer, not streamed.
func toolMessage(model, tool string) string {
	m := `{"id":"msg_fake_tool","type":"message","role":"assistant","model":"","content":[{"type":"text","text":""},{"type":"tool_use","id":"` + fakeToolID + `","name":"","input":` + fakeToolArgs + `}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":30,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":12}}`
	m, _ = sjson.Set(m, "model", model)
	m, _ = sjson.Set(m, "content.0.text", fakeToolText)
	m, _ = sjson.Set(m, "content.1.name", tool)
	return m
}

// sseOf renders events as an SSE body.
func sseOf(evs []anthropictest.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		b.WriteString("event: " + ev.Name + "\ndata: " + ev.Data + "\n\n")
	}
	return b.String()
}

const openAIRouterSettings = `
router_settings:
  num_retries: 0
general_settings:
  master_key: os.environ/MASTER
  max_request_body_bytes: 100000
`

// modelList lists the model aliases every backend serves, each with the
// litellm_params lines (indented) of its deployment.
func modelList(params func(alias string) string) string {
	var b strings.Builder
	b.WriteString("model_list:\n")
	for _, alias := range []string{"claude-sonnet", "claude-tools", "claude-limited", "claude-drop"} {
		b.WriteString("  - model_name: " + alias + "\n    litellm_params:\n" + params(alias))
	}
	return b.String() + openAIRouterSettings
}

func simulatedBackend(t *testing.T) *backend {
	gw := startGateway(t, modelList(func(alias string) string {
		p := "      model: simulated/claude-sonnet-4-5\n      output_tokens: 5\n"
		switch alias {
		case "claude-tools":
			p += "      tool_use: true\n"
		case "claude-limited":
			p += "      failure_rate: 1\n      failure_status: 429\n      retry_after: 7\n"
		case "claude-drop":
			p += "      mid_stream_drop_rate: 1\n"
		}
		return p
	}), gateway.Options{})
	return &backend{
		name: "simulated", url: gw.URL,
		prepare: func(a answer, _ bool) string {
			switch a {
			case answerTool:
				return "claude-tools"
			case answerLimited:
				return "claude-limited"
			case answerDrop:
				return "claude-drop"
			}
			// The simulated provider calls a tool whenever one is offered
			// with tool_use on: the final answer comes from a deployment
			// without it.
			return "claude-sonnet"
		},
		text:     "The gateway routes each request",
		toolArgs: `{"query":"simulated"}`,
	}
}

func anthropicBackend(t *testing.T) *backend {
	up := anthropictest.New(t, "sk-upstream")
	up.Respond = func(w http.ResponseWriter, r *http.Request, body []byte) {
		model := gjson.GetBytes(body, "model").Str
		stream := gjson.GetBytes(body, "stream").Bool()
		switch {
		case model == "claude-limited-upstream":
			w.Header().Set("retry-after", "7")
			w.Header().Set("content-type", "application/json")
			w.WriteHeader(429)
			w.Write([]byte(`{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}`))
		case model == "claude-drop-upstream":
			// A partial stream: the connection ends before message_stop.
			up.Stream(w, anthropictest.DefaultEvents(model)[:3])
		case toolNameFor(body) != "" && stream:
			up.Stream(w, toolEvents(model, toolNameFor(body)))
		case toolNameFor(body) != "":
			w.Header().Set("content-type", "application/json")
			w.Write([]byte(toolMessage(model, toolNameFor(body))))
		case stream:
			up.Stream(w, anthropictest.DefaultEvents(model))
		default:
			w.Header().Set("content-type", "application/json")
			fmt.Fprintf(w, `{"id":"msg_fake","type":"message","role":"assistant","model":%q,"content":[{"type":"text","text":"Hello there"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":3,"output_tokens":5}}`, model)
		}
	}
	gw := startGateway(t, modelList(func(alias string) string {
		model := "claude-sonnet-4-5-20250929"
		if alias == "claude-limited" || alias == "claude-drop" {
			model = alias + "-upstream"
		}
		return "      model: anthropic/" + model + "\n      api_key: os.environ/UPSTREAM_KEY\n      api_base: " + up.URL + "\n"
	}), gateway.Options{})
	return &backend{
		name: "anthropic", url: gw.URL,
		prepare: func(a answer, _ bool) string { return modelFor(a) },
		upstreamBodies: func() [][]byte {
			var out [][]byte
			for _, r := range up.Requests() {
				out = append(out, r.Body)
			}
			return out
		},
		text:     "Hello there",
		toolArgs: fakeToolArgs,
	}
}

// modelFor is the alias for an answer on the backends whose fakes decide
// from the model and the body.
func modelFor(a answer) string {
	switch a {
	case answerTool, answerFinal:
		return "claude-tools"
	case answerLimited:
		return "claude-limited"
	case answerDrop:
		return "claude-drop"
	}
	return "claude-sonnet"
}

func bedrockBackend(t *testing.T) *backend {
	var up *bedrocktest.Server
	up = bedrocktest.NewServer(t, bedrocktest.Options{
		Region:      "eu-west-1",
		Credentials: bedrocktest.Credentials{AccessKeyID: "AKIDOPENAITEST", SecretAccessKey: "openai-test-secret"},
		Reply: func(c *bedrocktest.Call) bedrocktest.Reply {
			switch {
			case strings.Contains(c.ModelID, "limited"):
				return bedrocktest.Reply{Error: &bedrocktest.Exception{Type: "ThrottlingException", Message: "Too many requests, please wait before trying again.", RetryAfter: "7"}}
			case strings.Contains(c.ModelID, "drop"):
				return bedrocktest.Reply{StreamException: &bedrocktest.Exception{Type: "InternalServerException", Message: "The system encountered an unexpected error during processing. Try your request again."}, ExceptionAfter: 3}
			}
			tool := toolNameFor(c.Body)
			if tool == "" {
				return bedrocktest.Reply{}
			}
			var evs []string
			for _, ev := range toolEvents(c.ModelID, tool) {
				evs = append(evs, ev.Data)
			}
			return bedrocktest.Reply{Events: evs, Message: toolMessage(c.ModelID, tool)}
		},
	})
	gw := startGateway(t, modelList(func(alias string) string {
		model := "anthropic.claude-sonnet-4-5-20250929-v1:0"
		if alias == "claude-limited" || alias == "claude-drop" {
			model = "anthropic." + alias + "-v1:0"
		}
		p := "      model: bedrock/" + model + "\n"
		for k, v := range up.Params() {
			p += "      " + k + ": " + v + "\n"
		}
		return p
	}), gateway.Options{})
	return &backend{
		name: "bedrock", url: gw.URL,
		prepare: func(a answer, _ bool) string { return modelFor(a) },
		upstreamBodies: func() [][]byte {
			var out [][]byte
			for _, c := range up.Calls() {
				out = append(out, c.Body)
			}
			return out
		},
		text:     bedrocktest.DefaultText,
		toolArgs: fakeToolArgs,
	}
}

func vertexBackend(t *testing.T) *backend {
	up := vertextest.NewServer(t, vertextest.Options{})
	creds := up.WriteServiceAccountFile(t)
	gw := startGateway(t, modelList(func(string) string {
		return "      model: vertex_ai/claude-sonnet-4-5@20250929\n      vertex_project: " + up.Project() +
			"\n      vertex_location: us-east5\n      vertex_credentials: " + creds + "\n      api_base: " + up.URL + "\n"
	}), gateway.Options{})
	// The Vertex fake has no answer hook: answers other than its plain text
	// are queued with FailNext (which also serves 200s, after the token and
	// URL checks); the bodies they answer are checked by the tests.
	return &backend{
		name: "vertex", url: gw.URL,
		prepare: func(a answer, stream bool) string {
			switch a {
			case answerTool:
				const tool = "get_weather"
				if stream {
					up.FailNext(vertextest.Failure{Status: 200, Header: http.Header{"Content-Type": {"text/event-stream"}},
						Body: sseOf(toolEvents("claude-sonnet-4-5@20250929", tool))})
				} else {
					up.FailNext(vertextest.Failure{Status: 200, Header: http.Header{"Content-Type": {"application/json"}},
						Body: toolMessage("claude-sonnet-4-5@20250929", tool)})
				}
			case answerLimited:
				f := vertextest.GoogleError(429, "RESOURCE_EXHAUSTED", "Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model.")
				f.Header.Set("Retry-After", "7")
				up.FailNext(f)
			case answerDrop:
				f := vertextest.AnthropicError(529, "overloaded_error", "Overloaded")
				f.AfterEvents = 3
				up.FailNext(f)
			}
			return modelFor(a)
		},
		upstreamBodies: func() [][]byte {
			var out [][]byte
			for _, c := range up.Calls() {
				out = append(out, c.Body)
			}
			return out
		},
		text:     "Hello from fake Vertex.",
		toolArgs: fakeToolArgs,
	}
}

func openAIClient(url, key string) openai.Client {
	return openai.NewClient(option.WithBaseURL(url+"/v1"), option.WithAPIKey(key), option.WithMaxRetries(0))
}

func weatherTool() openai.ChatCompletionToolUnionParam {
	return openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name:        "get_weather",
		Description: openai.String("Current weather for a city"),
		Parameters: shared.FunctionParameters{
			"type":       "object",
			"properties": map[string]any{"city": map[string]any{"type": "string"}},
			"required":   []string{"city"},
		},
	})
}

// jsonEq compares two JSON texts by value.
func jsonEq(a, b string) bool {
	var x, y any
	return json.Unmarshal([]byte(a), &x) == nil && json.Unmarshal([]byte(b), &y) == nil && reflect.DeepEqual(x, y)
}

var openAIBackends = []struct {
	name  string
	start func(*testing.T) *backend
}{
	{"simulated", simulatedBackend},
	{"anthropic", anthropicBackend},
	{"bedrock", bedrockBackend},
	{"vertex", vertexBackend},
}

func TestOpenAIChat(t *testing.T) {
	for _, bc := range openAIBackends {
		t.Run(bc.name, func(t *testing.T) {
			b := bc.start(t)
			// Subtests share the gateway and run in order: the failure
			// cases come last.
			t.Run("plain", func(t *testing.T) { testOpenAIPlain(t, b) })
			t.Run("stream with usage", func(t *testing.T) { testOpenAIStream(t, b) })
			t.Run("tool round trip", func(t *testing.T) { testOpenAITools(t, b, false) })
			t.Run("streamed tool round trip", func(t *testing.T) { testOpenAITools(t, b, true) })
			t.Run("image", func(t *testing.T) { testOpenAIImage(t, b) })
			t.Run("json schema", func(t *testing.T) { testOpenAIJSONSchema(t, b) })
			t.Run("models", func(t *testing.T) { testOpenAIModels(t, b) })
			t.Run("errors", func(t *testing.T) { testOpenAIErrors(t, b) })
			t.Run("rate limited", func(t *testing.T) { testOpenAIRateLimited(t, b) })
			t.Run("mid-stream failure", func(t *testing.T) { testOpenAIMidStream(t, b) })
		})
	}
}

func testOpenAIPlain(t *testing.T, b *backend) {
	var resp *http.Response
	c := openAIClient(b.url, masterKey)
	cc, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: b.prepare(answerText, false),
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("Be brief."),
			openai.UserMessage("Hello"),
		},
		MaxCompletionTokens: openai.Int(64),
		Temperature:         openai.Float(0.5),
		User:                openai.String("user-42"),
	}, option.WithResponseInto(&resp))
	if err != nil {
		t.Fatal(err)
	}
	if cc.Object != "chat.completion" || cc.Model != "claude-sonnet" || !strings.HasPrefix(cc.ID, "chatcmpl-") || len(cc.Choices) != 1 {
		t.Fatalf("completion %s", cc.RawJSON())
	}
	ch := cc.Choices[0]
	if ch.Message.Role != "assistant" || ch.Message.Content != b.text || ch.FinishReason != "stop" {
		t.Errorf("choice %s, want the text %q", ch.RawJSON(), b.text)
	}
	if cc.Usage.PromptTokens <= 0 || cc.Usage.CompletionTokens <= 0 || cc.Usage.TotalTokens != cc.Usage.PromptTokens+cc.Usage.CompletionTokens {
		t.Errorf("usage %s", cc.Usage.RawJSON())
	}
	if b.name == "anthropic" && cc.Usage.PromptTokensDetails.CachedTokens != 3 {
		t.Errorf("cached tokens %d, want the upstream's 3 cache reads", cc.Usage.PromptTokensDetails.CachedTokens)
	}
	checkRouteHeaders(t, resp.Header)
	if resp.Header.Get("content-type") != "application/json" {
		t.Errorf("content-type %q", resp.Header.Get("content-type"))
	}
	if b.upstreamBodies == nil {
		return
	}
	up := b.lastUpstreamBody(t)
	for path, want := range map[string]string{
		"max_tokens": "64", "temperature": "0.5", "metadata.user_id": `"user-42"`,
		"system":   `[{"type":"text","text":"Be brief."}]`,
		"messages": `[{"role":"user","content":[{"type":"text","text":"Hello"}]}]`,
	} {
		if got := gjson.GetBytes(up, path).Raw; !jsonEq(got, want) {
			t.Errorf("upstream %s = %s, want %s", path, got, want)
		}
	}
}

func checkRouteHeaders(t *testing.T, h http.Header) {
	t.Helper()
	for _, k := range []string{"x-litellm-call-id", "x-litellm-model-id", "x-litellm-model-group", "x-litellm-model-api-base"} {
		if h.Get(k) == "" {
			t.Errorf("response lacks %s", k)
		}
	}
}

func testOpenAIStream(t *testing.T, b *backend) {
	var resp *http.Response
	c := openAIClient(b.url, masterKey)
	st := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:         b.prepare(answerText, true),
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	}, option.WithResponseInto(&resp))
	defer st.Close()
	var chunks []openai.ChatCompletionChunk
	acc := openai.ChatCompletionAccumulator{}
	for st.Next() {
		chunks = append(chunks, st.Current())
		acc.AddChunk(st.Current())
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	if len(chunks) < 3 {
		t.Fatalf("%d chunks", len(chunks))
	}
	checkRouteHeaders(t, resp.Header)
	for i, ch := range chunks {
		if ch.Object != "chat.completion.chunk" || ch.Model != "claude-sonnet" || ch.ID != chunks[0].ID {
			t.Errorf("chunk %d: %s", i, ch.RawJSON())
		}
	}
	last := chunks[len(chunks)-1]
	if len(last.Choices) != 0 || last.Usage.PromptTokens <= 0 || last.Usage.CompletionTokens <= 0 ||
		last.Usage.TotalTokens != last.Usage.PromptTokens+last.Usage.CompletionTokens {
		t.Errorf("last chunk %s, want empty choices and the usage", last.RawJSON())
	}
	for _, ch := range chunks[:len(chunks)-1] {
		if len(ch.Choices) != 1 || ch.JSON.Usage.Valid() && ch.Usage.TotalTokens != 0 {
			t.Errorf("chunk before the usage chunk: %s", ch.RawJSON())
		}
	}
	if got := acc.Choices[0].Message.Content; got != b.text || acc.Choices[0].FinishReason != "stop" {
		t.Errorf("accumulated %q finish %q, want %q", got, acc.Choices[0].FinishReason, b.text)
	}
	if b.upstreamBodies != nil && !gjson.GetBytes(b.lastUpstreamBody(t), "max_tokens").Exists() {
		t.Errorf("upstream body without max_tokens: %s", b.lastUpstreamBody(t))
	}

	// On the wire: the usage chunk is the last data line before [DONE].
	raw := post(t, b.url+"/v1/chat/completions", `{"model":"`+b.prepare(answerText, true)+`","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hello"}]}`,
		map[string]string{"x-api-key": "", "Authorization": "Bearer " + masterKey, "anthropic-version": ""})
	body, _ := io.ReadAll(raw.Body)
	if ct := raw.Header.Get("content-type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Errorf("content-type %q", ct)
	}
	var data []string
	for _, line := range strings.Split(string(body), "\n") {
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			data = append(data, d)
		}
	}
	n := len(data)
	if n < 2 || data[n-1] != "[DONE]" || !strings.HasSuffix(string(body), "data: [DONE]\n\n") ||
		gjson.Get(data[n-2], "choices").Raw != "[]" || gjson.Get(data[n-2], "usage.total_tokens").Int() <= 0 {
		t.Errorf("stream does not end with the usage chunk and [DONE]:\n%s", body)
	}
}

// testOpenAITools asks for the weather, gets a tool call, answers it with a
// tool message built from the SDK's own ToParam, and gets the final text.
func testOpenAITools(t *testing.T, b *backend, stream bool) {
	c := openAIClient(b.url, masterKey)
	params := openai.ChatCompletionNewParams{
		Model:               b.prepare(answerTool, stream),
		Messages:            []openai.ChatCompletionMessageParamUnion{openai.UserMessage("What is the weather in Paris?")},
		Tools:               []openai.ChatCompletionToolUnionParam{weatherTool()},
		MaxCompletionTokens: openai.Int(200),
	}
	if stream {
		params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	}
	msg, finish := complete(t, c, params, stream)
	if finish != "tool_calls" || len(msg.ToolCalls) != 1 {
		t.Fatalf("finish %q, message %s", finish, msg.RawJSON())
	}
	call := msg.ToolCalls[0]
	if call.Type != "function" || call.Function.Name != "get_weather" || !jsonEq(call.Function.Arguments, b.toolArgs) || call.ID == "" {
		t.Fatalf("tool call %+v", call)
	}
	if b.upstreamBodies != nil {
		up := b.lastUpstreamBody(t)
		if got := gjson.GetBytes(up, "tools.0.name").Str; got != "get_weather" ||
			gjson.GetBytes(up, "tools.0.input_schema.properties.city.type").Str != "string" {
			t.Errorf("upstream tools %s", gjson.GetBytes(up, "tools").Raw)
		}
		if call.ID != fakeToolID || msg.Content != fakeToolText {
			t.Errorf("tool call id %q content %q, want the upstream's %q %q", call.ID, msg.Content, fakeToolID, fakeToolText)
		}
	}

	params.Model = b.prepare(answerFinal, stream)
	params.Messages = append(params.Messages, msg.ToParam(), openai.ToolMessage("18C and sunny", call.ID))
	final, finish := complete(t, c, params, stream)
	if finish != "stop" || final.Content == "" || len(final.ToolCalls) != 0 {
		t.Errorf("final answer finish %q %s", finish, final.RawJSON())
	}
	if b.upstreamBodies == nil {
		return
	}
	up := b.lastUpstreamBody(t)
	msgs := gjson.GetBytes(up, "messages").Array()
	if len(msgs) != 3 {
		t.Fatalf("upstream messages %s", gjson.GetBytes(up, "messages").Raw)
	}
	use := msgs[1].Get(`content.#(type=="tool_use")`)
	if msgs[1].Get("role").Str != "assistant" || use.Get("id").Str != call.ID || use.Get("name").Str != "get_weather" ||
		!jsonEq(use.Get("input").Raw, b.toolArgs) {
		t.Errorf("upstream assistant turn %s", msgs[1].Raw)
	}
	res := msgs[2].Get("content.0")
	if msgs[2].Get("role").Str != "user" || res.Get("type").Str != "tool_result" || res.Get("tool_use_id").Str != call.ID ||
		!strings.Contains(res.Get("content").Raw, "18C and sunny") {
		t.Errorf("upstream tool result turn %s", msgs[2].Raw)
	}
}

// complete runs one chat request, streamed (accumulated with the SDK's
// ChatCompletionAccumulator) or not, and returns the message and finish reason.
func complete(t *testing.T, c openai.Client, p openai.ChatCompletionNewParams, stream bool) (openai.ChatCompletionMessage, string) {
	t.Helper()
	if !stream {
		cc, err := c.Chat.Completions.New(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		return cc.Choices[0].Message, string(cc.Choices[0].FinishReason)
	}
	st := c.Chat.Completions.NewStreaming(context.Background(), p)
	defer st.Close()
	acc := openai.ChatCompletionAccumulator{}
	finished := 0
	for st.Next() {
		if !acc.AddChunk(st.Current()) {
			t.Fatalf("accumulator refused chunk %s", st.Current().RawJSON())
		}
		if tc, ok := acc.JustFinishedToolCall(); ok {
			finished++
			if tc.Name != "get_weather" {
				t.Errorf("finished tool call %+v", tc)
			}
		}
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	if len(acc.Choices) != 1 {
		t.Fatalf("accumulated %d choices", len(acc.Choices))
	}
	if n := len(acc.Choices[0].Message.ToolCalls); finished != n {
		t.Errorf("JustFinishedToolCall fired %d times for %d tool calls", finished, n)
	}
	// Usage comes in a last chunk only when the client asked for it.
	if wantUsage := p.StreamOptions.IncludeUsage.Value; wantUsage != (acc.Usage.TotalTokens > 0) {
		t.Errorf("include_usage %v, accumulated usage %s", wantUsage, acc.Usage.RawJSON())
	}
	return acc.Choices[0].Message, string(acc.Choices[0].FinishReason)
}

// A 1x1 PNG.
const pngBase64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

func testOpenAIImage(t *testing.T, b *backend) {
	c := openAIClient(b.url, masterKey)
	cc, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: b.prepare(answerText, false),
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
			openai.TextContentPart("What is in this picture?"),
			openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "data:image/png;base64," + pngBase64, Detail: "low"}),
		})},
	})
	if err != nil {
		t.Fatal(err)
	}
	if cc.Choices[0].Message.Content != b.text {
		t.Errorf("answer %s", cc.RawJSON())
	}
	if b.upstreamBodies == nil {
		return
	}
	want := `[{"type":"text","text":"What is in this picture?"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"` + pngBase64 + `"}}]`
	if got := gjson.GetBytes(b.lastUpstreamBody(t), "messages.0.content").Raw; !jsonEq(got, want) {
		t.Errorf("upstream content %s\nwant %s", got, want)
	}
}

func testOpenAIJSONSchema(t *testing.T, b *backend) {
	schema := map[string]any{
		"type":                 "object",
		"properties":           map[string]any{"name": map[string]any{"type": "string"}, "age": map[string]any{"type": "integer"}},
		"required":             []string{"name", "age"},
		"additionalProperties": false,
	}
	c := openAIClient(b.url, masterKey)
	for _, stream := range []bool{false, true} {
		p := openai.ChatCompletionNewParams{
			Model:    b.prepare(answerText, stream),
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("John is 42.")},
			ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
				JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: "person", Strict: openai.Bool(true), Schema: schema},
			}},
		}
		if msg, finish := complete(t, c, p, stream); msg.Content != b.text || finish != "stop" {
			t.Errorf("stream=%v: answer %q finish %q", stream, msg.Content, finish)
		}
		if b.upstreamBodies == nil {
			continue
		}
		want, _ := json.Marshal(map[string]any{"type": "json_schema", "schema": schema})
		if got := gjson.GetBytes(b.lastUpstreamBody(t), "output_config.format").Raw; !jsonEq(got, string(want)) {
			t.Errorf("stream=%v: upstream output_config.format = %s, want %s", stream, got, want)
		}
	}
}

func testOpenAIModels(t *testing.T, b *backend) {
	c := openAIClient(b.url, masterKey)
	page, err := c.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
		if m.Object != "model" || m.OwnedBy == "" || m.Created == 0 {
			t.Errorf("model %s", m.RawJSON())
		}
	}
	if !reflect.DeepEqual(ids, []string{"claude-drop", "claude-limited", "claude-sonnet", "claude-tools"}) {
		t.Errorf("models %v", ids)
	}
	m, err := c.Models.Get(context.Background(), "claude-sonnet")
	if err != nil || m.ID != "claude-sonnet" {
		t.Errorf("get model: %v %+v", err, m)
	}
	bad := openAIClient(b.url, "sk-wrong")
	_, err = bad.Models.List(context.Background())
	if apiErr := asOpenAIError(t, err); apiErr != nil && apiErr.StatusCode != 401 {
		t.Errorf("models with a bad key: %d", apiErr.StatusCode)
	}
}

// asOpenAIError returns err as the SDK's *openai.Error, failing the test if it is not one.
func asOpenAIError(t *testing.T, err error) *openai.Error {
	t.Helper()
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) {
		t.Errorf("error %v (%T), want an *openai.Error", err, err)
		return nil
	}
	return apiErr
}

func testOpenAIErrors(t *testing.T, b *backend) {
	hello := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello")}
	cases := []struct {
		name   string
		key    string
		params openai.ChatCompletionNewParams
		opts   []option.RequestOption
		status int
		typ    string
		param  string
		code   string
	}{
		{"bad key", "sk-wrong", openai.ChatCompletionNewParams{Model: "claude-sonnet", Messages: hello}, nil,
			401, "authentication_error", "", "invalid_api_key"},
		{"unknown model", masterKey, openai.ChatCompletionNewParams{Model: "gpt-4o", Messages: hello}, nil,
			404, "not_found_error", "", ""},
		{"n=2", masterKey, openai.ChatCompletionNewParams{Model: "claude-sonnet", Messages: hello, N: openai.Int(2)}, nil,
			400, "invalid_request_error", "n", "unsupported_value"},
		{"logprobs", masterKey, openai.ChatCompletionNewParams{Model: "claude-sonnet", Messages: hello, Logprobs: openai.Bool(true)}, nil,
			400, "invalid_request_error", "logprobs", "unsupported_parameter"},
		{"malformed JSON", masterKey, openai.ChatCompletionNewParams{}, []option.RequestOption{option.WithRequestBody("application/json", []byte(`{"model":"claude-sonnet","messages":[`))},
			400, "invalid_request_error", "", "invalid_json"},
		{"no messages", masterKey, openai.ChatCompletionNewParams{Model: "claude-sonnet"}, []option.RequestOption{option.WithJSONSet("messages", []any{})},
			400, "invalid_request_error", "messages", ""},
		{"too large", masterKey, openai.ChatCompletionNewParams{Model: "claude-sonnet",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(strings.Repeat("x", 100001))}}, nil,
			413, "invalid_request_error", "", "request_too_large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, stream := range []bool{false, true} {
				c := openAIClient(b.url, tc.key)
				var err error
				if stream {
					st := c.Chat.Completions.NewStreaming(context.Background(), tc.params, tc.opts...)
					for st.Next() {
						t.Errorf("chunk %s", st.Current().RawJSON())
					}
					err = st.Err()
					st.Close()
				} else {
					_, err = c.Chat.Completions.New(context.Background(), tc.params, tc.opts...)
				}
				apiErr := asOpenAIError(t, err)
				if apiErr == nil {
					continue
				}
				if apiErr.StatusCode != tc.status || apiErr.Type != tc.typ || apiErr.Param != tc.param || apiErr.Message == "" ||
					(tc.code != "" && apiErr.Code != tc.code) {
					t.Errorf("stream=%v: %d %s", stream, apiErr.StatusCode, apiErr.RawJSON())
				}
				for _, f := range []string{"message", "type", "param", "code"} {
					if !gjson.Get(apiErr.RawJSON(), f).Exists() {
						t.Errorf("error lacks %q: %s", f, apiErr.RawJSON())
					}
				}
				if apiErr.Response.Header.Get("x-litellm-call-id") == "" && tc.status != 401 {
					t.Errorf("error response without x-litellm-call-id")
				}
			}
		})
	}
}

func testOpenAIRateLimited(t *testing.T, b *backend) {
	c := openAIClient(b.url, masterKey)
	for _, stream := range []bool{false, true} {
		p := openai.ChatCompletionNewParams{
			Model:    b.prepare(answerLimited, stream),
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello")},
		}
		var err error
		if stream {
			st := c.Chat.Completions.NewStreaming(context.Background(), p)
			for st.Next() {
			}
			err = st.Err()
			st.Close()
		} else {
			_, err = c.Chat.Completions.New(context.Background(), p)
		}
		apiErr := asOpenAIError(t, err)
		if apiErr == nil {
			continue
		}
		if apiErr.StatusCode != 429 || apiErr.Type != "rate_limit_error" || apiErr.Message == "" {
			t.Errorf("stream=%v: %d %s", stream, apiErr.StatusCode, apiErr.RawJSON())
		}
		if got := apiErr.Response.Header.Get("retry-after"); got != "7" {
			t.Errorf("stream=%v: retry-after %q, want the upstream's 7", stream, got)
		}
	}
}

func testOpenAIMidStream(t *testing.T, b *backend) {
	c := openAIClient(b.url, masterKey)
	st := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:         b.prepare(answerDrop, true),
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	defer st.Close()
	chunks := 0
	for st.Next() {
		chunks++
		if ch := st.Current(); len(ch.Choices) == 1 && ch.Choices[0].FinishReason != "" {
			t.Errorf("a failed stream reported finish_reason %q", ch.Choices[0].FinishReason)
		}
	}
	if chunks == 0 {
		t.Errorf("no chunk before the failure")
	}
	var se *ssestream.StreamError
	if !errors.As(st.Err(), &se) {
		t.Fatalf("stream error %v (%T), want the SDK's *ssestream.StreamError", st.Err(), st.Err())
	}
	e := gjson.GetBytes(se.Event.Data, "error")
	if e.Get("message").Str == "" || e.Get("type").Str == "" {
		t.Errorf("error event %s", se.Event.Data)
	}
}

// The base URL without /v1 works too: POST /chat/completions.
func TestOpenAIWithoutV1Prefix(t *testing.T) {
	b := simulatedBackend(t)
	c := openai.NewClient(option.WithBaseURL(b.url), option.WithAPIKey(masterKey), option.WithMaxRetries(0))
	cc, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "claude-sonnet", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello")},
	})
	if err != nil || cc.Choices[0].Message.Content != b.text {
		t.Fatalf("%v %+v", err, cc)
	}
}

// An error event from the upstream ends the stream with that one error, in
// each endpoint's shape, and nothing after it.
func TestUpstreamErrorEventEndsStream(t *testing.T) {
	up := anthropictest.New(t, "sk-upstream")
	up.Respond = func(w http.ResponseWriter, r *http.Request, body []byte) {
		up.Stream(w, append(anthropictest.DefaultEvents("m")[:3],
			aev("error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)))
	}
	gw := startGateway(t, anthropicConfig(up.URL), gateway.Options{})

	c := openAIClient(gw.URL, masterKey)
	st := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "claude-sonnet", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello")},
	})
	var text string
	for st.Next() {
		if ch := st.Current(); len(ch.Choices) > 0 {
			text += ch.Choices[0].Delta.Content
		}
	}
	st.Close()
	var se *ssestream.StreamError
	if !errors.As(st.Err(), &se) || gjson.GetBytes(se.Event.Data, "error.code").Str != "overloaded" ||
		gjson.GetBytes(se.Event.Data, "error.message").Str != "Overloaded" || text != "Hello" {
		t.Errorf("text %q, error %v", text, st.Err())
	}

	for path, marker := range map[string]string{"/v1/chat/completions": `data: {"error"`, "/v1/messages": "event: error"} {
		resp := post(t, gw.URL+path, `{"model":"claude-sonnet","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"Hello"}]}`, nil)
		body, _ := io.ReadAll(resp.Body)
		if n := strings.Count(string(body), marker); n != 1 || !strings.Contains(string(body), "Overloaded") ||
			!strings.HasSuffix(strings.TrimSpace(string(body)), "}") {
			t.Errorf("%s: %d errors, want the upstream's one, last:\n%s", path, n, body)
		}
	}
}

// reasoning_effort takes the form the group's deployments accept, whatever
// the alias says: adaptive thinking for Claude 4.7 (which rejects budgets),
// a budget for Claude 4.5 (which rejects adaptive thinking).
func TestOpenAIReasoningEffortFollowsDeployment(t *testing.T) {
	up := anthropictest.New(t, "sk-upstream")
	gw := startGateway(t, `
model_list:
  - model_name: claude-opus
    litellm_params: {model: anthropic/claude-opus-4-7, api_key: os.environ/UPSTREAM_KEY, api_base: `+up.URL+`}
  - model_name: claude-sonnet
    litellm_params: {model: anthropic/claude-sonnet-4-5-20250929, api_key: os.environ/UPSTREAM_KEY, api_base: `+up.URL+`}
  - model_name: "anthropic/*"
    litellm_params: {model: "anthropic/*", api_key: os.environ/UPSTREAM_KEY, api_base: `+up.URL+`}
general_settings:
  master_key: os.environ/MASTER
`, gateway.Options{})
	c := openAIClient(gw.URL, masterKey)
	for model, want := range map[string]string{
		"claude-opus":                 `{"thinking":{"type":"adaptive"},"effort":"high"}`,
		"claude-sonnet":               `{"thinking":{"type":"enabled","budget_tokens":8192},"effort":null}`,
		"anthropic/claude-opus-4-8":   `{"thinking":{"type":"adaptive"},"effort":"high"}`,
		"anthropic/claude-sonnet-4-5": `{"thinking":{"type":"enabled","budget_tokens":8192},"effort":null}`,
	} {
		_, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: model, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Think.")},
			ReasoningEffort: shared.ReasoningEffortHigh,
		})
		if err != nil {
			t.Fatal(err)
		}
		reqs := up.Requests()
		body := reqs[len(reqs)-1].Body
		got := `{"thinking":` + gjson.GetBytes(body, "thinking").Raw + `,"effort":` + gjson.GetBytes(body, "output_config.effort").Raw + `}`
		if strings.HasSuffix(got, `"effort":}`) {
			got = strings.TrimSuffix(got, "}") + "null}"
		}
		if !jsonEq(got, want) {
			t.Errorf("%s: upstream got %s, want %s", model, got, want)
		}
	}
}

// Keep-alive pings on an idle OpenAI stream are SSE comments the SDK skips.
func TestOpenAIPingsWhileUpstreamSilent(t *testing.T) {
	up := anthropictest.New(t, "sk-upstream")
	up.Gate = make(chan struct{})
	gw := startGateway(t, anthropicConfig(up.URL), gateway.Options{PingInterval: 2 * time.Millisecond})
	pinged := make(chan struct{})
	var once sync.Once
	spy := option.WithMiddleware(func(r *http.Request, next option.MiddlewareNext) (*http.Response, error) {
		resp, err := next(r)
		if err == nil {
			resp.Body = &pingSpy{ReadCloser: resp.Body, seen: func() { once.Do(func() { close(pinged) }) }}
		}
		return resp, err
	})
	go func() {
		// The upstream holds everything after message_start until the
		// client has seen a ping.
		select {
		case <-pinged:
		case <-time.After(10 * time.Second):
		}
		for range len(anthropictest.DefaultEvents("m")) - 1 {
			up.Gate <- struct{}{}
		}
	}()
	c := openAIClient(gw.URL, masterKey)
	st := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "claude-sonnet", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello")},
	}, spy)
	acc := openai.ChatCompletionAccumulator{}
	for st.Next() {
		acc.AddChunk(st.Current())
	}
	st.Close()
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-pinged:
	default:
		t.Fatal("no ping seen while the upstream was silent")
	}
	if acc.Choices[0].Message.Content != "Hello there" {
		t.Errorf("accumulated %q", acc.Choices[0].Message.Content)
	}
}

// pingSpy calls seen once a keep-alive comment has gone by.
type pingSpy struct {
	io.ReadCloser
	tail []byte
	seen func()
}

func (p *pingSpy) Read(b []byte) (int, error) {
	n, err := p.ReadCloser.Read(b)
	p.tail = append(p.tail, b[:n]...)
	if strings.Contains(string(p.tail), "\n: ping\n") || strings.HasPrefix(string(p.tail), ": ping\n") {
		p.seen()
	}
	if len(p.tail) > 16 {
		p.tail = p.tail[len(p.tail)-16:]
	}
	return n, err
}
