package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/llm"
)

func TestClassify(t *testing.T) {
	ra := llm.NewError(429, "slow")
	ra.RetryAfter = 3 * time.Second
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name      string
		ctx       context.Context
		err       error
		timedOut  bool
		class     errClass
		retryable bool
		status    int
	}{
		{"429", nil, ra, false, classRateLimit, true, 429},
		{"529", nil, &llm.Error{Status: 529, Type: llm.ErrOverloaded}, false, classRateLimit, true, 529},
		{"500", nil, llm.NewError(500, "x"), false, classInternal, true, 500},
		{"503", nil, llm.NewError(503, "x"), false, classRateLimit, true, 503}, // overloaded_error type
		{"404", nil, llm.NewError(404, "no such model here"), false, classInternal, true, 404},
		{"401", nil, llm.NewError(401, "x"), false, classAuth, true, 401},
		{"403", nil, llm.NewError(403, "x"), false, classAuth, true, 403},
		{"400", nil, llm.NewError(400, "bad"), false, classBadRequest, false, 400},
		{"413", nil, llm.NewError(413, "big"), false, classBadRequest, false, 413},
		{"422", nil, llm.NewError(422, "x"), false, classBadRequest, false, 422},
		{"400 context window", nil, llm.NewError(400, "prompt is too long: 210000 tokens > 200000 maximum"), false, classBadRequest, false, 400},
		{"400 content filter", nil, llm.NewError(400, "Output blocked by content filtering policy"), false, classContentPolicy, false, 400},
		{"504", nil, llm.NewError(504, "x"), false, classTimeout, true, 504},
		{"attempt timer", nil, context.Canceled, true, classTimeout, true, 504},
		{"deadline", nil, fmt.Errorf("read: %w", context.DeadlineExceeded), false, classTimeout, true, 504},
		{"connection refused", nil, errors.New("dial tcp: connection refused"), false, classInternal, true, 502},
		{"client went away", canceled, context.Canceled, false, classCanceled, false, 499},
		{"stream ended early", nil, io.ErrUnexpectedEOF, false, classInternal, true, 502},
	} {
		ctx := tc.ctx
		if ctx == nil {
			ctx = context.Background()
		}
		f := classify(ctx, tc.err, tc.timedOut)
		if f.class != tc.class || f.retryable() != tc.retryable || f.status != tc.status {
			t.Errorf("%s: class %v retryable %v status %d; want %v %v %d", tc.name, f.class, f.retryable(), f.status,
				tc.class, tc.retryable, tc.status)
		}
	}
	if f := classify(context.Background(), ra, false); f.retryAfter != 3*time.Second {
		t.Errorf("retry-after %v", f.retryAfter)
	}
	if f := classify(context.Background(), llm.NewError(400, "input is too long for requested model"), false); !f.contextWindow {
		t.Error("Bedrock's context window message not recognised")
	}
}

func TestRetryBudget(t *testing.T) {
	r := New(nil, config.RouterSettings{NumRetries: 5, NumRetriesSet: true,
		RetryPolicy: map[string]int{"TimeoutErrorRetries": 1, "AuthenticationErrorRetries": 0}}, Options{})
	for _, tc := range []struct {
		err  error
		want int
	}{
		{llm.NewError(500, ""), 5},
		{llm.NewError(504, ""), 1},
		{llm.NewError(401, ""), 0},
		{llm.NewError(400, ""), 0},
		{llm.NewError(429, ""), 5},
	} {
		if got := r.retryBudget(classify(context.Background(), tc.err, false)); got != tc.want {
			t.Errorf("%v: budget %d, want %d", tc.err, got, tc.want)
		}
	}
	lit := &config.LitellmSettings{NumRetries: 1, NumRetriesSet: true}
	if r := New(nil, config.RouterSettings{}, Options{Litellm: lit}); r.retries != 1 {
		t.Errorf("litellm_settings.num_retries not used: %d", r.retries)
	}
	if r := New(nil, config.RouterSettings{}, Options{}); r.retries != 3 {
		t.Errorf("default num_retries %d, want 3", r.retries)
	}
}

func TestBackoff(t *testing.T) {
	r := New(nil, config.RouterSettings{}, Options{})
	rnd := &splitMix{s: 1}
	for n := 1; n <= 8; n++ {
		hi := min(500*time.Millisecond<<(n-1), 8*time.Second)
		for range 100 {
			d, ok := r.backoff(n, 0, rnd)
			if !ok || d < hi/2 || d > hi {
				t.Fatalf("retry %d: %v, want within [%v, %v]", n, d, hi/2, hi)
			}
		}
	}
	if d, ok := r.backoff(1, 20*time.Second, rnd); !ok || d != 20*time.Second {
		t.Errorf("retry-after 20s: %v %v", d, ok)
	}
	if _, ok := r.backoff(1, time.Minute, rnd); ok {
		t.Error("waited out a one-minute retry-after inside a request")
	}
	slow := New(nil, config.RouterSettings{RetryAfter: 2 * time.Second}, Options{})
	if d, _ := slow.backoff(1, 0, rnd); d < time.Second || d > 2*time.Second {
		t.Errorf("router_settings.retry_after as base: %v", d)
	}
}
