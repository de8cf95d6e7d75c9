package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/sse"
)

// writeBufs recycles the per-stream event buffers.
var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// eventWriter serialises writes to the client: the relay loop writes events,
// and a keep-alive timer writes pings when the upstream is silent.
type eventWriter struct {
	mu    sync.Mutex
	w     http.ResponseWriter
	rc    *http.ResponseController
	buf   []byte
	gone  bool
	last  atomic.Int64 // monotonic nanoseconds of the last write
	epoch time.Time
}

// write sends one event and flushes it. It reports false once the client is gone.
func (ew *eventWriter) write(ev llm.Event) bool {
	ew.mu.Lock()
	defer ew.mu.Unlock()
	if ew.gone {
		return false
	}
	ew.buf = sse.Append(ew.buf[:0], ev)
	if _, err := ew.w.Write(ew.buf); err != nil {
		ew.gone = true
		return false
	}
	// The lambdaurl writer has no Flush but writes through; ignore ErrNotSupported.
	_ = ew.rc.Flush()
	ew.last.Store(int64(time.Since(ew.epoch)))
	return true
}

// keepAlive sends a ping whenever nothing was written for interval, until stop is called.
func (ew *eventWriter) keepAlive(interval time.Duration) (stop func()) {
	var t *time.Timer
	var mu sync.Mutex
	stopped := false
	var tick func()
	tick = func() {
		idle := time.Since(ew.epoch) - time.Duration(ew.last.Load())
		wait := interval - idle
		if wait <= 0 {
			if !ew.write(sse.PingEvent) {
				return
			}
			wait = interval
		}
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			t = time.AfterFunc(wait, tick)
		}
	}
	mu.Lock()
	t = time.AfterFunc(interval, tick)
	mu.Unlock()
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		t.Stop()
	}
}

// writeStream relays upstream events to the client as they arrive: one write
// and one flush per event, a ping whenever the upstream is silent for the
// ping interval, and a final Anthropic error event if the upstream fails or
// ends without message_stop. Memory stays constant: one event in flight.
//
// Reading happens on the handler's goroutine (no hand-off per event); the
// keep-alive is a timer that only wakes when the stream has been idle.
func (s *Server) writeStream(ctx context.Context, w http.ResponseWriter, c *call, st llm.Stream) {
	defer st.Close()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	c.status = 200
	w.WriteHeader(http.StatusOK)
	bufp := writeBufs.Get().(*[]byte)
	ew := &eventWriter{w: w, rc: http.NewResponseController(w), buf: (*bufp)[:0], epoch: time.Now()}
	defer func() {
		if cap(ew.buf) <= 64<<10 { // don't keep one huge event's buffer around
			*bufp = ew.buf[:0]
			writeBufs.Put(bufp)
		}
	}()
	stop := ew.keepAlive(s.opts.PingInterval)
	defer stop()

	first, stopped := true, false
	for {
		ev, err := st.Next(ctx)
		if err != nil {
			s.endStream(ctx, c, err, stopped, ew.write)
			c.gone = c.gone || ew.gone
			return
		}
		if first {
			ev = rewriteModel(ev, c.req.Model)
			c.ttfb = time.Since(c.start)
			first = false
		}
		c.usage.ObserveEvent(ev)
		switch ev.Type {
		case "message_stop":
			stopped = true
		case "error":
			c.errType = llm.ErrAPI
		}
		if !ew.write(ev) {
			c.gone = true
			return
		}
	}
}

// endStream closes a stream whose upstream ended or failed. A clean end
// after message_stop needs nothing; anything else gets an error event so the
// client never mistakes a truncated answer for a whole one.
func (s *Server) endStream(ctx context.Context, c *call, err error, stopped bool, write func(llm.Event) bool) {
	if errors.Is(err, io.EOF) {
		if stopped {
			return
		}
		c.errType = llm.ErrAPI
		write(sse.ErrorEvent(llm.ErrAPI, "upstream stream ended before message_stop"))
		return
	}
	if ctx.Err() != nil {
		c.gone = true
		return
	}
	var le *llm.Error
	if !errors.As(err, &le) {
		le = &llm.Error{Type: llm.ErrAPI, Message: "upstream stream failed"}
	}
	c.errType = le.Type
	s.log.Warn("upstream failed mid-stream", "call_id", c.id, "error", err.Error())
	if len(le.Body) > 0 {
		write(llm.Event{Type: "error", Data: le.Body})
		return
	}
	write(sse.ErrorEvent(le.Type, le.Message))
}
