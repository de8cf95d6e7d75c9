package openai

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// jsonEqual reports whether two JSON texts are the same value.
func jsonEqual(t *testing.T, got, want []byte) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got invalid JSON %v: %s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("want invalid JSON %v: %s", err, want)
	}
	return reflect.DeepEqual(g, w)
}

func indent(b []byte) string {
	var buf bytes.Buffer
	if json.Indent(&buf, b, "", "  ") != nil {
		return string(b)
	}
	return buf.String()
}

func TestTranslateRequest(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want string
		// stream/includeUsage flags expected on Translated
		stream, includeUsage bool
		opts                 Options
	}{
		{
			name: "plain user message gets default max_tokens",
			in:   `{"model":"claude-sonnet","messages":[{"role":"user","content":"Hello"}]}`,
			want: `{"model":"claude-sonnet","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"Hello"}]}]}`,
		},
		{
			name: "system and developer messages anywhere become system blocks",
			in: `{"model":"m","messages":[
				{"role":"system","content":"You are terse."},
				{"role":"developer","content":[{"type":"text","text":"Use metric units."},{"type":"text","text":"Cite.","cache_control":{"type":"ephemeral"}}]},
				{"role":"user","content":"hi"},
				{"role":"system","content":"Late rule."}]}`,
			want: `{"model":"m","max_tokens":4096,
				"system":[{"type":"text","text":"You are terse."},{"type":"text","text":"Use metric units."},{"type":"text","text":"Cite.","cache_control":{"type":"ephemeral"}},{"type":"text","text":"Late rule."}],
				"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
		},
		{
			name: "multi-turn tool conversation",
			in: `{"model":"m","max_completion_tokens":300,"messages":[
				{"role":"user","content":"Weather in Paris and Oslo?"},
				{"role":"assistant","content":"Checking both.","tool_calls":[
					{"id":"toolu_1","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\"}"}},
					{"id":"toolu_2","type":"function","function":{"name":"weather","arguments":"{\"city\": \"Oslo\", \"units\": {\"t\": \"C\"}}"}}]},
				{"role":"tool","tool_call_id":"toolu_1","content":"18C, sunny"},
				{"role":"tool","tool_call_id":"toolu_2","content":[{"type":"text","text":"4C"},{"type":"text","text":"rain"}]},
				{"role":"user","content":"And tomorrow?"},
				{"role":"assistant","content":null,"tool_calls":[{"id":"toolu_3","type":"function","function":{"name":"forecast","arguments":""}}]},
				{"role":"tool","tool_call_id":"toolu_3","content":""},
				{"role":"assistant","content":"Mild."},
				{"role":"user","content":"Thanks"}],
				"tools":[{"type":"function","function":{"name":"weather","description":"Current weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}},
				         {"type":"function","function":{"name":"forecast"}}]}`,
			want: `{"model":"m","max_tokens":300,"messages":[
				{"role":"user","content":[{"type":"text","text":"Weather in Paris and Oslo?"}]},
				{"role":"assistant","content":[{"type":"text","text":"Checking both."},
					{"type":"tool_use","id":"toolu_1","name":"weather","input":{"city":"Paris"}},
					{"type":"tool_use","id":"toolu_2","name":"weather","input":{"city":"Oslo","units":{"t":"C"}}}]},
				{"role":"user","content":[
					{"type":"tool_result","tool_use_id":"toolu_1","content":"18C, sunny"},
					{"type":"tool_result","tool_use_id":"toolu_2","content":[{"type":"text","text":"4C"},{"type":"text","text":"rain"}]},
					{"type":"text","text":"And tomorrow?"}]},
				{"role":"assistant","content":[{"type":"tool_use","id":"toolu_3","name":"forecast","input":{}}]},
				{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_3"}]},
				{"role":"assistant","content":[{"type":"text","text":"Mild."}]},
				{"role":"user","content":[{"type":"text","text":"Thanks"}]}],
				"tools":[{"name":"weather","description":"Current weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}},
				         {"name":"forecast","input_schema":{"type":"object","properties":{}}}]}`,
		},
		{
			name: "images: data URL, http URL, jpg alias, plain-string image_url, cache_control",
			in: `{"model":"m","messages":[{"role":"user","content":[
				{"type":"text","text":"What is this?"},
				{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"high"}},
				{"type":"image_url","image_url":{"url":"https://example.com/cat.jpg"}},
				{"type":"image_url","image_url":{"url":"data:image/jpg;base64,/9j/4AAQ"},"cache_control":{"type":"ephemeral"}},
				{"type":"image_url","image_url":"http://example.com/a.gif"},
				{"type":"text","text":"   "}]}]}`,
			want: `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[
				{"type":"text","text":"What is this?"},
				{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},
				{"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"}},
				{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"/9j/4AAQ"},"cache_control":{"type":"ephemeral"}},
				{"type":"image","source":{"type":"url","url":"http://example.com/a.gif"}}]}]}`,
		},
		{
			name: "PDF file part becomes a document",
			in: `{"model":"m","messages":[{"role":"user","content":[
				{"type":"file","file":{"filename":"a.pdf","file_data":"data:application/pdf;base64,JVBERi0x"}},
				{"type":"text","text":"Summarise"}]}]}`,
			want: `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[
				{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0x"}},
				{"type":"text","text":"Summarise"}]}]}`,
		},
		{
			name: "tool_choice auto",
			in:   `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":"auto"}`,
			want: `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"auto"}}`,
		},
		{
			name: "tool_choice none",
			in:   `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":"none","parallel_tool_calls":false}`,
			want: `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"none"}}`,
		},
		{
			name: "tool_choice required is any",
			in:   `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":"required"}`,
			want: `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"any"}}`,
		},
		{
			name: "named function with parallel_tool_calls false",
			in:   `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":{"type":"function","function":{"name":"f"}},"parallel_tool_calls":false}`,
			want: `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"f","disable_parallel_tool_use":true}}`,
		},
		{
			name: "parallel_tool_calls false alone",
			in:   `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","strict":true,"parameters":{"properties":{"a":{"type":"string"}}}}}],"parallel_tool_calls":false}`,
			want: `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"tools":[{"name":"f","input_schema":{"type":"object","properties":{"a":{"type":"string"}}},"strict":true}],"tool_choice":{"type":"auto","disable_parallel_tool_use":true}}`,
		},
		{
			name: "tool_choice none without tools is dropped",
			in:   `{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"none","tools":[]}`,
			want: `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}`,
		},
		{
			name: "sampling, stop list, max_completion_tokens wins, user, stream flags",
			in: `{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":50,"max_completion_tokens":100,
				"temperature":0.3,"top_p":0.9,"stop":["END","","\n\nHuman:"],"user":"u-42","stream":true,"stream_options":{"include_usage":true},
				"seed":7,"store":false,"n":1,"logprobs":false,"frequency_penalty":0,"metadata":{"a":"b"}}`,
			want: `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],
				"stop_sequences":["END","\n\nHuman:"],"temperature":0.3,"top_p":0.9,"metadata":{"user_id":"u-42"},"stream":true}`,
			stream: true, includeUsage: true,
		},
		{
			name:   "temperature above 1 is clamped, stop string, safety_identifier",
			in:     `{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":1.7,"stop":"###","safety_identifier":"hash-1","stream":true}`,
			want:   `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"stop_sequences":["###"],"temperature":1,"metadata":{"user_id":"hash-1"},"stream":true}`,
			stream: true,
		},
		{
			name: "response_format json_schema",
			in: `{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"person","strict":true,
				"schema":{"type":"object","properties":{"name":{"type":"string"}},"required":["name"],"additionalProperties":false}}}}`,
			want: `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],
				"output_config":{"format":{"type":"json_schema","schema":{"type":"object","properties":{"name":{"type":"string"}},"required":["name"],"additionalProperties":false}}}}`,
		},
		{
			name: "response_format json_object is a system instruction",
			in:   `{"model":"m","messages":[{"role":"system","content":"S"},{"role":"user","content":"x"}],"response_format":{"type":"json_object"}}`,
			want: `{"model":"m","max_tokens":4096,"system":[{"type":"text","text":"S"},{"type":"text","text":"` + jsonObjectInstruction + `"}],"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}`,
		},
		{
			name: "reasoning_effort becomes a thinking budget; default max_tokens leaves room",
			in:   `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"x"}],"reasoning_effort":"medium"}`,
			want: `{"model":"claude-sonnet-4-5","max_tokens":8192,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"thinking":{"type":"enabled","budget_tokens":4096}}`,
		},
		{
			name: "reasoning budget shrinks below an explicit max_completion_tokens",
			in:   `{"model":"claude-3-7-sonnet","messages":[{"role":"user","content":"x"}],"reasoning_effort":"high","max_completion_tokens":3000,"temperature":1}`,
			want: `{"model":"claude-3-7-sonnet","max_tokens":3000,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"temperature":1,"thinking":{"type":"enabled","budget_tokens":2999}}`,
		},
		{
			name: "reasoning on Claude 4.7 is adaptive with effort, alongside a schema",
			in: `{"model":"claude-opus-4-7","messages":[{"role":"user","content":"x"}],"reasoning_effort":"minimal",
				"response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{"type":"object","additionalProperties":false}}}}`,
			want: `{"model":"claude-opus-4-7","max_tokens":5120,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],
				"thinking":{"type":"adaptive"},"output_config":{"effort":"low","format":{"type":"json_schema","schema":{"type":"object","additionalProperties":false}}}}`,
		},
		{
			name: "forced adaptive form by option",
			in:   `{"model":"my-alias","messages":[{"role":"user","content":"x"}],"reasoning_effort":"high","max_tokens":20000}`,
			opts: Options{Thinking: ThinkingAdaptive, DefaultMaxTokens: 1000},
			want: `{"model":"my-alias","max_tokens":20000,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"thinking":{"type":"adaptive"},"output_config":{"effort":"high"}}`,
		},
		{
			name: "reasoning_effort none is no thinking",
			in:   `{"model":"m","messages":[{"role":"user","content":"x"}],"reasoning_effort":"none","temperature":0.2}`,
			want: `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"temperature":0.2}`,
		},
		{
			name: "thinking is skipped when the assistant's tool calls come back without thinking blocks",
			in: `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"x"},
				{"role":"assistant","tool_calls":[{"id":"t1","type":"function","function":{"name":"f","arguments":"{}"}}]},
				{"role":"tool","tool_call_id":"t1","content":"ok"}],
				"tools":[{"type":"function","function":{"name":"f"}}],"reasoning_effort":"low"}`,
			want: `{"model":"claude-sonnet-4-5","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]},
				{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{}}]},
				{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"ok"}]}],
				"tools":[{"name":"f","input_schema":{"type":"object","properties":{}}}]}`,
		},
		{
			name: "thinking_blocks are sent back first and keep thinking on",
			in: `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"x"},
				{"role":"assistant","content":"Let me look.","thinking_blocks":[{"type":"thinking","thinking":"hmm","signature":"sig=="},{"type":"redacted_thinking","data":"enc"},{"type":"thinking","thinking":"unsigned"}],
				 "tool_calls":[{"id":"t1","type":"function","function":{"name":"f","arguments":"{\"q\":1}"}}]},
				{"role":"tool","tool_call_id":"t1","content":"ok"}],
				"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"reasoning_effort":"minimal"}`,
			want: `{"model":"claude-sonnet-4-5","max_tokens":5120,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]},
				{"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"sig=="},{"type":"redacted_thinking","data":"enc"},{"type":"text","text":"Let me look."},{"type":"tool_use","id":"t1","name":"f","input":{"q":1}}]},
				{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"ok"}]}],
				"tools":[{"name":"f","input_schema":{"type":"object"}}],"thinking":{"type":"enabled","budget_tokens":1024}}`,
		},
		{
			name: "message-level cache_control marks the last block; escapes survive byte for byte",
			in: `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a \"quoted\" \u00e9 line\nnext"},{"type":"text","text":"tail {x}"}],"cache_control":{"type":"ephemeral"}},
				{"role":"assistant","content":[{"type":"text","text":"ok"},{"type":"refusal","refusal":"no"}]},{"role":"user","content":"again"}]}`,
			want: `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"a \"quoted\" \u00e9 line\nnext"},{"type":"text","text":"tail {x}","cache_control":{"type":"ephemeral"}}]},
				{"role":"assistant","content":[{"type":"text","text":"ok"},{"type":"text","text":"no"}]},{"role":"user","content":[{"type":"text","text":"again"}]}]}`,
		},
		{
			name: "a user message of blank parts vanishes and the assistants around it merge",
			in: `{"model":"m","messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"},{"role":"user","content":[{"type":"text","text":" \n"}]},
				{"role":"assistant","content":"b","cache_control":{"type":"ephemeral"}},{"role":"user","content":[{"type":"text","text":"c \"}\"","cache_control":{"type":"ephemeral","ttl":"1h"}}],"cache_control":{"type":"ephemeral"}}]}`,
			want: `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"q"}]},
				{"role":"assistant","content":[{"type":"text","text":"a"},{"type":"text","text":"b","cache_control":{"type":"ephemeral"}}]},
				{"role":"user","content":[{"type":"text","text":"c \"}\"","cache_control":{"type":"ephemeral","ttl":"1h"}}]}]}`,
		},
		{
			name: "consecutive user messages merge; empty assistant is dropped",
			in:   `{"model":"m","messages":[{"role":"user","content":"a"},{"role":"assistant","content":""},{"role":"user","content":"b"}]}`,
			want: `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]}`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr, err := c.opts.TranslateRequest([]byte(c.in))
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if !jsonEqual(t, tr.Body, []byte(c.want)) {
				t.Errorf("body:\n%s\nwant:\n%s", indent(tr.Body), indent([]byte(c.want)))
			}
			if tr.Stream != c.stream || tr.IncludeUsage != c.includeUsage {
				t.Errorf("stream=%v includeUsage=%v, want %v %v", tr.Stream, tr.IncludeUsage, c.stream, c.includeUsage)
			}
			var model struct{ Model string }
			_ = json.Unmarshal([]byte(c.in), &model)
			if tr.Model != model.Model {
				t.Errorf("Model %q, want %q", tr.Model, model.Model)
			}
		})
	}
}

// The input must survive translation: Translated must not alias it.
func TestTranslateRequestDoesNotAliasInput(t *testing.T) {
	in := []byte(`{"model":"claude-x","messages":[{"role":"user","content":"hello"}]}`)
	tr, err := TranslateRequest(in)
	if err != nil {
		t.Fatal(err)
	}
	body := string(tr.Body)
	for i := range in {
		in[i] = 'z'
	}
	if tr.Model != "claude-x" || string(tr.Body) != body {
		t.Fatalf("translation changed with its input: %q %s", tr.Model, tr.Body)
	}
}

func TestTranslateRequestErrors(t *testing.T) {
	const msgs = `"messages":[{"role":"user","content":"x"}]`
	const tools = `"tools":[{"type":"function","function":{"name":"f"}}]`
	cases := []struct {
		name, in    string
		param, code string
		msgHas      string
	}{
		{"invalid JSON", `{"model":`, "", CodeInvalidJSON, "JSON"},
		{"not an object", `[1]`, "", CodeInvalidType, "object"},
		{"missing model", `{` + msgs + `}`, "model", CodeMissingRequired, "model"},
		{"no messages", `{"model":"m","messages":[]}`, "messages", CodeMissingRequired, "messages"},
		{"only system", `{"model":"m","messages":[{"role":"system","content":"s"}]}`, "messages", CodeInvalidValue, "at least one"},
		{"n > 1", `{"model":"m",` + msgs + `,"n":2}`, "n", CodeUnsupportedValue, "single choice"},
		{"logprobs", `{"model":"m",` + msgs + `,"logprobs":true}`, "logprobs", CodeUnsupportedParameter, "log probabilities"},
		{"top_logprobs", `{"model":"m",` + msgs + `,"top_logprobs":3}`, "top_logprobs", CodeUnsupportedParameter, "log probabilities"},
		{"audio", `{"model":"m",` + msgs + `,"audio":{"voice":"alloy","format":"mp3"}}`, "audio", CodeUnsupportedParameter, "audio"},
		{"audio modality", `{"model":"m",` + msgs + `,"modalities":["text","audio"]}`, "modalities", CodeUnsupportedValue, "audio"},
		{"presence penalty", `{"model":"m",` + msgs + `,"presence_penalty":0.5}`, "presence_penalty", CodeUnsupportedParameter, "penalt"},
		{"logit bias", `{"model":"m",` + msgs + `,"logit_bias":{"50256":-100}}`, "logit_bias", CodeUnsupportedParameter, "bias"},
		{"legacy functions", `{"model":"m",` + msgs + `,"functions":[{"name":"f"}]}`, "functions", CodeUnsupportedParameter, "tools"},
		{"bad role", `{"model":"m","messages":[{"role":"robot","content":"x"}]}`, "messages[0].role", CodeInvalidValue, "robot"},
		{"function role", `{"model":"m","messages":[{"role":"function","name":"f","content":"x"}]}`, "messages[0].role", CodeUnsupportedParameter, "tool"},
		{"input audio part", `{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"x","format":"wav"}}]}]}`, "messages[0].content[0].type", CodeUnsupportedParameter, "audio"},
		{"bad image type", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:image/tiff;base64,AAAA"}}]}]}`, "messages[0].content[1].image_url.url", CodeInvalidValue, "image/tiff"},
		{"non-base64 data URL", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]}]}`, "messages[0].content[0].image_url.url", CodeInvalidValue, "base64"},
		{"ftp image", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}]}`, "messages[0].content[0].image_url.url", CodeInvalidValue, "URL"},
		{"file id", `{"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-1"}}]}]}`, "messages[0].content[0].file.file_id", CodeUnsupportedParameter, "file_data"},
		{"invalid tool arguments", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{\"city\":"}}]}]}`,
			"messages[1].tool_calls[0].function.arguments", CodeInvalidValue, "JSON object"},
		{"array tool arguments", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`,
			"messages[1].tool_calls[0].function.arguments", CodeInvalidValue, "JSON object"},
		{"tool call without id", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]}]}`,
			"messages[1].tool_calls[0].id", CodeMissingRequired, "id"},
		{"tool result without id", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"tool","content":"r"}]}`, "messages[1].tool_call_id", CodeMissingRequired, "tool_call_id"},
		{"custom tool", `{"model":"m",` + msgs + `,"tools":[{"type":"custom","custom":{"name":"g"}}]}`, "tools[0].type", CodeUnsupportedValue, "custom"},
		{"tool without name", `{"model":"m",` + msgs + `,"tools":[{"type":"function","function":{}}]}`, "tools[0].function.name", CodeMissingRequired, "name"},
		{"required without tools", `{"model":"m",` + msgs + `,"tool_choice":"required"}`, "tool_choice", CodeInvalidValue, "tools"},
		{"named unknown tool", `{"model":"m",` + msgs + `,` + tools + `,"tool_choice":{"type":"function","function":{"name":"g"}}}`, "tool_choice.function.name", CodeInvalidValue, "\"g\""},
		{"bad tool_choice", `{"model":"m",` + msgs + `,` + tools + `,"tool_choice":"sometimes"}`, "tool_choice", CodeUnsupportedValue, "sometimes"},
		{"reasoning with temperature", `{"model":"m",` + msgs + `,"reasoning_effort":"low","temperature":0.5}`, "temperature", CodeUnsupportedValue, "reasoning_effort"},
		{"reasoning with forced tool", `{"model":"m",` + msgs + `,` + tools + `,"reasoning_effort":"low","tool_choice":"required"}`, "tool_choice", CodeUnsupportedValue, "reasoning_effort"},
		{"reasoning with tiny max tokens", `{"model":"m",` + msgs + `,"reasoning_effort":"low","max_completion_tokens":500}`, "max_completion_tokens", CodeInvalidValue, "1024"},
		{"bad reasoning effort", `{"model":"m",` + msgs + `,"reasoning_effort":"extreme"}`, "reasoning_effort", CodeUnsupportedValue, "extreme"},
		{"temperature out of range", `{"model":"m",` + msgs + `,"temperature":3}`, "temperature", CodeInvalidValue, "between"},
		{"fractional max_tokens", `{"model":"m",` + msgs + `,"max_tokens":10.5}`, "max_tokens", CodeInvalidValue, "integer"},
		{"zero max_completion_tokens", `{"model":"m",` + msgs + `,"max_completion_tokens":0}`, "max_completion_tokens", CodeInvalidValue, "integer"},
		{"bad stop", `{"model":"m",` + msgs + `,"stop":[1]}`, "stop[0]", CodeInvalidType, "string"},
		{"bad response_format", `{"model":"m",` + msgs + `,"response_format":{"type":"yaml"}}`, "response_format.type", CodeUnsupportedValue, "yaml"},
		{"schema missing", `{"model":"m",` + msgs + `,"response_format":{"type":"json_schema","json_schema":{"name":"x"}}}`, "response_format.json_schema.schema", CodeMissingRequired, "schema"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr, err := TranslateRequest([]byte(c.in))
			if err == nil {
				t.Fatalf("no error; body %s", tr.Body)
			}
			if err.Status != 400 || err.Type != TypeInvalidRequest || err.Param != c.param || err.Code != c.code {
				t.Errorf("got %d %s param=%q code=%q, want 400 invalid_request_error param=%q code=%q (%s)", err.Status, err.Type, err.Param, err.Code, c.param, c.code, err.Message)
			}
			if !strings.Contains(err.Message, c.msgHas) {
				t.Errorf("message %q lacks %q", err.Message, c.msgHas)
			}
			var shape struct {
				Error struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Param   *string `json:"param"`
					Code    *string `json:"code"`
				} `json:"error"`
			}
			if e := json.Unmarshal(err.JSON(), &shape); e != nil || shape.Error.Message != err.Message || shape.Error.Type != err.Type {
				t.Errorf("JSON() = %s (%v)", err.JSON(), e)
			}
			if (shape.Error.Param == nil) != (c.param == "") {
				t.Errorf("param in JSON: %s", err.JSON())
			}
		})
	}
}

func TestUsesAdaptiveThinking(t *testing.T) {
	cases := map[string]bool{
		"claude-opus-4-7":                      true,
		"claude-sonnet-4-6":                    true,
		"us.anthropic.claude-opus-4-6-v1":      true,
		"claude-sonnet-5":                      true,
		"claude-fable-5-1":                     true,
		"claude-opus-4-5-20251101":             false,
		"claude-haiku-4-5-20251001":            false,
		"claude-opus-4-20250514":               false,
		"claude-3-7-sonnet-20250219":           false,
		"anthropic.claude-3-5-sonnet-v2":       false,
		"claude-sonnet":                        false,
		"gpt-4o":                               false,
		"publishers/anthropic/claude-opus-4-7": true,
	}
	for model, want := range cases {
		if got := UsesAdaptiveThinking(model); got != want {
			t.Errorf("UsesAdaptiveThinking(%q) = %v, want %v", model, got, want)
		}
	}
}
