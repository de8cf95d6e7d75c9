package openai

import (
	"fmt"
	"strings"

	"github.com/tidwall/gjson"
)

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
