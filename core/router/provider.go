package router

import (
	"context"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/llm"
)

// Provider is what the router needs from one deployment's upstream. Each
// provider package (providers/anthropic, providers/bedrock, ...) builds one
// per deployment at startup, with its credentials and clients ready, and
// knows nothing of routing.
//
// Send serves a non-streaming request (req.Kind says messages or
// count_tokens). Stream opens a streaming one; it returns once the upstream
// has accepted the request (HTTP status known), so that an early failure is
// an *llm.Error the router can retry elsewhere. Both must copy req.Body
// before editing it, and both answer with the model field as the upstream
// sent it: the server rewrites it to the client's alias.
type Provider interface {
	Send(ctx context.Context, req *llm.Request) (*llm.Response, error)
	Stream(ctx context.Context, req *llm.Request) (llm.Stream, error)
	// Endpoint is the upstream base URL (scheme and host, no secrets), for
	// the x-litellm-model-api-base header and spend records.
	Endpoint() string
}

// Deployment is one routable upstream: its config and its provider.
type Deployment struct {
	Config   config.Deployment
	Provider Provider
}

// ID is the deployment's stable id.
func (d *Deployment) ID() string { return d.Config.ID }

// Region is the cloud region the deployment serves from ("" if none).
func (d *Deployment) Region() string {
	p := d.Config.Params
	switch p.Provider {
	case config.ProviderBedrock:
		return p.AWSRegionName
	case config.ProviderVertex:
		return p.VertexLocation
	}
	return ""
}
