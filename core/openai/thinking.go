package openai

import (
	"strings"
)

// ThinkingForm chooses how reasoning_effort becomes Claude extended thinking.
type ThinkingForm int

const (
	// ThinkingAuto picks by model name: Claude 4.6 and later (which deprecate
	// or reject budgets) get ThinkingAdaptive, everything else ThinkingBudget.
	ThinkingAuto ThinkingForm = iota
	// ThinkingBudget sends thinking {type: enabled, budget_tokens: N}, which
	// every Claude model with extended thinking up to 4.6 accepts.
	ThinkingBudget
	// ThinkingAdaptive sends thinking {type: adaptive} with
	// output_config.effort, the only form Claude Opus 4.7 and later accept.
	ThinkingAdaptive
)

// effortBudgets maps OpenAI reasoning_effort values to thinking budgets.
// The budget also sizes the default max_tokens (see TranslateRequest), so
// the levels double: each step gives the model about twice the room.
var effortBudgets = map[string]int64{
	"minimal": 1024,
	"low":     2048,
	"medium":  4096,
	"high":    8192,
	"xhigh":   16384,
	"max":     32768,
}

// adaptiveEffort maps OpenAI reasoning_effort values to Anthropic
// output_config.effort levels (Anthropic has no "minimal"; a model that
// lacks xhigh or max falls back to its highest level by itself).
func adaptiveEffort(effort string) string {
	if effort == "minimal" {
		return "low"
	}
	return effort
}

// minThinkingBudget is Anthropic's smallest accepted budget_tokens.
const minThinkingBudget = 1024

// UsesAdaptiveThinking reports whether a Claude model name (an Anthropic
// id, a Bedrock or Vertex id, or an alias that carries the version) is
// Claude 4.6 or later, where thinking budgets are deprecated (4.6) or
// rejected (4.7 and later) in favour of adaptive thinking. Names without a
// recognisable Claude version report false.
func UsesAdaptiveThinking(model string) bool {
	major, minor, ok := claudeVersion(model)
	if !ok {
		return false
	}
	return major > 4 || (major == 4 && minor >= 6)
}

// claudeVersion reads the version out of names such as claude-sonnet-4-6,
// claude-opus-4-5-20251101, claude-3-7-sonnet-20250219,
// us.anthropic.claude-opus-4-6-v1 or claude-sonnet-5: the first short
// number after "claude" is the major version, a short number right after it
// the minor; an 8-digit date is not a version.
func claudeVersion(model string) (major, minor int, ok bool) {
	m := strings.ToLower(model)
	i := strings.Index(m, "claude")
	if i < 0 {
		return 0, 0, false
	}
	tokens := strings.FieldsFunc(m[i+len("claude"):], func(r rune) bool {
		return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z')
	})
	for j, tok := range tokens {
		n, isNum := smallNumber(tok)
		if !isNum {
			continue
		}
		major = n
		if j+1 < len(tokens) {
			if n2, ok2 := smallNumber(tokens[j+1]); ok2 {
				minor = n2
			}
		}
		return major, minor, true
	}
	return 0, 0, false
}

// smallNumber parses a 1-2 digit version number.
func smallNumber(s string) (int, bool) {
	if len(s) == 0 || len(s) > 2 {
		return 0, false
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
