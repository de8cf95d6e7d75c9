package guard

import (
	"context"
	"errors"
)

// sets is the listing capability of the stores in core/store (see
// identity.Sets): named sets of strings, each member its own item.
type sets interface {
	SetAdd(ctx context.Context, set, member string) error
	SetRemove(ctx context.Context, set, member string) error
	SetRange(ctx context.Context, set, after string, limit int) ([]string, error)
}

// errNoSets is returned when the wrapped store cannot list.
var errNoSets = errors.New("guard: the state store has no sets")

// Set operations keep the deadline and the failure count of every other
// operation, but never fail open: they serve admin listings, where an
// empty answer or a silently dropped member would mislead.

// SetAdd passes to the wrapped store.
func (g *Store) SetAdd(ctx context.Context, set, member string) error {
	s, ok := g.inner.(sets)
	if !ok {
		return errNoSets
	}
	return g.call(ctx, "set_add", func(ctx context.Context) error { return s.SetAdd(ctx, set, member) })
}

// SetRemove passes to the wrapped store.
func (g *Store) SetRemove(ctx context.Context, set, member string) error {
	s, ok := g.inner.(sets)
	if !ok {
		return errNoSets
	}
	return g.call(ctx, "set_remove", func(ctx context.Context) error { return s.SetRemove(ctx, set, member) })
}

// SetRange passes to the wrapped store.
func (g *Store) SetRange(ctx context.Context, set, after string, limit int) ([]string, error) {
	s, ok := g.inner.(sets)
	if !ok {
		return nil, errNoSets
	}
	var out []string
	err := g.call(ctx, "set_range", func(ctx context.Context) (err error) {
		out, err = s.SetRange(ctx, set, after, limit)
		return err
	})
	return out, err
}
