package router_test

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/providers/simulated"
	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/claude-gateway/claude-gateway/core/store/memory"
)

// simulatedRouter builds a router over the simulated provider (its injected
// failures are the ones operators use in demos and load tests).
func simulatedRouter(t *testing.T, yaml string, clock *fakeClock) (*router.Router, map[string]*simulated.Provider) {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), dummyEnv)
	if err != nil {
		t.Fatal(err)
	}
	sims := map[string]*simulated.Provider{}
	var deps []*router.Deployment
	for _, d := range cfg.Deployments {
		p, err := simulated.New(context.Background(), d)
		if err != nil {
			t.Fatal(err)
		}
		sims[d.ID] = p
		deps = append(deps, &router.Deployment{Config: d, Provider: p})
	}
	r := router.New(deps, cfg.Router, router.Options{
		Store: memory.New(clock.Now), Now: clock.Now, Sleep: clock.Sleep, AfterFunc: clock.AfterFunc,
		Go: func(f func()) { f() }, RefreshInterval: -1, Rand: rand.New(rand.NewPCG(7, 7)),
	})
	return r, sims
}

func drain(t *testing.T, res *router.Result) error {
	t.Helper()
	var u llm.Usage
	var err error
	if res.Stream != nil {
		for {
			var ev llm.Event
			ev, err = res.Stream.Next(context.Background())
			if err != nil {
				break
			}
			u.ObserveEvent(ev)
		}
		res.Stream.Close()
		if err == io.EOF {
			err = nil
		}
	}
	res.Finish(u, err)
	return err
}

func TestFailoverSimulated(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   int
		knobs    string
		cooldown time.Duration
	}{
		{"429", 429, "", 5 * time.Second},
		{"429 with retry-after", 429, ", retry_after: 30", 30 * time.Second},
		{"500", 500, "", 5 * time.Second},
		{"529 overloaded", 529, "", 5 * time.Second},
		{"401 bad credentials", 401, "", 5 * time.Second},
		{"404 model not in this region", 404, "", 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newClock()
			r, sims := simulatedRouter(t, `
model_list:
  - {model_name: claude-sonnet, litellm_params: {model: simulated/sick, seed: 1`+tc.knobs+`}, model_info: {id: sick}}
  - {model_name: claude-sonnet, litellm_params: {model: simulated/well, seed: 2}, model_info: {id: well}}
`, clock)
			sims["sick"].SetFailure(tc.status)
			sawRetry := false
			for i := range 50 {
				res, err := r.Route(context.Background(), msgReq("claude-sonnet", i%2 == 0))
				if err != nil {
					t.Fatalf("request %d: client saw %v", i, err)
				}
				if err := drain(t, res); err != nil {
					t.Fatalf("request %d stream: %v", i, err)
				}
				if res.Deployment.ID() != "well" {
					t.Fatalf("request %d served by %s", i, res.Deployment.ID())
				}
				if res.Retries == 1 {
					sawRetry = true
					if res.UpstreamStatus != 200 {
						t.Errorf("upstream status %d after failover", res.UpstreamStatus)
					}
				} else if res.Retries != 0 {
					t.Errorf("request %d: %d retries", i, res.Retries)
				}
			}
			if !sawRetry {
				t.Fatal("no request went to the failing deployment first (no retry seen)")
			}
			// Cooldown entered: reported by Health, for the expected time.
			h := health(t, r, "sick")
			if h.Healthy || !h.CooldownUntil.Equal(clock.Now().Add(tc.cooldown)) {
				t.Fatalf("health %+v, want cooling down until %v", h, clock.Now().Add(tc.cooldown))
			}
			// Cooldown left: once it passes and the deployment recovered, it serves again.
			sims["sick"].SetFailure(0)
			clock.Advance(tc.cooldown)
			if h := health(t, r, "sick"); !h.Healthy {
				t.Fatalf("still cooling down after %v: %+v", tc.cooldown, h)
			}
			counts := map[string]int{}
			for range 200 {
				res, err := r.Route(context.Background(), msgReq("claude-sonnet", true))
				if err != nil {
					t.Fatal(err)
				}
				drain(t, res)
				counts[res.Deployment.ID()]++
			}
			if counts["sick"] < 70 || counts["well"] < 70 {
				t.Fatalf("after recovery traffic is %v, want both serving", counts)
			}
		})
	}
}

func health(t *testing.T, r *router.Router, id string) router.DeploymentHealth {
	t.Helper()
	for _, d := range r.Health(context.Background()) {
		if d.ID == id {
			return d
		}
	}
	t.Fatalf("no deployment %s", id)
	return router.DeploymentHealth{}
}

const twoDeps = `
model_list:
  - {model_name: g, litellm_params: {model: anthropic/a, order: 1}, model_info: {id: a}}
  - {model_name: g, litellm_params: {model: anthropic/b, order: 2}, model_info: {id: b}}
`

func TestTimeouts(t *testing.T) {
	t.Run("non-streaming timeout fails over", func(t *testing.T) {
		h := newHarness(t, `
model_list:
  - {model_name: g, litellm_params: {model: anthropic/a, order: 1, timeout: 30}, model_info: {id: a}}
  - {model_name: g, litellm_params: {model: anthropic/b, order: 2}, model_info: {id: b}}
`)
		h.fakes["a"].Set(behaviour{delay: 31 * time.Second})
		res, err := h.do(msgReq("g", false))
		if err != nil || res.Deployment.ID() != "b" || res.Retries != 1 {
			t.Fatalf("got %v on %v (retries %d), want b after one retry", err, res.Deployment, res.Retries)
		}
		if res.UpstreamStatus != 200 {
			t.Errorf("upstream status %d", res.UpstreamStatus)
		}
	})
	t.Run("router timeout applies when the deployment sets none", func(t *testing.T) {
		h := newHarness(t, twoDeps+"router_settings: {timeout: 10}\n")
		h.fakes["a"].Set(behaviour{delay: 11 * time.Second})
		if res, err := h.do(msgReq("g", false)); err != nil || res.Deployment.ID() != "b" {
			t.Fatalf("got %v on %v, want b", err, res.Deployment)
		}
		h.fakes["a"].Set(behaviour{delay: 9 * time.Second})
		if res, err := h.do(msgReq("g", false)); err != nil || res.Deployment.ID() != "a" {
			t.Fatalf("in time: got %v on %v, want a", err, res.Deployment)
		}
	})
	t.Run("stream_timeout bounds the first event only", func(t *testing.T) {
		h := newHarness(t, `
model_list:
  - {model_name: g, litellm_params: {model: anthropic/a, order: 1, stream_timeout: 5}, model_info: {id: a}}
  - {model_name: g, litellm_params: {model: anthropic/b, order: 2, stream_timeout: 5}, model_info: {id: b}}
`)
		h.fakes["a"].Set(behaviour{delay: 6 * time.Second})
		h.fakes["b"].Set(behaviour{delay: 4 * time.Second})
		res, err := h.r.Route(context.Background(), msgReq("g", true))
		if err != nil || res.Deployment.ID() != "b" {
			t.Fatalf("got %v on %v, want b", err, res.Deployment)
		}
		// Long after stream_timeout the stream still flows.
		h.clock.Advance(10 * time.Minute)
		if err := drain(t, res); err != nil {
			t.Fatalf("stream cut after first event: %v", err)
		}
	})
	t.Run("timeouts count toward allowed_fails, then cool down", func(t *testing.T) {
		h := newHarness(t, `
model_list:
  - {model_name: g, litellm_params: {model: anthropic/a, order: 1, timeout: 1}, model_info: {id: a}}
  - {model_name: g, litellm_params: {model: anthropic/b, order: 2}, model_info: {id: b}}
`)
		h.fakes["a"].Set(behaviour{delay: 2 * time.Second})
		for i := range 5 {
			if res, err := h.do(msgReq("g", false)); err != nil || res.Deployment.ID() != "b" {
				t.Fatalf("request %d: %v on %v", i, err, res.Deployment)
			}
		}
		// Default allowed_fails is 3: the fourth timeout in the minute cools a down.
		if n := h.fakes["a"].Calls(); n != 4 {
			t.Fatalf("a called %d times, want 4", n)
		}
	})
}

func TestAllDown(t *testing.T) {
	h := newHarness(t, twoDeps)
	h.fakes["a"].Set(behaviour{err: errStatus(500)})
	h.fakes["b"].Set(behaviour{err: errStatus(502)})
	_, err := h.do(msgReq("g", true))
	le := asLLM(t, err)
	if le.Status != 429 || le.Type != llm.ErrRateLimit || le.RetryAfter != 5*time.Second {
		t.Fatalf("all down: %+v, want 429 rate_limit_error retry-after 5s", le)
	}
	// While they cool down, no upstream is called and the wait shrinks.
	calls := h.fakes["a"].Calls() + h.fakes["b"].Calls()
	h.clock.Advance(2500 * time.Millisecond)
	res, err := h.do(msgReq("g", false))
	le = asLLM(t, err)
	if le.Status != 429 || le.RetryAfter != 3*time.Second || res.Deployment != nil {
		t.Fatalf("while cooling: %+v (deployment %v), want 429 retry-after 3s", le, res.Deployment)
	}
	if n := h.fakes["a"].Calls() + h.fakes["b"].Calls(); n != calls {
		t.Fatalf("cooled deployments called %d times", n-calls)
	}
}

func TestSingleDeploymentRetriesWithBackoff(t *testing.T) {
	const one = `
model_list:
  - {model_name: g, litellm_params: {model: anthropic/a}, model_info: {id: a}}
`
	t.Run("overloaded to the end becomes a 429 with retry-after", func(t *testing.T) {
		h := newHarness(t, one)
		h.fakes["a"].Set(behaviour{err: errStatus(529)})
		res, err := h.do(msgReq("g", true))
		le := asLLM(t, err)
		if le.Status != 429 || le.Type != llm.ErrRateLimit || le.RetryAfter <= 0 {
			t.Fatalf("got %+v, want 429 with retry-after (never 529)", le)
		}
		if res.Retries != 3 || h.fakes["a"].Calls() != 4 {
			t.Fatalf("retries %d, calls %d; want 3 and 4", res.Retries, h.fakes["a"].Calls())
		}
		slept := h.clock.Slept()
		if len(slept) != 3 {
			t.Fatalf("slept %v, want 3 backoffs", slept)
		}
		for i, d := range slept {
			hi := 500 * time.Millisecond << i
			if d < hi/2 || d > hi {
				t.Errorf("backoff %d = %v, want within [%v, %v]", i+1, d, hi/2, hi)
			}
		}
	})
	t.Run("retry-after is honoured", func(t *testing.T) {
		h := newHarness(t, one)
		e := llm.NewError(429, "slow down")
		e.RetryAfter = 7 * time.Second
		h.fakes["a"].Script(behaviour{err: e})
		if _, err := h.do(msgReq("g", false)); err != nil {
			t.Fatal(err)
		}
		if s := h.clock.Slept(); len(s) != 1 || s[0] != 7*time.Second {
			t.Fatalf("slept %v, want [7s]", s)
		}
	})
	t.Run("a retry-after too long to wait goes to the client", func(t *testing.T) {
		h := newHarness(t, one)
		e := llm.NewError(429, "slow down")
		e.RetryAfter = 90 * time.Second
		h.fakes["a"].Set(behaviour{err: e})
		_, err := h.do(msgReq("g", false))
		if le := asLLM(t, err); le.Status != 429 || le.RetryAfter != 90*time.Second {
			t.Fatalf("got %+v", le)
		}
		if len(h.clock.Slept()) != 0 || h.fakes["a"].Calls() != 1 {
			t.Fatalf("slept %v, calls %d", h.clock.Slept(), h.fakes["a"].Calls())
		}
	})
	t.Run("a single deployment is never cooled down", func(t *testing.T) {
		h := newHarness(t, one)
		h.fakes["a"].Script(behaviour{err: errStatus(500)}, behaviour{err: errStatus(500)})
		if _, err := h.do(msgReq("g", false)); err != nil {
			t.Fatalf("transient 500s: %v", err)
		}
		if !h.health("a").Healthy {
			t.Fatal("single deployment cooled down")
		}
	})
}

func TestMidStreamFailureIsNotRetried(t *testing.T) {
	h := newHarness(t, twoDeps)
	boom := &llm.Error{Status: 502, Type: llm.ErrAPI, Message: "connection reset", Retryable: true}
	h.fakes["a"].Set(behaviour{midStream: boom})
	res, err := h.do(msgReq("g", true))
	if !errors.Is(err, boom) {
		t.Fatalf("stream error %v, want the upstream's", err)
	}
	if res.Deployment.ID() != "a" || res.Retries != 0 || h.fakes["b"].Calls() != 0 {
		t.Fatalf("mid-stream failure retried: %+v, b calls %d", res, h.fakes["b"].Calls())
	}
	if hl := h.health("a"); hl.InFlight != 0 || !hl.Healthy {
		t.Fatalf("after finish: %+v (one mid-stream failure does not cool down)", hl)
	}
}

func TestClientErrorsAreNotRetried(t *testing.T) {
	for _, status := range []int{400, 413, 422} {
		h := newHarness(t, twoDeps+"router_settings: {fallbacks: [{g: [g]}]}\n")
		h.fakes["a"].Set(behaviour{err: errStatus(status)})
		_, err := h.do(msgReq("g", false))
		if le := asLLM(t, err); le.Status != status {
			t.Fatalf("%d: got %+v", status, le)
		}
		if h.fakes["b"].Calls() != 0 || h.fakes["a"].Calls() != 1 {
			t.Fatalf("%d retried: a %d, b %d calls", status, h.fakes["a"].Calls(), h.fakes["b"].Calls())
		}
		if !h.health("a").Healthy {
			t.Fatalf("%d cooled the deployment down", status)
		}
	}
}

func TestRetryPolicy(t *testing.T) {
	t.Run("BadRequestErrorRetries allows a retry", func(t *testing.T) {
		h := newHarness(t, twoDeps+"router_settings: {retry_policy: {BadRequestErrorRetries: 1}}\n")
		h.fakes["a"].Set(behaviour{err: errStatus(400)})
		if res, err := h.do(msgReq("g", false)); err != nil || res.Deployment.ID() != "b" {
			t.Fatalf("got %v on %v", err, res.Deployment)
		}
	})
	t.Run("RateLimitErrorRetries 0 stops at the first 429", func(t *testing.T) {
		h := newHarness(t, `
model_list:
  - {model_name: g, litellm_params: {model: anthropic/a}, model_info: {id: a}}
  - {model_name: g, litellm_params: {model: anthropic/b}, model_info: {id: b}}
router_settings: {retry_policy: {RateLimitErrorRetries: 0}}
`)
		h.fakes["a"].Set(behaviour{err: errStatus(429)})
		h.fakes["b"].Set(behaviour{err: errStatus(429)})
		_, err := h.do(msgReq("g", false))
		if le := asLLM(t, err); le.Status != 429 {
			t.Fatalf("got %+v", le)
		}
		if n := h.fakes["a"].Calls() + h.fakes["b"].Calls(); n != 1 {
			t.Fatalf("%d calls, want 1", n)
		}
	})
	t.Run("num_retries bounds attempts", func(t *testing.T) {
		h := newHarness(t, deps("simple-shuffle", "", "", "", "", "", "")+"  num_retries: 2\n")
		for _, p := range h.fakes {
			p.Set(behaviour{err: errStatus(500)})
		}
		res, _ := h.do(msgReq("g", false))
		total := 0
		for _, p := range h.fakes {
			total += p.Calls()
		}
		if total != 3 || res.Retries != 2 {
			t.Fatalf("%d calls, %d retries; want 3 and 2", total, res.Retries)
		}
	})
}

func TestCooldownPolicy(t *testing.T) {
	t.Run("allowed_fails", func(t *testing.T) {
		h := newHarness(t, twoDeps+"router_settings: {allowed_fails: 2, cooldown_time: 30}\n")
		h.fakes["a"].Set(behaviour{err: errStatus(500)})
		for range 5 {
			if res, err := h.do(msgReq("g", false)); err != nil || res.Deployment.ID() != "b" {
				t.Fatalf("got %v on %v", err, res.Deployment)
			}
		}
		if n := h.fakes["a"].Calls(); n != 3 {
			t.Fatalf("a called %d times, want 3 (cooled on the third failure)", n)
		}
		if hl := h.health("a"); !hl.CooldownUntil.Equal(h.clock.Now().Add(30*time.Second)) || hl.CooldownReason != "500 api_error" {
			t.Fatalf("health %+v", hl)
		}
	})
	t.Run("allowed_fails_policy per class", func(t *testing.T) {
		h := newHarness(t, twoDeps+"router_settings: {allowed_fails_policy: {RateLimitErrorAllowedFails: 1}}\n")
		h.fakes["a"].Set(behaviour{err: errStatus(429)})
		for range 4 {
			h.do(msgReq("g", false))
		}
		if n := h.fakes["a"].Calls(); n != 2 {
			t.Fatalf("a called %d times, want 2", n)
		}
	})
	t.Run("cooldown_time 0 disables cooldowns", func(t *testing.T) {
		h := newHarness(t, twoDeps+"router_settings: {cooldown_time: 0}\n")
		h.fakes["a"].Set(behaviour{err: errStatus(500)})
		for range 3 {
			h.do(msgReq("g", false))
		}
		if n := h.fakes["a"].Calls(); n != 3 {
			t.Fatalf("a called %d times, want 3", n)
		}
	})
}

// Cooldowns and failure counts live in the Store: what one instance learns,
// the others see after their next refresh.
func TestSharedStateAcrossInstances(t *testing.T) {
	clock := newClock()
	store := memory.New(clock.Now)
	cfg := parse(t, twoDeps)
	a := newHarnessFrom(t, cfg, store, clock)
	b := newHarnessFrom(t, cfg, store, clock)

	a.fakes["a"].Set(behaviour{err: errStatus(500)})
	if res, err := a.do(msgReq("g", false)); err != nil || res.Deployment.ID() != "b" {
		t.Fatalf("instance A: %v on %v", err, res.Deployment)
	}
	if err := b.r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if hl := b.health("a"); hl.Healthy {
		t.Fatal("instance B does not see A's cooldown")
	}
	if res, err := b.do(msgReq("g", false)); err != nil || res.Deployment.ID() != "b" || b.fakes["a"].Calls() != 0 {
		t.Fatalf("instance B: %v on %v, a calls %d", err, res.Deployment, b.fakes["a"].Calls())
	}

	// allowed_fails counts every instance's failures: two timeouts here and
	// two there exceed the default of 3.
	clock.Advance(time.Minute)
	for _, h := range []*harness{a, b} {
		h.fakes["a"].Set(behaviour{err: context.DeadlineExceeded})
		for range 2 {
			h.do(msgReq("g", false))
		}
	}
	if hl := b.health("a"); hl.Healthy {
		t.Fatalf("four timeouts across instances did not cool a down: %+v", hl)
	}
}

func parse(t *testing.T, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), dummyEnv)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestFallbacks(t *testing.T) {
	const groups = `
model_list:
  - {model_name: sonnet, litellm_params: {model: anthropic/a}, model_info: {id: a}}
  - {model_name: sonnet, litellm_params: {model: anthropic/b}, model_info: {id: b}}
  - {model_name: haiku, litellm_params: {model: anthropic/c}, model_info: {id: c}}
  - {model_name: opus, litellm_params: {model: anthropic/d}, model_info: {id: d}}
  - {model_name: long, litellm_params: {model: anthropic/e}, model_info: {id: e}}
`
	downSonnet := func(h *harness) {
		h.fakes["a"].Set(behaviour{err: errStatus(500)})
		h.fakes["b"].Set(behaviour{err: errStatus(503)})
	}
	for _, tc := range []struct {
		name      string
		settings  string
		litellm   string
		setup     func(h *harness)
		want      string
		fallbacks int
	}{
		{"fallbacks", "fallbacks: [{sonnet: [haiku]}]", "", downSonnet, "c", 1},
		{"litellm_settings fallbacks", "", "fallbacks: [{sonnet: [haiku]}]", downSonnet, "c", 1},
		{"wildcard entry", `fallbacks: [{"*": [opus]}]`, "", downSonnet, "d", 1},
		{"default_fallbacks", "default_fallbacks: [opus]", "", downSonnet, "d", 1},
		{"second fallback after the first fails", "fallbacks: [{sonnet: [haiku, opus]}]", "",
			func(h *harness) { downSonnet(h); h.fakes["c"].Set(behaviour{err: errStatus(529)}) }, "d", 2},
		{"context window error uses context_window_fallbacks", "fallbacks: [{sonnet: [haiku]}]\n  context_window_fallbacks: [{sonnet: [long]}]", "",
			func(h *harness) {
				e := llm.NewError(400, "prompt is too long: 250000 tokens > 200000 maximum")
				h.fakes["a"].Set(behaviour{err: e})
				h.fakes["b"].Set(behaviour{err: e})
			}, "e", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yaml := groups
			if tc.settings != "" {
				yaml += "router_settings:\n  " + tc.settings + "\n"
			}
			if tc.litellm != "" {
				yaml += "litellm_settings:\n  " + tc.litellm + "\n"
			}
			h := newHarness(t, yaml)
			tc.setup(h)
			res, err := h.do(msgReq("sonnet", true))
			if err != nil || res.Deployment.ID() != tc.want {
				t.Fatalf("got %v on %v, want %s", err, res.Deployment, tc.want)
			}
			if res.Fallbacks != tc.fallbacks || res.Group == "sonnet" {
				t.Fatalf("fallbacks %d group %s", res.Fallbacks, res.Group)
			}
		})
	}
	t.Run("max_fallbacks", func(t *testing.T) {
		h := newHarness(t, groups+"router_settings: {max_fallbacks: 1, fallbacks: [{sonnet: [haiku, opus]}]}\n")
		downSonnet(h)
		h.fakes["c"].Set(behaviour{err: errStatus(500)})
		if _, err := h.do(msgReq("sonnet", false)); err == nil || h.fakes["d"].Calls() != 0 {
			t.Fatalf("went past max_fallbacks: %v, d calls %d", err, h.fakes["d"].Calls())
		}
	})
	t.Run("client errors do not fall back", func(t *testing.T) {
		h := newHarness(t, groups+"router_settings: {fallbacks: [{sonnet: [haiku]}]}\n")
		h.fakes["a"].Set(behaviour{err: errStatus(400)})
		h.fakes["b"].Set(behaviour{err: errStatus(400)})
		if _, err := h.do(msgReq("sonnet", false)); err == nil || h.fakes["c"].Calls() != 0 {
			t.Fatalf("400 fell back: %v", err)
		}
	})
	t.Run("all cooling down falls back without calling them", func(t *testing.T) {
		h := newHarness(t, groups+"router_settings: {fallbacks: [{sonnet: [haiku]}]}\n")
		downSonnet(h)
		h.do(msgReq("sonnet", false)) // cools a and b
		calls := h.fakes["a"].Calls() + h.fakes["b"].Calls()
		res, err := h.do(msgReq("sonnet", false))
		if err != nil || res.Deployment.ID() != "c" || h.fakes["a"].Calls()+h.fakes["b"].Calls() != calls {
			t.Fatalf("got %v on %v", err, res.Deployment)
		}
	})
}

func TestPreCallChecks(t *testing.T) {
	t.Run("rpm limits are exact and reset each minute", func(t *testing.T) {
		h := newHarness(t, deps("simple-shuffle", "rpm: 2", "rpm: 3")+"  enable_pre_call_checks: true\n")
		counts := h.served(5, func(int) *llm.Request { return msgReq("g", true) })
		if counts["a"] != 2 || counts["b"] != 3 {
			t.Fatalf("served %v, want a 2, b 3", counts)
		}
		_, err := h.do(msgReq("g", true))
		le := asLLM(t, err)
		if le.Status != 429 || le.RetryAfter != 50*time.Second {
			t.Fatalf("over limits: %+v, want 429 retry-after 50s (to the minute's end)", le)
		}
		h.clock.Advance(50 * time.Second)
		if _, err := h.do(msgReq("g", true)); err != nil {
			t.Fatalf("next minute: %v", err)
		}
	})
	t.Run("rpm is only a weight without pre-call checks", func(t *testing.T) {
		h := newHarness(t, deps("simple-shuffle", "rpm: 1", "rpm: 1"))
		h.served(10, func(int) *llm.Request { return msgReq("g", true) })
	})
	t.Run("tpm counts real usage", func(t *testing.T) {
		h := newHarness(t, deps("simple-shuffle", "tpm: 100")+"  enable_pre_call_checks: true\n")
		// Each call uses 15 tokens; a prompt estimated at 20 no longer fits
		// once 90 are spent.
		h.served(6, func(int) *llm.Request { return msgReq("g", false) })
		if _, err := h.do(msgReq("g", false)); err == nil || asLLM(t, err).Status != 429 {
			t.Fatalf("over tpm: %v", err)
		}
		key := []string{"tpm:a:" + itoa(h.clock.Now().Unix()/60)}
		if c, _ := h.store.Counts(context.Background(), key); c[0] != 90 {
			t.Fatalf("store tpm %v, want 90", c)
		}
		if hl := h.health("a"); hl.TPMUsed != 90 {
			t.Fatalf("health tpm %d", hl.TPMUsed)
		}
	})
	t.Run("context window", func(t *testing.T) {
		h := newHarness(t, `
model_list:
  - {model_name: g, litellm_params: {model: anthropic/a}, model_info: {id: a, max_input_tokens: 10}}
  - {model_name: g, litellm_params: {model: anthropic/b}, model_info: {id: b, max_input_tokens: 1000}}
  - {model_name: small, litellm_params: {model: anthropic/c}, model_info: {id: c, max_input_tokens: 10}}
router_settings: {enable_pre_call_checks: true}
`)
		if got := h.served(50, func(int) *llm.Request { return msgReq("g", false) }); got["b"] != 50 {
			t.Fatalf("served %v, want all on b", got)
		}
		// An estimate too big for every deployment, with nowhere else to
		// go: the upstream judges.
		if _, err := h.do(msgReq("small", false)); err != nil {
			t.Fatalf("small: %v", err)
		}
	})
	t.Run("context window fallbacks", func(t *testing.T) {
		h := newHarness(t, `
model_list:
  - {model_name: g, litellm_params: {model: anthropic/a}, model_info: {id: a, max_input_tokens: 10}}
  - {model_name: long, litellm_params: {model: anthropic/b}, model_info: {id: b, max_input_tokens: 1000000}}
router_settings: {enable_pre_call_checks: true, context_window_fallbacks: [{g: [long]}]}
`)
		res, err := h.do(msgReq("g", false))
		if err != nil || res.Deployment.ID() != "b" || h.fakes["a"].Calls() != 0 {
			t.Fatalf("got %v on %v", err, res.Deployment)
		}
	})
	t.Run("count_tokens is not rate counted", func(t *testing.T) {
		h := newHarness(t, deps("simple-shuffle", "rpm: 1")+"  enable_pre_call_checks: true\n")
		for range 5 {
			req := msgReq("g", false)
			req.Kind = llm.KindCountTokens
			if _, err := h.do(req); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := h.do(msgReq("g", false)); err != nil {
			t.Fatalf("first message after count_tokens: %v", err)
		}
	})
}

func itoa(n int64) string { return string(appendInt(nil, n)) }

func appendInt(b []byte, n int64) []byte {
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}

// failingStore fails every call, like a state store out of reach.
type failingStore struct{}

var errDown = errors.New("store down")

func (failingStore) Incr(context.Context, string, int64, int64, time.Time) (int64, bool, error) {
	return 0, false, errDown
}
func (failingStore) Counts(context.Context, []string) ([]int64, error) { return nil, errDown }
func (failingStore) Put(context.Context, string, string, time.Time) error {
	return errDown
}
func (failingStore) Get(context.Context, []string) ([]router.Entry, error) { return nil, errDown }

func TestStoreDown(t *testing.T) {
	cfg := parse(t, deps("simple-shuffle", "rpm: 10")+"  enable_pre_call_checks: true\n")
	build := func(failClosed bool) *router.Router {
		clock := newClock()
		p := &fakeProvider{id: "a", clock: clock}
		return router.New([]*router.Deployment{{Config: cfg.Deployments[0], Provider: p}}, cfg.Router, router.Options{
			Store: failingStore{}, Now: clock.Now, AfterFunc: clock.AfterFunc, Sleep: clock.Sleep,
			Go: func(f func()) { f() }, FailClosed: failClosed,
		})
	}
	res, err := build(false).Route(context.Background(), msgReq("g", false))
	if err != nil {
		t.Fatalf("fail open: %v", err)
	}
	res.Finish(llm.Usage{InputTokens: 1}, nil)
	_, err = build(true).Route(context.Background(), msgReq("g", false))
	if le := asLLM(t, err); le.Status != 503 {
		t.Fatalf("fail closed: %+v", le)
	}
}
