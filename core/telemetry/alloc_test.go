package telemetry_test

import (
	"context"
	"testing"

	"github.com/claude-gateway/claude-gateway/core/telemetry"
)

// This file sorts first so no other test's exporter goroutines are alive
// while allocations are counted (testing.AllocsPerRun counts the process).

// Recording a request allocates nothing once its labels have been seen.
func TestFinishDoesNotAllocate(t *testing.T) {
	tel, err := telemetry.New(context.Background(), telemetry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, ctx := call(), context.Background()
	tel.Finish(ctx, c)
	tel.AttemptEnd(ctx, dep, 200, "")
	if n := testing.AllocsPerRun(1000, func() {
		tel.AttemptEnd(ctx, dep, 200, "")
		tel.Finish(ctx, c)
	}); n != 0 {
		t.Errorf("%v allocations per request, want 0", n)
	}
}
