// Command localharness serves the Lambda build of the gateway on a local
// port the way a function URL with InvokeMode RESPONSE_STREAM does: each HTTP
// request becomes a function URL event for the real bootstrap binary, which
// runs under a loopback fake of the Lambda Runtime API
// (functions/lambda/runtimeapi), and the streamed response is relayed as it
// arrives. Unlike the AWS Runtime Interface Emulator (which buffers), it
// shows streaming as Lambda does it. `make lambda-local` runs it.
//
// Instances scale like Lambda's: one invocation at a time each, a new one
// (a cold start, logged with its timing) when all are busy, up to -max.
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
	"path/filepath"
	"syscall"
	"time"

	"github.com/claude-gateway/claude-gateway/core/logging"
	"github.com/claude-gateway/claude-gateway/functions/lambda/runtimeapi"
)

func main() { os.Exit(run()) }

func run() int {
	port := os.Getenv("PORT")
	if port == "" {
		port = "9000"
	}
	bootstrap := flag.String("bootstrap", "bin/lambda-local/bootstrap", "the bootstrap binary (built for this machine)")
	config := flag.String("config", "", "config file for the function (sets GATEWAY_CONFIG; default: config.yaml beside the bootstrap, as on Lambda)")
	mode := flag.String("mode", runtimeapi.FormatFunctionURL, "function-url (streaming) or apigw-v2 (API Gateway HTTP API, buffered)")
	flag.StringVar(&port, "port", port, "port to serve on (both IPv4 and IPv6)")
	max := flag.Int("max", 4, "most instances at once (Lambda concurrency)")
	timeout := flag.Duration("timeout", 900*time.Second, "function timeout")
	flag.Parse()
	log := logging.New(os.Stderr, logging.ParseLevel(os.Getenv("LOG_LEVEL")))

	if *mode != runtimeapi.FormatFunctionURL && *mode != runtimeapi.FormatAPIGatewayV2 {
		fmt.Fprintln(os.Stderr, "localharness: -mode must be function-url or apigw-v2")
		return 2
	}
	bin, err := filepath.Abs(*bootstrap)
	if err != nil {
		fmt.Fprintln(os.Stderr, "localharness:", err)
		return 1
	}
	env := []string{"GATEWAY_LAMBDA_MODE=" + *mode}
	if os.Getenv("GATEWAY_STATE_STORE") == "" {
		// On Lambda the default store is DynamoDB; locally there is none, and
		// the pool's instances cannot share one embedded file.
		env = append(env, "GATEWAY_STATE_STORE=memory")
	}
	if *config != "" {
		abs, err := filepath.Abs(*config)
		if err != nil {
			fmt.Fprintln(os.Stderr, "localharness:", err)
			return 1
		}
		env = append(env, "GATEWAY_CONFIG="+abs)
	}
	pool := &runtimeapi.Pool{
		Max: *max,
		Options: runtimeapi.Options{
			Bootstrap: bin,
			// Local use wants the shell's AWS credentials and GATEWAY_MASTER_KEY.
			InheritEnv: true,
			Env:        env,
			Timeout:    *timeout,
			Stdout:     os.Stdout,
			Stderr:     os.Stderr,
		},
		OnColdStart: func(t runtimeapi.Timing) {
			log.Info("cold start", "init_ms", ms(t.InitDone.Sub(t.Started)), "first_response_ms", ms(t.FirstResponse.Sub(t.Started)))
		},
	}
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "localharness:", err)
		return 1
	}
	srv := &http.Server{Handler: &runtimeapi.Bridge{Pool: pool, Format: *mode, Log: log}, ReadHeaderTimeout: 30 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	log.Info("serving the Lambda bootstrap as a function URL", "url", "http://localhost:"+port, "mode", *mode, "bootstrap", bin)
	select {
	case err := <-done:
		if !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "localharness:", err)
		}
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	pool.Close()
	return 0
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
