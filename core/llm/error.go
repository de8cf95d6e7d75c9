package llm

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/tidwall/gjson"
)

// Anthropic error types (the "error.type" field).
const (
	ErrInvalidRequest = "invalid_request_error"
	ErrAuthentication = "authentication_error"
	ErrPermission     = "permission_error"
	ErrNotFound       = "not_found_error"
	ErrTooLarge       = "request_too_large"
	ErrRateLimit      = "rate_limit_error"
	ErrAPI            = "api_error"
	ErrOverloaded     = "overloaded_error"
	ErrTimeout        = "timeout_error"
	// ErrBilling (402) is a spent budget: clients show it and do not retry.
	ErrBilling = "billing_error"
)

// Error is a typed upstream (or gateway) failure. Providers return it so the
// router can decide to retry, cool down or give up, and the server can answer
// with the right status and body.
type Error struct {
	// Status is the HTTP status to answer with.
	Status int
	// Type is the Anthropic error type.
	Type string
	// Message is human readable; never contains secrets.
	Message string
	// Body, when set, is an upstream body already in Anthropic's error shape;
	// it is returned to the client unchanged.
	Body []byte
	// RetryAfter is the upstream's retry-after, if any.
	RetryAfter time.Duration
	// ShouldRetry mirrors an upstream x-should-retry header ("" if absent).
	ShouldRetry string
	// Retryable says whether another attempt (elsewhere) may succeed.
	Retryable bool
	// Cause is the underlying error, for logs.
	Cause error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%d %s: %s: %v", e.Status, e.Type, e.Message, e.Cause)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Type, e.Message)
}

func (e *Error) Unwrap() error { return e.Cause }

// JSON is the error as an Anthropic error body: the upstream's own body when
// it had one, else built from Type and Message.
func (e *Error) JSON() []byte {
	if len(e.Body) > 0 {
		return e.Body
	}
	return ErrorBody(e.Type, e.Message)
}

// ErrorBody builds {"type":"error","error":{"type":t,"message":msg}}.
func ErrorBody(t, msg string) []byte {
	b, _ := json.Marshal(struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}{Type: "error", Error: struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	}{t, msg}})
	return b
}

// TypeForStatus is the Anthropic error type conventionally paired with an HTTP status.
func TypeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return ErrInvalidRequest
	case http.StatusUnauthorized:
		return ErrAuthentication
	case http.StatusPaymentRequired:
		return ErrBilling
	case http.StatusForbidden:
		return ErrPermission
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusRequestEntityTooLarge:
		return ErrTooLarge
	case http.StatusTooManyRequests:
		return ErrRateLimit
	case 529, http.StatusServiceUnavailable:
		return ErrOverloaded
	case http.StatusGatewayTimeout, http.StatusRequestTimeout:
		return ErrTimeout
	default:
		return ErrAPI
	}
}

// StatusForType is the HTTP status the Anthropic API answers with for an
// error type (the inverse of TypeForStatus); unknown types are 500.
func StatusForType(t string) int {
	switch t {
	case ErrInvalidRequest:
		return http.StatusBadRequest
	case ErrAuthentication:
		return http.StatusUnauthorized
	case ErrBilling:
		return http.StatusPaymentRequired
	case ErrPermission:
		return http.StatusForbidden
	case ErrNotFound:
		return http.StatusNotFound
	case ErrTooLarge:
		return http.StatusRequestEntityTooLarge
	case ErrRateLimit:
		return http.StatusTooManyRequests
	case ErrOverloaded:
		return 529
	case ErrTimeout:
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// ErrorFromEvent types the data of an Anthropic "error" stream event: its
// type gives the status, and the event itself is kept as the client's body.
func ErrorFromEvent(data []byte) *Error {
	t := gjson.GetBytes(data, "error.type").String()
	if t == "" {
		t = ErrAPI
	}
	status := StatusForType(t)
	return &Error{Status: status, Type: t, Message: gjson.GetBytes(data, "error.message").String(),
		Body: data, Retryable: RetryableStatus(status)}
}

// RetryableStatus reports whether a failure with this status may succeed on
// another attempt: rate limits, overload, timeouts, server errors, and auth
// failures (one deployment's credentials may be bad while another's work).
func RetryableStatus(status int) bool {
	switch {
	case status == http.StatusTooManyRequests, status == http.StatusRequestTimeout:
		return true
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return true
	case status >= 500:
		return true
	}
	return false
}

// NewError builds an Error with the conventional type and retryability for status.
func NewError(status int, msg string) *Error {
	return &Error{Status: status, Type: TypeForStatus(status), Message: msg, Retryable: RetryableStatus(status)}
}
