package router

import (
	"context"
	"time"
)

// Store is the shared state the router needs: rate-window counters,
// cooldowns and session-affinity entries. All instances of the gateway
// share it (DynamoDB, Firestore, Redis), or one process owns it (memory,
// embedded). Implementations live in core/store/*; every one passes the
// same conformance suite.
type Store interface {
	// Incr atomically adds delta to the counter at key, in one round trip.
	// If limit > 0 and the new value would exceed limit, nothing is added and
	// ok is false; value is then the current count. The counter (and the
	// key) expires at expires; a new key starts from zero.
	Incr(ctx context.Context, key string, delta, limit int64, expires time.Time) (value int64, ok bool, err error)
	// Counts returns the counters at keys (0 for missing or expired), in one round trip.
	Counts(ctx context.Context, keys []string) ([]int64, error)
	// Put stores value at key until expires (cooldowns, affinity).
	Put(ctx context.Context, key, value string, expires time.Time) error
	// Get returns the entries at keys; a missing or expired key gives the zero Entry.
	Get(ctx context.Context, keys []string) ([]Entry, error)
}

// Entry is a stored value and when it expires.
type Entry struct {
	Value   string
	Expires time.Time
}

// Found reports whether the entry exists.
func (e Entry) Found() bool { return !e.Expires.IsZero() }
