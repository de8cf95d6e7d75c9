package deadlinemargin

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/spend"
)

func TestPlanFor(t *testing.T) {
	now := time.Unix(1700000000, 0)
	at := func(d time.Duration) time.Time { return now.Add(d) }
	tests := []struct {
		name     string
		deadline time.Time
		ok       bool
		margin   time.Duration
		want     Plan
	}{
		{"no deadline", time.Time{}, false, time.Second, Plan{}},
		{"margin off", at(time.Minute), true, 0, Plan{}},
		{"negative margin is off", at(time.Minute), true, -time.Second, Plan{}},
		{"far deadline: the whole margin", at(15 * time.Minute), true, 1500 * time.Millisecond,
			Plan{End: at(15*time.Minute - 1500*time.Millisecond), FlushBy: at(15*time.Minute - 375*time.Millisecond)}},
		{"deadline shorter than the margin: half of what is left", at(time.Second), true, 1500 * time.Millisecond,
			Plan{End: at(500 * time.Millisecond), FlushBy: at(875 * time.Millisecond)}},
		{"margin exactly half", at(3 * time.Second), true, 1500 * time.Millisecond,
			Plan{End: at(1500 * time.Millisecond), FlushBy: at(3*time.Second - 375*time.Millisecond)}},
		{"deadline passed: ends at once", at(-time.Second), true, time.Second, Plan{End: at(-time.Second), FlushBy: at(-time.Second)}},
		{"deadline now", now, true, time.Second, Plan{End: now, FlushBy: now}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := PlanFor(tc.deadline, tc.ok, tc.margin, now)
			if !got.End.Equal(tc.want.End) || !got.FlushBy.Equal(tc.want.FlushBy) {
				t.Fatalf("PlanFor = end %v flush-by %v, want end %v flush-by %v",
					got.End.Sub(now), got.FlushBy.Sub(now), tc.want.End.Sub(now), tc.want.FlushBy.Sub(now))
			}
			if !got.End.IsZero() && (got.End.After(got.FlushBy) || got.FlushBy.After(tc.deadline)) {
				t.Fatalf("plan out of order: end %v flush-by %v deadline %v", got.End, got.FlushBy, tc.deadline)
			}
		})
	}
}

// The handler's request context ends at the plan's End with a timeout
// error as its cause, carries the spend write deadline, and Flush runs
// after the handler with a context ending at FlushBy.
func TestHandler(t *testing.T) {
	var endedAfter time.Duration
	var cause error
	var writeBy time.Time
	var flushDeadline time.Time
	flushed := false
	h := Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		<-r.Context().Done()
		endedAfter = time.Since(start)
		cause = context.Cause(r.Context())
		writeBy, _ = spend.WriteDeadline(context.WithoutCancel(r.Context()))
	}), Options{Margin: 300 * time.Millisecond, Flush: func(ctx context.Context) error {
		flushed = true
		flushDeadline, _ = ctx.Deadline()
		return nil
	}})
	deadline := time.Now().Add(500 * time.Millisecond)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	r := httptest.NewRequest("POST", "/v1/messages", nil).WithContext(ctx)
	h.ServeHTTP(httptest.NewRecorder(), r)
	if endedAfter > 400*time.Millisecond || endedAfter < 150*time.Millisecond {
		t.Errorf("request context ended after %v, want about 200ms (500ms deadline, 300ms margin: half the time left)", endedAfter)
	}
	var le *llm.Error
	if !errors.As(cause, &le) || le.Status != 504 || le.Type != llm.ErrTimeout {
		t.Errorf("cause = %v, want a 504 timeout_error", cause)
	}
	if writeBy.IsZero() || !writeBy.Before(deadline) || !writeBy.After(time.Now().Add(-time.Second)) {
		t.Errorf("spend write deadline %v, want before the invocation deadline %v", writeBy, deadline)
	}
	if !flushed || !flushDeadline.Equal(writeBy) {
		t.Errorf("flushed %v with deadline %v, want by %v", flushed, flushDeadline, writeBy)
	}
}

// Without a deadline (off Lambda) the request is left alone; Flush still
// runs, bounded by its own budget.
func TestHandlerNoDeadline(t *testing.T) {
	var flushDeadline time.Time
	h := Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.Context().Deadline(); ok {
			t.Error("a request without a deadline got one")
		}
		if _, ok := spend.WriteDeadline(r.Context()); ok {
			t.Error("a request without a deadline got a spend write deadline")
		}
	}), Options{Margin: time.Second, Flush: func(ctx context.Context) error {
		flushDeadline, _ = ctx.Deadline()
		return nil
	}})
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/health", nil))
	if left := time.Until(flushDeadline); left <= 0 || left > defaultFlushBudget {
		t.Fatalf("flush budget %v, want up to %v", left, defaultFlushBudget)
	}
}

func TestParseMargin(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1.5", 1500 * time.Millisecond, true},
		{"2", 2 * time.Second, true},
		{"0", 0, true},
		{"750ms", 750 * time.Millisecond, true},
		{" 1s ", time.Second, true},
		{"-1", 0, false},
		{"-1s", 0, false},
		{"NaN", 0, false},
		{"1e9", 0, false},
		{"soon", 0, false},
		{"", 0, false},
	}
	for _, tc := range tests {
		got, err := ParseMargin(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseMargin(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
