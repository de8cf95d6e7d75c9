package server

import (
	"net/http"
	"testing"
	"unicode/utf8"

	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/tidwall/gjson"
)

// Whatever the body, the request parser either refuses it with a 400
// invalid_request_error naming the problem, or accepts a JSON object with a
// non-empty string model, a list of messages, valid UTF-8 and no key given
// twice: what routing, policy and the upstream read is then one thing.
func FuzzParseMessagesRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"claude-sonnet","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"claude-sonnet","max_tokens":100,"stream":true,"metadata":{"user_id":"u"},"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
		`{"model":"claude-sonnet","model":"claude-haiku","max_tokens":1,"messages":[]}`,
		`{"model":"m","max_tokens":1e20,"messages":[]}`,
		`{"model":"m","max_tokens":-1,"messages":[]}`,
		`{"model":"m","max_tokens":1.5,"messages":[]}`,
		"{\"model\":\"m\xff\",\"max_tokens\":1,\"messages\":[]}",
		`{"model":"m","max_tokens":1,"messages":{}}`,
		`{"model":"m","max_tokens":1,"messages":[],"stream":"yes"}`,
		`[1,2,3]`, `null`, `"x"`, `{`, ``, `{"model":`,
		`{"model":"../../admin?x=1#","max_tokens":1,"messages":[]}`,
		`{"a":{"a":{"a":{"a":{"a":[[[[[[[[[[]]]]]]]]]]}}}}}`,
	} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, messages bool) {
		kind := llm.KindMessages
		if !messages {
			kind = llm.KindCountTokens
		}
		req, e := parseMessagesRequest(body, kind, http.Header{})
		if e != nil {
			if e.Status != 400 || e.Type != llm.ErrInvalidRequest || e.Message == "" {
				t.Fatalf("refusal %+v", e)
			}
			return
		}
		root := gjson.ParseBytes(body)
		switch {
		case !utf8.Valid(body):
			t.Fatalf("accepted invalid UTF-8: %q", body)
		case !root.IsObject():
			t.Fatalf("accepted a non-object: %q", body)
		case req.Model == "" || req.Model != root.Get("model").Str:
			t.Fatalf("model %q from %q", req.Model, body)
		case !root.Get("messages").IsArray():
			t.Fatalf("accepted messages that are no list: %q", body)
		}
		seen := map[string]bool{}
		root.ForEach(func(k, _ gjson.Result) bool {
			if seen[k.String()] {
				t.Fatalf("accepted duplicate key %q: %q", k.String(), body)
			}
			seen[k.String()] = true
			return true
		})
		if kind == llm.KindMessages {
			mt := root.Get("max_tokens")
			if mt.Type != gjson.Number || mt.Num < 1 || mt.Num > maxTokensLimit || mt.Num != float64(int64(mt.Num)) {
				t.Fatalf("accepted max_tokens %s", mt.Raw)
			}
		}
	})
}
