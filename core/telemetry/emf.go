package telemetry

import (
	"io"
	"strconv"
	"sync"

	"github.com/claude-gateway/claude-gateway/core/jsonstr"
	"github.com/claude-gateway/claude-gateway/core/server"
)

// emfNamespace is the CloudWatch namespace of the EMF metrics.
const emfNamespace = "ClaudeGateway"

// emfWriter writes one CloudWatch Embedded Metric Format line per request:
// on Lambda, stdout goes to CloudWatch Logs, which turns the line into
// metrics with no network call from the function. The line also carries
// the spend record's non-secret fields, so Logs Insights can query it.
type emfWriter struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

// emfMetrics are the line's metrics with their CloudWatch units.
var emfMetrics = `[{"Name":"Requests","Unit":"Count"},{"Name":"Errors","Unit":"Count"},` +
	`{"Name":"Duration","Unit":"Milliseconds"},{"Name":"TimeToFirstToken","Unit":"Milliseconds"},` +
	`{"Name":"Overhead","Unit":"Milliseconds"},{"Name":"InputTokens","Unit":"Count"},` +
	`{"Name":"OutputTokens","Unit":"Count"},{"Name":"CacheReadTokens","Unit":"Count"},` +
	`{"Name":"CacheWriteTokens","Unit":"Count"},{"Name":"Cost","Unit":"None"},` +
	`{"Name":"Retries","Unit":"Count"},{"Name":"Fallbacks","Unit":"Count"}]`

func (e *emfWriter) write(c server.Call, requestID, group, deployment, status string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	b := e.buf[:0]
	b = append(b, `{"_aws":{"Timestamp":`...)
	b = strconv.AppendInt(b, c.EndTime.UnixMilli(), 10)
	b = append(b, `,"CloudWatchMetrics":[{"Namespace":"`+emfNamespace+`","Dimensions":[["ModelGroup","Deployment"],["ModelGroup"],["StatusClass"]],"Metrics":`...)
	b = append(b, emfMetrics...)
	b = append(b, `}]},"ModelGroup":`...)
	b = jsonstr.Append(b, group)
	b = append(b, `,"Deployment":`...)
	b = jsonstr.Append(b, deployment)
	b = append(b, `,"StatusClass":`...)
	b = jsonstr.Append(b, status)
	errs := 0
	if c.Status >= 400 {
		errs = 1
	}
	b = appendNum(b, "Requests", 1)
	b = appendNum(b, "Errors", float64(errs))
	b = appendNum(b, "Duration", float64(c.EndTime.Sub(c.StartTime).Microseconds())/1000)
	if c.TTFT > 0 && c.Status < 400 {
		b = appendNum(b, "TimeToFirstToken", float64(c.TTFT.Microseconds())/1000)
	}
	b = appendNum(b, "Overhead", float64(c.Overhead.Microseconds())/1000)
	b = appendNum(b, "InputTokens", float64(c.InputTokens))
	b = appendNum(b, "OutputTokens", float64(c.OutputTokens))
	b = appendNum(b, "CacheReadTokens", float64(c.CacheReadInputTokens))
	b = appendNum(b, "CacheWriteTokens", float64(c.CacheCreationInputTokens))
	b = appendNum(b, "Cost", c.Cost)
	b = appendNum(b, "Retries", float64(c.Retries))
	b = appendNum(b, "Fallbacks", float64(c.Fallbacks))
	// Properties (not metrics): what Logs Insights filters on.
	b = append(b, `,"level":"INFO","msg":"request metrics","call_id":`...)
	b = jsonstr.Append(b, c.CallID)
	if requestID != "" { // Lambda's invocation id, as on its log lines
		b = append(b, `,"requestId":`...)
		b = jsonstr.Append(b, requestID)
	}
	b = append(b, `,"api":`...)
	b = jsonstr.Append(b, c.API)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(c.Status), 10)
	if c.ErrorType != "" {
		b = append(b, `,"error_type":`...)
		b = jsonstr.Append(b, c.ErrorType)
	}
	// Who called (virtual keys): Logs Insights groups spend by these.
	for _, kv := range [3][2]string{{"key_alias", c.KeyAlias}, {"user", c.UserID}, {"team_id", c.TeamID}} {
		if kv[1] != "" {
			b = append(append(append(b, `,"`...), kv[0]...), `":`...)
			b = jsonstr.Append(b, kv[1])
		}
	}
	b = append(b, "}\n"...)
	e.buf = b
	_, _ = e.w.Write(b)
}

func appendNum(b []byte, name string, v float64) []byte {
	b = append(b, `,"`...)
	b = append(b, name...)
	b = append(b, `":`...)
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}
