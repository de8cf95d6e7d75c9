package bedrock

import (
	"bytes"
	_ "embed"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
	"gopkg.in/yaml.v3"

	"github.com/claude-gateway/claude-gateway/core/betas"
	"github.com/claude-gateway/claude-gateway/core/llm"
)

// anthropicVersion is the only Messages API version Bedrock accepts in the body.
const anthropicVersion = "bedrock-2023-05-31"

//go:embed fields.yaml
var fieldsYAML []byte

// parseDropFields reads fields.yaml: top-level field -> why it is dropped.
func parseDropFields(data []byte) (map[string]string, error) {
	var f struct {
		Drop map[string]string `yaml:"drop"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("bedrock fields.yaml: %w", err)
	}
	return f.Drop, nil
}

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
type shaper struct {
	table *betas.Table
	// drop are the top-level fields of fields.yaml, sorted.
	drop []string
}

func newShaper() (*shaper, error) {
	drop, err := parseDropFields(fieldsYAML)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(drop))
	for k := range drop {
		names = append(names, k)
	}
	sort.Strings(names)
	return &shaper{table: betas.Default(), drop: names}, nil
}

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
	body := req.Body
	if !gjson.ValidBytes(body) || !gjson.ParseBytes(body).IsObject() {
		return shaped{}, &llm.Error{Status: 400, Type: llm.ErrInvalidRequest, Message: "request body must be a JSON object"}
	}
	var out shaped
	var err error
	del := func(path string) {
		if err == nil {
			body, err = sjson.DeleteBytes(body, path)
		}
	}
	// Bedrock takes the model from the URL and streaming from the operation.
	del("model")
	del("stream")

	top := gjson.ParseBytes(body)
	for _, name := range s.drop {
		if top.Get(name).Exists() {
			del(name)
			out.Removed = append(out.Removed, "field "+name)
		}
	}
	if err == nil {
		body, err = foldSystemMessages(body, &out.Removed)
	}
	if err == nil {
		body, err = sanitise(body, &out.Removed)
	}
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
	kept, dropped := s.table.Filter("bedrock", flags)
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

// foldSystemMessages moves role "system" entries of messages into the
// top-level system, in order, after what system already holds.
//
// Claude Code sends such mid-conversation system messages. Bedrock's Messages
// API rejects them on the Claude models it serves ("messages: Unexpected role
// \"system\". The Messages API accepts a top-level `system` parameter, not
// \"system\" as an input message"; Opus 4.7: "role 'system' is not supported
// on this model"), so they are folded into system, which every model accepts
// with the same authority. Appending after the existing system blocks keeps
// their cache breakpoints valid.
func foldSystemMessages(body []byte, removed *[]string) ([]byte, error) {
	msgs := gjson.GetBytes(body, "messages")
	if !msgs.IsArray() || !bytes.Contains([]byte(msgs.Raw), []byte(`"system"`)) {
		return body, nil
	}
	var kept, blocks []string
	folded := 0
	msgs.ForEach(func(_, m gjson.Result) bool {
		if m.Get("role").Str != "system" {
			kept = append(kept, m.Raw)
			return true
		}
		folded++
		switch c := m.Get("content"); {
		case c.Type == gjson.String:
			if c.Str != "" {
				blocks = append(blocks, textBlock(c.Str))
			}
		case c.IsArray():
			c.ForEach(func(_, b gjson.Result) bool {
				blocks = append(blocks, b.Raw)
				return true
			})
		}
		return true
	})
	if folded == 0 {
		return body, nil
	}
	var sys []string
	switch cur := gjson.GetBytes(body, "system"); {
	case cur.Type == gjson.String:
		if cur.Str != "" {
			sys = append(sys, textBlock(cur.Str))
		}
	case cur.IsArray():
		cur.ForEach(func(_, b gjson.Result) bool {
			sys = append(sys, b.Raw)
			return true
		})
	}
	sys = append(sys, blocks...)
	body, err := sjson.SetRawBytes(body, "messages", []byte("["+strings.Join(kept, ",")+"]"))
	if err == nil && len(sys) > 0 {
		body, err = sjson.SetRawBytes(body, "system", []byte("["+strings.Join(sys, ",")+"]"))
	}
	*removed = append(*removed, "messages[role=system] folded into system")
	return body, err
}

func textBlock(s string) string {
	b, _ := sjson.Set(`{"type":"text"}`, "text", s)
	return b
}

// sanitise removes what Bedrock rejects inside known fields, and nothing else:
// cache_control.scope (prompt-caching-scope-2026-01-05, Anthropic API only)
// wherever a cache_control may stand, and tools[].custom (Claude Code's
// {"defer_loading": true} wrapper).
func sanitise(body []byte, removed *[]string) ([]byte, error) {
	var paths []string
	if bytes.Contains(body, []byte(`"scope"`)) {
		addScope := func(path string, v gjson.Result) {
			if v.Get("cache_control.scope").Exists() {
				paths = append(paths, path+"cache_control.scope")
			}
		}
		root := gjson.ParseBytes(body)
		addScope("", root)
		eachIndex(root.Get("system"), "system.", func(p string, b gjson.Result) { addScope(p, b) })
		eachIndex(root.Get("tools"), "tools.", func(p string, t gjson.Result) { addScope(p, t) })
		eachIndex(root.Get("messages"), "messages.", func(p string, m gjson.Result) {
			eachIndex(m.Get("content"), p+"content.", func(p string, b gjson.Result) {
				addScope(p, b)
				// tool_result blocks carry content blocks of their own.
				eachIndex(b.Get("content"), p+"content.", func(p string, nb gjson.Result) { addScope(p, nb) })
			})
		})
		if len(paths) > 0 {
			*removed = append(*removed, "cache_control.scope")
		}
	}
	if bytes.Contains(body, []byte(`"custom"`)) {
		n := len(paths)
		eachIndex(gjson.GetBytes(body, "tools"), "tools.", func(p string, t gjson.Result) {
			if t.Get("custom").Exists() {
				paths = append(paths, p+"custom")
			}
		})
		if len(paths) > n {
			*removed = append(*removed, "tools[].custom")
		}
	}
	var err error
	for _, p := range paths {
		// Deleting an object key never shifts an array index, so order is free.
		if body, err = sjson.DeleteBytes(body, p); err != nil {
			return nil, err
		}
	}
	return body, nil
}

// eachIndex calls f with "<prefix><i>." and each element of an array result.
func eachIndex(arr gjson.Result, prefix string, f func(path string, v gjson.Result)) {
	if !arr.IsArray() {
		return
	}
	i := 0
	arr.ForEach(func(_, v gjson.Result) bool {
		f(prefix+strconv.Itoa(i)+".", v)
		i++
		return true
	})
}
