// Package otlprelay takes the OTLP/HTTP telemetry Claude Code sends to its
// gateway (POST /v1/metrics, /v1/logs, /v1/traces; protobuf or JSON), stamps
// the signed-in user on every resource, and relays it to the operator's
// collectors. The client is always answered 200 at once (a 404 makes its
// exporter log an error on every flush); delivery happens from a bounded
// queue on a background goroutine, never on the request's path. With no
// destination configured, exports are dropped and counted.
package otlprelay

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/claude-gateway/claude-gateway/core/llm"
)

// Destination is one collector: URL is its base; the signal's path
// (/v1/metrics, ...) is appended. Headers carry its credentials.
type Destination struct {
	URL     string
	Headers map[string]string
}

// Authenticate admits an export and returns the resource attributes that
// name its sender (enduser.id, user.email, user.groups...).
type Authenticate func(r *http.Request) (map[string]string, *llm.Error)

// Options tune a Relay.
type Options struct {
	Logger *slog.Logger
	// Client posts to the destinations (nil: a client with a 10 s timeout).
	Client *http.Client
	// QueueSize bounds the exports waiting for delivery (default 256);
	// past it new exports are dropped and counted.
	QueueSize int
	// MaxBodyBytes caps one export (default 4 MiB, decompressed).
	MaxBodyBytes int64
	// FlushOnReturn delivers what is queued before the handler returns
	// (Lambda: the instance freezes once the handler is done). The client
	// already has its 200 by then.
	FlushOnReturn time.Duration
}

// Relay is the handler and its delivery queue.
type Relay struct {
	dests   []Destination
	client  *http.Client
	log     *slog.Logger
	auth    Authenticate
	maxBody int64
	flushOn time.Duration

	queue   chan export
	pending atomic.Int64 // queued or being delivered
	stop    chan struct{}
	done    chan struct{}

	received, delivered, dropped, failed atomic.Int64
}

type export struct {
	path        string
	body        []byte
	contentType string
}

// New starts a Relay's delivery goroutine; Close stops it.
func New(dests []Destination, auth Authenticate, o Options) *Relay {
	r := &Relay{dests: dests, client: o.Client, log: o.Logger, auth: auth, maxBody: o.MaxBodyBytes, flushOn: o.FlushOnReturn,
		stop: make(chan struct{}), done: make(chan struct{})}
	if r.client == nil {
		r.client = &http.Client{Timeout: 10 * time.Second}
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.maxBody <= 0 {
		r.maxBody = 4 << 20
	}
	size := o.QueueSize
	if size <= 0 {
		size = 256
	}
	r.queue = make(chan export, size)
	go r.deliverLoop()
	return r
}

// Stats counts exports: received, delivered (to every destination),
// dropped (queue full or no destination) and failed (a destination refused
// or was unreachable).
type Stats struct {
	Received  int64 `json:"received"`
	Delivered int64 `json:"delivered"`
	Dropped   int64 `json:"dropped"`
	Failed    int64 `json:"failed"`
}

// Stats returns the counters.
func (r *Relay) Stats() Stats {
	return Stats{r.received.Load(), r.delivered.Load(), r.dropped.Load(), r.failed.Load()}
}

// Routes are the three OTLP paths.
func (r *Relay) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		"POST /v1/metrics": r.handler(signalMetrics),
		"POST /v1/logs":    r.handler(signalLogs),
		"POST /v1/traces":  r.handler(signalTraces),
	}
}

type signal int

const (
	signalMetrics signal = iota
	signalLogs
	signalTraces
)

func (r *Relay) handler(sig signal) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		attrs, e := r.auth(req)
		if e != nil {
			if e.ShouldRetry != "" {
				w.Header().Set("x-should-retry", e.ShouldRetry)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(e.Status)
			_, _ = w.Write(e.JSON())
			return
		}
		r.received.Add(1)
		asJSON := strings.HasPrefix(req.Header.Get("Content-Type"), "application/json")
		out, err := r.stamp(req, sig, asJSON, attrs)
		if err != nil {
			// Still 200: a client cannot fix a payload we fail to read, and
			// an error would make it log on every flush.
			r.log.Warn("otlp relay: export not readable; dropped", "path", req.URL.Path, "error", err)
			r.dropped.Add(1)
		} else {
			r.enqueue(export{path: req.URL.Path, body: out, contentType: req.Header.Get("Content-Type")})
		}
		respond(w, asJSON)
		if r.flushOn > 0 {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(req.Context()), r.flushOn)
			defer cancel()
			_ = r.Flush(ctx)
		}
	})
}

// respond writes an empty Export*ServiceResponse (the same bytes for all
// three signals) in the request's encoding.
func respond(w http.ResponseWriter, asJSON bool) {
	if asJSON {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("{}"))
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

func (r *Relay) enqueue(x export) {
	if len(r.dests) == 0 {
		r.dropped.Add(1)
		return
	}
	r.pending.Add(1)
	select {
	case r.queue <- x:
	default:
		r.pending.Add(-1)
		if r.dropped.Add(1)%100 == 1 {
			r.log.Warn("otlp relay queue full; dropping exports", "dropped", r.dropped.Load())
		}
	}
}

// stamp decodes the export, adds attrs to every resource and encodes it
// again in the same format (uncompressed).
func (r *Relay) stamp(req *http.Request, sig signal, asJSON bool, attrs map[string]string) ([]byte, error) {
	var body io.Reader = http.MaxBytesReader(nil, req.Body, r.maxBody)
	if strings.EqualFold(req.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		body = io.LimitReader(zr, r.maxBody+1)
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) > r.maxBody {
		return nil, errors.New("export over the size cap")
	}
	msg, resources := newMessage(sig)
	if asJSON {
		err = protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(raw, msg)
	} else {
		err = proto.Unmarshal(raw, msg)
	}
	if err != nil {
		return nil, err
	}
	for _, res := range resources() {
		addAttrs(res, attrs)
	}
	if asJSON {
		return protojson.Marshal(msg)
	}
	return proto.Marshal(msg)
}

// newMessage returns the signal's request message and a function listing
// its resources (created where missing, so every batch gets the user).
// MetricsData, LogsData and TracesData are, on the wire and in JSON, the
// collector's Export*ServiceRequest messages (one repeated field 1 of the
// same resource messages); the collector packages would link gRPC for their
// service stubs, which a relay of OTLP/HTTP does not need.
func newMessage(sig signal) (proto.Message, func() []*resourcepb.Resource) {
	switch sig {
	case signalMetrics:
		m := &metricspb.MetricsData{}
		return m, func() []*resourcepb.Resource {
			out := make([]*resourcepb.Resource, 0, len(m.ResourceMetrics))
			for _, rm := range m.ResourceMetrics {
				if rm.Resource == nil {
					rm.Resource = &resourcepb.Resource{}
				}
				out = append(out, rm.Resource)
			}
			return out
		}
	case signalLogs:
		m := &logspb.LogsData{}
		return m, func() []*resourcepb.Resource {
			out := make([]*resourcepb.Resource, 0, len(m.ResourceLogs))
			for _, rl := range m.ResourceLogs {
				if rl.Resource == nil {
					rl.Resource = &resourcepb.Resource{}
				}
				out = append(out, rl.Resource)
			}
			return out
		}
	}
	m := &tracepb.TracesData{}
	return m, func() []*resourcepb.Resource {
		out := make([]*resourcepb.Resource, 0, len(m.ResourceSpans))
		for _, rs := range m.ResourceSpans {
			if rs.Resource == nil {
				rs.Resource = &resourcepb.Resource{}
			}
			out = append(out, rs.Resource)
		}
		return out
	}
}

// addAttrs sets attrs on res, replacing any the client sent under the same
// names: the gateway's word on who sent it wins over the client's.
func addAttrs(res *resourcepb.Resource, attrs map[string]string) {
	kept := res.Attributes[:0]
	for _, kv := range res.Attributes {
		if _, ours := attrs[kv.Key]; !ours {
			kept = append(kept, kv)
		}
	}
	res.Attributes = kept
	for k, v := range attrs {
		res.Attributes = append(res.Attributes, &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}})
	}
}

func (r *Relay) deliverLoop() {
	defer close(r.done)
	for {
		select {
		case x := <-r.queue:
			r.deliver(x)
			r.pending.Add(-1)
		case <-r.stop:
			return
		}
	}
}

func (r *Relay) deliver(x export) {
	ok := true
	for _, d := range r.dests {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL+x.path, bytes.NewReader(x.body))
		if err != nil {
			cancel()
			ok = false
			continue
		}
		req.Header.Set("Content-Type", x.contentType)
		for k, v := range d.Headers {
			req.Header.Set(k, v)
		}
		resp, err := r.client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				err = errors.New(resp.Status)
			}
		}
		cancel()
		if err != nil {
			ok = false
			r.log.Warn("otlp relay delivery failed", "path", x.path, "error", err)
		}
	}
	if ok {
		r.delivered.Add(1)
	} else {
		r.failed.Add(1)
	}
}

// Flush waits until every queued export has been delivered (or ctx ends).
func (r *Relay) Flush(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for r.pending.Load() > 0 {
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Close flushes within ctx, then stops the delivery goroutine.
func (r *Relay) Close(ctx context.Context) error {
	err := r.Flush(ctx)
	close(r.stop)
	<-r.done
	return err
}
