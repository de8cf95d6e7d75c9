package router_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/store/memory"
)

// A group mixing Bedrock, Vertex and the Anthropic API: affinity is on by default.
const mixedGroup = `
model_list:
  - {model_name: claude-sonnet, litellm_params: {model: bedrock/anthropic.claude-sonnet-4-5, aws_region_name: us-east-1}, model_info: {id: bedrock}}
  - {model_name: claude-sonnet, litellm_params: {model: vertex_ai/claude-sonnet-4-5, vertex_location: us-east5}, model_info: {id: vertex}}
  - {model_name: claude-sonnet, litellm_params: {model: anthropic/claude-sonnet-4-5}, model_info: {id: anthropic}}
`

func sessionReq(session string) *llm.Request {
	req := msgReq("claude-sonnet", true)
	req.SessionID = session
	return req
}

func TestSessionAffinity(t *testing.T) {
	h := newHarness(t, mixedGroup)
	session := func(int) *llm.Request { return sessionReq("session-1") }

	counts := h.served(100, session)
	if len(counts) != 1 {
		t.Fatalf("one session spread over %v", counts)
	}
	first := keys(counts)[0]

	// Different sessions still spread over the group.
	spread := h.served(300, func(i int) *llm.Request { return sessionReq(fmt.Sprintf("s-%d", i)) })
	for _, id := range []string{"bedrock", "vertex", "anthropic"} {
		if s := share(spread, id, 300); s < 0.2 || s > 0.47 {
			t.Errorf("sessions over deployments: %v", spread)
		}
	}

	// Failover: the session moves, and stays moved after the first recovers.
	h.fakes[first].Set(behaviour{err: errStatus(529)})
	res, err := h.do(sessionReq("session-1"))
	if err != nil || res.Deployment.ID() == first || res.Retries != 1 {
		t.Fatalf("failover: %v on %v (retries %d)", err, res.Deployment, res.Retries)
	}
	moved := res.Deployment.ID()
	h.fakes[first].Set(behaviour{})
	h.clock.Advance(10 * time.Second)
	if !h.health(first).Healthy {
		t.Fatal("first deployment still cooling down")
	}
	if counts := h.served(100, session); counts[moved] != 100 {
		t.Fatalf("after failover: %v, want all on %s", counts, moved)
	}

	// The pin is in the Store with a TTL.
	es, _ := h.store.Get(context.Background(), []string{pinStoreKey("claude-sonnet", "session-1")})
	if es[0].Value != moved || !es[0].Expires.After(h.clock.Now().Add(50*time.Minute)) {
		t.Fatalf("stored pin %+v, want %s for about an hour", es[0], moved)
	}
}

func TestSessionAffinitySettings(t *testing.T) {
	const sameProvider = `
model_list:
  - {model_name: claude-sonnet, litellm_params: {model: bedrock/a, aws_region_name: us-east-1}, model_info: {id: a}}
  - {model_name: claude-sonnet, litellm_params: {model: bedrock/b, aws_region_name: us-east-1}, model_info: {id: b}}
`
	for _, tc := range []struct {
		name   string
		yaml   string
		sticky bool
	}{
		{"mixed providers: on by default", mixedGroup, true},
		{"session_affinity: false turns it off", mixedGroup + "router_settings: {session_affinity: false}\n", false},
		{"one provider and region: off by default", sameProvider, false},
		{"session_affinity: true turns it on", sameProvider + "router_settings: {session_affinity: true}\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.yaml)
			counts := h.served(100, func(int) *llm.Request { return sessionReq("s") })
			if sticky := len(counts) == 1; sticky != tc.sticky {
				t.Fatalf("served %v; sticky %v, want %v", counts, sticky, tc.sticky)
			}
		})
	}
}

// Instances share pins through the Store; a new session lands on the same
// deployment everywhere even before any pin exists.
func TestSessionAffinityAcrossInstances(t *testing.T) {
	clock := newClock()
	store := memory.New(clock.Now)
	cfg := parse(t, mixedGroup)
	a := newHarnessFrom(t, cfg, store, clock)
	b := newHarnessFrom(t, cfg, store, clock, withSeed(99)) // another instance's randomness

	for i := range 20 {
		s := fmt.Sprintf("fresh-%d", i)
		ra, err := a.do(sessionReq(s))
		if err != nil {
			t.Fatal(err)
		}
		fresh := newHarnessFrom(t, cfg, memory.New(clock.Now), clock, withSeed(uint64(i)))
		rb, err := fresh.do(sessionReq(s))
		if err != nil {
			t.Fatal(err)
		}
		if ra.Deployment.ID() != rb.Deployment.ID() {
			t.Fatalf("session %s: instance A picked %s, a fresh instance %s", s, ra.Deployment.ID(), rb.Deployment.ID())
		}
	}

	// A fails a session over; B learns the new pin from the Store.
	res, _ := a.do(sessionReq("moving"))
	first := res.Deployment.ID()
	a.fakes[first].Set(behaviour{err: errStatus(500)})
	res, _ = a.do(sessionReq("moving"))
	moved := res.Deployment.ID()
	if moved == first {
		t.Fatal("no failover")
	}
	clock.Advance(10 * time.Second) // first recovers
	b.do(sessionReq("moving"))      // B has no pin yet: reads it from the Store for the next request
	if counts := b.served(20, func(int) *llm.Request { return sessionReq("moving") }); counts[moved] != 20 {
		t.Fatalf("instance B: %v, want all on %s", counts, moved)
	}
	// B's first guess did not overwrite the pin A wrote.
	es, _ := store.Get(context.Background(), []string{pinStoreKey("claude-sonnet", "moving")})
	if es[0].Value != moved {
		t.Fatalf("stored pin %q, want %q", es[0].Value, moved)
	}
}

// pinStoreKey mirrors the router's affinity key (FNV-1a of the session id).
func pinStoreKey(group, session string) string {
	h := uint64(14695981039346656037)
	for i := 0; i < len(session); i++ {
		h ^= uint64(session[i])
		h *= 1099511628211
	}
	return fmt.Sprintf("affinity:%s:%x", group, h)
}
