package server

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/openai"
)

// endedBy is the error a request's context was ended with on purpose by the
// runtime serving it, or nil if it ended because the client left (or has
// not ended). A runtime with a hard deadline (AWS Lambda kills the
// invocation at its deadline) ends the request a little before it, with an
// *llm.Error as the context's cause (context.WithDeadlineCause): the client
// is still there, so it gets that error (before the first byte) or an error
// event (after it) instead of a silent cut.
func endedBy(ctx context.Context) *llm.Error {
	var le *llm.Error
	if ctx.Err() != nil && errors.As(context.Cause(ctx), &le) {
		return le
	}
	return nil
}

// writeError answers with e in the shape of the endpoint: OpenAI's on
// /v1/chat/completions (registered through Options.Extra / openAIError),
// Anthropic's everywhere else.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, e *llm.Error) {
	setRetryHeaders(w.Header(), e)
	if native := nativeErrorWriter(r.URL.Path); native != nil {
		native(w, e)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/v1/chat/") || strings.HasPrefix(r.URL.Path, "/chat/") {
		writeOpenAIError(w, e)
		return
	}
	writeAnthropicError(w, e)
}

func setRetryHeaders(h http.Header, e *llm.Error) {
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	if e.ShouldRetry != "" {
		h.Set("x-should-retry", e.ShouldRetry)
	}
}

func writeAnthropicError(w http.ResponseWriter, e *llm.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(clientStatus(e.Status))
	w.Write(e.JSON())
}

// writeOpenAIError renders e in OpenAI's shape {"error":{"message","type","param","code"}}.
func writeOpenAIError(w http.ResponseWriter, e *llm.Error) {
	writeOpenAI(w, openai.FromLLM(e))
}

// clientStatus keeps statuses inside what HTTP clients expect (499 is nginx's
// "client closed"; nobody reads it, but keep it valid).
func clientStatus(status int) int {
	if status < 400 || status > 599 {
		return 500
	}
	return status
}
