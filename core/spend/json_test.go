package spend

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"
)

func TestAppendJSONRoundTrips(t *testing.T) {
	at := time.Date(2026, 11, 26, 12, 0, 0, 123456789, time.UTC)
	cases := []Record{
		{},
		{CallID: "01a2-x", StartTime: at, EndTime: at.Add(time.Second), TTFTMillis: 42, ModelGroup: "claude-sonnet",
			RequestedModel: "claude-opus-5-5", DeploymentID: "d1", Provider: "bedrock", Region: "us-east-1",
			APIBase: "https://bedrock-runtime.us-east-1.amazonaws.com", KeyHash: "abc", SessionID: "s",
			Endpoint: "/v1/messages", InputTokens: 1, OutputTokens: 2, CacheCreationInputTokens: 3,
			CacheReadInputTokens: 4, Cost: 0.000123, Status: 429, ErrorType: "rate_limit_error", Retries: 2,
			Fallbacks: 1, Stream: true, Disconnected: true},
		{CallID: "quote\" back\\ nl\n tab\t ctl\x01 uni é 😀 bad\xff", SessionID: "{\"device_id\":\"x\"}",
			StartTime: at.In(time.FixedZone("x", 3600)), Cost: 1e-9},
	}
	for _, r := range cases {
		b := AppendJSON(nil, r)
		if !json.Valid(b) {
			t.Fatalf("invalid JSON: %s", b)
		}
		var got, want Record
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		std, _ := json.Marshal(r)
		if err := json.Unmarshal(std, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("AppendJSON decodes to\n%+v\nencoding/json to\n%+v", got, want)
		}
	}
	if b := AppendJSON(nil, Record{Cost: math.NaN()}); !json.Valid(b) {
		t.Errorf("NaN cost: %s", b)
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	r := Record{CallID: "01a217f0-4946-7824-8f71-8ede07dd2fb9", StartTime: time.Now(), EndTime: time.Now(),
		ModelGroup: "claude-sonnet", RequestedModel: "claude-sonnet", DeploymentID: "d1", Provider: "anthropic",
		APIBase: "https://api.anthropic.com", KeyHash: "0123456789abcdef0123456789abcdef", Endpoint: "/v1/messages",
		InputTokens: 100, OutputTokens: 200, Cost: 0.0123, Status: 200, Stream: true}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendJSON(buf[:0], r)
	}
}
