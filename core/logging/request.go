package logging

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Trace identifies the trace a request belongs to, as hex strings (a
// 32-digit trace id, a 16-digit span id).
type Trace struct {
	TraceID, SpanID string
	Sampled         bool
}

type traceKey struct{}

type requestIDKey struct{}

// WithTrace returns ctx carrying t for the log lines logged with it.
func WithTrace(ctx context.Context, t Trace) context.Context {
	return context.WithValue(ctx, traceKey{}, t)
}

// WithRequestID returns ctx carrying a runtime's request id (Lambda's
// invocation id) for the log lines and metric lines logged with it.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id ctx carries ("" if none).
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// TraceFromHeaders reads a W3C traceparent, else Google's
// X-Cloud-Trace-Context ("TRACE/SPAN;o=1", SPAN in decimal), which Cloud
// Run's front end adds to every request it forwards.
func TraceFromHeaders(h http.Header) (Trace, bool) {
	if t, ok := parseTraceparent(h.Get("traceparent")); ok {
		return t, true
	}
	return parseCloudTrace(h.Get("X-Cloud-Trace-Context"))
}

// parseTraceparent reads "00-<32 hex>-<16 hex>-<2 hex flags>".
func parseTraceparent(v string) (Trace, bool) {
	parts := strings.Split(strings.TrimSpace(v), "-")
	if len(parts) < 4 || len(parts[0]) != 2 || parts[0] == "ff" || !isHex(parts[1], 32) || !isHex(parts[2], 16) || !isHex(parts[3], 2) {
		return Trace{}, false
	}
	if allZero(parts[1]) || allZero(parts[2]) {
		return Trace{}, false
	}
	flags, _ := strconv.ParseUint(parts[3], 16, 8)
	return Trace{TraceID: strings.ToLower(parts[1]), SpanID: strings.ToLower(parts[2]), Sampled: flags&1 == 1}, true
}

// parseCloudTrace reads X-Cloud-Trace-Context.
func parseCloudTrace(v string) (Trace, bool) {
	v = strings.TrimSpace(v)
	id, rest, _ := strings.Cut(v, "/")
	if !isHex(id, 32) || allZero(id) {
		return Trace{}, false
	}
	t := Trace{TraceID: strings.ToLower(id)}
	span, opts, _ := strings.Cut(rest, ";")
	if n, err := strconv.ParseUint(span, 10, 64); err == nil && n != 0 {
		t.SpanID = strconv.FormatUint(n, 16)
		t.SpanID = strings.Repeat("0", 16-len(t.SpanID)) + t.SpanID
	}
	t.Sampled = strings.TrimSpace(opts) == "o=1"
	return t, true
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func allZero(s string) bool { return strings.Trim(s, "0") == "" }

// ProjectFromEnv is the Google Cloud project named by the environment
// (GOOGLE_CLOUD_PROJECT, else GCP_PROJECT, else CLOUDSDK_CORE_PROJECT), ""
// if none: the gateway asks no metadata server at start.
func ProjectFromEnv(getenv func(string) string) string {
	for _, k := range []string{"GOOGLE_CLOUD_PROJECT", "GCP_PROJECT", "CLOUDSDK_CORE_PROJECT"} {
		if v := getenv(k); v != "" {
			return v
		}
	}
	return ""
}

// Traced puts the trace of each request's headers (TraceFromHeaders) in
// its context, so every line logged with it joins the request's trace in
// Cloud Logging even with tracing off.
func Traced(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t, ok := TraceFromHeaders(r.Header); ok {
			r = r.WithContext(WithTrace(r.Context(), t))
		}
		next.ServeHTTP(w, r)
	})
}

// HTTPRequest is the access log's "httpRequest" group, in the field names
// of Cloud Logging's HttpRequest (which it shows as the line's request
// summary); the names read as plain fields in CloudWatch too.
func HTTPRequest(r *http.Request, status int, latency time.Duration) slog.Attr {
	attrs := make([]slog.Attr, 0, 8)
	attrs = append(attrs, slog.String("requestMethod", r.Method), slog.String("requestUrl", r.URL.RequestURI()),
		slog.Int("status", status), slog.String("latency", strconv.FormatFloat(latency.Seconds(), 'f', 6, 64)+"s"),
		slog.String("protocol", r.Proto))
	if r.ContentLength > 0 {
		attrs = append(attrs, slog.String("requestSize", strconv.FormatInt(r.ContentLength, 10)))
	}
	if ua := r.UserAgent(); ua != "" {
		attrs = append(attrs, slog.String("userAgent", ua))
	}
	if ip := remoteIP(r); ip != "" {
		attrs = append(attrs, slog.String("remoteIp", ip))
	}
	return slog.Attr{Key: "httpRequest", Value: slog.GroupValue(attrs...)}
}

// remoteIP is the client's address: the first X-Forwarded-For hop when a
// front end (Cloud Run, a function URL) adds one, else the peer.
func remoteIP(r *http.Request) string {
	if f := r.Header.Get("X-Forwarded-For"); f != "" {
		ip, _, _ := strings.Cut(f, ",")
		return strings.TrimSpace(ip)
	}
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}
