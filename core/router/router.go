// Package router picks a deployment for each request and retries elsewhere
// when one fails, before the first byte reaches the client. It knows
// deployments, health and limits, and nothing of HTTP or wire formats.
package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/llm"
)

// Options configure a Router.
type Options struct {
	Store  Store
	Logger *slog.Logger
	// Now is the clock (tests use a fake one).
	Now func() time.Time
}

// Router routes requests over model groups.
type Router struct {
	groups   map[string][]*Deployment
	names    []string // served group names, sorted, without patterns
	patterns []string // wildcard group names, in config order
	aliases  map[string]string
	settings config.RouterSettings
	retries  int
	store    Store
	log      *slog.Logger
	now      func() time.Time
}

// New builds a router over deployments.
func New(deps []*Deployment, settings config.RouterSettings, opts Options) *Router {
	r := &Router{
		groups:   map[string][]*Deployment{},
		aliases:  settings.ModelGroupAlias,
		settings: settings,
		retries:  3,
		store:    opts.Store,
		log:      opts.Logger,
		now:      opts.Now,
	}
	if settings.NumRetriesSet {
		r.retries = settings.NumRetries
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	for _, d := range deps {
		name := d.Config.ModelName
		if _, seen := r.groups[name]; !seen {
			if strings.Contains(name, "*") {
				r.patterns = append(r.patterns, name)
			} else {
				r.names = append(r.names, name)
			}
		}
		r.groups[name] = append(r.groups[name], d)
	}
	sort.Strings(r.names)
	return r
}

// Groups lists the served model group names (wildcard patterns excluded).
func (r *Router) Groups() []string { return r.names }

// Deployments lists every deployment.
func (r *Router) Deployments() []*Deployment {
	var out []*Deployment
	for _, name := range append(append([]string(nil), r.names...), r.patterns...) {
		out = append(out, r.groups[name]...)
	}
	return out
}

// Resolve maps a requested model name to a group: exact names win, then
// model_group_alias, then wildcard patterns in config order.
func (r *Router) Resolve(model string) (string, bool) {
	if _, ok := r.groups[model]; ok {
		return model, true
	}
	if g, ok := r.aliases[model]; ok {
		if _, ok := r.groups[g]; ok {
			return g, true
		}
	}
	for _, p := range r.patterns {
		if wildcardMatch(p, model) {
			return p, true
		}
	}
	return "", false
}

// wildcardMatch matches s against a pattern where each * stands for any run of characters.
func wildcardMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for i, p := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(s, p)
		}
		j := strings.Index(s, p)
		if j < 0 {
			return false
		}
		s = s[j+len(p):]
	}
	return true
}

// Result is the outcome of routing one request.
type Result struct {
	// Group is the model group that served (or was tried last).
	Group string
	// Deployment served the request (or was tried last); nil if none was tried.
	Deployment *Deployment
	// Response is set for non-streaming requests.
	Response *llm.Response
	// Stream is set for streaming requests. Its first event has already been
	// read from the upstream (so a failure there could still be retried).
	Stream llm.Stream
	// Retries counts attempts after the first; Fallbacks counts fallback groups tried.
	Retries   int
	Fallbacks int
	// UpstreamTime is the time spent waiting on upstreams before the result.
	UpstreamTime time.Duration
	// UpstreamStatus is the last upstream HTTP status seen (0 if none answered).
	UpstreamStatus int
	finish         func(usage llm.Usage, err error)
}

// Finish reports the end of the call (usage known, any mid-stream error),
// updating token windows and health. Safe to call once; later calls are ignored.
func (res *Result) Finish(usage llm.Usage, err error) {
	if res == nil || res.finish == nil {
		return
	}
	f := res.finish
	res.finish = nil
	f(usage, err)
}

// Route serves req on a deployment of its model group, retrying on other
// deployments while nothing has been sent to the client. The returned Result
// is never nil; on failure the error is an *llm.Error.
func (r *Router) Route(ctx context.Context, req *llm.Request) (*Result, error) {
	res := &Result{}
	group, ok := r.Resolve(req.Model)
	if !ok {
		return res, &llm.Error{Status: 404, Type: llm.ErrNotFound,
			Message: fmt.Sprintf("model %q not found; this gateway serves: %s", req.Model, strings.Join(r.names, ", "))}
	}
	res.Group = group
	candidates := r.order(r.groups[group])
	var lastErr error
	for attempt := 0; attempt <= r.retries && len(candidates) > 0; attempt++ {
		d := candidates[0]
		candidates = candidates[1:]
		if attempt > 0 {
			res.Retries++
		}
		res.Deployment = d
		start := r.now()
		err := r.try(ctx, d, req, res)
		res.UpstreamTime += r.now().Sub(start)
		if err == nil {
			res.finish = func(llm.Usage, error) {}
			return res, nil
		}
		lastErr = err
		var le *llm.Error
		if errors.As(err, &le) {
			res.UpstreamStatus = le.Status
		}
		if ctx.Err() != nil || !retryable(err) {
			break
		}
		r.log.Debug("attempt failed", "deployment", d.ID(), "err", err)
	}
	return res, asLLMError(lastErr)
}

// try makes one attempt on d, filling res on success.
func (r *Router) try(ctx context.Context, d *Deployment, req *llm.Request, res *Result) error {
	if !req.Stream || req.Kind == llm.KindCountTokens {
		resp, err := d.Provider.Send(ctx, req)
		if err != nil {
			return err
		}
		res.Response = resp
		res.UpstreamStatus = resp.Status
		return nil
	}
	s, err := d.Provider.Stream(ctx, req)
	if err != nil {
		return err
	}
	first, err := s.Next(ctx)
	if err != nil {
		s.Close()
		if err == io.EOF {
			return &llm.Error{Status: 502, Type: llm.ErrAPI, Message: "upstream stream ended before any event", Retryable: true}
		}
		return err
	}
	if first.Type == "error" {
		s.Close()
		return errorFromEvent(first)
	}
	res.Stream = &peeked{first: first, has: true, Stream: s}
	res.UpstreamStatus = 200
	return nil
}

// order sorts candidates: lower order first, weighted shuffle within an order.
func (r *Router) order(deps []*Deployment) []*Deployment {
	out := make([]*Deployment, 0, len(deps))
	keys := make([]float64, 0, len(deps))
	for _, d := range deps {
		w := weightOf(d)
		// Weighted random order (Efraimidis-Spirakis): key = u^(1/w).
		k := 0.0
		if w > 0 {
			k = pow(rand.Float64(), 1/w)
		}
		out = append(out, d)
		keys = append(keys, k)
	}
	idx := make([]int, len(out))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		oa, ob := out[idx[a]].Config.Params.Order, out[idx[b]].Config.Params.Order
		if oa != ob {
			return orderRank(oa) < orderRank(ob)
		}
		return keys[idx[a]] > keys[idx[b]]
	})
	sorted := make([]*Deployment, len(out))
	for i, j := range idx {
		sorted[i] = out[j]
	}
	return sorted
}

// orderRank puts deployments without an order after those with one.
func orderRank(o int) int {
	if o <= 0 {
		return 1 << 30
	}
	return o
}

// weightOf follows LiteLLM's simple-shuffle: weight, else rpm, else tpm, else 1.
func weightOf(d *Deployment) float64 {
	p := d.Config.Params
	switch {
	case p.Weight > 0:
		return p.Weight
	case p.RPM > 0:
		return float64(p.RPM)
	case p.TPM > 0:
		return float64(p.TPM)
	}
	return 1
}

func retryable(err error) bool {
	var le *llm.Error
	if errors.As(err, &le) {
		return le.Retryable
	}
	return true // transport errors: try elsewhere
}

func asLLMError(err error) error {
	if err == nil {
		return &llm.Error{Status: 503, Type: llm.ErrOverloaded, Message: "no deployment available"}
	}
	var le *llm.Error
	if errors.As(err, &le) {
		return le
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &llm.Error{Status: 504, Type: llm.ErrTimeout, Message: "upstream timed out", Cause: err}
	}
	if errors.Is(err, context.Canceled) {
		return &llm.Error{Status: 499, Type: llm.ErrAPI, Message: "request canceled", Cause: err}
	}
	return &llm.Error{Status: 502, Type: llm.ErrAPI, Message: "upstream request failed", Cause: err, Retryable: true}
}
