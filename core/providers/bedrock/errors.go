package bedrock

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/smithy-go"
	"github.com/tidwall/gjson"

	"github.com/claude-gateway/claude-gateway/core/llm"
)

// exceptionStatus maps Bedrock exception codes to the Anthropic status and
// error type a client expects.
var exceptionStatus = map[string]struct {
	status int
	typ    string
}{
	"ThrottlingException":           {http.StatusTooManyRequests, llm.ErrRateLimit},
	"ServiceQuotaExceededException": {http.StatusTooManyRequests, llm.ErrRateLimit},
	"ServiceUnavailableException":   {529, llm.ErrOverloaded},
	"ModelNotReadyException":        {529, llm.ErrOverloaded},
	"InternalServerException":       {http.StatusInternalServerError, llm.ErrAPI},
	"ModelStreamErrorException":     {http.StatusInternalServerError, llm.ErrAPI},
	"ModelTimeoutException":         {http.StatusGatewayTimeout, llm.ErrTimeout},
	"ValidationException":           {http.StatusBadRequest, llm.ErrInvalidRequest},
	"AccessDeniedException":         {http.StatusForbidden, llm.ErrPermission},
	"ResourceNotFoundException":     {http.StatusNotFound, llm.ErrNotFound},
	// The deployment's AWS credentials are wrong or expired: the client's own
	// key is fine, so this is a permission problem of this deployment.
	"UnrecognizedClientException": {http.StatusForbidden, llm.ErrPermission},
	"InvalidSignatureException":   {http.StatusForbidden, llm.ErrPermission},
	"ExpiredTokenException":       {http.StatusForbidden, llm.ErrPermission},
	"IncompleteSignature":         {http.StatusForbidden, llm.ErrPermission},
	"MissingAuthenticationToken":  {http.StatusForbidden, llm.ErrPermission},
}

// upstreamError turns a failed call (an error answer, an event-stream
// exception frame, a transport or credentials failure) into the typed error
// the router acts on.
func upstreamError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var le *llm.Error
	if errors.As(err, &le) {
		return le
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		// The caller went away: not an upstream failure, nothing to retry.
		return ctx.Err()
	}
	out := &llm.Error{Cause: err}
	var ce *credentialsError
	if errors.As(err, &ce) {
		// The gateway's side failed; another deployment (other credentials)
		// may serve, and a passing outage of the credentials source may heal.
		out.Status, out.Type, out.Retryable = http.StatusInternalServerError, llm.ErrAPI, true
		out.Message = "bedrock: " + ce.Error()
		return out
	}
	var api smithy.APIError
	var resp *apiError
	hasResp := errors.As(err, &resp)
	switch {
	case errors.As(err, &api):
		code := api.ErrorCode()
		out.Message = api.ErrorMessage()
		if m, ok := exceptionStatus[code]; ok {
			out.Status, out.Type = m.status, m.typ
		} else if hasResp && resp.status >= 400 {
			out.Status = resp.status
		} else {
			out.Status = http.StatusInternalServerError
		}
		if hasResp && code == "ModelErrorException" && resp.originalStatus >= 400 {
			// The model's own status (a 400 for a request it refused).
			out.Status = resp.originalStatus
		}
		if out.Message == "" {
			out.Message = firstNonEmpty(code, http.StatusText(out.Status))
		}
		out.Body = anthropicErrorIn(out.Message)
	case errors.Is(err, context.DeadlineExceeded):
		out.Status, out.Message = http.StatusGatewayTimeout, "bedrock call timed out"
	default:
		// Transport failures (connection refused or reset, TLS, a broken
		// frame): another deployment may well be reachable. Details stay in
		// Cause, for logs.
		out.Status, out.Type, out.Message = http.StatusBadGateway, llm.ErrAPI, "connection to bedrock failed"
	}
	if out.Type == "" {
		out.Type = llm.TypeForStatus(out.Status)
	}
	out.Retryable = retryable(out.Status)
	if hasResp {
		out.RetryAfter = retryAfter(resp.header)
	}
	return out
}

// retryable: besides the statuses llm.RetryableStatus names, a 404 from
// Bedrock means the model is not enabled in this account or region, which
// another deployment may well serve.
func retryable(status int) bool {
	return status == http.StatusNotFound || llm.RetryableStatus(status)
}

// anthropicErrorIn finds an Anthropic error body inside a Bedrock message
// ("The model returned the following errors: {"type":"error",...}"), so the
// client gets the model's own error unchanged.
func anthropicErrorIn(msg string) []byte {
	i := strings.Index(msg, `{"type":"error"`)
	if i < 0 {
		return nil
	}
	// Parse reads the first JSON value and ignores any text after it.
	raw := gjson.Parse(msg[i:]).Raw
	if !gjson.Valid(raw) || gjson.Get(raw, "error.type").Str == "" {
		return nil
	}
	return []byte(raw)
}

// retryAfter reads a Retry-After header in seconds or HTTP-date form.
func retryAfter(h http.Header) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s > 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
