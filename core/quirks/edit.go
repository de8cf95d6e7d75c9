package quirks

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"strings"

	"github.com/tidwall/gjson"
)

// ErrNotObject is returned for a body that is not one JSON object.
var ErrNotObject = errors.New("request body must be a JSON object")

// Apply returns body with the rules applied and the names of what was
// removed ("field safeguards", "system block x-anthropic-billing-header:",
// "messages[role=system] folded into system", "cache_control.scope",
// "tools[].custom"). body is never modified (the router may send the same
// body to several deployments); when no rule applies, body itself is
// returned. The result is written in one pass: a megabyte conversation is
// copied once, whatever the number of edits.
func (r *Rules) Apply(body []byte) ([]byte, []string, error) {
	if !gjson.ValidBytes(body) {
		return nil, nil, ErrNotObject
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, nil, ErrNotObject
	}
	p := &plan{r: r, body: body, root: root}
	p.find()
	if len(p.removed) == 0 {
		return body, nil, nil
	}
	return p.write(), p.removed, nil
}

// plan is what Apply found to do in one body, then writes.
type plan struct {
	r    *Rules
	body []byte
	root gjson.Result

	// top are the body's members, read once; sys, msgs and tools the ones
	// the edits look into.
	top              []member
	sys, msgs, tools gjson.Result

	dropped  map[string]bool // top-level members to leave out
	stripSys bool            // the system member loses reserved blocks or its first line
	fold     bool            // role "system" messages move into system
	cuts     []cut           // sorted by start, non-overlapping
	removed  []string

	out     []byte
	members int
}

// member is one top-level key and its value.
type member struct{ k, v gjson.Result }

// cut replaces body[start:end] with repl wherever that range is copied.
type cut struct {
	start, end int
	repl       []byte
}

func (p *plan) note(what string) {
	if !slices.Contains(p.removed, what) {
		p.removed = append(p.removed, what)
	}
}

func (p *plan) find() {
	p.root.ForEach(func(k, v gjson.Result) bool {
		p.top = append(p.top, member{k, v})
		switch k.Str {
		case "system":
			p.sys = v
		case "messages":
			p.msgs = v
		case "tools":
			p.tools = v
		}
		return true
	})
	for _, m := range p.top {
		f := m.k.Str
		if p.r.accepted != nil && !slices.Contains(p.r.accepted, f) || slices.Contains(p.r.dropFields, f) {
			if p.dropped == nil {
				p.dropped = map[string]bool{}
			}
			p.dropped[f] = true
			p.note("field " + f)
		}
	}
	if len(p.r.systemPrefixes) > 0 && p.sys.Exists() {
		switch {
		case p.sys.Type == gjson.String && p.reserved(firstLine(p.sys.Str)):
			p.stripSys = true
		case p.sys.IsArray():
			p.sys.ForEach(func(_, b gjson.Result) bool {
				p.stripSys = p.reservedBlock(b)
				return !p.stripSys
			})
		}
	}
	if p.r.fold && bytes.Contains([]byte(p.msgs.Raw), []byte(`"system"`)) {
		p.msgs.ForEach(func(_, m gjson.Result) bool {
			p.fold = m.Get("role").Str == "system"
			return !p.fold
		})
		if p.fold {
			p.note("messages[role=system] folded into system")
			// Folded blocks are system text too: the reserved ones go.
			p.stripSys = p.stripSys || len(p.r.systemPrefixes) > 0
		}
	}
	p.findCuts()
}

// reserved reports a text that begins with a reserved prefix.
func (p *plan) reserved(text string) bool {
	for _, pre := range p.r.systemPrefixes {
		if strings.HasPrefix(strings.TrimLeft(text, " \t\r\n"), pre) {
			p.note("system block " + pre)
			return true
		}
	}
	return false
}

// reservedBlock reports a text block whose text begins with a reserved
// prefix; a block not containing one at all is passed without parsing (a
// system block can be tens of kilobytes).
func (p *plan) reservedBlock(b gjson.Result) bool {
	found := false
	for _, pre := range p.r.systemPrefixes {
		found = found || strings.Contains(b.Raw, pre)
	}
	return found && b.Get("type").Str == "text" && p.reserved(b.Get("text").Str)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// findCuts finds the cache_control objects and tools[] entries that lose keys.
func (p *plan) findCuts() {
	ccKeys := present(p.body, p.r.ccKeys)
	toolKeys := present(p.body, p.r.toolKeys)
	if len(ccKeys) == 0 && len(toolKeys) == 0 {
		return
	}
	cc := func(block gjson.Result) {
		if c := block.Get("cache_control"); len(ccKeys) > 0 && hasAny(c, ccKeys) {
			p.cuts = append(p.cuts, cut{c.Index, c.Index + len(c.Raw), p.without(c, ccKeys, "cache_control.", nil)})
		}
	}
	each := func(arr gjson.Result, fn func(gjson.Result)) {
		arr.ForEach(func(_, v gjson.Result) bool { fn(v); return true })
	}
	cc(p.root)
	each(p.sys, cc)
	each(p.tools, func(t gjson.Result) {
		if len(toolKeys) > 0 && hasAny(t, toolKeys) {
			// One cut for the whole tool, its cache_control rewritten inside it.
			p.cuts = append(p.cuts, cut{t.Index, t.Index + len(t.Raw), p.without(t, toolKeys, "tools[].", ccKeys)})
			return
		}
		cc(t)
	})
	each(p.msgs, func(m gjson.Result) {
		each(m.Get("content"), func(b gjson.Result) {
			cc(b)
			each(b.Get("content"), cc) // tool_result blocks carry blocks of their own
		})
	})
	sort.Slice(p.cuts, func(i, j int) bool { return p.cuts[i].start < p.cuts[j].start })
}

// present returns the keys that occur as a quoted string anywhere in body
// (a cheap test before any walk).
func present(body []byte, keys []string) []string {
	var out []string
	for _, k := range keys {
		if bytes.Contains(body, []byte(`"`+k+`"`)) {
			out = append(out, k)
		}
	}
	return out
}

func hasAny(obj gjson.Result, keys []string) bool {
	if !obj.IsObject() {
		return false
	}
	for _, k := range keys {
		if obj.Get(gjson.Escape(k)).Exists() {
			return true
		}
	}
	return false
}

// without writes obj minus keys (noting each as label+key); its
// cache_control, if any, minus ccKeys.
func (p *plan) without(obj gjson.Result, keys []string, label string, ccKeys []string) []byte {
	out := []byte{'{'}
	n := 0
	obj.ForEach(func(k, v gjson.Result) bool {
		if slices.Contains(keys, k.Str) {
			p.note(label + k.Str)
			return true
		}
		if n > 0 {
			out = append(out, ',')
		}
		n++
		out = append(out, k.Raw...)
		out = append(out, ':')
		if k.Str == "cache_control" && hasAny(v, ccKeys) {
			out = append(out, p.without(v, ccKeys, "cache_control.", nil)...)
		} else {
			out = append(out, v.Raw...)
		}
		return true
	})
	return append(out, '}')
}

// write assembles the edited body.
func (p *plan) write() []byte {
	p.out = make([]byte, 0, len(p.body)+64)
	p.out = append(p.out, '{')
	systemDone := false
	for _, m := range p.top {
		k, v := m.k, m.v
		switch {
		case p.dropped[k.Str]:
		case k.Str == "system" && (p.stripSys || p.fold):
			if !systemDone {
				p.system(k.Raw, v, p.msgs)
			}
			systemDone = true
		case k.Str == "messages" && p.fold:
			p.key(k.Raw)
			p.messagesWithoutSystem(v)
		default:
			p.sep()
			p.copyRange(k.Index, v.Index+len(v.Raw))
		}
	}
	if p.fold && !systemDone {
		p.system(`"system"`, gjson.Result{}, p.msgs)
	}
	return append(p.out, '}')
}

// copyRange copies body[start:end], applying the cuts inside it.
func (p *plan) copyRange(start, end int) {
	i := sort.Search(len(p.cuts), func(i int) bool { return p.cuts[i].start >= start })
	pos := start
	for ; i < len(p.cuts) && p.cuts[i].end <= end; i++ {
		p.out = append(p.out, p.body[pos:p.cuts[i].start]...)
		p.out = append(p.out, p.cuts[i].repl...)
		pos = p.cuts[i].end
	}
	p.out = append(p.out, p.body[pos:end]...)
}

func (p *plan) copyValue(v gjson.Result) { p.copyRange(v.Index, v.Index+len(v.Raw)) }

func (p *plan) sep() {
	if p.members > 0 {
		p.out = append(p.out, ',')
	}
	p.members++
}

func (p *plan) key(raw string) {
	p.sep()
	p.out = append(p.out, raw...)
	p.out = append(p.out, ':')
}

// system writes the system member: its own blocks less the reserved ones,
// then (when folding) the content of every role "system" message in order.
// A system string stays a string unless blocks are folded after it; nothing
// left means no member at all.
func (p *plan) system(rawKey string, sys, msgs gjson.Result) {
	if sys.Type == gjson.String && !p.fold {
		s := p.stripString(sys.Str)
		if s != "" {
			p.key(rawKey)
			p.out = appendJSONString(p.out, s)
		}
		return
	}
	mark, members := len(p.out), p.members
	p.key(rawKey)
	p.out = append(p.out, '[')
	n := 0
	p.blocks(sys, &n)
	if p.fold {
		msgs.ForEach(func(_, m gjson.Result) bool {
			if m.Get("role").Str == "system" {
				p.blocks(m.Get("content"), &n)
			}
			return true
		})
	}
	p.out = append(p.out, ']')
	if n == 0 {
		p.out, p.members = p.out[:mark], members
	}
}

// stripString removes a reserved first line from a system string.
func (p *plan) stripString(s string) string {
	if len(p.r.systemPrefixes) == 0 || !p.reserved(firstLine(s)) {
		return s
	}
	_, rest, _ := strings.Cut(s, "\n")
	return rest
}

// blocks writes the text blocks of a system or message content value: a
// string becomes one text block (empty ones are dropped: Anthropic refuses
// empty text blocks), an array gives its blocks as they were, less reserved ones.
func (p *plan) blocks(content gjson.Result, n *int) {
	comma := func() {
		if *n > 0 {
			p.out = append(p.out, ',')
		}
		*n++
	}
	switch {
	case content.Type == gjson.String:
		s := p.stripString(content.Str)
		if s == "" {
			return
		}
		comma()
		p.out = append(p.out, `{"type":"text","text":`...)
		if s == content.Str {
			p.out = append(p.out, content.Raw...)
		} else {
			p.out = appendJSONString(p.out, s)
		}
		p.out = append(p.out, '}')
	case content.IsArray():
		content.ForEach(func(_, b gjson.Result) bool {
			if len(p.r.systemPrefixes) == 0 || !p.reservedBlock(b) {
				comma()
				p.copyValue(b)
			}
			return true
		})
	}
}

// messagesWithoutSystem writes messages minus the role "system" entries.
func (p *plan) messagesWithoutSystem(msgs gjson.Result) {
	p.out = append(p.out, '[')
	n := 0
	msgs.ForEach(func(_, m gjson.Result) bool {
		if m.Get("role").Str != "system" {
			if n > 0 {
				p.out = append(p.out, ',')
			}
			n++
			p.copyValue(m)
		}
		return true
	})
	p.out = append(p.out, ']')
}

func appendJSONString(out []byte, s string) []byte {
	b, _ := json.Marshal(s)
	return append(out, b...)
}
