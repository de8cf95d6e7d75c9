package bedrocktest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// AnthropicVersion is the anthropic_version Bedrock requires in the body.
const AnthropicVersion = "bedrock-2023-05-31"

// topLevel are the body fields Bedrock's Claude Messages schema allows; any
// other is "<field>: Extra inputs are not permitted" (model and stream too:
// they belong to the URL and the operation).
var topLevel = map[string]bool{
	"anthropic_version": true, "anthropic_beta": true, "max_tokens": true, "messages": true,
	"system": true, "stop_sequences": true, "temperature": true, "top_p": true, "top_k": true,
	"tools": true, "tool_choice": true, "thinking": true, "metadata": true,
	"output_config": true, "context_management": true,
}

// cacheControlKeys are the keys Bedrock allows in a cache_control object
// (no "scope": prompt-caching-scope is Anthropic API only).
var cacheControlKeys = map[string]bool{"type": true, "ttl": true}

// ReservedSystemKeyword is the text Bedrock refuses anywhere in a system
// prompt (Claude Code's attribution block starts with it); ReservedMessage is
// its 400 ValidationException message, word for word.
const (
	ReservedSystemKeyword = "x-anthropic-billing-header"
	ReservedMessage       = "x-anthropic-billing-header is a reserved keyword and may not be used in the system prompt."
)

// betaFor names the beta flag without which Bedrock refuses a body feature.
const (
	betaContextManagement = "context-management-2025-06-27"
	betaToolSearch        = "tool-search-tool-2025-10-19"
)

// validate returns Bedrock's 400 message for a body it would reject, or "".
func (s *Server) validate(body []byte) string {
	if !gjson.ValidBytes(body) {
		return "Malformed input request: expected a JSON object"
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return "Malformed input request: expected a JSON object"
	}
	var msg string
	root.ForEach(func(k, _ gjson.Result) bool {
		switch {
		case !topLevel[k.Str]:
			msg = k.Str + ": Extra inputs are not permitted"
		case slices.Contains(s.opts.RefusedFields, k.Str):
			msg = "Malformed input request: #: extraneous key [" + k.Str + "] is not permitted, please reformat your input and try again."
		}
		return msg == ""
	})
	if msg != "" {
		return msg
	}
	switch v := root.Get("anthropic_version"); {
	case !v.Exists():
		return "Malformed input request: #: required key [anthropic_version] not found, please reformat your input and try again."
	case v.Str != AnthropicVersion:
		return "anthropic_version: invalid value " + strconv.Quote(v.String())
	}
	maxTokens := root.Get("max_tokens")
	if maxTokens.Type != gjson.Number || maxTokens.Int() < 1 {
		return "Malformed input request: #: required key [max_tokens] not found, please reformat your input and try again."
	}

	betas := map[string]bool{}
	if ab := root.Get("anthropic_beta"); ab.Exists() {
		if !ab.IsArray() {
			return "anthropic_beta: Input should be a valid list"
		}
		for _, b := range ab.Array() {
			if !s.betas[b.String()] {
				return "invalid beta flag"
			}
			betas[b.String()] = true
		}
	}

	msgs := root.Get("messages")
	if !msgs.IsArray() || len(msgs.Array()) == 0 {
		return "messages: at least one message is required"
	}
	for i, m := range msgs.Array() {
		switch role := m.Get("role").Str; role {
		case "user", "assistant":
		default:
			return fmt.Sprintf("messages: Unexpected role %q. The Messages API accepts a top-level `system` parameter, not %q as an input message", role, role)
		}
		for j, b := range arrayOf(m.Get("content")) {
			p := fmt.Sprintf("messages.%d.content.%d", i, j)
			if msg := checkCacheControl(p, b); msg != "" {
				return msg
			}
			for k, nb := range arrayOf(b.Get("content")) {
				if msg := checkCacheControl(fmt.Sprintf("%s.content.%d", p, k), nb); msg != "" {
					return msg
				}
			}
		}
	}

	switch sys := root.Get("system"); {
	case !sys.Exists():
	case sys.Type == gjson.String:
		if strings.Contains(sys.Str, ReservedSystemKeyword) {
			return ReservedMessage
		}
	case sys.IsArray():
		for i, b := range sys.Array() {
			if b.Get("type").Str != "text" {
				return fmt.Sprintf("system.%d.type: Input should be 'text'", i)
			}
			if strings.Contains(b.Get("text").Str, ReservedSystemKeyword) {
				return ReservedMessage
			}
			if msg := checkCacheControl(fmt.Sprintf("system.%d", i), b); msg != "" {
				return msg
			}
		}
	default:
		return "system: Input should be a valid string or list"
	}

	for i, t := range arrayOf(root.Get("tools")) {
		p := "tools." + strconv.Itoa(i)
		if t.Get("custom").Exists() {
			return p + ".custom: Extra inputs are not permitted"
		}
		if t.Get("defer_loading").Exists() && !betas[betaToolSearch] {
			return p + ".defer_loading: Extra inputs are not permitted"
		}
		if msg := checkCacheControl(p, t); msg != "" {
			return msg
		}
	}
	if root.Get("context_management").Exists() && !betas[betaContextManagement] {
		return "context_management: Extra inputs are not permitted"
	}
	if th := root.Get("thinking"); th.Get("type").Str == "enabled" && th.Get("budget_tokens").Int() >= maxTokens.Int() {
		return "`max_tokens` must be greater than `thinking.budget_tokens`"
	}
	return ""
}

func checkCacheControl(path string, block gjson.Result) string {
	cc := block.Get("cache_control")
	if !cc.Exists() {
		return ""
	}
	var msg string
	cc.ForEach(func(k, _ gjson.Result) bool {
		if !cacheControlKeys[k.Str] {
			msg = path + ".cache_control.ephemeral." + k.Str + ": Extra inputs are not permitted"
		}
		return msg == ""
	})
	return msg
}

func arrayOf(r gjson.Result) []gjson.Result {
	if !r.IsArray() {
		return nil
	}
	return r.Array()
}
