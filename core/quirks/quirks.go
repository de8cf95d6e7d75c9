// Package quirks holds, per provider, what must be done to a Claude Code
// request (or any Anthropic Messages body) before it leaves the gateway: the
// reserved billing-header system block Bedrock refuses, role "system"
// messages, fields and cache_control keys only the Anthropic API knows.
//
// The decisions are data (quirks.yaml, embedded; each row says what, why,
// its public source and its test); this package turns a provider's rows into
// Rules and applies them to a body in one pass, leaving every byte a row does
// not name as it was.
package quirks

import (
	_ "embed"
	"fmt"
	"slices"
	"sync"

	"gopkg.in/yaml.v3"
)

//go:embed quirks.yaml
var tableYAML []byte

// Edit names one of the operations a row may ask for.
type Edit string

// The edits a row may name; each is implemented once, in edit.go.
const (
	DropField           Edit = "drop_field"
	StripSystemPrefix   Edit = "strip_system_prefix"
	FoldSystemMessages  Edit = "fold_system_messages"
	DropCacheControlKey Edit = "drop_cache_control_key"
	DropToolKey         Edit = "drop_tool_key"
	// Keep records a decision to pass something unchanged; it edits nothing.
	Keep Edit = "keep"
)

// The providers a row may name (config.Provider spellings).
const (
	providerAnthropic = "anthropic"
	providerBedrock   = "bedrock"
	providerVertex    = "vertex_ai"
)

// Quirk is one row of the table.
type Quirk struct {
	ID        string   `yaml:"id"`
	What      string   `yaml:"what"`
	Edit      Edit     `yaml:"edit"`
	Arg       string   `yaml:"arg"`
	Providers []string `yaml:"providers"`
	Why       string   `yaml:"why"`
	Keep      string   `yaml:"keep"`
	Source    string   `yaml:"source"`
	Test      string   `yaml:"test"`
}

// Table is the parsed quirks table.
type Table struct {
	Quirks []Quirk `yaml:"quirks"`
	// Accepted lists, per provider, every top-level field its upstream takes.
	Accepted map[string]Accepted `yaml:"accepted_fields"`
}

// Accepted is one provider's list of top-level fields, with its source.
type Accepted struct {
	Source string   `yaml:"source"`
	Test   string   `yaml:"test"`
	Fields []string `yaml:"fields"`
}

// Parse reads a table in quirks.yaml's format and checks every row, naming
// the row and field of the first problem.
func Parse(data []byte) (*Table, error) {
	var t Table
	if err := yaml.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("quirks: %w", err)
	}
	for p, a := range t.Accepted {
		if !knownProvider(p) || len(a.Fields) == 0 || a.Source == "" || a.Test == "" {
			return nil, fmt.Errorf("quirks: accepted_fields.%s: a known provider with fields, source and test", p)
		}
	}
	seen := map[string]bool{}
	for i, q := range t.Quirks {
		at := fmt.Sprintf("quirks[%d] (%s)", i, q.ID)
		switch {
		case q.ID == "" || seen[q.ID]:
			return nil, fmt.Errorf("quirks: %s: id missing or repeated", at)
		case q.What == "" || q.Why == "" || q.Source == "" || q.Test == "":
			return nil, fmt.Errorf("quirks: %s: what, why, source and test are required", at)
		case len(q.Providers) == 0:
			return nil, fmt.Errorf("quirks: %s: providers is empty", at)
		}
		seen[q.ID] = true
		switch q.Edit {
		case DropField, StripSystemPrefix, DropCacheControlKey, DropToolKey:
			if q.Arg == "" {
				return nil, fmt.Errorf("quirks: %s: edit %s needs arg", at, q.Edit)
			}
		case FoldSystemMessages, Keep:
		default:
			return nil, fmt.Errorf("quirks: %s: unknown edit %q", at, q.Edit)
		}
		for _, p := range q.Providers {
			if !knownProvider(p) {
				return nil, fmt.Errorf("quirks: %s: unknown provider %q", at, p)
			}
		}
	}
	return &t, nil
}

func knownProvider(p string) bool {
	return p == providerAnthropic || p == providerBedrock || p == providerVertex
}

// Default is the embedded table, parsed once.
var Default = sync.OnceValue(func() *Table {
	t, err := Parse(tableYAML)
	if err != nil {
		panic(err) // the embedded file is tested; this cannot happen in a built binary
	}
	return t
})

// Rules are the edits one provider applies, compiled from its rows.
type Rules struct {
	// accepted, when set, are the only top-level fields kept.
	accepted       []string
	dropFields     []string
	systemPrefixes []string
	fold           bool
	ccKeys         []string
	toolKeys       []string
}

// For compiles the rows that name provider ("anthropic", "bedrock", "vertex_ai").
func (t *Table) For(provider string) *Rules {
	r := &Rules{accepted: t.Accepted[provider].Fields}
	for _, q := range t.Quirks {
		if !slices.Contains(q.Providers, provider) {
			continue
		}
		switch q.Edit {
		case DropField:
			r.dropFields = append(r.dropFields, q.Arg)
		case StripSystemPrefix:
			r.systemPrefixes = append(r.systemPrefixes, q.Arg)
		case FoldSystemMessages:
			r.fold = true
		case DropCacheControlKey:
			r.ccKeys = append(r.ccKeys, q.Arg)
		case DropToolKey:
			r.toolKeys = append(r.toolKeys, q.Arg)
		}
	}
	return r
}

// DropsField reports whether the rules remove the top-level field name.
func (r *Rules) DropsField(name string) bool {
	return slices.Contains(r.dropFields, name) || r.accepted != nil && !slices.Contains(r.accepted, name)
}
