package bedrock

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/llm"
)

// TestAPIErrorMapping: an error answer of bedrock-runtime, in any of the
// forms AWS uses for the exception's name, becomes the status and type a
// client of the Anthropic API expects.
func TestAPIErrorMapping(t *testing.T) {
	cases := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		wantStatus int
		wantType   string
		wantMsg    string
		retryable  bool
		retryAfter time.Duration
	}{
		{"header code", 429, map[string]string{"X-Amzn-Errortype": "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/", "Retry-After": "3"},
			`{"message":"Too many requests, please wait before trying again."}`, 429, llm.ErrRateLimit, "Too many requests, please wait before trying again.", true, 3 * time.Second},
		{"__type in body", 403, nil, `{"__type":"com.amazon.coral.service#UnrecognizedClientException","message":"The security token included in the request is invalid."}`,
			403, llm.ErrPermission, "The security token included in the request is invalid.", true, 0}, // another deployment has other credentials
		{"code and Message", 400, nil, `{"code":"ValidationException","Message":"Malformed input request"}`, 400, llm.ErrInvalidRequest, "Malformed input request", false, 0},
		{"not AWS at all", 502, nil, `<html>bad gateway</html>`, 502, llm.TypeForStatus(502), "Bad Gateway", true, 0},
		{"model error with the model's status", 424, map[string]string{"X-Amzn-Errortype": "ModelErrorException"},
			`{"message":"The model returned an error","originalStatusCode":400,"resourceName":"m"}`, 400, llm.TypeForStatus(400), "The model returned an error", false, 0},
		{"model error without", 424, map[string]string{"X-Amzn-Errortype": "ModelErrorException"}, `{"message":"boom"}`, 424, llm.TypeForStatus(424), "boom", false, 0},
		{"unknown exception keeps the status", 503, map[string]string{"X-Amzn-Errortype": "SomethingNewException"}, `{"message":"new"}`, 503, llm.TypeForStatus(503), "new", true, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range c.header {
				h.Set(k, v)
			}
			err := upstreamError(context.Background(), newAPIError(c.status, h, []byte(c.body)))
			le, ok := err.(*llm.Error)
			if !ok {
				t.Fatalf("got %T %v", err, err)
			}
			if le.Status != c.wantStatus || le.Type != c.wantType || le.Message != c.wantMsg || le.Retryable != c.retryable || le.RetryAfter != c.retryAfter {
				t.Errorf("got status %d type %q message %q retryable %v retry-after %v", le.Status, le.Type, le.Message, le.Retryable, le.RetryAfter)
			}
		})
	}
}

func TestRegionalHostRefusesNonLabels(t *testing.T) {
	for _, r := range []string{"", "us-east-1.evil.example", "us-east-1/x", "US-EAST-1", "-us-east-1", "us east 1"} {
		if h, err := regionalHost(r, false, false); err == nil {
			t.Errorf("region %q gave host %s", r, h)
		}
	}
	if h, err := regionalHost("ap-southeast-2", false, false); err != nil || h != "bedrock-runtime.ap-southeast-2.amazonaws.com" {
		t.Errorf("ap-southeast-2: %s %v", h, err)
	}
}
