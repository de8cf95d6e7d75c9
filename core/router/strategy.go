package router

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
)

// picker is a routing strategy: it picks one deployment among the
// candidates of one order tier that are healthy, within their limits and
// (preferably) not yet tried for this request. Each routing_strategy is one
// small type implementing it.
type picker interface {
	// Name is the routing_strategy value.
	Name() string
	// Pick returns an index into cands (len(cands) > 0).
	Pick(cands []*member, env *pickEnv) int
}

// pickEnv is what a strategy may consult besides the candidates.
type pickEnv struct {
	rnd    randSource
	minute int64     // current rate window
	kind   int       // latency kind: 0 streaming, 1 whole answer
	scores []float64 // reusable buffer for argMin
}

// Strategy names (router_settings.routing_strategy).
const (
	strategySimpleShuffle = "simple-shuffle"
	strategyLeastBusy     = "least-busy"
	strategyLatency       = "latency-based-routing"
	strategyUsage         = "usage-based-routing-v2"
	strategyUsageV1       = "usage-based-routing"
	strategyCost          = "cost-based-routing"
)

// newStrategy maps a routing_strategy name to its type.
func newStrategy(name string) (picker, error) {
	switch name {
	case "", strategySimpleShuffle:
		return simpleShuffle{}, nil
	case strategyLeastBusy:
		return leastBusy{}, nil
	case strategyLatency:
		return lowestLatency{explore: 0.05}, nil
	case strategyUsage, strategyUsageV1:
		// v1 is LiteLLM's older implementation of the same idea.
		return lowestUsage{}, nil
	case strategyCost:
		return lowestCost{}, nil
	}
	return nil, fmt.Errorf("unknown routing_strategy %q", name)
}

// simpleShuffle is LiteLLM's default: a weighted random pick, weighted by
// weight if any candidate sets it, else rpm, else tpm, else uniform.
// Candidates lacking the chosen metric weigh 0, as in LiteLLM.
type simpleShuffle struct{}

func (simpleShuffle) Name() string { return strategySimpleShuffle }

func (simpleShuffle) Pick(cands []*member, env *pickEnv) int {
	if len(cands) == 1 {
		return 0
	}
	for metric := range 3 {
		total := 0.0
		for _, m := range cands {
			total += shuffleWeight(m, metric)
		}
		if total <= 0 {
			continue
		}
		x := env.rnd.Float64() * total
		last := 0
		for i, m := range cands {
			w := shuffleWeight(m, metric)
			if w <= 0 {
				continue
			}
			if x < w {
				return i
			}
			x -= w
			last = i
		}
		return last // rounding
	}
	return int(env.rnd.Uint64() % uint64(len(cands)))
}

func shuffleWeight(m *member, metric int) float64 {
	switch metric {
	case 0:
		return m.weight
	case 1:
		return float64(m.rpm)
	default:
		return float64(m.tpm)
	}
}

// argMin picks the candidate with the lowest score, breaking ties at random
// so equal deployments share load. Each score is computed once; one random
// draw picks among the ties.
func argMin(cands []*member, env *pickEnv, score func(*member) float64) int {
	if cap(env.scores) < len(cands) {
		env.scores = make([]float64, len(cands), max(len(cands), 16))
	}
	scores := env.scores[:len(cands)]
	best, ties := math.Inf(1), 0
	for i, m := range cands {
		s := score(m)
		scores[i] = s
		switch {
		case s < best:
			best, ties = s, 1
		case s == best:
			ties++
		}
	}
	if ties == 0 {
		return 0 // every score NaN: any will do
	}
	k := 0
	if ties > 1 {
		k = int(env.rnd.Uint64() % uint64(ties))
	}
	for i, s := range scores {
		if s == best {
			if k == 0 {
				return i
			}
			k--
		}
	}
	return 0
}

// leastBusy picks the deployment with the fewest requests in flight on this
// instance (LiteLLM counts per instance too).
type leastBusy struct{}

func (leastBusy) Name() string { return strategyLeastBusy }

func (leastBusy) Pick(cands []*member, env *pickEnv) int {
	return argMin(cands, env, func(m *member) float64 { return float64(m.inFlight.Load()) })
}

// lowestLatency picks the lowest recent time to first token (EWMA). A
// deployment with no sample yet is tried first, and a small share of picks
// (explore) goes to a random candidate so a deployment that was slow, or
// failed and recovered, gets measured again.
type lowestLatency struct{ explore float64 }

func (lowestLatency) Name() string { return strategyLatency }

func (l lowestLatency) Pick(cands []*member, env *pickEnv) int {
	if len(cands) > 1 && env.rnd.Float64() < l.explore {
		return int(env.rnd.Uint64() % uint64(len(cands)))
	}
	return argMin(cands, env, func(m *member) float64 {
		v, ok := m.latencyFor(env.kind)
		if !ok {
			return -1 // unmeasured: measure it
		}
		return v
	})
}

// lowestUsage picks the lowest token use in the current minute (this
// instance's view: its own accounting plus the Store's counts, refreshed in
// the background). Deployments over their limits never reach it: limits are
// always enforced with this strategy.
type lowestUsage struct{}

func (lowestUsage) Name() string { return strategyUsage }

func (lowestUsage) Pick(cands []*member, env *pickEnv) int {
	return argMin(cands, env, func(m *member) float64 { return float64(m.tpmIn(env.minute)) })
}

// lowestCost picks the cheapest deployment per token (input + output price);
// unknown prices rank last.
type lowestCost struct{}

func (lowestCost) Name() string { return strategyCost }

func (lowestCost) Pick(cands []*member, env *pickEnv) int {
	return argMin(cands, env, func(m *member) float64 { return m.cost() })
}

// --- randomness -------------------------------------------------------------

// randSource is the randomness the router draws from; injectable so tests
// run with fixed seeds.
type randSource interface {
	Float64() float64
	Uint64() uint64
}

// runtimeRand uses math/rand/v2's top-level functions: safe for concurrent
// use without a lock, and seeded by the runtime.
type runtimeRand struct{}

func (runtimeRand) Float64() float64 { return rand.Float64() }
func (runtimeRand) Uint64() uint64   { return rand.Uint64() }

// lockedRand serialises a caller's *rand.Rand (which is not safe for
// concurrent use) for repeatable tests.
type lockedRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func (l *lockedRand) Float64() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Float64()
}

func (l *lockedRand) Uint64() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Uint64()
}

// splitMix is a tiny deterministic generator (SplitMix64). Seeded from a
// session id it makes a session's first pick the same on every instance,
// so a conversation lands on one deployment even before any instance has
// recorded its affinity.
type splitMix struct{ s uint64 }

func (x *splitMix) Uint64() uint64 {
	x.s += 0x9e3779b97f4a7c15
	z := x.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (x *splitMix) Float64() float64 { return float64(x.Uint64()>>11) / (1 << 53) }
