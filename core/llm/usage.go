package llm

import "github.com/tidwall/gjson"

// Usage is the token accounting of one call, in Anthropic's terms:
// InputTokens excludes cached tokens (cache reads and writes are separate).
type Usage struct {
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
}

// Total is every token the call consumed (what tpm windows count).
func (u Usage) Total() int64 {
	return u.InputTokens + u.OutputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens
}

// Merge takes the non-zero counts of a usage object (message_start carries the
// input side, message_delta the cumulative output side).
func (u *Usage) Merge(usage gjson.Result) {
	if !usage.Exists() {
		return
	}
	set := func(dst *int64, key string) {
		if v := usage.Get(key); v.Exists() && v.Int() > 0 {
			*dst = v.Int()
		}
	}
	set(&u.InputTokens, "input_tokens")
	set(&u.OutputTokens, "output_tokens")
	set(&u.CacheCreationInputTokens, "cache_creation_input_tokens")
	set(&u.CacheReadInputTokens, "cache_read_input_tokens")
}

// ObserveEvent updates u from one streamed event's data, if it carries usage.
func (u *Usage) ObserveEvent(ev Event) {
	switch ev.Type {
	case "message_start":
		u.Merge(gjson.GetBytes(ev.Data, "message.usage"))
	case "message_delta":
		u.Merge(gjson.GetBytes(ev.Data, "usage"))
	case "message_stop":
		// Bedrock appends its own final counts to the last event.
		if m := gjson.GetBytes(ev.Data, "amazon-bedrock-invocationMetrics"); m.Exists() {
			u.mergeBedrock(m)
		}
	}
}

// FromBody reads the usage of a whole Messages response body.
func FromBody(body []byte) Usage {
	var u Usage
	u.Merge(gjson.GetBytes(body, "usage"))
	return u
}

// mergeBedrock takes Bedrock's amazon-bedrock-invocationMetrics counts, which
// are authoritative for the whole call.
func (u *Usage) mergeBedrock(m gjson.Result) {
	set := func(dst *int64, key string) {
		if v := m.Get(key); v.Exists() {
			*dst = v.Int()
		}
	}
	set(&u.InputTokens, "inputTokenCount")
	set(&u.OutputTokens, "outputTokenCount")
	set(&u.CacheReadInputTokens, "cacheReadInputTokenCount")
	set(&u.CacheCreationInputTokens, "cacheWriteInputTokenCount")
}
