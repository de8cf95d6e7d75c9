//go:build nootlp

package telemetry

import (
	"context"
	"errors"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// errNoOTLP refuses OTEL_EXPORTER_OTLP_* settings in a build without the
// exporters rather than dropping the signals silently.
var errNoOTLP = errors.New("OTLP export is not in this build (built with -tags nootlp): " +
	"unset OTEL_EXPORTER_OTLP_* (or set OTEL_TRACES_EXPORTER=none and OTEL_METRICS_EXPORTER=none), or rebuild without nootlp")

func newOTLPMetricExporter(context.Context) (sdkmetric.Exporter, error) { return nil, errNoOTLP }

func newOTLPTraceExporter(context.Context) (sdktrace.SpanExporter, error) { return nil, errNoOTLP }
