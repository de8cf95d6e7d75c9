package openai

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/tidwall/gjson"
)

// OpenAI error types (the "error.type" field). OpenAI's SDKs choose their
// exception class by HTTP status, so the status matters most; the type and
// code follow OpenAI's conventions so that clients which inspect them (for
// example LangChain looking for "context_length_exceeded") behave as they
// would against OpenAI.
const (
	TypeInvalidRequest = "invalid_request_error"
	TypeAuthentication = "authentication_error"
	TypePermission     = "permission_error"
	TypeNotFound       = "not_found_error"
	TypeRateLimit      = "rate_limit_error"
	TypeServer         = "server_error"
)

// Error codes used by this package (the "error.code" field).
const (
	CodeUnsupportedParameter = "unsupported_parameter"
	CodeUnsupportedValue     = "unsupported_value"
	CodeInvalidValue         = "invalid_value"
	CodeInvalidType          = "invalid_type"
	CodeMissingRequired      = "missing_required_parameter"
	CodeInvalidJSON          = "invalid_json"
	CodeContextLength        = "context_length_exceeded"
	CodeInvalidAPIKey        = "invalid_api_key"
	CodePermissionDenied     = "permission_denied"
	CodeNotFound             = "not_found"
	CodeRequestTooLarge      = "request_too_large"
	CodeRateLimitExceeded    = "rate_limit_exceeded"
	CodeOverloaded           = "overloaded"
	CodeTimeout              = "timeout"
	CodeInsufficientQuota    = "insufficient_quota"
)

// Error is a failure in OpenAI's shape:
//
//	{"error":{"message":"...","type":"...","param":"..."|null,"code":"..."|null}}
//
// Status is the HTTP status to answer with. Every error on the Chat
// Completions endpoint, whether found while translating the request or
// returned by an upstream, is answered with one of these.
type Error struct {
	Status  int
	Message string
	Type    string
	// Param names the offending request field ("messages[2].content[0].image_url.url"); may be empty.
	Param string
	// Code is a machine-readable reason ("unsupported_parameter"); may be empty.
	Code string
}

func (e *Error) Error() string {
	if e.Param != "" {
		return fmt.Sprintf("%d %s (%s): %s", e.Status, e.Type, e.Param, e.Message)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Type, e.Message)
}

// JSON is the error as an OpenAI error body. Empty Param and Code are null.
func (e *Error) JSON() []byte {
	return e.appendObject(make([]byte, 0, len(e.Message)+96))
}

// appendObject appends {"error":{...}}.
func (e *Error) appendObject(dst []byte) []byte {
	dst = append(dst, `{"error":{"message":`...)
	dst = appendString(dst, e.Message)
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, e.Type)
	dst = append(dst, `,"param":`...)
	dst = appendNullableString(dst, e.Param)
	dst = append(dst, `,"code":`...)
	dst = appendNullableString(dst, e.Code)
	return append(dst, "}}"...)
}

// AppendSSE appends the error as one server-sent event data line, the way
// OpenAI reports a failure in the middle of a stream (the SDKs stop with an
// error when a data line carries an "error" key).
func (e *Error) AppendSSE(dst []byte) []byte {
	dst = append(dst, "data: "...)
	dst = e.appendObject(dst)
	return append(dst, '\n', '\n')
}

// badRequest is a 400 invalid_request_error.
func badRequest(param, code, format string, args ...any) *Error {
	return &Error{
		Status:  http.StatusBadRequest,
		Type:    TypeInvalidRequest,
		Message: fmt.Sprintf(format, args...),
		Param:   param,
		Code:    code,
	}
}

// unsupported is the 400 for a field the gateway cannot honour on Claude.
func unsupported(param, why string) *Error {
	return badRequest(param, CodeUnsupportedParameter, "Unsupported parameter: '%s' %s", param, why)
}

// FromLLM converts a gateway or upstream failure (Anthropic type and
// status) into OpenAI's shape with the same HTTP status. When the upstream
// sent an Anthropic error body, its message and type are used.
func FromLLM(e *llm.Error) *Error {
	if e == nil {
		return nil
	}
	msg, typ := e.Message, e.Type
	if len(e.Body) > 0 {
		if m := gjson.GetBytes(e.Body, "error.message"); m.Type == gjson.String && m.Str != "" {
			msg = m.Str
		}
		if t := gjson.GetBytes(e.Body, "error.type"); t.Type == gjson.String && t.Str != "" {
			typ = t.Str
		}
	}
	status := e.Status
	if status == 0 {
		status = llm.StatusForType(typ)
	}
	if typ == "" {
		typ = llm.TypeForStatus(status)
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return fromAnthropic(status, typ, msg)
}

// FromError converts any error into OpenAI's shape: an *Error is returned
// as is, an *llm.Error is converted with FromLLM, anything else is a 500.
func FromError(err error) *Error {
	var oe *Error
	if errors.As(err, &oe) {
		return oe
	}
	var le *llm.Error
	if errors.As(err, &le) {
		return FromLLM(le)
	}
	return &Error{Status: http.StatusInternalServerError, Type: TypeServer, Message: "internal error"}
}

// fromAnthropic maps an Anthropic error type (with its status) to OpenAI's
// type and code.
func fromAnthropic(status int, typ, msg string) *Error {
	e := &Error{Status: status, Message: msg}
	switch typ {
	case llm.ErrInvalidRequest:
		e.Type = TypeInvalidRequest
		if contextLengthMessage(msg) {
			e.Code = CodeContextLength
		}
	case llm.ErrAuthentication:
		e.Type, e.Code = TypeAuthentication, CodeInvalidAPIKey
	case llm.ErrPermission:
		e.Type, e.Code = TypePermission, CodePermissionDenied
	case llm.ErrBilling:
		e.Type, e.Code = TypeInvalidRequest, CodeInsufficientQuota
	case llm.ErrNotFound:
		e.Type, e.Code = TypeNotFound, CodeNotFound
	case llm.ErrTooLarge:
		e.Type, e.Code = TypeInvalidRequest, CodeRequestTooLarge
	case llm.ErrRateLimit:
		e.Type, e.Code = TypeRateLimit, CodeRateLimitExceeded
	case llm.ErrOverloaded:
		e.Type, e.Code = TypeServer, CodeOverloaded
	case llm.ErrTimeout:
		e.Type, e.Code = TypeServer, CodeTimeout
	default:
		e.Type = TypeServer
		if status >= 400 && status < 500 {
			e.Type = TypeInvalidRequest
		}
	}
	return e
}

// contextLengthMessage recognises Anthropic's "prompt too long" 400s, which
// OpenAI reports with code context_length_exceeded.
func contextLengthMessage(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "prompt is too long") ||
		strings.Contains(m, "exceed context limit") ||
		strings.Contains(m, "context window") ||
		strings.Contains(m, "too many total text bytes")
}
