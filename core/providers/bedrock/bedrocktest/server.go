// Package bedrocktest is an in-process fake of the Amazon Bedrock runtime for
// tests: it checks what the real service checks (the SigV4 signature, by
// re-signing the request as AWS does, or a Bedrock API key; the body's
// anthropic_version, fields, roles and beta flags) and answers in the real
// wire formats (AWS JSON errors, event-stream frames with chunk and
// exception messages and invocation metrics).
//
// It also fakes the credential services a deployment may use: STS
// AssumeRole / AssumeRoleWithWebIdentity and the Lambda/ECS container
// credentials endpoint.
package bedrocktest

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// Credentials are AWS credentials the fake accepts.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
}

// Options configure a fake Bedrock runtime. The zero value is a working
// us-east-1 endpoint with fresh random credentials.
type Options struct {
	// Region is the region signatures must be scoped to (default us-east-1).
	Region string
	// Credentials are accepted for SigV4 (default: random, see Server.Credentials).
	Credentials Credentials
	// APIKey, if set, is a Bedrock API key accepted as "Authorization: Bearer".
	APIKey string
	// TLS serves HTTPS (needed for Bearer auth, which the SDK sends only over
	// HTTPS); use Server.Client as the provider's HTTP client.
	TLS bool
	// AcceptedBetas are the anthropic_beta flags accepted (default DefaultAcceptedBetas).
	AcceptedBetas []string
	// Reply decides each accepted call's answer (default: a short text reply).
	Reply func(*Call) Reply
	// ChunkDelay is slept between streamed events.
	ChunkDelay time.Duration
	// CountTokensUnsupported makes CountTokens fail as for a model without it.
	CountTokensUnsupported bool
	// RefusedFields are top-level fields this model's schema lacks (an older
	// Claude without output_config, say): refused with the InvokeModel schema
	// validator's "extraneous key [x] is not permitted".
	RefusedFields []string
}

// DefaultAcceptedBetas are the anthropic_beta values Bedrock accepts for
// Claude. Sources: AWS Bedrock user guide, "Anthropic Claude Messages API"
// request parameters (anthropic_beta), and the flags LiteLLM's Bedrock table
// verified since; anything else is a 400 "invalid beta flag".
var DefaultAcceptedBetas = []string{
	"computer-use-2024-10-22",
	"computer-use-2025-01-24",
	"computer-use-2025-11-24",
	"token-efficient-tools-2025-02-19",
	"interleaved-thinking-2025-05-14",
	"output-128k-2025-02-19",
	"dev-full-thinking-2025-05-14",
	"context-1m-2025-08-07",
	"context-management-2025-06-27",
	"effort-2025-11-24",
	"tool-search-tool-2025-10-19",
	"tool-examples-2025-10-29",
	"compact-2026-01-12",
	"fine-grained-tool-streaming-2025-05-14",
	"mid-conversation-tool-changes-2026-07-01",
	"mid-conversation-output-config-2026-07-01",
	"thinking-binding-controls-2026-08-01",
	"thinking-display-updates-2026-08-18",
	"dangerous-tool-use-2026-09-03",
}

// Operations, as the last path segment names them.
const (
	OpInvoke       = "invoke"
	OpInvokeStream = "invoke-with-response-stream"
	OpCountTokens  = "count-tokens"
)

// Call is one request the fake received.
type Call struct {
	Op string
	// ModelID is the path's model id, unescaped.
	ModelID string
	// Body is the InvokeModel body (for CountTokens, the one inside the envelope).
	Body []byte
	// Header is the request's header.
	Header http.Header
	// Bearer says the call used an API key rather than SigV4.
	Bearer bool
	// AccessKeyID signed the call (SigV4 only).
	AccessKeyID string
	// Rejected is the error the fake answered with ("" when accepted).
	Rejected string
}

// Reply is the fake's answer to an accepted call.
type Reply struct {
	// Error answers before any body: an HTTP error in AWS's JSON error shape.
	Error *Exception
	// Events replaces the default streamed events (each one Anthropic event
	// JSON). The last one gets the invocation metrics appended.
	Events []string
	// Message replaces the default non-streaming body.
	Message string
	// Text is the default reply's text.
	Text string
	// StreamException is sent as an exception frame after ExceptionAfter events.
	StreamException *Exception
	ExceptionAfter  int
	// BeforeEvent, if set, runs before event i is written (and may block).
	BeforeEvent func(i int)
	// Usage of the default reply and of the invocation metrics.
	InputTokens, OutputTokens, CacheReadTokens, CacheWriteTokens int
}

// Exception is an AWS error: Type is its code ("ThrottlingException").
type Exception struct {
	Type    string
	Message string
	// Status is the HTTP status when answered before the body (default by Type).
	Status int
	// RetryAfter, if set, is sent as a Retry-After header.
	RetryAfter string
}

// Server is a running fake Bedrock runtime.
type Server struct {
	// URL is the endpoint (for api_base / aws_bedrock_runtime_endpoint).
	URL string
	// Region is the region signatures must be scoped to.
	Region string

	opts    Options
	srv     *httptest.Server
	betas   map[string]bool
	primary Credentials

	mu    sync.Mutex
	creds map[string]Credentials
	calls []Call

	requests, accepted, rejected atomic.Int64
}

// NewServer starts a fake; it is closed when the test ends.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.Credentials.AccessKeyID == "" {
		opts.Credentials = RandomCredentials(false)
	}
	if opts.AcceptedBetas == nil {
		opts.AcceptedBetas = DefaultAcceptedBetas
	}
	s := &Server{
		Region:  opts.Region,
		opts:    opts,
		betas:   map[string]bool{},
		primary: opts.Credentials,
		creds:   map[string]Credentials{opts.Credentials.AccessKeyID: opts.Credentials},
	}
	for _, b := range opts.AcceptedBetas {
		s.betas[b] = true
	}
	if opts.TLS {
		s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	} else {
		s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	}
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// Credentials are the primary credentials the fake accepts.
func (s *Server) Credentials() Credentials { return s.primary }

// Params are the litellm_params that point a bedrock/ deployment at this
// fake with its primary credentials (values as they go into config.yaml).
func (s *Server) Params() map[string]string {
	p := map[string]string{
		"api_base":              s.URL,
		"aws_region_name":       s.Region,
		"aws_access_key_id":     s.primary.AccessKeyID,
		"aws_secret_access_key": s.primary.SecretAccessKey,
	}
	if s.primary.SessionToken != "" {
		p["aws_session_token"] = s.primary.SessionToken
	}
	return p
}

// AddCredentials accepts more credentials (e.g. ones a fake STS issued).
func (s *Server) AddCredentials(c Credentials) {
	s.mu.Lock()
	s.creds[c.AccessKeyID] = c
	s.mu.Unlock()
}

// Client is an HTTP client that trusts the fake's TLS certificate.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Requests counts every request received; Accepted those that passed
// authentication and validation; Rejected the others.
func (s *Server) Requests() int64 { return s.requests.Load() }
func (s *Server) Accepted() int64 { return s.accepted.Load() }
func (s *Server) Rejected() int64 { return s.rejected.Load() }

// Calls returns a copy of every call received, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// LastCall returns the latest call.
func (s *Server) LastCall() (Call, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.calls) == 0 {
		return Call{}, false
	}
	return s.calls[len(s.calls)-1], true
}

func (s *Server) record(c Call) {
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
	if c.Rejected != "" {
		s.rejected.Add(1)
	} else {
		s.accepted.Add(1)
	}
}

func (s *Server) credentials(id string) (Credentials, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.creds[id]
	return c, ok
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	call := Call{Header: r.Header.Clone()}
	reject := func(e *Exception) {
		call.Rejected = e.Type + ": " + e.Message
		s.record(call)
		writeError(w, e)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		reject(&Exception{Type: "ValidationException", Message: "cannot read body"})
		return
	}
	if r.Method == http.MethodPost && r.URL.Path == MessagesPath {
		s.serveMessages(w, r, body, &call, reject)
		return
	}
	// POST /model/{modelId}/{op}; the model id is one escaped path segment.
	parts := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	if r.Method != http.MethodPost || len(parts) != 3 || parts[0] != "model" {
		reject(&Exception{Type: "UnknownOperationException", Message: "Unknown operation", Status: http.StatusNotFound})
		return
	}
	call.Op = parts[2]
	call.ModelID, _ = url.PathUnescape(parts[1])

	if e := s.authenticate(r, body, &call); e != nil {
		reject(e)
		return
	}
	switch call.Op {
	case OpInvoke, OpInvokeStream:
		call.Body = body
	case OpCountTokens:
		inner := gjson.GetBytes(body, "input.invokeModel.body")
		dec, err := base64.StdEncoding.DecodeString(inner.Str)
		if !inner.Exists() || err != nil {
			reject(&Exception{Type: "ValidationException", Message: "input.invokeModel.body: a base64 blob is required"})
			return
		}
		call.Body = dec
	default:
		reject(&Exception{Type: "UnknownOperationException", Message: "Unknown operation", Status: http.StatusNotFound})
		return
	}
	if msg := s.validate(call.Body); msg != "" {
		reject(&Exception{Type: "ValidationException", Message: msg})
		return
	}
	if call.Op == OpCountTokens && s.opts.CountTokensUnsupported {
		reject(&Exception{Type: "ValidationException", Message: "The provided model doesn't support counting tokens."})
		return
	}
	reply := Reply{}
	if s.opts.Reply != nil {
		reply = s.opts.Reply(&call)
	}
	if reply.Error != nil {
		reject(reply.Error)
		return
	}
	s.record(call)
	switch call.Op {
	case OpCountTokens:
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"inputTokens":%d}`, CountTokens(call.Body))
	case OpInvoke:
		s.writeMessage(w, &call, reply)
	case OpInvokeStream:
		s.writeStream(w, &call, reply)
	}
}

// authenticate checks a Bedrock API key or the SigV4 signature.
func (s *Server) authenticate(r *http.Request, body []byte, call *Call) *Exception {
	authz := r.Header.Get("Authorization")
	if token, ok := strings.CutPrefix(authz, "Bearer "); ok {
		call.Bearer = true
		if s.opts.APIKey == "" || subtle.ConstantTimeCompare([]byte(token), []byte(s.opts.APIKey)) != 1 {
			return &Exception{Type: "UnrecognizedClientException", Message: "The security token included in the request is invalid.", Status: http.StatusForbidden}
		}
		return nil
	}
	return s.verifySigV4(r, body, "bedrock", call)
}

// CountTokens is the fake's token count for a body: about four bytes a token.
func CountTokens(body []byte) int { return (len(body) + 3) / 4 }

// errorStatus is the HTTP status Bedrock answers each exception with.
var errorStatus = map[string]int{
	"AccessDeniedException":         http.StatusForbidden,
	"UnrecognizedClientException":   http.StatusForbidden,
	"InvalidSignatureException":     http.StatusForbidden,
	"IncompleteSignatureException":  http.StatusForbidden,
	"MissingAuthenticationToken":    http.StatusForbidden,
	"ExpiredTokenException":         http.StatusForbidden,
	"ResourceNotFoundException":     http.StatusNotFound,
	"ThrottlingException":           http.StatusTooManyRequests,
	"ServiceQuotaExceededException": http.StatusBadRequest,
	"ModelTimeoutException":         http.StatusRequestTimeout,
	"ModelNotReadyException":        http.StatusTooManyRequests,
	"ModelErrorException":           http.StatusFailedDependency,
	"InternalServerException":       http.StatusInternalServerError,
	"ServiceUnavailableException":   http.StatusServiceUnavailable,
	"ValidationException":           http.StatusBadRequest,
}

// writeError answers in AWS's REST-JSON error shape.
func writeError(w http.ResponseWriter, e *Exception) {
	status := e.Status
	if status == 0 {
		status = errorStatus[e.Type]
	}
	if status == 0 {
		status = http.StatusBadRequest
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-Errortype", e.Type+":http://internal.amazon.com/coral/com.amazon.bedrock/")
	h.Set("X-Amzn-Requestid", newID())
	if e.RetryAfter != "" {
		h.Set("Retry-After", e.RetryAfter)
	}
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"message": e.Message})
	w.Write(b)
}

// RandomCredentials makes fresh credentials (with a session token if asked).
func RandomCredentials(withToken bool) Credentials {
	c := Credentials{AccessKeyID: "AKIA" + strings.ToUpper(randomString(12)), SecretAccessKey: randomString(30)}
	if withToken {
		c.AccessKeyID = "ASIA" + c.AccessKeyID[4:]
		c.SessionToken = randomString(60)
	}
	return c
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

func newID() string { return randomString(8) + "-" + randomString(4) + "-" + randomString(12) }
