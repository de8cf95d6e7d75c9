//go:build noprometheus

package telemetry

import (
	"net/http"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// newPrometheus in a build with the noprometheus tag: no Prometheus client
// and no GET /metrics (the Lambda bootstrap's default: a scrape would reach
// whichever instance the function URL routes it to, and the client's package
// initialisation costs every cold start ~0.7 ms). Metrics go out as EMF or OTLP.
func newPrometheus(producer) (sdkmetric.Reader, http.Handler, error) { return nil, nil, nil }
