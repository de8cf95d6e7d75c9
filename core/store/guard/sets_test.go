package guard

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/claude-gateway/claude-gateway/core/store/memory"
)

// TestSetsPassThrough: the guard passes set operations to a store that has
// them, refuses them (never an empty answer) for one that has none, and
// does not fail open while the store is down.
func TestSetsPassThrough(t *testing.T) {
	ctx := context.Background()
	g := New(memory.New(nil), Options{})
	for _, m := range []string{"b", "a"} {
		if err := g.SetAdd(ctx, "s", m); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.SetRemove(ctx, "s", "b"); err != nil {
		t.Fatal(err)
	}
	if got, err := g.SetRange(ctx, "s", "", 10); err != nil || fmt.Sprint(got) != "[a]" {
		t.Fatalf("SetRange = %v, %v; want [a]", got, err)
	}
	none := New(&flaky{Store: memory.New(nil)}, Options{})
	if _, err := none.SetRange(ctx, "s", "", 10); !errors.Is(err, errNoSets) {
		t.Fatalf("SetRange on a store without sets: %v, want errNoSets", err)
	}
	down := New(downSets{}, Options{})
	if err := down.SetAdd(ctx, "s", "a"); !errors.Is(err, errDown) {
		t.Fatalf("SetAdd with the store down: %v, want its error", err)
	}
	if got, err := down.SetRange(ctx, "s", "", 10); err == nil {
		t.Fatalf("SetRange with the store down = %v, nil; want an error", got)
	}
}

// downSets is a store whose set operations fail.
type downSets struct{ *memory.Store }

func (downSets) SetAdd(context.Context, string, string) error    { return errDown }
func (downSets) SetRemove(context.Context, string, string) error { return errDown }
func (downSets) SetRange(context.Context, string, string, int) ([]string, error) {
	return nil, errDown
}
