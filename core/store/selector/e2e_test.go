package selector_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/providers/simulated"
	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/claude-gateway/claude-gateway/core/server"
	"github.com/claude-gateway/claude-gateway/core/spend"
	"github.com/claude-gateway/claude-gateway/core/spend/pricing"
	"github.com/claude-gateway/claude-gateway/core/spend/spendapi"
	"github.com/claude-gateway/claude-gateway/core/store/selector"
)

const e2eConfig = `
model_list:
  - model_name: claude-haiku
    litellm_params:
      model: simulated/claude-haiku-4-5
      rpm: 3
      output_tokens: 20
router_settings:
  enable_pre_call_checks: true # LiteLLM enforces rpm only with pre-call checks or usage-based routing
general_settings:
  master_key: sk-master
`

// TestThroughServer wires the pieces as core/gateway will: the selected
// store under the router, the recorder, pricer and spend endpoints in the
// server. Five requests against rpm 3: three served (priced), two refused
// with 429, and all five in /spend/logs with their status.
func TestThroughServer(t *testing.T) {
	backends := map[string]map[string]string{
		"memory":   {"GATEWAY_STATE_STORE": "memory"},
		"embedded": {"GATEWAY_STATE_STORE": "embedded", "GATEWAY_STATE_FILE": filepath.Join(t.TempDir(), "s.db")},
	}
	if a := os.Getenv("REDIS_ADDR"); a != "" {
		backends["redis"] = map[string]string{"GATEWAY_STATE_STORE": "redis", "REDIS_URL": "redis://" + a, "GATEWAY_STATE_PREFIX": "e2e-" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"}
	}
	if h := os.Getenv("FIRESTORE_EMULATOR_HOST"); h != "" {
		backends["firestore"] = map[string]string{"GATEWAY_STATE_STORE": "firestore", "FIRESTORE_EMULATOR_HOST": h, "GATEWAY_STATE_COLLECTION": "e2e" + strconv.FormatInt(time.Now().UnixNano(), 36)}
	}
	if ep := os.Getenv("DYNAMODB_ENDPOINT"); ep != "" {
		t.Setenv("AWS_ACCESS_KEY_ID", "test")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
		t.Setenv("AWS_REGION", "us-east-1")
		backends["dynamodb"] = map[string]string{"GATEWAY_STATE_STORE": "dynamodb", "AWS_ENDPOINT_URL_DYNAMODB": ep,
			"GATEWAY_STATE_TABLE": "e2e-" + strconv.FormatInt(time.Now().UnixNano(), 36), "GATEWAY_STATE_CREATE_TABLE": "true"}
	}
	for name, env := range backends {
		t.Run(name, func(t *testing.T) { throughServer(t, env) })
	}
}

func throughServer(t *testing.T, env map[string]string) {
	ctx := context.Background()
	cfg, err := config.Parse([]byte(e2eConfig), os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	state, err := selector.New(ctx, cfg, selector.Options{Platform: selector.PlatformLocal, Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	defer state.Close()
	var deps []*router.Deployment
	for _, d := range cfg.Deployments {
		p, err := simulated.New(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		deps = append(deps, &router.Deployment{Config: d, Provider: p})
	}
	pricer := pricing.New(nil, nil)
	rt := router.New(deps, cfg.Router, router.Options{Store: state.Store, Pricer: pricer, FailClosed: cfg.General.StateFailClosed})
	rec := spend.NewBatchRecorder(state.Spend, spend.BatchOptions{FlushInterval: time.Hour})
	srv := server.New(server.Options{
		Router: rt, MasterKey: cfg.MasterKey(), Recorder: rec, Pricer: pricer,
		Extra: spendapi.Handlers(state.Spend, spendapi.Options{}),
	})

	statuses := map[int]int{}
	for i := range 5 {
		body := `{"model":"claude-haiku","max_tokens":50,"messages":[{"role":"user","content":"hello ` + strconv.Itoa(i) + `"}]}`
		req := httptest.NewRequest("POST", "/v1/messages", strings.NewReader(body))
		req.Header.Set("x-api-key", "sk-master")
		req.Header.Set("anthropic-version", "2023-06-01")
		req.Header.Set("content-type", "application/json")
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		statuses[w.Code]++
		if w.Code == 200 {
			cost, err := strconv.ParseFloat(w.Header().Get("x-litellm-response-cost"), 64)
			if err != nil || cost <= 0 {
				t.Errorf("served response cost header %q", w.Header().Get("x-litellm-response-cost"))
			}
		}
	}
	if statuses[200] != 3 || statuses[429] != 2 {
		t.Fatalf("statuses %v, want 3 served and 2 refused (rpm 3)", statuses)
	}
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/spend/logs?model=claude-haiku", nil)
	req.Header.Set("Authorization", "Bearer sk-master")
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, req)
	var logs struct {
		Data []spend.Record `json:"data"`
	}
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &logs) != nil {
		t.Fatalf("/spend/logs: %d %s", w.Code, w.Body.String())
	}
	got := map[int]int{}
	for _, r := range logs.Data {
		got[r.Status]++
		if r.Status == 200 && (r.Cost <= 0 || r.OutputTokens == 0 || r.DeploymentID == "" || r.KeyHash != spend.HashKey("sk-master")) {
			t.Errorf("served record %+v", r)
		}
	}
	if len(logs.Data) != 5 || got[200] != 3 || got[429] != 2 {
		t.Fatalf("spend records by status %v (%d records), want 3 x 200 and 2 x 429", got, len(logs.Data))
	}
	if st := state.Store.Stats(); st.Errors != 0 {
		t.Fatalf("store errors: %+v", st)
	}
	rec.Close(ctx)
	rt.Drain(ctx)
}
