package server

import (
	"strings"

	"github.com/claude-gateway/claude-gateway/core/router"
)

// modelSpec is what a model list tells a client about a Claude model:
// Claude Code reads max_input_tokens to decide when to compact, and
// max_tokens to size its requests.
type modelSpec struct {
	DisplayName    string
	Released       string // RFC 3339 date
	MaxInputTokens int64
	MaxTokens      int64
	Thinking       bool
	Adaptive       bool // thinking {type: adaptive}
	// Context1M: the group also serves a 1M-token context (with the
	// context-1m beta), listed as its "[1m]" variant.
	Context1M bool
}

// modelSpecs maps Anthropic model names (no date) to their published limits.
// Longest prefix wins, so dated ids and the gateway's own aliases of them
// find their family.
var modelSpecs = map[string]modelSpec{
	"claude-opus-4-6":   {"Claude Opus 4.6", "2026-02-05T00:00:00Z", 200000, 128000, true, true, false},
	"claude-sonnet-4-6": {"Claude Sonnet 4.6", "2026-02-17T00:00:00Z", 200000, 64000, true, true, false},
	"claude-opus-4-5":   {"Claude Opus 4.5", "2025-11-24T00:00:00Z", 200000, 64000, true, false, false},
	"claude-haiku-4-5":  {"Claude Haiku 4.5", "2025-10-15T00:00:00Z", 200000, 64000, true, false, false},
	"claude-sonnet-4-5": {"Claude Sonnet 4.5", "2025-09-29T00:00:00Z", 200000, 64000, true, false, false},
	"claude-opus-4-1":   {"Claude Opus 4.1", "2025-08-05T00:00:00Z", 200000, 32000, true, false, false},
	"claude-opus-4":     {"Claude Opus 4", "2025-05-22T00:00:00Z", 200000, 32000, true, false, false},
	"claude-sonnet-4":   {"Claude Sonnet 4", "2025-05-22T00:00:00Z", 200000, 64000, true, false, false},
	"claude-3-7-sonnet": {"Claude Sonnet 3.7", "2025-02-24T00:00:00Z", 200000, 64000, true, false, false},
	"claude-3-5-haiku":  {"Claude Haiku 3.5", "2024-10-22T00:00:00Z", 200000, 8192, false, false, false},
	"claude-3-5-sonnet": {"Claude Sonnet 3.5", "2024-10-22T00:00:00Z", 200000, 8192, false, false, false},
	"claude-3-haiku":    {"Claude Haiku 3", "2024-03-07T00:00:00Z", 200000, 4096, false, false, false},
}

// defaultContext is a Claude model's context without the context-1m beta.
const defaultContext = 200000

// lookupSpec finds the spec of an upstream model id (any cloud's form).
func lookupSpec(upstream string) (modelSpec, bool) {
	forms := modelForms(upstream)
	name := forms[len(forms)-1]
	best, found := "", false
	for k := range modelSpecs {
		if (name == k || strings.HasPrefix(name, k+"-")) && len(k) > len(best) {
			best, found = k, true
		}
	}
	return modelSpecs[best], found
}

// groupSpec describes a group by what every one of its deployments can do:
// the smallest limits (any deployment may serve a request), model_info's
// max_input_tokens/max_output_tokens over the built-in table.
func groupSpec(deps []*router.Deployment, group string) (modelSpec, bool) {
	var out modelSpec
	found := false
	for _, d := range deps {
		if d.Config.ModelName != group {
			continue
		}
		s, ok := lookupSpec(d.Config.Params.UpstreamModel)
		switch in := d.Config.Info.MaxInputTokens; {
		case in >= oneMillion:
			// model_info declares the 1M context: the plain entry keeps the
			// context without the beta, the [1m] variant has the million.
			s.Context1M = true
			if !ok {
				s.MaxInputTokens = defaultContext
			}
			ok = true
		case in > 0:
			s.MaxInputTokens, ok = in, true
		}
		if mt := d.Config.Info.MaxOutputTokens; mt > 0 {
			s.MaxTokens, ok = mt, true
		}
		if !ok {
			return modelSpec{}, false // one unknown deployment makes the group's limits unknown
		}
		if !found {
			out, found = s, true
			continue
		}
		out.MaxInputTokens, out.MaxTokens = min(out.MaxInputTokens, s.MaxInputTokens), min(out.MaxTokens, s.MaxTokens)
		out.Thinking, out.Adaptive = out.Thinking && s.Thinking, out.Adaptive && s.Adaptive
		out.Context1M = out.Context1M && s.Context1M
		if out.DisplayName != s.DisplayName {
			out.DisplayName, out.Released = "", ""
		}
	}
	return out, found
}
