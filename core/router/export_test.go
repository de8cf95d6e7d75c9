package router

import (
	"time"

	"github.com/claude-gateway/claude-gateway/core/llm"
)

// PickForTest makes one pick in group as the first attempt of Route would,
// without calling a provider, and returns the deployment id ("" if none).
func (r *Router) PickForTest(group string, req *llm.Request) string {
	m := r.pickFirst(group, req)
	if m == nil {
		return ""
	}
	return m.id
}

// SetInFlightForTest sets a deployment's in-flight count.
func (r *Router) SetInFlightForTest(id string, n int64) { r.member(id).inFlight.Store(n) }

// ObserveLatencyForTest feeds one time-to-first-token sample.
func (r *Router) ObserveLatencyForTest(id string, stream bool, d time.Duration) {
	kind := 1
	if stream {
		kind = 0
	}
	r.member(id).observeLatency(kind, d)
}

func (r *Router) member(id string) *member {
	for _, m := range r.all {
		if m.id == id {
			return m
		}
	}
	panic("no deployment " + id)
}

// pickFirst is the pick of a request's first attempt in group.
func (r *Router) pickFirst(group string, req *llm.Request) *member {
	rs := r.getScratch()
	defer r.scratch.Put(rs)
	g := r.groups[group]
	a, _, tooLong := r.prepare(g, req, rs)
	if tooLong {
		return nil
	}
	m, _, _ := r.pick(g, rs, &a)
	return m
}
