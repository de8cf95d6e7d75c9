package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
)

func TestTraceFromHeaders(t *testing.T) {
	tests := []struct {
		name    string
		headers map[string]string
		want    Trace
		ok      bool
	}{
		{"traceparent sampled", map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
			Trace{"4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", true}, true},
		{"traceparent not sampled, upper case", map[string]string{"traceparent": "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-00"},
			Trace{"4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", false}, true},
		{"cloud trace, decimal span", map[string]string{"X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000/1;o=1"},
			Trace{"105445aa7843bc8bf206b12000100000", "0000000000000001", true}, true},
		{"cloud trace, big span", map[string]string{"X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000/18446744073709551615;o=0"},
			Trace{"105445aa7843bc8bf206b12000100000", "ffffffffffffffff", false}, true},
		{"cloud trace without span", map[string]string{"X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000"},
			Trace{TraceID: "105445aa7843bc8bf206b12000100000"}, true},
		{"traceparent wins", map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
			"X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000/1;o=1"}, Trace{"4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", true}, true},
		{"bad traceparent falls back", map[string]string{"traceparent": "00-zz-00f067aa0ba902b7-01",
			"X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000/1;o=1"}, Trace{"105445aa7843bc8bf206b12000100000", "0000000000000001", true}, true},
		{"zero trace id", map[string]string{"traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}, Trace{}, false},
		{"version ff", map[string]string{"traceparent": "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, Trace{}, false},
		{"short cloud trace", map[string]string{"X-Cloud-Trace-Context": "abc/1;o=1"}, Trace{}, false},
		{"none", nil, Trace{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.headers {
				h.Set(k, v)
			}
			got, ok := TraceFromHeaders(h)
			if ok != tt.ok || got != tt.want {
				t.Errorf("got %+v %v, want %+v %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func logLine(t *testing.T, opts Options, ctx context.Context, f func(*slog.Logger, context.Context)) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	f(NewWith(&buf, opts), ctx)
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	return m
}

func TestCloudLoggingFields(t *testing.T) {
	cloud := WithTrace(context.Background(), Trace{"105445aa7843bc8bf206b12000100000", "0000000000000001", true})
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	// An OpenTelemetry span (the gateway's server span) wins over the headers' trace.
	otel := trace.ContextWithSpanContext(cloud, trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))
	tests := []struct {
		name    string
		opts    Options
		ctx     context.Context
		warn    bool
		want    map[string]any
		missing []string
	}{
		{"trace from headers", Options{ProjectID: "proj"}, cloud, false, map[string]any{
			"severity": "INFO", "message": "request",
			"logging.googleapis.com/trace":         "projects/proj/traces/105445aa7843bc8bf206b12000100000",
			"logging.googleapis.com/spanId":        "0000000000000001",
			"logging.googleapis.com/trace_sampled": true,
		}, []string{"level", "msg", "requestId"}},
		{"trace from span", Options{ProjectID: "proj"}, otel, true, map[string]any{
			"severity":                             "WARNING",
			"logging.googleapis.com/trace":         "projects/proj/traces/4bf92f3577b34da6a3ce929d0e0e4736",
			"logging.googleapis.com/spanId":        "00f067aa0ba902b7",
			"logging.googleapis.com/trace_sampled": false,
		}, nil},
		{"no project, no trace field", Options{}, cloud, false, map[string]any{"severity": "INFO"},
			[]string{"logging.googleapis.com/trace", "logging.googleapis.com/spanId"}},
		{"no trace", Options{ProjectID: "proj"}, context.Background(), false, map[string]any{"severity": "INFO"},
			[]string{"logging.googleapis.com/trace"}},
		{"lambda", Options{Format: Lambda}, WithRequestID(cloud, "8f5a0c1e-7b1e-4f0c-9d3a-2f1e0b9c8a7d"), true, map[string]any{
			"level": "WARN", "message": "request", "requestId": "8f5a0c1e-7b1e-4f0c-9d3a-2f1e0b9c8a7d",
		}, []string{"severity", "logging.googleapis.com/trace", "time"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := logLine(t, tt.opts, tt.ctx, func(l *slog.Logger, ctx context.Context) {
				if tt.warn {
					l.WarnContext(ctx, "request", "call_id", "c1")
				} else {
					l.InfoContext(ctx, "request", "call_id", "c1")
				}
			})
			for k, v := range tt.want {
				if m[k] != v {
					t.Errorf("%s = %#v, want %#v (line %v)", k, m[k], v, m)
				}
			}
			for _, k := range tt.missing {
				if _, ok := m[k]; ok {
					t.Errorf("%s present: %v", k, m)
				}
			}
			if m["call_id"] != "c1" {
				t.Errorf("call_id lost: %v", m)
			}
		})
	}
}

func TestLambdaTimestampAndWithAttrs(t *testing.T) {
	var buf bytes.Buffer
	l := NewWith(&buf, Options{Format: Lambda}).With("component", "router")
	l.InfoContext(WithRequestID(context.Background(), "req-1"), "hello")
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if _, err := time.Parse(time.RFC3339Nano, m["timestamp"].(string)); err != nil {
		t.Errorf("timestamp %v: %v", m["timestamp"], err)
	}
	if m["requestId"] != "req-1" || m["component"] != "router" || m["level"] != "INFO" {
		t.Errorf("line %v", m)
	}
}

func TestTracedAndHTTPRequest(t *testing.T) {
	var buf bytes.Buffer
	log := NewWith(&buf, Options{ProjectID: "p1"})
	h := Traced(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.InfoContext(r.Context(), "request", HTTPRequest(r, 429, 1500*time.Millisecond))
	}))
	r := httptest.NewRequest("POST", "/v1/messages?beta=true", strings.NewReader(`{"a":1}`))
	r.Header.Set("X-Cloud-Trace-Context", "105445aa7843bc8bf206b12000100000/7;o=1")
	r.Header.Set("User-Agent", "claude-cli/2.1.332")
	r.Header.Set("X-Forwarded-For", "203.0.113.9, 10.0.0.1")
	h.ServeHTTP(httptest.NewRecorder(), r)
	var m struct {
		Trace       string `json:"logging.googleapis.com/trace"`
		HTTPRequest struct {
			RequestMethod, RequestURL, Latency, UserAgent, RemoteIP, RequestSize, Protocol string
			Status                                                                         int
		} `json:"httpRequest"`
	}
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	hr := m.HTTPRequest
	if m.Trace != "projects/p1/traces/105445aa7843bc8bf206b12000100000" || hr.RequestMethod != "POST" ||
		hr.RequestURL != "/v1/messages?beta=true" || hr.Status != 429 || hr.Latency != "1.500000s" ||
		hr.UserAgent != "claude-cli/2.1.332" || hr.RemoteIP != "203.0.113.9" || hr.RequestSize != "7" || hr.Protocol != "HTTP/1.1" {
		t.Errorf("line %s", buf.String())
	}
}
