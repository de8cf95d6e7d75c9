package bedrock

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/sse"
	"github.com/claude-gateway/claude-gateway/core/tokencount"
)

// The Anthropic Messages API endpoints Bedrock serves beside InvokeModel
// (AWS user guide, "Inference using Anthropic Messages API"), chosen per
// deployment with litellm_params.bedrock_api.
const (
	// APIInvoke is InvokeModel / InvokeModelWithResponseStream (the default).
	APIInvoke = "invoke"
	// APIMessages is bedrock-runtime's /anthropic/v1/messages: SigV4 (service
	// "bedrock") or a Bedrock API key as a Bearer token; anthropic_version
	// bedrock-2023-05-31 in the body, beta flags in its anthropic_beta.
	APIMessages = "messages"
	// APIMantle is bedrock-mantle.{region}.api.aws/anthropic/v1/messages:
	// a Bedrock API key as x-api-key (or SigV4, service "bedrock-mantle"),
	// the anthropic-version and anthropic-beta headers as on the Anthropic API.
	APIMantle = "mantle"
)

// messagesPath is the Messages API path under either endpoint.
const messagesPath = "/anthropic/v1/messages"

// MessagesProvider serves a Bedrock deployment through the Messages API:
// the body keeps the Anthropic shape (with the model id in it), shaped by the
// same quirks and beta table as InvokeModel, and the answer is Anthropic JSON
// or SSE, passed on event by event with no event-stream decoding.
type MessagesProvider struct {
	url    string
	model  string
	mantle bool
	auth   authorizer
	client aws.HTTPClient
	shaper *shaper
	log    *slog.Logger
}

// NewMessages builds the provider for a deployment with bedrock_api set to
// messages or mantle. Like New, it makes no network call.
func NewMessages(ctx context.Context, d config.Deployment, opts Options) (*MessagesProvider, error) {
	p := d.Params
	m, a, err := modelAndAuth(ctx, d, opts)
	if err != nil {
		return nil, err
	}
	sh, err := newShaper()
	if err != nil {
		return nil, err
	}
	mp := &MessagesProvider{model: m.ID, mantle: p.BedrockAPI == APIMantle, shaper: sh, log: opts.Logger}
	own := firstNonEmpty(p.APIBase, p.AWSBedrockRuntimeEndpoint)
	var base string
	if mp.mantle {
		mp.auth = newAuthorizer(a, "bedrock-mantle", true)
		if own == "" && !validRegion(a.cfg.Region) {
			return nil, fmt.Errorf("bedrock deployment %s: region %q (aws_region_name, the model's ARN or AWS_REGION) is not an AWS region name", d.ID, a.cfg.Region)
		}
		base = firstNonEmpty(own, "https://bedrock-mantle."+a.cfg.Region+".api.aws")
	} else {
		mp.auth = newAuthorizer(a, "bedrock", false)
		u, err := runtimeEndpoint(ctx, a.cfg, own)
		if err != nil {
			return nil, fmt.Errorf("bedrock deployment %s: %w", d.ID, err)
		}
		base = u.String()
	}
	mp.url = strings.TrimSuffix(strings.TrimRight(base, "/"), "/anthropic") + messagesPath
	mp.client = a.http
	if mp.log == nil {
		mp.log = slog.New(slog.DiscardHandler)
	}
	return mp, nil
}

// Endpoint is the Messages API URL.
func (p *MessagesProvider) Endpoint() string { return p.url }

// Send serves a non-streaming call. The Messages API has no count_tokens:
// it is answered with the local estimate, labelled as such (an invoke
// deployment asks Bedrock's CountTokens).
func (p *MessagesProvider) Send(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	if req.Kind == llm.KindCountTokens {
		return countResponse(tokencount.Estimate(req.Body), CountTokensEstimate), nil
	}
	resp, err := p.do(ctx, req, false)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, &llm.Error{Status: 502, Type: llm.ErrAPI, Message: "reading bedrock response", Cause: err, Retryable: true}
	}
	return &llm.Response{Status: http.StatusOK, Header: requestIDHeader(resp.Header), Body: body}, nil
}

// Stream opens a streaming call; it returns once Bedrock has answered 200.
func (p *MessagesProvider) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	resp, err := p.do(ctx, req, true)
	if err != nil {
		return nil, err
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		resp.Body.Close()
		return nil, &llm.Error{Status: 502, Type: llm.ErrAPI, Retryable: true,
			Message: "bedrock messages API answered " + ct + " to a streaming request"}
	}
	return &sseStream{body: resp.Body, r: sse.NewReader(resp.Body)}, nil
}

// do shapes, signs and sends one call; a non-2xx answer is a typed error.
func (p *MessagesProvider) do(ctx context.Context, req *llm.Request, stream bool) (*http.Response, error) {
	body, hdrBetas, err := p.body(req, stream)
	if err != nil {
		return nil, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return nil, &llm.Error{Status: 500, Type: llm.ErrAPI, Message: "bedrock: building request", Cause: err}
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", map[bool]string{true: "text/event-stream", false: "application/json"}[stream])
	if p.mantle {
		hreq.Header.Set("anthropic-version", firstNonEmpty(req.Version, "2023-06-01"))
		if len(hdrBetas) > 0 {
			hreq.Header.Set("anthropic-beta", strings.Join(hdrBetas, ","))
		}
	}
	if err := p.auth.authorize(ctx, hreq, body); err != nil {
		return nil, err
	}
	resp, err := p.client.Do(hreq)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &llm.Error{Status: 502, Type: llm.ErrAPI, Message: "bedrock unreachable", Cause: err, Retryable: true}
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return nil, messagesError(resp.StatusCode, resp.Header, data)
}

// body is the shaped Messages body, and (mantle) the beta flags for the header.
func (p *MessagesProvider) body(req *llm.Request, stream bool) ([]byte, []string, error) {
	sh, err := p.shaper.shape(&llm.Request{Kind: req.Kind, Body: req.Body, Betas: req.Betas})
	if err != nil {
		return nil, nil, err
	}
	body := sh.Body
	var hdr []string
	if p.mantle {
		// Anthropic-compatible: the version and betas travel as headers.
		for _, b := range gjson.GetBytes(body, "anthropic_beta").Array() {
			hdr = append(hdr, b.Str)
		}
		body, _ = sjson.DeleteBytes(body, "anthropic_beta")
		body, _ = sjson.DeleteBytes(body, "anthropic_version")
	}
	body, err = sjson.SetBytes(body, "model", p.model)
	if err == nil && stream {
		body, err = sjson.SetBytes(body, "stream", true)
	}
	if err != nil {
		return nil, nil, &llm.Error{Status: 400, Type: llm.ErrInvalidRequest, Message: "cannot edit request body: " + err.Error()}
	}
	return body, hdr, nil
}

// messagesError types an error answer: Anthropic-shaped bodies are kept as
// they are (clients act on the exact message); AWS ones are mapped by their
// x-amzn-errortype like InvokeModel's exceptions.
func messagesError(status int, h http.Header, body []byte) *llm.Error {
	e := llm.NewError(status, http.StatusText(status))
	switch {
	case gjson.GetBytes(body, "type").Str == "error":
		e.Body, e.Type, e.Message = body, gjson.GetBytes(body, "error.type").Str, gjson.GetBytes(body, "error.message").Str
	default:
		code, _, _ := strings.Cut(h.Get("X-Amzn-Errortype"), ":")
		if m, ok := exceptionStatus[code]; ok {
			e.Status, e.Type = m.status, m.typ
		}
		e.Message = firstNonEmpty(gjson.GetBytes(body, "message").Str, gjson.GetBytes(body, "Message").Str, e.Message)
	}
	if ra := h.Get("Retry-After"); ra != "" {
		if d, err := time.ParseDuration(ra + "s"); err == nil {
			e.RetryAfter = d
		}
	}
	e.ShouldRetry = h.Get("x-should-retry")
	if e.ShouldRetry == "false" && e.Status < 500 {
		e.Retryable = false
	}
	return e
}

func requestIDHeader(h http.Header) http.Header {
	if id := firstNonEmpty(h.Get("X-Amzn-Requestid"), h.Get("Request-Id")); id != "" {
		return http.Header{"X-Amzn-Requestid": {id}}
	}
	return nil
}

// sseStream hands on each SSE event as it arrives.
type sseStream struct {
	body io.ReadCloser
	r    *sse.Reader
}

func (s *sseStream) Next(ctx context.Context) (llm.Event, error) {
	ev, err := s.r.Next()
	switch {
	case err == nil:
		return ev, nil
	case ctx.Err() != nil:
		return llm.Event{}, ctx.Err()
	case err == io.EOF:
		return llm.Event{}, io.EOF
	}
	return llm.Event{}, &llm.Error{Status: 502, Type: llm.ErrAPI, Message: "bedrock stream broke", Cause: err, Retryable: true}
}

// Close closes the body (unblocking a read in progress) and recycles the
// reader's buffer.
func (s *sseStream) Close() error {
	err := s.body.Close()
	s.r.Close()
	return err
}

// Buffered implements llm.Buffered.
func (s *sseStream) Buffered() bool { return s.r.Buffered() }
