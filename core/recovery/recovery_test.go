package recovery

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

func TestHandler(t *testing.T) {
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		wantStatus int
		wantBody   func(t *testing.T, body string)
		wantLog    bool
	}{
		{
			name:       "no panic passes through",
			handler:    func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(201); w.Write([]byte("ok")) },
			wantStatus: 201,
			wantBody:   func(t *testing.T, b string) { equal(t, b, "ok") },
		},
		{
			name: "panic before any write answers 500 in Anthropic shape",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("x-litellm-model-id", "half-set")
				panic("boom")
			},
			wantStatus: 500,
			wantBody: func(t *testing.T, b string) {
				equal(t, gjson.Get(b, "type").String(), "error")
				equal(t, gjson.Get(b, "error.type").String(), "api_error")
			},
			wantLog: true,
		},
		{
			name: "panic mid-stream ends the stream with an error event",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
				w.WriteHeader(200)
				w.Write([]byte("event: message_start\ndata: {}\n\n"))
				panic("boom")
			},
			wantStatus: 200,
			wantBody: func(t *testing.T, b string) {
				if !strings.HasPrefix(b, "event: message_start\n") {
					t.Fatalf("stream start lost: %q", b)
				}
				if !strings.HasSuffix(b, "\n\n") || !strings.Contains(b, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\"") {
					t.Fatalf("no final error event: %q", b)
				}
			},
			wantLog: true,
		},
		{
			name: "panic after a JSON body started adds nothing",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"partial":`))
				panic("boom")
			},
			wantStatus: 200,
			wantBody:   func(t *testing.T, b string) { equal(t, b, `{"partial":`) },
			wantLog:    true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			h := Handler(tc.handler, slog.New(slog.NewJSONHandler(&logs, nil)))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/messages", nil))
			equal(t, rec.Code, tc.wantStatus)
			tc.wantBody(t, rec.Body.String())
			if got := strings.Contains(logs.String(), "handler panicked"); got != tc.wantLog {
				t.Fatalf("panic logged = %v, want %v: %s", got, tc.wantLog, logs.String())
			}
		})
	}
}

func TestHandlerPassesAbortOn(t *testing.T) {
	h := Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }), nil)
	defer func() {
		if p := recover(); p != http.ErrAbortHandler {
			t.Fatalf("recovered %v, want http.ErrAbortHandler passed on", p)
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
}

func TestHandlerKeepsFlush(t *testing.T) {
	h := Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("x"))
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("Flush through the wrapper: %v", err)
		}
	}), nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if !rec.Flushed {
		t.Fatal("the underlying writer was not flushed")
	}
}

func equal[T comparable](t *testing.T, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("got %v, want %v", got, want)
	}
}
