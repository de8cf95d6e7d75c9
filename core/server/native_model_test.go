package server

import (
	"slices"
	"testing"
)

func TestModelForms(t *testing.T) {
	cases := []struct {
		id   string
		want []string
	}{
		{"us.anthropic.claude-opus-4-5-20251101-v1:0", []string{"us.anthropic.claude-opus-4-5-20251101-v1:0", "claude-opus-4-5-20251101-v1:0", "claude-opus-4-5-20251101", "claude-opus-4-5"}},
		{"anthropic.claude-3-5-haiku-20241022-v1:0", []string{"anthropic.claude-3-5-haiku-20241022-v1:0", "claude-3-5-haiku-20241022-v1:0", "claude-3-5-haiku-20241022", "claude-3-5-haiku"}},
		{"global.anthropic.claude-opus-4-6-v1", []string{"global.anthropic.claude-opus-4-6-v1", "claude-opus-4-6-v1", "claude-opus-4-6"}},
		{"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
			[]string{"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
				"us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5"}},
		{"claude-opus-4-5@20251101", []string{"claude-opus-4-5@20251101", "claude-opus-4-5-20251101", "claude-opus-4-5"}},
		{"claude-opus-4-7", []string{"claude-opus-4-7"}},
		{"my-group", []string{"my-group"}},
	}
	for _, c := range cases {
		if got := modelForms(c.id); !slices.Equal(got, c.want) {
			t.Errorf("%s:\n got %q\nwant %q", c.id, got, c.want)
		}
	}
}

func TestBedrockException(t *testing.T) {
	cases := []struct {
		status     int
		name       string
		wireStatus int
	}{
		{400, "ValidationException", 400}, {413, "ValidationException", 400}, {401, "AccessDeniedException", 403},
		{404, "ResourceNotFoundException", 404}, {429, "ThrottlingException", 429}, {529, "ServiceUnavailableException", 503},
		{500, "InternalServerException", 500}, {502, "InternalServerException", 500}, {504, "ModelTimeoutException", 408},
	}
	for _, c := range cases {
		if name, st := bedrockException(c.status); name != c.name || st != c.wireStatus {
			t.Errorf("%d: %s %d, want %s %d", c.status, name, st, c.name, c.wireStatus)
		}
	}
}

func TestLookupSpec(t *testing.T) {
	cases := []struct {
		upstream string
		name     string
		maxTok   int64
	}{
		{"us.anthropic.claude-opus-4-5-20251101-v1:0", "Claude Opus 4.5", 64000},
		{"claude-opus-4-5@20251101", "Claude Opus 4.5", 64000},
		{"claude-opus-4-20250514", "Claude Opus 4", 32000},
		{"claude-opus-4-1", "Claude Opus 4.1", 32000},
		{"anthropic.claude-3-5-haiku-20241022-v1:0", "Claude Haiku 3.5", 8192},
		{"claude-opus-4-6", "Claude Opus 4.6", 128000},
		{"my-fine-tune", "", 0},
	}
	for _, c := range cases {
		s, ok := lookupSpec(c.upstream)
		if ok != (c.name != "") || s.DisplayName != c.name || s.MaxTokens != c.maxTok {
			t.Errorf("%s: %+v %v", c.upstream, s, ok)
		}
	}
}
