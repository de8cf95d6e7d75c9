package server

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/claude-gateway/claude-gateway/core/jsonstr"
	"github.com/claude-gateway/claude-gateway/core/llm"
)

// nativeErrorWriter returns the error writer of a cloud-shaped route, or nil
// for the gateway's own routes.
func nativeErrorWriter(path string) func(http.ResponseWriter, *llm.Error) {
	switch {
	case strings.HasPrefix(path, "/bedrock/"):
		return writeBedrockError
	case strings.HasPrefix(path, "/vertex_ai/"), strings.HasPrefix(path, "/vertex/"), strings.HasPrefix(path, "/v1/projects/"):
		return writeGoogleError
	}
	return nil
}

// bedrockException names the Bedrock exception for a status, as Bedrock
// answers it: the AWS SDKs (and Claude Code's Bedrock client) retry
// throttling, 5xx and timeouts, and fail fast on validation and access.
func bedrockException(status int) (string, int) {
	switch {
	case status == 401 || status == 403:
		return "AccessDeniedException", 403
	case status == 404:
		return "ResourceNotFoundException", 404
	case status == 408 || status == 504:
		return "ModelTimeoutException", 408
	case status == 429:
		return "ThrottlingException", 429
	case status == 529 || status == 503:
		return "ServiceUnavailableException", 503
	case status >= 500:
		return "InternalServerException", 500
	}
	return "ValidationException", 400
}

// writeBedrockError answers {"message":...} with x-amzn-errortype, Bedrock's
// REST-JSON error shape.
func writeBedrockError(w http.ResponseWriter, e *llm.Error) {
	name, status := bedrockException(clientStatus(e.Status))
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("x-amzn-errortype", name+":http://internal.amazon.com/coral/com.amazon.bedrock/")
	w.WriteHeader(status)
	w.Write(append(jsonstr.Append([]byte(`{"message":`), e.Message), '}'))
}

// googleStatus is the google.rpc.Code name Vertex AI gives a status.
func googleStatus(status int) string {
	switch status {
	case 400, 413:
		return "INVALID_ARGUMENT"
	case 401:
		return "UNAUTHENTICATED"
	case 403:
		return "PERMISSION_DENIED"
	case 404:
		return "NOT_FOUND"
	case 408, 504:
		return "DEADLINE_EXCEEDED"
	case 409:
		return "ABORTED"
	case 429:
		return "RESOURCE_EXHAUSTED"
	case 501:
		return "UNIMPLEMENTED"
	case 503, 529:
		return "UNAVAILABLE"
	}
	if status >= 500 {
		return "INTERNAL"
	}
	return "FAILED_PRECONDITION"
}

// writeGoogleError answers Google's error JSON {"error":{"code","message","status"}}.
func writeGoogleError(w http.ResponseWriter, e *llm.Error) {
	status := clientStatus(e.Status)
	b := append([]byte(`{"error":{"code":`), strconv.Itoa(status)...)
	b = jsonstr.Append(append(b, `,"message":`...), e.Message)
	b = jsonstr.Append(append(b, `,"status":`...), googleStatus(status))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, "}}"...))
}

// bedrockStream writes events as InvokeModelWithResponseStream does: each
// Anthropic event in a chunk frame, a failure as an exception frame, and
// pings as ping events (the Anthropic SDKs skip them; event-stream itself
// has no keep-alive).
type bedrockStream struct{ f BedrockFramer }

var pingEventJSON = []byte(`{"type":"ping"}`)

func (b bedrockStream) event(dst []byte, ev llm.Event) []byte { return b.f.AppendChunk(dst, ev.Data) }
func (b bedrockStream) end(dst []byte) []byte                 { return dst }
func (b bedrockStream) ping() []byte                          { return b.f.AppendChunk(nil, pingEventJSON) }
func (b bedrockStream) contentType() string                   { return "application/vnd.amazon.eventstream" }
func (b bedrockStream) fail(dst []byte, e *llm.Error) []byte {
	name, _ := bedrockException(clientStatus(e.Status))
	if name == "InternalServerException" {
		name = "ModelStreamErrorException" // what Bedrock sends when a model fails mid-stream
	}
	return b.f.AppendException(dst, name, e.Message)
}
