package spend

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"
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

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string: quotes, backslashes and control
// characters escaped, invalid UTF-8 replaced by U+FFFD (as encoding/json does).
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
