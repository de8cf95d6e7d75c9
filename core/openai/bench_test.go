package openai

import (
	"testing"

	"github.com/claude-gateway/claude-gateway/core/llm"
)

// The cost of translating one streamed chunk, the gateway's per-token work
// on /v1/chat/completions. dst is reused as a server would reuse its
// write buffer.

func benchStreamEvent(b *testing.B, setup []llm.Event, ev llm.Event) {
	tr := NewStreamTranslator(StreamOptions{Model: "claude-sonnet", IncludeUsage: true, Created: 1700000000, ID: "chatcmpl-bench"})
	var dst []byte
	for _, e := range setup {
		dst = tr.Event(e, dst[:0])
	}
	b.SetBytes(int64(len(ev.Data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		dst = tr.Event(ev, dst[:0])
	}
	if len(dst) == 0 {
		b.Fatal("no output")
	}
}

var benchStart = llm.Event{Type: "message_start", Data: []byte(`{"type":"message_start","message":{"id":"msg_bench","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_read_input_tokens":0,"output_tokens":1}}}`)}

func BenchmarkStreamTextDelta(b *testing.B) {
	benchStreamEvent(b, []llm.Event{
		benchStart,
		{Type: "content_block_start", Data: []byte(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)},
	}, llm.Event{Type: "content_block_delta", Data: []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"The quick brown fox jumps over the \"lazy\" dog.\n"}}`)})
}

func BenchmarkStreamInputJSONDelta(b *testing.B) {
	benchStreamEvent(b, []llm.Event{
		benchStart,
		{Type: "content_block_start", Data: []byte(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)},
		{Type: "content_block_stop", Data: []byte(`{"type":"content_block_stop","index":0}`)},
		{Type: "content_block_start", Data: []byte(`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{}}}`)},
	}, llm.Event{Type: "content_block_delta", Data: []byte(`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"San Fra"}}`)})
}

func BenchmarkTranslateRequest(b *testing.B) {
	body := []byte(`{"model":"claude-sonnet","max_completion_tokens":1024,"stream":true,"stream_options":{"include_usage":true},
		"messages":[{"role":"system","content":"You are helpful."},{"role":"user","content":"Weather in Paris?"},
		{"role":"assistant","content":null,"tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
		{"role":"tool","tool_call_id":"toolu_1","content":"18C"}],
		"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := TranslateRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTranslateResponse(b *testing.B) {
	body := []byte(`{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"Checking."},{"type":"tool_use","id":"toolu_a","name":"weather","input":{"city":"Paris"}}],"stop_reason":"tool_use","usage":{"input_tokens":7,"output_tokens":9}}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := TranslateResponse(body, "alias"); err != nil {
			b.Fatal(err)
		}
	}
}
