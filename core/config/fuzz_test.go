package config

import (
	"strings"
	"testing"
)

// Any config file: Parse returns a config or an error, never panics, and an
// error names what is wrong (it is not empty).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"model_list:\n  - model_name: claude-sonnet\n    litellm_params: {model: anthropic/claude-sonnet-4-5, api_key: os.environ/K}\n",
		"model_list:\n  - model_name: a\n    litellm_params: {model: bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0, aws_region_name: us-east-1, order: 2, rpm: 10, timeout: 1.5}\n    model_info: {id: x, input_cost_per_token: 0.1}\nrouter_settings: {num_retries: 2, routing_strategy: latency-based-routing, fallbacks: [{a: [b]}]}\ngeneral_settings: {master_key: sk-1, state_store: redis}\n",
		"model_list:\n  - model_name: v\n    litellm_params: {model: vertex_ai/claude-sonnet-4-5@20250929, vertex_project: p, vertex_location: us-east5}\nlitellm_settings: {request_timeout: 600, num_retries: 1}\n",
		"model_list: []\n", "model_list: 5\n", "{}", "- a\n- b\n", "model_list:\n  - model_name: [x]\n",
		"model_list:\n  - &a {model_name: x, litellm_params: {model: simulated/x}}\n  - *a\n",
		"router_settings: {timeout: -1, cooldown_time: 1e400}\nmodel_list:\n  - {model_name: x, litellm_params: {model: simulated/x}}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return // a config file, not a YAML bomb benchmark
		}
		cfg, err := Parse(data, func(k string) (string, bool) { return "v-" + k, !strings.HasPrefix(k, "UNSET") })
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if cfg == nil {
			t.Fatal("nil config without an error")
		}
		for _, d := range cfg.Deployments {
			if d.ModelName == "" {
				t.Fatalf("deployment without a model_name accepted from %q", data)
			}
		}
	})
}
