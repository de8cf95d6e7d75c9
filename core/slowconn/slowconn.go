// Package slowconn bounds how many connections an http.Server holds while
// they are still sending a request: from accept (or the first byte of a
// request on a kept-alive connection) until the handler has read the body
// to its end. Past the bound, the connection that has been in that phase
// longest is closed.
//
// Read-header and body timeouts (http.Server.ReadHeaderTimeout,
// core/bodydeadline) bound how long one slow client holds a connection;
// this bounds how many do at once, so thousands of clients sending a byte
// at a time cannot pile up goroutines and file descriptors until normal
// requests are refused. Closing the oldest rather than refusing the newest
// keeps serving a normal client, whose headers and body arrive in
// milliseconds, while a flood of slow ones pushes each other out.
//
// A connection whose request has been read is never touched: a response
// streaming for an hour (a long Claude Code answer) cannot be cut by it;
// idle kept-alive connections are left to http.Server.IdleTimeout.
package slowconn

import (
	"container/list"
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// DefaultMax is the default bound: far above the requests one instance
// serves at once (Cloud Run's concurrency is at most 1000), far below the
// file descriptors it may open.
const DefaultMax = 1024

// Limiter tracks the connections in their slow phase. Wire all four of
// Listen, ConnState, ConnContext and Handler into one http.Server.
type Limiter struct {
	max int

	mu   sync.Mutex
	slow map[net.Conn]*list.Element // in the slow phase, oldest first in order
	// order holds net.Conn values by the time they entered the slow phase.
	order   list.List
	evicted atomic.Int64
}

// New returns a limiter closing the oldest slow connection past max (max
// <= 0: DefaultMax).
func New(max int) *Limiter {
	if max <= 0 {
		max = DefaultMax
	}
	return &Limiter{max: max, slow: map[net.Conn]*list.Element{}}
}

// Stats is what a limiter reports.
type Stats struct {
	// Slow is the number of connections in the slow phase now.
	Slow int `json:"slow"`
	// Max is the bound.
	Max int `json:"max"`
	// Evicted counts connections closed for being the oldest past the bound.
	Evicted int64 `json:"evicted"`
}

// Stats reports the limiter's counters.
func (l *Limiter) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{Slow: len(l.slow), Max: l.max, Evicted: l.evicted.Load()}
}

// Listen wraps ln so that a kept-alive connection re-enters the slow phase
// with the first byte of its next request (http.Server reports nothing
// until that request's headers are complete).
func (l *Limiter) Listen(ln net.Listener) net.Listener { return &listener{Listener: ln, l: l} }

type listener struct {
	net.Listener
	l *Limiter
}

func (ln *listener) Accept() (net.Conn, error) {
	c, err := ln.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c, l: ln.l}, nil
}

// conn notices the first byte read after the connection went idle.
type conn struct {
	net.Conn
	l    *Limiter
	idle atomic.Bool
	// evicted is set (under l.mu) when the limiter closed the connection.
	evicted bool
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.idle.Load() && c.idle.CompareAndSwap(true, false) {
		c.l.enter(c)
	}
	return n, err
}

// ConnState is http.Server.ConnState: a new connection enters the slow
// phase (a kept-alive one re-enters through Listen); an idle, hijacked or
// closed one leaves it.
func (l *Limiter) ConnState(c net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		l.enter(c)
	case http.StateActive:
		// Active comes once a request's headers are in (or its read
		// failed): a no-op for a connection already counted, and the bound
		// for a kept-alive one whose next request was already buffered
		// (never read while idle). Only tracked connections (Listen) know
		// whether the limiter itself closed them.
		if _, ok := c.(*conn); ok {
			l.enter(c)
		}
	case http.StateIdle:
		l.leave(c)
		if tc, ok := c.(*conn); ok {
			tc.idle.Store(true)
		}
	case http.StateHijacked, http.StateClosed:
		l.leave(c)
	}
}

// enter marks c slow (if it is not already) and closes the oldest slow
// connection if that makes one too many. A connection closed that way
// never enters again: http.Server still reports it Active when its read
// fails, and counting it again would close another, and so on down the line.
func (l *Limiter) enter(c net.Conn) {
	tc, _ := c.(*conn)
	l.mu.Lock()
	if _, ok := l.slow[c]; ok || (tc != nil && tc.evicted) {
		l.mu.Unlock()
		return
	}
	l.slow[c] = l.order.PushBack(c)
	var victim net.Conn
	if len(l.slow) > l.max {
		victim = l.order.Remove(l.order.Front()).(net.Conn)
		delete(l.slow, victim)
		if v, ok := victim.(*conn); ok {
			v.evicted = true
		}
	}
	l.mu.Unlock()
	if victim != nil {
		l.evicted.Add(1)
		victim.Close()
	}
}

func (l *Limiter) leave(c net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.slow[c]; ok {
		l.order.Remove(e)
		delete(l.slow, c)
	}
}

// connKey carries a request's connection from ConnContext to Handler.
type connKey struct{}

// ConnContext is http.Server.ConnContext: it lets Handler know each
// request's connection.
func (l *Limiter) ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// Handler serves h, taking each request's connection out of the slow phase
// once its body has been read to its end or closed (at once for a request
// without a body), and at the latest when h returns.
func (l *Limiter) Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := r.Context().Value(connKey{}).(net.Conn)
		if !ok {
			h.ServeHTTP(w, r)
			return
		}
		if r.Body == nil || r.Body == http.NoBody {
			l.leave(c)
			h.ServeHTTP(w, r)
			return
		}
		defer l.leave(c)
		r.Body = &readBody{ReadCloser: r.Body, done: func() { l.leave(c) }}
		h.ServeHTTP(w, r)
	})
}

// readBody calls done once the body has been read to its end or closed.
type readBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *readBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.once.Do(b.done)
	}
	return n, err
}

func (b *readBody) Close() error {
	b.once.Do(b.done)
	return b.ReadCloser.Close()
}
