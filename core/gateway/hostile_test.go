package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/tidwall/gjson"
)

// hostileRequest is one entry of testdata/hostile_requests.json: a request
// a client should never send, and the answer it must get.
type hostileRequest struct {
	Name    string            `json:"name"`
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Headers map[string]string `json:"headers"`
	Body    *string           `json:"body"`
	BodyB64 string            `json:"body_b64"`
	// Gen builds a big body: prefix, unit × times, suffix, close × times, tail.
	Gen *struct {
		Prefix, Unit, Suffix, Close, Tail string
		Times                             int
	} `json:"gen"`
	// Raw is a whole HTTP/1.1 request written to the socket as is (KEY is
	// the master key): framing net/http's client refuses to produce.
	Raw     string `json:"raw"`
	Chunked bool   `json:"chunked"`
	NoAuth  bool   `json:"no_auth"`
	Status  int    `json:"status"`
	// Type is the error type the body must carry (null: any).
	Type *string `json:"type"`
	// Shape is the route's error shape: anthropic, openai, bedrock, google,
	// admin, or none (net/http's own refusal of broken framing).
	Shape string `json:"shape"`
}

func (h hostileRequest) body() []byte {
	switch {
	case h.Body != nil:
		return []byte(*h.Body)
	case h.BodyB64 != "":
		b, _ := base64.StdEncoding.DecodeString(h.BodyB64)
		return b
	case h.Gen != nil:
		g := h.Gen
		return []byte(g.Prefix + strings.Repeat(g.Unit, g.Times) + g.Suffix + strings.Repeat(g.Close, g.Times) + g.Tail)
	}
	return nil
}

// send makes the request with payload (its body()) and returns the status,
// headers and body of the answer.
func (h hostileRequest) send(ctx context.Context, base string, payload []byte) (int, http.Header, []byte, error) {
	if h.Raw != "" {
		return sendRaw(ctx, base, strings.ReplaceAll(h.Raw, "KEY", masterKey))
	}
	var body io.Reader = bytes.NewReader(payload)
	if h.Chunked {
		body = io.MultiReader(body) // no length known: chunked
	}
	req, err := http.NewRequestWithContext(ctx, h.Method, base+h.Path, body)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("anthropic-version", "2023-06-01")
	if !h.NoAuth {
		req.Header.Set("x-api-key", masterKey)
	}
	for k, v := range h.Headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

func sendRaw(ctx context.Context, base, raw string) (int, http.Header, []byte, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		return 0, nil, nil, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if _, err := io.WriteString(c, raw); err != nil {
		return 0, nil, nil, err
	}
	// The client has said all it will: a body shorter than its
	// Content-Length ends here, not in a wait for the read timeout.
	c.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

// shapeProblem says what is wrong with an error body for its route's shape.
func (h hostileRequest) shapeProblem(status int, hdr http.Header, b []byte) string {
	want := ""
	if h.Type != nil {
		want = *h.Type
	}
	var typ, msg string
	switch h.Shape {
	case "none":
		return ""
	case "anthropic":
		if gjson.GetBytes(b, "type").String() != "error" {
			return "not Anthropic's error shape"
		}
		typ, msg = gjson.GetBytes(b, "error.type").String(), gjson.GetBytes(b, "error.message").String()
	case "openai", "admin":
		typ, msg = gjson.GetBytes(b, "error.type").String(), gjson.GetBytes(b, "error.message").String()
	case "bedrock":
		typ, msg = hdr.Get("x-amzn-errortype"), gjson.GetBytes(b, "message").String()
		if typ == "" {
			return "no x-amzn-errortype"
		}
	case "google":
		if gjson.GetBytes(b, "error.code").Int() != int64(status) {
			return "error.code is not the status"
		}
		typ, msg = gjson.GetBytes(b, "error.status").String(), gjson.GetBytes(b, "error.message").String()
	default:
		return "unknown shape " + h.Shape
	}
	switch {
	case !json.Valid(b):
		return "body is not JSON"
	case msg == "":
		return "no error message"
	case want != "" && typ != want:
		return fmt.Sprintf("error type %q, want %q", typ, want)
	}
	return ""
}

// The hostile corpus (testdata/hostile_requests.json, at least 100
// requests across every route): each gets its 4xx in the route's error
// shape within a second, none a 5xx, a hang or a panic, and the gateway
// serves normally after each.
func TestHostileRequests(t *testing.T) {
	data, err := os.ReadFile("testdata/hostile_requests.json")
	if err != nil {
		t.Fatal(err)
	}
	var corpus []hostileRequest
	if err := json.Unmarshal(data, &corpus); err != nil {
		t.Fatal(err)
	}
	if len(corpus) < 100 {
		t.Fatalf("%d requests in the corpus, want at least 100", len(corpus))
	}
	var logs bytes.Buffer
	gw := buildGateway(t, `
model_list:
  - model_name: claude-sonnet
    litellm_params: {model: simulated/claude-sonnet, output_tokens: 2}
general_settings:
  master_key: os.environ/MASTER
`, gateway.Options{Logger: newLogger(&logs)})
	srv := httptest.NewServer(gw)
	t.Cleanup(func() { srv.Close(); gw.Close(context.Background()) })
	for _, h := range corpus {
		t.Run(h.Name, func(t *testing.T) {
			limit := time.Second
			if h.Gen != nil && h.Gen.Times >= 1<<20 {
				limit = 3 * time.Second // the client itself needs time to write 40 MiB under -race
			}
			ctx, cancel := context.WithTimeout(context.Background(), limit+5*time.Second)
			defer cancel()
			payload := h.body()
			start := time.Now()
			status, hdr, b, err := h.send(ctx, srv.URL, payload)
			if el := time.Since(start); el > limit {
				t.Errorf("answered after %v", el)
			}
			if err != nil && status == 0 {
				t.Fatalf("no answer: %v", err)
			}
			if status != h.Status {
				t.Errorf("status %d, want %d: %.300s", status, h.Status, b)
			} else if p := h.shapeProblem(status, hdr, b); p != "" {
				t.Errorf("%s: %.300s", p, b)
			}
			resp := post(t, srv.URL+"/v1/messages", strings.Replace(simpleBody, `"stream":true`, `"stream":false`, 1), nil)
			if ok, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 {
				t.Fatalf("served %d after it: %s", resp.StatusCode, ok)
			}
		})
	}
	if strings.Contains(logs.String(), "panic") {
		t.Errorf("a panic was logged:\n%s", logs.String())
	}
}

// newLogger logs everything, debug included, as JSON into w.
func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(&lockedWriter{w: w}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// lockedWriter serialises writes from concurrent handlers.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
