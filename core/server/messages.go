package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/claude-gateway/claude-gateway/core/jsonstr"
	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/logging"
	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/claude-gateway/claude-gateway/core/spend"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// call is one API request's bookkeeping, from arrival to the log line.
type call struct {
	id       string
	start    time.Time
	endpoint string
	req      *llm.Request
	res      *router.Result
	status   int
	errType  string
	ttfb     time.Duration
	usage    llm.Usage
	gone     bool   // client disconnected
	key      Caller // the request's virtual key (nil: the master key)
	stopped  bool   // the stream relayed message_stop
	caller   Caller // the virtual key once admitted (Begin succeeded)
	// keyAlias, userID, teamID label a virtual key's spend records.
	keyAlias, userID, teamID string
	overhead                 time.Duration
}

// calls recycles call records. A call lives on the heap, not in the
// handler's frame: that frame stays on the goroutine's stack for a stream's
// whole life, and a few hundred bytes there push a handler past its 8 KB
// stack into a 16 KB one.
var calls = sync.Pool{New: func() any { return new(call) }}

// newCall starts the bookkeeping of request r; finish recycles it.
func newCall(r *http.Request) *call {
	c := calls.Get().(*call)
	c.id, c.start, c.endpoint = newCallID(), time.Now(), r.URL.Path
	return c
}

func (s *Server) handleMessages(w http.ResponseWriter, r *http.Request, cl Caller) {
	s.serveAnthropic(w, r, llm.KindMessages, cl)
}

func (s *Server) handleCountTokens(w http.ResponseWriter, r *http.Request, cl Caller) {
	s.serveAnthropic(w, r, llm.KindCountTokens, cl)
}

// readBody reads the (bounded) request body. Reading it whole first is
// deliberate: streaming request bodies through cut SSE responses short here
// (golang/go#40747), and every provider needs targeted edits anyway.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *llm.Error) {
	if r.ContentLength > s.opts.MaxBodyBytes {
		return nil, &llm.Error{Status: 413, Type: llm.ErrTooLarge, Message: "request body exceeds " + strconv.FormatInt(s.opts.MaxBodyBytes, 10) + " bytes"}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &llm.Error{Status: 413, Type: llm.ErrTooLarge, Message: "request body exceeds " + strconv.FormatInt(s.opts.MaxBodyBytes, 10) + " bytes"}
		}
		return nil, &llm.Error{Status: 400, Type: llm.ErrInvalidRequest, Message: "reading request body: " + err.Error()}
	}
	return body, nil
}

// parseMessagesRequest validates an Anthropic request body just enough to
// route it, without decoding it.
func parseMessagesRequest(body []byte, kind llm.Kind, h http.Header) (*llm.Request, *llm.Error) {
	bad := func(msg string) *llm.Error {
		return &llm.Error{Status: 400, Type: llm.ErrInvalidRequest, Message: msg}
	}
	if !gjson.ValidBytes(body) {
		return nil, bad("request body is not valid JSON")
	}
	if msg := ambiguousBody(body); msg != "" {
		return nil, bad(msg)
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, bad("request body must be a JSON object")
	}
	// One pass over the top-level keys picks the few fields the gateway reads.
	var model, messages, maxTokens, stream, metadata gjson.Result
	var seen keySet
	dup, dupFound := "", false
	root.ForEach(func(k, v gjson.Result) bool {
		if !seen.add(k.Str) {
			dup, dupFound = k.Str, true
			return false
		}
		switch k.Str {
		case "model":
			model = v
		case "messages":
			messages = v
		case "max_tokens":
			maxTokens = v
		case "stream":
			stream = v
		case "metadata":
			metadata = v
		}
		return true
	})
	switch {
	case dupFound:
		return nil, bad(keyName(dup) + ": key given more than once in the request body")
	case !model.Exists():
		return nil, bad("model: Field required")
	case model.Type != gjson.String || model.Str == "":
		return nil, bad("model: Input should be a non-empty string")
	case !messages.Exists():
		return nil, bad("messages: Field required")
	case !messages.IsArray():
		return nil, bad("messages: Input should be a valid list")
	}
	if kind == llm.KindMessages {
		switch {
		case !maxTokens.Exists():
			return nil, bad("max_tokens: Field required")
		}
		if stream.Exists() && stream.Type != gjson.True && stream.Type != gjson.False && stream.Type != gjson.Null {
			return nil, bad("stream: Input should be a valid boolean")
		}
	}
	if maxTokens.Exists() {
		if msg := checkMaxTokens(maxTokens); msg != "" {
			return nil, bad(msg)
		}
	}
	// The strings kept are cloned: gjson's results point into its own copy
	// of the whole body, which a kept model name would hold for a stream's
	// life.
	req := &llm.Request{
		Kind:                 kind,
		Body:                 body,
		Model:                strings.Clone(model.Str),
		Stream:               kind == llm.KindMessages && stream.Type == gjson.True,
		Betas:                llm.ParseBetas(h),
		Version:              h.Get("anthropic-version"),
		SessionID:            h.Get("x-claude-code-session-id"),
		EstimatedInputTokens: int64(len(body) / 4),
	}
	if req.SessionID == "" {
		req.SessionID = strings.Clone(metadata.Get("user_id").String())
	}
	apply1M(req)
	return req, nil
}

// maxTokensLimit bounds max_tokens: the largest value every upstream
// parses as the integer it is (a 32-bit one); larger numbers (1e20) would be
// rounded, clamped or wrapped differently by each reader.
const maxTokensLimit = math.MaxInt32

// checkMaxTokens names what is wrong with a max_tokens value ("" if nothing).
func checkMaxTokens(v gjson.Result) string {
	switch {
	case v.Type != gjson.Number || v.Num != math.Trunc(v.Num):
		return "max_tokens: Input should be a valid integer"
	case v.Num < 1:
		return "max_tokens: Input should be greater than or equal to 1"
	case v.Num > maxTokensLimit:
		return "max_tokens: Input should be less than or equal to " + strconv.Itoa(maxTokensLimit)
	}
	return ""
}

// ambiguousBody names what would let readers of body disagree on what it
// says ("" if nothing). Invalid UTF-8 is replaced, dropped or refused
// depending on the parser, so the gateway's routing and policy could read a
// different string than the upstream does.
func ambiguousBody(body []byte) string {
	if !utf8.Valid(body) {
		return "request body is not valid UTF-8"
	}
	if nestedDeeperThan(body, maxNesting) {
		return "request body nests arrays and objects deeper than " + strconv.Itoa(maxNesting) + " levels"
	}
	return ""
}

// maxNesting bounds how deep arrays and objects nest in a request body. No
// real request comes near it (tool schemas nest a few dozen levels), and
// upstream parsers meet deeper documents differently (a recursion limit, a
// stack overflow, a 500), so the gateway refuses them alike, and first.
const maxNesting = 256

// nestedDeeperThan reports whether JSON body opens more than limit arrays
// and objects at once, in one pass over the bytes (strings skipped).
func nestedDeeperThan(body []byte, limit int) bool {
	depth, inString := 0, false
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case inString:
			if c == '\\' {
				i++
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			if depth++; depth > limit {
				return true
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return false
}

// keySet tells whether an object's key was seen before. A duplicate
// top-level key is refused: gjson reads the first, most JSON decoders the
// last, so routing, policy (per-key model allowlists) and the upstream could
// each see a different "model". Small objects are scanned; big ones hashed,
// so a hostile body with many keys costs linear time.
type keySet struct {
	small [32]string
	n     int
	big   map[string]struct{}
}

// add records k and reports false if it was already there.
func (s *keySet) add(k string) bool {
	if s.big != nil {
		if _, ok := s.big[k]; ok {
			return false
		}
		s.big[k] = struct{}{}
		return true
	}
	for _, x := range s.small[:s.n] {
		if x == k {
			return false
		}
	}
	if s.n < len(s.small) {
		s.small[s.n] = k
		s.n++
		return true
	}
	s.big = make(map[string]struct{}, 2*s.n)
	for _, x := range s.small {
		s.big[x] = struct{}{}
	}
	s.big[k] = struct{}{}
	return true
}

// keyName names a key in an error message: as it is, or `""` if empty.
func keyName(k string) string {
	if k == "" {
		return `""`
	}
	return k
}

// duplicateKey returns the first key obj gives twice; ok is false if none
// (the key itself may be "", which is a key like any other).
func duplicateKey(obj gjson.Result) (key string, ok bool) {
	var seen keySet
	obj.ForEach(func(k, _ gjson.Result) bool {
		if !seen.add(k.Str) {
			key, ok = k.Str, true
		}
		return !ok
	})
	return key, ok
}

func (s *Server) serveAnthropic(w http.ResponseWriter, r *http.Request, kind llm.Kind, cl Caller) {
	r = s.observe(r)
	c := newCall(r)
	c.key = cl
	defer s.finish(r, c)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	// Everything up to the answer happens in prepareAnthropic, whose frame
	// is gone by the time a stream is relayed: this frame stays on the
	// handler's stack for the stream's whole life, so it is kept small.
	res, ok := s.prepareAnthropic(ctx, w, r, c, kind)
	if !ok {
		return
	}
	if res.Stream != nil {
		s.writeStream(ctx, w, c, res.Stream, anthropicSSE{})
		return
	}
	s.writeResponse(w, c, res.Response)
}

// prepareAnthropic reads, checks and routes an Anthropic request. On
// failure it has answered the client and reports false.
func (s *Server) prepareAnthropic(ctx context.Context, w http.ResponseWriter, r *http.Request, c *call, kind llm.Kind) (*router.Result, bool) {
	w.Header().Set("x-litellm-call-id", c.id)
	body, lerr := s.readBody(w, r)
	if lerr == nil {
		c.req, lerr = parseMessagesRequest(body, kind, r.Header)
	}
	if lerr != nil {
		c.fail(lerr)
		s.writeError(w, r, lerr)
		return nil, false
	}
	c.req.CallID = c.id
	if s.opts.Debug {
		s.log.DebugContext(r.Context(), "request body", "call_id", c.id, "body", string(body))
	}
	return s.route(ctx, w, r, c)
}

// route sends c's request through the router and sets the routing headers.
// On failure it answers the client (in the endpoint's error shape) and
// reports false; a client that already left gets nothing.
func (s *Server) route(ctx context.Context, w http.ResponseWriter, r *http.Request, c *call) (*router.Result, bool) {
	if !s.admitCall(ctx, w, r, c) {
		return nil, false
	}
	res, err := s.router.Route(ctx, c.req)
	// Only the attempts read the body, and they are over: a stream may stay
	// open for minutes, and a prompt can be megabytes.
	c.req.Body = nil
	c.res = res
	s.setRouteHeaders(w.Header(), res, c)
	if err == nil {
		return res, true
	}
	var le *llm.Error
	if !errors.As(err, &le) {
		le = &llm.Error{Status: 500, Type: llm.ErrAPI, Message: err.Error()}
	}
	if e := endedBy(r.Context()); e != nil {
		le = e
	} else if r.Context().Err() != nil {
		c.fail(le)
		c.gone = true
		return res, false
	}
	c.fail(le)
	s.writeError(w, r, le)
	return res, false
}

// setRouteHeaders tells the client what routing did. The keys are written
// in canonical form and the values share one array: a handful of headers
// on every call, without a key and a slice allocated for each.
func (s *Server) setRouteHeaders(h http.Header, res *router.Result, c *call) {
	hs := headerSetter{h: h, vals: make([]string, 0, 6)}
	hs.set("X-Litellm-Model-Group", res.Group)
	hs.set("X-Litellm-Attempted-Retries", strconv.Itoa(res.Retries))
	hs.set("X-Litellm-Attempted-Fallbacks", strconv.Itoa(res.Fallbacks))
	if d := res.Deployment; d != nil {
		hs.set("X-Litellm-Model-Id", d.ID())
		hs.set("X-Litellm-Model-Api-Base", d.Provider.Endpoint())
	}
	overhead := time.Since(c.start) - res.UpstreamTime
	if overhead < 0 {
		overhead = 0
	}
	c.overhead = overhead
	hs.set("X-Litellm-Overhead-Duration-Ms", strconv.FormatFloat(float64(overhead.Microseconds())/1000, 'f', 3, 64))
}

// headerSetter sets header values under keys already in canonical form
// (textproto.CanonicalMIMEHeaderKey), each value a one-element slice of vals.
type headerSetter struct {
	h    http.Header
	vals []string
}

func (hs *headerSetter) set(canonicalKey, v string) {
	hs.vals = append(hs.vals, v)
	n := len(hs.vals)
	hs.h[canonicalKey] = hs.vals[n-1 : n : n]
}

func (c *call) fail(e *llm.Error) {
	c.status, c.errType = clientStatus(e.Status), e.Type
}

// writeResponse sends a whole upstream answer with the model echoed as asked.
func (s *Server) writeResponse(w http.ResponseWriter, c *call, resp *llm.Response) {
	body := resp.Body
	if c.req.Kind == llm.KindMessages && gjson.GetBytes(body, "model").Exists() {
		if b, err := sjson.SetBytes(body, "model", c.req.Model); err == nil {
			body = b
		}
		c.usage = llm.FromBody(body)
	}
	h := w.Header()
	for k, v := range resp.Header {
		h[k] = v
	}
	h.Set("Content-Type", "application/json")
	if c.req.Kind == llm.KindMessages {
		s.setCostHeader(h, c)
	}
	status := resp.Status
	if status == 0 {
		status = 200
	}
	c.status = status
	c.ttfb = time.Since(c.start)
	w.WriteHeader(status)
	if _, err := w.Write(body); err != nil {
		c.gone = true
	}
}

// rewriteModel makes message_start name the model the client asked for.
func rewriteModel(ev llm.Event, model string) llm.Event {
	if ev.Type != "message_start" || !bytes.Contains(ev.Data, []byte(`"model"`)) {
		return ev
	}
	// The one-pass splice first: sjson's deep frames here would grow the
	// handler's stack for the rest of the stream.
	if b, ok := jsonstr.SetString(ev.Data, model, "message", "model"); ok {
		ev.Data = b
	} else if b, err := sjson.SetBytes(ev.Data, "message.model", model); err == nil {
		ev.Data = b
	}
	return ev
}

// finish records spend, updates the router and logs one line.
func (s *Server) finish(r *http.Request, c *call) {
	if c.status == 0 {
		c.status = 200
	}
	if r.Context().Err() != nil && endedBy(r.Context()) == nil {
		c.gone = true
	}
	end := time.Now()
	var streamErr error
	if c.errType != "" {
		streamErr = errors.New(c.errType)
	}
	c.res.Finish(c.usage, streamErr)
	rec := spend.Record{
		CallID: c.id, StartTime: c.start, EndTime: end, TTFTMillis: c.ttfb.Milliseconds(),
		// The key's hash is made here, after the response: nothing before
		// the first byte needs it.
		Endpoint: c.endpoint, KeyHash: s.keyHash(r, c), Status: c.status, ErrorType: c.errType, Disconnected: c.gone,
		KeyAlias: c.keyAlias, UserID: c.userID, TeamID: c.teamID,
		InputTokens: c.usage.InputTokens, OutputTokens: c.usage.OutputTokens,
		CacheCreationInputTokens: c.usage.CacheCreationInputTokens, CacheReadInputTokens: c.usage.CacheReadInputTokens,
	}
	upstreamStatus := 0
	if c.req != nil {
		rec.RequestedModel, rec.SessionID, rec.Stream = c.req.Model, c.req.SessionID, c.req.Stream
	}
	if res := c.res; res != nil {
		rec.ModelGroup, rec.Retries, rec.Fallbacks = res.Group, res.Retries, res.Fallbacks
		upstreamStatus = res.UpstreamStatus
		if d := res.Deployment; d != nil {
			rec.DeploymentID, rec.Provider, rec.Region, rec.APIBase = d.ID(), d.Config.Params.Provider, d.Region(), d.Provider.Endpoint()
			if s.opts.Pricer != nil {
				rec.Cost = s.opts.Pricer.Cost(d, c.usage)
			}
		}
	}
	if c.caller != nil {
		c.caller.End(rec.Cost, c.usage.InputTokens+c.usage.OutputTokens+c.usage.CacheCreationInputTokens+c.usage.CacheReadInputTokens)
	}
	// Every authenticated call is recorded, refused and malformed ones too.
	if s.opts.Recorder != nil {
		s.opts.Recorder.Record(context.WithoutCancel(r.Context()), rec)
	}
	s.obs.Finish(r.Context(), Call{Record: rec, API: apiName(c), UpstreamStatus: upstreamStatus, Overhead: c.overhead, TTFT: c.ttfb})
	s.logCall(r, c, &rec, upstreamStatus, end)
	*c = call{}
	calls.Put(c)
}

// logCall writes the access line: the spend record's fields but the key
// hash. Typed attributes, and nothing built when the level is off: this runs
// once per request.
func (s *Server) logCall(r *http.Request, c *call, rec *spend.Record, upstreamStatus int, end time.Time) {
	ctx := r.Context()
	if !s.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "request",
		slog.String("call_id", c.id), slog.String("path", c.endpoint), slog.String("model", rec.RequestedModel),
		slog.String("model_group", rec.ModelGroup), slog.String("deployment_id", rec.DeploymentID),
		slog.String("provider", rec.Provider), slog.String("region", rec.Region), slog.String("api_base", rec.APIBase),
		slog.Int("status", c.status), slog.Int("upstream_status", upstreamStatus),
		slog.String("error_type", c.errType), slog.Bool("stream", rec.Stream), slog.Int64("ttfb_ms", c.ttfb.Milliseconds()),
		slog.Int64("duration_ms", end.Sub(c.start).Milliseconds()), slog.Int64("input_tokens", c.usage.InputTokens),
		slog.Int64("output_tokens", c.usage.OutputTokens), slog.Int64("cache_read_input_tokens", c.usage.CacheReadInputTokens),
		slog.Int64("cache_creation_input_tokens", c.usage.CacheCreationInputTokens), slog.Float64("spend", rec.Cost),
		slog.Int("retries", rec.Retries), slog.Int("fallbacks", rec.Fallbacks), slog.String("session_id", rec.SessionID),
		slog.String("key_alias", rec.KeyAlias), slog.String("user", rec.UserID), slog.String("team_id", rec.TeamID),
		slog.Bool("client_disconnected", c.gone),
		logging.HTTPRequest(r, c.status, end.Sub(c.start)))
}

// setCostHeader sets x-litellm-response-cost from the call's usage.
func (s *Server) setCostHeader(h http.Header, c *call) {
	if s.opts.Pricer != nil && c.res != nil && c.res.Deployment != nil {
		h.Set("x-litellm-response-cost", strconv.FormatFloat(s.opts.Pricer.Cost(c.res.Deployment, c.usage), 'f', -1, 64))
	}
}
