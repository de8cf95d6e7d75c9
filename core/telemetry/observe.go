package telemetry

import (
	"context"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/claude-gateway/claude-gateway/core/logging"
	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/claude-gateway/claude-gateway/core/server"
)

var (
	_ server.Observer = (*Telemetry)(nil)
	_ router.Observer = (*Telemetry)(nil)
)

// Start continues the client's traceparent (if any) in a server span for
// the request. With tracing off it returns ctx as is, costing nothing.
func (t *Telemetry) Start(ctx context.Context, r *http.Request) context.Context {
	if t.traces == nil {
		return ctx
	}
	ctx = t.prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
	ctx, _ = t.tracer.Start(ctx, r.Method+" "+r.URL.Path, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path)))
	return ctx
}

// Finish records the request's metrics and ends its span. After a label
// combination's first request it allocates nothing.
func (t *Telemetry) Finish(ctx context.Context, c server.Call) {
	errType := c.ErrorType
	if errType == "" {
		errType = "none"
	}
	group := c.ModelGroup
	if group == "" {
		group = "unknown" // no group matched: never the client's raw model string
	}
	s := t.sets.call(callKey{api: c.API, group: group, deployment: orNone(c.DeploymentID), provider: system(c.Provider),
		region: orNone(c.Region), status: class(c.Status), errType: errType})
	s.requests.Add(1)
	s.duration.record(c.EndTime.Sub(c.StartTime).Seconds())
	if c.Status < 400 && c.TTFT > 0 {
		s.ttft.record(c.TTFT.Seconds())
	}
	if c.DeploymentID != "" {
		s.ovh.record(c.Overhead.Seconds())
	}
	for i, n := range [4]int64{c.InputTokens, c.OutputTokens, c.CacheReadInputTokens, c.CacheCreationInputTokens} {
		if n > 0 {
			s.tokens[i].record(float64(n))
		}
	}
	if c.Cost > 0 {
		addFloat(&s.costBits, c.Cost)
	}
	s.retries.Add(int64(c.Retries))
	s.fallbacks.Add(int64(c.Fallbacks))
	t.recordPrincipal(&c, group)
	if t.emf != nil {
		t.emf.write(c, logging.RequestID(ctx), group, orNone(c.DeploymentID), class(c.Status))
	}
	if t.traces != nil {
		t.endRequestSpan(ctx, c)
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// endRequestSpan sets the request span's attributes (the spend record's
// fields minus anything secret) and ends it.
func (t *Telemetry) endRequestSpan(ctx context.Context, c server.Call) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(
		attribute.String("gen_ai.operation.name", "chat"), attribute.String("gateway.api", c.API),
		attribute.String("gen_ai.request.model", c.RequestedModel), attribute.String("gateway.model_group", c.ModelGroup),
		attribute.String("gateway.deployment", c.DeploymentID), attribute.String("gen_ai.system", system(c.Provider)),
		attribute.String("gateway.call_id", c.CallID), attribute.Int("http.response.status_code", c.Status),
		attribute.Int("gateway.upstream_status", c.UpstreamStatus), attribute.Int("gateway.retries", c.Retries),
		attribute.Int("gateway.fallbacks", c.Fallbacks), attribute.Bool("gateway.stream", c.Stream),
		attribute.Int64("gen_ai.usage.input_tokens", c.InputTokens), attribute.Int64("gen_ai.usage.output_tokens", c.OutputTokens),
		attribute.Float64("gateway.cost_usd", c.Cost),
	)
	if c.ErrorType != "" {
		span.SetAttributes(attribute.String("error.type", c.ErrorType))
		if c.Status >= 500 {
			span.SetStatus(codes.Error, c.ErrorType)
		}
	}
	span.End(trace.WithTimestamp(c.EndTime))
}

// AttemptStart opens a client span for an upstream attempt (tracing on only).
func (t *Telemetry) AttemptStart(ctx context.Context, d *router.Deployment, n int) context.Context {
	if t.traces == nil {
		return ctx
	}
	ctx, _ = t.tracer.Start(ctx, "attempt "+d.ID(), trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("gateway.deployment", d.ID()), attribute.String("gen_ai.request.model", d.Config.ModelName),
		attribute.String("gen_ai.system", system(d.Config.Params.Provider)), attribute.String("cloud.region", d.Region()),
		attribute.Int("gateway.attempt", n)))
	return ctx
}

// AttemptEnd counts the attempt and ends its span.
func (t *Telemetry) AttemptEnd(ctx context.Context, d *router.Deployment, status int, failure string) {
	t.sets.attempt(attemptKey{deployment: d, status: status, failure: failure}).n.Add(1)
	if t.traces == nil {
		return
	}
	span := trace.SpanFromContext(ctx)
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if failure != "" {
		span.SetAttributes(attribute.String("error.type", failure), attribute.String("gateway.retry_reason", failure))
		span.SetStatus(codes.Error, failure+" "+strconv.Itoa(status))
	}
	span.End()
}

// CooledDown counts a cooldown.
func (t *Telemetry) CooledDown(d *router.Deployment, reason string) {
	t.inst.cooldowns.Add(context.Background(), 1, metric.WithAttributes(requestModel.String(d.Config.ModelName),
		deploymentKey.String(d.ID()), genAISystem.String(system(d.Config.Params.Provider)), reasonKey.String(reason)))
}
