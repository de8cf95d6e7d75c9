package server

import (
	"net/http"
	"regexp"
	"testing"

	"github.com/claude-gateway/claude-gateway/core/llm"
)

func TestParseMessagesRequest(t *testing.T) {
	h := http.Header{}
	h.Set("anthropic-beta", "a, b")
	h.Add("anthropic-beta", "c")
	cases := []struct {
		body    string
		kind    llm.Kind
		wantErr string
		stream  bool
		session string
	}{
		{`{"model":"m","max_tokens":5,"messages":[],"stream":true,"metadata":{"user_id":"u1"}}`, llm.KindMessages, "", true, "u1"},
		{`{"model":"m","messages":[]}`, llm.KindCountTokens, "", false, ""},
		{`{"model":"m","messages":[],"stream":true}`, llm.KindCountTokens, "", false, ""},
		{`[1]`, llm.KindMessages, "JSON object", false, ""},
		{`{"model":1,"max_tokens":5,"messages":[]}`, llm.KindMessages, "model: Input should be", false, ""},
		{`{"model":"m","max_tokens":0,"messages":[]}`, llm.KindMessages, "max_tokens: Input should be", false, ""},
		{`{"model":"m","max_tokens":5,"messages":{}}`, llm.KindMessages, "messages: Input should be a valid list", false, ""},
		{`{"model":"m","max_tokens":5,"messages":[],"stream":"yes"}`, llm.KindMessages, "stream: Input should be", false, ""},
	}
	for _, c := range cases {
		req, err := parseMessagesRequest([]byte(c.body), c.kind, h)
		if c.wantErr != "" {
			if err == nil || err.Status != 400 || !regexp.MustCompile(regexp.QuoteMeta(c.wantErr)).MatchString(err.Message) {
				t.Errorf("%s: err %v, want %q", c.body, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.body, err)
			continue
		}
		if req.Model != "m" || req.Stream != c.stream || req.SessionID != c.session || len(req.Betas) != 3 {
			t.Errorf("%s: %+v", c.body, req)
		}
	}
}

func TestCallIDIsTimeOrderedUUIDv7(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	prev := ""
	for i := 0; i < 100; i++ {
		id := newCallID()
		if !re.MatchString(id) {
			t.Fatalf("%q is not a UUIDv7", id)
		}
		if id[:13] < prev {
			t.Fatalf("ids not time-ordered: %s after %s", id, prev)
		}
		prev = id[:13]
	}
}

func TestClientKey(t *testing.T) {
	cases := []struct{ auth, xkey, want string }{
		{"Bearer sk-1", "", "sk-1"},
		{"bearer sk-2 ", "", "sk-2"},
		{"", "sk-3", "sk-3"},
		{"Basic abc", "sk-4", "sk-4"},
	}
	for _, c := range cases {
		r, _ := http.NewRequest("GET", "/", nil)
		if c.auth != "" {
			r.Header.Set("Authorization", c.auth)
		}
		if c.xkey != "" {
			r.Header.Set("x-api-key", c.xkey)
		}
		if got := clientKey(r); got != c.want {
			t.Errorf("%+v: got %q", c, got)
		}
	}
}
