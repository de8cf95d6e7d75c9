package router_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/claude-gateway/claude-gateway/core/llm"
)

func TestResolve(t *testing.T) {
	h := newHarness(t, `
model_list:
  - model_name: "*"
    litellm_params: {model: anthropic/claude-any}
    model_info: {id: star}
  - model_name: claude-*
    litellm_params: {model: anthropic/claude-pattern}
    model_info: {id: pattern}
  - model_name: claude-sonnet-4-5
    litellm_params: {model: anthropic/claude-exact}
    model_info: {id: exact}
  - model_name: claude-sonnet
    litellm_params: {model: anthropic/claude-sonnet}
    model_info: {id: sonnet}
router_settings:
  model_group_alias: {claude-opus-5-5: claude-sonnet, claude-ghost: claude-ghost-1}
`)
	for _, tc := range []struct{ model, want string }{
		{"claude-sonnet-4-5", "claude-sonnet-4-5"}, // exact wins over the pattern
		{"claude-sonnet", "claude-sonnet"},
		{"claude-opus-5-5", "claude-sonnet"},       // alias
		{"claude-haiku-5-5", "claude-*"},           // most specific pattern wins over "*"
		{"claude-ghost", "claude-*"},               // alias to a name only a pattern serves
		{"gpt-4o", "*"},                            // catch-all
		{"claude-sonnet-4-5-20250929", "claude-*"}, // a longer id is not the exact name
	} {
		got, ok := h.r.Resolve(tc.model)
		if !ok || got != tc.want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", tc.model, got, ok, tc.want)
		}
	}
	if g := h.r.Groups(); strings.Join(g, ",") != "claude-sonnet,claude-sonnet-4-5" {
		t.Errorf("Groups() = %v", g)
	}

	noStar := newHarness(t, `
model_list:
  - model_name: claude-sonnet
    litellm_params: {model: anthropic/claude-sonnet}
`)
	if _, err := noStar.do(msgReq("gpt-4o", false)); err == nil || asLLM(t, err).Status != 404 {
		t.Fatalf("unknown model: %v, want 404", err)
	}
}

// Each strategy picks 10,000 times with a fixed seed; shares must hold
// within the stated tolerance (about four standard deviations).
func TestDistribution(t *testing.T) {
	const n = 10_000
	type setup func(h *harness)
	for _, tc := range []struct {
		name  string
		yaml  string
		setup setup
		want  map[string]float64
		tol   float64
	}{{
		name: "simple-shuffle by weight",
		yaml: deps("simple-shuffle", "weight: 3", "weight: 1"),
		want: map[string]float64{"a": 0.75, "b": 0.25}, tol: 0.02,
	}, {
		name: "simple-shuffle by rpm",
		yaml: deps("simple-shuffle", "rpm: 1000", "rpm: 500"),
		want: map[string]float64{"a": 2.0 / 3, "b": 1.0 / 3}, tol: 0.02,
	}, {
		name: "simple-shuffle by tpm",
		yaml: deps("simple-shuffle", "tpm: 100000", "tpm: 300000"),
		want: map[string]float64{"a": 0.25, "b": 0.75}, tol: 0.02,
	}, {
		name: "simple-shuffle weight beats rpm; no weight means none (LiteLLM)",
		yaml: deps("simple-shuffle", "weight: 1", "rpm: 1000", "weight: 1"),
		want: map[string]float64{"a": 0.5, "b": 0, "c": 0.5}, tol: 0.02,
	}, {
		name: "simple-shuffle uniform",
		yaml: deps("simple-shuffle", "", "", "", ""),
		want: map[string]float64{"a": 0.25, "b": 0.25, "c": 0.25, "d": 0.25}, tol: 0.02,
	}, {
		name: "least-busy",
		yaml: deps("least-busy", "", "", ""),
		setup: func(h *harness) {
			h.r.SetInFlightForTest("a", 4)
			h.r.SetInFlightForTest("b", 1)
			h.r.SetInFlightForTest("c", 1)
		},
		want: map[string]float64{"a": 0, "b": 0.5, "c": 0.5}, tol: 0.02,
	}, {
		name: "latency-based-routing explores 5%",
		yaml: deps("latency-based-routing", "", "", ""),
		setup: func(h *harness) {
			h.r.ObserveLatencyForTest("a", true, 300e6)
			h.r.ObserveLatencyForTest("b", true, 100e6)
			h.r.ObserveLatencyForTest("c", true, 200e6)
		},
		want: map[string]float64{"a": 0.05 / 3, "b": 0.95 + 0.05/3, "c": 0.05 / 3}, tol: 0.01,
	}, {
		name: "latency-based-routing measures the unmeasured first",
		yaml: deps("latency-based-routing", "", ""),
		setup: func(h *harness) {
			h.r.ObserveLatencyForTest("a", true, 100e6)
		},
		want: map[string]float64{"a": 0.025, "b": 0.975}, tol: 0.01,
	}, {
		name: "usage-based-routing-v2",
		yaml: deps("usage-based-routing-v2", "tpm: 100000", "tpm: 100000", "tpm: 100000"),
		setup: func(h *harness) {
			h.tokens("a", 5000)
			h.tokens("b", 1000)
			h.tokens("c", 9000)
		},
		want: map[string]float64{"b": 1}, tol: 0,
	}, {
		name: "cost-based-routing by model_info price",
		yaml: `
model_list:
  - {model_name: g, litellm_params: {model: anthropic/a}, model_info: {id: a, input_cost_per_token: 0.000003, output_cost_per_token: 0.000015}}
  - {model_name: g, litellm_params: {model: anthropic/b}, model_info: {id: b, input_cost_per_token: 0.000001, output_cost_per_token: 0.000005}}
  - {model_name: g, litellm_params: {model: anthropic/c}, model_info: {id: c, input_cost_per_token: 0.000001, output_cost_per_token: 0.000005}}
  - {model_name: g, litellm_params: {model: anthropic/d}, model_info: {id: d}}
router_settings: {routing_strategy: cost-based-routing}
`,
		want: map[string]float64{"b": 0.5, "c": 0.5}, tol: 0.02,
	}, {
		name: "order tiers: lower order takes everything while healthy",
		yaml: `
model_list:
  - {model_name: g, litellm_params: {model: anthropic/a, order: 1, weight: 1}, model_info: {id: a}}
  - {model_name: g, litellm_params: {model: anthropic/b, order: 1, weight: 3}, model_info: {id: b}}
  - {model_name: g, litellm_params: {model: anthropic/c, order: 2}, model_info: {id: c}}
  - {model_name: g, litellm_params: {model: anthropic/d}, model_info: {id: d}}
`,
		want: map[string]float64{"a": 0.25, "b": 0.75}, tol: 0.02,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.yaml, withSeed(42))
			if tc.setup != nil {
				tc.setup(h)
			}
			counts := map[string]int{}
			for range n {
				id := h.r.PickForTest("g", msgReq("g", true))
				counts[id]++
			}
			for id := range counts {
				if _, ok := tc.want[id]; !ok {
					t.Errorf("picked unexpected %q %d times", id, counts[id])
				}
			}
			for id, want := range tc.want {
				within(t, id, share(counts, id, n), want, tc.tol)
			}
		})
	}
}

// deps builds a group "g" of deployments a, b, c... with extra litellm_params.
func deps(strategy string, params ...string) string {
	var b strings.Builder
	b.WriteString("model_list:\n")
	for i, p := range params {
		id := string(rune('a' + i))
		if p != "" {
			p = ", " + p
		}
		fmt.Fprintf(&b, "  - {model_name: g, litellm_params: {model: anthropic/m-%s%s}, model_info: {id: %s}}\n", id, p, id)
	}
	fmt.Fprintf(&b, "router_settings:\n  routing_strategy: %s\n", strategy)
	return b.String()
}

// tokens records n tokens of usage on deployment id in the current minute
// through the store, as another instance would, and refreshes.
func (h *harness) tokens(id string, n int64) {
	h.t.Helper()
	key := fmt.Sprintf("tpm:%s:%d", id, h.clock.Now().Unix()/60)
	if _, _, err := h.store.Incr(t0, key, n, 0, h.clock.Now().Add(2*60e9)); err != nil {
		h.t.Fatal(err)
	}
	if err := h.r.Refresh(t0); err != nil {
		h.t.Fatal(err)
	}
}

func TestOrderTiersFailOver(t *testing.T) {
	h := newHarness(t, `
model_list:
  - {model_name: g, litellm_params: {model: bedrock/a, aws_region_name: us-east-1, order: 1}, model_info: {id: a}}
  - {model_name: g, litellm_params: {model: bedrock/b, aws_region_name: us-west-2, order: 1}, model_info: {id: b}}
  - {model_name: g, litellm_params: {model: anthropic/c, order: 2}, model_info: {id: c}}
  - {model_name: g, litellm_params: {model: anthropic/d}, model_info: {id: d}}
`)
	req := func(int) *llm.Request { return msgReq("g", true) }
	if got := h.served(200, req); got["c"]+got["d"] != 0 {
		t.Fatalf("healthy order 1 must take all traffic: %v", got)
	}
	// One of order 1 down: the other order-1 deployment takes over.
	h.fakes["a"].Set(behaviour{err: errStatus(500)})
	if got := h.served(100, req); got["b"] != 100 {
		t.Fatalf("with a down: %v", got)
	}
	// Both of order 1 down: order 2, never the unordered one.
	h.fakes["b"].Set(behaviour{err: errStatus(529)})
	if got := h.served(100, req); got["c"] != 100 {
		t.Fatalf("with order 1 down: %v", got)
	}
	// Order 2 down too: the unordered deployment is last.
	h.fakes["c"].Set(behaviour{err: errStatus(503)})
	if got := h.served(100, req); got["d"] != 100 {
		t.Fatalf("with orders 1 and 2 down: %v", got)
	}
	// Recovery: once the cooldowns pass, order 1 is back.
	for _, id := range []string{"a", "b", "c"} {
		h.fakes[id].Set(behaviour{})
	}
	h.clock.Advance(6e9)
	if got := h.served(100, req); got["a"]+got["b"] != 100 {
		t.Fatalf("after recovery: %v", got)
	}
}

// With num_retries 0 an order-1 failure still moves to order 2 (LiteLLM's
// order fallback is not a retry) but never retries within the tier.
func TestOrderEscalationWithoutRetries(t *testing.T) {
	h := newHarness(t, `
model_list:
  - {model_name: g, litellm_params: {model: anthropic/a, order: 1}, model_info: {id: a}}
  - {model_name: g, litellm_params: {model: anthropic/b, order: 1}, model_info: {id: b}}
  - {model_name: g, litellm_params: {model: anthropic/c, order: 2}, model_info: {id: c}}
router_settings: {num_retries: 0}
`)
	h.fakes["a"].Set(behaviour{err: errStatus(500)})
	h.fakes["b"].Set(behaviour{err: errStatus(500)})
	res, err := h.do(msgReq("g", false))
	if err != nil || res.Deployment.ID() != "c" {
		t.Fatalf("got %v %v, want c", res.Deployment, err)
	}
	if calls := h.fakes["a"].Calls() + h.fakes["b"].Calls(); calls != 1 {
		t.Fatalf("order 1 tried %d times, want 1 (no retries)", calls)
	}
}
