// Command cloudrun serves the gateway over HTTP: the Cloud Run container's
// entry point and the local server. It reads the config (-config FILE or
// GATEWAY_CONFIG, or the SSM / Secrets Manager variables functions/lambda
// reads, else config.yaml beside the binary: see core/configsource), listens on PORT (default 4000) on IPv4 and
// IPv6, and on SIGTERM drains in-flight streams before exiting 0. It writes
// nothing to disk, so it runs on a read-only file system as any user.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/claude-gateway/claude-gateway/core/awsconfigsource"
	"github.com/claude-gateway/claude-gateway/core/bodydeadline"
	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/configsource"
	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/claude-gateway/claude-gateway/core/logging"
	"github.com/claude-gateway/claude-gateway/core/recovery"
	"github.com/claude-gateway/claude-gateway/core/slowconn"
	"github.com/claude-gateway/claude-gateway/core/store/selector"
)

// drainTimeout fits Cloud Run's 10 s between SIGTERM and SIGKILL.
const drainTimeout = 9 * time.Second

// Slow clients: headers must arrive within headerTimeout and a body within
// bodyTimeout of its headers (a 40 MiB body at ~1 MB/s), so connections
// trickling bytes are closed instead of piling up; answers stream unbounded.
const (
	headerTimeout = 10 * time.Second
	bodyTimeout   = 60 * time.Second
)

func main() { os.Exit(run()) }

func run() int {
	start := time.Now()
	configPath := flag.String("config", "", "path to the LiteLLM-style config.yaml (or set GATEWAY_CONFIG)")
	flag.Parse()
	// Cloud Logging's fields; the project names each line's trace.
	log := logging.NewWith(os.Stdout, logging.Options{Level: logging.ParseLevel(os.Getenv("LOG_LEVEL")), ProjectID: logging.ProjectFromEnv(os.Getenv)})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	// The same variables as on Lambda: one environment configures both.
	loaded, err := configsource.Load(ctx, configsource.Options{
		Path:        *configPath,
		DefaultPath: configsource.BesideExecutable(),
		NewFetcher: func(ctx context.Context) (configsource.Fetcher, error) {
			return awsconfigsource.New(ctx)
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		return 1
	}
	cfg := loaded.Config
	platform := selector.PlatformLocal
	if os.Getenv("K_SERVICE") != "" { // set by Cloud Run
		platform = selector.PlatformCloudRun
	}
	gw, err := gateway.Build(ctx, cfg, gateway.Options{Logger: log, Getenv: loaded.Getenv, Platform: platform})
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		return 1
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "4000"
	}
	// ":port" listens on every address of both families, so "localhost"
	// (::1 first for Node clients such as Claude Code) works too.
	// Plain TCP: Go's listeners try Multipath TCP first, whose socket set-up
	// cost ~0.2 ms of every cold start here, for clients (Cloud Run's front
	// end, loopback) that never use it.
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(ctx, "tcp", ":"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		return 1
	}
	if addr := os.Getenv("GATEWAY_PPROF_ADDR"); addr != "" {
		// Profiling for operators and benchmarks, on its own (loopback) listener only.
		servePprof(addr, log)
	}
	maxSlow, err := maxSlowConnections(cfg, loaded.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		return 1
	}
	// At most maxSlow connections still sending their request at once; past
	// it the oldest is closed. Answers, once the request is in, are never cut.
	slow := slowconn.New(maxSlow)
	handler := slow.Handler(bodydeadline.Handler(recovery.Handler(logging.Traced(gw), log), bodyTimeout))
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: headerTimeout, IdleTimeout: 120 * time.Second,
		ConnState: slow.ConnState, ConnContext: slow.ConnContext}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(slow.Listen(ln)) }()
	log.Info("listening", "addr", ln.Addr().String(), "max_slow_connections", slow.Stats().Max, "config", loaded.Source, "deployments", len(cfg.Deployments),
		"startup_ms", float64(time.Since(start).Microseconds())/1000)

	select {
	case err := <-serveErr:
		log.Error("server stopped", "error", err.Error())
		return 1
	case <-ctx.Done():
	}
	log.Info("shutting down: draining in-flight requests", "timeout_s", drainTimeout.Seconds())
	dctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	code := 0
	if err := srv.Shutdown(dctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("drain incomplete", "error", err.Error())
		srv.Close()
	}
	if err := gw.Close(dctx); err != nil {
		log.Error("closing gateway", "error", err.Error())
		code = 1
	}
	log.Info("stopped")
	return code
}

// maxSlowConnections is GATEWAY_MAX_SLOW_CONNECTIONS, else
// general_settings.max_slow_connections, else slowconn.DefaultMax.
func maxSlowConnections(cfg *config.Config, getenv func(string) string) (int, error) {
	if v := getenv("GATEWAY_MAX_SLOW_CONNECTIONS"); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("GATEWAY_MAX_SLOW_CONNECTIONS: want a positive number of connections, got %q", v)
		}
		return n, nil
	}
	if n := cfg.General.MaxSlowConnections; n > 0 {
		return n, nil
	}
	return slowconn.DefaultMax, nil
}
