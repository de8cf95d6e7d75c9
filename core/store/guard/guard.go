// Package guard keeps the gateway serving when its state store fails. It
// wraps a router.Store: every operation gets a deadline, failures are counted
// (for /health) and logged without flooding, and after a run of failures the
// store is left alone for a few seconds so an outage does not add a timeout
// to every request. Fail-open (the default) answers as if the store were
// empty and every limit had room; fail-closed returns ErrUnavailable so the
// router refuses the request.
package guard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/claude-gateway/claude-gateway/core/router"
)

// ErrUnavailable is returned (wrapped) in fail-closed mode when the store cannot answer.
var ErrUnavailable = errors.New("state store unavailable")

// Options tune a guard. Zero values take the defaults.
type Options struct {
	// Backend names the store in logs and stats ("dynamodb", ...).
	Backend string
	// FailClosed refuses instead of allowing when the store fails.
	FailClosed bool
	// Timeout bounds one operation (default 1s).
	Timeout time.Duration
	// TripAfter consecutive failures stop calls for Pause (defaults 5 and 5s).
	TripAfter int
	Pause     time.Duration
	Logger    *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Observer hears of every operation (nil: nobody).
	Observer Observer
}

// Observer hears how each store operation went, for metrics. Its calls
// are on the request path: it must return at once.
type Observer interface {
	// StoreOp reports one operation: op is "incr", "counts", "put", "get",
	// "set_add", "set_remove" or "set_range"; outcome is "ok", "error" (including timeouts) or "skipped"
	// (not attempted while paused after a run of failures).
	StoreOp(backend, op, outcome string, elapsed time.Duration)
}

// Stats is the guard's view of the store, for /health.
type Stats struct {
	Backend    string `json:"backend"`
	FailClosed bool   `json:"fail_closed"`
	Healthy    bool   `json:"healthy"`
	// Errors counts failed operations since start; Skipped counts operations
	// not attempted while paused after a run of failures.
	Errors      int64     `json:"errors"`
	Skipped     int64     `json:"skipped"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

// Store is a guarded router.Store.
type Store struct {
	inner router.Store
	o     Options
	// local: inner answers from process memory (InProcess), so its
	// operations get no deadline.
	local bool

	mu          sync.Mutex
	errors      int64
	skipped     int64
	consecutive int
	pausedUntil time.Time
	lastErr     string
	lastErrAt   time.Time
	lastLog     time.Time
	unlogged    int64
}

var _ router.Store = (*Store)(nil)

// New wraps inner.
func New(inner router.Store, o Options) *Store {
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.TripAfter <= 0 {
		o.TripAfter = 5
	}
	if o.Pause <= 0 {
		o.Pause = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	local := false
	if ip, ok := inner.(inProcess); ok {
		local = ip.InProcess()
	}
	return &Store{inner: inner, o: o, local: local}
}

// inProcess is a store that answers from this process's memory and never
// waits on I/O (core/store/memory, whose counters the embedded store
// serves too). Its operations cannot hang, so the guard gives them no
// deadline: context.WithTimeout costs a timer per operation, which was a
// few percent of a virtual key's request (its charge after the response).
type inProcess interface{ InProcess() bool }

// InProcess reports whether the wrapped store answers from process memory
// (no I/O to wait for): callers may then do its operations inline instead
// of handing them to a goroutine.
func (g *Store) InProcess() bool { return g.local }

// Inner returns the wrapped store.
func (g *Store) Inner() router.Store { return g.inner }

// Stats reports errors so far.
func (g *Store) Stats() Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return Stats{
		Backend: g.o.Backend, FailClosed: g.o.FailClosed,
		Healthy: g.consecutive == 0, Errors: g.errors, Skipped: g.skipped,
		LastError: g.lastErr, LastErrorAt: g.lastErrAt,
	}
}

// errPaused stands for calls not made while the guard pauses the store.
var errPaused = errors.New("paused after repeated failures")

// call runs op with a deadline unless the store is paused, and books the
// outcome. An in-process store's operation gets no deadline and is not
// timed (the Observer hears 0): it is a map access under a mutex, and the
// two clock reads that would time it cost more than it does.
func (g *Store) call(ctx context.Context, what string, op func(context.Context) error) error {
	var start time.Time
	if !g.local {
		start = g.o.Now()
	}
	g.mu.Lock()
	if !g.pausedUntil.IsZero() { // never paused: no clock to read
		if start.IsZero() {
			start = g.o.Now()
		}
		if start.Before(g.pausedUntil) {
			g.skipped++
			g.mu.Unlock()
			g.observe(what, "skipped", 0)
			return errPaused
		}
	}
	g.mu.Unlock()
	var err error
	var elapsed time.Duration
	if g.local {
		err = op(ctx)
	} else {
		cctx, cancel := context.WithTimeout(ctx, g.o.Timeout)
		err = op(cctx)
		cancel()
		elapsed = g.o.Now().Sub(start)
	}
	if err != nil && ctx.Err() != nil {
		return ctx.Err() // the caller gave up: not the store's fault
	}
	g.book(what, err)
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	g.observe(what, outcome, elapsed)
	return err
}

func (g *Store) observe(op, outcome string, elapsed time.Duration) {
	if g.o.Observer != nil {
		g.o.Observer.StoreOp(g.o.Backend, op, outcome, elapsed)
	}
}

func (g *Store) book(what string, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err == nil {
		if g.consecutive > 0 {
			g.o.Logger.Info("state store recovered", "backend", g.o.Backend, "failed_ops", g.consecutive)
		}
		g.consecutive = 0
		return
	}
	now := g.o.Now() // failures only: a success reads no clock here
	g.errors++
	g.consecutive++
	g.lastErr, g.lastErrAt = what+": "+err.Error(), now
	if g.consecutive >= g.o.TripAfter {
		g.pausedUntil = now.Add(g.o.Pause)
	}
	// One line for the first failure, then one every 30s with the count.
	if g.consecutive == 1 || now.Sub(g.lastLog) >= 30*time.Second {
		mode := "failing open (limits not enforced)"
		if g.o.FailClosed {
			mode = "failing closed (requests refused)"
		}
		g.o.Logger.Error("state store error; "+mode, "backend", g.o.Backend, "op", what,
			"err", err.Error(), "errors_total", g.errors, "errors_not_logged", g.unlogged)
		g.lastLog, g.unlogged = now, 0
	} else {
		g.unlogged++
	}
}

func (g *Store) closed(err error) error {
	return fmt.Errorf("%w (%s): %w", ErrUnavailable, g.o.Backend, err)
}

// Incr implements router.Store; fail-open admits.
func (g *Store) Incr(ctx context.Context, key string, delta, limit int64, expires time.Time) (int64, bool, error) {
	var v int64
	var ok bool
	err := g.call(ctx, "incr", func(ctx context.Context) (err error) {
		v, ok, err = g.inner.Incr(ctx, key, delta, limit, expires)
		return err
	})
	switch {
	case err == nil:
		return v, ok, nil
	case ctx.Err() != nil:
		return 0, false, err
	case g.o.FailClosed:
		return 0, false, g.closed(err)
	}
	return 0, true, nil
}

// Counts implements router.Store; fail-open reads zeros.
func (g *Store) Counts(ctx context.Context, keys []string) ([]int64, error) {
	var out []int64
	err := g.call(ctx, "counts", func(ctx context.Context) (err error) {
		out, err = g.inner.Counts(ctx, keys)
		return err
	})
	switch {
	case err == nil:
		return out, nil
	case ctx.Err() != nil:
		return nil, err
	case g.o.FailClosed:
		return nil, g.closed(err)
	}
	return make([]int64, len(keys)), nil
}

// Put implements router.Store; fail-open drops the entry (a cooldown or
// affinity not shared is the lesser harm).
func (g *Store) Put(ctx context.Context, key, value string, expires time.Time) error {
	err := g.call(ctx, "put", func(ctx context.Context) error {
		return g.inner.Put(ctx, key, value, expires)
	})
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return err
	case g.o.FailClosed:
		return g.closed(err)
	}
	return nil
}

// Get implements router.Store; fail-open finds nothing.
func (g *Store) Get(ctx context.Context, keys []string) ([]router.Entry, error) {
	var out []router.Entry
	err := g.call(ctx, "get", func(ctx context.Context) (err error) {
		out, err = g.inner.Get(ctx, keys)
		return err
	})
	switch {
	case err == nil:
		return out, nil
	case ctx.Err() != nil:
		return nil, err
	case g.o.FailClosed:
		return nil, g.closed(err)
	}
	return make([]router.Entry, len(keys)), nil
}
