package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/sse"
	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/ssestream"
)

// sseScript renders events in Anthropic's wire form.
func sseScript(events ...[2]string) string {
	var b strings.Builder
	for _, e := range events {
		b.WriteString("event: " + e[0] + "\ndata: " + e[1] + "\n\n")
	}
	return b.String()
}

// toolStream is an Anthropic stream with thinking, text, two client tool
// calls around a server tool call, and usage with cache reads.
var toolStream = sseScript(
	[2]string{"message_start", `{"type":"message_start","message":{"id":"msg_s1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":0,"cache_read_input_tokens":10,"output_tokens":1}}}`},
	[2]string{"ping", `{"type": "ping"}`},
	[2]string{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`},
	[2]string{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Two cities, "}}`},
	[2]string{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"two calls."}}`},
	[2]string{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM"}}`},
	[2]string{"content_block_stop", `{"type":"content_block_stop","index":0}`},
	[2]string{"content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}`},
	[2]string{"content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"I'll check "}}`},
	[2]string{"content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"both \"cities\".\n\u00e9\u2028"}}`},
	[2]string{"content_block_stop", `{"type":"content_block_stop","index":1}`},
	[2]string{"content_block_start", `{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_01A","name":"get_weather","input":{}}}`},
	[2]string{"content_block_delta", `{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}`},
	[2]string{"content_block_delta", `{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Pa"}}`},
	[2]string{"content_block_delta", `{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"ris\", \"note\": \"a\\\"b"}}`},
	[2]string{"content_block_delta", `{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"\\n\"}"}}`},
	[2]string{"content_block_stop", `{"type":"content_block_stop","index":2}`},
	[2]string{"content_block_start", `{"type":"content_block_start","index":3,"content_block":{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}}}`},
	[2]string{"content_block_delta", `{"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"{\"query\":\"x\"}"}}`},
	[2]string{"content_block_stop", `{"type":"content_block_stop","index":3}`},
	[2]string{"content_block_start", `{"type":"content_block_start","index":4,"content_block":{"type":"tool_use","id":"toolu_01B","name":"get_time","input":{}}}`},
	[2]string{"content_block_delta", `{"type":"content_block_delta","index":4,"delta":{"type":"input_json_delta","partial_json":"{"}}`},
	[2]string{"content_block_delta", `{"type":"content_block_delta","index":4,"delta":{"type":"input_json_delta","partial_json":"}"}}`},
	[2]string{"content_block_stop", `{"type":"content_block_stop","index":4}`},
	[2]string{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":77}}`},
	[2]string{"message_stop", `{"type":"message_stop"}`},
)

// randomChunks hands out its bytes in pieces of random size.
type randomChunks struct {
	rng *rand.Rand
	b   []byte
}

func (r *randomChunks) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := 1 + r.rng.IntN(min(len(p), 40))
	n = copy(p, r.b[:min(n, len(r.b))])
	r.b = r.b[n:]
	return n, nil
}

// translateSSE reads Anthropic SSE from r and returns the OpenAI stream bytes.
func translateSSE(t *testing.T, r io.Reader, o StreamOptions) []byte {
	t.Helper()
	rd := sse.NewReader(r)
	tr := NewStreamTranslator(o)
	var out []byte
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("sse: %v", err)
		}
		out = tr.Event(ev, out)
	}
	return tr.Finish(out)
}

// accumulate reads an OpenAI stream with openai-go's own SSE decoder and
// ChatCompletionAccumulator, as an SDK client would.
func accumulate(t *testing.T, body []byte) (oai.ChatCompletionAccumulator, []oai.ChatCompletionChunk, string, error) {
	t.Helper()
	res := &http.Response{
		StatusCode: 200,
		Header:     http.Header{"Content-Type": {"text/event-stream"}},
		Body:       io.NopCloser(bytes.NewReader(body)),
	}
	stream := ssestream.NewStream[oai.ChatCompletionChunk](ssestream.NewDecoder(res), nil)
	var acc oai.ChatCompletionAccumulator
	var chunks []oai.ChatCompletionChunk
	var reasoning strings.Builder
	for stream.Next() {
		c := stream.Current()
		if !acc.AddChunk(c) {
			t.Fatalf("accumulator rejected chunk %s", c.RawJSON())
		}
		chunks = append(chunks, c)
		if len(c.Choices) > 0 {
			if f, ok := c.Choices[0].Delta.JSON.ExtraFields["reasoning_content"]; ok {
				var s string
				if err := json.Unmarshal([]byte(f.Raw()), &s); err != nil {
					t.Fatalf("reasoning_content %s: %v", f.Raw(), err)
				}
				reasoning.WriteString(s)
			}
		}
	}
	return acc, chunks, reasoning.String(), stream.Err()
}

func TestStreamToolCallsAtArbitraryBoundaries(t *testing.T) {
	readers := map[string]func() io.Reader{
		"whole":    func() io.Reader { return strings.NewReader(toolStream) },
		"one-byte": func() io.Reader { return iotest.OneByteReader(strings.NewReader(toolStream)) },
		"half":     func() io.Reader { return iotest.HalfReader(strings.NewReader(toolStream)) },
	}
	for seed := range uint64(40) {
		readers["random-"+string(rune('A'+seed%26))+string(rune('0'+seed/26))] = func() io.Reader {
			return &randomChunks{rng: rand.New(rand.NewPCG(seed, seed*7+1)), b: []byte(toolStream)}
		}
	}
	var first []byte
	for name, mk := range readers {
		t.Run(name, func(t *testing.T) {
			out := translateSSE(t, mk(), StreamOptions{Model: "my-alias", IncludeUsage: true, Created: 1700000000, ID: "chatcmpl-abc"})
			if first == nil {
				first = out
			} else if !bytes.Equal(out, first) {
				t.Fatalf("output depends on how the input was split")
			}
			acc, chunks, reasoning, err := accumulate(t, out)
			if err != nil {
				t.Fatalf("stream error: %v", err)
			}
			checkToolStream(t, acc, chunks, reasoning)
			if !bytes.HasSuffix(out, []byte("\n\ndata: [DONE]\n\n")) {
				t.Errorf("does not end with [DONE]: %q", out[max(0, len(out)-80):])
			}
		})
	}
}

func checkToolStream(t *testing.T, acc oai.ChatCompletionAccumulator, chunks []oai.ChatCompletionChunk, reasoning string) {
	t.Helper()
	if len(acc.Choices) != 1 {
		t.Fatalf("choices %d", len(acc.Choices))
	}
	m := acc.Choices[0].Message
	if m.Content != "I'll check both \"cities\".\n\u00e9\u2028" {
		t.Errorf("content %q", m.Content)
	}
	if reasoning != "Two cities, two calls." {
		t.Errorf("reasoning %q", reasoning)
	}
	if acc.Choices[0].FinishReason != "tool_calls" {
		t.Errorf("finish %q", acc.Choices[0].FinishReason)
	}
	if len(m.ToolCalls) != 2 {
		t.Fatalf("tool calls %+v", m.ToolCalls)
	}
	want := []struct{ id, name, args string }{
		{"toolu_01A", "get_weather", `{"city": "Paris", "note": "a\"b\n"}`},
		{"toolu_01B", "get_time", `{}`},
	}
	for i, w := range want {
		tc := m.ToolCalls[i]
		if tc.ID != w.id || tc.Function.Name != w.name || tc.Function.Arguments != w.args || tc.Type != "function" {
			t.Errorf("tool call %d = %s %s %q %q, want %s %s %q", i, tc.ID, tc.Function.Name, tc.Function.Arguments, tc.Type, w.id, w.name, w.args)
		}
	}
	if u := acc.Usage; u.PromptTokens != 35 || u.CompletionTokens != 77 || u.TotalTokens != 112 || u.PromptTokensDetails.CachedTokens != 10 {
		t.Errorf("usage %+v", u)
	}
	if acc.ID != "chatcmpl-abc" || acc.Model != "my-alias" || acc.Created != 1700000000 {
		t.Errorf("id %q model %q created %d", acc.ID, acc.Model, acc.Created)
	}
	// First chunk carries the role; the last one has no choices and the usage.
	if len(chunks) < 3 || chunks[0].Choices[0].Delta.Role != "assistant" {
		t.Fatalf("first chunk %s", chunks[0].RawJSON())
	}
	last := chunks[len(chunks)-1]
	if len(last.Choices) != 0 || last.Usage.TotalTokens != 112 || !last.JSON.Usage.Valid() {
		t.Errorf("last chunk %s", last.RawJSON())
	}
	// Tool indexes count tool calls only: 0 and 1, never the block index.
	for _, c := range chunks {
		for _, ch := range c.Choices {
			for _, tc := range ch.Delta.ToolCalls {
				if tc.Index != 0 && tc.Index != 1 {
					t.Errorf("tool call index %d in %s", tc.Index, c.RawJSON())
				}
			}
		}
	}
}

func TestStreamGolden(t *testing.T) {
	in := sseScript(
		[2]string{"message_start", `{"type":"message_start","message":{"id":"msg_g","usage":{"input_tokens":3,"output_tokens":1}}}`},
		[2]string{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`},
		[2]string{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}`},
		[2]string{"content_block_stop", `{"type":"content_block_stop","index":0}`},
		[2]string{"content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t1","name":"f","input":{}}}`},
		[2]string{"content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":1}"}}`},
		[2]string{"content_block_stop", `{"type":"content_block_stop","index":1}`},
		[2]string{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":4}}`},
		[2]string{"message_stop", `{"type":"message_stop"}`},
	)
	head := `data: {"id":"chatcmpl-msg_g","object":"chat.completion.chunk","created":5,"model":"al\"ias"`
	ch := head + `,"choices":[{"index":0,"delta":`
	want := ch + `{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
		ch + `{"content":"Hi"},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
		ch + `{"tool_calls":[{"index":0,"id":"t1","type":"function","function":{"name":"f","arguments":""}}]},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
		ch + `{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":1}"}}]},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
		ch + `{},"logprobs":null,"finish_reason":"tool_calls"}]}` + "\n\n" +
		head + `,"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7,"prompt_tokens_details":{"cached_tokens":0}}}` + "\n\n" +
		"data: [DONE]\n\n"
	got := translateSSE(t, strings.NewReader(in), StreamOptions{Model: `al"ias`, IncludeUsage: true, Created: 5})
	if string(got) != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	// Every data line but [DONE] is a JSON object.
	for _, line := range strings.Split(strings.TrimSpace(string(got)), "\n\n") {
		data := strings.TrimPrefix(line, "data: ")
		if data != "[DONE]" && !json.Valid([]byte(data)) {
			t.Errorf("invalid JSON line %q", line)
		}
	}
}

func TestStreamWithoutUsageAndBedrockMetrics(t *testing.T) {
	in := sseScript(
		[2]string{"message_start", `{"type":"message_start","message":{"id":"msg_b","usage":{"input_tokens":1,"output_tokens":1}}}`},
		[2]string{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":"Pre"}}`},
		[2]string{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"fix"}}`},
		[2]string{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":2}}`},
		[2]string{"message_stop", `{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":11,"outputTokenCount":7,"cacheReadInputTokenCount":3,"cacheWriteInputTokenCount":2}}`},
	)
	out := translateSSE(t, strings.NewReader(in), StreamOptions{Model: "a"})
	if bytes.Contains(out, []byte(`"usage"`)) {
		t.Errorf("usage chunk without include_usage: %s", out)
	}
	acc, _, _, err := accumulate(t, out)
	if err != nil {
		t.Fatal(err)
	}
	if acc.Choices[0].Message.Content != "Prefix" || acc.Choices[0].FinishReason != "length" {
		t.Errorf("got %q %q", acc.Choices[0].Message.Content, acc.Choices[0].FinishReason)
	}

	// With usage, Bedrock's invocation metrics (on message_stop) are the final counts.
	out = translateSSE(t, strings.NewReader(in), StreamOptions{Model: "a", IncludeUsage: true})
	acc, _, _, err = accumulate(t, out)
	if err != nil {
		t.Fatal(err)
	}
	if u := acc.Usage; u.PromptTokens != 16 || u.CompletionTokens != 7 || u.PromptTokensDetails.CachedTokens != 3 {
		t.Errorf("usage %+v", u)
	}
	if !strings.HasPrefix(acc.ID, "chatcmpl-msg_b") {
		t.Errorf("id %q", acc.ID)
	}
}

func TestStreamErrorEvent(t *testing.T) {
	in := sseScript(
		[2]string{"message_start", `{"type":"message_start","message":{"id":"msg_e","usage":{"input_tokens":1,"output_tokens":1}}}`},
		[2]string{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`},
		[2]string{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"par"}}`},
		[2]string{"error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`},
	)
	rd := sse.NewReader(strings.NewReader(in))
	tr := NewStreamTranslator(StreamOptions{Model: "a"})
	var out []byte
	for {
		ev, err := rd.Next()
		if err != nil {
			break
		}
		out = tr.Event(ev, out)
	}
	if !bytes.Contains(out, []byte(`data: {"error":{"message":"Overloaded","type":"server_error","param":null,"code":"overloaded"}}`+"\n\n")) {
		t.Fatalf("no error line in %s", out)
	}
	acc, _, _, err := accumulate(t, out)
	var se *ssestream.StreamError
	if !errors.As(err, &se) || !strings.Contains(se.Message, "Overloaded") {
		t.Fatalf("SDK error = %v", err)
	}
	if acc.Choices[0].Message.Content != "par" {
		t.Errorf("content before the error %q", acc.Choices[0].Message.Content)
	}

	// A Go error from Stream.Next goes out the same way.
	line := FromError(&llm.Error{Status: 429, Type: llm.ErrRateLimit, Message: "later"}).AppendSSE(nil)
	if string(line) != `data: {"error":{"message":"later","type":"rate_limit_error","param":null,"code":"rate_limit_exceeded"}}`+"\n\n" {
		t.Errorf("error line %s", line)
	}
}

func TestStreamEventsBeforeMessageStart(t *testing.T) {
	// A stream that somehow starts without message_start still leads with the role chunk.
	tr := NewStreamTranslator(StreamOptions{Model: "a", ID: "x"})
	out := tr.Event(llm.Event{Type: "content_block_delta", Data: []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}}`)}, nil)
	out = tr.Event(llm.Event{Type: "message_stop", Data: []byte(`{"type":"message_stop"}`)}, out)
	out = tr.Finish(out)
	acc, chunks, _, err := accumulate(t, out)
	if err != nil {
		t.Fatal(err)
	}
	if chunks[0].Choices[0].Delta.Role != "assistant" || acc.Choices[0].Message.Content != "a" || acc.Choices[0].FinishReason != "stop" {
		t.Errorf("got %s", out)
	}
	if tr.FinishReason() != "stop" {
		t.Errorf("FinishReason %q", tr.FinishReason())
	}
}

func TestRawField(t *testing.T) {
	obj := ` { "a" : "x\"}y" , "n":-1.5e3,"o":{"k":[1,{"z":"]"}]},"t":true, "s":"\\" ,"e":{}}`
	for key, want := range map[string]string{
		"a": `"x\"}y"`, "n": `-1.5e3`, "o": `{"k":[1,{"z":"]"}]}`, "t": "true", "s": `"\\"`, "e": "{}", "z": "", "k": "",
	} {
		if got := rawField(obj, key); got != want {
			t.Errorf("rawField(%q) = %q, want %q", key, got, want)
		}
	}
	for _, bad := range []string{"", "[]", `{"a"`, `{"a":"unterminated}`, `{"a":1 "b":2}`} {
		if got := rawField(bad, "b"); got != "" {
			t.Errorf("rawField(%q) = %q", bad, got)
		}
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", "q\"b\\s", "ctl\x00\x1f\n\r\t", "é世界", "bad\xffutf8", "\u2028\u2029", "<&>"} {
		out := appendString(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%q -> %s: %v", s, out, err)
		}
		want := strings.ToValidUTF8(s, "\uFFFD")
		if back != want {
			t.Errorf("%q -> %s -> %q", s, out, back)
		}
	}
}
