package gateway_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/claude-gateway/claude-gateway/core/logging"
	"github.com/claude-gateway/claude-gateway/core/providers/anthropic/anthropictest"
	"github.com/tidwall/gjson"
)

// spanSink is a loopback OTLP/HTTP trace receiver (official protobufs).
type spanSink struct {
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (s *spanSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var req coltrace.ExportTraceServiceRequest
	if r.URL.Path != "/v1/traces" || proto.Unmarshal(b, &req) != nil {
		http.Error(w, "bad export", 400)
		return
	}
	s.mu.Lock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			s.spans = append(s.spans, ss.Spans...)
		}
	}
	s.mu.Unlock()
	out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

// syncLog collects log lines written concurrently.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A Bedrock-shaped request with the client's traceparent, served by the
// Anthropic API after a failed attempt: the trace exported over OTLP
// continues the client's, with a server span and one client span per
// attempt; the upstream request carries the serving attempt's traceparent;
// the access line names the same trace in Cloud Logging's fields.
func TestTraceThroughNativeRouteToUpstream(t *testing.T) {
	sink := &spanSink{}
	collector := httptest.NewServer(sink)
	defer collector.Close()
	up := anthropictest.New(t, "sk-upstream")
	var logs syncLog
	// The SDK's exporters read the process environment themselves.
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_METRICS_EXPORTER", "none")
	cfg, err := config.Parse([]byte(`
model_list:
  - model_name: claude-sonnet
    litellm_params: {model: simulated/broken, failure_rate: 1, failure_status: 503, weight: 1000000}
    model_info: {id: broken}
  - model_name: claude-sonnet
    litellm_params:
      model: anthropic/claude-sonnet-4-5-20250929
      api_key: os.environ/UPSTREAM_KEY
      api_base: `+up.URL+`
      weight: 1
    model_info: {id: anthropic-api}
`+cliGeneral), func(k string) (string, bool) {
		v, ok := map[string]string{"MASTER": masterKey, "UPSTREAM_KEY": "sk-upstream"}[k]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.Build(context.Background(), cfg, gateway.Options{
		Getenv: os.Getenv,
		Logger: logging.NewWith(&logs, logging.Options{Level: slog.LevelInfo, ProjectID: "proj"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(g)
	t.Cleanup(func() { gw.Close(); g.Close(context.Background()) })
	const traceID, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	req, _ := http.NewRequest("POST", gw.URL+"/bedrock/model/claude-sonnet/invoke",
		strings.NewReader(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+masterKey)
	req.Header.Set("traceparent", "00-"+traceID+"-"+parent+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if err := g.Telemetry.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	sink.mu.Lock()
	defer sink.mu.Unlock()
	var server *tracepb.Span
	var attempts []*tracepb.Span
	for _, s := range sink.spans {
		if hex.EncodeToString(s.TraceId) != traceID {
			t.Errorf("span %q in trace %x, want the client's", s.Name, s.TraceId)
		}
		switch s.Kind {
		case tracepb.Span_SPAN_KIND_SERVER:
			server = s
		case tracepb.Span_SPAN_KIND_CLIENT:
			attempts = append(attempts, s)
		}
	}
	if server == nil || hex.EncodeToString(server.ParentSpanId) != parent {
		t.Fatalf("no server span under the client's span: %v", sink.spans)
	}
	if len(attempts) != 2 {
		t.Fatalf("%d attempt spans, want 2", len(attempts))
	}
	served := attempts[0]
	if served.Status.GetCode() == tracepb.Status_STATUS_CODE_ERROR {
		served = attempts[1]
	}
	sent := up.Requests()[0].Header.Get("traceparent")
	if want := "00-" + traceID + "-" + hex.EncodeToString(served.SpanId) + "-01"; sent != want {
		t.Errorf("upstream traceparent %q, want %q", sent, want)
	}
	var access string
	for _, line := range strings.Split(logs.String(), "\n") {
		if gjson.Get(line, "message").String() == "request" {
			access = line
		}
	}
	if got := gjson.Get(access, `logging\.googleapis\.com/trace`).String(); got != "projects/proj/traces/"+traceID {
		t.Errorf("access line trace %q: %s", got, access)
	}
	if got := gjson.Get(access, `logging\.googleapis\.com/spanId`).String(); got != hex.EncodeToString(server.SpanId) {
		t.Errorf("access line spanId %q, want the server span's", got)
	}
}
