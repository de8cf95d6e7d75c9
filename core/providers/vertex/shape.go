package vertex

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"

	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/quirks"
	"github.com/tidwall/gjson"
)

// AnthropicVersion is the body field Vertex requires instead of the
// anthropic-version header.
const AnthropicVersion = "vertex-2023-10-16"

var errBodyNotObject = errors.New("request body must be a JSON object")

// vertexQuirks are the content edits core/quirks/quirks.yaml lists for
// Vertex: Claude Code's role "system" messages (folded into the top-level
// system), its interactive-mode "safeguards" and cache_control.scope, all of
// which Vertex refuses. Claude Code's x-anthropic-billing-header system block
// stays: Vertex accepts it (only Bedrock reserves the keyword).
var vertexQuirks = sync.OnceValue(func() *quirks.Rules { return quirks.Default().For("vertex_ai") })

// shapeBody turns a client's Anthropic Messages (or count_tokens) body into
// what Vertex accepts, with targeted edits only: every member and block the
// gateway does not edit is copied byte for byte (fields it does not know
// survive). body is never modified (the router may send the same body to
// several deployments).
//
//   - the quirks table's Vertex rows (see vertexQuirks).
//   - model leaves the body (it is in the URL); count_tokens instead carries
//     the model name without its @version suffix in the body.
//   - anthropic_version is set to vertex-2023-10-16.
//   - stream stays, corrected only if it disagrees with the call made.
func shapeBody(body []byte, kind llm.Kind, model string, stream bool) ([]byte, error) {
	body, _, err := vertexQuirks().Apply(body)
	if err != nil {
		return nil, errBodyNotObject
	}
	root := gjson.ParseBytes(body)
	w := &writer{body: body, out: make([]byte, 0, len(body)+64)}
	countTokens := kind == llm.KindCountTokens

	w.out = append(w.out, '{')
	var modelDone, streamDone bool
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "model":
			if countTokens && !modelDone {
				w.member(k.Raw, jsonString(baseModel(model)))
			}
			modelDone = true
		case "anthropic_version":
			// Replaced below.
		case "stream":
			switch {
			case streamDone:
			case countTokens:
				w.copyMember(k, v)
			case stream && v.Type != gjson.True:
				w.member(k.Raw, []byte("true"))
			case !stream && v.Type == gjson.True:
				w.member(k.Raw, []byte("false"))
			default:
				w.copyMember(k, v)
			}
			streamDone = true
		default:
			w.copyMember(k, v)
		}
		return true
	})
	if countTokens && !modelDone {
		w.member(`"model"`, jsonString(baseModel(model)))
	}
	if !countTokens && stream && !streamDone {
		w.member(`"stream"`, []byte("true"))
	}
	w.member(`"anthropic_version"`, []byte(`"`+AnthropicVersion+`"`))
	w.out = append(w.out, '}')
	return w.out, nil
}

// baseModel is a Vertex model name without its @version suffix
// ("claude-3-5-sonnet-v2@20241022" -> "claude-3-5-sonnet-v2").
func baseModel(model string) string {
	m, _, _ := strings.Cut(model, "@")
	return m
}

func jsonString(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}

// writer assembles the shaped body from members of the original.
type writer struct {
	body    []byte
	out     []byte
	members int // top-level members written so far
}

// copyMember copies a top-level member, key to end of value, as it was.
func (w *writer) copyMember(k, v gjson.Result) {
	w.sep()
	w.out = append(w.out, w.body[k.Index:v.Index+len(v.Raw)]...)
}

func (w *writer) key(rawKey string) {
	w.sep()
	w.out = append(w.out, rawKey...)
	w.out = append(w.out, ':')
}

func (w *writer) member(rawKey string, rawValue []byte) {
	w.key(rawKey)
	w.out = append(w.out, rawValue...)
}

func (w *writer) sep() {
	if w.members > 0 {
		w.out = append(w.out, ',')
	}
	w.members++
}
