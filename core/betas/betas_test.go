package betas

import (
	"reflect"
	"testing"
)

func TestFilter(t *testing.T) {
	tab, err := Parse([]byte(`
defaults: {anthropic: pass, bedrock: drop}
flags:
  a: {bedrock: pass}
  b: {bedrock: rename:a}
  c: {bedrock: drop, anthropic: drop}
`))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		provider      string
		in, kept, dro []string
	}{
		{"bedrock", []string{"a", "b", "x", "c"}, []string{"a"}, []string{"x", "c"}},
		{"anthropic", []string{"a", "x", "c"}, []string{"a", "x"}, []string{"c"}},
		{"other", []string{"x"}, []string{"x"}, nil},
	}
	for _, c := range cases {
		kept, dropped := tab.Filter(c.provider, c.in)
		if !reflect.DeepEqual(kept, c.kept) || !reflect.DeepEqual(dropped, c.dro) {
			t.Errorf("%s %v: kept %v dropped %v, want %v %v", c.provider, c.in, kept, dropped, c.kept, c.dro)
		}
	}
	if _, err := Parse([]byte("flags: {a: {bedrock: keep}}")); err == nil {
		t.Error("bad action accepted")
	}
}

func TestDefaultTableParses(t *testing.T) {
	kept, _ := Default().Filter("bedrock", []string{"claude-code-20250219", "interleaved-thinking-2025-05-14"})
	if !reflect.DeepEqual(kept, []string{"interleaved-thinking-2025-05-14"}) {
		t.Errorf("kept %v", kept)
	}
}
