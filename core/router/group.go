package router

import (
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claude-gateway/claude-gateway/core/llm"
)

// group is one model_name: its deployments sorted into order tiers.
type group struct {
	name    string
	members []*member // sorted by tier, then config order
	// tiers are [start, end) ranges of members sharing one order; lower first.
	tiers [][2]int
	// affinity says whether sessions stick to a deployment in this group.
	affinity bool
}

// member is one deployment as the router tracks it: static routing inputs
// from the config and this instance's view of its live state.
type member struct {
	d     *Deployment
	id    string
	group *group
	index int // position in group.members

	weight        float64 // litellm_params.weight
	rank          int     // order tier: lower first; no order ranks last
	rpm, tpm      int64
	maxInput      int64
	timeout       time.Duration
	streamTimeout time.Duration
	// cost is USD per input token + per output token (+Inf unknown), worked
	// out at the first cost-based pick: pricing it at start would parse the
	// price table on every cold start, whatever the strategy.
	cost func() float64
	// Store keys that do not change with the minute.
	cooldownKey string

	inFlight atomic.Int64
	// cooldownUntil is when the cooldown ends (unix nanos; 0 = none).
	cooldownUntil atomic.Int64
	// rpmFullUntil is when the rpm window known to be full ends (unix nanos).
	rpmFullUntil atomic.Int64

	mu             sync.Mutex
	cooldownReason string
	tpmMinute      int64 // minute the tpm count belongs to
	tpmUsed        int64
	rpmMinute      int64
	rpmUsed        int64
	failMinute     int64
	fails          int64
	// latency is an EWMA of time to first byte in nanoseconds, per kind
	// (0: streaming time to first event, 1: whole non-streaming answer).
	latency [2]float64
	samples [2]int64
}

// newMember builds a member from a deployment and the router's price source.
func newMember(d *Deployment, pricer Pricer) *member {
	p := d.Config.Params
	m := &member{
		d:             d,
		id:            d.ID(),
		weight:        p.Weight,
		rank:          orderRank(p.Order),
		rpm:           p.RPM,
		tpm:           p.TPM,
		maxInput:      d.Config.Info.MaxInputTokens,
		timeout:       p.Timeout,
		streamTimeout: p.StreamTimeout,
		cost:          sync.OnceValue(func() float64 { return unitCost(d, pricer) }),
		cooldownKey:   "cooldown:" + d.ID(),
	}
	return m
}

// orderRank puts deployments without an order after every ordered tier, as
// LiteLLM does: it routes to the lowest order present among healthy
// deployments, so unordered ones only serve when no ordered one can.
func orderRank(o int) int {
	if o <= 0 {
		return math.MaxInt
	}
	return o
}

// unitCost is the price of one input plus one output token, LiteLLM's
// cost-based-routing measure: model_info overrides first, then the Pricer.
func unitCost(d *Deployment, pricer Pricer) float64 {
	info := d.Config.Info
	in, out := math.Inf(1), math.Inf(1)
	const million = 1_000_000
	if pricer != nil {
		in = pricer.Cost(d, llm.Usage{InputTokens: million}) / million
		out = pricer.Cost(d, llm.Usage{OutputTokens: million}) / million
	}
	if info.InputCostPerToken != nil {
		in = *info.InputCostPerToken
	}
	if info.OutputCostPerToken != nil {
		out = *info.OutputCostPerToken
	}
	return in + out
}

// newGroup sorts deps (config order) into tiers.
func newGroup(name string, deps []*Deployment, pricer Pricer, affinity *bool) *group {
	g := &group{name: name}
	for _, d := range deps {
		m := newMember(d, pricer)
		m.group = g
		g.members = append(g.members, m)
	}
	sort.SliceStable(g.members, func(a, b int) bool { return g.members[a].rank < g.members[b].rank })
	for i, m := range g.members {
		m.index = i
		if i == 0 || m.rank != g.members[i-1].rank {
			g.tiers = append(g.tiers, [2]int{i, i})
		}
		g.tiers[len(g.tiers)-1][1] = i + 1
	}
	switch {
	case affinity != nil:
		g.affinity = *affinity
	default:
		// Prompt caches and thinking signatures live in one provider, so
		// sticking only matters when the group spans providers (and regions
		// within one provider: a Bedrock cache is regional too).
		g.affinity = mixed(g.members)
	}
	return g
}

// mixed reports whether members differ in provider or region.
func mixed(ms []*member) bool {
	for _, m := range ms[1:] {
		a, b := ms[0].d, m.d
		if a.Config.Params.Provider != b.Config.Params.Provider || a.Region() != b.Region() {
			return true
		}
	}
	return false
}

// --- local live state -------------------------------------------------------

// minuteOf is the rate window a time falls in.
func minuteOf(now int64) int64 { return now / int64(time.Minute) }

// windowEnd is when a minute window ends (unix nanos).
func windowEnd(minute int64) int64 { return (minute + 1) * int64(time.Minute) }

// cooledUntil returns the cooldown end if it is still ahead of now.
func (m *member) cooledUntil(now int64) (int64, bool) {
	u := m.cooldownUntil.Load()
	return u, u > now
}

// coolUntil extends the local cooldown to until (never shortens it).
func (m *member) coolUntil(until int64, reason string) bool {
	for {
		cur := m.cooldownUntil.Load()
		if until <= cur {
			return false
		}
		if m.cooldownUntil.CompareAndSwap(cur, until) {
			m.mu.Lock()
			m.cooldownReason = reason
			m.mu.Unlock()
			return true
		}
	}
}

// tpmIn returns the tokens counted in minute.
func (m *member) tpmIn(minute int64) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tpmMinute != minute {
		return 0
	}
	return m.tpmUsed
}

// seeTPM raises the minute's token count to at least n (counts only grow
// within a window; the Store's value includes other instances).
func (m *member) seeTPM(minute, n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tpmMinute != minute {
		if minute < m.tpmMinute {
			return
		}
		m.tpmMinute, m.tpmUsed = minute, 0
	}
	m.tpmUsed = max(m.tpmUsed, n)
}

// addTPM counts n tokens spent in minute by this instance.
func (m *member) addTPM(minute, n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tpmMinute != minute {
		if minute < m.tpmMinute {
			return
		}
		m.tpmMinute, m.tpmUsed = minute, 0
	}
	m.tpmUsed += n
}

// seeRPM records the minute's request count; a full window blocks the
// deployment locally until the window ends, saving the Store round trip.
func (m *member) seeRPM(minute, n int64) {
	m.mu.Lock()
	if minute >= m.rpmMinute {
		if minute > m.rpmMinute {
			m.rpmMinute, m.rpmUsed = minute, 0
		}
		m.rpmUsed = max(m.rpmUsed, n)
	}
	m.mu.Unlock()
	if m.rpm > 0 && n >= m.rpm {
		m.rpmFullUntil.Store(windowEnd(minute))
	}
}

func (m *member) rpmIn(minute int64) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rpmMinute != minute {
		return 0
	}
	return m.rpmUsed
}

// addFail counts a failure in the current minute and returns the count.
func (m *member) addFail(minute int64) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failMinute != minute {
		m.failMinute, m.fails = minute, 0
	}
	m.fails++
	return m.fails
}

// latencyWeight is the EWMA smoothing factor: the newest sample counts a
// quarter, so a deployment that slows down is noticed within a few calls.
const latencyWeight = 0.25

// observeLatency folds one time-to-first-byte sample into the EWMA.
func (m *member) observeLatency(kind int, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.samples[kind] == 0 {
		m.latency[kind] = float64(d)
	} else {
		m.latency[kind] += latencyWeight * (float64(d) - m.latency[kind])
	}
	m.samples[kind]++
}

// latencyFor returns the EWMA for kind (falling back to the other kind) and
// whether there is any sample at all.
func (m *member) latencyFor(kind int) (float64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.samples[kind] > 0 {
		return m.latency[kind], true
	}
	if o := 1 - kind; m.samples[o] > 0 {
		return m.latency[o], true
	}
	return 0, false
}
