// Package recovery turns a panic in an HTTP handler into a logged, well-formed
// answer instead of a dead process.
//
// net/http recovers handler panics itself (and cuts the connection), but the
// Lambda function-URL adapter (lambdaurl) runs the handler in a goroutine of
// its own and does not: one panic there kills the runtime, every stream in
// the instance with it, and the client sees a bare 502. Wrapping the gateway
// with Handler keeps both entry points answering the same way.
package recovery

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/sse"
)

// Handler calls next and, if it panics, logs the panic with its stack and
// answers in Anthropic's shape: a 500 api_error when no header was sent yet,
// or a final SSE error event when an event stream had already started (so a
// client never takes a cut stream for a whole answer). Any other response
// already under way is simply ended. http.ErrAbortHandler is a deliberate
// abort, not a bug: it is passed on so net/http cuts the connection.
func Handler(next http.Handler, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw := &trackingWriter{ResponseWriter: w}
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p)
			}
			log.Error("handler panicked", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if !tw.wrote {
				h := w.Header()
				for k := range h {
					delete(h, k)
				}
				h.Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = w.Write(llm.ErrorBody(llm.ErrAPI, "internal error in the gateway"))
				return
			}
			if strings.HasPrefix(w.Header().Get("Content-Type"), "text/event-stream") {
				_ = sse.Write(w, sse.ErrorEvent(llm.ErrAPI, "internal error in the gateway"))
				_ = http.NewResponseController(w).Flush()
			}
		}()
		next.ServeHTTP(tw, r)
	})
}

// trackingWriter records whether the status line has gone out. It unwraps
// for http.ResponseController, so Flush still reaches the real writer.
type trackingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (t *trackingWriter) WriteHeader(code int) {
	// 1xx informational headers do not commit the response.
	if code >= 200 {
		t.wrote = true
	}
	t.ResponseWriter.WriteHeader(code)
}

func (t *trackingWriter) Write(b []byte) (int, error) {
	t.wrote = true
	return t.ResponseWriter.Write(b)
}

// Unwrap lets http.NewResponseController find Flush and deadlines underneath.
func (t *trackingWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }
