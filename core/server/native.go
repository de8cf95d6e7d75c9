package server

import (
	"context"
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// The native ingress serves clients that speak a cloud's own wire format:
// Claude Code with CLAUDE_CODE_USE_BEDROCK or CLAUDE_CODE_USE_VERTEX and a
// gateway base URL. The paths are LiteLLM's pass-through prefixes (/bedrock,
// /vertex_ai), so existing configs keep working. These are not proxies: each
// call is authenticated with the gateway's keys (the same check as
// /v1/messages; Claude Code sends ANTHROPIC_AUTH_TOKEN as a bearer token in
// both modes), mapped to a model group, routed through the router like any
// other call, and answered in the client's cloud format whoever served it.

// BedrockFramer encodes AWS event-stream frames for Bedrock-shaped streams.
// core/providers/bedrock implements it (Frames), so the AWS SDK stays in one
// package and the server knows no cloud SDK.
type BedrockFramer interface {
	// AppendChunk appends a chunk frame carrying one Anthropic event's JSON.
	AppendChunk(dst, event []byte) []byte
	// AppendException appends an exception frame (excType like "ThrottlingException").
	AppendException(dst []byte, excType, message string) []byte
}

// nativeRoutes registers the Bedrock- and Vertex-shaped routes.
func (s *Server) nativeRoutes(m *http.ServeMux) {
	m.HandleFunc("POST /bedrock/model/{model}/invoke", s.authedCall(s.bedrockHandler(false)))
	m.HandleFunc("POST /bedrock/model/{model}/invoke-with-response-stream", s.authedCall(s.bedrockHandler(true)))
	// Claude Code's Bedrock client counts tokens through CountTokens.
	m.HandleFunc("POST /bedrock/model/{model}/count-tokens", s.authedCall(s.handleBedrockCount))
	// Claude Code lists inference profiles (unauthenticated) at start in Bedrock mode.
	m.HandleFunc("GET /bedrock/inference-profiles", handleInferenceProfiles)
	// Vertex's own root (/v1/projects/...) too: SDKs that rewrite only a
	// root /v1/messages (anthropic-sdk-go's vertex) take no path prefix.
	for _, prefix := range []string{"/vertex_ai/v1", "/vertex/v1", "/v1"} {
		m.HandleFunc("POST "+prefix+"/projects/{project}/locations/{location}/publishers/anthropic/models/{model}", s.authedCall(s.handleVertex))
	}
}

func handleInferenceProfiles(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"inferenceProfileSummaries":[]}`))
}

// bedrockHandler serves InvokeModel (stream false) or InvokeModelWithResponseStream.
func (s *Server) bedrockHandler(stream bool) callHandler {
	return func(w http.ResponseWriter, r *http.Request, cl Caller) {
		var enc streamEncoder
		if stream {
			if s.opts.BedrockFrames == nil {
				s.writeError(w, r, &llm.Error{Status: 501, Type: llm.ErrAPI, Message: "Bedrock streaming is not configured on this gateway"})
				return
			}
			enc = bedrockStream{f: s.opts.BedrockFrames}
		}
		s.serveNative(w, r, cl, nativeCall{model: r.PathValue("model"), kind: llm.KindMessages, stream: stream, enc: enc})
	}
}

// handleVertex serves {model}:rawPredict, :streamRawPredict and
// count-tokens:rawPredict (the count route names no model in the path).
func (s *Server) handleVertex(w http.ResponseWriter, r *http.Request, cl Caller) {
	model, method, _ := strings.Cut(r.PathValue("model"), ":")
	switch {
	case model == "count-tokens" && method == "rawPredict":
		s.serveNative(w, r, cl, nativeCall{kind: llm.KindCountTokens})
	case method == "rawPredict":
		s.serveNative(w, r, cl, nativeCall{model: model, kind: llm.KindMessages})
	case method == "streamRawPredict":
		s.serveNative(w, r, cl, nativeCall{model: model, kind: llm.KindMessages, stream: true, enc: anthropicSSE{}})
	default:
		s.writeError(w, r, &llm.Error{Status: 404, Type: llm.ErrNotFound, Message: "unknown method " + r.PathValue("model")})
	}
}

// nativeCall is what a cloud-shaped route asks for.
type nativeCall struct {
	// model is the id from the path (empty for Vertex's count-tokens,
	// which names it in the body).
	model  string
	kind   llm.Kind
	stream bool
	enc    streamEncoder
	// unwrap, if set, turns the route's body into the Anthropic-shaped one
	// (Bedrock's CountTokens wraps it); answer, if set, reshapes a
	// successful JSON answer.
	unwrap func([]byte) ([]byte, *llm.Error)
	answer func([]byte) []byte
}

// serveNative is serveAnthropic for a cloud-shaped request: the model comes
// from the path (or the body), streaming from the route, betas from the
// header and (Bedrock) the body's anthropic_beta.
func (s *Server) serveNative(w http.ResponseWriter, r *http.Request, cl Caller, nc nativeCall) {
	r = s.observe(r)
	c := newCall(r)
	c.key = cl
	defer s.finish(r, c)
	w.Header().Set("x-litellm-call-id", c.id)

	body, lerr := s.readBody(w, r)
	if lerr == nil && nc.unwrap != nil {
		body, lerr = nc.unwrap(body)
	}
	var bodyBetas []string
	if lerr == nil {
		body, bodyBetas, lerr = s.nativeBody(body, nc.model, nc.stream)
	}
	if lerr == nil {
		c.req, lerr = parseMessagesRequest(body, nc.kind, r.Header)
	}
	if lerr != nil {
		c.fail(lerr)
		s.writeError(w, r, lerr)
		return
	}
	c.req.CallID = c.id
	c.req.Betas = mergeBetas(c.req.Betas, bodyBetas)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	res, ok := s.route(ctx, w, r, c)
	if !ok {
		return
	}
	if res.Stream != nil {
		enc := nc.enc
		if enc == nil {
			enc = anthropicSSE{}
		}
		s.writeStream(ctx, w, c, res.Stream, enc)
		return
	}
	resp := res.Response
	if nc.answer != nil && resp.Status < 300 {
		shaped := *resp
		shaped.Body = nc.answer(resp.Body)
		resp = &shaped
	}
	s.writeResponse(w, c, resp)
}

// handleBedrockCount serves CountTokens: {"input":{"invokeModel":{"body":
// <base64 InvokeModel body>}}} answered {"inputTokens":N}.
func (s *Server) handleBedrockCount(w http.ResponseWriter, r *http.Request, cl Caller) {
	s.serveNative(w, r, cl, nativeCall{model: r.PathValue("model"), kind: llm.KindCountTokens,
		unwrap: unwrapBedrockCount, answer: bedrockCountAnswer})
}

func unwrapBedrockCount(body []byte) ([]byte, *llm.Error) {
	bad := func(msg string) ([]byte, *llm.Error) {
		return nil, &llm.Error{Status: 400, Type: llm.ErrInvalidRequest, Message: msg}
	}
	in := gjson.GetBytes(body, "input")
	if in.Get("converse").Exists() {
		return bad("CountTokens: only the invokeModel input is served by this gateway")
	}
	blob := in.Get("invokeModel.body")
	if blob.Type != gjson.String {
		return bad("CountTokens: input.invokeModel.body is required")
	}
	out, err := base64.StdEncoding.DecodeString(blob.Str)
	if err != nil {
		return bad("CountTokens: input.invokeModel.body is not base64")
	}
	return out, nil
}

// bedrockCountAnswer turns {"input_tokens":N} into Bedrock's {"inputTokens":N}.
func bedrockCountAnswer(body []byte) []byte {
	return append(strconv.AppendInt([]byte(`{"inputTokens":`), gjson.GetBytes(body, "input_tokens").Int(), 10), '}')
}

// nativeBody turns a cloud-shaped body into an Anthropic one: no
// anthropic_version or anthropic_beta (the providers set their own), the
// model group named, stream as the route says.
func (s *Server) nativeBody(body []byte, modelID string, stream bool) ([]byte, []string, *llm.Error) {
	bad := func(msg string) ([]byte, []string, *llm.Error) {
		return nil, nil, &llm.Error{Status: 400, Type: llm.ErrInvalidRequest, Message: msg}
	}
	if !gjson.ValidBytes(body) || !gjson.ParseBytes(body).IsObject() {
		return bad("request body must be a JSON object")
	}
	var betas []string
	for _, b := range gjson.GetBytes(body, "anthropic_beta").Array() {
		if b.Type == gjson.String && b.Str != "" {
			betas = append(betas, b.Str)
		}
	}
	if modelID == "" {
		modelID = gjson.GetBytes(body, "model").String()
	}
	modelID, wide := cut1M(modelID)
	if wide {
		betas = mergeBetas(betas, []string{Context1MBeta})
	}
	group, ok := s.nativeModel(modelID)
	if !ok {
		return nil, nil, &llm.Error{Status: 404, Type: llm.ErrNotFound, Message: "model " + modelID + " is not served by this gateway"}
	}
	var err error
	for _, k := range []string{"anthropic_version", "anthropic_beta"} {
		if body, err = sjson.DeleteBytes(body, k); err != nil {
			return bad(err.Error())
		}
	}
	if body, err = sjson.SetBytes(body, "model", group); err == nil && stream {
		body, err = sjson.SetBytes(body, "stream", true)
	}
	if err != nil {
		return bad(err.Error())
	}
	return body, betas, nil
}

// mergeBetas appends the betas of extra not already in betas.
func mergeBetas(betas, extra []string) []string {
	for _, b := range extra {
		if !slices.Contains(betas, b) {
			betas = append(betas, b)
		}
	}
	return betas
}
