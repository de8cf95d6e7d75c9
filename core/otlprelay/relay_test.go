package otlprelay

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/claude-gateway/claude-gateway/core/llm"
)

// receiver is a loopback OTLP/HTTP collector that keeps what it gets.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	got  []received
	hold chan struct{} // when set, requests wait on it
}

type received struct {
	path, contentType, auth string
	body                    []byte
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rc.hold != nil {
			<-rc.hold
		}
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, received{r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), b})
		rc.mu.Unlock()
	}))
	t.Cleanup(rc.Close)
	return rc
}

func user(*http.Request) (map[string]string, *llm.Error) {
	return map[string]string{"enduser.id": "alice@example.com", "user.groups": "eng"}, nil
}

func metricsExport() *colmetrics.ExportMetricsServiceRequest {
	return &colmetrics.ExportMetricsServiceRequest{ResourceMetrics: []*metricspb.ResourceMetrics{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
			{Key: "service.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "claude-code"}}},
			{Key: "enduser.id", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "spoofed"}}},
		}},
		ScopeMetrics: []*metricspb.ScopeMetrics{{Metrics: []*metricspb.Metric{{Name: "claude_code.token.usage"}}}},
	}}}
}

func attrs(res *resourcepb.Resource) map[string]string {
	out := map[string]string{}
	for _, kv := range res.GetAttributes() {
		out[kv.Key] = kv.Value.GetStringValue()
	}
	return out
}

func TestRelayStampsTheUserAndDelivers(t *testing.T) {
	rc := newReceiver(t)
	r := New([]Destination{{URL: rc.URL, Headers: map[string]string{"Authorization": "Bearer collector"}}}, user, Options{})
	defer r.Close(context.Background())
	h := http.NewServeMux()
	for p, hd := range r.Routes() {
		h.Handle(p, hd)
	}
	gw := httptest.NewServer(h)
	defer gw.Close()

	pb, _ := proto.Marshal(metricsExport())
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(pb)
	zw.Close()
	logsJSON, _ := protojson.Marshal(&collogs.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "user_prompt"}}}}}},
	}}})
	sends := []struct {
		path, ctype, enc string
		body             []byte
	}{
		{"/v1/metrics", "application/x-protobuf", "gzip", gz.Bytes()},
		{"/v1/logs", "application/json", "", logsJSON},
		{"/v1/traces", "application/x-protobuf", "", []byte("not protobuf \xff\xff")},
	}
	for _, s := range sends {
		req, _ := http.NewRequest(http.MethodPost, gw.URL+s.path, bytes.NewReader(s.body))
		req.Header.Set("Content-Type", s.ctype)
		if s.enc != "" {
			req.Header.Set("Content-Encoding", s.enc)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", s.path, err, resp)
		}
		resp.Body.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.got) != 2 {
		t.Fatalf("receiver got %d exports, want 2 (the unreadable one is dropped)", len(rc.got))
	}
	for _, g := range rc.got {
		if g.auth != "Bearer collector" {
			t.Errorf("%s: destination header %q", g.path, g.auth)
		}
		var res *resourcepb.Resource
		switch g.path {
		case "/v1/metrics":
			var m colmetrics.ExportMetricsServiceRequest
			if err := proto.Unmarshal(g.body, &m); err != nil {
				t.Fatal(err)
			}
			res = m.ResourceMetrics[0].Resource
			if m.ResourceMetrics[0].ScopeMetrics[0].Metrics[0].Name != "claude_code.token.usage" {
				t.Error("metric lost")
			}
		case "/v1/logs":
			var l collogs.ExportLogsServiceRequest
			if err := protojson.Unmarshal(g.body, &l); err != nil || g.contentType != "application/json" {
				t.Fatalf("logs: %v %s", err, g.contentType)
			}
			res = l.ResourceLogs[0].Resource
		}
		a := attrs(res)
		if a["enduser.id"] != "alice@example.com" || a["user.groups"] != "eng" {
			t.Errorf("%s: attributes %v, want the gateway's user (not the client's claim)", g.path, a)
		}
	}
	if st := r.Stats(); st.Received != 3 || st.Delivered != 2 || st.Dropped != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestRelayWithoutDestinationsDropsAndCounts(t *testing.T) {
	r := New(nil, user, Options{})
	defer r.Close(context.Background())
	pb, _ := proto.Marshal(metricsExport())
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/v1/metrics", bytes.NewReader(pb))
	req.Header.Set("Content-Type", "application/x-protobuf")
	r.Routes()["POST /v1/metrics"].ServeHTTP(rec, req)
	if rec.Code != 200 || r.Stats().Dropped != 1 {
		t.Errorf("status %d stats %+v", rec.Code, r.Stats())
	}
}

func TestRelayRefusesUnauthenticated(t *testing.T) {
	r := New(nil, func(*http.Request) (map[string]string, *llm.Error) {
		return nil, &llm.Error{Status: 401, Type: llm.ErrAuthentication, Message: "no", ShouldRetry: "false"}
	}, Options{})
	defer r.Close(context.Background())
	rec := httptest.NewRecorder()
	r.Routes()["POST /v1/logs"].ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/logs", nil))
	if rec.Code != 401 || rec.Header().Get("x-should-retry") != "false" {
		t.Errorf("status %d headers %v", rec.Code, rec.Header())
	}
}

// A slow collector never slows the client: the queue is bounded and the
// overflow is dropped and counted.
func TestRelayQueueIsBounded(t *testing.T) {
	rc := newReceiver(t)
	rc.hold = make(chan struct{})
	r := New([]Destination{{URL: rc.URL}}, user, Options{QueueSize: 2})
	pb, _ := proto.Marshal(metricsExport())
	start := time.Now()
	for i := 0; i < 10; i++ {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/v1/metrics", bytes.NewReader(pb))
		req.Header.Set("Content-Type", "application/x-protobuf")
		r.Routes()["POST /v1/metrics"].ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("status %d", rec.Code)
		}
	}
	if time.Since(start) > 2*time.Second {
		t.Error("the client waited for the collector")
	}
	if d := r.Stats().Dropped; d < 7 {
		t.Errorf("dropped %d of 10 with a queue of 2 and one in delivery, want >= 7", d)
	}
	close(rc.hold)
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}
