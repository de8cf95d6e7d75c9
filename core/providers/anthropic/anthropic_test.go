package anthropic

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/llm"
)

func TestAPIBase(t *testing.T) {
	cases := map[string]string{
		"":                               DefaultBase,
		"https://proxy.example.com/v1":   "https://proxy.example.com",
		"https://proxy.example.com/ant/": "https://proxy.example.com/ant",
		"http://127.0.0.1:8080?x=1":      "http://127.0.0.1:8080",
	}
	for in, want := range cases {
		p, err := New(context.Background(), config.Deployment{Params: config.Params{APIBase: in}}, Options{})
		if err != nil || p.Endpoint() != want {
			t.Errorf("%q: %v %v, want %s", in, p.Endpoint(), err, want)
		}
	}
	for _, bad := range []string{"ftp://x", "not a url", "https://"} {
		if _, err := New(context.Background(), config.Deployment{Params: config.Params{APIBase: bad}}, Options{}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestErrorFromResponse(t *testing.T) {
	h := http.Header{}
	h.Set("Retry-After", "3")
	cases := []struct {
		status    int
		body      string
		wantType  string
		keepBody  bool
		retryable bool
	}{
		{429, `{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}`, "rate_limit_error", true, true},
		{529, `{"type":"error","error":{"type":"overloaded_error","message":"busy"}}`, "overloaded_error", true, true},
		{400, `{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}`, "invalid_request_error", true, false},
		{502, `<html>bad gateway</html>`, "api_error", false, true},
	}
	for _, c := range cases {
		e := ErrorFromResponse(c.status, h, []byte(c.body))
		if e.Type != c.wantType || (len(e.Body) > 0) != c.keepBody || e.Retryable != c.retryable || e.RetryAfter != 3*time.Second {
			t.Errorf("%d: %+v", c.status, e)
		}
	}
}

func TestUnreachableIsRetryable(t *testing.T) {
	p, _ := New(context.Background(), config.Deployment{Params: config.Params{APIBase: "http://127.0.0.1:1", UpstreamModel: "m"}}, Options{})
	_, err := p.Send(context.Background(), &llm.Request{Body: []byte(`{"model":"x"}`)})
	var le *llm.Error
	if !errors.As(err, &le) || !le.Retryable || le.Status != 502 {
		t.Fatalf("err %v", err)
	}
}
