package spend

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// UnsavedMessage is the log message of a record the store did not take. The
// line carries the whole record under "record" (JSON with the logger from
// core/logging), so it can be re-imported once the store is back.
const UnsavedMessage = "spend_record_unsaved"

// logUnsaved writes one structured line per record that could not be stored:
// a record is never dropped silently.
func logUnsaved(log *slog.Logger, r Record, reason string, err error) {
	attrs := []any{"call_id", r.CallID, "reason", reason, "record", r}
	if err != nil {
		attrs = append(attrs, "error", err.Error())
	}
	log.Error(UnsavedMessage, attrs...)
}

// Stats counts what a recorder did with its records.
type Stats struct {
	Buffered int   `json:"buffered"`
	Written  int64 `json:"written"`
	Retries  int64 `json:"retries"`
	Unsaved  int64 `json:"unsaved"`
}

// BatchOptions tune a BatchRecorder. Zero values take the defaults.
type BatchOptions struct {
	Logger *slog.Logger
	// BatchSize is the most records per store write (default 100); a full
	// batch is written at once, without waiting for the timer.
	BatchSize int
	// MaxBuffered bounds the records held in memory (default 10000). A record
	// that finds the buffer full is logged as unsaved instead.
	MaxBuffered int
	// FlushInterval is the longest a record waits in the buffer (default 1s).
	FlushInterval time.Duration
	// Attempts is how often one batch is tried before its records are logged
	// as unsaved (default 5).
	Attempts int
	// Backoff is the wait after the first failure, doubling up to 5s (default 200ms).
	Backoff time.Duration
	// WriteTimeout bounds one store write (default 10s).
	WriteTimeout time.Duration
}

func (o *BatchOptions) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 100
	}
	if o.MaxBuffered <= 0 {
		o.MaxBuffered = 10000
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = time.Second
	}
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = 200 * time.Millisecond
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
}

// BatchRecorder buffers records and writes them in batches from one
// background goroutine, for long-running instances (Cloud Run, local). Record
// never waits on the store. Close flushes what is buffered (call it on
// SIGTERM); records still unwritten when its context ends are logged.
type BatchRecorder struct {
	store Store
	o     BatchOptions

	mu      sync.Mutex
	buf     []Record
	closed  bool
	waiters []chan struct{} // Flush calls waiting for the buffer to drain

	// run is the context of background writes; Close cancels it when its
	// own context ends, so a write stuck in retries cannot outlive Close.
	run       context.Context
	cancelRun context.CancelFunc

	kick    chan struct{}
	stop    chan context.Context
	done    chan struct{}
	written atomic.Int64
	retries atomic.Int64
	unsaved atomic.Int64
}

// NewBatchRecorder starts a recorder writing to s.
func NewBatchRecorder(s Store, o BatchOptions) *BatchRecorder {
	o.defaults()
	b := &BatchRecorder{
		store: s, o: o,
		kick: make(chan struct{}, 1),
		stop: make(chan context.Context, 1),
		done: make(chan struct{}),
	}
	b.run, b.cancelRun = context.WithCancel(context.Background())
	go b.loop()
	return b
}

// Record implements Recorder.
func (b *BatchRecorder) Record(ctx context.Context, r Record) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		// Late record (a request that outlived Close): write it directly.
		b.writeWithRetry(context.WithoutCancel(ctx), []Record{r}, 2)
		return
	}
	if len(b.buf) >= b.o.MaxBuffered {
		b.mu.Unlock()
		b.unsaved.Add(1)
		logUnsaved(b.o.Logger, r, "buffer full", nil)
		return
	}
	b.buf = append(b.buf, r)
	full := len(b.buf) >= b.o.BatchSize
	b.mu.Unlock()
	if full {
		b.poke()
	}
}

func (b *BatchRecorder) poke() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// Flush writes everything buffered now and waits for it (or for ctx).
func (b *BatchRecorder) Flush(ctx context.Context) error {
	ch := make(chan struct{})
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.waiters = append(b.waiters, ch)
	b.mu.Unlock()
	b.poke()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the recorder after writing what is buffered. Records that
// cannot be written before ctx ends are logged as unsaved, never lost.
func (b *BatchRecorder) Close(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		<-b.done
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	stop := context.AfterFunc(ctx, b.cancelRun)
	defer stop()
	b.stop <- ctx
	<-b.done
	b.cancelRun()
	return nil
}

// Stats reports the recorder's counters.
func (b *BatchRecorder) Stats() Stats {
	b.mu.Lock()
	n := len(b.buf)
	b.mu.Unlock()
	return Stats{Buffered: n, Written: b.written.Load(), Retries: b.retries.Load(), Unsaved: b.unsaved.Load()}
}

func (b *BatchRecorder) loop() {
	defer close(b.done)
	t := time.NewTicker(b.o.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			b.drain(b.run)
		case <-b.kick:
			b.drain(b.run)
		case ctx := <-b.stop:
			b.drain(ctx)
			b.releaseWaiters()
			return
		}
	}
}

// drain writes batches until the buffer is empty, then wakes Flush callers.
func (b *BatchRecorder) drain(ctx context.Context) {
	for {
		b.mu.Lock()
		n := min(len(b.buf), b.o.BatchSize)
		if n == 0 {
			b.mu.Unlock()
			b.releaseWaiters()
			return
		}
		batch := make([]Record, n)
		copy(batch, b.buf)
		b.buf = append(b.buf[:0], b.buf[n:]...)
		b.mu.Unlock()
		b.writeWithRetry(ctx, batch, b.o.Attempts)
	}
}

func (b *BatchRecorder) releaseWaiters() {
	b.mu.Lock()
	ws := b.waiters
	b.waiters = nil
	b.mu.Unlock()
	for _, w := range ws {
		close(w)
	}
}

// writeWithRetry writes one batch, retrying with backoff; after the last
// attempt (or when ctx ends) each record is logged as unsaved. Retrying a
// batch is safe because stores are idempotent on the call id.
func (b *BatchRecorder) writeWithRetry(ctx context.Context, batch []Record, attempts int) {
	err := writeRetrying(ctx, b.store, batch, attempts, b.o.Backoff, b.o.WriteTimeout, &b.retries)
	if err == nil {
		b.written.Add(int64(len(batch)))
		return
	}
	b.unsaved.Add(int64(len(batch)))
	for _, r := range batch {
		logUnsaved(b.o.Logger, r, "store write failed", err)
	}
}

func writeRetrying(ctx context.Context, s Store, batch []Record, attempts int, backoff, timeout time.Duration, retries *atomic.Int64) error {
	var err error
	wait := backoff
	for i := 0; i < attempts; i++ {
		if i > 0 {
			retries.Add(1)
			select {
			case <-ctx.Done():
				return errors.Join(err, ctx.Err())
			case <-time.After(wait):
			}
			wait = min(2*wait, 5*time.Second)
		}
		actx, cancel := context.WithTimeout(ctx, timeout)
		err = s.PutSpend(actx, batch)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return errors.Join(err, ctx.Err())
		}
	}
	return err
}

// writeDeadlineKey carries the time by which a request's record must be written.
type writeDeadlineKey struct{}

// WithWriteDeadline marks ctx's request as one whose spend record must be
// written by t: on AWS Lambda the invocation ends at a hard deadline, after
// which a write still under way is lost with the frozen instance. The value
// survives context.WithoutCancel, which is how records are written after
// the request's own context has ended.
func WithWriteDeadline(ctx context.Context, t time.Time) context.Context {
	return context.WithValue(ctx, writeDeadlineKey{}, t)
}

// WriteDeadline reports the time set by WithWriteDeadline, if any.
func WriteDeadline(ctx context.Context) (time.Time, bool) {
	t, ok := ctx.Value(writeDeadlineKey{}).(time.Time)
	return t, ok
}

// SyncOptions tune a SyncRecorder. Zero values take the defaults.
type SyncOptions struct {
	Logger *slog.Logger
	// Attempts per record (default 3), with Backoff (default 100ms) doubling between them.
	Attempts int
	Backoff  time.Duration
	// WriteTimeout bounds one store write (default 3s).
	WriteTimeout time.Duration
}

// SyncRecorder writes each record before Record returns, for AWS Lambda,
// where the instance is frozen as soon as the handler returns and a
// background flush might never run. The server records after the response
// has ended, so this is never on the path to the first byte.
type SyncRecorder struct {
	store   Store
	o       SyncOptions
	written atomic.Int64
	retries atomic.Int64
	unsaved atomic.Int64
}

// NewSyncRecorder returns a recorder writing to s.
func NewSyncRecorder(s Store, o SyncOptions) *SyncRecorder {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Attempts <= 0 {
		o.Attempts = 3
	}
	if o.Backoff <= 0 {
		o.Backoff = 100 * time.Millisecond
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 3 * time.Second
	}
	return &SyncRecorder{store: s, o: o}
}

// Record implements Recorder. A request that must be done by a hard time
// (WithWriteDeadline) has its record written by then or logged as unsaved.
func (s *SyncRecorder) Record(ctx context.Context, r Record) {
	ctx = context.WithoutCancel(ctx)
	if t, ok := WriteDeadline(ctx); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, t)
		defer cancel()
	}
	if err := writeRetrying(ctx, s.store, []Record{r}, s.o.Attempts, s.o.Backoff, s.o.WriteTimeout, &s.retries); err != nil {
		s.unsaved.Add(1)
		logUnsaved(s.o.Logger, r, "store write failed", err)
		return
	}
	s.written.Add(1)
}

// Close implements the gateway's closer shape; there is nothing buffered.
func (s *SyncRecorder) Close(context.Context) error { return nil }

// Stats reports the recorder's counters.
func (s *SyncRecorder) Stats() Stats {
	return Stats{Written: s.written.Load(), Retries: s.retries.Load(), Unsaved: s.unsaved.Load()}
}
