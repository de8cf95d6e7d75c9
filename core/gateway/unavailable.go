package gateway

import (
	"context"

	"github.com/claude-gateway/claude-gateway/core/llm"
)

// unavailable stands in for a deployment whose credentials could not be found
// at start. The gateway still starts (the other deployments serve); every call
// to this one fails fast with a retryable error, so the router cools it down,
// fails over, and /health shows why.
type unavailable struct {
	endpoint string
	reason   string
}

func (u *unavailable) err() error {
	return &llm.Error{Status: 401, Type: llm.ErrAuthentication, Message: "deployment unavailable: " + u.reason, Retryable: true}
}

func (u *unavailable) Send(context.Context, *llm.Request) (*llm.Response, error) { return nil, u.err() }

func (u *unavailable) Stream(context.Context, *llm.Request) (llm.Stream, error) { return nil, u.err() }

func (u *unavailable) Endpoint() string { return u.endpoint }
