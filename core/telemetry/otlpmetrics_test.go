package telemetry_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	colmetric "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/telemetry"
)

// otlpMetricsReceiver is a loopback OTLP/HTTP metrics receiver decoding the
// official protobuf messages; it keeps the last export of each metric.
type otlpMetricsReceiver struct {
	mu      sync.Mutex
	metrics map[string]*metricpb.Metric
	service string
}

func (o *otlpMetricsReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var req colmetric.ExportMetricsServiceRequest
	if r.URL.Path != "/v1/metrics" || r.Header.Get("Content-Type") != "application/x-protobuf" || proto.Unmarshal(b, &req) != nil {
		http.Error(w, "bad export", 400)
		return
	}
	o.mu.Lock()
	for _, rm := range req.ResourceMetrics {
		for _, kv := range rm.GetResource().GetAttributes() {
			if kv.Key == "service.name" {
				o.service = kv.Value.GetStringValue()
			}
		}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				o.metrics[m.Name] = m
			}
		}
	}
	o.mu.Unlock()
	out, _ := proto.Marshal(&colmetric.ExportMetricsServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

func attrsOf(kvs []*commonpb.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		m[kv.Key] = kv.Value.GetStringValue()
	}
	return m
}

// With OTEL_EXPORTER_OTLP_ENDPOINT set, the same instruments /metrics
// serves arrive over OTLP/HTTP: the request counter and histograms with
// their GenAI attributes, the per-key sums, the state store histogram and
// the credential failure counter.
func TestOTLPMetricsExport(t *testing.T) {
	recv := &otlpMetricsReceiver{metrics: map[string]*metricpb.Metric{}}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	tel, err := telemetry.New(context.Background(), telemetry.Options{Getenv: os.Getenv, ServiceName: "gw-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	c := call()
	c.KeyAlias, c.UserID, c.TeamID = "bob-laptop", "bob", "platform"
	for range 3 {
		tel.Finish(context.Background(), c)
	}
	tel.StoreOp("dynamodb", "incr", "ok", 3*time.Millisecond)
	tel.StoreOp("dynamodb", "incr", "error", time.Second)
	tel.CredentialsFailed(config.Deployment{ID: "dep-v", ModelName: "claude-sonnet", Params: config.Params{Provider: config.ProviderVertex}})(io.EOF)
	if err := tel.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	recv.mu.Lock()
	defer recv.mu.Unlock()
	if recv.service != "gw-test" {
		t.Errorf("service.name = %q", recv.service)
	}
	sum := func(name string, want map[string]string) int64 {
		m := recv.metrics[name]
		if m == nil {
			t.Errorf("%s not exported", name)
			return -1
		}
		var n int64
		var pts []*metricpb.NumberDataPoint
		if s := m.GetSum(); s != nil {
			pts = s.DataPoints
		}
		for _, p := range pts {
			if matches(attrsOf(p.Attributes), want) {
				n += p.GetAsInt()
			}
		}
		for _, p := range m.GetHistogram().GetDataPoints() {
			if matches(attrsOf(p.Attributes), want) {
				n += int64(p.Count)
			}
		}
		return n
	}
	checks := []struct {
		name string
		want map[string]string
		n    int64
	}{
		{"gateway.requests", map[string]string{"gen_ai.request.model": "claude-sonnet", "gateway.deployment": "dep-a", "gen_ai.system": "aws.bedrock", "gateway.status_class": "2xx"}, 3},
		{"gen_ai.client.operation.duration", map[string]string{"gateway.deployment": "dep-a"}, 3},
		{"gen_ai.server.time_to_first_token", map[string]string{"gateway.deployment": "dep-a"}, 3},
		{"gen_ai.client.token.usage", map[string]string{"gen_ai.token.type": "output"}, 3},
		{"gateway.key.requests", map[string]string{"gateway.key": "bob-laptop", "gateway.user": "bob", "gateway.team": "platform"}, 3},
		{"gateway.key.token.usage", map[string]string{"gateway.key": "bob-laptop", "gen_ai.token.type": "output"}, 60},
		{"gateway.state_store.operation.duration", map[string]string{"gateway.state_store.backend": "dynamodb", "gateway.state_store.outcome": "error"}, 1},
		{"gateway.upstream.credential_failures", map[string]string{"gateway.deployment": "dep-v", "gen_ai.system": "gcp.vertex_ai"}, 1},
	}
	for _, c := range checks {
		if got := sum(c.name, c.want); got != c.n {
			t.Errorf("%s%v = %d, want %d", c.name, c.want, got, c.n)
		}
	}
}

func matches(got, want map[string]string) bool {
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}
