package vertex

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/llm"
)

func TestUpstreamError(t *testing.T) {
	anthropic400 := `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: 200000 > 64000, which is the maximum allowed"}}`
	cases := []struct {
		name       string
		status     int
		header     http.Header
		body       string
		wantStatus int
		wantType   string
		wantMsg    string
		wantBody   string
		retryable  bool
		retryAfter time.Duration
		should     string
	}{
		{"quota", 429, http.Header{"Retry-After": {"7"}},
			`{"error":{"code":429,"message":"Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model","status":"RESOURCE_EXHAUSTED"}}`,
			429, llm.ErrRateLimit, "Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model", "", true, 7 * time.Second, ""},
		{"list-wrapped unavailable", 503, nil,
			`[{"error":{"code":503,"message":"The service is currently unavailable.","status":"UNAVAILABLE"}}]`,
			529, llm.ErrOverloaded, "The service is currently unavailable.", "", true, 0, ""},
		{"permission denied", 403, nil,
			`{"error":{"code":403,"message":"Permission 'aiplatform.endpoints.predict' denied","status":"PERMISSION_DENIED"}}`,
			403, llm.ErrPermission, "Permission 'aiplatform.endpoints.predict' denied", "", true, 0, ""},
		{"unauthenticated", 401, nil,
			`{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`,
			401, llm.ErrAuthentication, "Request had invalid authentication credentials.", "", true, 0, ""},
		{"not found", 404, nil,
			`{"error":{"code":404,"message":"Publisher Model not found.","status":"NOT_FOUND"}}`,
			404, llm.ErrNotFound, "Publisher Model not found.", "", false, 0, ""},
		{"invalid argument", 400, nil,
			`{"error":{"code":400,"message":"Bad request","status":"INVALID_ARGUMENT"}}`,
			400, llm.ErrInvalidRequest, "Bad request", "", false, 0, ""},
		{"deadline", 504, nil,
			`{"error":{"code":504,"message":"Deadline exceeded","status":"DEADLINE_EXCEEDED"}}`,
			504, llm.ErrTimeout, "Deadline exceeded", "", true, 0, ""},
		{"internal", 500, http.Header{"X-Should-Retry": {"false"}},
			`{"error":{"code":500,"message":"Internal error encountered.","status":"INTERNAL"}}`,
			500, llm.ErrAPI, "Internal error encountered.", "", true, 0, "false"},
		{"retry info detail", 429, nil,
			`{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"RATE_LIMIT_EXCEEDED"},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"2.5s"}]}}`,
			429, llm.ErrRateLimit, "slow down", "", true, 2500 * time.Millisecond, ""},
		{"unknown google status uses code", 502, nil,
			`{"error":{"code":502,"message":"bad gateway"}}`,
			502, llm.ErrAPI, "bad gateway", "", true, 0, ""},
		{"anthropic-shaped passes through", 400, nil, anthropic400,
			400, llm.ErrInvalidRequest, "max_tokens: 200000 > 64000, which is the maximum allowed", anthropic400, false, 0, ""},
		{"anthropic overloaded passes through", 529, http.Header{"Retry-After": {"3"}},
			`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
			529, llm.ErrOverloaded, "Overloaded", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, true, 3 * time.Second, ""},
		{"html from a front end", 502, nil, "<html><body>\n<h1>502 Bad Gateway</h1></body></html>",
			502, llm.ErrAPI, "vertex: upstream answered 502: <html><body> <h1>502 Bad Gateway</h1></body></html>", "", true, 0, ""},
		{"empty 503", 503, nil, "", 503, llm.ErrOverloaded, "vertex: upstream answered 503", "", true, 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := c.header
			if h == nil {
				h = http.Header{}
			}
			e := upstreamError(&http.Response{StatusCode: c.status, Header: h, Body: io.NopCloser(strings.NewReader(c.body))})
			if e.Status != c.wantStatus || e.Type != c.wantType || e.Message != c.wantMsg {
				t.Errorf("got %d %s %q, want %d %s %q", e.Status, e.Type, e.Message, c.wantStatus, c.wantType, c.wantMsg)
			}
			if string(e.Body) != c.wantBody {
				t.Errorf("body %s, want %s", e.Body, c.wantBody)
			}
			if e.Retryable != c.retryable || e.RetryAfter != c.retryAfter || e.ShouldRetry != c.should {
				t.Errorf("retryable %v after %v should %q, want %v %v %q", e.Retryable, e.RetryAfter, e.ShouldRetry, c.retryable, c.retryAfter, c.should)
			}
			if c.wantBody == "" {
				// The client still gets an Anthropic-shaped body.
				if got := string(e.JSON()); !strings.Contains(got, `"type":"error"`) || !strings.Contains(got, c.wantType) {
					t.Errorf("JSON() = %s", got)
				}
			}
		})
	}
}

func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                              0,
		"12":                            12 * time.Second,
		"0.5":                           500 * time.Millisecond,
		"-3":                            0,
		"soon":                          0,
		"Fri, 02 Jan 2026 03:04:35 GMT": 30 * time.Second,
		"Fri, 02 Jan 2026 03:00:00 GMT": 0,
	}
	for v, want := range cases {
		h := http.Header{}
		if v != "" {
			h.Set("Retry-After", v)
		}
		if got := retryAfterHeader(h, now); got != want {
			t.Errorf("Retry-After %q: %v, want %v", v, got, want)
		}
	}
}
