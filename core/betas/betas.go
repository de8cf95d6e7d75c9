// Package betas decides, per provider, what happens to each anthropic-beta
// flag a client sends: passed on, renamed, or dropped. The decisions are data
// (table.yaml, embedded), so a new flag is a one-line change.
//
// An unknown flag reaching Bedrock or Vertex is a 400 "invalid beta flag" for
// the user, so for those providers a flag the table does not list is dropped;
// the Anthropic API knows every flag, so there it passes.
package betas

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

//go:embed table.yaml
var tableYAML []byte

// Action for one flag on one provider: "pass", "drop", or "rename:<new flag>".
type Action string

// Table maps beta flag -> provider -> action.
type Table struct {
	flags map[string]map[string]Action
	// defaults is the action for unlisted flags, per provider.
	defaults map[string]Action
}

type file struct {
	Defaults map[string]Action            `yaml:"defaults"`
	Flags    map[string]map[string]Action `yaml:"flags"`
}

// Parse reads a table in table.yaml's format.
func Parse(data []byte) (*Table, error) {
	var f file
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("betas: %w", err)
	}
	for flag, m := range f.Flags {
		for p, a := range m {
			if err := a.validate(); err != nil {
				return nil, fmt.Errorf("betas: flags.%s.%s: %w", flag, p, err)
			}
		}
	}
	return &Table{flags: f.Flags, defaults: f.Defaults}, nil
}

func (a Action) validate() error {
	switch {
	case a == "pass", a == "drop":
		return nil
	case strings.HasPrefix(string(a), "rename:") && len(a) > len("rename:"):
		return nil
	}
	return fmt.Errorf("unknown action %q (want pass, drop or rename:<flag>)", a)
}

// Default is the embedded table, parsed once.
var Default = sync.OnceValue(func() *Table {
	t, err := Parse(tableYAML)
	if err != nil {
		panic(err) // the embedded file is tested; this cannot happen in a built binary
	}
	return t
})

// Filter applies the table for provider ("anthropic", "bedrock", "vertex_ai")
// to flags, returning the flags to send (deduplicated, order kept) and those dropped.
func (t *Table) Filter(provider string, flags []string) (kept, dropped []string) {
	seen := make(map[string]bool, len(flags))
	for _, f := range flags {
		a, ok := t.flags[f][provider]
		if !ok {
			a = t.defaults[provider]
			if a == "" {
				a = "pass"
			}
		}
		switch {
		case a == "drop":
			dropped = append(dropped, f)
			continue
		case strings.HasPrefix(string(a), "rename:"):
			f = string(a[len("rename:"):])
		}
		if !seen[f] {
			seen[f] = true
			kept = append(kept, f)
		}
	}
	return kept, dropped
}
