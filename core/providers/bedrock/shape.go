package bedrock

import (
	"strings"
	"sync"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/claude-gateway/claude-gateway/core/betas"
	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/quirks"
)

// anthropicVersion is the only Messages API version Bedrock accepts in the body.
const anthropicVersion = "bedrock-2023-05-31"

// featureBetas are flags that only switch on a body feature. Bedrock models
// that made the feature standard reject the flag ("invalid beta flag": Opus
// 4.7+ refuses interleaved-thinking, since adaptive thinking interleaves by
// itself, and effort and tool search flags), while without the feature in
// the body the flag does nothing anywhere: so such a flag is sent only when
// the body uses its feature.
var featureBetas = map[string]func(body []byte) bool{
	"interleaved-thinking-2025-05-14": func(b []byte) bool { return gjson.GetBytes(b, "thinking.type").Str == "enabled" },
	"effort-2025-11-24":               func(b []byte) bool { return gjson.GetBytes(b, "output_config.effort").Exists() },
	"tool-search-tool-2025-10-19": func(b []byte) bool {
		return anyTool(b, func(t gjson.Result) bool {
			return t.Get("defer_loading").Bool() || strings.HasPrefix(t.Get("type").Str, "tool_search_tool")
		})
	},
	"tool-examples-2025-10-29": func(b []byte) bool {
		return anyTool(b, func(t gjson.Result) bool { return t.Get("input_examples").Exists() })
	},
}

func anyTool(body []byte, f func(gjson.Result) bool) bool {
	found := false
	gjson.GetBytes(body, "tools").ForEach(func(_, t gjson.Result) bool {
		found = f(t)
		return !found
	})
	return found
}

// shaper turns an Anthropic Messages body into a Bedrock InvokeModel body with
// targeted byte edits: fields it does not name pass through untouched.
// Its tables are parsed at the first request, not when the deployment is
// built: a cold start should not wait for YAML it may never use.
type shaper struct {
	table func() *betas.Table
	// quirks are the content edits core/quirks/quirks.yaml lists for Bedrock
	// (the billing-header block, role system messages, fields and keys
	// InvokeModel refuses).
	quirks func() *quirks.Rules
}

// bedrockQuirks is Bedrock's column of the quirks table, read once.
var bedrockQuirks = sync.OnceValue(func() *quirks.Rules { return quirks.Default().For(quirksProvider) })

func newShaper() (*shaper, error) {
	return &shaper{table: betas.Default, quirks: bedrockQuirks}, nil
}

// quirksProvider is Bedrock's column in the quirks and beta tables.
const quirksProvider = "bedrock"

// shaped is a Bedrock body and what was removed on the way, for the debug log.
type shaped struct {
	Body []byte
	// Removed names each dropped field, beta or sanitised key, e.g.
	// "field safeguards", "beta claude-code-20250219", "cache_control.scope".
	Removed []string
}

// shape builds the InvokeModel body for req. For count_tokens it also makes
// sure max_tokens is present, which the InvokeModel body schema requires.
func (s *shaper) shape(req *llm.Request) (shaped, error) {
	var out shaped
	body, removed, err := s.quirks().Apply(req.Body) // validates: one JSON object
	if err != nil {
		return shaped{}, &llm.Error{Status: 400, Type: llm.ErrInvalidRequest, Message: "request body must be a JSON object"}
	}
	out.Removed = removed
	del := func(path string) {
		if err == nil {
			body, err = sjson.DeleteBytes(body, path)
		}
	}
	// Bedrock takes the model from the URL and streaming from the operation.
	del("model")
	del("stream")
	if err == nil {
		body, err = s.setBetas(body, req.Betas, &out.Removed)
	}
	if err == nil {
		body, err = sjson.SetBytes(body, "anthropic_version", anthropicVersion)
	}
	if err == nil && req.Kind == llm.KindCountTokens && !gjson.GetBytes(body, "max_tokens").Exists() {
		// Any valid value: it is not counted. It must exceed a thinking budget.
		n := gjson.GetBytes(body, "thinking.budget_tokens").Int() + 1
		body, err = sjson.SetBytes(body, "max_tokens", max(n, 1024))
	}
	if err != nil {
		return shaped{}, &llm.Error{Status: 400, Type: llm.ErrInvalidRequest, Message: "cannot edit request body: " + err.Error()}
	}
	out.Body = body
	return out, nil
}

// setBetas moves the anthropic-beta header values (and any anthropic_beta the
// body already has) into the body's anthropic_beta list, through the beta
// table and the feature gate.
func (s *shaper) setBetas(body []byte, header []string, removed *[]string) ([]byte, error) {
	flags := header
	if inBody := gjson.GetBytes(body, "anthropic_beta"); inBody.Exists() {
		flags = append([]string(nil), header...)
		if inBody.IsArray() {
			for _, f := range inBody.Array() {
				flags = append(flags, f.String())
			}
		} else if inBody.Type == gjson.String {
			flags = append(flags, strings.Split(inBody.Str, ",")...)
		}
	}
	kept, dropped := s.table().Filter("bedrock", flags)
	send := kept[:0:0]
	for _, f := range kept {
		if use, gated := featureBetas[f]; gated && !use(body) {
			dropped = append(dropped, f)
			continue
		}
		send = append(send, f)
	}
	for _, f := range dropped {
		*removed = append(*removed, "beta "+f)
	}
	if len(send) == 0 {
		return sjson.DeleteBytes(body, "anthropic_beta")
	}
	return sjson.SetBytes(body, "anthropic_beta", send)
}
