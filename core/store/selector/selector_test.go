package selector

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/spend"
)

// productionSharedState is /work/shared/seed-configs/production-shared-state.yaml.
const productionSharedState = `
model_list:
  - model_name: claude-sonnet
    litellm_params:
      model: bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0
      aws_region_name: us-east-1
      rpm: 1000
      tpm: 100000
  - model_name: claude-sonnet
    litellm_params:
      model: vertex_ai/claude-3-5-sonnet-v2@20241022
      vertex_ai_location: us-east5
      rpm: 500
      tpm: 50000
router_settings:
  routing_strategy: simple-shuffle
  num_retries: 3
  timeout: 120  # seconds
  redis_host: os.environ/REDIS_HOST
  redis_password: os.environ/REDIS_PASSWORD
  redis_port: os.environ/REDIS_PORT
litellm_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
`

func parse(t *testing.T, yaml string, env map[string]string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

const minimal = "model_list:\n  - model_name: m\n    litellm_params:\n      model: simulated/claude-haiku-4-5\n"

func TestChoose(t *testing.T) {
	plain := parse(t, minimal, nil)
	withRedis := parse(t, productionSharedState, map[string]string{"REDIS_HOST": "cache", "REDIS_PASSWORD": "pw", "REDIS_PORT": "6380", "LITELLM_MASTER_KEY": "k"})
	explicit := parse(t, minimal+"general_settings:\n  state_store: memory\n", nil)
	tests := []struct {
		cfg      *config.Config
		platform string
		env      map[string]string
		want     string
	}{
		{plain, PlatformLambda, nil, DynamoDB},
		{plain, PlatformCloudRun, nil, Firestore},
		{plain, PlatformLocal, nil, Embedded},
		{plain, PlatformLibrary, nil, Memory},
		{plain, "", nil, Embedded},
		{withRedis, PlatformLambda, nil, Redis},
		{explicit, PlatformLambda, nil, Memory},
		{explicit, PlatformLambda, map[string]string{"GATEWAY_STATE_STORE": "Redis"}, Redis},
	}
	for _, tc := range tests {
		if got := Choose(tc.cfg, tc.platform, func(k string) string { return tc.env[k] }); got != tc.want {
			t.Errorf("Choose(%s, %v) = %s, want %s", tc.platform, tc.env, got, tc.want)
		}
	}
}

func TestOpenMemoryAndEmbedded(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "s.db")
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"GATEWAY_STATE_STORE": "memory"}, Memory},
		{map[string]string{"GATEWAY_STATE_FILE": file}, Embedded},
	} {
		st, sp, closer, err := Open(ctx, parse(t, minimal, nil), PlatformLocal, func(k string) string { return tc.env[k] })
		if err != nil {
			t.Fatal(err)
		}
		if v, ok, err := st.Incr(ctx, "k", 1, 1, time.Now().Add(time.Minute)); err != nil || !ok || v != 1 {
			t.Fatalf("%s: Incr = %d %v %v", tc.want, v, ok, err)
		}
		if err := sp.PutSpend(ctx, []spend.Record{{CallID: "x", StartTime: time.Now()}}); err != nil {
			t.Fatal(err)
		}
		if err := closer.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("embedded file not at GATEWAY_STATE_FILE: %v", err)
	}
}

// TestSeedConfigSelectsRedis: production-shared-state.yaml, as written,
// opens a Redis store from its redis_host/port/password (no connection is
// made until the first call).
func TestSeedConfigSelectsRedis(t *testing.T) {
	cfg := parse(t, productionSharedState, map[string]string{"REDIS_HOST": "127.0.0.1", "REDIS_PASSWORD": "", "REDIS_PORT": "1", "LITELLM_MASTER_KEY": "k"})
	st, err := New(context.Background(), cfg, Options{Platform: PlatformCloudRun})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.Backend != Redis || st.Store.Stats().Backend != Redis {
		t.Fatalf("backend %s", st.Backend)
	}
	// Nothing listens on port 1: the guard fails open and counts the error.
	if _, ok, err := st.Store.Incr(context.Background(), "k", 1, 1, time.Now().Add(time.Minute)); err != nil || !ok {
		t.Fatalf("Incr with Redis down = %v, %v; want admitted (fail open)", ok, err)
	}
	if s := st.Store.Stats(); s.Errors != 1 || s.Healthy {
		t.Fatalf("stats %+v", s)
	}
}

func TestFailClosedFromConfig(t *testing.T) {
	cfg := parse(t, minimal+"general_settings:\n  state_store: redis\n  state_fail_closed: true\nrouter_settings:\n  redis_host: 127.0.0.1\n  redis_port: \"1\"\n", nil)
	st, err := New(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, ok, err := st.Store.Incr(context.Background(), "k", 1, 1, time.Now().Add(time.Minute)); err == nil || ok {
		t.Fatalf("fail closed: Incr = %v, %v", ok, err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	for name, tc := range map[string]struct {
		yaml string
		env  map[string]string
	}{
		"unknown store":      {minimal, map[string]string{"GATEWAY_STATE_STORE": "mongodb"}},
		"redis without host": {minimal + "general_settings:\n  state_store: redis\n", nil},
		"bad retention":      {minimal, map[string]string{"GATEWAY_STATE_STORE": "memory", "GATEWAY_SPEND_RETENTION": "soon"}},
		"bad timeout":        {minimal, map[string]string{"GATEWAY_STATE_STORE": "memory", "GATEWAY_STATE_TIMEOUT": "-1s"}},
		"embedded on a file": {minimal, map[string]string{"GATEWAY_STATE_FILE": oldStateFile(t)}},
	} {
		if _, err := New(ctx, parse(t, tc.yaml, nil), Options{Getenv: func(k string) string { return tc.env[k] }}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// oldStateFile is a file where the embedded store wants its directory (an
// older gateway's bbolt file).
func oldStateFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "gateway-state.db")
	if err := os.WriteFile(p, []byte("bolt"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRetention(t *testing.T) {
	for _, tc := range []struct {
		env  string
		cfg  any
		want time.Duration
	}{
		{"", nil, 0},
		{"30d", nil, 30 * 24 * time.Hour},
		{"2w", "1d", 14 * 24 * time.Hour},
		{"", "7d", 7 * 24 * time.Hour},
		{"", "12h", 12 * time.Hour},
		{"90m", nil, 90 * time.Minute},
	} {
		got, err := retentionOf(tc.env, tc.cfg)
		if err != nil || got != tc.want {
			t.Errorf("retentionOf(%q, %v) = %v, %v; want %v", tc.env, tc.cfg, got, err, tc.want)
		}
	}
	for _, bad := range []string{"0d", "xd", "-1h", "never"} {
		if _, err := retentionOf(bad, nil); err == nil {
			t.Errorf("retentionOf(%q) accepted", bad)
		}
	}
}

// TestOpenCloudBackends opens the cloud backends against the local servers
// when scripts/test-services.sh started them.
func TestOpenCloudBackends(t *testing.T) {
	ctx := context.Background()
	cases := map[string]map[string]string{}
	if ep := os.Getenv("DYNAMODB_ENDPOINT"); ep != "" {
		t.Setenv("AWS_ACCESS_KEY_ID", "test")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
		t.Setenv("AWS_REGION", "us-east-1")
		cases[DynamoDB] = map[string]string{"AWS_ENDPOINT_URL_DYNAMODB": ep, "GATEWAY_STATE_TABLE": "selector-test", "GATEWAY_STATE_CREATE_TABLE": "true"}
	}
	if h := os.Getenv("FIRESTORE_EMULATOR_HOST"); h != "" {
		cases[Firestore] = map[string]string{"FIRESTORE_EMULATOR_HOST": h, "GATEWAY_STATE_COLLECTION": "selector-test"}
	}
	if a := os.Getenv("REDIS_ADDR"); a != "" {
		cases[Redis] = map[string]string{"REDIS_URL": "redis://" + a, "GATEWAY_STATE_PREFIX": "selector-test:"}
	}
	if len(cases) == 0 {
		t.Skip("SKIP: no DYNAMODB_ENDPOINT, FIRESTORE_EMULATOR_HOST or REDIS_ADDR; run through scripts/test-services.sh")
	}
	for kind, env := range cases {
		t.Run(kind, func(t *testing.T) {
			env["GATEWAY_STATE_STORE"] = kind
			st, err := New(ctx, parse(t, minimal, nil), Options{Getenv: func(k string) string { return env[k] }})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			key := "selector-" + time.Now().Format(time.RFC3339Nano)
			if v, ok, err := st.Store.Incr(ctx, key, 2, 5, time.Now().Add(time.Minute)); err != nil || !ok || v != 2 {
				t.Fatalf("Incr = %d %v %v (stats %+v)", v, ok, err, st.Store.Stats())
			}
			if s := st.Store.Stats(); s.Errors != 0 {
				t.Fatalf("errors: %+v", s)
			}
			if err := st.Spend.PutSpend(ctx, []spend.Record{{CallID: key, StartTime: time.Now()}}); err != nil {
				t.Fatal(err)
			}
			p, err := st.Spend.QuerySpend(ctx, spend.Query{RequestID: key})
			if err != nil || len(p.Records) != 1 {
				t.Fatalf("QuerySpend = %+v, %v", p, err)
			}
		})
	}
}

func TestNewRecorder(t *testing.T) {
	if r, _ := NewRecorder(PlatformLambda, nil, nil); r == nil {
		t.Fatal("nil")
	} else if _, ok := r.(*spend.SyncRecorder); !ok {
		t.Fatalf("lambda recorder %T", r)
	}
	r, closeFn := NewRecorder(PlatformCloudRun, nil, nil)
	if _, ok := r.(*spend.BatchRecorder); !ok {
		t.Fatalf("cloudrun recorder %T", r)
	}
	closeFn(context.Background())
}
