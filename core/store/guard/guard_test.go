package guard

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/claude-gateway/claude-gateway/core/store/memory"
)

// flaky is a store that fails while down is set.
type flaky struct {
	router.Store
	down  bool
	calls int
	block bool // wait for the context instead of answering
}

var errDown = errors.New("connection refused")

func (f *flaky) fail(ctx context.Context) error {
	f.calls++
	if f.block {
		<-ctx.Done()
		return ctx.Err()
	}
	if f.down {
		return errDown
	}
	return nil
}

func (f *flaky) Incr(ctx context.Context, k string, d, l int64, e time.Time) (int64, bool, error) {
	if err := f.fail(ctx); err != nil {
		return 0, false, err
	}
	return f.Store.Incr(ctx, k, d, l, e)
}

func (f *flaky) Counts(ctx context.Context, k []string) ([]int64, error) {
	if err := f.fail(ctx); err != nil {
		return nil, err
	}
	return f.Store.Counts(ctx, k)
}

func (f *flaky) Put(ctx context.Context, k, v string, e time.Time) error {
	if err := f.fail(ctx); err != nil {
		return err
	}
	return f.Store.Put(ctx, k, v, e)
}

func (f *flaky) Get(ctx context.Context, k []string) ([]router.Entry, error) {
	if err := f.fail(ctx); err != nil {
		return nil, err
	}
	return f.Store.Get(ctx, k)
}

func TestFailOpen(t *testing.T) {
	ctx := context.Background()
	var logs bytes.Buffer
	f := &flaky{Store: memory.New(nil), down: true}
	g := New(f, Options{Backend: "test", Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	exp := time.Now().Add(time.Minute)

	if v, ok, err := g.Incr(ctx, "rpm", 1, 1, exp); err != nil || !ok || v != 0 {
		t.Fatalf("Incr = %d, %v, %v; want admitted", v, ok, err)
	}
	if c, err := g.Counts(ctx, []string{"a", "b"}); err != nil || len(c) != 2 || c[0] != 0 {
		t.Fatalf("Counts = %v, %v", c, err)
	}
	if err := g.Put(ctx, "cool", "x", exp); err != nil {
		t.Fatal(err)
	}
	if e, err := g.Get(ctx, []string{"cool"}); err != nil || len(e) != 1 || e[0].Found() {
		t.Fatalf("Get = %v, %v", e, err)
	}
	st := g.Stats()
	if st.Errors != 4 || st.Healthy || !strings.Contains(st.LastError, "connection refused") || st.Backend != "test" {
		t.Fatalf("stats = %+v", st)
	}
	if n := strings.Count(logs.String(), "state store error"); n != 1 {
		t.Fatalf("logged %d error lines for one outage, want 1:\n%s", n, logs.String())
	}

	f.down = false
	if v, ok, err := g.Incr(ctx, "rpm", 1, 1, exp); err != nil || !ok || v != 1 {
		t.Fatalf("after recovery Incr = %d, %v, %v", v, ok, err)
	}
	if v, ok, _ := g.Incr(ctx, "rpm", 1, 1, exp); ok || v != 1 {
		t.Fatalf("limit not enforced after recovery: %d %v", v, ok)
	}
	if st := g.Stats(); !st.Healthy || st.Errors != 4 {
		t.Fatalf("stats after recovery = %+v", st)
	}
	if !strings.Contains(logs.String(), "state store recovered") {
		t.Fatal("recovery not logged")
	}
}

func TestFailClosed(t *testing.T) {
	ctx := context.Background()
	f := &flaky{Store: memory.New(nil), down: true}
	g := New(f, Options{FailClosed: true})
	exp := time.Now().Add(time.Minute)
	if _, ok, err := g.Incr(ctx, "rpm", 1, 10, exp); ok || !errors.Is(err, ErrUnavailable) || !errors.Is(err, errDown) {
		t.Fatalf("Incr = %v, %v; want refused with ErrUnavailable", ok, err)
	}
	if _, err := g.Counts(ctx, []string{"a"}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Counts err = %v", err)
	}
	if err := g.Put(ctx, "a", "b", exp); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Put err = %v", err)
	}
	if _, err := g.Get(ctx, []string{"a"}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Get err = %v", err)
	}
}

// TestPauseAfterFailures: after TripAfter failures the store is not called
// until Pause has passed, then tried again.
func TestPauseAfterFailures(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1000, 0)
	f := &flaky{Store: memory.New(nil), down: true}
	g := New(f, Options{TripAfter: 3, Pause: 5 * time.Second, Now: func() time.Time { return now }})
	for range 10 {
		g.Counts(ctx, []string{"a"})
	}
	if f.calls != 3 {
		t.Fatalf("store called %d times, want 3 before pausing", f.calls)
	}
	if st := g.Stats(); st.Skipped != 7 || st.Errors != 3 {
		t.Fatalf("stats = %+v", st)
	}
	now = now.Add(6 * time.Second)
	f.down = false
	if _, err := g.Counts(ctx, []string{"a"}); err != nil || f.calls != 4 {
		t.Fatalf("after pause: err %v, calls %d", err, f.calls)
	}
	if !g.Stats().Healthy {
		t.Fatal("not healthy after a success")
	}
}

// TestTimeout: a hanging store costs at most Timeout, then fails open.
func TestTimeout(t *testing.T) {
	f := &flaky{Store: memory.New(nil), block: true}
	g := New(f, Options{Timeout: 20 * time.Millisecond})
	if _, ok, err := g.Incr(context.Background(), "k", 1, 1, time.Now().Add(time.Minute)); err != nil || !ok {
		t.Fatalf("Incr = %v, %v; want admitted after the timeout", ok, err)
	}
	if g.Stats().Errors != 1 {
		t.Fatal("timeout not counted")
	}
}

// TestCallerCanceled: a request that went away is not a store failure.
func TestCallerCanceled(t *testing.T) {
	f := &flaky{Store: memory.New(nil), block: true}
	g := New(f, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := g.Incr(ctx, "k", 1, 1, time.Now().Add(time.Minute)); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if st := g.Stats(); st.Errors != 0 || !st.Healthy {
		t.Fatalf("stats = %+v", st)
	}
}

// opLog records what an Observer hears.
type opLog []string

func (l *opLog) StoreOp(backend, op, outcome string, elapsed time.Duration) {
	if elapsed < 0 {
		outcome += " negative"
	}
	*l = append(*l, backend+" "+op+" "+outcome)
}

// The Observer hears every operation: successes, failures and the calls
// skipped while the guard pauses the store.
func TestObserverHearsEveryOperation(t *testing.T) {
	f := &flaky{Store: memory.New(nil)}
	var heard opLog
	now := time.Unix(1000, 0)
	g := New(f, Options{Backend: "redis", TripAfter: 2, Pause: time.Minute, Observer: &heard, Now: func() time.Time { return now }})
	ctx := context.Background()
	g.Incr(ctx, "k", 1, 0, now.Add(time.Minute))
	g.Get(ctx, []string{"k"})
	f.down = true
	g.Put(ctx, "k", "v", now.Add(time.Minute))
	g.Counts(ctx, []string{"k"})
	g.Get(ctx, []string{"k"}) // paused after two failures
	want := opLog{"redis incr ok", "redis get ok", "redis put error", "redis counts error", "redis get skipped"}
	if strings.Join(heard, ",") != strings.Join(want, ",") {
		t.Errorf("heard %q, want %q", heard, want)
	}
}

// deadlines records whether each operation's context had a deadline.
type deadlines struct {
	router.Store
	local bool
	had   []bool
}

func (d *deadlines) InProcess() bool { return d.local }

func (d *deadlines) Incr(ctx context.Context, k string, n, l int64, e time.Time) (int64, bool, error) {
	_, ok := ctx.Deadline()
	d.had = append(d.had, ok)
	return d.Store.Incr(ctx, k, n, l, e)
}

// An in-process store's operations get no deadline (it cannot hang, and a
// timer per operation is what the deadline costs); every other store's do.
func TestDeadlineUnlessInProcess(t *testing.T) {
	for _, tc := range []struct {
		name         string
		local        bool
		wantDeadline bool
	}{{"remote", false, true}, {"in process", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			d := &deadlines{Store: memory.New(nil), local: tc.local}
			g := New(d, Options{})
			if g.InProcess() != tc.local {
				t.Fatalf("InProcess = %v, want %v", g.InProcess(), tc.local)
			}
			if n, ok, err := g.Incr(context.Background(), "k", 2, 0, time.Now().Add(time.Minute)); n != 2 || !ok || err != nil {
				t.Fatalf("Incr = %d, %v, %v", n, ok, err)
			}
			if len(d.had) != 1 || d.had[0] != tc.wantDeadline {
				t.Fatalf("deadline seen = %v, want %v", d.had, tc.wantDeadline)
			}
		})
	}
	if !New(memory.New(nil), Options{}).InProcess() {
		t.Fatal("the memory store is not reported in process")
	}
}
