package pricing

import (
	"math"
	"testing"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/router"
)

func f(v float64) *float64 { return &v }

func dep(provider, model, location string, info config.ModelInfo) *router.Deployment {
	return &router.Deployment{Config: config.Deployment{
		ID: provider + "/" + model + "@" + location,
		Params: config.Params{Provider: provider, UpstreamModel: model, Model: provider + "/" + model,
			VertexLocation: location},
		Info: info,
	}}
}

func TestCost(t *testing.T) {
	// 1000 input, 500 output, 2000 cache write, 10000 cache read.
	u := llm.Usage{InputTokens: 1000, OutputTokens: 500, CacheCreationInputTokens: 2000, CacheReadInputTokens: 10000}
	sonnet45 := 1000*3e-6 + 500*15e-6 + 2000*3.75e-6 + 10000*0.3e-6 // 0.021
	sonnet35 := sonnet45
	tests := []struct {
		name string
		d    *router.Deployment
		u    llm.Usage
		want float64
	}{
		{"anthropic dated id", dep("anthropic", "claude-sonnet-4-5-20250929", "", config.ModelInfo{}), u, sonnet45},
		{"anthropic alias", dep("anthropic", "claude-sonnet-4-5", "", config.ModelInfo{}), u, sonnet45},
		{"bedrock bare id", dep("bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0", "", config.ModelInfo{}), u, sonnet45},
		{"bedrock global profile", dep("bedrock", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", "", config.ModelInfo{}), u, sonnet45},
		{"bedrock us profile: regional premium", dep("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "", config.ModelInfo{}), u, sonnet45 * 1.1},
		{"bedrock eu profile via converse route", dep("bedrock", "converse/eu.anthropic.claude-sonnet-4-5-20250929-v1:0", "", config.ModelInfo{}), u, sonnet45 * 1.1},
		{"bedrock profile ARN", dep("bedrock", "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0", "", config.ModelInfo{}),
			llm.Usage{InputTokens: 1e6}, 1.1},
		{"bedrock older model: no premium", dep("bedrock", "us.anthropic.claude-3-5-sonnet-20241022-v2:0", "", config.ModelInfo{}), u, sonnet35},
		{"bedrock claude 3 haiku cache prices", dep("bedrock", "anthropic.claude-3-haiku-20240307-v1:0", "", config.ModelInfo{}),
			llm.Usage{CacheCreationInputTokens: 1e6, CacheReadInputTokens: 1e6}, 0.3125 + 0.025},
		{"anthropic claude 3 haiku cache prices", dep("anthropic", "claude-3-haiku-20240307", "", config.ModelInfo{}),
			llm.Usage{CacheCreationInputTokens: 1e6, CacheReadInputTokens: 1e6}, 0.30 + 0.03},
		{"bedrock opus 4.6 v1 suffix", dep("bedrock", "global.anthropic.claude-opus-4-6-v1", "", config.ModelInfo{}), llm.Usage{OutputTokens: 1e6}, 25},
		{"vertex global", dep("vertex_ai", "claude-sonnet-4-5@20250929", "global", config.ModelInfo{}), u, sonnet45},
		{"vertex regional: premium", dep("vertex_ai", "claude-sonnet-4-5@20250929", "us-east5", config.ModelInfo{}), u, sonnet45 * 1.1},
		{"vertex v2 name, regional, no premium", dep("vertex_ai", "claude-3-5-sonnet-v2@20241022", "us-east5", config.ModelInfo{}), u, sonnet35},
		{"latest alias", dep("anthropic", "claude-3-5-haiku-latest", "", config.ModelInfo{}), llm.Usage{InputTokens: 1e6, OutputTokens: 1e6}, 0.8 + 4},
		{"opus 4.1 is not opus 4", dep("anthropic", "claude-opus-4-1-20250805", "", config.ModelInfo{}), llm.Usage{OutputTokens: 1e6}, 75},
		{"opus 4.5 is not opus 4", dep("anthropic", "claude-opus-4-5-20251101", "", config.ModelInfo{}), llm.Usage{OutputTokens: 1e6}, 25},
		{"long context: whole request at the higher price", dep("anthropic", "claude-sonnet-4-20250514", "", config.ModelInfo{}),
			llm.Usage{InputTokens: 150_000, CacheReadInputTokens: 60_000, OutputTokens: 1000}, 150_000*6e-6 + 60_000*0.6e-6 + 1000*22.5e-6},
		{"at 200k exactly: base price", dep("anthropic", "claude-sonnet-4-20250514", "", config.ModelInfo{}),
			llm.Usage{InputTokens: 200_000}, 200_000 * 3e-6},
		{"long context with regional premium", dep("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "", config.ModelInfo{}),
			llm.Usage{InputTokens: 300_000}, 300_000 * 6.6e-6},
		{"simulated priced as the model it mimics", dep("simulated", "claude-haiku-4-5", "", config.ModelInfo{}), llm.Usage{InputTokens: 1e6}, 1},
		{"unknown model: 0", dep("anthropic", "claude-unknown-9", "", config.ModelInfo{}), u, 0},
		{"override input and output on a known model", dep("anthropic", "claude-sonnet-4-5", "", config.ModelInfo{InputCostPerToken: f(1e-6), OutputCostPerToken: f(2e-6)}),
			u, 1000*1e-6 + 500*2e-6 + 2000*3.75e-6 + 10000*0.3e-6},
		{"override all four", dep("bedrock", "arn:aws:bedrock:us-east-1:1:application-inference-profile/abc", "", config.ModelInfo{
			InputCostPerToken: f(1e-6), OutputCostPerToken: f(2e-6), CacheCreationInputTokenCost: f(3e-6), CacheReadInputTokenCost: f(4e-6)}),
			u, 1000*1e-6 + 500*2e-6 + 2000*3e-6 + 10000*4e-6},
		{"override on unknown model: cache from input ratios", dep("anthropic", "my-model", "", config.ModelInfo{InputCostPerToken: f(1e-6), OutputCostPerToken: f(2e-6)}),
			u, 1000*1e-6 + 500*2e-6 + 2000*1.25e-6 + 10000*0.1e-6},
		{"overrides drop the long-context tier", dep("anthropic", "claude-sonnet-4", "", config.ModelInfo{InputCostPerToken: f(1e-6)}),
			llm.Usage{InputTokens: 300_000}, 300_000 * 1e-6},
		{"base_model names an unknown id", dep("bedrock", "arn:aws:bedrock:us-east-1:1:application-inference-profile/abc", "", config.ModelInfo{
			Raw: map[string]any{"base_model": "anthropic.claude-haiku-4-5-20251001-v1:0"}}), llm.Usage{InputTokens: 1e6}, 1},
		{"no usage", dep("anthropic", "claude-sonnet-4-5", "", config.ModelInfo{}), llm.Usage{}, 0},
	}
	p := New(nil, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 { // second call from the cache
				if got := p.Cost(tc.d, tc.u); math.Abs(got-tc.want) > 1e-12 {
					t.Fatalf("Cost = %.12g, want %.12g", got, tc.want)
				}
			}
		})
	}
	if p.Cost(nil, u) != 0 {
		t.Fatal("nil deployment priced")
	}
}

func TestFamily(t *testing.T) {
	for in, want := range map[string][2]string{
		"claude-sonnet-4-5-20250929":                         {"claude-sonnet-4-5", ""},
		"us.anthropic.claude-sonnet-4-5-20250929-v1:0":       {"claude-sonnet-4-5", "us"},
		"invoke/apac.anthropic.claude-3-haiku-20240307-v1:0": {"claude-3-haiku", "apac"},
		"us-gov.anthropic.claude-3-7-sonnet-20250219-v1:0":   {"claude-3-7-sonnet", "us-gov"},
		"claude-3-5-sonnet-v2@20241022":                      {"claude-3-5-sonnet", ""},
		"Claude-Opus-4-6":                                    {"claude-opus-4-6", ""},
		"global.anthropic.claude-opus-4-6-v1":                {"claude-opus-4-6", "global"},
		"claude-3-5-sonnet-latest":                           {"claude-3-5-sonnet", ""},
	} {
		if fam, prof := Family(in); fam != want[0] || prof != want[1] {
			t.Errorf("Family(%q) = %q, %q; want %q, %q", in, fam, prof, want[0], want[1])
		}
	}
}

// TestTable: the embedded table parses, and every family has sane prices
// (cache write >= input >= cache read, output > input).
func TestTable(t *testing.T) {
	tab := Default()
	if len(tab.models) < 15 {
		t.Fatalf("only %d models", len(tab.models))
	}
	for name := range tab.models {
		for _, prov := range []string{"anthropic", "bedrock", "vertex_ai"} {
			r, ok := tab.Lookup(prov, name, "global")
			b := r.Base
			if !ok || b.Input <= 0 || b.Output <= b.Input || b.CacheWrite < b.Input || b.CacheRead >= b.Input {
				t.Errorf("%s on %s: %+v", name, prov, b)
			}
		}
	}
	for _, bad := range []string{"", "models: {}", "models: {x: {input: 1}}", "models: {x: {input: 1, output: 1, cache_write: 1, cache_read: 1, azure: {input: 2}}}"} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
