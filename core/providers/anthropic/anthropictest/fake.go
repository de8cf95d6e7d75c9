// Package anthropictest is a fake Anthropic API for tests. It checks what the
// real API checks (x-api-key, anthropic-version, a JSON body with model,
// max_tokens and messages) and answers in the real wire format (JSON, or SSE
// with one flush per event). Tests can gate each streamed event to prove the
// gateway relays events as they arrive.
package anthropictest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Request is what the fake received.
type Request struct {
	Path   string
	Header http.Header
	Body   []byte
}

// Server is a running fake.
type Server struct {
	*httptest.Server
	APIKey string

	mu       sync.Mutex
	requests []Request

	// Respond, when set, replaces the default answer after the checks passed.
	Respond func(w http.ResponseWriter, r *http.Request, body []byte)
	// Gate, when set, is received from before each streamed event after the first.
	Gate chan struct{}
	// Sent receives the index of each streamed event right after it is flushed.
	Sent chan int
	// EventDelay is slept between streamed events.
	EventDelay time.Duration
}

// New starts a fake that accepts apiKey.
func New(t testing.TB, apiKey string) *Server {
	s := &Server{APIKey: apiKey}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Requests returns what the fake has received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func writeErr(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"type":"error","error":{"type":%q,"message":%q},"request_id":"req_fake"}`, typ, msg)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.requests = append(s.requests, Request{Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	s.mu.Unlock()
	if r.Method != http.MethodPost || (r.URL.Path != "/v1/messages" && r.URL.Path != "/v1/messages/count_tokens") {
		writeErr(w, 404, "not_found_error", "Not found")
		return
	}
	if r.Header.Get("x-api-key") != s.APIKey {
		writeErr(w, 401, "authentication_error", "invalid x-api-key")
		return
	}
	if v := r.Header.Get("anthropic-version"); v == "" || v < "2023-01-01" {
		writeErr(w, 400, "invalid_request_error", "anthropic-version: header is required")
		return
	}
	var req map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil {
		writeErr(w, 400, "invalid_request_error", "invalid JSON body")
		return
	}
	for _, f := range []string{"model", "messages"} {
		if _, ok := req[f]; !ok {
			writeErr(w, 400, "invalid_request_error", f+": Field required")
			return
		}
	}
	if r.URL.Path == "/v1/messages/count_tokens" {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"input_tokens":%d}`, len(body)/4)
		return
	}
	if _, ok := req["max_tokens"]; !ok {
		writeErr(w, 400, "invalid_request_error", "max_tokens: Field required")
		return
	}
	if s.Respond != nil {
		s.Respond(w, r, body)
		return
	}
	var model string
	_ = json.Unmarshal(req["model"], &model)
	if string(req["stream"]) == "true" {
		s.stream(w, model, DefaultEvents(model))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("request-id", "req_fake")
	fmt.Fprintf(w, `{"id":"msg_fake","type":"message","role":"assistant","model":%q,"content":[{"type":"text","text":"Hello there"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":3,"output_tokens":5}}`, model)
}

// Event is one SSE event to send.
type Event struct{ Name, Data string }

// DefaultEvents is a short realistic stream.
func DefaultEvents(model string) []Event {
	return []Event{
		{"message_start", fmt.Sprintf(`{"type":"message_start","message":{"id":"msg_fake","type":"message","role":"assistant","model":%q,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":3,"output_tokens":1}}}`, model)},
		{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`},
		{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}`},
		{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" there"}}`},
		{"content_block_stop", `{"type":"content_block_stop","index":0}`},
		{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":5}}`},
		{"message_stop", `{"type":"message_stop"}`},
	}
}

// Stream writes events as SSE, honouring Gate, Sent and EventDelay.
func (s *Server) Stream(w http.ResponseWriter, events []Event) { s.stream(w, "", events) }

func (s *Server) stream(w http.ResponseWriter, _ string, events []Event) {
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(200)
	f := w.(http.Flusher)
	f.Flush()
	for i, ev := range events {
		if i > 0 {
			if s.Gate != nil {
				<-s.Gate
			}
			if s.EventDelay > 0 {
				time.Sleep(s.EventDelay)
			}
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Name, strings.TrimSpace(ev.Data)); err != nil {
			return
		}
		f.Flush()
		if s.Sent != nil {
			s.Sent <- i
		}
	}
}
