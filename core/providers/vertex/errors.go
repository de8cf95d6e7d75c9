package vertex

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/tidwall/gjson"
)

// maxErrorBody bounds how much of an upstream error body is read.
const maxErrorBody = 1 << 20

// googleStatus maps a google.rpc.Code name (the "status" of Google's error
// body) to the Anthropic status and error type a client expects.
var googleStatus = map[string]struct {
	status int
	typ    string
}{
	"RESOURCE_EXHAUSTED":  {http.StatusTooManyRequests, llm.ErrRateLimit},
	"UNAVAILABLE":         {529, llm.ErrOverloaded},
	"PERMISSION_DENIED":   {http.StatusForbidden, llm.ErrPermission},
	"UNAUTHENTICATED":     {http.StatusUnauthorized, llm.ErrAuthentication},
	"NOT_FOUND":           {http.StatusNotFound, llm.ErrNotFound},
	"INVALID_ARGUMENT":    {http.StatusBadRequest, llm.ErrInvalidRequest},
	"FAILED_PRECONDITION": {http.StatusBadRequest, llm.ErrInvalidRequest},
	"OUT_OF_RANGE":        {http.StatusBadRequest, llm.ErrInvalidRequest},
	"ALREADY_EXISTS":      {http.StatusBadRequest, llm.ErrInvalidRequest},
	"UNIMPLEMENTED":       {http.StatusBadRequest, llm.ErrInvalidRequest},
	"DEADLINE_EXCEEDED":   {http.StatusGatewayTimeout, llm.ErrTimeout},
	"INTERNAL":            {http.StatusInternalServerError, llm.ErrAPI},
	"UNKNOWN":             {http.StatusInternalServerError, llm.ErrAPI},
	"ABORTED":             {http.StatusInternalServerError, llm.ErrAPI},
	"DATA_LOSS":           {http.StatusInternalServerError, llm.ErrAPI},
	"CANCELLED":           {http.StatusInternalServerError, llm.ErrAPI},
}

// upstreamError reads a non-2xx Vertex response into a typed error.
func upstreamError(resp *http.Response) *llm.Error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := parseError(resp.StatusCode, body)
	e.ShouldRetry = resp.Header.Get("x-should-retry")
	if e.RetryAfter == 0 {
		e.RetryAfter = retryAfterHeader(resp.Header, time.Now())
	}
	return e
}

// parseError maps an error body to *llm.Error. Three shapes arrive:
//   - Anthropic's own {"type":"error","error":{...}} (the model's validation
//     errors): passed through unchanged in Body with the HTTP status, so a
//     client that reacts to the exact message (Claude Code's 400 handling)
//     sees it;
//   - Google's {"error":{"code":429,"message":"...","status":"RESOURCE_EXHAUSTED"}},
//     sometimes wrapped in a one-element list: mapped by status name;
//   - anything else (an HTML page from a front end): by HTTP status.
func parseError(status int, body []byte) *llm.Error {
	doc := gjson.ParseBytes(bytes.TrimSpace(body))
	if doc.IsArray() {
		doc = doc.Get("0")
	}
	if doc.Get("type").String() == "error" && doc.Get("error.type").Type == gjson.String {
		return &llm.Error{
			Status:    status,
			Type:      doc.Get("error.type").String(),
			Message:   doc.Get("error.message").String(),
			Body:      []byte(doc.Raw),
			Retryable: llm.RetryableStatus(status),
		}
	}
	if g := doc.Get("error"); g.IsObject() {
		st, typ := status, ""
		if m, ok := googleStatus[g.Get("status").String()]; ok {
			st, typ = m.status, m.typ
		} else if code := int(g.Get("code").Int()); code >= 400 && code <= 599 {
			st = code
		}
		if typ == "" {
			typ = llm.TypeForStatus(st)
		}
		msg := g.Get("message").String()
		if msg == "" {
			msg = http.StatusText(st)
		}
		return &llm.Error{
			Status:     st,
			Type:       typ,
			Message:    msg,
			RetryAfter: retryInfo(g.Get("details")),
			Retryable:  llm.RetryableStatus(st),
		}
	}
	msg := "vertex: upstream answered " + strconv.Itoa(status)
	if t := shortText(body); t != "" {
		msg += ": " + t
	}
	return llm.NewError(status, msg)
}

// retryInfo reads a google.rpc.RetryInfo detail ({"retryDelay":"30s"}).
func retryInfo(details gjson.Result) time.Duration {
	var d time.Duration
	details.ForEach(func(_, v gjson.Result) bool {
		if strings.HasSuffix(v.Get("@type").String(), "google.rpc.RetryInfo") {
			d, _ = time.ParseDuration(v.Get("retryDelay").String())
			return false
		}
		return true
	})
	if d < 0 {
		return 0
	}
	return d
}

// retryAfterHeader parses Retry-After as seconds or an HTTP date.
func retryAfterHeader(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// shortText is a printable prefix of a non-JSON body, for messages.
func shortText(b []byte) string {
	const max = 200
	b = bytes.TrimSpace(b)
	if len(b) == 0 || !utf8.Valid(b) {
		return ""
	}
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}

// transportError types a failure to reach Vertex (no HTTP answer). The
// caller's own cancellation is returned as is.
func transportError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &llm.Error{Status: http.StatusGatewayTimeout, Type: llm.ErrTimeout,
			Message: "vertex: upstream timed out", Retryable: true, Cause: err}
	}
	return &llm.Error{Status: http.StatusBadGateway, Type: llm.ErrAPI,
		Message: "vertex: upstream unreachable", Retryable: true, Cause: err}
}
