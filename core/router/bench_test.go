package router_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/claude-gateway/claude-gateway/core/store/memory"
)

// benchRouter builds a group "g" of n deployments with the given strategy
// and extra router_settings lines.
func benchRouter(b *testing.B, n int, strategy, extra string) *router.Router {
	b.Helper()
	var y strings.Builder
	y.WriteString("model_list:\n")
	for i := range n {
		fmt.Fprintf(&y, "  - {model_name: g, litellm_params: {model: bedrock/m, aws_region_name: r%d, weight: %d, rpm: 100000000}, model_info: {id: d%d}}\n", i, i%3+1, i)
	}
	fmt.Fprintf(&y, "router_settings:\n  routing_strategy: %s\n%s", strategy, extra)
	cfg, err := config.Parse([]byte(y.String()), dummyEnv)
	if err != nil {
		b.Fatal(err)
	}
	var deps []*router.Deployment
	for _, d := range cfg.Deployments {
		deps = append(deps, &router.Deployment{Config: d, Provider: noopProvider{}})
	}
	return router.New(deps, cfg.Router, router.Options{Store: memory.New(nil), RefreshInterval: -1})
}

// BenchmarkPick measures the pick itself: tiers, health and limit checks
// from the local view, and the strategy; no provider and no Store call.
func BenchmarkPick(b *testing.B) {
	for _, strategy := range []string{"simple-shuffle", "least-busy", "latency-based-routing", "usage-based-routing-v2", "cost-based-routing"} {
		for _, n := range []int{2, 10, 100} {
			b.Run(fmt.Sprintf("%s/%d", strategy, n), func(b *testing.B) {
				r := benchRouter(b, n, strategy, "")
				req := msgReq("g", true)
				b.ReportAllocs()
				for b.Loop() {
					if r.PickForTest("g", req) == "" {
						b.Fatal("no pick")
					}
				}
			})
		}
	}
	// Claude Code's shape: a session id on every request, affinity on.
	for _, n := range []int{2, 10, 100} {
		b.Run(fmt.Sprintf("session/%d", n), func(b *testing.B) {
			r := benchRouter(b, n, "simple-shuffle", "  session_affinity: true\n")
			req := msgReq("g", true)
			req.SessionID = "0b8f3c2e-6f0e-4c55-9d1f-2f7c5a1e9b44"
			b.ReportAllocs()
			for b.Loop() {
				if r.PickForTest("g", req) == "" {
					b.Fatal("no pick")
				}
			}
		})
	}
}

// BenchmarkRoute is the router's whole overhead on a request: resolve,
// pick, attempt bookkeeping, Finish; with a provider that answers at once.
func BenchmarkRoute(b *testing.B) {
	for _, tc := range []struct{ name, extra string }{
		{"no-limits", ""},
		{"rpm-limits-memory-store", "  enable_pre_call_checks: true\n"},
	} {
		for _, n := range []int{2, 10, 100} {
			b.Run(fmt.Sprintf("%s/%d", tc.name, n), func(b *testing.B) {
				r := benchRouter(b, n, "simple-shuffle", tc.extra)
				req := msgReq("g", false)
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					res, err := r.Route(ctx, req)
					if err != nil {
						b.Fatal(err)
					}
					res.Finish(llm.Usage{InputTokens: 10, OutputTokens: 5}, nil)
				}
			})
		}
	}
}

type noopProvider struct{}

var noopResponse = &llm.Response{Status: 200, Body: []byte(`{"type":"message","usage":{"input_tokens":10,"output_tokens":5}}`)}

func (noopProvider) Send(context.Context, *llm.Request) (*llm.Response, error) {
	return noopResponse, nil
}
func (noopProvider) Stream(context.Context, *llm.Request) (llm.Stream, error) {
	return nil, llm.NewError(500, "not streaming")
}
func (noopProvider) Endpoint() string { return "noop://" }

// Many requests at once, with failures, cooldowns, limits, sessions and
// background refreshes racing (run with -race).
func TestConcurrentRouting(t *testing.T) {
	clock := newClock()
	cfg := parse(t, `
model_list:
  - {model_name: g, litellm_params: {model: bedrock/a, aws_region_name: us-east-1, rpm: 400}, model_info: {id: a}}
  - {model_name: g, litellm_params: {model: vertex_ai/b, vertex_location: us-east5, rpm: 400}, model_info: {id: b}}
  - {model_name: g, litellm_params: {model: anthropic/c, order: 2}, model_info: {id: c}}
router_settings: {enable_pre_call_checks: true, routing_strategy: least-busy}
`)
	store := memory.New(clock.Now)
	h := newHarnessFrom(t, cfg, store, clock, func(o *router.Options) {
		o.Go = nil            // real goroutines
		o.RefreshInterval = 0 // default: refresh in the background
		o.Rand = rand.New(rand.NewPCG(3, 3))
	})
	h.fakes["a"].Set(behaviour{err: errStatus(500)})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				req := msgReq("g", i%2 == 0)
				req.SessionID = fmt.Sprintf("s-%d", (w*100+i)%17)
				res, err := h.r.Route(context.Background(), req)
				if err != nil {
					errs <- err
					return
				}
				if err := drain(t, res); err != nil {
					errs <- err
					return
				}
				if i%25 == 0 {
					clock.Advance(2 * time.Second)
					h.r.Health(context.Background())
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("client saw %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.r.Drain(ctx); err != nil {
		t.Fatalf("background work not done: %v", err)
	}
	for _, d := range h.r.Health(context.Background()) {
		if d.InFlight != 0 {
			t.Errorf("%s: %d in flight after all finished", d.ID, d.InFlight)
		}
	}
}
