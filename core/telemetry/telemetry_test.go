package telemetry_test

import (
	"context"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/claude-gateway/claude-gateway/core/server"
	"github.com/claude-gateway/claude-gateway/core/spend"
	"github.com/claude-gateway/claude-gateway/core/telemetry"
)

var dep = &router.Deployment{Config: config.Deployment{ModelName: "claude-sonnet", ID: "dep-a",
	Params: config.Params{Provider: config.ProviderBedrock, AWSRegionName: "us-east-1"}}}

func call() server.Call {
	now := time.Now()
	return server.Call{API: "messages", UpstreamStatus: 200, Overhead: 300 * time.Microsecond, TTFT: 200 * time.Millisecond,
		Record: spend.Record{CallID: "c1", StartTime: now.Add(-time.Second), EndTime: now, ModelGroup: "claude-sonnet",
			RequestedModel: "claude-sonnet", DeploymentID: "dep-a", Provider: "bedrock", Region: "us-east-1", Status: 200,
			InputTokens: 10, OutputTokens: 20, CacheReadInputTokens: 5, Cost: 0.001, Retries: 1}}
}

// otlpReceiver is a loopback OTLP/HTTP trace receiver decoding the
// official protobuf messages.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var req coltrace.ExportTraceServiceRequest
	if r.URL.Path != "/v1/traces" || proto.Unmarshal(b, &req) != nil {
		http.Error(w, "bad export", 400)
		return
	}
	o.mu.Lock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			o.spans = append(o.spans, ss.Spans...)
		}
	}
	o.mu.Unlock()
	out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

func attr(s *tracepb.Span, key string) string {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			if v := kv.Value.GetStringValue(); v != "" {
				return v
			}
			return kv.Value.String()
		}
	}
	return ""
}

// A request with a client traceparent: one server span continuing it, a
// child span per attempt (the failed one marked), exported over OTLP/HTTP.
func TestTraceSpans(t *testing.T) {
	recv := &otlpReceiver{}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_METRICS_EXPORTER", "none")
	tel, err := telemetry.New(context.Background(), telemetry.Options{Getenv: os.Getenv})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	const traceID, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	r := httptest.NewRequest("POST", "/v1/messages", nil)
	r.Header.Set("traceparent", "00-"+traceID+"-"+parent+"-01")
	ctx := tel.Start(r.Context(), r)
	a1 := tel.AttemptStart(ctx, dep, 0)
	tel.AttemptEnd(a1, dep, 429, "RateLimitError")
	a2 := tel.AttemptStart(ctx, dep, 1)
	// The upstream request carries the attempt's traceparent.
	var sent string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sent = r.Header.Get("traceparent") }))
	defer up.Close()
	ureq, _ := http.NewRequestWithContext(a2, "GET", up.URL, nil)
	if resp, err := (&http.Client{Transport: tel.Transport(nil)}).Do(ureq); err == nil {
		resp.Body.Close()
	}
	tel.AttemptEnd(a2, dep, 200, "")
	tel.Finish(ctx, call())
	if err := tel.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	recv.mu.Lock()
	defer recv.mu.Unlock()
	if len(recv.spans) != 3 {
		t.Fatalf("%d spans, want 3", len(recv.spans))
	}
	var root *tracepb.Span
	var attempts []*tracepb.Span
	for _, s := range recv.spans {
		if hex.EncodeToString(s.TraceId) != traceID {
			t.Errorf("span %q in trace %x, want the client's", s.Name, s.TraceId)
		}
		if s.Kind == tracepb.Span_SPAN_KIND_SERVER {
			root = s
		} else {
			attempts = append(attempts, s)
		}
	}
	if root == nil || hex.EncodeToString(root.ParentSpanId) != parent {
		t.Fatalf("no server span continuing the client's span: %v", root)
	}
	if attr(root, "gateway.deployment") != "dep-a" || attr(root, "gen_ai.request.model") != "claude-sonnet" {
		t.Errorf("root attributes: %v", root.Attributes)
	}
	for i, a := range attempts {
		if string(a.ParentSpanId) != string(root.SpanId) || a.Kind != tracepb.Span_SPAN_KIND_CLIENT {
			t.Errorf("attempt %d is not a client child of the request span", i)
		}
	}
	if len(attempts) != 2 || attr(attempts[0], "error.type") != "RateLimitError" || attempts[0].Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR {
		t.Errorf("first attempt not marked as the 429 it was: %v", attempts)
	}
	if want := "00-" + traceID + "-" + hex.EncodeToString(attempts[1].SpanId) + "-01"; sent != want {
		t.Errorf("upstream traceparent %q, want %q", sent, want)
	}
}

// An OTLP endpoint that accepts connections and never answers: requests
// are not slowed (export runs in the background) and never fail. The
// yardstick is the same loop exporting to a collector that answers at once
// (a fixed bound failed on a loaded machine under -race, where both take
// seconds).
func TestDeadOTLPEndpointDoesNotSlowRequests(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close() // accepted connections are never served
	live := httptest.NewServer(&otlpReceiver{})
	defer live.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "200")
	t.Setenv("OTEL_METRICS_EXPORTER", "none")
	run := func(endpoint string) time.Duration {
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
		tel, err := telemetry.New(context.Background(), telemetry.Options{Getenv: os.Getenv})
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("POST", "/v1/messages", nil)
		start := time.Now()
		for i := 0; i < 5000; i++ {
			ctx := tel.Start(r.Context(), r)
			a := tel.AttemptStart(ctx, dep, 0)
			tel.AttemptEnd(a, dep, 200, "")
			tel.Finish(ctx, call())
		}
		d := time.Since(start)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_ = tel.Shutdown(ctx) // bounded by ctx even though the collector is dead
		return d
	}
	base := run(live.URL)
	dead := run("http://" + ln.Addr().String())
	if dead > 2*base+500*time.Millisecond {
		t.Errorf("5000 requests took %v with a dead collector, %v with a live one", dead, base)
	}
}

// BenchmarkRecord is the metrics cost of one request (one attempt), to
// compare against BenchmarkRecordOff (the server's and router's no-op).
func BenchmarkRecord(b *testing.B) {
	tel, _ := telemetry.New(context.Background(), telemetry.Options{})
	benchObservers(b, tel, tel)
}

type nop struct{}

func (nop) Start(ctx context.Context, _ *http.Request) context.Context                    { return ctx }
func (nop) Finish(context.Context, server.Call)                                           {}
func (nop) AttemptStart(ctx context.Context, _ *router.Deployment, _ int) context.Context { return ctx }
func (nop) AttemptEnd(context.Context, *router.Deployment, int, string)                   {}
func (nop) CooledDown(*router.Deployment, string)                                         {}

func BenchmarkRecordOff(b *testing.B) { benchObservers(b, nop{}, nop{}) }

func benchObservers(b *testing.B, so server.Observer, ro router.Observer) {
	r := httptest.NewRequest("POST", "/v1/messages", nil)
	c := call()
	b.ReportAllocs()
	for b.Loop() {
		ctx := so.Start(r.Context(), r)
		a := ro.AttemptStart(ctx, dep, 0)
		ro.AttemptEnd(a, dep, 200, "")
		so.Finish(ctx, c)
	}
}
