package gateway_test

import (
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/tidwall/gjson"
)

// Input that readers could take two ways is refused with a 400 naming the
// problem, in the route's error shape, never guessed and served.
func TestAmbiguousInputRefused(t *testing.T) {
	gw := startGateway(t, `
model_list:
  - model_name: claude-sonnet
    litellm_params: {model: simulated/claude-sonnet-4-5, output_tokens: 3}
  - model_name: claude-haiku
    litellm_params: {model: simulated/claude-haiku-4-5, output_tokens: 3}
general_settings:
  master_key: os.environ/MASTER
`, gateway.Options{})
	const (
		msgs  = `"messages":[{"role":"user","content":"hi"}]`
		chat  = "/v1/chat/completions"
		count = "/v1/messages/count_tokens"
		msg   = "/v1/messages"
	)
	anthropic := func(fields string) string { return `{"model":"claude-sonnet",` + fields + `,` + msgs + `}` }
	cases := []struct {
		name, path, body string
		status           int
		msgHas           string // in error.message; "" for a served request
	}{
		{"control", msg, anthropic(`"max_tokens":100`), 200, ""},
		{"control max_tokens at limit", msg, anthropic(`"max_tokens":2147483647`), 200, ""},
		{"control integral exponent", msg, anthropic(`"max_tokens":1e2`), 200, ""},
		{"control count", count, anthropic(`"system":"s"`), 200, ""},
		{"control chat", chat, anthropic(`"max_tokens":100`), 200, ""},

		{"duplicate model", msg, `{"model":"claude-sonnet","model":"claude-haiku","max_tokens":1,` + msgs + `}`, 400, "model: key given more than once"},
		{"duplicate model escaped", msg, `{"model":"claude-sonnet","mod\u0065l":"claude-haiku","max_tokens":1,` + msgs + `}`, 400, "model: key given more than once"},
		{"duplicate max_tokens", msg, anthropic(`"max_tokens":1,"max_tokens":100000`), 400, "max_tokens: key given more than once"},
		{"duplicate messages", msg, anthropic(`"max_tokens":1,"messages":[]`), 400, "messages: key given more than once"},
		{"duplicate among many keys", msg, anthropic(`"max_tokens":1,` + manyKeys(40) + `,"k7":0`), 400, "k7: key given more than once"},
		{"invalid utf-8", msg, anthropic(`"max_tokens":1,"system":"` + "\xff\xfe" + `"`), 400, "UTF-8"},
		{"max_tokens 1e20", msg, anthropic(`"max_tokens":1e20`), 400, "max_tokens: Input should be less than or equal to 2147483647"},
		{"max_tokens over int32", msg, anthropic(`"max_tokens":2147483648`), 400, "max_tokens"},
		{"max_tokens -1", msg, anthropic(`"max_tokens":-1`), 400, "max_tokens: Input should be greater than or equal to 1"},
		{"max_tokens 0", msg, anthropic(`"max_tokens":0`), 400, "max_tokens"},
		{"max_tokens 1.5", msg, anthropic(`"max_tokens":1.5`), 400, "max_tokens: Input should be a valid integer"},
		{"max_tokens string", msg, anthropic(`"max_tokens":"100"`), 400, "max_tokens: Input should be a valid integer"},

		{"count duplicate model", count, `{"model":"claude-sonnet","model":"claude-haiku",` + msgs + `}`, 400, "model: key given more than once"},
		{"count invalid utf-8", count, anthropic(`"system":"` + "a\xc3" + `"`), 400, "UTF-8"},
		{"count max_tokens 1e20", count, anthropic(`"max_tokens":1e20`), 400, "max_tokens"},

		{"chat duplicate model", chat, `{"model":"claude-sonnet","model":"claude-haiku",` + msgs + `}`, 400, "model: key given more than once"},
		{"chat invalid utf-8", chat, anthropic(`"user":"` + "\xed\xa0\x80" + `"`), 400, "UTF-8"},
		{"chat max_tokens 1e20", chat, anthropic(`"max_tokens":1e20`), 400, "max_tokens"},
		{"chat max_tokens -1", chat, anthropic(`"max_tokens":-1`), 400, "max_tokens"},
		{"chat max_completion_tokens 1.5", chat, anthropic(`"max_completion_tokens":1.5`), 400, "max_completion_tokens"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := post(t, gw.URL+c.path, c.body, nil)
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			if c.msgHas == "" {
				return
			}
			if !gjson.ValidBytes(b) || gjson.GetBytes(b, "error.type").String() != "invalid_request_error" {
				t.Fatalf("error shape: %s", b)
			}
			// Anthropic's shape has "type":"error" at the top; OpenAI's has none.
			if wantTop := c.path != chat; gjson.GetBytes(b, "type").String() == "error" != wantTop {
				t.Fatalf("error shape for %s: %s", c.path, b)
			}
			if m := gjson.GetBytes(b, "error.message").String(); !strings.Contains(m, c.msgHas) {
				t.Fatalf("message %q, want it to name %q", m, c.msgHas)
			}
		})
	}
}

// manyKeys is n distinct top-level members k0..k(n-1), past keySet's scan.
func manyKeys(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k` + strconv.Itoa(i) + `":0`)
	}
	return b.String()
}
