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

// writeBufs recycles event encoding buffers. A buffer is taken for one
// write and returned right after it, so an idle stream holds none (a
// thousand open streams would otherwise hold a thousand idle buffers).
var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// maxPooledBuf bounds a buffer kept in writeBufs: one huge event's buffer
// is left to the collector rather than kept around.
const maxPooledBuf = 64 << 10

// eventWriter serialises writes to the client: the relay loop writes events,
// and a keep-alive timer writes pings when the upstream is silent.
type eventWriter struct {
	mu   sync.Mutex
	w    http.ResponseWriter
	rc   *http.ResponseController
	gone bool
	// unflushed is set while written bytes wait for a flush.
	unflushed bool
	last      atomic.Int64 // monotonic nanoseconds of the last write
	// stopped is set just before message_stop is written: nothing may
	// follow it but the stream's own end, so keep-alive pings stop there.
	stopped atomic.Bool
	epoch   time.Time

	// The keep-alive (keepAlive): its timer, under tmu.
	interval time.Duration
	ping     []byte
	tmu      sync.Mutex
	t        *time.Timer
	tstopped bool
}

// write encodes one upstream event with enc and sends it, flushed. It
// reports false once the client is gone. An event that encodes to nothing
// (an OpenAI stream has no chunk for some Anthropic events) writes nothing.
func (ew *eventWriter) write(enc func([]byte) []byte) bool { return ew.send(enc, true) }

// send is write with the flush optional: the relay skips it while the next
// upstream event is already at hand, and flushes before it would wait.
func (ew *eventWriter) send(enc func([]byte) []byte, flush bool) bool {
	if !ew.put(enc) {
		return false
	}
	return !flush || ew.flush()
}

// put encodes and writes, unflushed.
func (ew *eventWriter) put(enc func([]byte) []byte) bool {
	ew.mu.Lock()
	defer ew.mu.Unlock()
	if ew.gone {
		return false
	}
	bufp := writeBufs.Get().(*[]byte)
	buf := enc((*bufp)[:0])
	var err error
	if len(buf) > 0 {
		_, err = ew.w.Write(buf)
	}
	if cap(buf) <= maxPooledBuf {
		*bufp = buf[:0]
		writeBufs.Put(bufp)
	}
	if err != nil {
		ew.gone = true
		return false
	}
	ew.unflushed = ew.unflushed || len(buf) > 0
	return true
}

// flush sends what put wrote. An event that encoded to nothing still
// flushes what an earlier unflushed event left: the relay is about to wait
// on the upstream. The first flush writes the response headers, net/http's
// deepest frames: it is called from the relay directly, not from put.
func (ew *eventWriter) flush() bool {
	ew.mu.Lock()
	defer ew.mu.Unlock()
	if ew.gone {
		return false
	}
	if ew.unflushed {
		ew.unflushed = false
		// The lambdaurl writer has no Flush but writes through; ignore ErrNotSupported.
		_ = ew.rc.Flush()
		ew.last.Store(int64(time.Since(ew.epoch)))
	}
	return true
}

// putEvent is put for one upstream event. Not inlined, so that the
// encoding closure is not on the relay's frame when it flushes (see flush).
//
//go:noinline
func (ew *eventWriter) putEvent(enc streamEncoder, ev llm.Event) bool {
	return ew.put(func(dst []byte) []byte { return enc.event(dst, ev) })
}

// keepAlive starts the pings: one whenever nothing was written for
// interval, until stopKeepAlive. Its state lives in the eventWriter and the
// timer re-arms itself, so a stream's keep-alive costs one timer and no
// closures.
func (ew *eventWriter) keepAlive(interval time.Duration, ping []byte) {
	ew.interval, ew.ping = interval, ping
	ew.tmu.Lock()
	ew.t = time.AfterFunc(interval, ew.tick)
	ew.tmu.Unlock()
}

// tick runs on the timer: a ping if the stream was idle for the interval,
// then the timer re-armed for the rest of the next interval.
func (ew *eventWriter) tick() {
	idle := time.Since(ew.epoch) - time.Duration(ew.last.Load())
	wait := ew.interval - idle
	if wait <= 0 {
		if !ew.write(ew.pingEvent) {
			return
		}
		wait = ew.interval
	}
	ew.tmu.Lock()
	defer ew.tmu.Unlock()
	if !ew.tstopped {
		ew.t.Reset(wait)
	}
}

// pingEvent encodes a ping, or nothing once message_stop went out (it is
// read under ew.mu, so never after it).
func (ew *eventWriter) pingEvent(dst []byte) []byte {
	if ew.stopped.Load() {
		return dst
	}
	return append(dst, ew.ping...)
}

// stopKeepAlive stops the pings for good.
func (ew *eventWriter) stopKeepAlive() {
	ew.tmu.Lock()
	ew.tstopped = true
	if ew.t != nil {
		ew.t.Stop()
	}
	ew.tmu.Unlock()
	// A tick already running may be about to ping: once the handler
	// returns, the ResponseWriter is recycled, so close the writer under
	// its lock (waiting out a ping in progress) and later pings do nothing.
	ew.mu.Lock()
	ew.gone = true
	ew.mu.Unlock()
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
// answer for a whole one. Memory stays constant: one event in flight, and
// no buffer held while the stream is idle.
//
// Reading happens on the handler's goroutine (no hand-off per event); the
// keep-alive is a timer that only wakes when the stream has been idle. The
// frames below the read stay on that goroutine's stack for the stream's
// life, so the loop (relay) is kept apart from the set-up and the rare
// endings, and each of them small.
func (s *Server) writeStream(ctx context.Context, w http.ResponseWriter, c *call, st llm.Stream, enc streamEncoder) {
	defer st.Close()
	ew := startStream(w, c, enc)
	ew.keepAlive(s.opts.PingInterval, enc.ping())
	defer ew.stopKeepAlive()
	if err := s.relay(ctx, c, st, ew, enc); err != nil {
		s.endStream(ctx, c, err, ew, enc)
	}
	c.gone = c.gone || ew.gone
}

// startStream commits the response: status and stream headers.
func startStream(w http.ResponseWriter, c *call, enc streamEncoder) *eventWriter {
	h := w.Header()
	hs := headerSetter{h: h, vals: make([]string, 0, 3)}
	hs.set("Content-Type", enc.contentType())
	hs.set("Cache-Control", "no-cache")
	hs.set("X-Accel-Buffering", "no")
	c.status = 200
	w.WriteHeader(http.StatusOK)
	return &eventWriter{w: w, rc: http.NewResponseController(w), epoch: time.Now()}
}

// relay copies events until the stream ends: nil when it ended here (an
// upstream error event relayed, or the client gone), else the error that
// ended the upstream (io.EOF for a clean end) for endStream.
func (s *Server) relay(ctx context.Context, c *call, st llm.Stream, ew *eventWriter, enc streamEncoder) error {
	buffered, _ := st.(llm.Buffered)
	first := true
	for {
		ev, err := st.Next(ctx)
		if err != nil {
			return err
		}
		if first {
			ev = rewriteModel(ev, c.req.Model)
			c.ttfb = time.Since(c.start)
			first = false
		}
		c.usage.ObserveEvent(ev)
		switch ev.Type {
		case "message_stop":
			c.stopped = true
			ew.stopped.Store(true)
		case "error":
			c.errType = errorType(ev)
		}
		if !ew.putEvent(enc, ev) || (buffered == nil || !buffered.Buffered()) && !ew.flush() {
			c.gone = true
			return nil
		}
		if ev.Type == "error" {
			// An upstream error event ends the stream (nothing follows it
			// in Anthropic's protocol): stop here rather than add a second
			// "ended before message_stop" error that would also overwrite
			// the upstream's error type in the spend record.
			return nil
		}
	}
}

// errorType is an upstream error event's error.type.
func errorType(ev llm.Event) string { return gjson.GetBytes(ev.Data, "error.type").String() }

// endStream closes a stream whose upstream ended or failed.
func (s *Server) endStream(ctx context.Context, c *call, err error, ew *eventWriter, enc streamEncoder) {
	if errors.Is(err, io.EOF) {
		if c.stopped {
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
