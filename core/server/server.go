// Package server is the gateway's HTTP face: authentication, the Anthropic
// Messages API (and count_tokens, models, health), error shapes, the SSE
// writer with keep-alive pings, and one log line per request. It knows HTTP
// and the public API shapes, and nothing of any cloud.
package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/openai"
	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/claude-gateway/claude-gateway/core/spend"
)

// DefaultMaxBodyBytes bounds request bodies (Anthropic's own limit is 32 MB).
const DefaultMaxBodyBytes = 32 << 20

// DefaultPingInterval keeps idle streams alive: Claude Code's stall watchdog
// fires at ~20 s and load balancers cut idle connections at 60 s.
const DefaultPingInterval = 10 * time.Second

// Pricer prices a call's usage on a deployment, in USD.
type Pricer interface {
	Cost(d *router.Deployment, u llm.Usage) float64
}

// Options configure a Server.
type Options struct {
	Router *router.Router
	// MasterKey is the key clients must present; empty serves openly.
	MasterKey string
	Logger    *slog.Logger
	// Recorder receives one spend record per call; nil drops them.
	Recorder spend.Recorder
	// Pricer computes cost; nil means cost 0.
	Pricer       Pricer
	MaxBodyBytes int64
	PingInterval time.Duration
	// Debug logs request bodies (never keys).
	Debug bool
	// Extra registers admin routes (spend, key admin): master key only.
	Extra map[string]http.Handler
	// BedrockFrames encodes Bedrock's event-stream answers on the /bedrock
	// routes (core/providers/bedrock.Frames); nil refuses Bedrock streams.
	BedrockFrames BedrockFramer
	// Admit admits virtual keys on model routes; nil: the master key only.
	Admit AdmitFunc
	// HealthExtra adds fields to GET /health (state store, spend recorder).
	HealthExtra func(ctx context.Context) map[string]any
	// Observer sees every API request (nil: nothing does).
	Observer Observer
	// Metrics serves GET /metrics (nil: no such route), behind the master
	// key unless MetricsPublic.
	Metrics       http.Handler
	MetricsPublic bool
}

// Server is the gateway's http.Handler.
type Server struct {
	opts   Options
	router *router.Router
	keySum [32]byte
	// keyHex is the master key's spend-record hash (keyHash of it), made once.
	keyHex  string
	hasKey  bool
	log     *slog.Logger
	mux     *http.ServeMux
	obs     Observer
	started time.Time
	// thinkingForms: per model group, how reasoning_effort is expressed (chat.go).
	thinkingForms map[string]openai.ThinkingForm
}

// New builds the handler.
func New(opts Options) *Server {
	s := &Server{opts: opts, router: opts.Router, log: opts.Logger, started: time.Now(), thinkingForms: thinkingForms(opts.Router)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.obs = opts.Observer; s.obs == nil {
		s.obs = nopObserver{}
	}
	if s.opts.MaxBodyBytes <= 0 {
		s.opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if s.opts.PingInterval <= 0 {
		s.opts.PingInterval = DefaultPingInterval
	}
	if opts.MasterKey != "" {
		s.keySum, s.hasKey = sha256.Sum256([]byte(opts.MasterKey)), true
		s.keyHex = hex.EncodeToString(s.keySum[:])
	}
	m := http.NewServeMux()
	m.HandleFunc("POST /v1/messages", s.authedCall(s.handleMessages))
	m.HandleFunc("POST /v1/messages/count_tokens", s.authedCall(s.handleCountTokens))
	m.HandleFunc("POST /v1/chat/completions", s.authedCall(s.handleChat))
	m.HandleFunc("POST /chat/completions", s.authedCall(s.handleChat))
	m.HandleFunc("GET /v1/models", s.authed(s.handleModels))
	m.HandleFunc("GET /v1/models/{id...}", s.authed(s.handleModel))
	m.HandleFunc("GET /health", s.authed(s.handleHealth))
	m.HandleFunc("GET /health/liveliness", handleAlive)
	m.HandleFunc("GET /health/liveness", handleAlive)
	m.HandleFunc("GET /health/readiness", s.handleReady)
	s.nativeRoutes(m)
	m.HandleFunc("/api/hello", handleHello)
	m.HandleFunc("GET /{$}", handleHello)
	if opts.Metrics != nil {
		if opts.MetricsPublic {
			m.Handle("GET /metrics", opts.Metrics)
		} else {
			m.HandleFunc("GET /metrics", s.authed(opts.Metrics.ServeHTTP))
		}
	}
	for pattern, h := range opts.Extra {
		m.Handle(pattern, s.adminOnly(h.ServeHTTP))
	}
	m.HandleFunc("/", s.handleNotFound)
	s.mux = m
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// Handle registers an extra admin route (master key only; pattern as for http.ServeMux).
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, s.adminOnly(h.ServeHTTP))
}

// clientKey returns the key the client presented: Authorization: Bearer, else x-api-key.
func clientKey(r *http.Request) string {
	if a := r.Header.Get("Authorization"); a != "" {
		if k, ok := strings.CutPrefix(a, "Bearer "); ok {
			return strings.TrimSpace(k)
		}
		if k, ok := strings.CutPrefix(a, "bearer "); ok {
			return strings.TrimSpace(k)
		}
	}
	return r.Header.Get("X-Api-Key") // canonical: Get makes no canonical copy per request
}

// keyHash identifies the client's key in spend records without revealing it.
func keyHash(r *http.Request) string {
	k := clientKey(r)
	if k == "" {
		return ""
	}
	sum := sumKey(k)
	return hex.EncodeToString(sum[:])
}

// sumKey is SHA-256 of a presented key, hashed from a stack buffer: a
// []byte conversion of a key longer than 32 bytes would allocate per request.
func sumKey(k string) [32]byte {
	var buf [128]byte
	if len(k) > len(buf) {
		return sha256.Sum256([]byte(k))
	}
	return sha256.Sum256(append(buf[:0], k...))
}

// newCallID returns a UUIDv7: time-ordered, so spend stores that key
// records by call id append instead of inserting at random places (a B-tree
// then dirties one page per batch, not one per record).
func newCallID() string {
	var b [16]byte
	_, _ = rand.Read(b[6:])
	ms := uint64(time.Now().UnixMilli())
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

func handleAlive(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`"I'm alive!"`))
}

func handleHello(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(200)
	if r.Method != http.MethodHead {
		w.Write([]byte(`{"status":"ok"}`))
	}
}

func (s *Server) handleReady(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"status":"healthy","db":"n/a","cache":null}`))
}

func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, &llm.Error{Status: 404, Type: llm.ErrNotFound, Message: "no route for " + r.Method + " " + r.URL.Path})
}
