package spend

import (
	"math"
	"strconv"
	"time"

	"github.com/claude-gateway/claude-gateway/core/jsonstr"
)

// AppendJSON appends r as a JSON object, the same document encoding/json
// writes for a Record (same keys, same values) at a fraction of the cost:
// stores that keep records as JSON call it once per request.
func AppendJSON(dst []byte, r Record) []byte {
	dst = append(dst, `{"request_id":`...)
	dst = appendString(dst, r.CallID)
	dst = append(dst, `,"startTime":`...)
	dst = appendTime(dst, r.StartTime)
	dst = append(dst, `,"endTime":`...)
	dst = appendTime(dst, r.EndTime)
	dst = appendInt(dst, `,"time_to_first_token_ms":`, r.TTFTMillis)
	for _, f := range [...]struct{ key, v string }{
		{`,"model_group":`, r.ModelGroup}, {`,"model":`, r.RequestedModel}, {`,"model_id":`, r.DeploymentID},
		{`,"custom_llm_provider":`, r.Provider}, {`,"region":`, r.Region}, {`,"api_base":`, r.APIBase},
		{`,"api_key":`, r.KeyHash}, {`,"session_id":`, r.SessionID}, {`,"call_type":`, r.Endpoint},
	} {
		dst = append(dst, f.key...)
		dst = appendString(dst, f.v)
	}
	dst = appendInt(dst, `,"prompt_tokens":`, r.InputTokens)
	dst = appendInt(dst, `,"completion_tokens":`, r.OutputTokens)
	dst = appendInt(dst, `,"cache_creation_input_tokens":`, r.CacheCreationInputTokens)
	dst = appendInt(dst, `,"cache_read_input_tokens":`, r.CacheReadInputTokens)
	dst = append(dst, `,"spend":`...)
	cost := r.Cost
	if math.IsNaN(cost) || math.IsInf(cost, 0) {
		cost = 0 // not representable in JSON
	}
	dst = strconv.AppendFloat(dst, cost, 'g', -1, 64)
	dst = appendInt(dst, `,"status":`, int64(r.Status))
	if r.ErrorType != "" {
		dst = append(dst, `,"error_type":`...)
		dst = appendString(dst, r.ErrorType)
	}
	dst = appendInt(dst, `,"retries":`, int64(r.Retries))
	dst = appendInt(dst, `,"fallbacks":`, int64(r.Fallbacks))
	dst = append(dst, `,"stream":`...)
	dst = strconv.AppendBool(dst, r.Stream)
	dst = append(dst, `,"client_disconnected":`...)
	dst = strconv.AppendBool(dst, r.Disconnected)
	for _, f := range [...]struct{ key, v string }{{`,"key_alias":`, r.KeyAlias}, {`,"user":`, r.UserID}, {`,"team_id":`, r.TeamID}} {
		if f.v != "" {
			dst = appendString(append(dst, f.key...), f.v)
		}
	}
	return append(dst, '}')
}

func appendInt(dst []byte, key string, v int64) []byte {
	return strconv.AppendInt(append(dst, key...), v, 10)
}

func appendTime(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}

func appendString(dst []byte, s string) []byte { return jsonstr.Append(dst, s) }
