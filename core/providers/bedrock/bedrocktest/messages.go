package bedrocktest

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// Operations of the Messages API endpoints, as Call.Op reports them.
const (
	OpMessages       = "messages"
	OpMessagesStream = "messages-stream"
)

// MessagesPath is the Anthropic Messages API path on bedrock-runtime and
// bedrock-mantle.
const MessagesPath = "/anthropic/v1/messages"

// serveMessages answers POST /anthropic/v1/messages as Bedrock does:
// bedrock-mantle style when the anthropic-version header is sent (a Bedrock
// API key as x-api-key or Bearer, or SigV4 for service bedrock-mantle; no
// anthropic_version in the body; betas in the anthropic-beta header), else
// bedrock-runtime style (SigV4 for service bedrock or a Bearer API key;
// anthropic_version bedrock-2023-05-31 and anthropic_beta in the body). The
// body is the Messages API's with the model id in it; it is checked like an
// InvokeModel body, and the answer is Anthropic JSON or SSE.
func (s *Server) serveMessages(w http.ResponseWriter, r *http.Request, body []byte, call *Call, reject func(*Exception)) {
	mantle := r.Header.Get("anthropic-version") != ""
	service := map[bool]string{true: "bedrock-mantle", false: "bedrock"}[mantle]
	if key := r.Header.Get("x-api-key"); key != "" && mantle {
		call.Bearer = true
		if s.opts.APIKey == "" || subtle.ConstantTimeCompare([]byte(key), []byte(s.opts.APIKey)) != 1 {
			reject(&Exception{Type: "UnrecognizedClientException", Message: "The API key included in the request is invalid.", Status: http.StatusForbidden})
			return
		}
	} else if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		if e := s.authenticate(r, body, call); e != nil {
			reject(e)
			return
		}
	} else if e := s.verifySigV4(r, body, service, call); e != nil {
		reject(e)
		return
	}
	model := gjson.GetBytes(body, "model")
	if model.Type != gjson.String || model.Str == "" {
		reject(&Exception{Type: "ValidationException", Message: "model: Field required"})
		return
	}
	call.ModelID = model.Str
	stream := gjson.GetBytes(body, "stream").Bool()
	call.Op = map[bool]string{true: OpMessagesStream, false: OpMessages}[stream]
	// Checked as the InvokeModel body it amounts to.
	inner, _ := sjson.DeleteBytes(body, "model")
	inner, _ = sjson.DeleteBytes(inner, "stream")
	if mantle {
		if v := r.Header.Get("anthropic-version"); v != "2023-06-01" {
			reject(&Exception{Type: "ValidationException", Message: "anthropic-version: invalid value " + v})
			return
		}
		if gjson.GetBytes(inner, "anthropic_version").Exists() || gjson.GetBytes(inner, "anthropic_beta").Exists() {
			reject(&Exception{Type: "ValidationException", Message: "anthropic_version: Extra inputs are not permitted"})
			return
		}
		inner, _ = sjson.SetBytes(inner, "anthropic_version", AnthropicVersion)
		if b := r.Header.Get("anthropic-beta"); b != "" {
			inner, _ = sjson.SetBytes(inner, "anthropic_beta", strings.Split(b, ","))
		}
	}
	call.Body = body
	if msg := s.validate(inner); msg != "" {
		reject(&Exception{Type: "ValidationException", Message: msg})
		return
	}
	reply := Reply{}
	if s.opts.Reply != nil {
		reply = s.opts.Reply(call)
	}
	if reply.Error != nil {
		reject(reply.Error)
		return
	}
	s.record(*call)
	if !stream {
		s.writeMessage(w, call, reply)
		return
	}
	s.writeSSE(w, call, reply)
}

// writeSSE streams the reply's events as server-sent events, one flush each.
func (s *Server) writeSSE(w http.ResponseWriter, call *Call, r Reply) {
	r.defaults(call)
	evs := r.Events
	if evs == nil {
		evs = DefaultEvents(call.ModelID, r)
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("X-Amzn-Requestid", newID())
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	for i, ev := range evs {
		if r.StreamException != nil && i == r.ExceptionAfter {
			fmt.Fprintf(w, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":%q}}\n\n", r.StreamException.Message)
			rc.Flush()
			return
		}
		if r.BeforeEvent != nil {
			r.BeforeEvent(i)
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", gjson.Get(ev, "type").Str, ev); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
	}
}
