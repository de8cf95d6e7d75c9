// Package anthropic calls the Anthropic API (or any endpoint speaking it):
// POST {api_base}/v1/messages with x-api-key, anthropic-version and
// anthropic-beta. Bodies are forwarded as the client sent them, with only
// the model field replaced.
package anthropic

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/claude-gateway/claude-gateway/core/betas"
	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/jsonstr"
	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/sse"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// DefaultBase is the Anthropic API.
const DefaultBase = "https://api.anthropic.com"

// DefaultVersion is sent when the client sent no anthropic-version.
const DefaultVersion = "2023-06-01"

// maxBody bounds a non-streaming response or error body read into memory.
const maxBody = 64 << 20

// Options configure a Provider.
type Options struct {
	HTTPClient *http.Client
	Logger     *slog.Logger
}

// Provider is one Anthropic API deployment.
type Provider struct {
	base   string // scheme://host[/prefix], no trailing slash
	model  string
	apiKey string
	client *http.Client
	log    *slog.Logger
}

// New builds the provider for d. The API key comes from api_key, else ANTHROPIC_API_KEY.
func New(_ context.Context, d config.Deployment, opts Options) (*Provider, error) {
	base := DefaultBase
	if d.Params.APIBase != "" {
		u, err := url.Parse(d.Params.APIBase)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("api_base %q: want an http(s) URL", d.Params.APIBase)
		}
		base = strings.TrimRight(u.Scheme+"://"+u.Host+u.Path, "/")
		// Users paste ".../v1"; the provider appends /v1/messages itself.
		base = strings.TrimSuffix(base, "/v1")
	}
	p := &Provider{base: base, model: d.Params.UpstreamModel, apiKey: d.Params.APIKey, client: opts.HTTPClient, log: opts.Logger}
	if p.client == nil {
		p.client = DefaultHTTPClient()
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	return p, nil
}

// Per-connection buffers of the upstream transport (net/http's default is
// 4 KB each, held for the connection's life, idle or streaming). The request
// is written once: a small write buffer holds its headers and a bigger body
// goes straight to the socket. Responses are read through an SSE reader or
// io.ReadAll, which read in small pieces: 2 KB still takes several events
// per read under load.
const (
	writeBufferSize = 1 << 10
	readBufferSize  = 2 << 10
)

// DefaultHTTPClient suits long streams: no overall timeout (the router sets
// deadlines per attempt), bounded connection set-up, many idle connections,
// small per-connection buffers.
func DefaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.WriteBufferSize = writeBufferSize
	t.ReadBufferSize = readBufferSize
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	t.IdleConnTimeout = 90 * time.Second
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = 10 * time.Minute
	return &http.Client{Transport: t}
}

// Endpoint implements router.Provider.
func (p *Provider) Endpoint() string { return p.base }

// Send implements router.Provider for non-streaming messages and count_tokens.
func (p *Provider) Send(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	resp, err := p.do(ctx, req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, &llm.Error{Status: 502, Type: llm.ErrAPI, Message: "reading upstream response", Cause: err, Retryable: true}
	}
	return &llm.Response{Status: resp.StatusCode, Header: passHeaders(resp.Header), Body: body}, nil
}

// Stream implements router.Provider.
func (p *Provider) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	resp, err := p.do(ctx, req)
	if err != nil {
		return nil, err
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		resp.Body.Close()
		return nil, &llm.Error{Status: 502, Type: llm.ErrAPI, Message: "upstream answered " + ct + " to a streaming request", Retryable: true}
	}
	return &stream{body: resp.Body, r: sse.NewReader(resp.Body)}, nil
}

// do sends the request and turns a non-2xx answer into an *llm.Error.
func (p *Provider) do(ctx context.Context, req *llm.Request) (*http.Response, error) {
	// The request is built in its own frame: the round trip runs deep
	// (transport, allocator slow paths) under the handler's whole stack,
	// and a stream's handler keeps whatever stack it grew to.
	hreq, rb, err := p.newRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	resp, err := p.roundTrip(hreq)
	rb.done()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &llm.Error{Status: 502, Type: llm.ErrAPI, Message: "upstream unreachable", Cause: err, Retryable: true}
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return nil, ErrorFromResponse(resp.StatusCode, resp.Header, data)
}

// newRequest builds the upstream request for req: the body naming the
// deployment's model, and the API's headers.
func (p *Provider) newRequest(ctx context.Context, req *llm.Request) (*http.Request, *requestBody, error) {
	body, err := setModel(req.Body, p.model)
	if err != nil {
		return nil, nil, &llm.Error{Status: 400, Type: llm.ErrInvalidRequest, Message: "cannot set model: " + err.Error()}
	}
	path := "/v1/messages"
	if req.Kind == llm.KindCountTokens {
		path = "/v1/messages/count_tokens"
		// count_tokens rejects fields it does not take.
		for _, k := range []string{"stream", "max_tokens", "metadata", "temperature", "top_p", "top_k", "stop_sequences"} {
			body, _ = sjson.DeleteBytes(body, k)
		}
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+path, nil)
	if err != nil {
		return nil, nil, err
	}
	// The transport keeps the request for as long as the response streams:
	// its body must not keep the (often large) prompt alive that long.
	rb := newRequestBody(body)
	hreq.Body, hreq.ContentLength = rb, int64(len(body))
	hreq.GetBody = rb.rewind
	// Canonical keys and one array for the values: no per-header allocations.
	vals := make([]string, 0, 8)
	set := func(canonicalKey, v string) {
		vals = append(vals, v)
		n := len(vals)
		hreq.Header[canonicalKey] = vals[n-1 : n : n]
	}
	set("Content-Type", "application/json")
	set("Accept", "application/json")
	if req.Stream && req.Kind == llm.KindMessages {
		// A compressed stream can sit in the decompressor's buffer; ask for none.
		set("Accept", "text/event-stream")
		set("Accept-Encoding", "identity")
	}
	if p.apiKey != "" {
		set("X-Api-Key", p.apiKey)
	}
	v := req.Version
	if v == "" {
		v = DefaultVersion
	}
	set("Anthropic-Version", v)
	if kept, _ := betas.Default().Filter(config.ProviderAnthropic, req.Betas); len(kept) > 0 {
		set("Anthropic-Beta", strings.Join(kept, ","))
	}
	return hreq, rb, nil
}

// setModel returns a copy of body naming model. The one-pass splice keeps
// the goroutine's stack small (a stream's handler keeps whatever stack it
// grew to for the stream's life); sjson covers what it does not (a body
// without "model", escaped keys).
func setModel(body []byte, model string) ([]byte, error) {
	if out, ok := jsonstr.SetString(body, model, "model"); ok {
		return out, nil
	}
	return sjson.SetBytes(bytes.Clone(body), "model", model)
}

// requestBody is an upstream request body that lets go of its bytes once
// they are sent and the round trip is over, so that a stream open for
// minutes does not hold its (often large) prompt. Until then the transport
// may rewind it (GetBody) to retry on a fresh connection; a body still being
// written when the answer arrives is let go of at its end, never cut short.
type requestBody struct {
	bb  *bodyBytes
	off int
}

// bodyBytes is what a request body and its rewound copies share.
type bodyBytes struct {
	mu   sync.Mutex
	b    []byte
	sent bool // the current reader reached the end
	over bool // the round trip has returned
}

func newRequestBody(b []byte) *requestBody { return &requestBody{bb: &bodyBytes{b: b}} }

func (rb *requestBody) Read(p []byte) (int, error) {
	bb := rb.bb
	bb.mu.Lock()
	defer bb.mu.Unlock()
	if rb.off >= len(bb.b) {
		bb.sent = true
		if bb.over {
			bb.b = nil
		}
		return 0, io.EOF
	}
	n := copy(p, bb.b[rb.off:])
	rb.off += n
	// All of it is copied out: sent, even if no Read comes back for io.EOF.
	bb.sent = rb.off == len(bb.b)
	return n, nil
}

func (rb *requestBody) Close() error { return nil }

// rewind is GetBody: the same bytes from the start.
func (rb *requestBody) rewind() (io.ReadCloser, error) {
	bb := rb.bb
	bb.mu.Lock()
	defer bb.mu.Unlock()
	if bb.b == nil {
		return nil, errBodyReleased
	}
	bb.sent = false
	return &requestBody{bb: bb}, nil
}

// done marks the round trip over: the bytes go now if they were sent, else
// when the reader reaches their end.
func (rb *requestBody) done() {
	bb := rb.bb
	bb.mu.Lock()
	bb.over = true
	if bb.sent {
		bb.b = nil
	}
	bb.mu.Unlock()
}

var errBodyReleased = errors.New("anthropic: request body already sent")

// ErrorFromResponse types an upstream error answer. An Anthropic-shaped body
// is kept as is: clients (Claude Code) act on its exact message.
func ErrorFromResponse(status int, h http.Header, body []byte) *llm.Error {
	e := llm.NewError(status, http.StatusText(status))
	if status == 529 {
		e.Type = llm.ErrOverloaded
	}
	if gjson.GetBytes(body, "type").String() == "error" && gjson.GetBytes(body, "error.type").Exists() {
		e.Body = body
		e.Type = gjson.GetBytes(body, "error.type").String()
		e.Message = gjson.GetBytes(body, "error.message").String()
	} else if len(body) > 0 {
		e.Message = fmt.Sprintf("upstream %d: %.200s", status, body)
	}
	e.RetryAfter = ParseRetryAfter(h.Get("Retry-After"))
	e.ShouldRetry = h.Get("x-should-retry")
	if e.ShouldRetry == "false" && status < 500 {
		e.Retryable = false
	}
	return e
}

// ParseRetryAfter reads seconds or an HTTP date; 0 if absent or invalid.
func ParseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// passHeaders keeps the upstream headers worth returning to the client.
func passHeaders(h http.Header) http.Header {
	out := http.Header{}
	for _, k := range []string{"Request-Id", "Anthropic-Organization-Id"} {
		if v := h.Get(k); v != "" {
			out.Set(k, v)
		}
	}
	return out
}

type stream struct {
	body io.ReadCloser
	r    *sse.Reader
}

func (s *stream) Next(ctx context.Context) (llm.Event, error) {
	ev, err := s.r.Next()
	if err != nil {
		if ctx.Err() != nil {
			return llm.Event{}, ctx.Err()
		}
		if err == io.EOF {
			return llm.Event{}, io.EOF
		}
		return llm.Event{}, &llm.Error{Status: 502, Type: llm.ErrAPI, Message: "upstream stream broke", Cause: err, Retryable: true}
	}
	return ev, nil
}

// Close closes the body (unblocking a read in progress) and recycles the
// reader's buffer.
func (s *stream) Close() error {
	err := s.body.Close()
	s.r.Close()
	return err
}

// Buffered implements llm.Buffered.
func (s *stream) Buffered() bool { return s.r.Buffered() }

// roundTrip sends one API call. A plain client (no timeout, cookies or
// redirect policy: the default here) goes straight to its transport: an API
// POST is never redirected, and skipping http.Client's redirect bookkeeping
// saves work on every request.
func (p *Provider) roundTrip(req *http.Request) (*http.Response, error) {
	c := p.client
	if c.Timeout == 0 && c.Jar == nil && c.CheckRedirect == nil {
		t := c.Transport
		if t == nil {
			t = http.DefaultTransport
		}
		return t.RoundTrip(req)
	}
	return c.Do(req)
}
