// Command cloudrun serves the gateway over HTTP: the Cloud Run container's
// entry point and the local server. It reads the config (-config FILE or
// GATEWAY_CONFIG), listens on PORT (default 4000) on IPv4 and IPv6, and on
// SIGTERM drains in-flight streams before exiting 0.
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
	"syscall"
	"time"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/claude-gateway/claude-gateway/core/logging"
)

// drainTimeout fits Cloud Run's 10 s between SIGTERM and SIGKILL.
const drainTimeout = 9 * time.Second

func main() { os.Exit(run()) }

func run() int {
	start := time.Now()
	configPath := flag.String("config", os.Getenv("GATEWAY_CONFIG"), "path to the LiteLLM-style config.yaml (or set GATEWAY_CONFIG)")
	flag.Parse()
	if *configPath == "" {
		fmt.Fprintln(os.Stderr, "gateway: no config: pass -config FILE or set GATEWAY_CONFIG")
		return 2
	}
	cfg, err := config.LoadFile(*configPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		return 1
	}
	log := logging.New(os.Stdout, logging.ParseLevel(os.Getenv("LOG_LEVEL")))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	gw, err := gateway.Build(ctx, cfg, gateway.Options{Logger: log, Getenv: os.Getenv})
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
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		return 1
	}
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "deployments", len(cfg.Deployments),
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
