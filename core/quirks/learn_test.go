package quirks

import (
	"context"
	"slices"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/claude-gateway/claude-gateway/core/llm"
)

// refuser is an upstream that refuses, by name, each field or beta in refuse.
type refuser struct {
	refuse map[string]string // field or beta -> its 400 message
	calls  []*llm.Request
}

func (r *refuser) Endpoint() string { return "test" }

func (r *refuser) answer(req *llm.Request) error {
	r.calls = append(r.calls, req)
	for name, msg := range r.refuse {
		if gjson.GetBytes(req.Body, name).Exists() || slices.Contains(req.Betas, name) ||
			gjson.GetBytes(req.Body, "tools.0."+name).Exists() {
			return &llm.Error{Status: 400, Type: llm.ErrInvalidRequest, Message: msg}
		}
	}
	return nil
}

func (r *refuser) Send(_ context.Context, req *llm.Request) (*llm.Response, error) {
	if err := r.answer(req); err != nil {
		return nil, err
	}
	return &llm.Response{Status: 200, Body: []byte(`{}`)}, nil
}

func (r *refuser) Stream(_ context.Context, req *llm.Request) (llm.Stream, error) {
	return nil, r.answer(req)
}

func TestLearning(t *testing.T) {
	cases := []struct {
		name    string
		refuse  map[string]string
		body    string
		betas   []string
		calls   int // upstream calls for the first request
		ok      bool
		learned []string
	}{
		{"pydantic extra input", map[string]string{"speed": "speed: Extra inputs are not permitted"},
			`{"messages":[],"speed":"fast"}`, nil, 2, true, []string{"field speed"}},
		{"invoke schema validator", map[string]string{"output_config": "Malformed input request: #: extraneous key [output_config] is not permitted, please reformat your input and try again."},
			`{"messages":[],"output_config":{"effort":"low"}}`, nil, 2, true, []string{"field output_config"}},
		{"tool key", map[string]string{"eager": "tools.0.eager: Extra inputs are not permitted"},
			`{"messages":[],"tools":[{"name":"a","eager":true}]}`, nil, 2, true, []string{"tools[].eager"}},
		{"named beta", map[string]string{"new-beta-2026-11-01": "Unexpected value(s) `new-beta-2026-11-01` for the `anthropic-beta` header. Please consult our documentation."},
			`{"messages":[]}`, []string{"context-1m-2025-08-07", "new-beta-2026-11-01"}, 2, true, []string{"beta new-beta-2026-11-01"}},
		{"a field the request lacks is no reason to retry", map[string]string{"speed": "other: Extra inputs are not permitted"},
			`{"messages":[],"speed":1}`, nil, 1, false, nil},
		{"a required field is never dropped", map[string]string{"messages": "messages: Extra inputs are not permitted"},
			`{"messages":[]}`, nil, 1, false, nil},
		{"any other 400 is returned as it came", map[string]string{"thinking": "`max_tokens` must be greater than `thinking.budget_tokens`"},
			`{"messages":[],"thinking":{}}`, nil, 1, false, nil},
		{"unnamed invalid beta flag: no guess", map[string]string{"b1": "invalid beta flag"},
			`{"messages":[]}`, []string{"b1"}, 1, false, nil},
	}
	for _, c := range cases {
		for _, stream := range []bool{false, true} {
			up := &refuser{refuse: c.refuse}
			l := Learn(up)
			req := &llm.Request{Body: []byte(c.body), Betas: c.betas}
			var err error
			if stream {
				_, err = l.Stream(context.Background(), req)
			} else {
				_, err = l.Send(context.Background(), req)
			}
			if len(up.calls) != c.calls || (err == nil) != c.ok {
				t.Fatalf("%s (stream %v): %d calls, err %v", c.name, stream, len(up.calls), err)
			}
			if got := l.Learned(); !slices.Equal(got, c.learned) {
				t.Errorf("%s: learned %q, want %q", c.name, got, c.learned)
			}
			if string(req.Body) != c.body {
				t.Errorf("%s: the caller's body was modified", c.name)
			}
			if !c.ok {
				continue
			}
			// Remembered: the next request goes out without it, at once.
			up.calls = nil
			if _, err := l.Send(context.Background(), &llm.Request{Body: []byte(c.body), Betas: c.betas}); err != nil || len(up.calls) != 1 {
				t.Errorf("%s: second request: %v after %d calls", c.name, err, len(up.calls))
			}
		}
	}
}

// TestLearningNeverLoops: an upstream that refuses again after the removal
// gets exactly one retry.
func TestLearningNeverLoops(t *testing.T) {
	up := &refuser{refuse: map[string]string{"messages": "speed: Extra inputs are not permitted"}}
	l := Learn(up)
	_, err := l.Send(context.Background(), &llm.Request{Body: []byte(`{"messages":[],"speed":1}`)})
	if err == nil || len(up.calls) != 2 {
		t.Fatalf("%d calls, err %v", len(up.calls), err)
	}
}

func TestLearningIsBounded(t *testing.T) {
	up := &refuser{refuse: map[string]string{}}
	l := Learn(up)
	for i := range 100 {
		f := "f" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		up.refuse = map[string]string{f: f + ": Extra inputs are not permitted"}
		l.Send(context.Background(), &llm.Request{Body: []byte(`{"messages":[],"` + f + `":1}`)})
	}
	if n := len(l.Learned()); n != maxLearned {
		t.Errorf("learned %d names, want the bound %d", n, maxLearned)
	}
}

func TestAcceptedFields(t *testing.T) {
	in := `{"model":"m","stream":true,"max_tokens":5,"messages":[],"brand_new_field":{"x":1},"thinking":{"type":"adaptive"}}`
	got, removed, _ := Default().For("bedrock").Apply([]byte(in))
	if string(got) != `{"model":"m","stream":true,"max_tokens":5,"messages":[],"thinking":{"type":"adaptive"}}` ||
		!slices.Equal(removed, []string{"field brand_new_field"}) {
		t.Errorf("bedrock: %s %q", got, removed)
	}
	for _, p := range []string{"anthropic", "vertex_ai"} {
		if got, _, _ := Default().For(p).Apply([]byte(in)); string(got) != in {
			t.Errorf("%s: %s", p, got)
		}
	}
}
