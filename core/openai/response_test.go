package openai

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/claude-gateway/claude-gateway/core/llm"
	oai "github.com/openai/openai-go/v3"
)

func TestTranslateResponse(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want string
	}{
		{
			name: "text with cache usage",
			in: `{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",
				"content":[{"type":"text","text":"Hello "},{"type":"text","text":"\"world\"\n"}],
				"stop_reason":"end_turn","stop_sequence":null,
				"usage":{"input_tokens":10,"cache_creation_input_tokens":20,"cache_read_input_tokens":30,"output_tokens":5}}`,
			want: `{"id":"chatcmpl-msg_01","object":"chat.completion","created":1700000000,"model":"my-alias",
				"choices":[{"index":0,"message":{"role":"assistant","content":"Hello \"world\"\n","refusal":null},"logprobs":null,"finish_reason":"stop"}],
				"usage":{"prompt_tokens":60,"completion_tokens":5,"total_tokens":65,"prompt_tokens_details":{"cached_tokens":30}}}`,
		},
		{
			name: "tool calls with thinking and text",
			in: `{"id":"msg_02","type":"message","role":"assistant","content":[
				{"type":"thinking","thinking":"Need the weather.","signature":"sig1"},
				{"type":"redacted_thinking","data":"enc"},
				{"type":"text","text":"Checking."},
				{"type":"tool_use","id":"toolu_a","name":"weather","input":{"city":"Paris","opts":{"units":"C"}}},
				{"type":"tool_use","id":"toolu_b","name":"time","input":{}}],
				"stop_reason":"tool_use","usage":{"input_tokens":7,"output_tokens":9}}`,
			want: `{"id":"chatcmpl-msg_02","object":"chat.completion","created":1700000000,"model":"my-alias",
				"choices":[{"index":0,"message":{"role":"assistant","content":"Checking.","refusal":null,
					"reasoning_content":"Need the weather.",
					"thinking_blocks":[{"type":"thinking","thinking":"Need the weather.","signature":"sig1"},{"type":"redacted_thinking","data":"enc"}],
					"tool_calls":[{"id":"toolu_a","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\",\"opts\":{\"units\":\"C\"}}"}},
					              {"id":"toolu_b","type":"function","function":{"name":"time","arguments":"{}"}}]},
					"logprobs":null,"finish_reason":"tool_calls"}],
				"usage":{"prompt_tokens":7,"completion_tokens":9,"total_tokens":16,"prompt_tokens_details":{"cached_tokens":0}}}`,
		},
		{
			name: "only a tool call: content is null",
			in:   `{"id":"msg_03","content":[{"type":"tool_use","id":"t","name":"f","input":{"a":1}}],"stop_reason":"tool_use","usage":{"input_tokens":1,"output_tokens":2}}`,
			want: `{"id":"chatcmpl-msg_03","object":"chat.completion","created":1700000000,"model":"my-alias",
				"choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":null,
					"tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},"logprobs":null,"finish_reason":"tool_calls"}],
				"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"prompt_tokens_details":{"cached_tokens":0}}}`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := translateResponse([]byte(c.in), "my-alias", 1700000000)
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, got, []byte(c.want)) {
				t.Errorf("got:\n%s\nwant:\n%s", indent(got), indent([]byte(c.want)))
			}
			var cc oai.ChatCompletion
			if err := json.Unmarshal(got, &cc); err != nil {
				t.Fatalf("openai-go cannot decode: %v", err)
			}
			if cc.Model != "my-alias" || len(cc.Choices) != 1 || string(cc.Object) != "chat.completion" {
				t.Errorf("decoded %+v", cc)
			}
		})
	}
}

func TestFinishReasons(t *testing.T) {
	for stop, want := range map[string]string{
		"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
		"refusal": "content_filter", "pause_turn": "stop", "model_context_window_exceeded": "length", "": "stop",
	} {
		in := `{"id":"m","content":[{"type":"text","text":"x"}],"stop_reason":"` + stop + `","usage":{"input_tokens":1,"output_tokens":1}}`
		got, err := TranslateResponse([]byte(in), "a")
		if err != nil {
			t.Fatal(err)
		}
		var cc oai.ChatCompletion
		if err := json.Unmarshal(got, &cc); err != nil {
			t.Fatal(err)
		}
		if cc.Choices[0].FinishReason != want {
			t.Errorf("%q -> %q, want %q", stop, cc.Choices[0].FinishReason, want)
		}
		if cc.Created == 0 {
			t.Error("created not set")
		}
	}
}

func TestTranslateResponseDecodesInSDK(t *testing.T) {
	in := `{"id":"msg_9","content":[{"type":"text","text":"Calling."},{"type":"tool_use","id":"toolu_x","name":"lookup","input":{"q":"a \"b\"","n":[1,2]}}],
		"stop_reason":"tool_use","usage":{"input_tokens":3,"cache_read_input_tokens":4,"output_tokens":5}}`
	got, err := TranslateResponse([]byte(in), "gpt-like")
	if err != nil {
		t.Fatal(err)
	}
	var cc oai.ChatCompletion
	if err := json.Unmarshal(got, &cc); err != nil {
		t.Fatal(err)
	}
	m := cc.Choices[0].Message
	if m.Content != "Calling." || len(m.ToolCalls) != 1 {
		t.Fatalf("message %+v", m)
	}
	tc := m.ToolCalls[0]
	if tc.ID != "toolu_x" || tc.Function.Name != "lookup" || !jsonEqual(t, []byte(tc.Function.Arguments), []byte(`{"q":"a \"b\"","n":[1,2]}`)) {
		t.Errorf("tool call %+v", tc)
	}
	if cc.Usage.PromptTokens != 7 || cc.Usage.CompletionTokens != 5 || cc.Usage.TotalTokens != 12 || cc.Usage.PromptTokensDetails.CachedTokens != 4 {
		t.Errorf("usage %+v", cc.Usage)
	}
	if cc.ID != "chatcmpl-msg_9" {
		t.Errorf("id %q", cc.ID)
	}
}

func TestTranslateResponseRejectsGarbage(t *testing.T) {
	for _, in := range []string{`{"id":`, `{"type":"error","error":{"type":"api_error","message":"x"}}`} {
		if _, err := TranslateResponse([]byte(in), "a"); err == nil {
			t.Errorf("%s: no error", in)
		}
	}
}

func TestFromLLM(t *testing.T) {
	cases := []struct {
		name              string
		in                *llm.Error
		status            int
		typ, code, msgHas string
	}{
		{"rate limit", llm.NewError(429, "slow down"), 429, TypeRateLimit, CodeRateLimitExceeded, "slow down"},
		{"auth", llm.NewError(401, "bad key"), 401, TypeAuthentication, CodeInvalidAPIKey, "bad key"},
		{"permission", llm.NewError(403, "no"), 403, TypePermission, CodePermissionDenied, "no"},
		{"not found", llm.NewError(404, "no model"), 404, TypeNotFound, CodeNotFound, "no model"},
		{"too large", llm.NewError(413, "big"), 413, TypeInvalidRequest, CodeRequestTooLarge, "big"},
		{"overloaded", llm.NewError(529, "busy"), 529, TypeServer, CodeOverloaded, "busy"},
		{"timeout", llm.NewError(504, "slow"), 504, TypeServer, CodeTimeout, "slow"},
		{"server", llm.NewError(500, "boom"), 500, TypeServer, "", "boom"},
		{"plain 400", llm.NewError(400, "bad field"), 400, TypeInvalidRequest, "", "bad field"},
		{"upstream body wins", &llm.Error{Status: 400, Type: llm.ErrAPI, Message: "generic",
			Body: []byte(`{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}`)},
			400, TypeInvalidRequest, CodeContextLength, "prompt is too long"},
	}
	for _, c := range cases {
		e := FromLLM(c.in)
		if e.Status != c.status || e.Type != c.typ || e.Code != c.code || !strings.Contains(e.Message, c.msgHas) {
			t.Errorf("%s: got %+v", c.name, e)
		}
		// The SDK reads the error body into its *Error.
		var body struct {
			Error struct {
				Message, Type string
				Code          *string
			}
		}
		if err := json.Unmarshal(e.JSON(), &body); err != nil || body.Error.Message != e.Message {
			t.Errorf("%s: JSON %s", c.name, e.JSON())
		}
	}
	if e := FromError(llm.NewError(http.StatusTooManyRequests, "x")); e.Status != 429 {
		t.Errorf("FromError(llm) = %+v", e)
	}
	if e := FromError(badRequest("p", "c", "m")); e.Param != "p" {
		t.Errorf("FromError(*Error) = %+v", e)
	}
	if e := FromError(http.ErrHandlerTimeout); e.Status != 500 || e.Type != TypeServer {
		t.Errorf("FromError(other) = %+v", e)
	}
}
