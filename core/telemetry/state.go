package telemetry

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/spend"
	"github.com/claude-gateway/claude-gateway/core/store/guard"
)

var _ guard.Observer = (*Telemetry)(nil)

var (
	storeBackend = attribute.Key("gateway.state_store.backend")
	storeOp      = attribute.Key("gateway.state_store.operation")
	storeOutcome = attribute.Key("gateway.state_store.outcome")
)

// storeBuckets: a state store answers in a fraction of a millisecond
// (memory) to tens of milliseconds (a remote database); the guard cuts
// at a second.
var storeBuckets = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2}

type storeKey struct{ backend, op, outcome string }

type storeStats struct {
	attrs attribute.Set
	dur   *hist
}

// StoreOp implements guard.Observer: one histogram point per state store
// operation, by backend, operation and outcome (so errors and skipped
// calls are its counts with outcome "error" and "skipped").
func (t *Telemetry) StoreOp(backend, op, outcome string, elapsed time.Duration) {
	k := storeKey{backend, op, outcome}
	t.sets.mu.RLock()
	s := t.sets.stores[k]
	t.sets.mu.RUnlock()
	if s == nil {
		s = t.sets.newStore(k)
	}
	s.dur.record(elapsed.Seconds())
}

func (c *setCache) newStore(k storeKey) *storeStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.stores[k]; s != nil {
		return s
	}
	if c.stores == nil {
		c.stores = map[storeKey]*storeStats{}
	}
	s := &storeStats{attrs: attribute.NewSet(storeBackend.String(k.backend), storeOp.String(k.op), storeOutcome.String(k.outcome)), dur: newHist(storeBuckets)}
	c.stores[k] = s
	return s
}

func storeMetrics(stats []*storeStats, start, now time.Time) metricdata.Metrics {
	h := metricdata.Histogram[float64]{Temporality: metricdata.CumulativeTemporality}
	for _, s := range stats {
		h.DataPoints = append(h.DataPoints, s.dur.point(s.attrs, start, now))
	}
	return metricdata.Metrics{Name: "gateway.state_store.operation.duration", Unit: "s",
		Description: "State store operations (rate windows, cooldowns, affinity) by backend, operation and outcome (ok, error, skipped).", Data: h}
}

// ObserveSpend adds the spend recorder's gauges, read from stats when
// metrics are collected: records queued for the store, written, retried
// and unsaved (logged as spend_record_unsaved instead).
func (t *Telemetry) ObserveSpend(stats func() spend.Stats) error {
	m := t.meters.Meter(scope)
	queued, err := m.Int64ObservableGauge("gateway.spend.records.queued", metric.WithUnit("{record}"),
		metric.WithDescription("Spend records buffered, not yet in the store."))
	if err != nil {
		return err
	}
	counter := func(name, desc string) metric.Int64ObservableCounter {
		c, e := m.Int64ObservableCounter(name, metric.WithUnit("{record}"), metric.WithDescription(desc))
		if e != nil && err == nil {
			err = e
		}
		return c
	}
	written := counter("gateway.spend.records.written", "Spend records the store took.")
	retried := counter("gateway.spend.records.retries", "Spend store writes retried.")
	unsaved := counter("gateway.spend.records.unsaved", "Spend records the store did not take (each logged as spend_record_unsaved).")
	if err != nil {
		return err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := stats()
		o.ObserveInt64(queued, int64(s.Buffered))
		o.ObserveInt64(written, s.Written)
		o.ObserveInt64(retried, s.Retries)
		o.ObserveInt64(unsaved, s.Unsaved)
		return nil
	}, queued, written, retried, unsaved)
	return err
}

// CredentialsFailed returns the hook a provider calls when it cannot
// fetch or refresh d's upstream credentials (AWS credentials, a Google
// access token); each call counts one gateway.upstream.credential_failures.
func (t *Telemetry) CredentialsFailed(d config.Deployment) func(error) {
	set := metric.WithAttributeSet(attribute.NewSet(requestModel.String(d.ModelName), deploymentKey.String(d.ID),
		genAISystem.String(system(d.Params.Provider))))
	// Zero from the start, so the series exists before the first failure
	// (rate() and increase() need it).
	t.inst.credFailures.Add(context.Background(), 0, set)
	return func(error) { t.inst.credFailures.Add(context.Background(), 1, set) }
}
