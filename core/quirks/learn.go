package quirks

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/tidwall/gjson"

	"github.com/claude-gateway/claude-gateway/core/llm"
)

// Upstream is what Learning wraps: one deployment's provider (the router's
// Provider interface, restated here where it is used).
type Upstream interface {
	Send(ctx context.Context, req *llm.Request) (*llm.Response, error)
	Stream(ctx context.Context, req *llm.Request) (llm.Stream, error)
	Endpoint() string
}

// Learning wraps a Bedrock or Vertex deployment so that a field the table
// does not know cannot break every request: when the upstream answers 400
// naming one extraneous input (a top-level field or a tools[] key) or one
// invalid beta flag that the request carried, exactly that is left out,
// the request is sent once more to the same deployment (nothing has reached
// the client yet: Stream returns before the first byte), and the removal is
// remembered for the life of the process, for every later request. It never
// loops: a name already learned, a 400 naming nothing, or any other 400 is
// returned as it came.
type Learning struct {
	next Upstream

	mu       sync.RWMutex
	fields   []string
	toolKeys []string
	betas    []string
}

// Learn wraps next.
func Learn(next Upstream) *Learning { return &Learning{next: next} }

// Endpoint is next's.
func (l *Learning) Endpoint() string { return l.next.Endpoint() }

// Send serves req, learning from one refusal.
func (l *Learning) Send(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	r := l.prepare(req)
	resp, err := l.next.Send(ctx, r)
	if l.learnFrom(r, err) {
		return l.next.Send(ctx, l.prepare(req))
	}
	return resp, err
}

// Stream opens req, learning from one refusal.
func (l *Learning) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	r := l.prepare(req)
	s, err := l.next.Stream(ctx, r)
	if l.learnFrom(r, err) {
		return l.next.Stream(ctx, l.prepare(req))
	}
	return s, err
}

// Learned lists what was learned ("field x", "tools[].y", "beta z"), for /health.
func (l *Learning) Learned() []string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []string
	for _, f := range l.fields {
		out = append(out, "field "+f)
	}
	for _, k := range l.toolKeys {
		out = append(out, "tools[]."+k)
	}
	for _, b := range l.betas {
		out = append(out, "beta "+b)
	}
	return out
}

// prepare returns req less what was learned; req itself is never modified.
func (l *Learning) prepare(req *llm.Request) *llm.Request {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if len(l.fields)+len(l.toolKeys)+len(l.betas) == 0 {
		return req
	}
	out := *req
	if len(l.fields)+len(l.toolKeys) > 0 {
		rules := &Rules{dropFields: l.fields, toolKeys: l.toolKeys}
		if body, removed, err := rules.Apply(req.Body); err == nil && removed != nil {
			out.Body = body
		}
	}
	if len(l.betas) > 0 {
		out.Betas = slices.DeleteFunc(slices.Clone(req.Betas), func(b string) bool { return slices.Contains(l.betas, b) })
	}
	return &out
}

// The refusals upstreams answer for one extraneous input or beta flag. Compiled at first use, not at
// package init, which every cold start pays.
var (
	// Bedrock and Vertex (pydantic): "speed: Extra inputs are not permitted",
	// "tools.0.eager: Extra inputs are not permitted".
	extraInput = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^([A-Za-z0-9_]+)(?:\.(\d+)\.([A-Za-z0-9_]+))?: Extra inputs are not permitted`)
	})
	// Bedrock InvokeModel's schema validator: "extraneous key [speed] is not permitted".
	extraneousKey = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`extraneous key \[([A-Za-z0-9_]+)\] is not permitted`)
	})
	// Vertex and the Anthropic API: "Unexpected value(s) `x` for the `anthropic-beta` header".
	unexpectedBeta = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile("Unexpected value\\(s\\) `([^`]+)` for the `anthropic-beta` header")
	})
)

// learnFrom records what err's refusal names, if req carried it and it is
// new; it reports whether a retry is due.
func (l *Learning) learnFrom(req *llm.Request, err error) bool {
	var le *llm.Error
	if !errors.As(err, &le) || le.Status != 400 {
		return false
	}
	msg := le.Message
	if m := extraInput().FindStringSubmatch(msg); m != nil {
		if m[2] != "" {
			if m[1] == "tools" && gjson.GetBytes(req.Body, "tools."+m[2]+"."+gjson.Escape(m[3])).Exists() {
				return l.add(&l.toolKeys, m[3])
			}
			return false
		}
		return l.addField(req, m[1])
	}
	if m := extraneousKey().FindStringSubmatch(msg); m != nil {
		return l.addField(req, m[1])
	}
	if m := unexpectedBeta().FindStringSubmatch(msg); m != nil {
		for _, b := range strings.Split(m[1], ",") {
			if b = strings.TrimSpace(b); slices.Contains(req.Betas, b) {
				return l.add(&l.betas, b)
			}
		}
	}
	return false
}

// unlearnable are the fields a request cannot do without.
var unlearnable = []string{"model", "messages", "max_tokens", "anthropic_version", "stream"}

func (l *Learning) addField(req *llm.Request, field string) bool {
	if slices.Contains(unlearnable, field) || !gjson.GetBytes(req.Body, gjson.Escape(field)).Exists() {
		return false
	}
	return l.add(&l.fields, field)
}

// maxLearned bounds what one deployment learns: clients choose field names,
// and a flood of made-up ones must not grow memory or strip real fields.
const maxLearned = 32

func (l *Learning) add(list *[]string, name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if slices.Contains(*list, name) || len(l.fields)+len(l.toolKeys)+len(l.betas) >= maxLearned {
		return false
	}
	*list = append(*list, name)
	sort.Strings(*list)
	return true
}
