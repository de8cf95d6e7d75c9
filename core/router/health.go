package router

import (
	"context"
	"time"
)

// DeploymentHealth is one deployment's state as this gateway sees it.
type DeploymentHealth struct {
	ID            string    `json:"model_id"`
	Group         string    `json:"model_name"`
	Model         string    `json:"model"`
	Provider      string    `json:"provider"`
	APIBase       string    `json:"api_base"`
	Region        string    `json:"region,omitempty"`
	Healthy       bool      `json:"healthy"`
	CooldownUntil time.Time `json:"cooldown_until,omitzero"`
	InFlight      int64     `json:"in_flight"`
}

// Health reports every deployment's state.
func (r *Router) Health(ctx context.Context) []DeploymentHealth {
	var out []DeploymentHealth
	for _, d := range r.Deployments() {
		out = append(out, DeploymentHealth{
			ID: d.ID(), Group: d.Config.ModelName, Model: d.Config.Params.Model,
			Provider: d.Config.Params.Provider, APIBase: d.Provider.Endpoint(), Region: d.Region(),
			Healthy: true,
		})
	}
	return out
}
