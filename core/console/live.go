package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// The deployments page's live view is a server-sent event stream
// (text/event-stream): one "deployments" event at once and one every
// streamTick, each the whole view (a few KB), so a reconnecting browser
// needs no replay. A stream ends after StreamLifetime with an "end" event
// and the browser's EventSource reconnects (after the "retry" delay): a
// Lambda invocation, billed while it streams and capped at 15 minutes,
// never stays open for long, and a session that expired or was revoked
// meets the check again on reconnect.
const (
	streamTick            = 2 * time.Second
	defaultStreamLifetime = 2 * time.Minute
	streamRetry           = 2 * time.Second
)

// Per-instance bounds on open streams: per session (tabs of one browser)
// and in all.
const (
	maxStreamsPerSession = 3
	maxStreams           = 200
)

// streamLimit counts open streams by session nonce.
type streamLimit struct {
	mu    sync.Mutex
	open  map[string]int
	total int
}

var errTooManyStreams = errors.New("too many live streams")

// acquire takes a slot for session id; release gives it back.
func (l *streamLimit) acquire(id string) (release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open == nil {
		l.open = map[string]int{}
	}
	if l.open[id] >= maxStreamsPerSession || l.total >= maxStreams {
		return nil, errTooManyStreams
	}
	l.open[id]++
	l.total++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.total--
			if l.open[id]--; l.open[id] <= 0 {
				delete(l.open, id)
			}
		})
	}, nil
}

// deploymentStream serves the live deployments view to an admin session.
func (c *Console) deploymentStream(w http.ResponseWriter, r *http.Request) {
	ss := sessionFrom(r.Context())
	release, err := c.live.acquire(ss.Nonce)
	if err != nil {
		w.Header().Set("Retry-After", "10")
		writeError(w, http.StatusTooManyRequests, "rate_limit_error",
			fmt.Sprintf("at most %d live streams per session; close a tab (the page falls back to polling)", maxStreamsPerSession))
		return
	}
	defer release()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	send := func(event string, v any) bool {
		b, _ := json.Marshal(v)
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return false
		}
		// Lambda's response writer has no Flush but writes straight through.
		if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return false
		}
		return true
	}
	fmt.Fprintf(w, "retry: %d\n\n", streamRetry.Milliseconds())
	ctx, cancel := context.WithTimeout(r.Context(), c.o.StreamLifetime)
	defer cancel()
	tick := time.NewTicker(streamTick)
	defer tick.Stop()
	for {
		v, err := c.deploymentsView(ctx)
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			c.o.Logger.Error("console: spend store", "path", r.URL.Path, "error", err)
			v = map[string]any{"error": "spend store unavailable; retrying"}
		}
		if !send("deployments", v) {
			return
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
			if c.o.Now().Unix() < ss.Expires {
				continue
			}
		}
		break
	}
	if r.Context().Err() == nil {
		send("end", map[string]any{"reconnect": true})
	}
}
