package sso

import (
	"testing"

	"github.com/claude-gateway/claude-gateway/core/config"
)

func TestUserCodes(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 2000; i++ {
		c := newUserCode()
		if !userCodeRe.MatchString(c) {
			t.Fatalf("user code %q", c)
		}
		seen[c] = true
	}
	if len(seen) < 1990 {
		t.Errorf("%d distinct codes of 2000", len(seen))
	}
	for in, want := range map[string]string{"bcdf-ghjk": "BCDF-GHJK", " BCDF GHJK ": "BCDF-GHJK", "bcdfghjk": "BCDF-GHJK", "BCDF-GHJ": "", "AEIO-UBCD": "", "": ""} {
		if got := normalizeUserCode(in); got != want {
			t.Errorf("normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSettingsMerge(t *testing.T) {
	cfg := &config.SSOSettings{
		ManagedSettings: map[string]any{"env": map[string]any{"A": "base", "B": "base"}, "permissions": map[string]any{"deny": []any{"WebFetch"}}},
		Groups: []config.SSOGroup{
			{Name: "all", ManagedSettings: map[string]any{"availableModels": []any{"haiku"}}},
			{Name: "eng", ManagedSettings: map[string]any{"env": map[string]any{"B": "eng"}, "permissions": map[string]any{"deny": []any{"WebFetch", "Bash(rm:*)"}}, "availableModels": []any{"sonnet"}}},
			{Name: "none"},
		},
	}
	cases := []struct {
		groups []string
		want   string
		ok     bool
	}{
		{nil, `{"env":{"A":"base","B":"base"},"permissions":{"deny":["WebFetch"]}}`, true},
		{[]string{"eng", "all"}, `{"availableModels":["haiku","sonnet"],"env":{"A":"base","B":"eng"},"permissions":{"deny":["WebFetch","Bash(rm:*)"]}}`, true},
		{[]string{"none"}, `{"env":{"A":"base","B":"base"},"permissions":{"deny":["WebFetch"]}}`, true},
	}
	for _, tc := range cases {
		got, ok := Settings(cfg, tc.groups)
		if ok != tc.ok || string(canonicalJSON(got)) != tc.want {
			t.Errorf("groups %v: %s %v, want %s", tc.groups, canonicalJSON(got), ok, tc.want)
		}
	}
	if _, ok := Settings(&config.SSOSettings{Groups: cfg.Groups[2:]}, []string{"none"}); ok {
		t.Error("no policy anywhere must report none (404), not an empty one")
	}
	// The checksum is over sorted keys with no whitespace and no HTML escaping,
	// as Claude Code computes it.
	if got := string(canonicalJSON(map[string]any{"b": 1, "a": "<&>"})); got != `{"a":"<&>","b":1}` {
		t.Errorf("canonical JSON %s", got)
	}
}

func TestModelRule(t *testing.T) {
	s := &Service{cfg: &config.SSOSettings{
		User: config.SSOPolicy{Models: []string{"claude-*"}},
		Groups: []config.SSOGroup{
			{Name: "interns", SSOPolicy: config.SSOPolicy{Models: []string{"claude-haiku-4-5"}}},
			{Name: "eng", SSOPolicy: config.SSOPolicy{Models: []string{"claude-sonnet-4-5", "claude-opus-*"}}, ManagedSettings: map[string]any{"availableModels": []any{"sonnet", "opus"}}},
		},
	}}
	cases := []struct {
		groups []string
		model  string
		ok     bool
	}{
		{nil, "claude-haiku-4-5", true},
		{nil, "gpt-4", false},
		{[]string{"interns"}, "claude-haiku-4-5", true},
		{[]string{"interns"}, "claude-sonnet-4-5", false},
		{[]string{"eng"}, "claude-sonnet-4-5", true},
		{[]string{"eng"}, "claude-opus-4-1", true},
		{[]string{"eng"}, "claude-haiku-4-5", false},
		{[]string{"eng", "interns"}, "claude-haiku-4-5", false}, // eng's availableModels applies to the union
	}
	for _, tc := range cases {
		if got := s.modelRule(tc.groups).allows(tc.model); got != tc.ok {
			t.Errorf("groups %v model %s: %v, want %v", tc.groups, tc.model, got, tc.ok)
		}
	}
}
