package config

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func envFrom(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// Every config file users bring from LiteLLM (the team's seeds) loads unchanged.
func TestSeedConfigsLoad(t *testing.T) {
	files, _ := filepath.Glob("../../../shared/seed-configs/*.yaml")
	if len(files) == 0 {
		t.Skip("SKIP: ../shared/seed-configs not found beside the repo")
	}
	envRef := regexp.MustCompile(`os\.environ/([A-Za-z0-9_]+)`)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			env := map[string]string{}
			for _, m := range envRef.FindAllStringSubmatch(string(data), -1) {
				env[m[1]] = "value-of-" + m[1]
			}
			env["REDIS_PORT"] = "6379"
			cfg, err := Parse(data, envFrom(env))
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if len(cfg.Deployments) == 0 {
				t.Fatal("no deployments")
			}
			ids := map[string]bool{}
			for _, d := range cfg.Deployments {
				if d.Params.Provider == "" || d.Params.UpstreamModel == "" || d.ID == "" || ids[d.ID] {
					t.Errorf("deployment %+v", d)
				}
				ids[d.ID] = true
			}
			for _, w := range cfg.Warnings {
				t.Logf("warning: %s", w)
			}
		})
	}
}

func TestParseTypedValues(t *testing.T) {
	cfg, err := Parse([]byte(`
model_list:
  - model_name: claude-sonnet
    litellm_params:
      model: bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0
      aws_region_name: os.environ/REGION
      weight: 3
      order: 1
      rpm: "1000"
      timeout: 30
    model_info:
      id: sonnet-use1
      input_cost_per_token: 0.000003
  - model_name: claude-sonnet
    litellm_params:
      model: vertex_ai/claude-sonnet-4-5@20250929
      vertex_ai_location: us-east5
      vertex_project: my-proj
router_settings:
  routing_strategy: usage-based-routing-v2
  num_retries: 2
  fallbacks: [{"claude-sonnet": ["claude-haiku"]}]
  model_group_alias: {"claude-opus-5-5": "claude-sonnet"}
  enable_pre_call_check: true
  some_future_key: 1
general_settings:
  master_key: sk-1
`), envFrom(map[string]string{"REGION": "eu-west-1"}))
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Deployments[0]
	if d.ID != "sonnet-use1" || d.Params.Provider != "bedrock" || d.Params.UpstreamModel != "us.anthropic.claude-sonnet-4-5-20250929-v1:0" ||
		d.Params.AWSRegionName != "eu-west-1" || d.Params.Weight != 3 || d.Params.Order != 1 || d.Params.RPM != 1000 ||
		d.Params.Timeout.Seconds() != 30 || *d.Info.InputCostPerToken != 0.000003 {
		t.Errorf("deployment 0: %+v", d)
	}
	v := cfg.Deployments[1]
	if v.Params.VertexLocation != "us-east5" || v.Params.VertexProject != "my-proj" || len(v.ID) != 16 {
		t.Errorf("deployment 1: %+v", v)
	}
	r := cfg.Router
	if r.RoutingStrategy != "usage-based-routing-v2" || r.NumRetries != 2 || !r.NumRetriesSet || !r.EnablePreCallChecks ||
		r.Fallbacks[0]["claude-sonnet"][0] != "claude-haiku" || r.ModelGroupAlias["claude-opus-5-5"] != "claude-sonnet" {
		t.Errorf("router settings %+v", r)
	}
	if cfg.MasterKey() != "sk-1" {
		t.Errorf("master key")
	}
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], "router_settings.some_future_key") {
		t.Errorf("warnings %v", cfg.Warnings)
	}
}

func TestLambdaDeadlineMargin(t *testing.T) {
	tests := []struct {
		general string
		want    time.Duration
		set     bool
		err     string
	}{
		{"{}", 0, false, ""},
		{"{lambda_deadline_margin: 2.5}", 2500 * time.Millisecond, true, ""},
		{"{lambda_deadline_margin: 0}", 0, true, ""},
		{"{lambda_deadline_margin: -1}", 0, true, "general_settings.lambda_deadline_margin: must not be negative"},
		{"{lambda_deadline_margin: soon}", 0, true, "general_settings.lambda_deadline_margin"},
	}
	for _, tc := range tests {
		cfg, err := Parse([]byte("model_list:\n - model_name: a\n   litellm_params: {model: simulated/x}\ngeneral_settings: "+tc.general+"\n"), envFrom(nil))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.general, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.general, err)
		}
		if g := cfg.General; g.LambdaDeadlineMargin != tc.want || g.LambdaDeadlineMarginSet != tc.set {
			t.Errorf("%s: margin %v set %v, want %v %v", tc.general, g.LambdaDeadlineMargin, g.LambdaDeadlineMarginSet, tc.want, tc.set)
		}
	}
}

func TestMaxSlowConnections(t *testing.T) {
	parse := func(general string) (*Config, error) {
		return Parse([]byte("model_list:\n - model_name: a\n   litellm_params: {model: simulated/x}\ngeneral_settings: "+general+"\n"), envFrom(nil))
	}
	if cfg, err := parse("{max_slow_connections: 500}"); err != nil || cfg.General.MaxSlowConnections != 500 {
		t.Fatalf("500: %v %v", cfg, err)
	}
	if cfg, err := parse("{}"); err != nil || cfg.General.MaxSlowConnections != 0 {
		t.Fatalf("unset: %v %v", cfg, err)
	}
	for _, bad := range []string{"{max_slow_connections: 0}", "{max_slow_connections: -3}", "{max_slow_connections: many}"} {
		if _, err := parse(bad); err == nil || !strings.Contains(err.Error(), "general_settings.max_slow_connections") {
			t.Errorf("%s: error %v", bad, err)
		}
	}
}

func TestParseErrorsNameThePlace(t *testing.T) {
	cases := []struct{ yaml, want string }{
		{"model_list:\n - model_name: a\n   litellm_params: {model: simulated/x}\n - model_name: b\n   litellm_params: {model: simulated/x}\n - model_name: c\n   litellm_params: {model: bedrok/x}\n",
			`model_list[2].litellm_params.model: unknown provider prefix "bedrok/"`},
		{"model_list:\n - model_name: a\n   litellm_params: {model: anthropic/x, api_key: os.environ/NOPE_KEY}\n",
			`model_list[0].litellm_params.api_key: environment variable NOPE_KEY`},
		{"model_list:\n - model_name: a\n   litellm_params: {model: claude-3}\n", `model_list[0].litellm_params.model: missing provider prefix`},
		{"model_list:\n - litellm_params: {model: simulated/x}\n", `model_list[0].model_name: is required`},
		{"model_list:\n - model_name: a\n   litellm_params: {model: simulated/x, rpm: lots}\n", `model_list[0].litellm_params.rpm: want a number`},
		{"model_list: []\n", "model_list: at least one deployment"},
		{"model_list:\n - model_name: a\n   litellm_params: {model: simulated/x}\nrouter_settings: {routing_strategy: fastest}\n", `router_settings.routing_strategy: unknown strategy "fastest"`},
		{"model_list: [\n", "invalid YAML"},
		{"model_list:\n - model_name: a\n   litellm_params: {model: simulated/x}\n   model_info: {access_groups: interns}\n", `model_list[0].model_info.access_groups: want a list of strings`},
		{"model_list:\n - model_name: a\n   litellm_params: {model: simulated/x}\n   model_info: {access_groups: [ok, 3]}\n", `model_list[0].model_info.access_groups[1]: want a non-empty string`},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.yaml), envFrom(nil))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want it to contain %q", err, c.want)
		}
	}
}

func TestAccessGroups(t *testing.T) {
	cfg, err := Parse([]byte(`
model_list:
  - model_name: haiku
    litellm_params: {model: simulated/h}
    model_info: {access_groups: [interns, everyone]}
  - model_name: haiku
    litellm_params: {model: simulated/h2}
    model_info: {access_groups: [interns]}
  - model_name: opus
    litellm_params: {model: simulated/o}
    model_info: {access_groups: [everyone]}
`), envFrom(nil))
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(cfg.AccessGroups())
	if want := "map[everyone:[haiku opus] interns:[haiku]]"; got != want {
		t.Fatalf("AccessGroups = %s, want %s", got, want)
	}
}

func TestIDsStableAndSecretFree(t *testing.T) {
	load := func(key string) string {
		cfg, err := Parse([]byte("model_list:\n - model_name: a\n   litellm_params: {model: anthropic/x, api_key: "+key+"}\n"), envFrom(nil))
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Deployments[0].ID
	}
	if load("sk-one") != load("sk-two") {
		t.Error("deployment id depends on the secret's value")
	}
	cfg, _ := Parse([]byte("model_list:\n - model_name: a\n   litellm_params: {model: anthropic/x}\n - model_name: a\n   litellm_params: {model: anthropic/y}\n"), envFrom(nil))
	if cfg.Deployments[0].ID == cfg.Deployments[1].ID {
		t.Error("different deployments share an id")
	}
}
