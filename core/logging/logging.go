// Package logging builds the gateway's structured JSON logger in the field
// layout each runtime's log service reads natively:
//
//   - Cloud Logging (Cloud Run, local): "severity", "message", "time", and
//     for lines logged with a request's context "logging.googleapis.com/trace"
//     (projects/P/traces/T), "logging.googleapis.com/spanId" and
//     "logging.googleapis.com/trace_sampled", so Cloud Logging groups a
//     request's lines under its trace.
//   - Lambda (CloudWatch Logs): "level", "message", "timestamp" and the
//     invocation's "requestId", the fields Logs Insights queries on, the
//     same names as Lambda's own JSON log format.
//
// The request's trace and request id travel in its context (WithTrace,
// WithRequestID, or an OpenTelemetry span), so only lines logged with
// InfoContext and friends carry them.
package logging

import (
	"context"
	"io"
	"log/slog"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// ParseLevel reads debug, info, warn or error (default info).
func ParseLevel(s string) slog.Level {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Format is a log line layout.
type Format int

const (
	// CloudLogging is Google Cloud Logging's structured layout (the default).
	CloudLogging Format = iota
	// Lambda is CloudWatch Logs' layout as Lambda's JSON log format writes it.
	Lambda
)

// Options configure NewWith.
type Options struct {
	Level  slog.Level
	Format Format
	// ProjectID qualifies Cloud Logging trace names (projects/ID/traces/T);
	// without it lines carry no trace field (Cloud Logging links a trace
	// only by its full resource name).
	ProjectID string
}

// New returns a Cloud Logging-shaped JSON logger writing to w at level.
func New(w io.Writer, level slog.Level) *slog.Logger {
	return NewWith(w, Options{Level: level})
}

// NewWith returns a JSON logger writing to w in opts' layout.
func NewWith(w io.Writer, opts Options) *slog.Logger {
	levelKey, timeKey := "severity", "time"
	if opts.Format == Lambda {
		levelKey, timeKey = "level", "timestamp"
	}
	inner := slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: opts.Level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.LevelKey:
				a.Key = levelKey
				if lv, ok := a.Value.Any().(slog.Level); ok && lv == slog.LevelWarn && opts.Format == CloudLogging {
					a.Value = slog.StringValue("WARNING") // Cloud Logging's LogSeverity name
				}
			case slog.MessageKey:
				a.Key = "message"
			case slog.TimeKey:
				a.Key = timeKey
			}
			return a
		},
	})
	return slog.New(&contextHandler{inner: inner, opts: opts})
}

// contextHandler adds what the record's context knows about its request
// (trace, request id) as top-level fields.
type contextHandler struct {
	inner slog.Handler
	opts  Options
	// grouped: a WithGroup happened, so added fields would land inside the
	// group; they are then left out rather than misplaced.
	grouped bool
}

func (h *contextHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil && !h.grouped {
		switch h.opts.Format {
		case Lambda:
			if id := RequestID(ctx); id != "" {
				r.AddAttrs(slog.String("requestId", id))
			}
		default:
			if t, ok := traceOf(ctx); ok && h.opts.ProjectID != "" {
				r.AddAttrs(slog.String("logging.googleapis.com/trace", "projects/"+h.opts.ProjectID+"/traces/"+t.TraceID))
				if t.SpanID != "" {
					r.AddAttrs(slog.String("logging.googleapis.com/spanId", t.SpanID))
				}
				r.AddAttrs(slog.Bool("logging.googleapis.com/trace_sampled", t.Sampled))
			}
		}
	}
	return h.inner.Handle(ctx, r)
}

func (h *contextHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &contextHandler{inner: h.inner.WithAttrs(as), opts: h.opts, grouped: h.grouped}
}

func (h *contextHandler) WithGroup(name string) slog.Handler {
	return &contextHandler{inner: h.inner.WithGroup(name), opts: h.opts, grouped: true}
}

// traceOf prefers the request's OpenTelemetry span (the gateway's own
// server span, when tracing is on) over the headers it arrived with.
func traceOf(ctx context.Context) (Trace, bool) {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		return Trace{TraceID: sc.TraceID().String(), SpanID: sc.SpanID().String(), Sampled: sc.IsSampled()}, true
	}
	t, ok := ctx.Value(traceKey{}).(Trace)
	return t, ok
}
