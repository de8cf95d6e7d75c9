package openai_test

import (
	"fmt"
	"os"

	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/openai"
)

func ExampleTranslateRequest() {
	tr, err := openai.TranslateRequest([]byte(`{"model":"claude-sonnet","max_completion_tokens":256,
		"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}],
		"stream":true,"stream_options":{"include_usage":true}}`))
	if err != nil {
		// Answer err.Status with err.JSON().
		fmt.Println(err.Status, string(err.JSON()))
		return
	}
	fmt.Println(tr.Model, tr.Stream, tr.IncludeUsage)
	fmt.Println(string(tr.Body))
	// Output:
	// claude-sonnet true true
	// {"model":"claude-sonnet","max_tokens":256,"system":[{"type":"text","text":"Be brief."}],"messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}],"stream":true}
}

func ExampleStreamTranslator() {
	st := openai.NewStreamTranslator(openai.StreamOptions{Model: "claude-sonnet", IncludeUsage: true, Created: 1, ID: "chatcmpl-1"})
	var buf []byte
	for _, ev := range []llm.Event{
		{Type: "message_start", Data: []byte(`{"type":"message_start","message":{"id":"msg_1","usage":{"input_tokens":5,"output_tokens":1}}}`)},
		{Type: "content_block_delta", Data: []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}`)},
		{Type: "message_delta", Data: []byte(`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}`)},
	} {
		buf = st.Event(ev, buf[:0]) // write buf to the client and flush
		os.Stdout.Write(buf)
	}
	os.Stdout.Write(st.Finish(buf[:0]))
	// Output:
	// data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"claude-sonnet","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}
	//
	// data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"claude-sonnet","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}]}
	//
	// data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"claude-sonnet","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}
	//
	// data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"claude-sonnet","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7,"prompt_tokens_details":{"cached_tokens":0}}}
	//
	// data: [DONE]
}
