package server

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/spend"
)

// Observer sees each API request, for metrics, traces and access logs. It is
// defined here so the server needs no telemetry library. Both calls are on
// the request path: an Observer must return quickly and never block on the
// network.
type Observer interface {
	// Start is called when a request arrives; the context it returns is the
	// request's from then on (a tracer continues the client's traceparent
	// there). Returning ctx itself costs the request nothing.
	Start(ctx context.Context, r *http.Request) context.Context
	// Finish is called once per request, after its spend record is made.
	Finish(ctx context.Context, c Call)
}

// Call is what an Observer learns about one finished request: its spend
// record (no secrets: the key only as a hash) plus what the record lacks.
type Call struct {
	spend.Record
	// API is "messages", "count_tokens" or "chat".
	API string
	// UpstreamStatus is the last upstream HTTP status (0: none answered).
	UpstreamStatus int
	// Overhead is the time the gateway itself spent before the answer
	// (x-litellm-overhead-duration-ms).
	Overhead time.Duration
	// TTFT is the time to the first byte sent (0: none was sent).
	TTFT time.Duration
}

// nopObserver is the default Observer.
type nopObserver struct{}

func (nopObserver) Start(ctx context.Context, _ *http.Request) context.Context { return ctx }
func (nopObserver) Finish(context.Context, Call)                               {}

// observe starts r with the Observer, copying r only if its context changed.
func (s *Server) observe(r *http.Request) *http.Request {
	if ctx := s.obs.Start(r.Context(), r); ctx != r.Context() {
		return r.WithContext(ctx)
	}
	return r
}

// apiName names a call's API for metrics (a fixed set of values): the
// cloud-shaped routes count as the Messages API they carry.
func apiName(c *call) string {
	switch {
	case c.endpoint == "/v1/chat/completions" || c.endpoint == "/chat/completions":
		return "chat"
	case c.endpoint == "/v1/messages/count_tokens" || strings.Contains(c.endpoint, "count-tokens") ||
		c.req != nil && c.req.Kind == llm.KindCountTokens:
		return "count_tokens"
	}
	return "messages"
}
