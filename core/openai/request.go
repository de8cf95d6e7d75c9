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

// toolsOf translates OpenAI function tools to Anthropic tools. It returns
// the JSON array (nil when there are none) and the tool names.
func toolsOf(tools gjson.Result) ([]byte, []string, *Error) {
	if !present(tools) {
		return nil, nil, nil
	}
	if !tools.IsArray() {
		return nil, nil, badRequest("tools", CodeInvalidType, "Invalid 'tools': expected an array.")
	}
	list := tools.Array()
	if len(list) == 0 {
		return nil, nil, nil
	}
	out := make([]byte, 0, len(tools.Raw)+32)
	names := make([]string, 0, len(list))
	out = append(out, '[')
	for i, tool := range list {
		if typ := tool.Get("type"); typ.Exists() && typ.Str != "function" {
			return nil, nil, badRequest(fmt.Sprintf("tools[%d].type", i), CodeUnsupportedValue, "Unsupported value: tool type %q; only function tools are supported.", typ.Str)
		}
		fn := tool.Get("function")
		name := fn.Get("name")
		if !isString(name) || name.Str == "" {
			return nil, nil, badRequest(fmt.Sprintf("tools[%d].function.name", i), CodeMissingRequired, "Missing required parameter: 'tools[%d].function.name'.", i)
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"name":`...)
		out = append(out, name.Raw...)
		if d := fn.Get("description"); isString(d) && d.Str != "" {
			out = append(out, `,"description":`...)
			out = append(out, d.Raw...)
		}
		out = append(out, `,"input_schema":`...)
		params := fn.Get("parameters")
		switch {
		case !present(params):
			out = append(out, `{"type":"object","properties":{}}`...)
		case !params.IsObject():
			return nil, nil, badRequest(fmt.Sprintf("tools[%d].function.parameters", i), CodeInvalidType, "Invalid 'tools[%d].function.parameters': expected a JSON schema object.", i)
		case params.Get("type").Exists():
			out = append(out, params.Raw...)
		default:
			// Anthropic requires a root "type": "object"; OpenAI lets it be implied.
			inner := strings.TrimSpace(params.Raw[1:])
			out = append(out, `{"type":"object"`...)
			if inner != "}" {
				out = append(out, ',')
			}
			out = append(out, inner...)
		}
		if fn.Get("strict").Type == gjson.True {
			out = append(out, `,"strict":true`...)
		}
		if cc := tool.Get("cache_control"); cc.IsObject() {
			out = append(out, `,"cache_control":`...)
			out = append(out, cc.Raw...)
		}
		out = append(out, '}')
		names = append(names, name.Str)
	}
	return append(out, ']'), names, nil
}

// toolChoiceOf translates tool_choice and parallel_tool_calls. forced
// reports a choice that makes the model call a tool (any or a named tool).
func toolChoiceOf(tc, parallel gjson.Result, tools []string) (out []byte, forced bool, err *Error) {
	noParallel := parallel.Type == gjson.False
	typ := ""
	var name gjson.Result
	switch {
	case !present(tc):
		typ = "auto"
	case isString(tc):
		switch tc.Str {
		case "auto", "none":
			typ = tc.Str
		case "required":
			typ = "any"
		default:
			return nil, false, badRequest("tool_choice", CodeUnsupportedValue, "Unsupported value: 'tool_choice' %q; expected none, auto, required or a named function.", tc.Str)
		}
	case tc.IsObject() && tc.Get("type").Str == "function":
		name = tc.Get("function.name")
		if !isString(name) || name.Str == "" {
			return nil, false, badRequest("tool_choice.function.name", CodeMissingRequired, "Missing required parameter: 'tool_choice.function.name'.")
		}
		typ = "tool"
	default:
		return nil, false, badRequest("tool_choice", CodeUnsupportedValue, "Unsupported value: 'tool_choice' of type %q; expected none, auto, required or {\"type\":\"function\",...}.", tc.Get("type").Str)
	}
	forced = typ == "any" || typ == "tool"
	if len(tools) == 0 {
		if forced {
			return nil, false, badRequest("tool_choice", CodeInvalidValue, "'tool_choice' requires 'tools' to be specified.")
		}
		return nil, false, nil
	}
	if typ == "tool" {
		known := false
		for _, n := range tools {
			known = known || n == name.Str
		}
		if !known {
			return nil, false, badRequest("tool_choice.function.name", CodeInvalidValue, "'tool_choice' names function %q, which is not in 'tools'.", name.Str)
		}
	}
	if !present(tc) && !noParallel {
		return nil, false, nil // Anthropic's default is auto.
	}
	out = append(out, `{"type":"`...)
	out = append(out, typ...)
	out = append(out, '"')
	if typ == "tool" {
		out = append(out, `,"name":`...)
		out = append(out, name.Raw...)
	}
	if noParallel && typ != "none" {
		out = append(out, `,"disable_parallel_tool_use":true`...)
	}
	return append(out, '}'), forced, nil
}

// cursor is where the messages being written stand.
type cursor struct {
	len     int    // len(msgs) when the cursor was taken (see translator.part)
	nmsgs   int    // messages written
	open    bool   // a message is open (its content array not closed)
	role    string // role of the open message
	nblocks int    // blocks in the open message
	total   int    // blocks written in all messages
}

// translator accumulates the system blocks and the messages array contents.
type translator struct {
	sys  []byte
	msgs []byte

	cursor

	scratch fields // the current message's fields

	// lastAssistantToolUseWithoutThinking is whether the last assistant
	// message has tool calls but no thinking blocks.
	lastAssistantToolUseWithoutThinking bool
}

func (t *translator) messages(msgs gjson.Result) *Error {
	var err *Error
	i := 0
	msgs.ForEach(func(_, m gjson.Result) bool {
		err = t.message(i, m)
		i++
		return err == nil
	})
	if err != nil {
		return err
	}
	if t.open {
		t.msgs = append(t.msgs, "]}"...)
	}
	return nil
}

func (t *translator) message(i int, msg gjson.Result) *Error {
	if !msg.IsObject() {
		return badRequest(fmt.Sprintf("messages[%d]", i), CodeInvalidType, "Invalid 'messages[%d]': expected an object.", i)
	}
	t.scratch = fieldsOf(t.scratch[:0], msg)
	m := t.scratch
	before := t.total
	var err *Error
	switch role := m.get("role").Str; role {
	case "system", "developer":
		return t.system(i, m.get("content"))
	case "user":
		err = t.userContent(i, m.get("content"))
	case "assistant":
		err = t.assistant(i, m)
	case "tool":
		err = t.toolResult(i, m)
	case "function":
		return unsupported(fmt.Sprintf("messages[%d].role", i), "'function' is not supported: use tool messages with tool_call_id.")
	default:
		return badRequest(fmt.Sprintf("messages[%d].role", i), CodeInvalidValue, "Invalid value: 'messages[%d].role' %q; expected system, developer, user, assistant or tool.", i, role)
	}
	if err != nil {
		return err
	}
	// A message-level cache_control (LiteLLM's convention) marks the
	// message's last block, which is the last thing written so far.
	if cc := m.get("cache_control"); cc.IsObject() && t.total != before {
		t.markLastBlock(cc.Raw)
	}
	return nil
}

// startBlock opens (or continues) a message of role and prepares for one
// more content block.
func (t *translator) startBlock(role string) {
	if t.open && t.role != role {
		t.msgs = append(t.msgs, "]}"...)
		t.open = false
	}
	if !t.open {
		if t.nmsgs > 0 {
			t.msgs = append(t.msgs, ',')
		}
		t.msgs = append(t.msgs, `{"role":"`...)
		t.msgs = append(t.msgs, role...)
		t.msgs = append(t.msgs, `","content":[`...)
		t.open, t.role, t.nblocks = true, role, 0
		t.nmsgs++
	}
	if t.nblocks > 0 {
		t.msgs = append(t.msgs, ',')
	}
	t.nblocks++
	t.total++
}

// markLastBlock adds cache_control to the block just written, unless it has one.
func (t *translator) markLastBlock(cc string) {
	n := len(t.msgs)
	if n == 0 || t.msgs[n-1] != '}' {
		return
	}
	start := lastBlockStart(t.msgs)
	if start >= 0 && gjson.Get(unsafeString(t.msgs[start:]), "cache_control").Exists() {
		return
	}
	t.msgs = append(t.msgs[:n-1], `,"cache_control":`...)
	t.msgs = append(t.msgs, cc...)
	t.msgs = append(t.msgs, '}')
}

// lastBlockStart finds the '{' that opens the object ending the buffer.
func lastBlockStart(b []byte) int {
	depth, inStr := 0, false
	for i := len(b) - 1; i >= 0; i-- {
		c := b[i]
		if inStr {
			if c == '"' && !escaped(b, i) {
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '}', ']':
			depth++
		case '{', '[':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// escaped reports whether the quote at b[i] is preceded by an odd number of backslashes.
func escaped(b []byte, i int) bool {
	n := 0
	for j := i - 1; j >= 0 && b[j] == '\\'; j-- {
		n++
	}
	return n%2 == 1
}

// systemBlock adds a text block (raw is a JSON string literal) to the system prompt.
func (t *translator) systemBlock(raw string) {
	t.appendSystem(raw, "")
}

func (t *translator) appendSystem(raw, cacheControl string) {
	if len(t.sys) > 0 {
		t.sys = append(t.sys, ',')
	}
	t.sys = append(t.sys, `{"type":"text","text":`...)
	t.sys = append(t.sys, raw...)
	if cacheControl != "" {
		t.sys = append(t.sys, `,"cache_control":`...)
		t.sys = append(t.sys, cacheControl...)
	}
	t.sys = append(t.sys, '}')
}

func (t *translator) system(i int, content gjson.Result) *Error {
	switch {
	case isString(content):
		if !blank(content.Str) {
			t.appendSystem(content.Raw, "")
		}
	case content.IsArray():
		j := 0
		var err *Error
		content.ForEach(func(_, part gjson.Result) bool {
			text := part.Get("text")
			if part.Get("type").Str != "text" || !isString(text) {
				err = badRequest(fmt.Sprintf("messages[%d].content[%d]", i, j), CodeInvalidValue, "System and developer messages may only contain text parts.")
				return false
			}
			if !blank(text.Str) {
				cc := part.Get("cache_control")
				if !cc.IsObject() {
					cc = gjson.Result{}
				}
				t.appendSystem(text.Raw, cc.Raw)
			}
			j++
			return true
		})
		return err
	case present(content):
		return badRequest(fmt.Sprintf("messages[%d].content", i), CodeInvalidType, "Invalid 'messages[%d].content': expected a string or an array of text parts.", i)
	}
	return nil
}

// blank reports whether s has no visible text (Anthropic rejects such text blocks).
func blank(s string) bool { return strings.TrimSpace(s) == "" }

func (t *translator) userContent(i int, content gjson.Result) *Error {
	switch {
	case isString(content):
		if !blank(content.Str) {
			t.startBlock("user")
			t.msgs = appendTextBlock(t.msgs, content.Raw, "")
		}
		return nil
	case content.IsArray():
		j := 0
		var err *Error
		content.ForEach(func(_, part gjson.Result) bool {
			err = t.part("user", loc{msg: i, list: "content", idx: j}, part)
			j++
			return err == nil
		})
		return err
	case present(content):
		return badRequest(fmt.Sprintf("messages[%d].content", i), CodeInvalidType, "Invalid 'messages[%d].content': expected a string or an array of content parts.", i)
	}
	return nil
}

func appendTextBlock(dst []byte, raw, cacheControl string) []byte {
	dst = append(dst, `{"type":"text","text":`...)
	dst = append(dst, raw...)
	if cacheControl != "" {
		dst = append(dst, `,"cache_control":`...)
		dst = append(dst, cacheControl...)
	}
	return append(dst, '}')
}

// part translates one content part into a block of a message of role.
func (t *translator) part(role string, at loc, part gjson.Result) *Error {
	// Written in place (images can be megabytes); a skipped part is undone.
	saved := t.cursor
	saved.len = len(t.msgs)
	t.startBlock(role)
	msgs, skip, err := appendPart(t.msgs, at, part)
	if err != nil {
		return err
	}
	t.msgs = msgs
	if skip {
		t.msgs = t.msgs[:saved.len]
		t.cursor = saved
	}
	return nil
}

// appendPart appends the Anthropic block for an OpenAI content part. skip
// reports a part with nothing to send (blank text).
func appendPart(dst []byte, at loc, part gjson.Result) (_ []byte, skip bool, _ *Error) {
	cc := ""
	if c := part.Get("cache_control"); c.IsObject() {
		cc = c.Raw
	}
	switch typ := part.Get("type").Str; typ {
	case "text", "refusal":
		text := part.Get(typ)
		if !isString(text) {
			return nil, false, badRequest(at.sub(".")+typ, CodeInvalidType, "Invalid '%s.%s': expected a string.", at, typ)
		}
		if blank(text.Str) {
			return dst, true, nil
		}
		return appendTextBlock(dst, text.Raw, cc), false, nil
	case "image_url":
		url := part.Get("image_url.url")
		if !url.Exists() {
			url = part.Get("image_url") // some clients send the URL as a plain string
		}
		if !isString(url) || url.Str == "" {
			return nil, false, badRequest(at.sub(".image_url.url"), CodeMissingRequired, "Missing required parameter: '%s.image_url.url'.", at)
		}
		b, err := appendImage(dst, at.with(".image_url.url"), url.Str, cc)
		return b, false, err
	case "file":
		b, err := appendFile(dst, at.with(".file"), part.Get("file"), cc)
		return b, false, err
	case "input_audio":
		return nil, false, unsupported(at.sub(".type"), "'input_audio' is not supported: Claude does not accept audio input.")
	default:
		return nil, false, badRequest(at.sub(".type"), CodeUnsupportedValue, "Unsupported value: content part type %q; expected text, image_url or file.", typ)
	}
}

// imageTypes are the image media types Claude accepts.
var imageTypes = map[string]string{
	"image/jpeg": "image/jpeg",
	"image/jpg":  "image/jpeg",
	"image/png":  "image/png",
	"image/gif":  "image/gif",
	"image/webp": "image/webp",
}

// appendImage appends an image block for a data: or http(s) URL.
func appendImage(dst []byte, at loc, url, cacheControl string) ([]byte, *Error) {
	switch {
	case hasPrefixFold(url, "data:"):
		mediaType, data, err := parseDataURL(at, url)
		if err != nil {
			return nil, err
		}
		mt, ok := imageTypes[strings.ToLower(mediaType)]
		if !ok {
			return nil, badRequest(at.String(), CodeInvalidValue, "Invalid image media type %q; Claude accepts image/jpeg, image/png, image/gif and image/webp.", mediaType)
		}
		dst = append(dst, `{"type":"image","source":{"type":"base64","media_type":"`...)
		dst = append(dst, mt...)
		dst = append(dst, `","data":`...)
		dst = appendString(dst, data)
		dst = append(dst, '}')
	case hasPrefixFold(url, "https://") || hasPrefixFold(url, "http://"):
		dst = append(dst, `{"type":"image","source":{"type":"url","url":`...)
		dst = appendString(dst, url)
		dst = append(dst, '}')
	default:
		return nil, badRequest(at.String(), CodeInvalidValue, "Invalid image URL: expected a data: URL with base64 data or an http(s) URL.")
	}
	if cacheControl != "" {
		dst = append(dst, `,"cache_control":`...)
		dst = append(dst, cacheControl...)
	}
	return append(dst, '}'), nil
}

// appendFile appends a document block for a file part carrying PDF data
// (OpenAI's file_data is a data: URL; bare base64 is taken as PDF).
func appendFile(dst []byte, at loc, file gjson.Result, cacheControl string) ([]byte, *Error) {
	if id := file.Get("file_id"); present(id) {
		return nil, unsupported(at.sub(".file_id"), "is not supported: uploaded OpenAI files are not available; send file_data instead.")
	}
	fd := file.Get("file_data")
	if !isString(fd) || fd.Str == "" {
		return nil, badRequest(at.sub(".file_data"), CodeMissingRequired, "Missing required parameter: '%s.file_data'.", at)
	}
	mediaType, data := "application/pdf", fd.Str
	if hasPrefixFold(data, "data:") {
		var err *Error
		if mediaType, data, err = parseDataURL(at.with(".file_data"), data); err != nil {
			return nil, err
		}
	}
	if _, isImage := imageTypes[strings.ToLower(mediaType)]; isImage {
		return appendImage(dst, at.with(".file_data"), fd.Str, cacheControl)
	}
	if !strings.EqualFold(mediaType, "application/pdf") {
		return nil, badRequest(at.sub(".file_data"), CodeInvalidValue, "Unsupported file type %q; Claude accepts PDF documents and images.", mediaType)
	}
	dst = append(dst, `{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":`...)
	dst = appendString(dst, data)
	dst = append(dst, '}')
	if cacheControl != "" {
		dst = append(dst, `,"cache_control":`...)
		dst = append(dst, cacheControl...)
	}
	return append(dst, '}'), nil
}

// parseDataURL splits data:<media type>[;params];base64,<data>.
func parseDataURL(at loc, url string) (mediaType, data string, err *Error) {
	header, data, ok := strings.Cut(url[len("data:"):], ",")
	if !ok {
		return "", "", badRequest(at.String(), CodeInvalidValue, "Invalid data URL: missing ','.")
	}
	mediaType, params, _ := strings.Cut(header, ";")
	base64 := false
	for _, p := range strings.Split(params, ";") {
		base64 = base64 || strings.EqualFold(strings.TrimSpace(p), "base64")
	}
	if !base64 {
		return "", "", badRequest(at.String(), CodeInvalidValue, "Invalid data URL: only base64-encoded data URLs are supported.")
	}
	if data == "" {
		return "", "", badRequest(at.String(), CodeInvalidValue, "Invalid data URL: no data.")
	}
	return strings.TrimSpace(mediaType), data, nil
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func (t *translator) assistant(i int, m fields) *Error {
	hasThinking := false
	if tb := m.get("thinking_blocks"); tb.IsArray() {
		for _, b := range tb.Array() {
			switch b.Get("type").Str {
			case "thinking":
				th, sig := b.Get("thinking"), b.Get("signature")
				if !isString(th) || !isString(sig) || sig.Str == "" {
					continue // unsigned thinking cannot be sent back
				}
				t.startBlock("assistant")
				t.msgs = append(t.msgs, `{"type":"thinking","thinking":`...)
				t.msgs = append(t.msgs, th.Raw...)
				t.msgs = append(t.msgs, `,"signature":`...)
				t.msgs = append(t.msgs, sig.Raw...)
				t.msgs = append(t.msgs, '}')
				hasThinking = true
			case "redacted_thinking":
				data := b.Get("data")
				if !isString(data) {
					continue
				}
				t.startBlock("assistant")
				t.msgs = append(t.msgs, `{"type":"redacted_thinking","data":`...)
				t.msgs = append(t.msgs, data.Raw...)
				t.msgs = append(t.msgs, '}')
				hasThinking = true
			}
		}
	}

	content := m.get("content")
	switch {
	case isString(content):
		if !blank(content.Str) {
			t.startBlock("assistant")
			t.msgs = appendTextBlock(t.msgs, content.Raw, "")
		}
	case content.IsArray():
		j := 0
		var err *Error
		content.ForEach(func(_, part gjson.Result) bool {
			at := loc{msg: i, list: "content", idx: j}
			if typ := part.Get("type").Str; typ != "text" && typ != "refusal" {
				err = badRequest(at.sub(".type"), CodeUnsupportedValue, "Unsupported value: assistant content part type %q; expected text or refusal.", typ)
				return false
			}
			err = t.part("assistant", at, part)
			j++
			return err == nil
		})
		if err != nil {
			return err
		}
	case present(content):
		return badRequest(fmt.Sprintf("messages[%d].content", i), CodeInvalidType, "Invalid 'messages[%d].content': expected a string or an array of text parts.", i)
	}
	if fc := m.get("function_call"); present(fc) {
		return unsupported(fmt.Sprintf("messages[%d].function_call", i), "is not supported: use tool_calls.")
	}

	calls := m.get("tool_calls")
	if present(calls) && !calls.IsArray() {
		return badRequest(fmt.Sprintf("messages[%d].tool_calls", i), CodeInvalidType, "Invalid 'messages[%d].tool_calls': expected an array.", i)
	}
	ncalls := 0
	var err *Error
	calls.ForEach(func(_, c gjson.Result) bool {
		err = t.toolCall(loc{msg: i, list: "tool_calls", idx: ncalls}, c)
		ncalls++
		return err == nil
	})
	if err != nil {
		return err
	}
	t.lastAssistantToolUseWithoutThinking = ncalls > 0 && !hasThinking
	return nil
}

func (t *translator) toolCall(at loc, c gjson.Result) *Error {
	if typ := c.Get("type"); typ.Exists() && typ.Str != "function" {
		return badRequest(at.sub(".type"), CodeUnsupportedValue, "Unsupported value: tool call type %q; only function tool calls are supported.", typ.Str)
	}
	id := c.Get("id")
	if !isString(id) || id.Str == "" {
		return badRequest(at.sub(".id"), CodeMissingRequired, "Missing required parameter: '%s.id'.", at)
	}
	name := c.Get("function.name")
	if !isString(name) || name.Str == "" {
		return badRequest(at.sub(".function.name"), CodeMissingRequired, "Missing required parameter: '%s.function.name'.", at)
	}
	input := "{}"
	if args := c.Get("function.arguments"); present(args) {
		if !isString(args) {
			return badRequest(at.sub(".function.arguments"), CodeInvalidType, "Invalid '%s.function.arguments': expected a string of JSON.", at)
		}
		if s := strings.TrimSpace(args.String()); s != "" {
			if !gjson.Valid(s) || !gjson.Parse(s).IsObject() {
				return badRequest(at.sub(".function.arguments"), CodeInvalidValue, "Invalid '%s.function.arguments': expected a JSON object encoded as a string.", at)
			}
			input = s
		}
	}
	t.startBlock("assistant")
	t.msgs = append(t.msgs, `{"type":"tool_use","id":`...)
	t.msgs = append(t.msgs, id.Raw...)
	t.msgs = append(t.msgs, `,"name":`...)
	t.msgs = append(t.msgs, name.Raw...)
	t.msgs = append(t.msgs, `,"input":`...)
	t.msgs = append(t.msgs, input...)
	t.msgs = append(t.msgs, '}')
	return nil
}

func (t *translator) toolResult(i int, m fields) *Error {
	id := m.get("tool_call_id")
	if !isString(id) || id.Str == "" {
		return badRequest(fmt.Sprintf("messages[%d].tool_call_id", i), CodeMissingRequired, "Missing required parameter: 'messages[%d].tool_call_id'.", i)
	}
	var b []byte
	b = append(b, `{"type":"tool_result","tool_use_id":`...)
	b = append(b, id.Raw...)
	content := m.get("content")
	switch {
	case isString(content):
		if content.Str != "" {
			b = append(b, `,"content":`...)
			b = append(b, content.Raw...)
		}
	case content.IsArray():
		n, j := 0, 0
		var err *Error
		content.ForEach(func(_, part gjson.Result) bool {
			at := loc{msg: i, list: "content", idx: j}
			j++
			var skip bool
			mark := len(b)
			if n == 0 {
				b = append(b, `,"content":[`...)
			} else {
				b = append(b, ',')
			}
			b, skip, err = appendPart(b, at, part)
			if err != nil {
				return false
			}
			if skip {
				b = b[:mark]
			} else {
				n++
			}
			return true
		})
		if err != nil {
			return err
		}
		if n > 0 {
			b = append(b, ']')
		}
	case present(content):
		return badRequest(fmt.Sprintf("messages[%d].content", i), CodeInvalidType, "Invalid 'messages[%d].content': expected a string or an array of content parts.", i)
	}
	b = append(b, '}')
	t.startBlock("user")
	t.msgs = append(t.msgs, b...)
	return nil
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

// loc names a content part or tool call for error messages
// ("messages[2].content[1]"); the string is built only when an error is.
type loc struct {
	msg    int
	list   string // "content" or "tool_calls"
	idx    int
	suffix string
}

func (l loc) String() string {
	return fmt.Sprintf("messages[%d].%s[%d]%s", l.msg, l.list, l.idx, l.suffix)
}

// sub is the parameter name of a field under l.
func (l loc) sub(field string) string { return l.String() + field }

// with is l narrowed to a field under it.
func (l loc) with(field string) loc {
	l.suffix += field
	return l
}
