package openai

import (
	"encoding/json"
	"testing"

	"github.com/claude-gateway/claude-gateway/core/llm"
)

// Whatever the client sends, translation either fails with a 400 or
// produces valid JSON; it never panics.
func FuzzTranslateRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","messages":[{"role":"system","content":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}]},{"role":"user","content":[{"type":"text","text":" "},{"type":"image_url","image_url":{"url":"data:image/png;base64,AA=="}}],"cache_control":{"type":"ephemeral"}}]}`,
		`{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":"","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{\"a\":[1,{}]}"}}],"thinking_blocks":[{"type":"thinking","thinking":"t","signature":"s"}]},{"role":"tool","tool_call_id":"a","content":[{"type":"text","text":"r"}]}],"tools":[{"type":"function","function":{"name":"f","parameters":{"properties":{}}}}],"tool_choice":{"type":"function","function":{"name":"f"}},"parallel_tool_calls":false,"reasoning_effort":"high","max_tokens":5000,"stop":["a"],"response_format":{"type":"json_schema","json_schema":{"schema":{"type":"object"}}}}`,
		`{"model":"claude-opus-4-7","messages":[{"role":"user","content":"x"}],"reasoning_effort":"xhigh","response_format":{"type":"json_object"},"user":"u","stream":true,"stream_options":{"include_usage":true},"temperature":1.5}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tr, err := TranslateRequest(body)
		if err != nil {
			if err.Status != 400 || !json.Valid(err.JSON()) {
				t.Fatalf("bad error %+v", err)
			}
			return
		}
		if !json.Valid(tr.Body) {
			t.Fatalf("invalid JSON out of %s:\n%s", body, tr.Body)
		}
	})
}

// The stream translator survives any event data without panicking.
func FuzzStreamEvent(f *testing.F) {
	f.Add("content_block_delta", []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}`))
	f.Add("content_block_start", []byte(`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}`))
	f.Add("content_block_delta", []byte(`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a"}}`))
	f.Add("message_delta", []byte(`{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":3}}`))
	f.Add("error", []byte(`{"type":"error","error":{"type":"overloaded_error","message":"x"}}`))
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		tr := NewStreamTranslator(StreamOptions{Model: "m", IncludeUsage: true})
		out := tr.Event(llm.Event{Type: "content_block_start", Data: []byte(`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}`)}, nil)
		out = tr.Event(llm.Event{Type: typ, Data: data}, out)
		_ = tr.Finish(out)
	})
}

// Any upstream whole answer: translation fails with an error or produces
// valid JSON of a chat.completion with one choice; it never panics.
func FuzzTranslateResponse(f *testing.F) {
	for _, s := range []string{
		`{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":2}}`,
		`{"id":"msg_1","type":"message","content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"tool_use","id":"t1","name":"f","input":{"a":[1,{}]}}],"stop_reason":"tool_use","usage":{"input_tokens":3,"cache_read_input_tokens":5,"cache_creation_input_tokens":1,"output_tokens":2}}`,
		`{"type":"error","error":{"type":"api_error","message":"x"}}`,
		`{"content":"not a list","usage":null}`,
		`{"content":[{"type":"text","text":1},{"type":"tool_use","input":"{"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := TranslateResponse(body, "m")
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON out of %s:\n%s", body, out)
		}
		var cc struct {
			Object  string
			Choices []json.RawMessage
		}
		if json.Unmarshal(out, &cc) != nil || cc.Object != "chat.completion" || len(cc.Choices) != 1 {
			t.Fatalf("not a chat.completion: %s", out)
		}
	})
}
