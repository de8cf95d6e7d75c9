// Package selector opens the state store the config and environment ask
// for: the router's store (wrapped in the fail-open guard) and the spend
// store of the same backend, plus the spend recorder that suits the platform.
//
// Choice of backend, first match wins:
//
//	GATEWAY_STATE_STORE                     memory | embedded | dynamodb | firestore | redis
//	general_settings.state_store            same values
//	router_settings.redis_host / redis_url  redis (LiteLLM's shared-state keys)
//	platform default                        lambda: dynamodb, cloudrun: firestore, else embedded
//
// Per backend (environment first, then config, then default):
//
//	embedded   GATEWAY_STATE_FILE, general_settings.state_file, "gateway-state" (a directory)
//	dynamodb   GATEWAY_STATE_TABLE, general_settings.state_table, "claude-gateway-state";
//	           AWS_ENDPOINT_URL_DYNAMODB for a local server; GATEWAY_STATE_CREATE_TABLE=true
//	           creates the table at start (tests, local runs; production declares it)
//	firestore  GATEWAY_STATE_COLLECTION, general_settings.state_collection, "gateway"
//	           (prefix of <prefix>_state and <prefix>_spend); GATEWAY_STATE_PROJECT or
//	           GOOGLE_CLOUD_PROJECT (else detected); GATEWAY_FIRESTORE_DATABASE;
//	           FIRESTORE_EMULATOR_HOST for the emulator
//	redis      router_settings.redis_url / redis_host, redis_port, redis_password,
//	           else REDIS_URL / REDIS_HOST, REDIS_PORT, REDIS_PASSWORD; GATEWAY_STATE_PREFIX
//
// Common: general_settings.state_fail_closed or GATEWAY_STATE_FAIL_CLOSED=true
// refuses requests when limits cannot be checked (default: serve, fail open);
// GATEWAY_STATE_TIMEOUT bounds one store call (default 1s);
// GATEWAY_SPEND_RETENTION or general_settings.maximum_spend_logs_retention_period
// ("30d", "12h", a Go duration) expires spend records (default: kept).
package selector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/claude-gateway/claude-gateway/core/spend"
	"github.com/claude-gateway/claude-gateway/core/store/guard"
)

// Platforms the gateway runs on.
const (
	PlatformLambda   = "lambda"
	PlatformCloudRun = "cloudrun"
	PlatformLocal    = "local"
	// PlatformLibrary is the gateway built inside another program (tests):
	// no file, no server, so the memory store by default.
	PlatformLibrary = "library"
)

// Backends.
const (
	Memory    = "memory"
	Embedded  = "embedded"
	DynamoDB  = "dynamodb"
	Firestore = "firestore"
	Redis     = "redis"
)

// Defaults.
const (
	DefaultFile       = "gateway-state"
	DefaultTable      = "claude-gateway-state"
	DefaultCollection = "gateway"
)

// Options say where the gateway runs.
type Options struct {
	// Platform is PlatformLambda, PlatformCloudRun or PlatformLocal ("" = local).
	Platform string
	// Getenv reads the environment (nil: none).
	Getenv func(string) string
	Logger *slog.Logger
	// StoreObserver hears of every state store operation (metrics; nil: nobody).
	StoreObserver guard.Observer
}

// State is an opened state backend.
type State struct {
	// Backend is the chosen backend's name.
	Backend string
	// Store is the router's store, guarded (fail-open unless configured
	// otherwise); Store.Stats() is for /health.
	Store *guard.Store
	// Spend is the same backend's spend store.
	Spend spend.Store
	close func() error
}

// Close releases the backend (the embedded store writes its counters).
func (s *State) Close() error {
	if s == nil || s.close == nil {
		return nil
	}
	return s.close()
}

// Open is New for callers that want the parts: the guarded router store,
// the spend store, and what to close at shutdown. It logs to slog.Default().
func Open(ctx context.Context, cfg *config.Config, platform string, getenv func(string) string) (router.Store, spend.Store, io.Closer, error) {
	st, err := New(ctx, cfg, Options{Platform: platform, Getenv: getenv, Logger: slog.Default()})
	if err != nil {
		return nil, nil, nil, err
	}
	return st.Store, st.Spend, st, nil
}

// New opens the backend cfg and the environment select. Cloud backends make
// no calls here (no cold-start cost) unless asked to create their table.
func New(ctx context.Context, cfg *config.Config, o Options) (*State, error) {
	if o.Getenv == nil {
		o.Getenv = func(string) string { return "" }
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	env := func(names ...string) string {
		for _, n := range names {
			if v := strings.TrimSpace(o.Getenv(n)); v != "" {
				return v
			}
		}
		return ""
	}
	g := cfg.General
	kind := Choose(cfg, o.Platform, o.Getenv)
	retention, err := retentionOf(env("GATEWAY_SPEND_RETENTION"), g.Raw["maximum_spend_logs_retention_period"])
	if err != nil {
		return nil, err
	}
	failClosed := g.StateFailClosed || isTrue(env("GATEWAY_STATE_FAIL_CLOSED"))
	timeout := time.Duration(0)
	if s := env("GATEWAY_STATE_TIMEOUT"); s != "" {
		if timeout, err = time.ParseDuration(s); err != nil || timeout <= 0 {
			return nil, fmt.Errorf("GATEWAY_STATE_TIMEOUT: want a duration like 500ms, got %q", s)
		}
	}
	log := o.Logger.With("state_store", kind)

	st := &State{Backend: kind}
	open, ok := backends[kind]
	if !ok {
		return nil, fmt.Errorf("state store %q: want memory, embedded, dynamodb, firestore or redis", kind)
	}
	b, err := open(ctx, params{cfg: cfg, platform: o.Platform, env: env, log: log, retention: retention})
	if err != nil {
		return nil, err
	}
	st.Spend, st.close = b.spend, b.close
	st.Store = guard.New(b.store, guard.Options{Backend: kind, FailClosed: failClosed, Timeout: timeout, Logger: log, Observer: o.StoreObserver})
	log.Info("state store ready", "fail_closed", failClosed, "spend_retention", retention.String())
	return st, nil
}

// Choose names the backend cfg, the environment and the platform select.
func Choose(cfg *config.Config, platform string, getenv func(string) string) string {
	if getenv != nil {
		if v := strings.ToLower(strings.TrimSpace(getenv("GATEWAY_STATE_STORE"))); v != "" {
			return v
		}
	}
	if cfg.General.StateStore != "" {
		return cfg.General.StateStore
	}
	if cfg.Router.RedisHost != "" || cfg.Router.RedisURL != "" {
		return Redis
	}
	switch platform {
	case PlatformLambda:
		return DynamoDB
	case PlatformCloudRun:
		return Firestore
	case PlatformLibrary:
		return Memory
	}
	return Embedded
}

// NewRecorder returns the spend recorder for the platform: on Lambda a
// synchronous one (the instance freezes when the handler returns), else a
// batching one. Call close on shutdown (SIGTERM) to flush.
func NewRecorder(platform string, s spend.Store, log *slog.Logger) (rec spend.Recorder, closeFn func(context.Context) error) {
	if platform == PlatformLambda {
		r := spend.NewSyncRecorder(s, spend.SyncOptions{Logger: log})
		return r, r.Close
	}
	r := spend.NewBatchRecorder(s, spend.BatchOptions{Logger: log})
	return r, r.Close
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func isTrue(s string) bool {
	b, _ := strconv.ParseBool(s)
	return b
}

// retentionOf reads a retention period: the environment's, else LiteLLM's
// maximum_spend_logs_retention_period. "30d", "2w", "12h" or a Go duration.
func retentionOf(env string, cfgVal any) (time.Duration, error) {
	s := env
	name := "GATEWAY_SPEND_RETENTION"
	if s == "" {
		switch v := cfgVal.(type) {
		case nil:
			return 0, nil
		case string:
			s = v
		case int:
			s = strconv.Itoa(v) + "s"
		default:
			return 0, fmt.Errorf("general_settings.maximum_spend_logs_retention_period: want a period like \"30d\"")
		}
		name = "general_settings.maximum_spend_logs_retention_period"
	}
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "" {
		return 0, nil
	}
	mult := map[byte]time.Duration{'d': 24 * time.Hour, 'w': 7 * 24 * time.Hour}
	if m, ok := mult[s[len(s)-1]]; ok {
		n, err := strconv.Atoi(s[:len(s)-1])
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%s: want a period like \"30d\", got %q", name, s)
		}
		return time.Duration(n) * m, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, errors.New(name + ": want a period like \"30d\" or \"12h\", got \"" + s + "\"")
	}
	return d, nil
}

// Recorder is NewRecorder tuned to the opened backend: the local ones
// (embedded, memory) take batches of up to 1000 records, since each batch is
// one file commit (an fsync) whatever its size; remote stores keep the
// recorder's default batch.
func (s *State) Recorder(platform string, log *slog.Logger) (spend.Recorder, func(context.Context) error) {
	if platform != PlatformLambda && (s.Backend == Embedded || s.Backend == Memory) {
		r := spend.NewBatchRecorder(s.Spend, spend.BatchOptions{Logger: log, BatchSize: 1000})
		return r, r.Close
	}
	return NewRecorder(platform, s.Spend, log)
}
