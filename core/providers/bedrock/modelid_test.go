package bedrock

import "testing"

func TestParseModelID(t *testing.T) {
	cases := []struct {
		upstream, id, region, base string
	}{
		{"anthropic.claude-3-5-sonnet-20241022-v2:0", "anthropic.claude-3-5-sonnet-20241022-v2:0", "", "anthropic.claude-3-5-sonnet-20241022-v2:0"},
		{"us.anthropic.claude-sonnet-4-5-20250929-v1:0", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "", "anthropic.claude-sonnet-4-5-20250929-v1:0"},
		{"eu.anthropic.claude-haiku-4-5-20251001-v1:0", "eu.anthropic.claude-haiku-4-5-20251001-v1:0", "", "anthropic.claude-haiku-4-5-20251001-v1:0"},
		{"apac.anthropic.claude-3-5-sonnet-20241022-v2:0", "apac.anthropic.claude-3-5-sonnet-20241022-v2:0", "", "anthropic.claude-3-5-sonnet-20241022-v2:0"},
		{"global.anthropic.claude-opus-4-5-20251101-v1:0", "global.anthropic.claude-opus-4-5-20251101-v1:0", "", "anthropic.claude-opus-4-5-20251101-v1:0"},
		{"converse/us.anthropic.claude-sonnet-4-5-20250929-v1:0", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "", "anthropic.claude-sonnet-4-5-20250929-v1:0"},
		{"invoke/anthropic.claude-3-5-sonnet-20241022-v2:0", "anthropic.claude-3-5-sonnet-20241022-v2:0", "", "anthropic.claude-3-5-sonnet-20241022-v2:0"},
		{"arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
			"arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-5-20250929-v1:0", "eu-west-1",
			"anthropic.claude-sonnet-4-5-20250929-v1:0"},
		{"arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-3-5-sonnet-20241022-v2:0",
			"arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-3-5-sonnet-20241022-v2:0", "us-west-2",
			"anthropic.claude-3-5-sonnet-20241022-v2:0"},
		{"invoke/arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3",
			"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3", "us-east-1",
			"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3"},
	}
	for _, c := range cases {
		m := parseModelID(c.upstream)
		if m.ID != c.id || m.Region != c.region || m.baseModel() != c.base {
			t.Errorf("%s: got id %q region %q base %q, want %q %q %q", c.upstream, m.ID, m.Region, m.baseModel(), c.id, c.region, c.base)
		}
	}
}
