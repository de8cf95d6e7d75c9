package llm

import "testing"

func TestUsageFromStream(t *testing.T) {
	cases := []struct {
		name   string
		events []Event
		want   Usage
	}{
		{"anthropic", []Event{
			{"message_start", []byte(`{"type":"message_start","message":{"usage":{"input_tokens":10,"cache_read_input_tokens":5,"output_tokens":1}}}`)},
			{"message_delta", []byte(`{"type":"message_delta","usage":{"output_tokens":42}}`)},
			{"message_stop", []byte(`{"type":"message_stop"}`)},
		}, Usage{InputTokens: 10, OutputTokens: 42, CacheReadInputTokens: 5}},
		{"bedrock metrics win", []Event{
			{"message_start", []byte(`{"type":"message_start","message":{"usage":{"input_tokens":10,"output_tokens":1}}}`)},
			{"message_stop", []byte(`{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":11,"outputTokenCount":7,"cacheReadInputTokenCount":3,"cacheWriteInputTokenCount":2}}`)},
		}, Usage{InputTokens: 11, OutputTokens: 7, CacheReadInputTokens: 3, CacheCreationInputTokens: 2}},
	}
	for _, c := range cases {
		var u Usage
		for _, ev := range c.events {
			u.ObserveEvent(ev)
		}
		if u != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, u, c.want)
		}
	}
	if got := FromBody([]byte(`{"usage":{"input_tokens":3,"output_tokens":4}}`)); got.Total() != 7 {
		t.Errorf("FromBody total %d", got.Total())
	}
}
