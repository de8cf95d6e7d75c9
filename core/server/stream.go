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
	"github.com/tidwall/gjson"
)

// writeBufs recycles the per-stream event buffers.
var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// eventWriter serialises writes to the client: the relay loop writes events,
// and a keep-alive timer writes pings when the upstream is silent.
type eventWriter struct {
	mu   sync.Mutex
	w    http.ResponseWriter
	rc   *http.ResponseController
	buf  []byte
	gone bool
	last atomic.Int64 // monotonic nanoseconds of the last write
	// stopped is set just before message_stop is written: nothing may
	// follow it but the stream's own end, so keep-alive pings stop there.
	stopped atomic.Bool
	epoch   time.Time
}

// write encodes one upstream event with enc and sends it, flushed. It
// reports false once the client is gone. An event that encodes to nothing
// (an OpenAI stream has no chunk for some Anthropic events) writes nothing.
func (ew *eventWriter) write(enc func([]byte) []byte) bool { return ew.send(enc, true) }

// send is write with the flush optional: the relay skips it while the next
// upstream event is already at hand, and flushes before it would wait.
func (ew *eventWriter) send(enc func([]byte) []byte, flush bool) bool {
	ew.mu.Lock()
	defer ew.mu.Unlock()
	if ew.gone {
		return false
	}
	ew.buf = enc(ew.buf[:0])
	if len(ew.buf) == 0 {
		return true
	}
	if _, err := ew.w.Write(ew.buf); err != nil {
		ew.gone = true
		return false
	}
	if flush {
		// The lambdaurl writer has no Flush but writes through; ignore ErrNotSupported.
		_ = ew.rc.Flush()
		ew.last.Store(int64(time.Since(ew.epoch)))
	}
	return true
}

// keepAlive sends ping whenever nothing was written for interval, until stop is called.
func (ew *eventWriter) keepAlive(interval time.Duration, ping []byte) (stop func()) {
	pingEnc := func(dst []byte) []byte {
		if ew.stopped.Load() { // read under ew.mu, so never after message_stop
			return dst
		}
		return append(dst, ping...)
	}
	var t *time.Timer
	var mu sync.Mutex
	stopped := false
	var tick func()
	tick = func() {
		idle := time.Since(ew.epoch) - time.Duration(ew.last.Load())
		wait := interval - idle
		if wait <= 0 {
			if !ew.write(pingEnc) {
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
		stopped = true
		t.Stop()
		mu.Unlock()
		// A tick already running may be about to ping: once the handler
		// returns, the ResponseWriter is recycled, so close the writer under
		// its lock (waiting out a ping in progress) and later pings do nothing.
		ew.mu.Lock()
		ew.gone = true
		ew.mu.Unlock()
	}
}

// streamEncoder turns upstream Anthropic events into the client's wire format.
type streamEncoder interface {
	// event appends the encoding of one upstream event (possibly nothing).
	event(dst []byte, ev llm.Event) []byte
	// fail appends a final error in the stream's own shape.
	fail(dst []byte, e *llm.Error) []byte
	// end appends what closes a complete stream (possibly nothing).
	end(dst []byte) []byte
	// ping is the keep-alive written while the upstream is silent.
	ping() []byte
	contentType() string
}

// anthropicSSE relays events unchanged: the Messages API's own format.
type anthropicSSE struct{}

var pingBytes = sse.Append(nil, sse.PingEvent)

func (anthropicSSE) event(dst []byte, ev llm.Event) []byte { return sse.Append(dst, ev) }
func (anthropicSSE) end(dst []byte) []byte                 { return dst }
func (anthropicSSE) ping() []byte                          { return pingBytes }
func (anthropicSSE) contentType() string                   { return "text/event-stream; charset=utf-8" }
func (anthropicSSE) fail(dst []byte, e *llm.Error) []byte {
	if len(e.Body) > 0 && gjson.GetBytes(e.Body, "type").String() == "error" {
		return sse.Append(dst, llm.Event{Type: "error", Data: e.Body})
	}
	return sse.Append(dst, sse.ErrorEvent(e.Type, e.Message))
}

// writeStream relays upstream events to the client as they arrive: one write
// and one flush per event, a ping whenever the upstream is silent for the
// ping interval, and a final error in the stream's shape if the upstream
// fails or ends without message_stop, so a client never mistakes a truncated
// answer for a whole one. Memory stays constant: one event in flight.
//
// Reading happens on the handler's goroutine (no hand-off per event); the
// keep-alive is a timer that only wakes when the stream has been idle.
func (s *Server) writeStream(ctx context.Context, w http.ResponseWriter, c *call, st llm.Stream, enc streamEncoder) {
	defer st.Close()
	h := w.Header()
	hs := headerSetter{h: h, vals: make([]string, 0, 3)}
	hs.set("Content-Type", enc.contentType())
	hs.set("Cache-Control", "no-cache")
	hs.set("X-Accel-Buffering", "no")
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
	stop := ew.keepAlive(s.opts.PingInterval, enc.ping())
	defer stop()

	buffered, _ := st.(llm.Buffered)
	first, stopped := true, false
	for {
		ev, err := st.Next(ctx)
		if err != nil {
			s.endStream(ctx, c, err, stopped, ew, enc)
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
			ew.stopped.Store(true)
		case "error":
			c.errType = gjson.GetBytes(ev.Data, "error.type").String()
		}
		flush := buffered == nil || !buffered.Buffered()
		if !ew.send(func(dst []byte) []byte { return enc.event(dst, ev) }, flush) {
			c.gone = true
			return
		}
		if ev.Type == "error" {
			// An upstream error event ends the stream (nothing follows it
			// in Anthropic's protocol): stop here rather than add a second
			// "ended before message_stop" error that would also overwrite
			// the upstream's error type in the spend record.
			return
		}
	}
}

// endStream closes a stream whose upstream ended or failed.
func (s *Server) endStream(ctx context.Context, c *call, err error, stopped bool, ew *eventWriter, enc streamEncoder) {
	if errors.Is(err, io.EOF) {
		if stopped {
			ew.write(enc.end)
			return
		}
		c.errType = llm.ErrAPI
		ew.write(func(dst []byte) []byte {
			return enc.fail(dst, &llm.Error{Status: 502, Type: llm.ErrAPI, Message: "upstream stream ended before message_stop"})
		})
		return
	}
	le := endedBy(ctx)
	if le == nil && ctx.Err() != nil {
		c.gone = true
		return
	}
	if le == nil && !errors.As(err, &le) {
		le = &llm.Error{Status: 502, Type: llm.ErrAPI, Message: "upstream stream failed"}
	}
	c.errType = le.Type
	if ctx.Err() != nil {
		s.log.WarnContext(ctx, "stream ended by the runtime's deadline", "call_id", c.id, "error", le.Message)
	} else {
		s.log.WarnContext(ctx, "upstream failed mid-stream", "call_id", c.id, "error", err.Error())
	}
	ew.write(func(dst []byte) []byte { return enc.fail(dst, le) })
}
