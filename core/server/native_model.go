package server

import (
	"regexp"
	"strings"
	"sync"
)

// nativeModel maps a Bedrock or Vertex model id, as a cloud-mode client
// sends it, to a model group. The id itself is tried first (so
// model_group_alias can name any id: "us.anthropic.claude-opus-4-5-20251101-v1:0":
// claude-opus), then its Anthropic name with the cloud's decorations removed:
// an ARN's resource path, a region or "global." prefix and "anthropic.",
// Bedrock's "-v1:0" version, Vertex's "@date" (as "-date", then without it),
// and finally without a date. Exact names and aliases win over wildcard
// patterns for every form, so a "*" group catches only what nothing names.
func (s *Server) nativeModel(id string) (string, bool) {
	forms := modelForms(id)
	for _, f := range forms {
		if g, ok := s.router.Resolve(f); ok && !strings.Contains(g, "*") {
			return g, true
		}
	}
	// A wildcard sees the most Anthropic-like form (patterns are written in
	// Anthropic names, like "claude-*").
	for i := len(forms) - 1; i >= 0; i-- {
		if _, ok := s.router.Resolve(forms[i]); ok {
			return forms[i], true
		}
	}
	return "", false
}

// Compiled at first use, not at package init (which every cold start pays).
var (
	bedrockVersion = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`-v\d+(:\d+)?$`) })
	dateSuffix     = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`-\d{8}$`) })
)

// modelForms lists id's candidate names, most literal first, without repeats.
func modelForms(id string) []string {
	var out []string
	add := func(s string) {
		if s != "" && (len(out) == 0 || out[len(out)-1] != s) {
			out = append(out, s)
		}
	}
	add(id)
	if strings.HasPrefix(id, "arn:") {
		id = id[strings.LastIndexByte(id, '/')+1:]
		add(id)
	}
	if i := strings.Index(id, "anthropic."); i >= 0 && !strings.Contains(id[:i], "/") {
		id = id[i+len("anthropic."):]
		add(id)
	}
	id = bedrockVersion().ReplaceAllString(id, "")
	add(id)
	if base, date, ok := strings.Cut(id, "@"); ok {
		add(base + "-" + date)
		id = base
		add(id)
	}
	add(dateSuffix().ReplaceAllString(id, ""))
	return out
}
