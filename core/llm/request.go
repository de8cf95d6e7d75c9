package llm

import (
	"net/http"
	"strings"
)

// Kind says which upstream operation a request is for.
type Kind int

const (
	// KindMessages is POST /v1/messages.
	KindMessages Kind = iota
	// KindCountTokens is POST /v1/messages/count_tokens.
	KindCountTokens
)

// Request is one Anthropic Messages API call as the gateway forwards it.
//
// Body is the client's JSON body, byte for byte. A provider copies it before
// editing (the router may send the same Request to several deployments).
type Request struct {
	Kind Kind
	// Body is the raw Anthropic Messages request body.
	Body []byte
	// Model is the model name the client asked for (echoed back in responses).
	Model string
	// Stream is the body's "stream" field.
	Stream bool
	// Betas are the anthropic-beta header values, split and trimmed.
	Betas []string
	// Version is the client's anthropic-version header ("" if absent).
	Version string
	// SessionID identifies the conversation for session affinity
	// (x-claude-code-session-id, else metadata.user_id); may be empty.
	SessionID string
	// EstimatedInputTokens is a cheap estimate of the prompt size, used for
	// context-window checks and tpm pre-checks.
	EstimatedInputTokens int64
	// CallID is the gateway's id for this call (x-litellm-call-id).
	CallID string
}

// ParseBetas splits anthropic-beta header values ("a,b" or repeated headers).
func ParseBetas(h http.Header) []string {
	var out []string
	for _, v := range h.Values("anthropic-beta") {
		for _, b := range strings.Split(v, ",") {
			if b = strings.TrimSpace(b); b != "" {
				out = append(out, b)
			}
		}
	}
	return out
}
