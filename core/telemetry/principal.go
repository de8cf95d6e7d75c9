package telemetry

import (
	"math"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/claude-gateway/claude-gateway/core/server"
)

// Usage by who called: tokens, cost and requests per model group and
// virtual key (its alias, else a short prefix of its hash), user and team.
// Keys are made by admins, so the set is bounded by the key store; a
// process still keeps at most maxPrincipals combinations and folds the rest
// into "other", so a flood of keys cannot grow the series without bound.

// maxPrincipals bounds the (group, key, user, team) combinations kept.
const maxPrincipals = 1000

// otherPrincipal labels the combinations past maxPrincipals.
const otherPrincipal = "other"

var (
	keyLabel  = attribute.Key("gateway.key")
	userLabel = attribute.Key("gateway.user")
	teamLabel = attribute.Key("gateway.team")
)

type principalKey struct {
	group, key, user, team string
}

// principalStats is one combination's sums.
type principalStats struct {
	attrs      attribute.Set
	tokenAttrs [4]attribute.Set
	requests   atomic.Int64
	tokens     [4]atomic.Int64
	costBits   atomic.Uint64
}

// keyName labels a call's key: its alias, else the first 12 hex digits of
// its SHA-256 (never the key), else "none" (an open gateway).
func keyName(c *server.Call) string {
	switch {
	case c.KeyAlias != "":
		return c.KeyAlias
	case len(c.KeyHash) >= 12:
		return c.KeyHash[:12]
	}
	return "none"
}

// principal returns the stats of c's caller, making them on first sight.
func (c *setCache) principal(k principalKey) *principalStats {
	c.mu.RLock()
	s := c.principals[k]
	c.mu.RUnlock()
	if s != nil {
		return s
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s = c.principals[k]; s != nil {
		return s
	}
	if len(c.principals) >= maxPrincipals {
		k.key, k.user, k.team = otherPrincipal, otherPrincipal, otherPrincipal
		if s = c.principals[k]; s != nil {
			return s
		}
	}
	base := []attribute.KeyValue{requestModel.String(k.group), keyLabel.String(k.key), userLabel.String(orNone(k.user)), teamLabel.String(orNone(k.team))}
	s = &principalStats{attrs: attribute.NewSet(base...)}
	for i, tt := range tokenTypes {
		s.tokenAttrs[i] = attribute.NewSet(append(base[:len(base):len(base)], tokenType.String(tt))...)
	}
	if c.principals == nil {
		c.principals = map[principalKey]*principalStats{}
	}
	c.principals[k] = s
	return s
}

// recordPrincipal adds c to its caller's sums.
func (t *Telemetry) recordPrincipal(c *server.Call, group string) {
	s := t.sets.principal(principalKey{group: group, key: keyName(c), user: c.UserID, team: c.TeamID})
	s.requests.Add(1)
	for i, n := range [4]int64{c.InputTokens, c.OutputTokens, c.CacheReadInputTokens, c.CacheCreationInputTokens} {
		if n > 0 {
			s.tokens[i].Add(n)
		}
	}
	if c.Cost > 0 {
		addFloat(&s.costBits, c.Cost)
	}
}

// principalMetrics are the callers' sums as metric data.
func principalMetrics(stats []*principalStats, start, now time.Time) []metricdata.Metrics {
	requests := metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true}
	tokens := metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true}
	cost := metricdata.Sum[float64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true}
	for _, s := range stats {
		requests.DataPoints = append(requests.DataPoints, metricdata.DataPoint[int64]{Attributes: s.attrs, StartTime: start, Time: now, Value: s.requests.Load()})
		for i := range s.tokens {
			if v := s.tokens[i].Load(); v > 0 {
				tokens.DataPoints = append(tokens.DataPoints, metricdata.DataPoint[int64]{Attributes: s.tokenAttrs[i], StartTime: start, Time: now, Value: v})
			}
		}
		cost.DataPoints = append(cost.DataPoints, metricdata.DataPoint[float64]{Attributes: s.attrs, StartTime: start, Time: now, Value: math.Float64frombits(s.costBits.Load())})
	}
	return []metricdata.Metrics{
		{Name: "gateway.key.requests", Unit: "{request}", Description: "Requests by model group and virtual key (alias or hash prefix), user and team.", Data: requests},
		{Name: "gateway.key.token.usage", Unit: "{token}", Description: "Tokens by model group, virtual key, user, team and gen_ai.token.type.", Data: tokens},
		{Name: "gateway.key.cost", Unit: "USD", Description: "Spend in US dollars by model group, virtual key, user and team.", Data: cost},
	}
}
