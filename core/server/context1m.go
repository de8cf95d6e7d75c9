package server

import (
	"strings"

	"github.com/claude-gateway/claude-gateway/core/llm"
)

// Claude Code names a model's 1M-token context variant with a "[1m]" tag
// ("claude-sonnet-4-5[1m]", "sonnet[1m]"). It strips the tag itself and
// sends the context-1m beta instead, in every mode (seen with 2.1.332:
// anthropic-beta on the Anthropic and Vertex shapes, the body's
// anthropic_beta on Bedrock's); a gateway lists both spellings in
// /v1/models so its picker offers the 1M variant. Other clients may send
// the tagged name as is: the gateway then does what Claude Code does.

// Context1MBeta is the beta flag that opens a model's 1M-token context.
const Context1MBeta = "context-1m-2025-08-07"

// context1MTag is the suffix of a 1M-context model name.
const context1MTag = "[1m]"

// oneMillion is the 1M variant's max_input_tokens.
const oneMillion = 1_000_000

// cut1M strips a trailing "[1m]" (any case) and reports whether it was there.
func cut1M(model string) (string, bool) {
	if len(model) > len(context1MTag) && strings.EqualFold(model[len(model)-len(context1MTag):], context1MTag) {
		return model[:len(model)-len(context1MTag)], true
	}
	return model, false
}

// apply1M turns a tagged model name in req into the plain name plus the
// context-1m beta.
func apply1M(req *llm.Request) {
	base, ok := cut1M(req.Model)
	if !ok {
		return
	}
	req.Model = base
	req.Betas = mergeBetas(req.Betas, []string{Context1MBeta})
}
