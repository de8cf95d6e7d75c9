package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/tidwall/gjson"
)

// malformed is the failure of an upstream answer or event that is not JSON
// (cut off or garbled). Retryable: before the first byte another deployment
// can still serve; after it, the stream ends with this as its error event.
func malformed(what string) *llm.Error {
	return &llm.Error{Status: 502, Type: llm.ErrAPI, Message: "upstream " + what + " is not valid JSON", Retryable: true}
}

// attemptTimeout is the deadline of one attempt on m: for streams the time
// to the first event (stream_timeout, else timeout), for whole answers the
// whole call (timeout). Deployment settings win over router_settings, which
// win over litellm_settings.request_timeout. Zero means none.
func (r *Router) attemptTimeout(m *member, stream bool) time.Duration {
	if stream {
		for _, d := range []time.Duration{m.streamTimeout, r.settings.StreamTimeout, m.timeout, r.settings.Timeout, r.requestTimeout} {
			if d > 0 {
				return d
			}
		}
		return 0
	}
	for _, d := range []time.Duration{m.timeout, r.settings.Timeout, r.requestTimeout} {
		if d > 0 {
			return d
		}
	}
	return 0
}

// attempt is one call to one deployment. On success it holds the answer; a
// stream's first event has been read (so a failure before it can still be
// retried elsewhere), and the stream keeps running after the timer stops.
type attempt struct {
	resp     *llm.Response
	stream   llm.Stream
	status   int
	timedOut bool
}

// try makes one attempt on m. The attempt context is cancelled by the
// attempt timer only until the answer (or first event) arrives: a timer,
// not a context deadline, so a long stream is never cut by stream_timeout.
func (r *Router) try(ctx context.Context, m *member, req *llm.Request) (attempt, error) {
	actx, cancel := context.WithCancelCause(ctx)
	stop := func() bool { return true }
	if d := r.attemptTimeout(m, req.Stream && req.Kind == llm.KindMessages); d > 0 {
		stop = r.afterFunc(d, func() { cancel(errAttemptTimeout) })
	}
	timedOut := func() bool { return context.Cause(actx) == errAttemptTimeout }

	if !req.Stream || req.Kind == llm.KindCountTokens {
		resp, err := m.d.Provider.Send(actx, req)
		stop()
		to := timedOut()
		cancel(nil) // the body is read whole; nothing outlives Send
		if err == nil && to {
			err = errAttemptTimeout
		}
		if err != nil {
			return attempt{timedOut: to}, err
		}
		if !gjson.ValidBytes(resp.Body) {
			// Nothing has been sent yet: a cut-off answer is this
			// deployment's failure, never the client's 200.
			return attempt{}, malformed("answer")
		}
		status := resp.Status
		if status == 0 {
			status = 200
		}
		return attempt{resp: resp, status: status}, nil
	}

	s, err := m.d.Provider.Stream(actx, req)
	if err != nil {
		stop()
		to := timedOut()
		cancel(nil)
		return attempt{timedOut: to}, err
	}
	first, late, err := r.firstEvent(actx, s)
	if late != nil {
		// Still silent after commitAfter: hand the stream on; the attempt
		// timer keeps running until its first event (late.Next stops it).
		late.stop, late.cancel = stop, cancel
		late.idle = newIdleLimit(r.attemptTimeout(m, true), cancel)
		return attempt{stream: late, status: 200}, nil
	}
	// stop reports false when the timer already fired: then the attempt has
	// timed out even if an event slipped in, since actx is (being) cancelled.
	inTime := stop()
	if err == nil && !inTime {
		err = errAttemptTimeout
	}
	if err != nil {
		to := timedOut() || !inTime
		s.Close()
		cancel(nil)
		if err == io.EOF {
			return attempt{}, &llm.Error{Status: 502, Type: llm.ErrAPI, Message: "upstream stream ended before any event", Retryable: true}
		}
		return attempt{timedOut: to}, err
	}
	if !gjson.ValidBytes(first.Data) {
		s.Close()
		cancel(nil)
		return attempt{}, malformed("event")
	}
	if first.Type == "error" {
		s.Close()
		cancel(nil)
		return attempt{}, llm.ErrorFromEvent(first.Data)
	}
	idle := newIdleLimit(r.attemptTimeout(m, true), cancel)
	return attempt{stream: &peeked{Stream: s, first: first, has: true, cancel: cancel, idle: idle}, status: 200}, nil
}

// errStreamIdle is the cause set when a stream's idle limit fires.
var errStreamIdle = errors.New("stream idle")

// idleLimit ends a stream whose upstream falls silent after its first
// event: no event within d (stream_timeout, else timeout, read as LiteLLM's
// timeout between chunks, never as a bound on the whole stream) cancels the
// attempt and becomes a timeout error, which the server sends as the
// stream's final error event. Without it a hung upstream holds the client
// (kept alive by pings) and the connection forever. One timer per stream,
// reset per event: no allocation on the event path.
type idleLimit struct {
	d      time.Duration
	t      *time.Timer
	cancel context.CancelCauseFunc
}

// newIdleLimit returns nil (no limit) when d is zero.
func newIdleLimit(d time.Duration, cancel context.CancelCauseFunc) *idleLimit {
	if d <= 0 {
		return nil
	}
	return &idleLimit{d: d, cancel: cancel}
}

// next reads s's next event within the limit.
func (l *idleLimit) next(ctx context.Context, s llm.Stream) (llm.Event, error) {
	if l == nil {
		return checked(s.Next(ctx))
	}
	if l.t == nil {
		l.t = time.AfterFunc(l.d, func() { l.cancel(errStreamIdle) })
	} else {
		l.t.Reset(l.d)
	}
	ev, err := s.Next(ctx)
	if !l.t.Stop() && ctx.Err() == nil {
		// Fired: the attempt is (being) cancelled, whatever this read got.
		return llm.Event{}, &llm.Error{Status: 504, Type: llm.ErrTimeout,
			Message: fmt.Sprintf("upstream sent no event for %s (stream_timeout)", l.d)}
	}
	return checked(ev, err)
}

func (l *idleLimit) stop() {
	if l != nil && l.t != nil {
		l.t.Stop()
	}
}

// peeked replays an already-read first event, then reads on. Close also
// releases the attempt context.
type peeked struct {
	llm.Stream
	first  llm.Event
	has    bool
	cancel context.CancelCauseFunc
	idle   *idleLimit
	once   sync.Once
}

func (p *peeked) Next(ctx context.Context) (llm.Event, error) {
	if p.has {
		p.has = false
		return p.first, nil
	}
	return p.idle.next(ctx, p.Stream)
}

// checked passes on a well-formed event; one whose data is not JSON becomes
// the error that ends the stream, so it is never relayed (and the upstream's
// message_stop after it cannot make a damaged answer look whole).
func checked(ev llm.Event, err error) (llm.Event, error) {
	if err == nil && !gjson.ValidBytes(ev.Data) {
		return llm.Event{}, malformed("event")
	}
	return ev, err
}

func (p *peeked) Close() error {
	p.idle.stop()
	err := p.Stream.Close()
	p.once.Do(func() { p.cancel(nil) })
	return err
}

// Buffered implements llm.Buffered for the wrapped stream.
func (p *peeked) Buffered() bool {
	if p.has {
		return true
	}
	b, ok := p.Stream.(llm.Buffered)
	return ok && b.Buffered()
}

// firstEvent reads s's first event, waiting at most r.commitAfter: an
// upstream still silent by then (a long prompt's time to first token) is
// returned as late, its first event still being read, so that the server
// can commit the response and ping instead of leaving the client in silence.
func (r *Router) firstEvent(ctx context.Context, s llm.Stream) (llm.Event, *lateStream, error) {
	if r.commitAfter < 0 {
		ev, err := s.Next(ctx)
		return ev, nil, err
	}
	if b, ok := s.(llm.Buffered); ok && b.Buffered() {
		ev, err := s.Next(ctx) // in hand: no wait, no goroutine
		return ev, nil, err
	}
	ch := make(chan firstRead, 1)
	go func() {
		ev, err := s.Next(ctx)
		ch <- firstRead{ev, err}
	}()
	t := time.NewTimer(r.commitAfter)
	defer t.Stop()
	select {
	case f := <-ch:
		return f.ev, nil, f.err
	case <-t.C:
		return llm.Event{}, &lateStream{Stream: s, first: ch}, nil
	}
}

type firstRead struct {
	ev  llm.Event
	err error
}

// lateStream is a stream handed on before its first event: its first Next
// waits for the read already under way, stops the attempt timer, and turns
// an error event or a timeout into the error that ends the stream.
type lateStream struct {
	llm.Stream
	first  chan firstRead
	done   bool
	stop   func() bool
	cancel context.CancelCauseFunc
	idle   *idleLimit
	once   sync.Once
}

func (l *lateStream) Next(ctx context.Context) (llm.Event, error) {
	if l.done {
		return l.idle.next(ctx, l.Stream)
	}
	var f firstRead
	select {
	case f = <-l.first:
	case <-ctx.Done():
		return llm.Event{}, ctx.Err()
	}
	l.done = true
	switch {
	case !l.stop():
		return llm.Event{}, &llm.Error{Status: 504, Type: llm.ErrTimeout, Message: "no first event from the upstream within stream_timeout"}
	case f.err == io.EOF:
		return llm.Event{}, &llm.Error{Status: 502, Type: llm.ErrAPI, Message: "upstream stream ended before any event"}
	case f.err != nil:
		return llm.Event{}, f.err
	}
	return checked(f.ev, nil)
}

func (l *lateStream) Close() error {
	l.idle.stop()
	err := l.Stream.Close()
	l.once.Do(func() { l.cancel(nil) })
	return err
}
