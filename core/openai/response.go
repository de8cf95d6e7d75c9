package openai

import (
	"errors"
	"time"

	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/tidwall/gjson"
)

// FinishReason maps an Anthropic stop_reason to OpenAI's finish_reason.
func FinishReason(stopReason string) string {
	switch stopReason {
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "refusal":
		return "content_filter"
	default: // end_turn, stop_sequence, pause_turn
		return "stop"
	}
}

// CompletionID is the chat completion id for an Anthropic message id.
func CompletionID(messageID string) string { return "chatcmpl-" + messageID }

// TranslateResponse turns a whole Anthropic Messages response into an
// OpenAI chat.completion with model set to the client's model name.
//
// Text blocks are joined into message.content (null when there are none);
// tool_use blocks become message.tool_calls (ids kept, input as the
// arguments JSON string). Thinking is not part of content: its text is
// exposed as message.reasoning_content and the signed blocks as
// message.thinking_blocks (LiteLLM's shape), which a client may send back
// on the assistant message to continue a tool loop with thinking.
// Usage: prompt_tokens counts cached tokens too (input + cache reads +
// cache writes), with the cache reads in prompt_tokens_details.cached_tokens.
func TranslateResponse(anthropicBody []byte, model string) ([]byte, error) {
	return translateResponse(anthropicBody, model, time.Now().Unix())
}

func translateResponse(body []byte, model string, created int64) ([]byte, error) {
	if !gjson.ValidBytes(body) {
		return nil, errors.New("openai: upstream response is not valid JSON")
	}
	root := gjson.Parse(unsafeString(body))
	if root.Get("type").Str == "error" {
		return nil, errors.New("openai: upstream response is an error")
	}
	content := root.Get("content")

	out := make([]byte, 0, len(body)+256)
	out = append(out, `{"id":`...)
	out = appendString(out, CompletionID(root.Get("id").Str))
	out = append(out, `,"object":"chat.completion","created":`...)
	out = appendInt(out, created)
	out = append(out, `,"model":`...)
	out = appendString(out, model)
	out = append(out, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)

	// content: the text blocks joined, as a stream's deltas would be.
	ntext := 0
	content.ForEach(func(_, b gjson.Result) bool {
		if t := b.Get("text"); b.Get("type").Str == "text" && isString(t) {
			if ntext == 0 {
				out = append(out, '"')
			}
			out = appendStringInner(out, t.Raw)
			ntext++
		}
		return true
	})
	if ntext == 0 {
		out = append(out, "null"...)
	} else {
		out = append(out, '"')
	}
	out = append(out, `,"refusal":null`...)

	// reasoning_content and thinking_blocks.
	nthink := 0
	content.ForEach(func(_, b gjson.Result) bool {
		if t := b.Get("thinking"); b.Get("type").Str == "thinking" && isString(t) {
			if nthink == 0 {
				out = append(out, `,"reasoning_content":"`...)
			}
			out = appendStringInner(out, t.Raw)
			nthink++
		}
		return true
	})
	if nthink > 0 {
		out = append(out, '"')
	}
	nblocks := 0
	content.ForEach(func(_, b gjson.Result) bool {
		var block []byte
		switch b.Get("type").Str {
		case "thinking":
			block = append(block, `{"type":"thinking","thinking":`...)
			block = appendRawOr(block, b.Get("thinking"), `""`)
			block = append(block, `,"signature":`...)
			block = appendRawOr(block, b.Get("signature"), `""`)
			block = append(block, '}')
		case "redacted_thinking":
			block = append(block, `{"type":"redacted_thinking","data":`...)
			block = appendRawOr(block, b.Get("data"), `""`)
			block = append(block, '}')
		default:
			return true
		}
		if nblocks == 0 {
			out = append(out, `,"thinking_blocks":[`...)
		} else {
			out = append(out, ',')
		}
		out = append(out, block...)
		nblocks++
		return true
	})
	if nblocks > 0 {
		out = append(out, ']')
	}

	// tool_calls.
	ncalls := 0
	content.ForEach(func(_, b gjson.Result) bool {
		if b.Get("type").Str != "tool_use" {
			return true
		}
		if ncalls == 0 {
			out = append(out, `,"tool_calls":[`...)
		} else {
			out = append(out, ',')
		}
		out = append(out, `{"id":`...)
		out = appendRawOr(out, b.Get("id"), `""`)
		out = append(out, `,"type":"function","function":{"name":`...)
		out = appendRawOr(out, b.Get("name"), `""`)
		out = append(out, `,"arguments":`...)
		if in := b.Get("input"); in.Exists() {
			out = appendString(out, in.Raw)
		} else {
			out = append(out, `"{}"`...)
		}
		out = append(out, "}}"...)
		ncalls++
		return true
	})
	if ncalls > 0 {
		out = append(out, ']')
	}

	out = append(out, `},"logprobs":null,"finish_reason":"`...)
	out = append(out, FinishReason(root.Get("stop_reason").Str)...)
	out = append(out, `"}],"usage":`...)
	out = appendUsage(out, llm.FromBody(body))
	return append(out, '}'), nil
}

// appendRawOr appends r's raw JSON if it is a string, else def.
func appendRawOr(dst []byte, r gjson.Result, def string) []byte {
	if isString(r) {
		return append(dst, r.Raw...)
	}
	return append(dst, def...)
}

// appendUsage appends an OpenAI usage object. OpenAI's prompt_tokens
// include cached tokens; Anthropic's input_tokens exclude cache reads and
// writes, so they are added back.
func appendUsage(dst []byte, u llm.Usage) []byte {
	prompt := u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens
	dst = append(dst, `{"prompt_tokens":`...)
	dst = appendInt(dst, prompt)
	dst = append(dst, `,"completion_tokens":`...)
	dst = appendInt(dst, u.OutputTokens)
	dst = append(dst, `,"total_tokens":`...)
	dst = appendInt(dst, prompt+u.OutputTokens)
	dst = append(dst, `,"prompt_tokens_details":{"cached_tokens":`...)
	dst = appendInt(dst, u.CacheReadInputTokens)
	return append(dst, "}}"...)
}
