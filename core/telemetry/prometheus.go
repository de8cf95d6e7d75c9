//go:build !noprometheus

package telemetry

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// newPrometheus is the reader behind GET /metrics and its handler, on a
// registry of its own (not the client library's global one).
func newPrometheus(prod producer) (sdkmetric.Reader, http.Handler, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(), otelprom.WithProducer(prod))
	if err != nil {
		return nil, nil, err
	}
	return exp, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), nil
}
