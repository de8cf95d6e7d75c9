// Package deadlinemargin ends each request a margin before the hard
// deadline of the invocation serving it, so that the gateway still answers
// and records it.
//
// AWS Lambda kills an invocation at its deadline (the function timeout;
// Lambda-Runtime-Deadline-Ms, which aws-lambda-go makes the request
// context's deadline). A stream still running then is cut with no error
// event, and the spend record, written when the request ends, is lost.
// Handler ends the request's context Margin earlier, with a 504
// timeout_error as its cause: core/server answers that error (Anthropic's
// or OpenAI's shape) before the first byte and an SSE error event after it.
// The spend record is written, and the gateway's buffered writes flushed,
// before the handler returns, all bounded to end well before the deadline.
package deadlinemargin

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/spend"
)

// DefaultMargin is the time kept back for answering, recording and flushing:
// a store write takes milliseconds, a slow one up to about a second.
const DefaultMargin = 1500 * time.Millisecond

// maxMargin is Lambda's longest function timeout.
const maxMargin = 900 * time.Second

// defaultFlushBudget bounds Flush for a request with no deadline at all.
const defaultFlushBudget = 2 * time.Second

// Plan is one request's schedule under a hard deadline.
type Plan struct {
	// End is when the request's context ends (zero: it is left alone).
	End time.Time
	// FlushBy is when its spend record and the gateway's buffered writes
	// must be done (zero: no bound but the Flush budget).
	FlushBy time.Time
}

// PlanFor schedules a request that arrives at now with a hard deadline
// (ok false: none, as off Lambda). The rule: keep back margin, but never
// more than half of the time left, so a short remainder still serves what
// it can; of what is kept back, three quarters are for the error, the spend
// record and the flush, one quarter for the handler to return and the
// runtime to post the response's end. A margin of 0 or less turns it off.
func PlanFor(deadline time.Time, ok bool, margin time.Duration, now time.Time) Plan {
	if !ok || margin <= 0 {
		return Plan{}
	}
	left := deadline.Sub(now)
	if left <= 0 {
		return Plan{End: deadline, FlushBy: deadline}
	}
	keep := min(margin, left/2)
	return Plan{End: deadline.Add(-keep), FlushBy: deadline.Add(-keep / 4)}
}

// TimeoutError is the cause a request's context ends with at Plan.End: what
// the client is told.
func TimeoutError() *llm.Error {
	return &llm.Error{Status: http.StatusGatewayTimeout, Type: llm.ErrTimeout,
		Message: "the request reached the gateway's time limit (its Lambda invocation's deadline) before the upstream finished"}
}

// Options configure Handler.
type Options struct {
	// Margin is kept back before the deadline (see PlanFor); 0 turns it off.
	Margin time.Duration
	// Flush, if set, runs after each request, before the handler returns,
	// with a context ending at Plan.FlushBy: it drains what the gateway
	// writes in the background (Lambda freezes the instance once the
	// invocation ends, and a write under way then is lost or late).
	Flush  func(context.Context) error
	Logger *slog.Logger
}

// Handler runs next with each request's context ending Plan.End and its
// spend record due by Plan.FlushBy (spend.WithWriteDeadline), then Flush.
func Handler(next http.Handler, o Options) http.Handler {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dl, ok := r.Context().Deadline()
		p := PlanFor(dl, ok, o.Margin, time.Now())
		if !p.End.IsZero() {
			ctx, cancel := context.WithDeadlineCause(r.Context(), p.End, TimeoutError())
			defer cancel()
			r = r.WithContext(spend.WithWriteDeadline(ctx, p.FlushBy))
		}
		next.ServeHTTP(w, r)
		if o.Flush == nil {
			return
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), defaultFlushBudget)
		defer cancel()
		if !p.FlushBy.IsZero() {
			fctx, cancel = context.WithDeadline(fctx, p.FlushBy)
			defer cancel()
		}
		if err := o.Flush(fctx); err != nil {
			log.WarnContext(r.Context(), "flush after the request did not finish", "error", err.Error())
		}
	})
}

// ParseMargin reads a margin as seconds ("1.5") or a Go duration ("1500ms").
func ParseMargin(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if !(f >= 0 && f <= maxMargin.Seconds()) { // NaN too
			return 0, fmt.Errorf("want 0 to %v seconds, got %q", maxMargin.Seconds(), s)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > maxMargin {
		return 0, fmt.Errorf("want seconds (\"1.5\") or a duration (\"1500ms\"), got %q", s)
	}
	return d, nil
}
