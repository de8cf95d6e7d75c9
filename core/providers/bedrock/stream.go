package bedrock

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/tidwall/gjson"

	"github.com/claude-gateway/claude-gateway/core/llm"
)

// stream reads Bedrock's event stream on the caller's goroutine and hands
// on each chunk as one Anthropic event as soon as its frame is in. Per
// stream it keeps one SDK frame decoder, one read buffer, one payload
// buffer (reused for every frame) and one slab for the decoded events, so
// memory stays constant and a frame costs only the SDK decoder's own
// allocations. It holds at most one event.
type stream struct {
	body    io.ReadCloser
	r       *bufio.Reader
	dec     *eventstream.Decoder
	payload []byte
	slab    slab
	// ctx is the call's context, for mapping errors that end the stream;
	// its cancellation also ends a read in progress (net/http's doing).
	ctx context.Context

	// The first frame is read by prime's goroutine: its result is then
	// in hand (hasFirst) or on its way (pending, until received).
	first    llm.Event
	hasFirst bool
	pending  chan firstRead

	// watched is the Done channel of the last Next's context; stopWatch
	// undoes the context.AfterFunc that closes the body when that context
	// ends, so that a read blocked on a silent upstream returns.
	watched   <-chan struct{}
	mu        sync.Mutex // guards stopWatch, which Close also calls
	stopWatch func() bool

	closed    atomic.Bool
	closeOnce sync.Once
}

// firstRead is the result of the first frame's read.
type firstRead struct {
	ev  llm.Event
	err error
}

// Buffer sizes of a stream. A Bedrock text delta frame is ~250 bytes, a
// message_start ~700; larger frames pass the read buffer by.
const (
	readBufSize = 2048
	payloadSize = 2048
	// maxKeptPayload: a payload buffer one huge frame grew past this is
	// dropped after it, rather than held for the rest of the stream.
	maxKeptPayload = 64 << 10
)

func newStream(ctx context.Context, body io.ReadCloser) *stream {
	return &stream{
		body:    body,
		r:       bufio.NewReaderSize(body, readBufSize),
		dec:     eventstream.NewDecoder(),
		payload: make([]byte, 0, payloadSize),
		ctx:     ctx,
	}
}

// prime waits up to wait for the first event, so that a stream failing
// before it (an exception frame first, or nothing at all) is a retryable
// error of Stream. A stream still silent by then is handed on unprimed: the
// router's own first-event wait (its commit bound) takes over from there.
// Only this first read runs on a goroutine of its own; every later frame is
// read by Next itself.
func (s *stream) prime(ctx context.Context, wait time.Duration) error {
	ch := make(chan firstRead, 1)
	go func() {
		ev, err := s.read()
		ch <- firstRead{ev, err}
	}()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	var f firstRead
	select {
	case f = <-ch:
	case <-timer.C:
		s.pending = ch
		return nil
	case <-ctx.Done():
		s.pending = ch // the caller closes the stream, which ends the read
		return ctx.Err()
	}
	if f.err == io.EOF {
		return &llm.Error{Status: http.StatusBadGateway, Type: llm.ErrAPI, Retryable: true,
			Message: "bedrock stream ended before its first event"}
	}
	if f.err != nil {
		return f.err
	}
	s.first, s.hasFirst = f.ev, true
	return nil
}

// Next returns the next event, io.EOF after the last, or the failure that
// ended the stream as an *llm.Error.
func (s *stream) Next(ctx context.Context) (llm.Event, error) {
	if s.hasFirst {
		ev := s.first
		s.first, s.hasFirst = llm.Event{}, false
		return ev, nil
	}
	if s.pending != nil {
		select {
		case f := <-s.pending:
			s.pending = nil
			return f.ev, f.err
		case <-ctx.Done():
			return llm.Event{}, ctx.Err()
		}
	}
	if err := ctx.Err(); err != nil {
		return llm.Event{}, err
	}
	s.watch(ctx)
	ev, err := s.read()
	if err != nil && ctx.Err() != nil {
		return llm.Event{}, ctx.Err()
	}
	return ev, err
}

// watch makes the end of ctx close the body, once per context (a stream's
// caller passes the same one to every Next). The call's own context needs
// no watch: net/http ends the body's reads when it is cancelled.
func (s *stream) watch(ctx context.Context) {
	done := ctx.Done()
	if done == s.watched {
		return
	}
	s.watched = done
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopWatch != nil {
		s.stopWatch()
		s.stopWatch = nil
	}
	if done == nil || done == s.ctx.Done() || s.closed.Load() {
		return
	}
	body := s.body
	s.stopWatch = context.AfterFunc(ctx, func() { body.Close() })
}

// read decodes frames until one carries an event or ends the stream.
func (s *stream) read() (llm.Event, error) {
	for {
		// The end of the body is the stream's end only at a frame boundary:
		// the decoder reports a frame cut short as io.EOF too.
		if _, err := s.r.Peek(1); err != nil {
			if err == io.EOF || s.closed.Load() {
				return llm.Event{}, io.EOF
			}
			return llm.Event{}, upstreamError(s.ctx, fmt.Errorf("read event: %w", err))
		}
		m, err := s.dec.Decode(s.r, s.payload[:0])
		if err != nil {
			if s.closed.Load() {
				return llm.Event{}, io.EOF
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			// Cut off mid-frame, a refused CRC, an impossible length, or
			// the connection failing.
			return llm.Event{}, upstreamError(s.ctx, fmt.Errorf("decode event: %w", err))
		}
		if cap(m.Payload) <= maxKeptPayload {
			// The decoder may have grown the buffer; this frame's payload
			// is used up before the next Decode overwrites it.
			s.payload = m.Payload[:0]
		}
		ev, ok, err := s.message(&m)
		if err != nil {
			return llm.Event{}, upstreamError(s.ctx, err)
		}
		if ok {
			return ev, nil
		}
	}
}

// message reads one decoded frame the way the SDK's InvokeModel stream
// reader does: a chunk event is an Anthropic event (ok), another event
// type is a union member this gateway does not know (skipped), and an
// exception or error message is the error that ends the stream.
func (s *stream) message(m *eventstream.Message) (ev llm.Event, ok bool, err error) {
	switch t := header(m, messageTypeHeader); t {
	case "event":
		switch et := header(m, eventTypeHeader); et {
		case "chunk":
			data, err := s.chunk(m.Payload)
			if err != nil {
				return llm.Event{}, false, err
			}
			return llm.Event{Type: eventType(data), Data: data}, true, nil
		case "":
			return llm.Event{}, false, errors.New("bedrock: event frame without " + eventTypeHeader)
		}
		return llm.Event{}, false, nil
	case "exception":
		return llm.Event{}, false, exceptionError(m)
	case "error":
		return llm.Event{}, false, errorMessage(m)
	case "":
		return llm.Event{}, false, errors.New("bedrock: frame without " + messageTypeHeader)
	default:
		return llm.Event{}, false, fmt.Errorf("bedrock: frame of message type %q", t)
	}
}

// Close releases the upstream connection, ending a read in progress. Safe
// to call more than once, and from another goroutine than Next's.
func (s *stream) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.mu.Lock()
		if s.stopWatch != nil {
			s.stopWatch()
			s.stopWatch = nil
		}
		s.mu.Unlock()
		s.body.Close()
	})
	return nil
}

// Buffered implements llm.Buffered: a held first event, or a whole frame
// already in the read buffer (so that Next will not wait on the network).
func (s *stream) Buffered() bool {
	if s.hasFirst {
		return true
	}
	if s.pending != nil {
		// prime's goroutine owns the read buffer until its result is taken.
		return len(s.pending) > 0
	}
	n := s.r.Buffered()
	if n < preludeLen {
		return false
	}
	b, err := s.r.Peek(4) // in the buffer: no read
	return err == nil && uint64(n) >= uint64(binary.BigEndian.Uint32(b))
}

// preludeLen is an event-stream frame's fixed start: total length, headers
// length and the prelude's CRC, four bytes each.
const preludeLen = 12

// eventType is the event's "type" field. Bedrock chunks start with it, so the
// common case is read in place and returned as a constant, without allocating.
func eventType(data []byte) string {
	const prefix = `{"type":"`
	if bytes.HasPrefix(data, []byte(prefix)) {
		rest := data[len(prefix):]
		if end := bytes.IndexByte(rest, '"'); end > 0 {
			switch t := rest[:end]; string(t) {
			case "content_block_delta":
				return "content_block_delta"
			case "content_block_start":
				return "content_block_start"
			case "content_block_stop":
				return "content_block_stop"
			case "message_start":
				return "message_start"
			case "message_delta":
				return "message_delta"
			case "message_stop":
				return "message_stop"
			case "ping":
				return "ping"
			case "error":
				return "error"
			}
		}
	}
	return gjson.GetBytes(data, "type").String()
}
