// Package vertex serves Anthropic Messages requests from Claude on Google
// Vertex AI (rawPredict and streamRawPredict), authenticating with Google's
// own credentials through golang.org/x/oauth2/google.
//
// Vertex speaks Anthropic's wire format with three differences this package
// bridges: the model and the project/location are in the URL, the API
// version is a body field (anthropic_version), and errors raised by Google's
// front end arrive in Google's error shape, which is mapped to Anthropic's.
package vertex

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claude-gateway/claude-gateway/core/betas"
	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/sse"
	"github.com/tidwall/gjson"
	"golang.org/x/oauth2"
)

// maxResponseBody bounds a whole (non-streaming) response read into memory.
const maxResponseBody = 64 << 20

// Options are the provider's collaborators.
type Options struct {
	// HTTPClient calls Vertex (and, through its Transport, Google's token
	// endpoints). nil means a client suited to long streams: dial, TLS and
	// response-header timeouts but no overall timeout.
	HTTPClient *http.Client
	// Logger receives debug and warning records; nil discards them.
	Logger *slog.Logger
	// CredentialsFailed, if set, hears of each failure to obtain a Google
	// access token (for metrics); it must not block.
	CredentialsFailed func(error)
	// Credentials shares token sources between deployments that use the
	// same credential. nil gives this provider its own.
	Credentials *CredentialCache
	// TokenSource, when set, replaces credential discovery (vertex_credentials
	// and ADC). It is wrapped in oauth2.ReuseTokenSource. vertex_project is
	// then required.
	TokenSource oauth2.TokenSource
}

// Provider is one Vertex deployment: a model in a project and location.
type Provider struct {
	base     string // scheme://host[/prefix], no trailing slash
	project  string
	location string
	model    string

	rawURL, streamURL, countURL string

	cred       *credential
	credFailed func(error)
	client     *http.Client
	log        *slog.Logger
	betas      func() *betas.Table
}

// locationRE is what a Vertex location looks like; it becomes part of a host
// name, so nothing else may pass.
var locationRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`) })

// New builds the provider for one vertex_ai/<model> deployment. It loads the
// credentials once (vertex_credentials, a path or the JSON itself, else
// Application Default Credentials); tokens are fetched on first use and
// cached. The project is vertex_project, else the credentials' project.
func New(ctx context.Context, d config.Deployment, opts Options) (*Provider, error) {
	p := d.Params
	if p.Provider != "" && p.Provider != config.ProviderVertex {
		return nil, fmt.Errorf("vertex: deployment %s is a %q deployment", d.ID, p.Provider)
	}
	model := p.UpstreamModel
	if model == "" {
		model = strings.TrimPrefix(p.Model, config.ProviderVertex+"/")
	}
	if model == "" || strings.ContainsAny(model, "/?#:") {
		return nil, fmt.Errorf("vertex: invalid model %q (want e.g. vertex_ai/claude-sonnet-4-5@20250929)", p.Model)
	}
	location := strings.TrimSpace(p.VertexLocation)
	if location == "" {
		return nil, errors.New("vertex: vertex_location is required (e.g. us-east5, europe-west1 or global)")
	}
	if !locationRE().MatchString(location) {
		return nil, fmt.Errorf("vertex: invalid vertex_location %q", location)
	}
	base, err := baseURL(p.APIBase, location)
	if err != nil {
		return nil, err
	}

	client := opts.HTTPClient
	if client == nil {
		client = defaultHTTPClient()
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	var cred *credential
	if opts.TokenSource != nil {
		cred = staticCredential(opts.TokenSource)
	} else {
		cache := opts.Credentials
		if cache == nil {
			cache = NewCredentialCache()
		}
		// A deployment that names its project needs nothing from ADC until
		// its first request.
		lazy := strings.TrimSpace(p.VertexProject) != ""
		cred, err = cache.get(ctx, p.VertexCredentials, tokenHTTPClient(opts.HTTPClient), lazy)
		if err != nil {
			return nil, err
		}
	}
	project := strings.TrimSpace(p.VertexProject)
	if project == "" {
		project = cred.projectID
	}
	if project == "" {
		return nil, errors.New("vertex: vertex_project is required (the credentials name no project)")
	}

	prefix := base + "/v1/projects/" + url.PathEscape(project) + "/locations/" + location +
		"/publishers/anthropic/models/"
	return &Provider{
		base:       base,
		project:    project,
		location:   location,
		model:      model,
		rawURL:     prefix + url.PathEscape(model) + ":rawPredict",
		streamURL:  prefix + url.PathEscape(model) + ":streamRawPredict",
		countURL:   prefix + "count-tokens:rawPredict",
		cred:       cred,
		credFailed: opts.CredentialsFailed,
		client:     client,
		log:        log.With("provider", "vertex_ai", "deployment", d.ID, "location", location),
		betas:      betas.Default, // parsed at the first request
	}, nil
}

// baseURL is the scheme and host (and any path prefix) requests go to:
// api_base when set, else Vertex's regional, multi-regional or global host.
// api_base never replaces the API path the provider appends; a trailing
// "/v1" on it (the Anthropic SDKs' Vertex base URL form) is accepted.
func baseURL(apiBase, location string) (string, error) {
	if apiBase != "" {
		u, err := url.Parse(strings.TrimSpace(apiBase))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", fmt.Errorf("vertex: invalid api_base %q (want http(s)://host[/prefix])", apiBase)
		}
		u.RawQuery, u.Fragment = "", ""
		s := strings.TrimRight(u.String(), "/")
		return strings.TrimSuffix(s, "/v1"), nil
	}
	switch location {
	case "global":
		return "https://aiplatform.googleapis.com", nil
	case "us", "eu":
		// Multi-region endpoints.
		return "https://aiplatform." + location + ".rep.googleapis.com", nil
	}
	return "https://" + location + "-aiplatform.googleapis.com", nil
}

func defaultHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		// A non-streaming answer arrives whole when generation ends, which
		// for max_tokens 64000 can take minutes; 10 minutes is the Anthropic
		// SDKs' own default request timeout.
		ResponseHeaderTimeout: 10 * time.Minute,
	}}
}

// Endpoint is the upstream base URL (no credentials).
func (p *Provider) Endpoint() string {
	u, err := url.Parse(p.base)
	if err != nil || u.User == nil {
		return p.base
	}
	u.User = nil
	return u.String()
}

// Send serves a non-streaming messages or count_tokens request.
func (p *Provider) Send(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	resp, err := p.do(ctx, req, false)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	if err != nil {
		return nil, transportError(ctx, err)
	}
	if len(body) > maxResponseBody {
		return nil, &llm.Error{Status: http.StatusBadGateway, Type: llm.ErrAPI,
			Message: "vertex: response body too large"}
	}
	return &llm.Response{Status: resp.StatusCode, Header: passHeaders(resp.Header), Body: body}, nil
}

// Stream opens a streaming messages request. It returns once Vertex has
// answered with a status; a refusal is an *llm.Error.
func (p *Provider) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	if req.Kind == llm.KindCountTokens {
		return nil, llm.NewError(http.StatusBadRequest, "count_tokens does not stream")
	}
	resp, err := p.do(ctx, req, true)
	if err != nil {
		return nil, err
	}
	return newStream(resp.Body), nil
}

// do sends one call and returns a 2xx response, or the typed failure.
func (p *Provider) do(ctx context.Context, req *llm.Request, stream bool) (*http.Response, error) {
	target := p.rawURL
	switch {
	case req.Kind == llm.KindCountTokens:
		target = p.countURL
	case stream:
		target = p.streamURL
	}
	body, err := shapeBody(req.Body, req.Kind, p.model, stream)
	if err != nil {
		return nil, &llm.Error{Status: http.StatusBadRequest, Type: llm.ErrInvalidRequest,
			Message: err.Error()}
	}
	kept, dropped := p.betaHeader(req)

	tok, err := p.cred.token(ctx)
	if err != nil {
		return nil, p.tokenError(ctx, err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, &llm.Error{Status: http.StatusInternalServerError, Type: llm.ErrAPI,
			Message: "vertex: building request", Cause: err}
	}
	tok.SetAuthHeader(hreq)
	if p.cred.quotaProject != "" {
		hreq.Header.Set("x-goog-user-project", p.cred.quotaProject)
	}
	hreq.Header.Set("Content-Type", "application/json")
	if stream {
		hreq.Header.Set("Accept", "text/event-stream")
		// A compressed event stream is only as prompt as the compressor's
		// flushes; events are small, so ask for them as they are.
		hreq.Header.Set("Accept-Encoding", "identity")
	} else {
		hreq.Header.Set("Accept", "application/json")
	}
	if len(kept) > 0 {
		hreq.Header.Set("anthropic-beta", strings.Join(kept, ","))
	}
	p.log.DebugContext(ctx, "vertex request", "url", target, "stream", stream,
		"betas", kept, "dropped_betas", dropped, "call_id", req.CallID)

	resp, err := p.client.Do(hreq)
	if err != nil {
		err = transportError(ctx, err)
		p.log.WarnContext(ctx, "vertex unreachable", "error", err, "call_id", req.CallID)
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		e := upstreamError(resp)
		p.log.WarnContext(ctx, "vertex error", "status", resp.StatusCode, "mapped_status", e.Status,
			"type", e.Type, "message", e.Message, "call_id", req.CallID)
		return nil, e
	}
	return resp, nil
}

// featureBetas are flags that only switch on a body feature. Models that
// made the feature standard refuse the flag as invalid (Opus 4.7 and later
// refuse interleaved-thinking, which adaptive thinking does by itself, as
// reported from Bedrock, which fronts the same models), while without the
// feature in the body the flag does nothing: so such a flag is sent only
// when the body uses its feature.
var featureBetas = map[string]func(body []byte) bool{
	"interleaved-thinking-2025-05-14": func(b []byte) bool {
		return gjson.GetBytes(b, "thinking.type").String() == "enabled"
	},
	"tool-search-tool-2025-10-19": func(b []byte) bool {
		found := false
		gjson.GetBytes(b, "tools").ForEach(func(_, t gjson.Result) bool {
			found = t.Get("defer_loading").Bool() || strings.HasPrefix(t.Get("type").String(), "tool_search_tool")
			return !found
		})
		return found
	},
}

// betaHeader is the anthropic-beta flags to send: the client's flags
// through Vertex's column of the beta table, then the feature gate.
func (p *Provider) betaHeader(req *llm.Request) (kept, dropped []string) {
	if req.Kind == llm.KindCountTokens {
		// Vertex's count-tokens route refuses betas its messages routes take
		// (tool-search, web-search, and new flags until each model rolls
		// them out: LiteLLM #39597, anthropic-sdk-typescript #1060), and
		// counting needs none: a refused count stalls Claude Code's Read.
		return nil, req.Betas
	}
	kept, dropped = p.betas().Filter(config.ProviderVertex, req.Betas)
	out := kept[:0:0]
	for _, f := range kept {
		if used, gated := featureBetas[f]; gated && !used(req.Body) {
			dropped = append(dropped, f)
			continue
		}
		out = append(out, f)
	}
	return out, dropped
}

// googleRefusal matches how x/oauth2 reports a refusal from Google's STS
// (external_account token exchange) or from the service account
// impersonation endpoint: plain errors, not *oauth2.RetrieveError.
var googleRefusal = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`oauth2/google: status code (400|401|403): `) })

// tokenError types a failure to obtain an access token. Google's token
// endpoint refusing the credential is an authentication error; an endpoint
// that cannot be reached is a retryable server-side failure.
func (p *Provider) tokenError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	p.log.WarnContext(ctx, "vertex: no access token", "error", err)
	if p.credFailed != nil {
		p.credFailed(err)
	}
	if errors.Is(err, ErrNoCredentials) {
		// As a deployment found without credentials at start: fail over.
		return &llm.Error{Status: http.StatusUnauthorized, Type: llm.ErrAuthentication,
			Message: "deployment unavailable: " + err.Error(), Retryable: true, Cause: err}
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		msg := "vertex: Google refused the credentials"
		if re.ErrorCode != "" {
			msg += " (" + re.ErrorCode + ")"
		}
		return &llm.Error{Status: http.StatusUnauthorized, Type: llm.ErrAuthentication,
			Message: msg, Retryable: true, Cause: err}
	}
	if googleRefusal().MatchString(err.Error()) {
		return &llm.Error{Status: http.StatusUnauthorized, Type: llm.ErrAuthentication,
			Message: "vertex: Google refused the credentials", Retryable: true, Cause: err}
	}
	return &llm.Error{Status: http.StatusBadGateway, Type: llm.ErrAPI,
		Message: "vertex: could not obtain a Google access token", Retryable: true, Cause: err}
}

// passHeaders picks the upstream headers worth passing on.
func passHeaders(h http.Header) http.Header {
	out := http.Header{}
	for _, k := range []string{"Request-Id", "X-Request-Id", "X-Vertex-Ai-Request-Id"} {
		if v := h.Get(k); v != "" {
			out.Set(k, v)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// stream hands out each SSE event as soon as it is parsed; it holds at most
// one event (plus the reader's buffer) at a time.
type stream struct {
	body      io.ReadCloser
	r         *sse.Reader
	done      bool            // message_stop or an error event seen
	watched   context.Context // the context Next last watched
	stopWatch func() bool
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

func newStream(body io.ReadCloser) *stream {
	return &stream{body: body, r: sse.NewReader(body)}
}

// Next returns the next event. A stream that ends before message_stop (and
// without an error event) is reported as an interrupted stream, so the
// server can tell the client instead of ending as if complete.
func (s *stream) Next(ctx context.Context) (llm.Event, error) {
	if err := ctx.Err(); err != nil {
		return llm.Event{}, err
	}
	if ctx.Done() != nil && ctx != s.watched {
		// A blocked body read only returns when the body is closed. One
		// watch per context (the server passes the same one to every Next)
		// rather than one per event; it is dropped when the stream ends.
		s.unwatch()
		s.watched, s.stopWatch = ctx, context.AfterFunc(ctx, func() { s.Close() })
	}
	ev, err := s.next(ctx)
	if err != nil {
		s.unwatch()
	}
	return ev, err
}

func (s *stream) next(ctx context.Context) (llm.Event, error) {
	ev, err := s.r.Next()
	if err == nil {
		switch ev.Type {
		case "message_stop":
			s.done = true
		case "error":
			// Vertex ends a failing stream with Anthropic's error event (e.g.
			// overloaded_error); it is the stream's failure, handed out as
			// the typed error with the event's JSON as the client's body.
			s.done = true
			return llm.Event{}, llm.ErrorFromEvent(ev.Data)
		}
		return ev, nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return llm.Event{}, cerr
	}
	if errors.Is(err, io.EOF) && s.done {
		return llm.Event{}, io.EOF
	}
	if s.closed.Load() {
		return llm.Event{}, errStreamClosed
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return llm.Event{}, &llm.Error{Status: http.StatusBadGateway, Type: llm.ErrAPI,
		Message: "vertex: stream interrupted", Retryable: true, Cause: err}
}

// unwatch drops the context watch, if any (Next's goroutine only).
func (s *stream) unwatch() {
	if s.stopWatch != nil {
		s.stopWatch()
		s.watched, s.stopWatch = nil, nil
	}
}

var errStreamClosed = errors.New("vertex: stream closed")

// Close releases the upstream connection; safe to call more than once and
// concurrently with Next.
func (s *stream) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.closeErr = s.body.Close()
		s.r.Close() // recycles the read buffer once no read holds it
	})

	return s.closeErr
}

// Buffered implements llm.Buffered.
func (s *stream) Buffered() bool { return s.r.Buffered() }
