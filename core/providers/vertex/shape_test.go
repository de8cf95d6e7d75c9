package vertex

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/tidwall/gjson"
)

func TestShapeBody(t *testing.T) {
	cases := []struct {
		name   string
		kind   llm.Kind
		stream bool
		in     string
		want   string // compared as JSON values
	}{
		{"messages: model out, version in, unknown fields kept",
			llm.KindMessages, false,
			`{"model":"claude-x","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"x_future":{"a":[1,2]}}`,
			`{"max_tokens":5,"messages":[{"role":"user","content":"hi"}],"x_future":{"a":[1,2]},"anthropic_version":"vertex-2023-10-16"}`},
		{"stream stays when it agrees",
			llm.KindMessages, true,
			`{"model":"m","stream":true,"messages":[]}`,
			`{"stream":true,"messages":[],"anthropic_version":"vertex-2023-10-16"}`},
		{"stream set for a streaming call",
			llm.KindMessages, true,
			`{"model":"m","messages":[]}`,
			`{"stream":true,"messages":[],"anthropic_version":"vertex-2023-10-16"}`},
		{"stream cleared for a non-streaming call",
			llm.KindMessages, false,
			`{"stream":true,"messages":[]}`,
			`{"stream":false,"messages":[],"anthropic_version":"vertex-2023-10-16"}`},
		{"client anthropic_version replaced",
			llm.KindMessages, false,
			`{"anthropic_version":"bedrock-2023-05-31","messages":[]}`,
			`{"anthropic_version":"vertex-2023-10-16","messages":[]}`},
		{"count_tokens: model without @version",
			llm.KindCountTokens, false,
			`{"model":"claude-opus-5-5","messages":[{"role":"user","content":"hi"}]}`,
			`{"model":"claude-3-5-sonnet-v2","messages":[{"role":"user","content":"hi"}],"anthropic_version":"vertex-2023-10-16"}`},
		{"safeguards removed",
			llm.KindMessages, false,
			`{"safeguards":{"level":"standard"},"messages":[]}`,
			`{"messages":[],"anthropic_version":"vertex-2023-10-16"}`},
		{"cache_control.scope removed everywhere, the rest of cache_control kept",
			llm.KindMessages, false,
			`{"cache_control":{"type":"ephemeral","scope":"global"},
			  "system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral","scope":"global","ttl":"1h"}}],
			  "tools":[{"name":"t","input_schema":{"type":"object","properties":{"scope":{"type":"string"}}},"cache_control":{"scope":"global","type":"ephemeral"}}],
			  "messages":[{"role":"user","content":[
			    {"type":"text","text":"a","cache_control":{"type":"ephemeral","scope":"global"}},
			    {"type":"tool_result","tool_use_id":"x","content":[{"type":"text","text":"r","cache_control":{"type":"ephemeral","scope":"org"}}]}]}]}`,
			`{"cache_control":{"type":"ephemeral"},
			  "system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral","ttl":"1h"}}],
			  "tools":[{"name":"t","input_schema":{"type":"object","properties":{"scope":{"type":"string"}}},"cache_control":{"type":"ephemeral"}}],
			  "messages":[{"role":"user","content":[
			    {"type":"text","text":"a","cache_control":{"type":"ephemeral"}},
			    {"type":"tool_result","tool_use_id":"x","content":[{"type":"text","text":"r","cache_control":{"type":"ephemeral"}}]}]}],
			  "anthropic_version":"vertex-2023-10-16"}`},
		{"system messages folded after an array system, in order",
			llm.KindMessages, false,
			`{"system":[{"type":"text","text":"S1","cache_control":{"type":"ephemeral"}}],
			  "messages":[{"role":"user","content":"u1"},{"role":"system","content":"env"},
			    {"role":"assistant","content":"a1"},{"role":"system","content":[{"type":"text","text":"late"}]},{"role":"user","content":"u2"}]}`,
			`{"system":[{"type":"text","text":"S1","cache_control":{"type":"ephemeral"}},{"type":"text","text":"env"},{"type":"text","text":"late"}],
			  "messages":[{"role":"user","content":"u1"},{"role":"assistant","content":"a1"},{"role":"user","content":"u2"}],
			  "anthropic_version":"vertex-2023-10-16"}`},
		{"system messages folded after a string system",
			llm.KindMessages, false,
			`{"system":"be \"brief\"","messages":[{"role":"user","content":"u"},{"role":"system","content":"x\ny"}]}`,
			`{"system":[{"type":"text","text":"be \"brief\""},{"type":"text","text":"x\ny"}],
			  "messages":[{"role":"user","content":"u"}],"anthropic_version":"vertex-2023-10-16"}`},
		{"system messages become the system when there is none; empty text dropped",
			llm.KindMessages, false,
			`{"messages":[{"role":"system","content":""},{"role":"system","content":"only"},{"role":"user","content":"u"}]}`,
			`{"system":[{"type":"text","text":"only"}],"messages":[{"role":"user","content":"u"}],"anthropic_version":"vertex-2023-10-16"}`},
		{"system messages folded in count_tokens too",
			llm.KindCountTokens, false,
			`{"model":"m","messages":[{"role":"user","content":"u"},{"role":"system","content":"s"}]}`,
			`{"model":"claude-3-5-sonnet-v2","system":[{"type":"text","text":"s"}],"messages":[{"role":"user","content":"u"}],"anthropic_version":"vertex-2023-10-16"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := []byte(c.in)
			orig := bytes.Clone(in)
			got, err := shapeBody(in, c.kind, "claude-3-5-sonnet-v2@20241022", c.stream)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(in, orig) {
				t.Fatal("input body modified in place")
			}
			if !json.Valid(got) {
				t.Fatalf("invalid JSON out: %s", got)
			}
			if !jsonEqual(t, got, []byte(c.want)) {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

// Fields the gateway does not touch must pass byte for byte (targeted
// edits, no decode/re-encode).
func TestShapeBodyKeepsBytes(t *testing.T) {
	in := `{"model":"m", "metadata" : {"user_id":"{\"a\": 1}"},"temperature":1.0,"big":12345678901234567890,"messages":[{"role":"user","content":"\u00e9"}]}`
	got, err := shapeBody([]byte(in), llm.KindMessages, "m", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, frag := range []string{`"metadata" : {"user_id":"{\"a\": 1}"}`, `"temperature":1.0`, `"big":12345678901234567890`, `"content":"\u00e9"`} {
		if !bytes.Contains(got, []byte(frag)) {
			t.Errorf("%s lost from %s", frag, got)
		}
	}
}

func TestShapeBodyRejectsNonObject(t *testing.T) {
	for _, in := range []string{``, `[]`, `{"a":`, `"x"`} {
		if _, err := shapeBody([]byte(in), llm.KindMessages, "m", false); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestBaseModel(t *testing.T) {
	for in, want := range map[string]string{
		"claude-3-5-sonnet-v2@20241022": "claude-3-5-sonnet-v2",
		"claude-sonnet-4-5":             "claude-sonnet-4-5",
		"claude-opus-4-1@20250805":      "claude-opus-4-1",
	} {
		if got := baseModel(in); got != want {
			t.Errorf("baseModel(%q) = %q, want %q", in, got, want)
		}
	}
}

// The Claude Code captures carry role "system" messages; after shaping none
// is left and the system text is all still there.
func TestShapeClaudeCodeFixtures(t *testing.T) {
	for _, f := range loadFixtures(t) {
		if f.Path != "/v1/messages" && f.Path != "/v1/messages/count_tokens" {
			continue
		}
		t.Run(f.Name, func(t *testing.T) {
			kind := llm.KindMessages
			if f.Path == "/v1/messages/count_tokens" {
				kind = llm.KindCountTokens
			}
			stream := gjson.GetBytes(f.Body, "stream").Bool()
			got, err := shapeBody(f.Body, kind, "claude-sonnet-4-5@20250929", stream)
			if err != nil {
				t.Fatal(err)
			}
			var sysTexts, gotTexts []string
			gjson.GetBytes(f.Body, "messages").ForEach(func(_, m gjson.Result) bool {
				if m.Get("role").String() == "system" {
					sysTexts = append(sysTexts, textsOf(m.Get("content"))...)
				}
				return true
			})
			gjson.GetBytes(got, "messages").ForEach(func(_, m gjson.Result) bool {
				if m.Get("role").String() == "system" {
					t.Error("role system left in messages")
				}
				return true
			})
			gotTexts = textsOf(gjson.GetBytes(got, "system"))
			if len(sysTexts) > 0 && !reflect.DeepEqual(gotTexts[len(gotTexts)-len(sysTexts):], sysTexts) {
				t.Error("folded system texts missing from system")
			}
			if gjson.GetBytes(got, "anthropic_version").String() != AnthropicVersion {
				t.Error("anthropic_version not set")
			}
		})
	}
}

func textsOf(v gjson.Result) []string {
	if v.Type == gjson.String {
		return []string{v.Str}
	}
	var out []string
	v.ForEach(func(_, b gjson.Result) bool {
		out = append(out, b.Get("text").String())
		return true
	})
	return out
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("invalid JSON %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

// Whatever valid JSON object comes in, valid JSON goes out, with the
// version set, no model (messages), and no role "system" message left.
func FuzzShapeBody(f *testing.F) {
	f.Add([]byte(`{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":"u"}]}`), false)
	f.Add([]byte(`{"system":"x","messages":[{"role":"user","content":[{"type":"text","text":"a","cache_control":{"scope":"global","type":"ephemeral"}}]},{"role":"system","content":[]}],"stream":true}`), true)
	f.Add([]byte(`{"cache_control":{"scope":1},"safeguards":{},"anthropic_version":"x","model":"a","model":"b"}`), false)
	f.Add([]byte(`{}`), true)
	f.Fuzz(func(t *testing.T, body []byte, count bool) {
		kind := llm.KindMessages
		if count {
			kind = llm.KindCountTokens
		}
		if !json.Valid(body) || !gjson.ParseBytes(body).IsObject() {
			return
		}
		got, err := shapeBody(body, kind, "claude-x@1", !count)
		if err != nil {
			t.Fatalf("valid object refused: %v", err)
		}
		if !json.Valid(got) {
			t.Fatalf("invalid JSON out of %s: %s", body, got)
		}
		if gjson.GetBytes(got, "anthropic_version").String() != AnthropicVersion {
			t.Fatalf("no anthropic_version in %s", got)
		}
		if kind == llm.KindMessages && gjson.GetBytes(got, "model").Exists() {
			t.Fatalf("model left in %s", got)
		}
		gjson.GetBytes(got, "messages").ForEach(func(_, m gjson.Result) bool {
			if m.Get("role").String() == "system" {
				t.Fatalf("role system left in %s", got)
			}
			return true
		})
	})
}
