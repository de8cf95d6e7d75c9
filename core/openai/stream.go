package openai

import (
	"time"

	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/tidwall/gjson"
)

// StreamOptions configures a StreamTranslator.
type StreamOptions struct {
	// Model is the client's model name, echoed in every chunk.
	Model string
	// IncludeUsage is stream_options.include_usage: Finish then writes a
	// last chunk with empty choices and the usage.
	IncludeUsage bool
	// Created is the chunks' "created" (Unix seconds); 0 means now.
	Created int64
	// ID is the chunks' "id"; empty means CompletionID of the upstream
	// message id from message_start.
	ID string
}

// StreamTranslator turns a stream of Anthropic events into OpenAI
// chat.completion.chunk server-sent events, one event at a time (nothing
// is buffered across events). It is not safe for concurrent use.
//
// Each Anthropic event becomes zero or more "data: {chunk}\n\n" lines:
//
//	message_start                  -> a chunk with delta {role: assistant, content: ""}
//	text_delta                     -> delta.content
//	tool_use content_block_start   -> delta.tool_calls[{index, id, type, function{name, arguments: ""}}]
//	input_json_delta               -> delta.tool_calls[{index, function{arguments: partial}}]
//	thinking_delta                 -> delta.reasoning_content
//	message_delta with stop_reason -> a chunk with empty delta and finish_reason
//	error                          -> data: {"error": {...}} (OpenAI's mid-stream error)
//
// The tool call index counts tool calls only (the first tool_use block is
// index 0 whatever text or thinking blocks come before it). Server tool
// blocks (web search and the like) are not client tool calls and are
// dropped. Texts and partial arguments are copied from the upstream JSON
// as they are, without decoding and re-encoding.
type StreamTranslator struct {
	opts StreamOptions

	// prefix is `data: {"id":…,"object":…,"created":…,"model":…` followed
	// by `,"choices":[{"index":0,"delta":`; headLen marks the split.
	prefix  []byte
	headLen int

	started  bool // the role chunk was written
	finished bool // the finish_reason chunk was written

	blockIndex string // raw "index" of the current content block
	blockTool  int    // OpenAI tool index of the current block, -1 if not a client tool call
	tools      int    // tool calls so far

	usage        llm.Usage
	finishReason string
}

// NewStreamTranslator makes a translator for one stream.
func NewStreamTranslator(o StreamOptions) *StreamTranslator {
	if o.Created == 0 {
		o.Created = time.Now().Unix()
	}
	return &StreamTranslator{opts: o, blockTool: -1}
}

// Usage is the usage seen so far (complete after message_delta, and after
// message_stop for Bedrock's invocation metrics).
func (s *StreamTranslator) Usage() llm.Usage { return s.usage }

// FinishReason is the OpenAI finish_reason sent, "" before it is known.
func (s *StreamTranslator) FinishReason() string { return s.finishReason }

const (
	chunkTail  = `,"logprobs":null,"finish_reason":null}]}` + "\n\n"
	deltaHead  = `,"choices":[{"index":0,"delta":`
	doneMarker = "data: [DONE]\n\n"
)

// ensurePrefix builds the constant part of every chunk once.
func (s *StreamTranslator) ensurePrefix(messageID string) {
	if s.prefix != nil {
		return
	}
	id := s.opts.ID
	if id == "" {
		if messageID == "" {
			messageID = "gateway"
		}
		id = CompletionID(messageID)
	}
	p := make([]byte, 0, 128+len(id)+len(s.opts.Model))
	p = append(p, `data: {"id":`...)
	p = appendString(p, id)
	p = append(p, `,"object":"chat.completion.chunk","created":`...)
	p = appendInt(p, s.opts.Created)
	p = append(p, `,"model":`...)
	p = appendString(p, s.opts.Model)
	s.headLen = len(p)
	s.prefix = append(p, deltaHead...)
}

// open starts a chunk (writing the role chunk first if it is still due)
// and leaves dst ready for the delta object.
func (s *StreamTranslator) open(dst []byte) []byte {
	s.ensurePrefix("")
	if !s.started {
		s.started = true
		dst = append(dst, s.prefix...)
		dst = append(dst, `{"role":"assistant","content":""}`...)
		dst = append(dst, chunkTail...)
	}
	return append(dst, s.prefix...)
}

// Event appends the chunks for one Anthropic event to dst.
func (s *StreamTranslator) Event(ev llm.Event, dst []byte) []byte {
	data := unsafeString(ev.Data)
	switch ev.Type {
	case "content_block_delta":
		return s.delta(data, dst)
	case "message_start":
		s.usage.ObserveEvent(ev)
		s.ensurePrefix(gjson.Get(data, "message.id").Str)
		if !s.started {
			s.started = true
			dst = append(dst, s.prefix...)
			dst = append(dst, `{"role":"assistant","content":""}`...)
			dst = append(dst, chunkTail...)
		}
		return dst
	case "content_block_start":
		return s.blockStart(data, dst)
	case "content_block_stop":
		s.blockTool = -1
		return dst
	case "message_delta":
		s.usage.ObserveEvent(ev)
		if r := gjson.Get(data, "delta.stop_reason"); isString(r) {
			return s.finish(dst, FinishReason(r.Str))
		}
		return dst
	case "message_stop":
		s.usage.ObserveEvent(ev)
		if !s.finished {
			return s.finish(dst, "stop")
		}
		return dst
	case "error":
		typ := gjson.Get(data, "error.type").Str
		msg := gjson.Get(data, "error.message").Str
		if msg == "" {
			msg = "upstream error"
		}
		return fromAnthropic(llm.StatusForType(typ), typ, msg).AppendSSE(dst)
	default: // ping and events this translator does not know
		return dst
	}
}

func (s *StreamTranslator) finish(dst []byte, reason string) []byte {
	if s.finished {
		return dst
	}
	s.finished = true
	s.finishReason = reason
	dst = s.open(dst)
	dst = append(dst, `{},"logprobs":null,"finish_reason":"`...)
	dst = append(dst, reason...)
	return append(dst, "\"}]}\n\n"...)
}

func (s *StreamTranslator) blockStart(data string, dst []byte) []byte {
	s.blockIndex = rawField(data, "index")
	s.blockTool = -1
	cb := rawField(data, "content_block")
	switch rawField(cb, "type") {
	case `"tool_use"`:
		s.blockTool = s.tools
		s.tools++
		dst = s.open(dst)
		dst = append(dst, `{"tool_calls":[{"index":`...)
		dst = appendInt(dst, int64(s.blockTool))
		dst = append(dst, `,"id":`...)
		dst = appendRawString(dst, rawField(cb, "id"))
		dst = append(dst, `,"type":"function","function":{"name":`...)
		dst = appendRawString(dst, rawField(cb, "name"))
		dst = append(dst, `,"arguments":""}}]}`...)
		return append(dst, chunkTail...)
	case `"text"`:
		if t := rawField(cb, "text"); len(t) > 2 && t[0] == '"' {
			return s.content(dst, `{"content":`, t)
		}
	case `"thinking"`:
		if t := rawField(cb, "thinking"); len(t) > 2 && t[0] == '"' {
			return s.content(dst, `{"reasoning_content":`, t)
		}
	}
	return dst
}

// delta handles content_block_delta, the event of nearly every chunk.
func (s *StreamTranslator) delta(data string, dst []byte) []byte {
	d := rawField(data, "delta")
	switch rawField(d, "type") {
	case `"text_delta"`:
		if t := rawField(d, "text"); len(t) > 2 && t[0] == '"' {
			return s.content(dst, `{"content":`, t)
		}
	case `"input_json_delta"`:
		if s.blockTool < 0 || rawField(data, "index") != s.blockIndex {
			return dst
		}
		pj := rawField(d, "partial_json")
		if len(pj) <= 2 || pj[0] != '"' {
			return dst // empty fragments carry nothing
		}
		dst = s.open(dst)
		dst = append(dst, `{"tool_calls":[{"index":`...)
		dst = appendInt(dst, int64(s.blockTool))
		dst = append(dst, `,"function":{"arguments":`...)
		dst = append(dst, pj...)
		dst = append(dst, "}}]}"...)
		return append(dst, chunkTail...)
	case `"thinking_delta"`:
		if t := rawField(d, "thinking"); len(t) > 2 && t[0] == '"' {
			return s.content(dst, `{"reasoning_content":`, t)
		}
	}
	// signature_delta, citations_delta: nothing OpenAI clients would read.
	return dst
}

// content appends a chunk whose delta is head + the raw string literal + '}'.
func (s *StreamTranslator) content(dst []byte, head, raw string) []byte {
	dst = s.open(dst)
	dst = append(dst, head...)
	dst = append(dst, raw...)
	dst = append(dst, '}')
	return append(dst, chunkTail...)
}

// Finish appends the end of the stream: with IncludeUsage a chunk with
// empty choices and the usage, then "data: [DONE]". A stream that failed
// part way should end with FromError(err).AppendSSE instead.
func (s *StreamTranslator) Finish(dst []byte) []byte {
	if s.opts.IncludeUsage {
		s.ensurePrefix("")
		dst = append(dst, s.prefix[:s.headLen]...)
		dst = append(dst, `,"choices":[],"usage":`...)
		dst = appendUsage(dst, s.usage)
		dst = append(dst, "}\n\n"...)
	}
	return append(dst, doneMarker...)
}

// appendRawString appends a raw JSON string literal, or "" if raw is not one.
func appendRawString(dst []byte, raw string) []byte {
	if len(raw) >= 2 && raw[0] == '"' {
		return append(dst, raw...)
	}
	return append(dst, `""`...)
}

// rawField returns the raw JSON value of key in the object obj (top level
// only), or "" when obj is not an object or has no such key. Unlike gjson
// it never unescapes strings, so it does not allocate: the streaming path
// copies text and argument fragments as the literals the upstream sent.
// Keys are compared as spelled (Anthropic's keys have no escapes).
func rawField(obj, key string) string {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return ""
	}
	i++
	for {
		i = skipSpace(obj, i)
		if i >= len(obj) || obj[i] != '"' {
			return ""
		}
		kEnd := valueEnd(obj, i)
		if kEnd < 0 {
			return ""
		}
		k := obj[i+1 : kEnd-1]
		i = skipSpace(obj, kEnd)
		if i >= len(obj) || obj[i] != ':' {
			return ""
		}
		i = skipSpace(obj, i+1)
		vEnd := valueEnd(obj, i)
		if vEnd < 0 {
			return ""
		}
		if k == key {
			return obj[i:vEnd]
		}
		i = skipSpace(obj, vEnd)
		if i >= len(obj) || obj[i] != ',' {
			return ""
		}
		i++
	}
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// valueEnd returns the index just past the JSON value starting at s[i], or -1.
func valueEnd(s string, i int) int {
	if i >= len(s) {
		return -1
	}
	switch s[i] {
	case '"':
		for j := i + 1; j < len(s); j++ {
			switch s[j] {
			case '\\':
				j++
			case '"':
				return j + 1
			}
		}
		return -1
	case '{', '[':
		depth := 0
		for j := i; j < len(s); j++ {
			switch s[j] {
			case '"':
				end := valueEnd(s, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	default:
		j := i
		for j < len(s) && s[j] != ',' && s[j] != '}' && s[j] != ']' && s[j] != ' ' && s[j] != '\n' && s[j] != '\t' && s[j] != '\r' {
			j++
		}
		if j == i {
			return -1
		}
		return j
	}
}
