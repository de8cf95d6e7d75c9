package router

import "context"

// Observer sees each upstream attempt and each cooldown as they happen, for
// metrics and traces. It is defined here so the router needs no telemetry
// library; calls are made on the request path, so an Observer must return
// quickly and never block on the network.
type Observer interface {
	// AttemptStart is called before attempt n (0 for the first) on d. The
	// context it returns is the attempt's: a tracer puts its span there and
	// the provider's HTTP client sees it.
	AttemptStart(ctx context.Context, d *Deployment, n int) context.Context
	// AttemptEnd reports the attempt's end with the context AttemptStart
	// returned: the upstream status (0: none answered) and, for a failure,
	// its class (e.g. "rate_limit", "timeout"; "" on success).
	AttemptEnd(ctx context.Context, d *Deployment, status int, failure string)
	// CooledDown reports that d starts cooling down, and why.
	CooledDown(d *Deployment, reason string)
}

// nopObserver is the default Observer: it does nothing.
type nopObserver struct{}

func (nopObserver) AttemptStart(ctx context.Context, _ *Deployment, _ int) context.Context {
	return ctx
}
func (nopObserver) AttemptEnd(context.Context, *Deployment, int, string) {}
func (nopObserver) CooledDown(*Deployment, string)                       {}

// observed names f's class for an Observer: LiteLLM's exception names, and
// "Canceled" when the client went away.
func (f failure) observed() string {
	if f.class == classCanceled {
		return "Canceled"
	}
	return f.class.String()
}
