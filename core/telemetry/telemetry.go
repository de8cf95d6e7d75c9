// Package telemetry is the gateway's one set of instruments, on the
// OpenTelemetry Go SDK: metrics named after the OpenTelemetry GenAI semantic
// conventions (gen_ai.*) plus gateway.* for what they do not cover, served as
// Prometheus text on GET /metrics and exported over OTLP/HTTP when the
// standard OTEL_EXPORTER_OTLP_* variables are set; and traces (a span per
// request, a child span per upstream attempt) continuing the client's W3C
// traceparent.
//
// It implements server.Observer and router.Observer, so neither of those
// packages imports the SDK. Exporters run in the background: the request
// path only adds to in-memory aggregates (see Telemetry.Finish).
package telemetry

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/exemplar"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/claude-gateway/claude-gateway/core/router"
)

// Options configure Telemetry. Every field is optional.
type Options struct {
	// Getenv reads OTEL_EXPORTER_OTLP_* (nil: none are set, no OTLP).
	Getenv func(string) string
	Logger *slog.Logger
	// ServiceName names the resource (default "claude-gateway").
	ServiceName string
	// EMF, if set, receives one CloudWatch Embedded Metric Format line per
	// request (Lambda: os.Stdout).
	EMF io.Writer
}

// Telemetry holds the meter and tracer providers and the instruments.
// Its methods are safe for concurrent use.
type Telemetry struct {
	log     *slog.Logger
	meters  *sdkmetric.MeterProvider
	traces  *sdktrace.TracerProvider // nil: tracing off
	tracer  trace.Tracer
	prop    propagation.TextMapPropagator
	metrics http.Handler // GET /metrics; nil in a noprometheus build
	inst    instruments
	sets    setCache
	emf     *emfWriter
	otlp    bool // some signal is exported over OTLP
}

// otlpSet reports whether the OTLP variables ask for signal ("TRACES" or "METRICS").
func otlpSet(getenv func(string) string, signal string) bool {
	if getenv("OTEL_"+signal+"_EXPORTER") == "none" {
		return false
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_"+signal+"_ENDPOINT") != ""
}

// New builds the providers. Nothing is sent anywhere at start (exporters
// connect on their first export, in the background).
func New(ctx context.Context, opts Options) (*Telemetry, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	t := &Telemetry{log: opts.Logger, prop: propagation.TraceContext{}}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if opts.EMF != nil {
		t.emf = &emfWriter{w: opts.EMF}
	}
	t.otlp = otlpSet(getenv, "METRICS") || otlpSet(getenv, "TRACES")
	name := opts.ServiceName
	if name == "" {
		name = "claude-gateway"
	}
	res := resource.NewSchemaless(serviceName.String(name))

	prod := producer{sets: &t.sets, start: time.Now()}
	mopts := []sdkmetric.Option{
		sdkmetric.WithResource(res),
		// Exemplars would cost the hot path allocations.
		sdkmetric.WithExemplarFilter(exemplar.AlwaysOffFilter),
	}
	promReader, metrics, err := newPrometheus(prod)
	if err != nil {
		return nil, err
	}
	if promReader != nil {
		mopts = append(mopts, sdkmetric.WithReader(promReader))
		t.metrics = metrics
	}
	if otlpSet(getenv, "METRICS") {
		exp, err := newOTLPMetricExporter(ctx)
		if err != nil {
			return nil, err
		}
		mopts = append(mopts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithProducer(prod))))
	}
	t.meters = sdkmetric.NewMeterProvider(mopts...)
	if err := t.inst.init(t.meters.Meter(scope)); err != nil {
		return nil, err
	}

	t.tracer = noop.NewTracerProvider().Tracer(scope)
	if otlpSet(getenv, "TRACES") {
		exp, err := newOTLPTraceExporter(ctx)
		if err != nil {
			return nil, err
		}
		t.traces = sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithBatcher(exp))
		t.tracer = t.traces.Tracer(scope)
	}
	return t, nil
}

// scope names the instrumentation scope.
const scope = "github.com/claude-gateway/claude-gateway/core/telemetry"

// Handler serves the metrics in Prometheus text format; nil in a build
// without Prometheus (the noprometheus tag: the Lambda build, whose metrics
// go out as EMF).
func (t *Telemetry) Handler() http.Handler { return t.metrics }

// Tracing reports whether spans are recorded and exported.
func (t *Telemetry) Tracing() bool { return t.traces != nil }

// Flush exports what is pending (Lambda calls it before the handler returns).
func (t *Telemetry) Flush(ctx context.Context) error {
	err := t.meters.ForceFlush(ctx)
	if t.traces != nil {
		err = errors.Join(err, t.traces.ForceFlush(ctx))
	}
	return err
}

// Shutdown flushes and stops the exporters.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	err := t.meters.Shutdown(ctx)
	if t.traces != nil {
		err = errors.Join(err, t.traces.Shutdown(ctx))
	}
	return err
}

// ObserveRouter adds the deployment-state gauges (cooling down, in flight,
// rpm/tpm use and limits), read from rt when metrics are collected, never
// on the request path.
func (t *Telemetry) ObserveRouter(rt *router.Router) error {
	return t.inst.observeRouter(t.meters.Meter(scope), rt, &t.sets)
}

// propagating injects the attempt span's traceparent into upstream requests.
type propagating struct {
	next http.RoundTripper
	prop propagation.TextMapPropagator
}

func (p propagating) RoundTrip(req *http.Request) (*http.Response, error) {
	if sc := trace.SpanContextFromContext(req.Context()); sc.IsValid() {
		req = req.Clone(req.Context()) // a RoundTripper must not change its request
		p.prop.Inject(req.Context(), propagation.HeaderCarrier(req.Header))
	}
	return p.next.RoundTrip(req)
}

// Transport wraps next (nil: http.DefaultTransport) so upstream requests
// carry the W3C traceparent of the attempt that makes them. It is for
// upstreams that accept the header (the Anthropic API); with tracing off
// it returns next unchanged.
func (t *Telemetry) Transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	if t.traces == nil {
		return next
	}
	return propagating{next: next, prop: t.prop}
}

// FlushAfter wraps h so that, when OTLP export is on, what each request
// produced is exported before h's invocation ends (within budget): a
// Lambda instance freezes once its handler returns. The client already has
// its whole response by then. Without OTLP it returns h.
func (t *Telemetry) FlushAfter(h http.Handler, budget time.Duration) http.Handler {
	if !t.otlp {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), budget)
		defer cancel()
		if err := t.Flush(ctx); err != nil {
			t.log.Warn("telemetry flush", "error", err.Error())
		}
	})
}
