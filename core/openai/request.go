package openai

import (
	"fmt"
	"math"
	"strings"

	"github.com/tidwall/gjson"
)

// DefaultMaxTokens is the max_tokens sent upstream when the client sets
// neither max_completion_tokens nor max_tokens (Anthropic requires one;
// OpenAI does not). With reasoning on, the thinking budget is added to it.
const DefaultMaxTokens = 4096

// jsonObjectInstruction is added to the system prompt for response_format
// json_object: Anthropic's structured outputs need a schema (with closed
// objects), so plain JSON mode is best effort by instruction.
const jsonObjectInstruction = "Respond with a single valid JSON object only, with no text before or after it and no code fences."

// Options tunes TranslateRequest. The zero value is usable.
type Options struct {
	// DefaultMaxTokens replaces the package DefaultMaxTokens when > 0.
	DefaultMaxTokens int64
	// Thinking chooses how reasoning_effort is expressed; ThinkingAuto
	// decides by the request's model name (see UsesAdaptiveThinking). A
	// caller that knows the upstream model better should set it.
	Thinking ThinkingForm
}

// Translated is an OpenAI chat request turned into an Anthropic Messages request.
type Translated struct {
	// Body is the Anthropic Messages request JSON. Its "model" is the
	// client's model name, its "stream" is true for streaming requests.
	Body []byte
	// Model is the client's model name (the alias echoed back in answers).
	Model string
	// Stream is the request's "stream".
	Stream bool
	// IncludeUsage is stream_options.include_usage: the stream then ends
	// with a chunk that has empty choices and the usage.
	IncludeUsage bool
}

// TranslateRequest turns an OpenAI Chat Completions request body into an
// Anthropic Messages request with default Options. See Options.TranslateRequest.
func TranslateRequest(body []byte) (*Translated, *Error) {
	return Options{}.TranslateRequest(body)
}

// TranslateRequest turns an OpenAI Chat Completions request body into an
// Anthropic Messages request.
//
//   - system and developer messages (wherever they appear) become system
//     text blocks, in order.
//   - user, assistant and tool messages become user/assistant messages;
//     consecutive messages that map to the same role are merged into one,
//     so tool results (and a user message that follows them) form a single
//     user message starting with its tool_result blocks, as Anthropic requires.
//   - content parts: text; image_url (data: URLs -> base64 image source,
//     http(s) URLs -> url source); file with PDF file_data -> document.
//   - assistant tool_calls -> tool_use (ids kept, arguments parsed into the
//     input object); assistant thinking_blocks (as this gateway returns them)
//     are sent back first, so extended thinking works across tool calls.
//   - tools, tool_choice (auto, none, required -> any, named function ->
//     tool), parallel_tool_calls false -> disable_parallel_tool_use.
//   - max_completion_tokens, else max_tokens, else a default; temperature
//     (OpenAI's 0-2 clamped to Anthropic's 0-1), top_p, stop ->
//     stop_sequences; response_format json_schema -> output_config.format;
//     json_object -> a system instruction; reasoning_effort -> thinking;
//     user (else safety_identifier) -> metadata.user_id.
//
// Fields Claude cannot honour (n > 1, logprobs, top_logprobs, audio,
// audio modalities, frequency/presence penalties, logit_bias, legacy
// functions, web_search_options) are a 400 naming the parameter, never
// silently ignored. Hints with no effect on the answer's content (seed,
// store, metadata, service_tier, prompt_cache_key, prediction, verbosity)
// are ignored.
func (o Options) TranslateRequest(body []byte) (*Translated, *Error) {
	if !gjson.ValidBytes(body) {
		return nil, badRequest("", CodeInvalidJSON, "We could not parse the JSON body of your request: it is not valid JSON.")
	}
	// Results point into body; everything kept is copied into the output.
	root := gjson.Parse(unsafeString(body))
	if !root.IsObject() {
		return nil, badRequest("", CodeInvalidType, "The request body must be a JSON object.")
	}
	// One pass over the top-level keys: a gjson path lookup per field would
	// rescan a body that may carry megabytes of images each time.
	f := fieldsOf(nil, root)
	if err := checkUnsupported(f); err != nil {
		return nil, err
	}

	model := f.get("model")
	if !isString(model) || model.Str == "" {
		return nil, badRequest("model", CodeMissingRequired, "You must provide a model parameter.")
	}
	msgs := f.get("messages")
	if !msgs.IsArray() || strings.TrimSpace(msgs.Raw[1:len(msgs.Raw)-1]) == "" {
		return nil, badRequest("messages", CodeMissingRequired, "'messages' must be a non-empty array.")
	}

	t := translator{msgs: make([]byte, 0, len(body)+64)}
	if err := t.messages(msgs); err != nil {
		return nil, err
	}
	if t.nmsgs == 0 {
		return nil, badRequest("messages", CodeInvalidValue, "'messages' must contain at least one user, assistant or tool message with content.")
	}

	tr := &Translated{Model: strings.Clone(model.Str)}
	tr.Stream = f.get("stream").Type == gjson.True
	tr.IncludeUsage = tr.Stream && f.get("stream_options").Get("include_usage").Type == gjson.True

	out := make([]byte, 0, len(t.msgs)+len(t.sys)+512)
	out = append(out, `{"model":`...)
	out = append(out, model.Raw...)

	// Sampling and limits are validated before anything that depends on them.
	maxTokens, hasMax, err := maxTokensOf(f)
	if err != nil {
		return nil, err
	}
	temperature, topP := f.get("temperature"), f.get("top_p")
	if err := checkRange(temperature, "temperature", 0, 2); err != nil {
		return nil, err
	}
	if err := checkRange(topP, "top_p", 0, 1); err != nil {
		return nil, err
	}

	tools, toolNames, err := toolsOf(f.get("tools"))
	if err != nil {
		return nil, err
	}
	toolChoice, forced, err := toolChoiceOf(f.get("tool_choice"), f.get("parallel_tool_calls"), toolNames)
	if err != nil {
		return nil, err
	}

	// Extended thinking.
	th, err := o.thinkingOf(f, tr.Model)
	if err != nil {
		return nil, err
	}
	if th.on && t.lastAssistantToolUseWithoutThinking {
		// Anthropic rejects thinking when the assistant turn being continued
		// (its tool calls) does not start with its thinking blocks; clients
		// that drop thinking_blocks get this turn answered without thinking.
		th = thinking{}
	}
	if th.on {
		if temperature.Exists() && temperature.Type != gjson.Null && temperature.Float() != 1 {
			return nil, badRequest("temperature", CodeUnsupportedValue, "Unsupported value: 'temperature' must be 1 (or unset) when reasoning_effort is set; Claude's extended thinking does not allow other temperatures.")
		}
		if topP.Exists() && topP.Type != gjson.Null && topP.Float() < 0.95 {
			return nil, badRequest("top_p", CodeUnsupportedValue, "Unsupported value: 'top_p' must be at least 0.95 (or unset) when reasoning_effort is set.")
		}
		if forced {
			return nil, badRequest("tool_choice", CodeUnsupportedValue, "Unsupported value: 'tool_choice' cannot force a tool call when reasoning_effort is set; use \"auto\" or \"none\".")
		}
	}
	if !hasMax {
		maxTokens = o.defaultMaxTokens() + th.budget
	} else if th.on && !th.adaptive && th.raw == "" && th.budget >= maxTokens {
		th.budget = maxTokens - 1
		if th.budget < minThinkingBudget {
			param := "max_tokens"
			if f.get("max_completion_tokens").Exists() {
				param = "max_completion_tokens"
			}
			return nil, badRequest(param, CodeInvalidValue, "'%s' must be greater than %d when reasoning_effort is set: Claude's thinking budget counts toward it and is at least %d tokens.", param, minThinkingBudget, minThinkingBudget)
		}
	}
	out = append(out, `,"max_tokens":`...)
	out = appendInt(out, maxTokens)

	// System prompt.
	rf, err := responseFormatOf(f.get("response_format"))
	if err != nil {
		return nil, err
	}
	if rf.jsonObject {
		t.systemBlock(`"` + jsonObjectInstruction + `"`)
	}
	if len(t.sys) > 0 {
		out = append(out, `,"system":[`...)
		out = append(out, t.sys...)
		out = append(out, ']')
	}

	out = append(out, `,"messages":[`...)
	out = append(out, t.msgs...)
	out = append(out, ']')

	if len(tools) > 0 {
		out = append(out, `,"tools":`...)
		out = append(out, tools...)
		if len(toolChoice) > 0 {
			out = append(out, `,"tool_choice":`...)
			out = append(out, toolChoice...)
		}
	}

	if out, err = appendStop(out, f.get("stop")); err != nil {
		return nil, err
	}
	if temperature.Exists() && temperature.Type != gjson.Null {
		out = append(out, `,"temperature":`...)
		if temperature.Float() > 1 {
			out = append(out, '1') // Anthropic's scale ends at 1.
		} else {
			out = append(out, temperature.Raw...)
		}
	}
	if topP.Exists() && topP.Type != gjson.Null {
		out = append(out, `,"top_p":`...)
		out = append(out, topP.Raw...)
	}
	if topK := f.get("top_k"); topK.Type == gjson.Number {
		// Not OpenAI's, but LiteLLM clients send it and Claude supports it.
		out = append(out, `,"top_k":`...)
		out = appendInt(out, topK.Int())
	}

	var effort string
	if th.on {
		out = append(out, `,"thinking":`...)
		switch {
		case th.raw != "":
			out = append(out, th.raw...)
		case th.adaptive:
			out = append(out, `{"type":"adaptive"}`...)
			effort = th.effort
		default:
			out = append(out, `{"type":"enabled","budget_tokens":`...)
			out = appendInt(out, th.budget)
			out = append(out, '}')
		}
	}
	if effort != "" || rf.schema != "" {
		out = append(out, `,"output_config":{`...)
		if effort != "" {
			out = append(out, `"effort":`...)
			out = appendString(out, effort)
		}
		if rf.schema != "" {
			if effort != "" {
				out = append(out, ',')
			}
			out = append(out, `"format":{"type":"json_schema","schema":`...)
			out = append(out, rf.schema...)
			out = append(out, '}')
		}
		out = append(out, '}')
	}

	user := f.get("user")
	if !isString(user) || user.Str == "" {
		user = f.get("safety_identifier")
	}
	if isString(user) && user.Str != "" {
		out = append(out, `,"metadata":{"user_id":`...)
		out = append(out, user.Raw...)
		out = append(out, '}')
	}
	if tr.Stream {
		out = append(out, `,"stream":true`...)
	}
	tr.Body = append(out, '}')
	return tr, nil
}

func (o Options) defaultMaxTokens() int64 {
	if o.DefaultMaxTokens > 0 {
		return o.DefaultMaxTokens
	}
	return DefaultMaxTokens
}

// checkUnsupported rejects the fields Claude cannot honour.
func checkUnsupported(f fields) *Error {
	if n := f.get("n"); present(n) {
		if n.Type != gjson.Number || n.Float() != 1 {
			return badRequest("n", CodeUnsupportedValue, "Unsupported value: 'n' must be 1; Claude returns a single choice per request.")
		}
	}
	if lp := f.get("logprobs"); lp.Type == gjson.True {
		return unsupported("logprobs", "is not supported: Claude does not return token log probabilities.")
	}
	if tl := f.get("top_logprobs"); present(tl) && !(tl.Type == gjson.Number && tl.Int() == 0) {
		return unsupported("top_logprobs", "is not supported: Claude does not return token log probabilities.")
	}
	if a := f.get("audio"); present(a) {
		return unsupported("audio", "is not supported: Claude does not produce audio.")
	}
	if m := f.get("modalities"); m.IsArray() {
		for _, v := range m.Array() {
			if v.Str == "audio" {
				return badRequest("modalities", CodeUnsupportedValue, "Unsupported value: 'modalities' does not support 'audio' with this model; Claude produces text only.")
			}
		}
	}
	for _, p := range [...]string{"frequency_penalty", "presence_penalty"} {
		if v := f.get(p); present(v) && !(v.Type == gjson.Number && v.Float() == 0) {
			return unsupported(p, "is not supported: Claude has no repetition penalties.")
		}
	}
	if lb := f.get("logit_bias"); present(lb) && !(lb.IsObject() && len(lb.Map()) == 0) {
		return unsupported("logit_bias", "is not supported: Claude does not accept token biases.")
	}
	if f := f.get("functions"); present(f) {
		return unsupported("functions", "is not supported: use 'tools' instead.")
	}
	if f := f.get("function_call"); present(f) {
		return unsupported("function_call", "is not supported: use 'tool_choice' instead.")
	}
	if w := f.get("web_search_options"); present(w) {
		return unsupported("web_search_options", "is not supported on this endpoint.")
	}
	return nil
}

// present reports whether a field is set to something other than null.
func present(r gjson.Result) bool { return r.Exists() && r.Type != gjson.Null }

// maxTokensOf reads max_completion_tokens, else max_tokens.
func maxTokensOf(f fields) (n int64, ok bool, err *Error) {
	for _, p := range [...]string{"max_completion_tokens", "max_tokens"} {
		v := f.get(p)
		if !present(v) {
			continue
		}
		if v.Type != gjson.Number || v.Float() != math.Trunc(v.Float()) || v.Float() < 1 || v.Float() > math.MaxInt32 {
			return 0, false, badRequest(p, CodeInvalidValue, "Invalid '%s': expected a positive integer.", p)
		}
		return v.Int(), true, nil
	}
	return 0, false, nil
}

// checkRange validates an optional number.
func checkRange(v gjson.Result, param string, lo, hi float64) *Error {
	if !present(v) {
		return nil
	}
	if v.Type != gjson.Number || v.Float() < lo || v.Float() > hi {
		return badRequest(param, CodeInvalidValue, "Invalid '%s': expected a number between %g and %g.", param, lo, hi)
	}
	return nil
}

// appendStop writes stop (a string or a list of strings) as stop_sequences.
func appendStop(out []byte, stop gjson.Result) ([]byte, *Error) {
	if !present(stop) {
		return out, nil
	}
	var list []gjson.Result
	switch {
	case isString(stop):
		list = []gjson.Result{stop}
	case stop.IsArray():
		list = stop.Array()
	default:
		return nil, badRequest("stop", CodeInvalidType, "Invalid 'stop': expected a string or an array of strings.")
	}
	n := 0
	for i, s := range list {
		if !isString(s) {
			return nil, badRequest(fmt.Sprintf("stop[%d]", i), CodeInvalidType, "Invalid 'stop': expected a string or an array of strings.")
		}
		if strings.TrimSpace(s.Str) == "" {
			continue // Anthropic rejects blank stop sequences; they could never match usefully.
		}
		if n == 0 {
			out = append(out, `,"stop_sequences":[`...)
		} else {
			out = append(out, ',')
		}
		out = append(out, s.Raw...)
		n++
	}
	if n > 0 {
		out = append(out, ']')
	}
	return out, nil
}

// thinking is the decided extended-thinking setting.
type thinking struct {
	on       bool
	adaptive bool
	budget   int64  // budget_tokens (also sizes the default max_tokens)
	effort   string // output_config.effort for the adaptive form
	raw      string // an Anthropic "thinking" object the client sent itself
}

// thinkingOf reads reasoning_effort (or, as LiteLLM accepts, a raw
// Anthropic "thinking" object).
func (o Options) thinkingOf(f fields, model string) (thinking, *Error) {
	if raw := f.get("thinking"); raw.IsObject() {
		typ := raw.Get("type").Str
		if typ == "disabled" {
			return thinking{}, nil
		}
		return thinking{on: true, adaptive: typ == "adaptive", budget: raw.Get("budget_tokens").Int(), raw: raw.Raw}, nil
	}
	re := f.get("reasoning_effort")
	if !present(re) {
		return thinking{}, nil
	}
	if !isString(re) {
		return thinking{}, badRequest("reasoning_effort", CodeInvalidType, "Invalid 'reasoning_effort': expected a string.")
	}
	if re.Str == "none" {
		return thinking{}, nil
	}
	budget, ok := effortBudgets[re.Str]
	if !ok {
		return thinking{}, badRequest("reasoning_effort", CodeUnsupportedValue, "Unsupported value: 'reasoning_effort' %q is not one of none, minimal, low, medium, high, xhigh, max.", re.Str)
	}
	adaptive := o.Thinking == ThinkingAdaptive || (o.Thinking == ThinkingAuto && UsesAdaptiveThinking(model))
	return thinking{on: true, adaptive: adaptive, budget: budget, effort: adaptiveEffort(re.Str)}, nil
}

// responseFormat is the decided response_format.
type responseFormat struct {
	schema     string // raw JSON schema for output_config.format
	jsonObject bool
}

func responseFormatOf(rf gjson.Result) (responseFormat, *Error) {
	if !present(rf) {
		return responseFormat{}, nil
	}
	switch typ := rf.Get("type").Str; typ {
	case "text":
		return responseFormat{}, nil
	case "json_object":
		return responseFormat{jsonObject: true}, nil
	case "json_schema":
		schema := rf.Get("json_schema.schema")
		if !schema.IsObject() {
			return responseFormat{}, badRequest("response_format.json_schema.schema", CodeMissingRequired, "response_format json_schema needs a 'schema' object.")
		}
		return responseFormat{schema: schema.Raw}, nil
	default:
		return responseFormat{}, badRequest("response_format.type", CodeUnsupportedValue, "Unsupported value: 'response_format.type' %q; expected text, json_object or json_schema.", typ)
	}
}

// fields are an object's top-level members, gathered in one pass.
type fields []field

type field struct {
	key   string
	value gjson.Result
}

// fieldsOf appends obj's members to dst.
func fieldsOf(dst fields, obj gjson.Result) fields {
	obj.ForEach(func(k, v gjson.Result) bool {
		dst = append(dst, field{k.Str, v})
		return true
	})
	return dst
}

// get returns the first member named key (a zero Result if none).
func (f fields) get(key string) gjson.Result {
	for i := range f {
		if f[i].key == key {
			return f[i].value
		}
	}
	return gjson.Result{}
}
