package vertex

import (
	"bytes"
	"encoding/json"
	"errors"
	"sort"
	"strings"

	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/tidwall/gjson"
)

// AnthropicVersion is the body field Vertex requires instead of the
// anthropic-version header.
const AnthropicVersion = "vertex-2023-10-16"

var errBodyNotObject = errors.New("request body must be a JSON object")

// shapeBody turns a client's Anthropic Messages (or count_tokens) body into
// what Vertex accepts, with targeted edits only: every member and block the
// gateway does not edit is copied byte for byte (fields it does not know
// survive). body is never modified (the router may send the same body to
// several deployments).
//
//   - model leaves the body (it is in the URL); count_tokens instead carries
//     the model name without its @version suffix in the body.
//   - anthropic_version is set to vertex-2023-10-16.
//   - stream stays, corrected only if it disagrees with the call made.
//   - what Vertex rejects and Anthropic accepts is removed or rewritten:
//     Claude Code's top-level "safeguards", cache_control.scope, and role
//     "system" entries inside messages (folded into the top-level system).
//
// The edits are gathered first and the result is written in one pass into
// one buffer: a long conversation (Claude Code sends up to a megabyte) is
// copied once, not once per edit.
func shapeBody(body []byte, kind llm.Kind, model string, stream bool) ([]byte, error) {
	if !gjson.ValidBytes(body) {
		return nil, errBodyNotObject
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, errBodyNotObject
	}
	w := &writer{body: body, out: make([]byte, 0, len(body)+64)}
	if bytes.Contains(body, []byte(`"scope"`)) {
		w.cuts = cacheScopeCuts(root)
	}
	msgs := root.Get("messages")
	fold := hasSystemMessages(msgs)
	countTokens := kind == llm.KindCountTokens

	w.out = append(w.out, '{')
	var modelDone, streamDone, systemDone, messagesDone bool
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "model":
			if countTokens && !modelDone {
				w.member(k.Raw, jsonString(baseModel(model)))
			}
			modelDone = true
		case "anthropic_version", "safeguards":
			// Replaced below / rejected by Vertex (Claude Code's interactive
			// mode sends "safeguards", which only the Anthropic API knows).
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
		case "system":
			if !systemDone {
				if fold {
					w.foldedSystem(k.Raw, v, msgs)
				} else {
					w.copyMember(k, v)
				}
			}
			systemDone = true
		case "messages":
			if !messagesDone {
				if fold {
					w.key(k.Raw)
					w.messagesWithoutSystem(v)
				} else {
					w.copyMember(k, v)
				}
			}
			messagesDone = true
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
	if fold && !systemDone {
		w.foldedSystem(`"system"`, gjson.Result{}, msgs)
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

// cut replaces body[start:end] with repl wherever that range is copied.
type cut struct {
	start, end int
	repl       []byte
}

// writer assembles the shaped body from ranges of the original.
type writer struct {
	body    []byte
	out     []byte
	cuts    []cut // sorted by start, non-overlapping
	members int   // top-level members written so far
}

// copyRange copies body[start:end], applying the cuts inside it.
func (w *writer) copyRange(start, end int) {
	i := sort.Search(len(w.cuts), func(i int) bool { return w.cuts[i].start >= start })
	pos := start
	for ; i < len(w.cuts) && w.cuts[i].end <= end; i++ {
		w.out = append(w.out, w.body[pos:w.cuts[i].start]...)
		w.out = append(w.out, w.cuts[i].repl...)
		pos = w.cuts[i].end
	}
	w.out = append(w.out, w.body[pos:end]...)
}

// copyValue copies one value (an array element, a block) as it was.
func (w *writer) copyValue(v gjson.Result) { w.copyRange(v.Index, v.Index+len(v.Raw)) }

// copyMember copies a top-level member, key to end of value, as it was.
func (w *writer) copyMember(k, v gjson.Result) {
	w.sep()
	w.copyRange(k.Index, v.Index+len(v.Raw))
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

// hasSystemMessages reports a role "system" entry in messages.
//
// Claude Code (2.1.150 and later) puts mid-conversation instructions in
// messages with role "system". The Anthropic API accepts them; Vertex (like
// Bedrock) validates roles as user/assistant and answers 400.
func hasSystemMessages(msgs gjson.Result) bool {
	found := false
	msgs.ForEach(func(_, m gjson.Result) bool {
		found = m.Get("role").String() == "system"
		return !found
	})
	return found
}

// foldedSystem writes the top-level system member as an array: its own
// blocks, then the content of every role "system" message in order (no
// member at all if that leaves nothing). Appending at the end keeps every
// cache breakpoint of the existing system blocks (and of the tools before
// them) on an unchanged prefix.
func (w *writer) foldedSystem(rawKey string, system, msgs gjson.Result) {
	mark, members := len(w.out), w.members
	w.key(rawKey)
	w.out = append(w.out, '[')
	n := 0
	w.textBlocks(system, &n)
	msgs.ForEach(func(_, m gjson.Result) bool {
		if m.Get("role").String() == "system" {
			w.textBlocks(m.Get("content"), &n)
		}
		return true
	})
	w.out = append(w.out, ']')
	if n == 0 {
		w.out, w.members = w.out[:mark], members
	}
}

// textBlocks writes the blocks of a system or message content value: a
// string becomes one text block (empty strings are dropped, since Anthropic
// rejects empty text blocks), an array contributes its blocks as they were.
func (w *writer) textBlocks(content gjson.Result, n *int) {
	comma := func() {
		if *n > 0 {
			w.out = append(w.out, ',')
		}
		*n++
	}
	switch {
	case content.Type == gjson.String:
		if content.Str != "" {
			comma()
			w.out = append(w.out, `{"type":"text","text":`...)
			w.out = append(w.out, content.Raw...)
			w.out = append(w.out, '}')
		}
	case content.IsArray():
		content.ForEach(func(_, b gjson.Result) bool {
			comma()
			w.copyValue(b)
			return true
		})
	}
}

// messagesWithoutSystem writes messages minus the role "system" entries.
func (w *writer) messagesWithoutSystem(msgs gjson.Result) {
	w.out = append(w.out, '[')
	n := 0
	msgs.ForEach(func(_, m gjson.Result) bool {
		if m.Get("role").String() != "system" {
			if n > 0 {
				w.out = append(w.out, ',')
			}
			n++
			w.copyValue(m)
		}
		return true
	})
	w.out = append(w.out, ']')
}

// cacheScopeCuts finds cache_control objects carrying "scope" (the Anthropic
// API's prompt-caching-scope beta, which Vertex rejects as an extra input)
// wherever cache_control may appear: top level, system blocks, tools,
// message content blocks and tool_result content. Each becomes a cut that
// rewrites that cache_control object without its scope.
func cacheScopeCuts(root gjson.Result) []cut {
	var cuts []cut
	check := func(block gjson.Result) {
		cc := block.Get("cache_control")
		if !cc.IsObject() || !cc.Get("scope").Exists() {
			return
		}
		repl := []byte{'{'}
		n := 0
		cc.ForEach(func(k, v gjson.Result) bool {
			if k.Str != "scope" {
				if n > 0 {
					repl = append(repl, ',')
				}
				n++
				repl = append(repl, k.Raw...)
				repl = append(repl, ':')
				repl = append(repl, v.Raw...)
			}
			return true
		})
		repl = append(repl, '}')
		cuts = append(cuts, cut{start: cc.Index, end: cc.Index + len(cc.Raw), repl: repl})
	}
	each := func(arr gjson.Result, fn func(gjson.Result)) {
		arr.ForEach(func(_, v gjson.Result) bool {
			fn(v)
			return true
		})
	}
	check(root)
	each(root.Get("system"), check)
	each(root.Get("tools"), check)
	each(root.Get("messages"), func(m gjson.Result) {
		each(m.Get("content"), func(b gjson.Result) {
			check(b)
			each(b.Get("content"), check)
		})
	})
	sort.Slice(cuts, func(i, j int) bool { return cuts[i].start < cuts[j].start })
	return cuts
}
