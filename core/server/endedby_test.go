package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/llm"
)

// A request context ended with an *llm.Error cause was ended on purpose by
// its runtime (Lambda's deadline margin): the client is still there and
// gets that error. Any other end is the client leaving.
func TestEndedBy(t *testing.T) {
	timeout := &llm.Error{Status: 504, Type: llm.ErrTimeout, Message: "deadline"}
	past := time.Now().Add(-time.Second)
	tests := []struct {
		name string
		ctx  func() context.Context
		want *llm.Error
	}{
		{"live", func() context.Context { return context.Background() }, nil},
		{"client gone", func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, nil},
		{"plain deadline", func() context.Context {
			ctx, cancel := context.WithDeadline(context.Background(), past)
			t.Cleanup(cancel)
			return ctx
		}, nil},
		{"other cause", func() context.Context {
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(errors.New("connection reset"))
			return ctx
		}, nil},
		{"runtime deadline", func() context.Context {
			ctx, cancel := context.WithDeadlineCause(context.Background(), past, timeout)
			t.Cleanup(cancel)
			return ctx
		}, timeout},
		{"child of a runtime deadline", func() context.Context {
			parent, cancel := context.WithDeadlineCause(context.Background(), past, timeout)
			t.Cleanup(cancel)
			ctx, cancel2 := context.WithCancel(parent)
			t.Cleanup(cancel2)
			return ctx
		}, timeout},
		{"cause set but not ended yet", func() context.Context {
			ctx, cancel := context.WithDeadlineCause(context.Background(), time.Now().Add(time.Hour), timeout)
			t.Cleanup(cancel)
			return ctx
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := endedBy(tc.ctx()); got != tc.want {
				t.Fatalf("endedBy = %v, want %v", got, tc.want)
			}
		})
	}
}
