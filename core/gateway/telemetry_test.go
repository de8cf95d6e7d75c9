package gateway_test

import (
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/claude-gateway/claude-gateway/core/gateway"
)

// scrape fetches /metrics (with the master key when key is set) and parses
// it with Prometheus' own text parser.
func scrape(t *testing.T, url string, key bool) map[string]*dto.MetricFamily {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/metrics", nil)
	if key {
		req.Header.Set("x-api-key", masterKey)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// value sums the samples of family name whose labels include want.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	sum, found := 0.0, false
next:
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum, found
}

// A 429 on one deployment: it fails over, cools down, and /metrics says so.
// The weights make the broken deployment the first pick (a shuffle between
// equals skipped it in 1 run of 16).
func TestMetricsAfterFailoverAndCooldown(t *testing.T) {
	gw := startGateway(t, `
model_list:
  - model_name: claude-sonnet
    litellm_params: {model: simulated/broken, failure_rate: 1, failure_status: 429, weight: 1000000}
    model_info: {id: broken}
  - model_name: claude-sonnet
    litellm_params: {model: simulated/healthy, output_tokens: 3, weight: 1}
    model_info: {id: healthy}
router_settings: {cooldown_time: 60}
general_settings:
  master_key: os.environ/MASTER
`, gateway.Options{})
	for i := 0; i < 4; i++ {
		resp := post(t, gw.URL+"/v1/messages", simpleBody, nil)
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
	}
	resp := post(t, gw.URL+"/v1/messages", `{"model":"no-such-model","max_tokens":1,"messages":[]}`, nil)
	io.Copy(io.Discard, resp.Body)

	// Without the key, /metrics is refused.
	if r, err := http.Get(gw.URL + "/metrics"); err != nil || r.StatusCode != 401 {
		t.Fatalf("GET /metrics without key: %v %v", r.StatusCode, err)
	}
	fams := scrape(t, gw.URL, true)
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"gateway_requests_total", map[string]string{"gateway_deployment": "healthy", "gateway_status_class": "2xx", "gen_ai_request_model": "claude-sonnet", "gateway_api": "messages"}, 4},
		{"gateway_requests_total", map[string]string{"gen_ai_request_model": "unknown", "gateway_status_class": "4xx", "error_type": "not_found_error"}, 1},
		{"gateway_attempts_total", map[string]string{"gateway_deployment": "broken", "http_response_status_code": "429", "error_type": "RateLimitError"}, 1},
		{"gateway_attempts_total", map[string]string{"gateway_deployment": "healthy", "gateway_status_class": "2xx"}, 4},
		{"gateway_deployment_cooldowns_total", map[string]string{"gateway_deployment": "broken"}, 1},
		{"gateway_deployment_cooling_down", map[string]string{"gateway_deployment": "broken"}, 1},
		{"gateway_deployment_cooling_down", map[string]string{"gateway_deployment": "healthy"}, 0},
		{"gateway_deployment_in_flight", map[string]string{"gateway_deployment": "healthy"}, 0},
		{"gateway_retries_total", map[string]string{"gateway_deployment": "healthy"}, 1},
		{"gen_ai_client_operation_duration_seconds", map[string]string{"gateway_deployment": "healthy"}, 4},
		{"gen_ai_server_time_to_first_token_seconds", map[string]string{"gateway_deployment": "healthy"}, 4},
		{"gen_ai_client_token_usage", map[string]string{"gateway_deployment": "healthy", "gen_ai_token_type": "output"}, 4},
	}
	for _, c := range checks {
		got, ok := value(fams, c.name, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	// Every metric the Grafana dashboard queries is one /metrics serves.
	dash, err := os.ReadFile("../../infra/dashboards/grafana.json")
	if err != nil {
		t.Fatal(err)
	}
	queried := regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)(\{|\[)`).FindAllStringSubmatch(string(dash), -1)
	if len(queried) < 10 {
		t.Fatalf("grafana.json: only %d metric selectors found", len(queried))
	}
	for _, m := range queried {
		name := m[1]
		if strings.HasPrefix(name, "label_values") {
			continue
		}
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if fams[name] == nil && fams[base] == nil {
			t.Errorf("grafana.json queries %s, which /metrics does not serve", name)
		}
	}
	if t.Failed() {
		for n := range fams {
			t.Log(n)
		}
	}
}

// metrics_public: true serves /metrics without the key.
func TestMetricsPublic(t *testing.T) {
	gw := startGateway(t, `
model_list:
  - model_name: claude-sonnet
    litellm_params: {model: simulated/healthy}
general_settings:
  master_key: os.environ/MASTER
  metrics_public: true
`, gateway.Options{})
	fams := scrape(t, gw.URL, false)
	if _, ok := value(fams, "gateway_deployment_cooling_down", nil); !ok {
		t.Fatal("no deployment gauges")
	}
}

// Tokens, cost and requests per virtual key, user and team; the state
// store's operations and the spend recorder's records, all on /metrics.
func TestMetricsPerKeyAndStateStore(t *testing.T) {
	gw := startGateway(t, keysConfig, gateway.Options{})
	if code, _, out := call(t, "POST", gw.URL+"/team/new", masterKey, `{"team_id":"platform"}`); code != 200 {
		t.Fatalf("/team/new: %d %s", code, out)
	}
	bob, _ := generateKey(t, gw.URL, `{"key_alias":"bob-laptop","user_id":"bob","team_id":"platform"}`)
	anon, anonToken := generateKey(t, gw.URL, `{}`)
	for i, key := range []string{bob, bob, anon} {
		if code, _, out := call(t, "POST", gw.URL+"/v1/messages", key, message("claude-sonnet")); code != 200 {
			t.Fatalf("request %d: %d %s", i, code, out)
		}
	}
	if code, _, _ := call(t, "POST", gw.URL+"/v1/messages", masterKey, message("claude-haiku")); code != 200 {
		t.Fatalf("master key request: %d", code)
	}
	fams := scrape(t, gw.URL, true)
	bobLabels := map[string]string{"gateway_key": "bob-laptop", "gateway_user": "bob", "gateway_team": "platform", "gen_ai_request_model": "claude-sonnet"}
	withType := func(m map[string]string, tt string) map[string]string {
		out := map[string]string{"gen_ai_token_type": tt}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"gateway_key_requests_total", bobLabels, 2},
		{"gateway_key_token_usage_total", withType(bobLabels, "output"), 6}, // 3 output tokens each
		// A key with no alias is named by a prefix of its hash, never the key.
		{"gateway_key_requests_total", map[string]string{"gateway_key": anonToken[:12], "gateway_user": "none", "gateway_team": "none"}, 1},
		{"gateway_key_requests_total", map[string]string{"gen_ai_request_model": "claude-haiku"}, 1},
	}
	for _, c := range checks {
		if got, ok := value(fams, c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if cost, ok := value(fams, "gateway_key_cost_USD_total", bobLabels); !ok || cost <= 0 {
		t.Errorf("gateway_key_cost for bob = %v (found %v), want > 0", cost, ok)
	}
	for _, f := range fams {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if strings.Contains(l.GetValue(), bob) || strings.Contains(l.GetValue(), anon) || strings.Contains(l.GetValue(), masterKey) {
					t.Errorf("%s carries a key in label %s", f.GetName(), l.GetName())
				}
			}
		}
	}
	if n, ok := value(fams, "gateway_state_store_operation_duration_seconds", map[string]string{"gateway_state_store_backend": "memory", "gateway_state_store_outcome": "ok"}); !ok || n == 0 {
		t.Errorf("state store operations: %v %v", n, ok)
	}
	if _, ok := value(fams, "gateway_spend_records_queued", nil); !ok {
		t.Error("no gateway_spend_records_queued")
	}
	if _, ok := value(fams, "gateway_spend_records_unsaved_total", nil); !ok {
		t.Error("no gateway_spend_records_unsaved_total")
	}
	if t.Failed() {
		for n := range fams {
			t.Log(n)
		}
	}
}

// Each conversation pinned to a deployment shows in
// gateway_deployment_session_pins.
func TestMetricsSessionPins(t *testing.T) {
	gw := startGateway(t, `
model_list:
  - model_name: claude-sonnet
    litellm_params: {model: simulated/a, output_tokens: 2}
    model_info: {id: dep-a}
  - model_name: claude-sonnet
    litellm_params: {model: simulated/b, output_tokens: 2}
    model_info: {id: dep-b}
router_settings: {session_affinity: true}
general_settings:
  master_key: os.environ/MASTER
`, gateway.Options{})
	for _, session := range []string{"s1", "s2", "s3", "s1"} {
		resp := post(t, gw.URL+"/v1/messages", simpleBody, map[string]string{"x-claude-code-session-id": session})
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("session %s: %d", session, resp.StatusCode)
		}
	}
	fams := scrape(t, gw.URL, true)
	if n, ok := value(fams, "gateway_deployment_session_pins", map[string]string{"gen_ai_request_model": "claude-sonnet"}); !ok || n != 3 {
		t.Errorf("session pins = %v (found %v), want 3", n, ok)
	}
}
