package router_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/llm"
)

// The seed configs (testdata/ holds copies of shared/seed-configs) load
// unchanged and route as their comments say. Providers are replaced by
// fakes keyed by deployment id, which is the config's stable hash here.
func seedHarness(t *testing.T, file string) (*harness, map[string]string) {
	t.Helper()
	data, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(data, dummyEnv)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	h := newHarnessFrom(t, cfg, nil, newClock(), withSeed(2024))
	// Name deployments by provider for readable assertions.
	byProvider := map[string]string{}
	for _, d := range cfg.Deployments {
		byProvider[d.Params.Provider] = d.ID
	}
	return h, byProvider
}

func claude(int) *llm.Request { return msgReq("claude-sonnet", true) }

func TestSeedWeighted(t *testing.T) {
	h, id := seedHarness(t, "weighted.yaml")
	const n = 10_000
	counts := h.served(n, claude)
	// weight 3 vs 1: 75% / 25%, within 2 points.
	within(t, "bedrock", share(counts, id["bedrock"], n), 0.75, 0.02)
	within(t, "vertex", share(counts, id["vertex_ai"], n), 0.25, 0.02)
}

func TestSeedPriorityOrder(t *testing.T) {
	h, id := seedHarness(t, "priority-order.yaml")
	if counts := h.served(500, claude); counts[id["bedrock"]] != 500 {
		t.Fatalf("primary healthy: %v, want all on bedrock (order 1)", counts)
	}
	// The primary throttles: every request still succeeds, on the fallback.
	h.fakes[id["bedrock"]].Set(behaviour{err: errStatus(429)})
	if counts := h.served(500, claude); counts[id["vertex_ai"]] != 500 {
		t.Fatalf("primary down: %v, want all on vertex (order 2)", counts)
	}
	// It recovers: traffic returns once its cooldown passes.
	h.fakes[id["bedrock"]].Set(behaviour{})
	h.clock.Advance(5 * time.Second)
	if counts := h.served(100, claude); counts[id["bedrock"]] != 100 {
		t.Fatalf("primary back: %v", counts)
	}
}

func TestSeedRateLimitAware(t *testing.T) {
	h, id := seedHarness(t, "rate-limit-aware.yaml")
	if !h.cfg.Router.EnablePreCallChecks {
		t.Fatal("enable_pre_call_check (singular) not honoured")
	}
	bedrock, vertex := id["bedrock"], id["vertex_ai"]
	// Within one minute: 1000 + 500 requests fit; rpm weights split them 2:1
	// until the limits bind.
	counts := map[string]int{}
	var limited int
	for i := range 1600 {
		res, err := h.do(claude(i))
		if err != nil {
			le := asLLM(t, err)
			if le.Status != 429 || le.RetryAfter != 50*time.Second {
				t.Fatalf("request %d: %+v, want 429 retry-after 50s", i, le)
			}
			limited++
			continue
		}
		counts[res.Deployment.ID()]++
		if i == 899 {
			within(t, "bedrock share before limits", share(counts, bedrock, 900), 2.0/3, 0.05)
		}
	}
	if counts[bedrock] != 1000 || counts[vertex] != 500 || limited != 100 {
		t.Fatalf("served %v, limited %d; want bedrock 1000, vertex 500, 100 limited", counts, limited)
	}
	if hl := h.health(bedrock); hl.RPMUsed != 1000 || hl.RPM != 1000 {
		t.Fatalf("health %+v", hl)
	}
	// A new minute opens new windows.
	h.clock.Advance(50 * time.Second)
	if _, err := h.do(claude(0)); err != nil {
		t.Fatalf("next minute: %v", err)
	}
	// tpm: with bedrock's 100000 tokens (nearly) spent this minute, by any
	// instance, traffic goes to vertex.
	h.tokens(bedrock, 99_990)
	if counts := h.served(100, claude); counts[vertex] != 100 {
		t.Fatalf("bedrock tpm spent: %v", counts)
	}
}

func TestSeedAnthropicFallback(t *testing.T) {
	h, id := seedHarness(t, "anthropic-fallback.yaml")
	bedrock, vertex, anthropic := id["bedrock"], id["vertex_ai"], id["anthropic"]
	const n = 2000
	counts := h.served(n, claude)
	if counts[anthropic] != 0 {
		t.Fatalf("anthropic (order 2) used while order 1 is healthy: %v", counts)
	}
	within(t, "bedrock", share(counts, bedrock, n), 0.5, 0.05)

	// Both clouds fail: the Anthropic API serves, with no client-visible error.
	h.fakes[bedrock].Set(behaviour{err: errStatus(503)})
	h.fakes[vertex].Set(behaviour{err: errStatus(429)})
	if counts := h.served(100, claude); counts[anthropic] != 100 {
		t.Fatalf("clouds down: %v", counts)
	}
	// Sessions (Claude Code) stick to one deployment in the group.
	h.fakes[bedrock].Set(behaviour{})
	h.fakes[vertex].Set(behaviour{})
	h.clock.Advance(5 * time.Second)
	sess := h.served(100, func(int) *llm.Request { return sessionReq("claude-code-session") })
	if len(sess) != 1 || sess[anthropic] != 0 {
		t.Fatalf("session spread or on order 2: %v", sess)
	}
	if _, err := h.r.Route(context.Background(), msgReq("claude-haiku", false)); err == nil {
		t.Fatal("unknown model served")
	}
}
