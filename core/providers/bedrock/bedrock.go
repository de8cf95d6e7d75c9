// Package bedrock serves Anthropic Messages calls from Claude models on Amazon
// Bedrock: InvokeModel, InvokeModelWithResponseStream and CountTokens, or
// the Messages API (messages.go), as HTTP calls signed with aws-sdk-go-v2's
// SigV4 signer and credential chain (or a Bedrock API key as a Bearer
// token); event streams are read with the SDK's event-stream decoder.
//
// The generated bedrock-runtime client is not used: its schema tables and
// endpoint rules cost every cold start ~1.2 ms of package init, ~0.5 MB of
// heap and ~1 MB of binary, and each call went through its middleware stack,
// for three operations whose wire form (REST-JSON: POST
// /model/{modelId}/{op}, a JSON body, AWS's error shape) is small. The
// endpoint is chosen as that client chooses it (invoke.go).
//
// A provider is built once per deployment: its credentials chain, region and
// endpoint are resolved in New and reused by every call. Nothing retries
// here, because the gateway's router owns retries and failover.
package bedrock

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/llm"
)

// Options are the provider's dependencies.
type Options struct {
	// HTTPClient carries every call; nil means a default suited to long
	// streams. It is wrapped, never modified.
	HTTPClient *http.Client
	// Logger receives debug notes (never keys or bodies); nil discards.
	Logger *slog.Logger
	// CredentialsFailed, if set, hears of each failed fetch or refresh of
	// the deployment's AWS credentials (for metrics); it must not block.
	CredentialsFailed func(error)
	// CABundle, shared by a gateway's deployments, reads AWS_CA_BUNDLE
	// once for all of them; nil leaves it to the SDK (a parse per deployment).
	CABundle *CABundle
}

// Provider is one Bedrock deployment.
type Provider struct {
	base   *url.URL // bedrock-runtime's base URL
	auth   authorizer
	client aws.HTTPClient
	model  modelID
	shaper *shaper
	log    *slog.Logger

	// logged remembers which removals were already logged, so each is
	// logged once per deployment rather than on every call.
	logged  sync.Map
	nLogged atomic.Int32
}

// primeWait bounds how long Stream waits for Bedrock's first event: its
// refusals (exception frames) come at once; a slow first token is left to
// the router's commit wait, which pings the client meanwhile.
const primeWait = time.Second

// maxLogged bounds logged: clients choose beta names freely.
const maxLogged = 256

// New builds the provider for a bedrock/<model> deployment. It makes no
// network calls: credentials are fetched on first use and cached.
func New(ctx context.Context, d config.Deployment, opts Options) (*Provider, error) {
	p := d.Params
	m, a, err := modelAndAuth(ctx, d, opts)
	if err != nil {
		return nil, err
	}
	base, err := runtimeEndpoint(ctx, a.cfg, firstNonEmpty(p.APIBase, p.AWSBedrockRuntimeEndpoint))
	if err != nil {
		return nil, fmt.Errorf("bedrock deployment %s: %w", d.ID, err)
	}
	sh, err := newShaper()
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Provider{
		base:   base,
		auth:   newAuthorizer(a, "bedrock", false),
		client: a.http,
		model:  m,
		shaper: sh,
		log:    log.With("provider", "bedrock", "deployment", d.ID),
	}, nil
}

// modelAndAuth reads a deployment's model id and builds its credentials,
// for either API.
func modelAndAuth(ctx context.Context, d config.Deployment, opts Options) (modelID, auth, error) {
	p := d.Params
	m := parseModelID(p.UpstreamModel)
	if m.ID == "" {
		return m, auth{}, fmt.Errorf("bedrock deployment %s: no model id in %q", d.ID, p.Model)
	}
	a, err := loadAuth(ctx, p, resolveRegion(p, m), opts.HTTPClient, opts.CABundle, opts.CredentialsFailed)
	if err != nil {
		return m, auth{}, fmt.Errorf("bedrock deployment %s: %w", d.ID, err)
	}
	return m, a, nil
}

// Endpoint is the runtime base URL: https://bedrock-runtime.{region}.amazonaws.com
// or the configured override.
func (p *Provider) Endpoint() string { return p.base.String() }

// Send serves a non-streaming Messages call or a count_tokens call.
func (p *Provider) Send(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	sh, err := p.shape(ctx, req)
	if err != nil {
		return nil, err
	}
	if req.Kind == llm.KindCountTokens {
		return p.countTokens(ctx, req, sh.Body)
	}
	resp, err := p.call(ctx, opInvoke, p.model.ID, sh.Body, "application/json")
	if err != nil {
		return nil, upstreamError(ctx, err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return nil, &llm.Error{Status: http.StatusBadGateway, Type: llm.ErrAPI, Retryable: true,
			Message: fmt.Sprintf("bedrock answered with content type %q, want application/json", ct)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, upstreamError(ctx, err)
	}
	return &llm.Response{Status: http.StatusOK, Header: requestIDHeader(resp.Header), Body: body}, nil
}

// maxResponse bounds a non-streaming answer read into memory.
const maxResponse = 64 << 20

// Stream opens a streaming Messages call. It returns once Bedrock has
// accepted the call and sent its first event, so that a failure before any
// byte reaches the client (an HTTP error or an exception frame first) is an
// *llm.Error the router can retry elsewhere.
func (p *Provider) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	sh, err := p.shape(ctx, req)
	if err != nil {
		return nil, err
	}
	resp, err := p.call(ctx, opInvokeStream, p.model.ID, sh.Body, "application/json")
	if err != nil {
		return nil, upstreamError(ctx, err)
	}
	body := resp.Body
	s := newStream(ctx, body)
	if err := s.prime(ctx, primeWait); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// shape builds the Bedrock body and logs, once per deployment, what it removed.
func (p *Provider) shape(ctx context.Context, req *llm.Request) (shaped, error) {
	sh, err := p.shaper.shape(req)
	if err != nil {
		return sh, err
	}
	for _, r := range sh.Removed {
		if p.nLogged.Load() >= maxLogged {
			break
		}
		if _, seen := p.logged.LoadOrStore(r, struct{}{}); !seen {
			p.nLogged.Add(1)
			// A dropped top-level field is news (a client sent something
			// Bedrock does not take): logged at info; the routine edits at debug.
			level := slog.LevelDebug
			if strings.HasPrefix(r, "field ") {
				level = slog.LevelInfo
			}
			p.log.Log(ctx, level, "bedrock: removed from request (logged once per deployment)", "removed", r)
		}
	}
	return sh, nil
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
