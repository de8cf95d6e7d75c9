package router

import (
	"context"
	"time"
)

// DeploymentHealth is one deployment's state as this gateway sees it.
type DeploymentHealth struct {
	ID       string `json:"model_id"`
	Group    string `json:"model_name"`
	Model    string `json:"model"`
	Provider string `json:"provider"`
	APIBase  string `json:"api_base"`
	Region   string `json:"region,omitempty"`
	Order    int    `json:"order,omitempty"`
	// Healthy is false while the deployment cools down.
	Healthy       bool      `json:"healthy"`
	CooldownUntil time.Time `json:"cooldown_until,omitzero"`
	// CooldownReason is the failure that started the cooldown, e.g. "429 rate_limit_error".
	CooldownReason string `json:"cooldown_reason,omitempty"`
	// InFlight counts requests this instance has open on the deployment.
	InFlight int64 `json:"in_flight"`
	// RPM and TPM are the limits (0: none); RPMUsed and TPMUsed the current
	// minute's counts as last seen (kept only where limits are enforced or
	// usage-based routing is on).
	RPM     int64 `json:"rpm,omitempty"`
	TPM     int64 `json:"tpm,omitempty"`
	RPMUsed int64 `json:"rpm_used,omitempty"`
	TPMUsed int64 `json:"tpm_used,omitempty"`
	// SessionPins counts the conversations this instance has pinned to the
	// deployment (session affinity).
	SessionPins int64 `json:"session_pins,omitempty"`
	// LatencyMillis is the recent time to first token (EWMA), if measured.
	LatencyMillis float64 `json:"latency_ms,omitempty"`
	// Learned lists what the upstream refused by name and this process now
	// leaves out of every request to it ("field x", "beta y").
	Learned []string `json:"learned_removals,omitempty"`
}

// learner is a provider that learns removals from its upstream's refusals.
type learner interface{ Learned() []string }

// Health reports every deployment's state, after reading the shared state
// from the Store (failure to read it is logged; the local view is reported).
func (r *Router) Health(ctx context.Context) []DeploymentHealth {
	_ = r.Refresh(ctx)
	now := r.now().UnixNano()
	minute := minuteOf(now)
	out := make([]DeploymentHealth, 0, len(r.all))
	pins := r.aff.pinned(now)
	for _, m := range r.all {
		d := m.d
		h := DeploymentHealth{
			ID: m.id, Group: d.Config.ModelName, Model: d.Config.Params.Model,
			Provider: d.Config.Params.Provider, APIBase: d.Provider.Endpoint(), Region: d.Region(),
			Order: d.Config.Params.Order, Healthy: true, InFlight: m.inFlight.Load(),
			RPM: m.rpm, TPM: m.tpm, RPMUsed: m.rpmIn(minute), TPMUsed: m.tpmIn(minute),
			SessionPins: pins[m],
		}
		if until, cooling := m.cooledUntil(now); cooling {
			h.Healthy = false
			h.CooldownUntil = time.Unix(0, until).UTC()
			m.mu.Lock()
			h.CooldownReason = m.cooldownReason
			m.mu.Unlock()
		}
		if v, ok := m.latencyFor(0); ok {
			h.LatencyMillis = v / float64(time.Millisecond)
		}
		if l, ok := d.Provider.(learner); ok {
			h.Learned = l.Learned()
		}
		out = append(out, h)
	}
	return out
}
