package bedrock

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

type writerToBody struct{ io.Reader }

func (writerToBody) WriteTo(io.Writer) (int64, error) { return 0, io.EOF }
func (writerToBody) Close() error                     { return nil }

type doFunc func(*http.Request) (*http.Response, error)

func (f doFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

// TestPlainBodyHidesWriteTo guards the PITFALLS #1 workaround: net/http must
// never see the SDK body's WriteTo.
func TestPlainBodyHidesWriteTo(t *testing.T) {
	req, _ := http.NewRequest(http.MethodPost, "http://x/", nil)
	req.Body = writerToBody{strings.NewReader("payload")}
	var sent *http.Request
	c := plainBody{next: doFunc(func(r *http.Request) (*http.Response, error) { sent = r; return nil, nil })}
	c.Do(req)
	if _, ok := sent.Body.(io.WriterTo); ok {
		t.Fatal("body still has WriteTo")
	}
	if b, _ := io.ReadAll(sent.Body); string(b) != "payload" {
		t.Errorf("body %q", b)
	}
	if _, ok := req.Body.(writerToBody); !ok {
		t.Error("caller's request modified")
	}
}
