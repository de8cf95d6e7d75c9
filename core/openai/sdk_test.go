package openai

import (
	"encoding/json"
	"strings"
	"testing"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// These tests drive the translators with what the official Go SDK sends
// and read what they return back into the SDK, including continuing a
// conversation from the SDK's own ToParam of a translated answer.

func weatherTool() oai.ChatCompletionToolUnionParam {
	return oai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name:        "get_weather",
		Description: oai.String("Current weather for a city"),
		Parameters: shared.FunctionParameters{
			"type":       "object",
			"properties": map[string]any{"city": map[string]any{"type": "string"}},
			"required":   []string{"city"},
		},
	})
}

// sdkBody marshals params the way the SDK puts them on the wire.
func sdkBody(t *testing.T, p oai.ChatCompletionNewParams, stream bool) []byte {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if stream { // NewStreaming adds this itself
		b, _ = sjson.SetBytes(b, "stream", true)
	}
	return b
}

func TestSDKRequest(t *testing.T) {
	p := oai.ChatCompletionNewParams{
		Model: "claude-alias",
		Messages: []oai.ChatCompletionMessageParamUnion{
			oai.SystemMessage("Be brief."),
			oai.UserMessage([]oai.ChatCompletionContentPartUnionParam{
				oai.TextContentPart("What is in this picture, and the weather there?"),
				oai.ImageContentPart(oai.ChatCompletionContentPartImageImageURLParam{URL: "data:image/png;base64,iVBORw0KGgo="}),
			}),
		},
		Tools:               []oai.ChatCompletionToolUnionParam{weatherTool()},
		ToolChoice:          oai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: oai.String("required")},
		ParallelToolCalls:   oai.Bool(false),
		MaxCompletionTokens: oai.Int(512),
		Temperature:         oai.Float(0.2),
		Stop:                oai.ChatCompletionNewParamsStopUnion{OfString: oai.String("STOP")},
		User:                oai.String("user-7"),
		StreamOptions:       oai.ChatCompletionStreamOptionsParam{IncludeUsage: oai.Bool(true)},
	}
	tr, err := TranslateRequest(sdkBody(t, p, true))
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Stream || !tr.IncludeUsage || tr.Model != "claude-alias" {
		t.Errorf("flags %+v", tr)
	}
	want := `{"model":"claude-alias","max_tokens":512,"system":[{"type":"text","text":"Be brief."}],
		"messages":[{"role":"user","content":[{"type":"text","text":"What is in this picture, and the weather there?"},
			{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}]}],
		"tools":[{"name":"get_weather","description":"Current weather for a city","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}],
		"tool_choice":{"type":"any","disable_parallel_tool_use":true},
		"stop_sequences":["STOP"],"temperature":0.2,"metadata":{"user_id":"user-7"},"stream":true}`
	if !jsonEqual(t, tr.Body, []byte(want)) {
		t.Errorf("got:\n%s\nwant:\n%s", indent(tr.Body), indent([]byte(want)))
	}
}

func TestSDKJSONSchemaRequest(t *testing.T) {
	schema := map[string]any{
		"type":                 "object",
		"properties":           map[string]any{"name": map[string]any{"type": "string"}, "age": map[string]any{"type": "integer"}},
		"required":             []string{"name", "age"},
		"additionalProperties": false,
	}
	p := oai.ChatCompletionNewParams{
		Model:    "claude-alias",
		Messages: []oai.ChatCompletionMessageParamUnion{oai.UserMessage("John is 42.")},
		ResponseFormat: oai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
			JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: "person", Strict: oai.Bool(true), Schema: schema},
		}},
		ReasoningEffort: shared.ReasoningEffortLow,
	}
	tr, err := TranslateRequest(sdkBody(t, p, false))
	if err != nil {
		t.Fatal(err)
	}
	wantSchema, _ := json.Marshal(schema)
	if got := gjson.GetBytes(tr.Body, "output_config.format"); !jsonEqual(t, []byte(got.Raw), []byte(`{"type":"json_schema","schema":`+string(wantSchema)+`}`)) {
		t.Errorf("output_config.format = %s", got.Raw)
	}
	if got := gjson.GetBytes(tr.Body, "thinking.budget_tokens").Int(); got != 2048 {
		t.Errorf("thinking %s", gjson.GetBytes(tr.Body, "thinking").Raw)
	}
	if got := gjson.GetBytes(tr.Body, "max_tokens").Int(); got <= 2048 {
		t.Errorf("max_tokens %d not above the budget", got)
	}
}

// A tool call round trip, not streamed: the answer decoded by the SDK is
// turned back into a request with the SDK's ToParam and a tool message.
func TestSDKToolRoundTrip(t *testing.T) {
	anthropic := `{"id":"msg_rt","type":"message","role":"assistant","content":[
		{"type":"text","text":"Let me check."},
		{"type":"tool_use","id":"toolu_rt1","name":"get_weather","input":{"city":"Paris"}}],
		"stop_reason":"tool_use","usage":{"input_tokens":20,"output_tokens":10}}`
	got, err := TranslateResponse([]byte(anthropic), "claude-alias")
	if err != nil {
		t.Fatal(err)
	}
	var cc oai.ChatCompletion
	if err := json.Unmarshal(got, &cc); err != nil {
		t.Fatal(err)
	}
	if cc.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("finish %q", cc.Choices[0].FinishReason)
	}
	continueWithToolResult(t, cc.Choices[0].Message, "toolu_rt1", `{"city":"Paris"}`, "Let me check.")
}

// The same round trip streamed: the SDK's accumulator builds the message.
func TestSDKStreamedToolRoundTrip(t *testing.T) {
	in := sseScript(
		[2]string{"message_start", `{"type":"message_start","message":{"id":"msg_srt","usage":{"input_tokens":20,"output_tokens":1}}}`},
		[2]string{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`},
		[2]string{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me "}}`},
		[2]string{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"check."}}`},
		[2]string{"content_block_stop", `{"type":"content_block_stop","index":0}`},
		[2]string{"content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_srt","name":"get_weather","input":{}}}`},
		[2]string{"content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"ci"}}`},
		[2]string{"content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"ty\":\"Paris\"}"}}`},
		[2]string{"content_block_stop", `{"type":"content_block_stop","index":1}`},
		[2]string{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":12}}`},
		[2]string{"message_stop", `{"type":"message_stop"}`},
	)
	out := translateSSE(t, strings.NewReader(in), StreamOptions{Model: "claude-alias", IncludeUsage: true})
	acc, _, _, err := accumulate(t, out)
	if err != nil {
		t.Fatal(err)
	}
	if acc.Usage.CompletionTokens != 12 || acc.Usage.PromptTokens != 20 {
		t.Errorf("usage %+v", acc.Usage)
	}
	continueWithToolResult(t, acc.Choices[0].Message, "toolu_srt", `{"city":"Paris"}`, "Let me check.")
}

func continueWithToolResult(t *testing.T, msg oai.ChatCompletionMessage, id, args, text string) {
	t.Helper()
	if len(msg.ToolCalls) != 1 || msg.ToolCalls[0].ID != id || msg.ToolCalls[0].Function.Arguments != args {
		t.Fatalf("tool calls %+v", msg.ToolCalls)
	}
	p := oai.ChatCompletionNewParams{
		Model: "claude-alias",
		Messages: []oai.ChatCompletionMessageParamUnion{
			oai.UserMessage("Weather in Paris?"),
			msg.ToParam(),
			oai.ToolMessage("18C and sunny", id),
		},
		Tools: []oai.ChatCompletionToolUnionParam{weatherTool()},
	}
	tr, err := TranslateRequest(sdkBody(t, p, false))
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"role":"user","content":[{"type":"text","text":"Weather in Paris?"}]},
		{"role":"assistant","content":[{"type":"text","text":"` + text + `"},{"type":"tool_use","id":"` + id + `","name":"get_weather","input":` + args + `}]},
		{"role":"user","content":[{"type":"tool_result","tool_use_id":"` + id + `","content":"18C and sunny"}]}]`
	if got := gjson.GetBytes(tr.Body, "messages").Raw; !jsonEqual(t, []byte(got), []byte(want)) {
		t.Errorf("messages:\n%s\nwant:\n%s", indent([]byte(got)), indent([]byte(want)))
	}
}
