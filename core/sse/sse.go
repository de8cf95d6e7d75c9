// Package sse reads and writes server-sent events as the Anthropic API uses
// them: "event: <name>\ndata: <json>\n\n". The reader holds one event at a
// time, so memory per stream is bounded by the largest single event.
package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/tidwall/gjson"
)

// MaxEventBytes bounds one event; a larger one is an upstream protocol error.
const MaxEventBytes = 16 << 20

// Reader parses events from an upstream SSE body. It reads into a small
// buffer of its own and takes a larger one from a pool only for an event
// that does not fit, giving it back as soon as everything read has been
// parsed: an idle stream (an upstream thinking, a client's long tool run)
// holds no pooled buffer while it waits, so a thousand open streams hold a
// thousand small buffers, not a thousand big ones.
type Reader struct {
	src io.Reader
	// buf is small[:] or the pooled *big; the unread bytes are buf[r:w].
	buf   []byte
	big   *[]byte
	r, w  int
	err   error // the read error to report once buf is drained
	small [smallBufSize]byte
	// state guards the pooled buffer's return: Close may run while a Next
	// is blocked on the network (a stream closed to unblock its read), and
	// the buffer goes back only once no Next holds it.
	state atomic.Int32
}

// Reader states.
const (
	idle int32 = iota
	reading
	closed
)

// smallBufSize holds most events whole (Anthropic's deltas are a few
// hundred bytes); bigBufSize is the pooled buffer for larger ones, grown
// further for a longer line.
const (
	smallBufSize = 512
	bigBufSize   = 4096
)

var bigBufs = sync.Pool{New: func() any { b := make([]byte, bigBufSize); return &b }}

// NewReader reads events from r. Call Close when done with it.
func NewReader(r io.Reader) *Reader {
	rd := &Reader{src: r}
	rd.buf = rd.small[:]
	return rd
}

// ErrClosed is returned by Next after Close.
var ErrClosed = errors.New("sse: reader closed")

// Close releases the reader's pooled buffer (once no Next is running; Next
// may be blocked in the underlying reader, which the caller closes to
// unblock it). Next returns ErrClosed afterwards. It does not close the
// underlying reader.
func (r *Reader) Close() {
	if r.state.Swap(closed) == idle {
		r.release()
	}
}

// release gives the pooled buffer back (one grown past bigBufSize is left
// to the collector) and reads into the small buffer again.
func (r *Reader) release() {
	if r.big != nil {
		if cap(*r.big) == bigBufSize {
			bigBufs.Put(r.big)
		}
		r.big = nil
	}
	r.buf = r.small[:]
}

// Next returns the next event with a data field. Comments and events
// without data are skipped. An event with no "event:" line takes its name
// from the data's "type" field (Anthropic always sets both). At the end of
// input it returns io.EOF; a partial event at the end returns
// io.ErrUnexpectedEOF.
//
// The returned Data is the event's own copy; lines are otherwise parsed in
// place in the read buffer (one allocation per event on the hot path).
// Next must not be called concurrently with itself.
func (r *Reader) Next() (llm.Event, error) {
	if !r.state.CompareAndSwap(idle, reading) {
		return llm.Event{}, ErrClosed
	}
	ev, err := r.next()
	if !r.state.CompareAndSwap(reading, idle) {
		r.release() // closed while reading: the event read (its own copy) still stands
	}
	return ev, err
}

// ErrEventTooLarge is returned for an event over MaxEventBytes.
var ErrEventTooLarge = errors.New("sse: event too large")

func (r *Reader) next() (llm.Event, error) {
	var ev llm.Event
	var data []byte
	sawField := false
	for {
		line, err := r.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) && sawField {
				return llm.Event{}, io.ErrUnexpectedEOF
			}
			return llm.Event{}, err
		}
		if len(line) == 0 {
			if data == nil {
				ev, sawField = llm.Event{}, false
				continue
			}
			ev.Data = data
			if ev.Type == "" {
				ev.Type = eventName([]byte(gjson.GetBytes(data, "type").Str))
			}
			return ev, nil
		}
		if line[0] == ':' {
			continue
		}
		sawField = true
		name, value, _ := bytes.Cut(line, []byte{':'})
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		switch string(name) {
		case "event":
			ev.Type = eventName(value)
		case "data":
			if data != nil {
				data = append(data, '\n')
			}
			if len(data)+len(value) > MaxEventBytes {
				return llm.Event{}, ErrEventTooLarge
			}
			if data == nil {
				data = make([]byte, 0, len(value))
			}
			data = append(data, value...)
		}
	}
}

// knownEvents interns Anthropic's event names, so naming an event allocates nothing.
var knownEvents = map[string]string{
	"message_start": "message_start", "content_block_start": "content_block_start",
	"content_block_delta": "content_block_delta", "content_block_stop": "content_block_stop",
	"message_delta": "message_delta", "message_stop": "message_stop", "ping": "ping", "error": "error",
}

// eventName returns name as a string, interned when it is one of Anthropic's.
func eventName(name []byte) string {
	if n, ok := knownEvents[string(name)]; ok {
		return n
	}
	return string(name)
}

// readLine returns one line without its terminator ("\n" or "\r\n"). The
// slice points into the read buffer and is valid until the next read.
func (r *Reader) readLine() ([]byte, error) {
	for {
		if i := bytes.IndexByte(r.buf[r.r:r.w], '\n'); i >= 0 {
			line := r.buf[r.r : r.r+i]
			r.r += i + 1
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			return line, nil
		}
		if r.err != nil {
			if r.err == io.EOF && r.w > r.r {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, r.err
		}
		if err := r.fill(); err != nil {
			return nil, err
		}
	}
}

// fill reads once more. With nothing unread it reads into the small
// buffer (an idle stream waits there); a partial line that fills its
// buffer moves to a bigger one.
func (r *Reader) fill() error {
	switch {
	case r.r == r.w:
		r.r, r.w = 0, 0
		r.release()
	case r.r > 0:
		r.w = copy(r.buf, r.buf[r.r:r.w])
		r.r = 0
	}
	if r.w == len(r.buf) {
		if err := r.grow(); err != nil {
			return err
		}
	}
	n, err := r.src.Read(r.buf[r.w:])
	r.w += n
	if err != nil {
		r.err = err
	}
	return nil
}

// grow moves the unread bytes to a buffer twice as big: the pooled one
// first, then fresh ones up to MaxEventBytes.
func (r *Reader) grow() error {
	var next *[]byte
	switch {
	case r.big == nil:
		next = bigBufs.Get().(*[]byte)
	case len(r.buf) >= MaxEventBytes:
		return ErrEventTooLarge
	default:
		b := make([]byte, 2*len(r.buf))
		next = &b
	}
	copy(*next, r.buf[:r.w])
	if r.big != nil && cap(*r.big) == bigBufSize {
		bigBufs.Put(r.big)
	}
	r.big, r.buf = next, *next
	return nil
}

// Append appends one event in wire form to dst.
func Append(dst []byte, ev llm.Event) []byte {
	dst = append(dst, "event: "...)
	dst = append(dst, ev.Type...)
	dst = append(dst, "\ndata: "...)
	dst = append(dst, ev.Data...)
	return append(dst, '\n', '\n')
}

// Write writes one event to w in a single Write call.
func Write(w io.Writer, ev llm.Event) error {
	buf := Append(make([]byte, 0, len(ev.Data)+len(ev.Type)+16), ev)
	_, err := w.Write(buf)
	return err
}

// ErrorEvent builds an Anthropic "error" event.
func ErrorEvent(errType, msg string) llm.Event {
	return llm.Event{Type: "error", Data: llm.ErrorBody(errType, msg)}
}

// PingEvent is the keep-alive event Anthropic sends.
var PingEvent = llm.Event{Type: "ping", Data: []byte(`{"type": "ping"}`)}

// String is for debugging.
func String(ev llm.Event) string { return fmt.Sprintf("%s %s", ev.Type, ev.Data) }

// Buffered reports whether a whole event (up to its blank line) is already
// read and waiting to be parsed, so that Next will not wait on the network.
// A partial event does not count: the caller must flush before waiting for it.
func (r *Reader) Buffered() bool {
	if r.state.Load() != idle {
		return false
	}
	b := r.buf[r.r:r.w]
	return bytes.Contains(b, []byte("\n\n")) || bytes.Contains(b, []byte("\r\n\r\n"))
}
