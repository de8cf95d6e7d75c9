// Package gateway assembles the whole gateway from a typed config: one
// provider per deployment, the state store, the router, the spend recorder
// and the HTTP server. Every entry point (functions/cloudrun,
// functions/lambda) calls Build, so they behave identically.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"time"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/console"
	"github.com/claude-gateway/claude-gateway/core/identity"
	"github.com/claude-gateway/claude-gateway/core/identity/keyadmin"
	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/providers/anthropic"
	"github.com/claude-gateway/claude-gateway/core/providers/bedrock"
	"github.com/claude-gateway/claude-gateway/core/providers/simulated"
	"github.com/claude-gateway/claude-gateway/core/providers/vertex"
	"github.com/claude-gateway/claude-gateway/core/quirks"
	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/claude-gateway/claude-gateway/core/server"
	"github.com/claude-gateway/claude-gateway/core/spend"
	"github.com/claude-gateway/claude-gateway/core/spend/pricing"
	"github.com/claude-gateway/claude-gateway/core/spend/spendapi"
	"github.com/claude-gateway/claude-gateway/core/sso"
	"github.com/claude-gateway/claude-gateway/core/store/selector"
	"github.com/claude-gateway/claude-gateway/core/telemetry"
)

// Options tune Build.
type Options struct {
	Logger *slog.Logger
	// HTTPClient is used for upstream calls (nil: a default suited to long streams).
	HTTPClient *http.Client
	// Getenv reads the environment (nil: no overrides).
	Getenv func(string) string
	// PingInterval overrides the SSE keep-alive interval (tests).
	PingInterval time.Duration
	// Platform is "lambda", "cloudrun" or "local": it picks the default state
	// store (DynamoDB, Firestore, the embedded file) and the spend recorder
	// (synchronous on Lambda, whose instances freeze after each response).
	// Empty means an embedded library use (tests): the memory store.
	Platform string
	// EMF receives CloudWatch Embedded Metric Format lines, one per request
	// (Lambda: os.Stdout; nil: none).
	EMF io.Writer
}

// Gateway is the built handler and what must be closed with it.
type Gateway struct {
	http.Handler
	Router *router.Router
	// Telemetry holds the metrics and traces (Lambda flushes it per invocation).
	Telemetry *telemetry.Telemetry
	closers   []func(context.Context) error
	flushers  []func(context.Context) error
}

// Flush waits for what the gateway writes in the background (the router's
// state writes, buffered spend records, telemetry) without closing
// anything: a runtime that freezes between requests (AWS Lambda) calls it
// before each invocation ends.
func (g *Gateway) Flush(ctx context.Context) error {
	var errs []error
	for _, f := range g.flushers {
		errs = append(errs, f(ctx))
	}
	return errors.Join(errs...)
}

// Close flushes buffered state (spend records) and releases clients.
func (g *Gateway) Close(ctx context.Context) error {
	var first error
	for i := len(g.closers) - 1; i >= 0; i-- {
		if err := g.closers[i](ctx); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Build wires everything from cfg.
func Build(ctx context.Context, cfg *config.Config, opts Options) (*Gateway, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Getenv == nil {
		opts.Getenv = func(string) string { return "" }
	}
	client := opts.HTTPClient
	if client == nil {
		client = anthropic.DefaultHTTPClient()
	}
	for _, w := range cfg.Warnings {
		log.Warn("config: " + w)
	}
	if cfg.MasterKey() == "" {
		log.Warn("no master_key configured: the gateway serves anyone who can reach it")
	}
	tel, err := telemetry.New(ctx, telemetry.Options{Getenv: opts.Getenv, Logger: log, EMF: opts.EMF})
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	// Anthropic API requests carry the attempt's traceparent.
	traced := *client
	traced.Transport = tel.Transport(client.Transport)
	client = &traced
	deps := make([]*router.Deployment, 0, len(cfg.Deployments))
	shared := providerShared{vertexCreds: vertex.NewCredentialCache(), awsCA: bedrock.NewCABundle()}
	for _, d := range cfg.Deployments {
		p, err := newProvider(ctx, d, client, shared, log, tel.CredentialsFailed(d))
		if err != nil {
			return nil, fmt.Errorf("model_list[%d] (%s): %w", d.Index, d.ModelName, err)
		}
		deps = append(deps, &router.Deployment{Config: d, Provider: p})
	}
	platform := opts.Platform
	if platform == "" {
		platform = selector.PlatformLibrary
	}
	state, err := selector.New(ctx, cfg, selector.Options{Platform: platform, Getenv: opts.Getenv, Logger: log, StoreObserver: tel})
	if err != nil {
		return nil, fmt.Errorf("state store: %w", err)
	}
	g := &Gateway{Telemetry: tel}
	g.closers = append(g.closers, tel.Shutdown, func(context.Context) error { return state.Close() })
	pricer := pricing.New(nil, log)
	rec, closeRec := state.Recorder(platform, log)
	// Closers run in reverse: router writes drain, then spend flushes, then the store closes.
	g.closers = append(g.closers, closeRec)
	if st, ok := rec.(interface{ Stats() spend.Stats }); ok {
		if err := tel.ObserveSpend(st.Stats); err != nil {
			return nil, fmt.Errorf("telemetry: %w", err)
		}
	}
	rt := router.New(deps, cfg.Router, router.Options{
		Store: state.Store, Logger: log, Litellm: &cfg.Litellm, Pricer: pricer,
		FailClosed: cfg.General.StateFailClosed, CommitAfter: cfg.General.StreamCommitAfter, Observer: tel,
	})
	if err := tel.ObserveRouter(rt); err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	g.closers = append(g.closers, rt.Drain)
	g.flushers = append(g.flushers, rt.Drain)
	if f, ok := rec.(interface{ Flush(context.Context) error }); ok {
		g.flushers = append(g.flushers, f.Flush)
	}
	g.flushers = append(g.flushers, tel.Flush)
	groups := cfg.AccessGroups()
	keys := identity.NewGatekeeper(state.Store, identity.Options{Logger: log, AccessGroups: groups})
	runCtx, stopKeys := context.WithCancel(context.WithoutCancel(ctx))
	go keys.Run(runCtx)
	g.closers = append(g.closers, func(context.Context) error { stopKeys(); keys.Wait(); return nil })
	admin := spendapi.Handlers(state.Spend, spendapi.Options{Logger: log})
	maps.Copy(admin, keyadmin.Handlers(keys.Repo(), keyadmin.Options{
		Logger: log, Changed: keys.Forget,
		OwnersChanged: func(ctx context.Context) {
			if err := keys.Refresh(ctx); err != nil {
				log.Warn("identity refresh after an admin change failed", "error", err)
			}
		},
		KnownModel: func(m string) bool {
			_, ok := rt.Resolve(m)
			return ok || groups[m] != nil || strings.Contains(m, "*")
		},
	}))
	admit := admitter(keys)
	var signIn *signInRoutes
	if cfg.General.SSO != nil {
		signIn = newSignIn(runCtx, cfg, state.Store, keys, admit, platform, log)
		admit = signIn.admit
		maps.Copy(admin, signIn.sso.AdminRoutes())
		g.closers = append(g.closers, signIn.relay.Close)
	}
	srv := server.New(server.Options{
		Router:        rt,
		MasterKey:     cfg.MasterKey(),
		Logger:        log,
		Recorder:      rec,
		Pricer:        pricer,
		MaxBodyBytes:  cfg.General.MaxRequestBodyBytes,
		Debug:         cfg.General.Debug,
		PingInterval:  opts.PingInterval,
		BedrockFrames: bedrock.Frames{},
		Extra:         admin,
		Admit:         admit,
		Observer:      tel,
		Metrics:       tel.Handler(),
		MetricsPublic: cfg.General.MetricsPublic,
		HealthExtra: func(context.Context) map[string]any {
			out := map[string]any{"state_store": state.Store.Stats()}
			if signIn != nil {
				out["otlp_relay"] = signIn.relay.Stats()
			}
			if s, ok := rec.(interface{ Stats() spend.Stats }); ok {
				out["spend_recorder"] = s.Stats()
			}
			return out
		},
	})
	uiOpts := console.Options{MasterKey: cfg.MasterKey(), Spend: state.Spend, Admin: admin,
		Keys: keys.Repo(), Health: rt.Health, Logger: log}
	if signIn != nil {
		uiOpts.SSO = consoleSSO{signIn.sso.WebSignIn(sso.PathConsoleCallback)}
	}
	ui := console.New(uiOpts)
	g.Handler, g.Router = withConsole(srv, ui), rt
	if signIn != nil {
		g.Handler = signIn.handler(g.Handler)
	}
	log.Info("state store", "backend", state.Backend)
	return g, nil
}

// withConsole serves the web console under /ui and everything else from the API server.
func withConsole(api, ui http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == console.Prefix || strings.HasPrefix(r.URL.Path, console.Prefix+"/") {
			ui.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// providerShared is what a gateway's deployments share: Vertex credentials
// (one per credentials file) and the AWS_CA_BUNDLE roots (parsed once).
type providerShared struct {
	vertexCreds *vertex.CredentialCache
	awsCA       *bedrock.CABundle
}

// credFailed hears of the deployment's credential failures (metrics).
func newProvider(ctx context.Context, d config.Deployment, client *http.Client, shared providerShared, log *slog.Logger, credFailed func(error)) (router.Provider, error) {
	switch d.Params.Provider {
	case config.ProviderAnthropic:
		return anthropic.New(ctx, d, anthropic.Options{HTTPClient: client, Logger: log})
	case config.ProviderSimulated:
		return simulated.New(ctx, d)
	case config.ProviderBedrock:
		// nil HTTPClient: the SDK's own client honours AWS_CA_BUNDLE and proxies.
		opts := bedrock.Options{Logger: log, CredentialsFailed: credFailed, CABundle: shared.awsCA}
		var p router.Provider
		var err error
		switch d.Params.BedrockAPI {
		case bedrock.APIMessages, bedrock.APIMantle:
			p, err = bedrock.NewMessages(ctx, d, opts)
		default:
			p, err = bedrock.New(ctx, d, opts)
		}
		if err != nil {
			return nil, err
		}
		// Bedrock and Vertex refuse inputs they do not know by name: learn
		// each one from its 400 instead of failing every request.
		return quirks.Learn(p), nil
	case config.ProviderVertex:
		p, err := vertex.New(ctx, d, vertex.Options{Logger: log, Credentials: shared.vertexCreds, CredentialsFailed: credFailed})
		if errors.Is(err, vertex.ErrNoCredentials) {
			log.Error("vertex deployment has no Google credentials; it will fail over until restarted with credentials",
				"deployment_id", d.ID, "model_name", d.ModelName)
			return &unavailable{endpoint: "vertex_ai/" + d.Params.VertexLocation, reason: err.Error()}, nil
		}
		if err != nil {
			return nil, err
		}
		return quirks.Learn(p), nil
	}
	return nil, fmt.Errorf("provider %q is not available in this build", d.Params.Provider)
}

// admitter adapts the identity Gatekeeper to the server's AdmitFunc.
func admitter(g *identity.Gatekeeper) server.AdmitFunc {
	return func(ctx context.Context, key string) (server.Caller, *llm.Error) {
		c, err := g.Admit(ctx, key)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
}
