package quirks

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

const billing = "x-anthropic-billing-header: cc_version=2.1.332.1c9; cc_entrypoint=sdk-cli;"

func TestTableParses(t *testing.T) {
	tab, err := Parse(tableYAML)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, q := range tab.Quirks {
		ids[q.ID] = true
	}
	for _, id := range []string{"billing-header", "system-role-messages", "safeguards", "cache-scope", "tool-custom-wrapper"} {
		if !ids[id] {
			t.Errorf("row %s missing", id)
		}
	}
}

func TestParseNamesTheBadRow(t *testing.T) {
	cases := map[string]string{
		"quirks: [{id: a, what: w, why: y, source: s, test: t, providers: [bedrock], edit: nope}]":               "unknown edit",
		"quirks: [{id: a, what: w, why: y, source: s, test: t, providers: [bedrock], edit: drop_field}]":         "needs arg",
		"quirks: [{id: a, what: w, why: y, source: s, test: t, providers: [azure], edit: fold_system_messages}]": "unknown provider",
		"quirks: [{id: a, what: w, providers: [bedrock], edit: fold_system_messages}]":                           "required",
	}
	for in, want := range cases {
		if _, err := Parse([]byte(in)); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "quirks[0] (a)") {
			t.Errorf("%s: err %v, want %q naming the row", in, err, want)
		}
	}
}

// TestBillingHeader: Bedrock loses exactly the reserved block; the Anthropic
// API and Vertex keep it.
func TestBillingHeader(t *testing.T) {
	body := `{"system":[{"type":"text","text":"` + billing + `"},{"type":"text","text":"You are Claude Code.","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"hi"}]}`
	cases := []struct {
		provider, body, wantSystem string
	}{
		{"bedrock", body, `[{"type":"text","text":"You are Claude Code.","cache_control":{"type":"ephemeral"}}]`},
		{"anthropic", body, gjson.Get(body, "system").Raw},
		{"vertex_ai", body, gjson.Get(body, "system").Raw},
		{"bedrock", `{"system":"` + billing + `","messages":[]}`, ""},
		{"bedrock", `{"system":"` + billing + `\nBe brief.","messages":[]}`, `"Be brief."`},
		{"bedrock", `{"system":"Mentions x-anthropic-billing-header: later","messages":[]}`, `"Mentions x-anthropic-billing-header: later"`},
		{"bedrock", `{"system":[{"type":"text","text":"` + billing + `"}],"messages":[]}`, ""},
	}
	for _, c := range cases {
		got, removed, err := Default().For(c.provider).Apply([]byte(c.body))
		if err != nil {
			t.Fatal(err)
		}
		if !gjson.ValidBytes(got) {
			t.Fatalf("invalid JSON %s", got)
		}
		if s := gjson.GetBytes(got, "system").Raw; s != c.wantSystem {
			t.Errorf("%s %s: system = %s, want %s", c.provider, c.body, s, c.wantSystem)
		}
		if stripped := c.wantSystem != gjson.Get(c.body, "system").Raw; stripped != slices.Contains(removed, "system block x-anthropic-billing-header:") {
			t.Errorf("%s: removed %q", c.provider, removed)
		}
	}
}

func TestFoldSystemMessages(t *testing.T) {
	body := `{"system":[{"type":"text","text":"` + billing + `"},{"type":"text","text":"top","cache_control":{"type":"ephemeral"}}],` +
		`"messages":[{"role":"user","content":"u1"},{"role":"system","content":"mid"},{"role":"system","content":[{"type":"text","text":"` + billing + `"},{"type":"text","text":"b"}]},{"role":"assistant","content":"a"}]}`
	got, removed, err := Default().For("bedrock").Apply([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if s := gjson.GetBytes(got, "system").Raw; s != `[{"type":"text","text":"top","cache_control":{"type":"ephemeral"}},{"type":"text","text":"mid"},{"type":"text","text":"b"}]` {
		t.Errorf("system %s", s)
	}
	if m := gjson.GetBytes(got, "messages").Raw; m != `[{"role":"user","content":"u1"},{"role":"assistant","content":"a"}]` {
		t.Errorf("messages %s", m)
	}
	if !slices.Contains(removed, "messages[role=system] folded into system") {
		t.Errorf("removed %q", removed)
	}
	// No system member before: one is made, after the others.
	got, _, _ = Default().For("vertex_ai").Apply([]byte(`{"messages":[{"role":"system","content":"s"},{"role":"user","content":"u"}],"max_tokens":1}`))
	if string(got) != `{"messages":[{"role":"user","content":"u"}],"max_tokens":1,"system":[{"type":"text","text":"s"}]}` {
		t.Errorf("got %s", got)
	}
	// The Anthropic API accepts them as sent.
	in := []byte(`{"messages":[{"role":"system","content":"s"}]}`)
	if got, removed, _ := Default().For("anthropic").Apply(in); string(got) != string(in) || removed != nil {
		t.Errorf("anthropic: %s %q", got, removed)
	}
}

func TestDropField(t *testing.T) {
	in := `{"model":"m", "safeguards":{"level":"x"}, "speed":"fast","max_tokens":5}`
	got, removed, _ := Default().For("bedrock").Apply([]byte(in))
	if string(got) != `{"model":"m","max_tokens":5}` || !slices.Equal(removed, []string{"field safeguards", "field speed"}) {
		t.Errorf("bedrock: %s %q", got, removed)
	}
	got, _, _ = Default().For("vertex_ai").Apply([]byte(in))
	if string(got) != `{"model":"m","speed":"fast","max_tokens":5}` {
		t.Errorf("vertex: %s", got)
	}
}

func TestCacheControlKey(t *testing.T) {
	in := `{"cache_control":{"type":"ephemeral","scope":"global"},"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral","ttl":"1h","scope":"global"}}],` +
		`"tools":[{"name":"t","cache_control":{"scope":"global","type":"ephemeral"}}],` +
		`"messages":[{"role":"user","content":[{"type":"tool_result","content":[{"type":"text","text":"r","cache_control":{"type":"ephemeral","scope":"global"}}]}]}]}`
	got, removed, _ := Default().For("vertex_ai").Apply([]byte(in))
	if strings.Contains(string(got), "scope") || !slices.Contains(removed, "cache_control.scope") {
		t.Fatalf("%s %q", got, removed)
	}
	if gjson.GetBytes(got, "system.0.cache_control").Raw != `{"type":"ephemeral","ttl":"1h"}` ||
		gjson.GetBytes(got, "messages.0.content.0.content.0.cache_control").Raw != `{"type":"ephemeral"}` {
		t.Errorf("cache_control not kept: %s", got)
	}
}

func TestToolKey(t *testing.T) {
	in := `{"tools":[{"name":"a","custom":{"defer_loading":true},"defer_loading":true,"cache_control":{"type":"ephemeral","scope":"global"}},{"name":"b"}]}`
	got, removed, _ := Default().For("bedrock").Apply([]byte(in))
	if string(got) != `{"tools":[{"name":"a","defer_loading":true,"cache_control":{"type":"ephemeral"}},{"name":"b"}]}` {
		t.Errorf("got %s", got)
	}
	if !slices.Contains(removed, "tools[].custom") || !slices.Contains(removed, "cache_control.scope") {
		t.Errorf("removed %q", removed)
	}
}

func TestUntouchedBodyIsReturnedAsIs(t *testing.T) {
	in := []byte(`{"model":"m", "messages": [ {"role": "user", "content": "the \"system\" role x\u00e9"} ] }`)
	for _, p := range []string{"anthropic", "bedrock", "vertex_ai"} {
		got, removed, err := Default().For(p).Apply(in)
		if err != nil || &got[0] != &in[0] || removed != nil {
			t.Errorf("%s: copied or changed (%v, %q)", p, err, removed)
		}
	}
	for _, bad := range []string{``, `[]`, `{"a":`, `"s"`} {
		if _, _, err := Default().For("bedrock").Apply([]byte(bad)); err != ErrNotObject {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// TestCapturedClaudeCodeRequests: every captured request keeps its valid
// JSON, loses the billing block on Bedrock only, and keeps every other
// system block with its cache_control.
func TestCapturedClaudeCodeRequests(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "..", "shared", "claude-code-requests", "cc-*.json"))
	if len(files) == 0 {
		t.Skip("SKIP: ../shared/claude-code-requests not found beside the repo")
	}
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		var c struct{ Body json.RawMessage }
		if json.Unmarshal(raw, &c) != nil || len(c.Body) == 0 || !strings.Contains(string(c.Body), "x-anthropic-billing-header") {
			continue
		}
		got, _, err := Default().For("bedrock").Apply(c.Body)
		if err != nil || !gjson.ValidBytes(got) {
			t.Fatalf("%s: %v", f, err)
		}
		if strings.Contains(gjson.GetBytes(got, "system").Raw, "x-anthropic-billing-header") {
			t.Errorf("%s: billing block left for Bedrock", f)
		}
		want := 0
		gjson.GetBytes(c.Body, "system").ForEach(func(_, b gjson.Result) bool {
			if !strings.HasPrefix(b.Get("text").Str, "x-anthropic-billing-header:") {
				want++
			}
			return true
		})
		gjson.GetBytes(c.Body, "messages").ForEach(func(_, m gjson.Result) bool {
			if m.Get("role").Str == "system" {
				want += max(len(m.Get("content").Array()), 1)
			}
			return true
		})
		if n := len(gjson.GetBytes(got, "system").Array()); n != want {
			t.Errorf("%s: %d system blocks, want %d", f, n, want)
		}
		if a, _, _ := Default().For("anthropic").Apply(c.Body); string(a) != string(c.Body) {
			t.Errorf("%s: the Anthropic API body changed", f)
		}
	}
}

// BenchmarkApplyClaudeCode: the Bedrock edits of a captured Claude Code
// request (billing block, system messages folded, one pass over the body).
func BenchmarkApplyClaudeCode(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "claude-code-requests", "cc-print-text.json"))
	if err != nil {
		b.Skip("SKIP: fixture not found")
	}
	var c struct{ Body json.RawMessage }
	if err := json.Unmarshal(raw, &c); err != nil {
		b.Fatal(err)
	}
	rules := Default().For("bedrock")
	b.SetBytes(int64(len(c.Body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := rules.Apply(c.Body); err != nil {
			b.Fatal(err)
		}
	}
}
