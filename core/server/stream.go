package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/sse"
)

// next is one result of reading the upstream.
type next struct {
	ev  llm.Event
	err error
}

// writeStream relays upstream events to the client as they arrive: one write
// and one flush per event, a ping whenever the upstream is silent for the
// ping interval, and a final Anthropic error event if the upstream fails or
// ends without message_stop. Memory stays constant: one event in flight.
func (s *Server) writeStream(ctx context.Context, w http.ResponseWriter, c *call, st llm.Stream) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	c.status = 200
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	// The lambdaurl writer has no Flush but writes through; ignore ErrNotSupported.
	flush := func() { _ = rc.Flush() }

	// A reader goroutine lets the writer send pings while the upstream is silent.
	ctx, cancel := context.WithCancel(ctx)
	events := make(chan next)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			ev, err := st.Next(ctx)
			select {
			case events <- next{ev, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		cancel()
		<-done
		st.Close()
	}()

	ping := time.NewTimer(s.opts.PingInterval)
	defer ping.Stop()
	buf := make([]byte, 0, 4096)
	write := func(ev llm.Event) bool {
		buf = sse.Append(buf[:0], ev)
		if _, err := w.Write(buf); err != nil {
			c.gone = true
			return false
		}
		flush()
		return true
	}
	first, stopped := true, false
	for {
		select {
		case <-ctx.Done():
			c.gone = true
			return
		case <-ping.C:
			if !write(sse.PingEvent) {
				return
			}
			ping.Reset(s.opts.PingInterval)
		case n := <-events:
			if n.err != nil {
				s.endStream(ctx, c, n.err, stopped, write)
				return
			}
			ev := n.ev
			if first {
				ev = rewriteModel(ev, c.req.Model)
				c.ttfb = time.Since(c.start)
				first = false
			}
			c.usage.ObserveEvent(ev)
			if ev.Type == "message_stop" {
				stopped = true
			}
			if ev.Type == "error" {
				c.errType = llm.ErrAPI
			}
			if !write(ev) {
				return
			}
			if !ping.Stop() {
				select {
				case <-ping.C:
				default:
				}
			}
			ping.Reset(s.opts.PingInterval)
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
