package router_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/claude-gateway/claude-gateway/core/store/memory"
)

// fakeClock is a manual clock: time moves only by Advance (or a fake
// Sleep), and AfterFunc timers fire when it passes them.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	slept  []time.Duration
}

type fakeTimer struct {
	at            time.Time
	f             func()
	stopped, done bool
}

func newClock() *fakeClock {
	// Ten seconds into a minute, so rate windows have room on both sides.
	return &fakeClock{now: time.Unix(1_800_000_000, 0).Truncate(time.Minute).Add(10 * time.Second)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock and runs the timers that came due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	for _, t := range c.timers {
		if !t.stopped && !t.done && !t.at.After(c.now) {
			t.done = true
			due = append(due, t)
		}
	}
	c.mu.Unlock()
	for _, t := range due {
		t.f()
	}
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if t.done || t.stopped {
			return false
		}
		t.stopped = true
		return true
	}
}

// Sleep records the wait and moves the clock instead of sleeping.
func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.slept = append(c.slept, d)
	c.mu.Unlock()
	c.Advance(d)
	return ctx.Err()
}

func (c *fakeClock) Slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

// behaviour is what a fake provider does on one call.
type behaviour struct {
	err       error         // fail before answering
	delay     time.Duration // clock time before the answer (or first event)
	midStream error         // a stream fails after its first content event
}

// fakeProvider answers like a deployment, in Anthropic's shapes, on the
// fake clock. Calls follow script, then def.
type fakeProvider struct {
	id    string
	clock *fakeClock
	mu    sync.Mutex
	calls int
	def   behaviour
	queue []behaviour
}

func (p *fakeProvider) next() behaviour {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if len(p.queue) > 0 {
		b := p.queue[0]
		p.queue = p.queue[1:]
		return b
	}
	return p.def
}

// Set changes the default behaviour (and drops any script).
func (p *fakeProvider) Set(b behaviour) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.def, p.queue = b, nil
}

// Script queues behaviours for the next calls.
func (p *fakeProvider) Script(bs ...behaviour) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.queue = append(p.queue, bs...)
}

func (p *fakeProvider) Calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

func (p *fakeProvider) Endpoint() string { return "fake://" + p.id }

// wait lets clock time pass for an answer; a timer that fires meanwhile
// cancels ctx.
func (p *fakeProvider) wait(ctx context.Context, d time.Duration) error {
	if d > 0 {
		p.clock.Advance(d)
	}
	return ctx.Err()
}

func (p *fakeProvider) Send(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	b := p.next()
	if err := p.wait(ctx, b.delay); err != nil {
		return nil, err
	}
	if b.err != nil {
		return nil, b.err
	}
	if req.Kind == llm.KindCountTokens {
		return &llm.Response{Status: 200, Body: []byte(`{"input_tokens":10}`)}, nil
	}
	return &llm.Response{Status: 200, Body: []byte(`{"id":"msg_1","type":"message","role":"assistant","model":"` + p.id +
		`","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":10,"output_tokens":5}}`)}, nil
}

func (p *fakeProvider) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	b := p.next()
	if b.err != nil {
		return nil, b.err
	}
	return &fakeStream{p: p, b: b}, nil
}

type fakeStream struct {
	p      *fakeProvider
	b      behaviour
	step   int
	closed bool
}

func (s *fakeStream) Next(ctx context.Context) (llm.Event, error) {
	if s.closed {
		return llm.Event{}, io.EOF
	}
	if s.step == 0 {
		if err := s.p.wait(ctx, s.b.delay); err != nil {
			return llm.Event{}, err
		}
	}
	if err := ctx.Err(); err != nil {
		return llm.Event{}, err
	}
	s.step++
	switch s.step {
	case 1:
		return llm.Event{Type: "message_start", Data: []byte(`{"type":"message_start","message":{"model":"` + s.p.id + `","usage":{"input_tokens":10,"output_tokens":1}}}`)}, nil
	case 2:
		return llm.Event{Type: "content_block_delta", Data: []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}`)}, nil
	case 3:
		if s.b.midStream != nil {
			return llm.Event{}, s.b.midStream
		}
		return llm.Event{Type: "message_delta", Data: []byte(`{"type":"message_delta","usage":{"output_tokens":5}}`)}, nil
	case 4:
		return llm.Event{Type: "message_stop", Data: []byte(`{"type":"message_stop"}`)}, nil
	}
	return llm.Event{}, io.EOF
}

func (s *fakeStream) Close() error { s.closed = true; return nil }

// harness is a router over fake providers on a fake clock and a memory store.
type harness struct {
	t      *testing.T
	r      *router.Router
	clock  *fakeClock
	store  *memory.Store
	cfg    *config.Config
	fakes  map[string]*fakeProvider
	models map[string]string // deployment id -> litellm model
}

// dummyEnv resolves every os.environ/ reference to a placeholder.
func dummyEnv(name string) (string, bool) { return "dummy-" + name, true }

type harnessOpt func(*router.Options)

func withSeed(seed uint64) harnessOpt {
	return func(o *router.Options) { o.Rand = rand.New(rand.NewPCG(seed, seed^0x9e3779b9)) }
}

// newHarness parses a config and replaces every deployment's provider by a fake.
func newHarness(t *testing.T, yaml string, opts ...harnessOpt) *harness {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), dummyEnv)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return newHarnessFrom(t, cfg, nil, newClock(), opts...)
}

func newHarnessFrom(t *testing.T, cfg *config.Config, store *memory.Store, clock *fakeClock, opts ...harnessOpt) *harness {
	t.Helper()
	h := &harness{t: t, clock: clock, cfg: cfg, fakes: map[string]*fakeProvider{}, models: map[string]string{}}
	if store == nil {
		store = memory.New(clock.Now)
	}
	h.store = store
	var deps []*router.Deployment
	for _, d := range cfg.Deployments {
		p := &fakeProvider{id: d.ID, clock: clock}
		h.fakes[d.ID] = p
		h.models[d.ID] = d.Params.Model
		deps = append(deps, &router.Deployment{Config: d, Provider: p})
	}
	o := router.Options{
		Store:           store,
		Now:             clock.Now,
		Sleep:           clock.Sleep,
		AfterFunc:       clock.AfterFunc,
		Go:              func(f func()) { f() }, // background work inline: deterministic
		RefreshInterval: -1,
		Rand:            rand.New(rand.NewPCG(1, 2)),
		Litellm:         &cfg.Litellm,
	}
	for _, opt := range opts {
		opt(&o)
	}
	h.r = router.New(deps, cfg.Router, o)
	return h
}

func msgReq(model string, stream bool) *llm.Request {
	return &llm.Request{Kind: llm.KindMessages, Model: model, Stream: stream,
		Body: []byte(`{"model":"` + model + `","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`), EstimatedInputTokens: 20}
}

// do routes one request and drains the answer like the server does, then
// calls Finish. It returns the serving deployment id and the error.
func (h *harness) do(req *llm.Request) (*router.Result, error) {
	h.t.Helper()
	res, err := h.r.Route(context.Background(), req)
	if err != nil {
		res.Finish(llm.Usage{}, nil)
		return res, err
	}
	var usage llm.Usage
	var streamErr error
	if res.Stream != nil {
		for {
			ev, err := res.Stream.Next(context.Background())
			if err == io.EOF {
				break
			}
			if err != nil {
				streamErr = err
				break
			}
			usage.ObserveEvent(ev)
		}
		res.Stream.Close()
	} else {
		usage = llm.FromBody(res.Response.Body)
	}
	res.Finish(usage, streamErr)
	return res, streamErr
}

// served runs n requests and counts which deployment served each; any
// error fails the test.
func (h *harness) served(n int, req func(i int) *llm.Request) map[string]int {
	h.t.Helper()
	counts := map[string]int{}
	for i := range n {
		res, err := h.do(req(i))
		if err != nil {
			h.t.Fatalf("request %d: %v", i, err)
		}
		counts[res.Deployment.ID()]++
	}
	return counts
}

func (h *harness) health(id string) router.DeploymentHealth {
	h.t.Helper()
	for _, d := range h.r.Health(context.Background()) {
		if d.ID == id {
			return d
		}
	}
	h.t.Fatalf("no deployment %s in health", id)
	return router.DeploymentHealth{}
}

func share(counts map[string]int, id string, n int) float64 { return float64(counts[id]) / float64(n) }

func within(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if got < want-tol || got > want+tol {
		t.Errorf("%s: share %.4f, want %.4f ± %.4f", what, got, want, tol)
	}
}

func keys(m map[string]int) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func errStatus(status int) error { return llm.NewError(status, fmt.Sprintf("fake %d", status)) }

func asLLM(t *testing.T, err error) *llm.Error {
	t.Helper()
	le, ok := err.(*llm.Error)
	if !ok {
		t.Fatalf("error %T %v is not *llm.Error", err, err)
	}
	return le
}

var t0 = context.Background()
