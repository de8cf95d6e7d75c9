package telemetry

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/claude-gateway/claude-gateway/core/router"
)

// Attribute keys: the GenAI semantic conventions where they apply, gateway.* otherwise.
const (
	serviceName   = attribute.Key("service.name")
	opName        = attribute.Key("gen_ai.operation.name")
	genAISystem   = attribute.Key("gen_ai.system")
	requestModel  = attribute.Key("gen_ai.request.model") // the model group: bounded by the config
	tokenType     = attribute.Key("gen_ai.token.type")
	errorType     = attribute.Key("error.type")
	cloudRegion   = attribute.Key("cloud.region")
	apiKey        = attribute.Key("gateway.api")
	deploymentKey = attribute.Key("gateway.deployment")
	statusClass   = attribute.Key("gateway.status_class")
	reasonKey     = attribute.Key("gateway.reason")
)

// Bucket boundaries: seconds for LLM latencies (up to minutes), powers of
// four for tokens (the conventions' advice).
var (
	secondsBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256}
	overheadBucket = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}
	tokenBuckets   = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304}
)

// instruments are the SDK instruments for events off the per-request
// path's budget (cooldowns); per-request aggregates are in
// aggregate.go.
type instruments struct {
	cooldowns    metric.Int64Counter // gateway.deployment.cooldowns
	credFailures metric.Int64Counter // gateway.upstream.credential_failures
}

func (in *instruments) init(m metric.Meter) error {
	var err error
	in.cooldowns, err = m.Int64Counter("gateway.deployment.cooldowns", metric.WithUnit("{cooldown}"),
		metric.WithDescription("Times a deployment started cooling down, by reason."))
	if err != nil {
		return err
	}
	in.credFailures, err = m.Int64Counter("gateway.upstream.credential_failures", metric.WithUnit("{failure}"),
		metric.WithDescription("Failed fetches or refreshes of a deployment's upstream credentials (AWS credentials, Google access tokens)."))
	return err
}

// observeRouter registers the deployment-state gauges.
func (in *instruments) observeRouter(m metric.Meter, rt *router.Router, sets *setCache) error {
	gauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		g, _ := m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		return g
	}
	cooling := gauge("gateway.deployment.cooling_down", "", "1 while the deployment cools down, else 0.")
	inFlight := gauge("gateway.deployment.in_flight", "{request}", "Requests this instance has open on the deployment.")
	rpmUsed := gauge("gateway.deployment.rpm.used", "{request}", "Requests in the current minute's window (where limits are enforced).")
	rpmLimit := gauge("gateway.deployment.rpm.limit", "{request}", "The deployment's rpm limit (0: none).")
	tpmUsed := gauge("gateway.deployment.tpm.used", "{token}", "Tokens in the current minute's window (where counted).")
	tpmLimit := gauge("gateway.deployment.tpm.limit", "{token}", "The deployment's tpm limit (0: none).")
	pins := gauge("gateway.deployment.session_pins", "{session}", "Conversations this instance has pinned to the deployment (session affinity).")
	_, err := m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		for _, h := range rt.Health(ctx) {
			set := metric.WithAttributeSet(attribute.NewSet(requestModel.String(h.Group), deploymentKey.String(h.ID),
				genAISystem.String(system(h.Provider)), cloudRegion.String(h.Region)))
			c := int64(0)
			if !h.Healthy {
				c = 1
			}
			o.ObserveInt64(cooling, c, set)
			o.ObserveInt64(inFlight, h.InFlight, set)
			o.ObserveInt64(rpmUsed, h.RPMUsed, set)
			o.ObserveInt64(rpmLimit, h.RPM, set)
			o.ObserveInt64(tpmUsed, h.TPMUsed, set)
			o.ObserveInt64(tpmLimit, h.TPM, set)
			o.ObserveInt64(pins, h.SessionPins, set)
		}
		return nil
	}, cooling, inFlight, rpmUsed, rpmLimit, tpmUsed, tpmLimit, pins)
	return err
}

// system maps a LiteLLM provider name to gen_ai.system.
func system(provider string) string {
	switch provider {
	case "bedrock":
		return "aws.bedrock"
	case "vertex_ai":
		return "gcp.vertex_ai"
	case "":
		return "none"
	}
	return provider
}

// class names an HTTP status's class ("2xx"...; "none" for no answer).
func class(status int) string {
	if status < 100 || status > 599 {
		return "none"
	}
	return classNames[status/100-1]
}

var classNames = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// callKey is what a request's labels are made of: every field takes one
// of a bounded set of values (config names, fixed vocabularies).
type callKey struct {
	api, group, deployment, provider, region, status, errType string
}

// attemptKey labels one attempt.
type attemptKey struct {
	deployment *router.Deployment
	status     int
	failure    string
}

// setCache maps label combinations to their precomputed options.
type setCache struct {
	mu         sync.RWMutex
	calls      map[callKey]*callStats
	attempts   map[attemptKey]*attemptStats
	principals map[principalKey]*principalStats
	stores     map[storeKey]*storeStats
}

var tokenTypes = [4]string{"input", "output", "cache_read", "cache_creation"}

func (c *setCache) call(k callKey) *callStats {
	c.mu.RLock()
	s := c.calls[k]
	c.mu.RUnlock()
	if s != nil {
		return s
	}
	base := []attribute.KeyValue{opName.String("chat"), apiKey.String(k.api), requestModel.String(k.group),
		deploymentKey.String(k.deployment), genAISystem.String(k.provider), cloudRegion.String(k.region)}
	s = newCallStats()
	s.depAttrs = attribute.NewSet(base[1:]...)
	s.attrs = attribute.NewSet(append(base[:len(base):len(base)], statusClass.String(k.status), errorType.String(k.errType))...)
	for i, tt := range tokenTypes {
		s.tokenAttrs[i] = attribute.NewSet(append(base[:len(base):len(base)], tokenType.String(tt))...)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev := c.calls[k]; prev != nil {
		return prev
	}
	if c.calls == nil {
		c.calls = map[callKey]*callStats{}
	}
	c.calls[k] = s
	return s
}

// attemptStats counts one attempt label combination.
type attemptStats struct {
	attrs attribute.Set
	n     atomic.Int64
}

func (c *setCache) attempt(k attemptKey) *attemptStats {
	c.mu.RLock()
	s := c.attempts[k]
	c.mu.RUnlock()
	if s != nil {
		return s
	}
	d := k.deployment
	failure := k.failure
	if failure == "" {
		failure = "none"
	}
	s = &attemptStats{attrs: attribute.NewSet(requestModel.String(d.Config.ModelName),
		deploymentKey.String(d.ID()), genAISystem.String(system(d.Config.Params.Provider)), cloudRegion.String(d.Region()),
		statusClass.String(class(k.status)), attribute.Key("http.response.status_code").String(strconv.Itoa(k.status)), errorType.String(failure))}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev := c.attempts[k]; prev != nil {
		return prev
	}
	if c.attempts == nil {
		c.attempts = map[attemptKey]*attemptStats{}
	}
	c.attempts[k] = s
	return s
}
