package bedrock

import (
	"bytes"
	"slices"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/claude-gateway/claude-gateway/core/llm"
)

func mustShaper(t *testing.T) *shaper {
	t.Helper()
	s, err := newShaper()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestShapeEdits(t *testing.T) {
	s := mustShaper(t)
	cases := []struct {
		name  string
		body  string
		betas []string
		kind  llm.Kind
		// want maps gjson paths to expected raw JSON ("" = must not exist).
		want    map[string]string
		removed []string
	}{
		{
			name: "basic",
			body: `{"model":"claude-x","stream":true,"max_tokens":10,"messages":[{"role":"user","content":"hi"}],"temperature":0.5,"future_field":{"a":[1,2]}}`,
			want: map[string]string{
				"model": "", "stream": "", "anthropic_version": `"bedrock-2023-05-31"`, "anthropic_beta": "",
				"temperature": "0.5", "future_field": "", "max_tokens": "10",
			},
			// A field InvokeModel's schema does not list never reaches it.
			removed: []string{"field future_field"},
		},
		{
			name:  "betas filtered, renamed and gated",
			body:  `{"max_tokens":10,"messages":[],"thinking":{"type":"adaptive"},"output_config":{"effort":"medium"},"context_management":{"edits":[]},"tools":[{"name":"a","defer_loading":true}]}`,
			betas: []string{"claude-code-20250219", "interleaved-thinking-2025-05-14", "context-management-2025-06-27", "per-turn-control-2026-07-01", "advanced-tool-use-2025-11-20", "effort-2025-11-24", "context-1m-2025-08-07"},
			want: map[string]string{
				"anthropic_beta": `["context-management-2025-06-27","tool-search-tool-2025-10-19","effort-2025-11-24","context-1m-2025-08-07"]`,
			},
			removed: []string{"beta claude-code-20250219", "beta per-turn-control-2026-07-01", "beta interleaved-thinking-2025-05-14"},
		},
		{
			name:  "interleaved thinking kept with budgeted thinking, tool search dropped without deferred tools",
			body:  `{"max_tokens":10,"messages":[],"thinking":{"type":"enabled","budget_tokens":5},"tools":[{"name":"a"}]}`,
			betas: []string{"interleaved-thinking-2025-05-14", "advanced-tool-use-2025-11-20", "effort-2025-11-24"},
			want:  map[string]string{"anthropic_beta": `["interleaved-thinking-2025-05-14"]`},
		},
		{
			name:  "anthropic_beta already in body merges",
			body:  `{"max_tokens":10,"messages":[],"anthropic_beta":["context-1m-2025-08-07","bogus-flag"]}`,
			betas: []string{"output-128k-2025-02-19"},
			want:  map[string]string{"anthropic_beta": `["output-128k-2025-02-19","context-1m-2025-08-07"]`},
		},
		{
			name:    "top-level fields Bedrock rejects",
			body:    `{"max_tokens":10,"messages":[],"safeguards":{"x":1},"speed":"fast","service_tier":"auto","mcp_servers":[{"x":1}]}`,
			want:    map[string]string{"safeguards": "", "speed": "", "service_tier": "", "mcp_servers": ""},
			removed: []string{"field safeguards", "field service_tier", "field speed", "field mcp_servers"},
		},
		{
			name: "cache_control.scope everywhere, ttl kept",
			body: `{"max_tokens":10,"cache_control":{"type":"ephemeral","scope":"global"},` +
				`"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral","scope":"global","ttl":"1h"}}],` +
				`"tools":[{"name":"t","input_schema":{"type":"object","properties":{"scope":{"type":"string"}}},"cache_control":{"type":"ephemeral","scope":"global"}}],` +
				`"messages":[{"role":"user","content":[{"type":"text","text":"scope","cache_control":{"type":"ephemeral","scope":"global"}},` +
				`{"type":"tool_result","tool_use_id":"x","content":[{"type":"text","text":"r","cache_control":{"type":"ephemeral","scope":"global"}}]}]}]}`,
			want: map[string]string{
				"cache_control":                                "", // top level: not in InvokeModel's schema
				"system.0.cache_control":                       `{"type":"ephemeral","ttl":"1h"}`,
				"tools.0.cache_control":                        `{"type":"ephemeral"}`,
				"tools.0.input_schema.properties.scope":        `{"type":"string"}`,
				"messages.0.content.0.cache_control":           `{"type":"ephemeral"}`,
				"messages.0.content.1.content.0.cache_control": `{"type":"ephemeral"}`,
			},
			removed: []string{"cache_control.scope"},
		},
		{
			name:    "tools[].custom",
			body:    `{"max_tokens":10,"messages":[],"tools":[{"name":"a","custom":{"defer_loading":true}},{"type":"custom","name":"b"}]}`,
			want:    map[string]string{"tools.0": `{"name":"a"}`, "tools.1": `{"type":"custom","name":"b"}`},
			removed: []string{"tools[].custom"},
		},
		{
			name: "system messages folded after array system",
			body: `{"max_tokens":10,"system":[{"type":"text","text":"a","cache_control":{"type":"ephemeral"}}],"messages":[` +
				`{"role":"user","content":"u1"},{"role":"system","content":[{"type":"text","text":"env"}]},` +
				`{"role":"assistant","content":"a1"},{"role":"system","content":"later"},{"role":"user","content":"u2"}]}`,
			want: map[string]string{
				"system":   `[{"type":"text","text":"a","cache_control":{"type":"ephemeral"}},{"type":"text","text":"env"},{"type":"text","text":"later"}]`,
				"messages": `[{"role":"user","content":"u1"},{"role":"assistant","content":"a1"},{"role":"user","content":"u2"}]`,
			},
			removed: []string{"messages[role=system] folded into system"},
		},
		{
			name: "system messages folded after string system",
			body: `{"max_tokens":10,"system":"top \"quoted\"","messages":[{"role":"user","content":"u"},{"role":"system","content":"s"}]}`,
			want: map[string]string{
				"system":   `[{"type":"text","text":"top \"quoted\""},{"type":"text","text":"s"}]`,
				"messages": `[{"role":"user","content":"u"}]`,
			},
		},
		{
			name: "system messages folded without system",
			body: `{"max_tokens":10,"messages":[{"role":"user","content":"u"},{"role":"system","content":[{"type":"text","text":"s","cache_control":{"type":"ephemeral","scope":"global"}}]}]}`,
			want: map[string]string{
				"system":   `[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}]`,
				"messages": `[{"role":"user","content":"u"}]`,
			},
		},
		{
			name: "a user text mentioning system is left alone",
			body: `{"max_tokens":10,"messages":[{"role":"user","content":"the \"system\" role"}]}`,
			want: map[string]string{"messages": `[{"role":"user","content":"the \"system\" role"}]`, "system": ""},
		},
		{
			name:  "count_tokens gets max_tokens above the thinking budget",
			body:  `{"model":"m","messages":[{"role":"user","content":"u"}],"thinking":{"type":"enabled","budget_tokens":31999}}`,
			kind:  llm.KindCountTokens,
			betas: []string{"token-counting-2024-11-01"},
			want:  map[string]string{"max_tokens": "32000", "anthropic_beta": ""},
		},
		{
			name: "count_tokens keeps its own max_tokens",
			body: `{"max_tokens":7,"messages":[]}`,
			kind: llm.KindCountTokens,
			want: map[string]string{"max_tokens": "7"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			orig := []byte(c.body)
			req := &llm.Request{Kind: c.kind, Body: orig, Betas: c.betas}
			got, err := s.shape(req)
			if err != nil {
				t.Fatal(err)
			}
			if string(req.Body) != c.body {
				t.Fatal("shape modified the request body")
			}
			if !gjson.ValidBytes(got.Body) {
				t.Fatalf("invalid JSON: %s", got.Body)
			}
			for path, want := range c.want {
				r := gjson.GetBytes(got.Body, path)
				if want == "" {
					if r.Exists() {
						t.Errorf("%s present: %s", path, r.Raw)
					}
					continue
				}
				if r.Raw != want {
					t.Errorf("%s = %s, want %s", path, r.Raw, want)
				}
			}
			for _, r := range c.removed {
				if !slices.Contains(got.Removed, r) {
					t.Errorf("removed %q not reported in %q", r, got.Removed)
				}
			}
		})
	}
}

func TestShapeLeavesUntouchedBytes(t *testing.T) {
	// Fields the shaper does not name keep their exact bytes, spacing included.
	s := mustShaper(t)
	body := `{"model":"m", "max_tokens": 10, "messages": [ {"role": "user", "content": [ {"type": "text", "text": "x\u00e9"} ] } ], "metadata": {"user_id": "{\"a\":1}"}}`
	got, err := s.shape(&llm.Request{Body: []byte(body)})
	if err != nil {
		t.Fatal(err)
	}
	for _, frag := range []string{`[ {"role": "user", "content": [ {"type": "text", "text": "x\u00e9"} ] } ]`, `{"user_id": "{\"a\":1}"}`} {
		if !bytes.Contains(got.Body, []byte(frag)) {
			t.Errorf("fragment %s changed: %s", frag, got.Body)
		}
	}
}

func TestShapeRejectsNonObject(t *testing.T) {
	s := mustShaper(t)
	for _, b := range []string{``, `[]`, `{"a":`} {
		_, err := s.shape(&llm.Request{Body: []byte(b)})
		var le *llm.Error
		if !asLLMError(err, &le) || le.Status != 400 || le.Retryable {
			t.Errorf("%q: got %v", b, err)
		}
	}
}

// TestQuirkFieldsDropped: every top-level field the quirks
// table drops for Bedrock (each one InvokeModel refuses; the fake refuses
// every field outside its schema) is removed by the shaper and reported.
func TestQuirkFieldsDropped(t *testing.T) {
	s := mustShaper(t)
	for _, f := range []string{"safeguards", "service_tier", "speed", "inference_geo"} {
		if !s.quirks().DropsField(f) {
			t.Errorf("%s is not dropped for bedrock", f)
		}
		body := `{"max_tokens":10,"messages":[{"role":"user","content":"u"}],"` + f + `":"x"}`
		got, err := s.shape(&llm.Request{Body: []byte(body)})
		if err != nil {
			t.Fatal(err)
		}
		if gjson.GetBytes(got.Body, f).Exists() || !slices.Contains(got.Removed, "field "+f) {
			t.Errorf("%s kept: %s", f, got.Body)
		}
	}
}
