// Command lambda is the gateway as an AWS Lambda function: build it as
// `bootstrap` (CGO_ENABLED=0, -tags lambda.norpc) for the provided.al2023
// runtime.
//
// By default it serves a Lambda function URL with InvokeMode RESPONSE_STREAM
// through lambdaurl, so SSE events reach the client as the upstream produces
// them. GATEWAY_LAMBDA_MODE=apigw-v2 serves API Gateway HTTP API (payload
// format 2.0) events instead, through aws-lambda-go-api-proxy: buffered, the
// whole response returned at the end, since API Gateway HTTP APIs do not
// stream (and cut requests at 30 s). That mode also suits a function URL left
// in BUFFERED invoke mode.
//
// Init (once per cold start) reads the config and master key the same way
// functions/cloudrun does (core/configsource): GATEWAY_CONFIG, else
// GATEWAY_CONFIG_SSM_PARAMETER / GATEWAY_CONFIG_SECRET_ARN, else config.yaml
// next to the binary (LAMBDA_TASK_ROOT); the key from
// GATEWAY_MASTER_KEY_SECRET_ARN or GATEWAY_MASTER_KEY_SSM_PARAMETER.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-lambda-go/lambdaurl"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/claude-gateway/claude-gateway/core/awsconfigsource"
	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/configsource"
	"github.com/claude-gateway/claude-gateway/core/deadlinemargin"
	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/claude-gateway/claude-gateway/core/logging"
	"github.com/claude-gateway/claude-gateway/core/recovery"
	"github.com/claude-gateway/claude-gateway/core/store/selector"
)

// Event modes selected by GATEWAY_LAMBDA_MODE.
const (
	modeFunctionURL  = "function-url"
	modeAPIGatewayV2 = "apigw-v2"
)

// shutdownBudget fits Lambda's shutdown phase (500 ms with an internal
// extension registered) with room for the process to exit.
const shutdownBudget = 400 * time.Millisecond

func main() { os.Exit(run()) }

func run() int {
	start := time.Now()
	// CloudWatch Logs' fields: level, requestId (see withRequestID).
	log := logging.NewWith(os.Stdout, logging.Options{Level: logging.ParseLevel(os.Getenv("LOG_LEVEL")), Format: logging.Lambda})
	ctx := context.Background()

	mode := os.Getenv("GATEWAY_LAMBDA_MODE")
	if mode == "" {
		mode = modeFunctionURL
	}
	if mode != modeFunctionURL && mode != modeAPIGatewayV2 {
		log.Error("GATEWAY_LAMBDA_MODE must be " + modeFunctionURL + " or " + modeAPIGatewayV2)
		return 2
	}
	loaded, err := configsource.Load(ctx, configsource.Options{
		DefaultPath: defaultConfigPath(),
		NewFetcher: func(ctx context.Context) (configsource.Fetcher, error) {
			return awsconfigsource.New(ctx)
		},
	})
	if err != nil {
		log.Error("init: " + err.Error())
		return 1
	}
	// The function URL has AuthType NONE: the master key is the only lock.
	if loaded.Config.MasterKey() == "" {
		log.Error("init: no master key: set GATEWAY_MASTER_KEY_SECRET_ARN or GATEWAY_MASTER_KEY_SSM_PARAMETER " +
			"(or master_key in the config); refusing to serve a public URL without one")
		return 1
	}
	gw, err := gateway.Build(ctx, loaded.Config, gateway.Options{Logger: log, Getenv: loaded.Getenv, Platform: selector.PlatformLambda, EMF: os.Stdout})
	if err != nil {
		log.Error("init: " + err.Error())
		return 1
	}
	margin, err := deadlineMargin(loaded.Config, loaded.Getenv)
	if err != nil {
		log.Error("init: " + err.Error())
		return 1
	}
	// Each request ends margin before the invocation's deadline, answered
	// with a timeout error rather than cut by Lambda; its spend record, the
	// router's state writes and OTLP (if configured) are flushed before the
	// invocation ends, since the instance freezes after it.
	handler := withRequestID(deadlinemargin.Handler(recovery.Handler(gw, log),
		deadlinemargin.Options{Margin: margin, Flush: gw.Flush, Logger: log}))
	// Lambda sends SIGTERM before it retires an instance only if an
	// extension is registered; this registers the library's internal one so
	// buffered state (spend records) is flushed instead of lost.
	onSIGTERM := lambda.WithEnableSIGTERM(func() {
		cctx, cancel := context.WithTimeout(context.Background(), shutdownBudget)
		defer cancel()
		code := 0
		if err := gw.Close(cctx); err != nil {
			log.Error("shutdown: closing gateway", "error", err.Error())
			code = 1
		}
		log.Info("shutdown")
		// The library only runs this callback; without an exit the instance
		// would idle until Lambda's SIGKILL.
		os.Exit(code)
	})
	log.Info("lambda init done", "mode", mode, "deadline_margin_ms", margin.Milliseconds(), "config", loaded.Source, "master_key_from", loaded.MasterKeySource,
		"deployments", len(loaded.Config.Deployments), "init_ms", float64(time.Since(start).Microseconds())/1000)

	switch mode {
	case modeAPIGatewayV2:
		lambda.StartWithOptions(httpadapter.NewV2(handler).ProxyWithContext, onSIGTERM)
	default:
		lambdaurl.Start(handler, onSIGTERM)
	}
	// Neither Start returns: the library exits the process if the Runtime API goes away.
	fmt.Fprintln(os.Stderr, "lambda runtime loop ended")
	return 1
}

// withRequestID puts the invocation's AWS request id in each request's
// context, so its log lines and EMF line carry requestId.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if lc, ok := lambdacontext.FromContext(r.Context()); ok && lc.AwsRequestID != "" {
			r = r.WithContext(logging.WithRequestID(r.Context(), lc.AwsRequestID))
		}
		next.ServeHTTP(w, r)
	})
}

// deadlineMargin is GATEWAY_LAMBDA_DEADLINE_MARGIN (seconds or a duration),
// else general_settings.lambda_deadline_margin, else the default.
func deadlineMargin(cfg *config.Config, getenv func(string) string) (time.Duration, error) {
	if v := getenv("GATEWAY_LAMBDA_DEADLINE_MARGIN"); v != "" {
		m, err := deadlinemargin.ParseMargin(v)
		if err != nil {
			return 0, fmt.Errorf("GATEWAY_LAMBDA_DEADLINE_MARGIN: %w", err)
		}
		return m, nil
	}
	if cfg.General.LambdaDeadlineMarginSet {
		return cfg.General.LambdaDeadlineMargin, nil
	}
	return deadlinemargin.DefaultMargin, nil
}

// defaultConfigPath is config.yaml beside the binary: LAMBDA_TASK_ROOT on
// Lambda (where the deployment package is unpacked), else the executable's
// directory.
func defaultConfigPath() string {
	if root := os.Getenv("LAMBDA_TASK_ROOT"); root != "" {
		return filepath.Join(root, "config.yaml")
	}
	return configsource.BesideExecutable()
}
