package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/claude-gateway/claude-gateway/core/router"
)

// Store key layout inside the shared router.Store. Key documents are
// entries; budget and rate windows are counters, one per window, so a
// window resets by expiring.
const (
	keyPrefix   = "idk:"          // idk:<hash> -> Key JSON ("-" once deleted)
	indexKey    = "identity:keys" // JSON array of hashes, for /key/list
	spendPrefix = "ids:"          // ids:<hash>:<window start> -> micro-USD
	rpmPrefix   = "idr:"          // idr:<hash>:<minute> -> requests
	tpmPrefix   = "idt:"          // idt:<hash>:<minute> -> tokens
	tombstone   = "-"
)

// Repo reads and writes key documents in a router.Store.
type Repo struct {
	Store router.Store
}

// Get returns the key with hash token; nil if unknown or deleted.
func (r Repo) Get(ctx context.Context, token string) (*Key, error) {
	keys, err := r.GetMany(ctx, []string{token})
	if err != nil {
		return nil, err
	}
	return keys[0], nil
}

// GetMany returns the keys for tokens in one round trip (nil where unknown).
func (r Repo) GetMany(ctx context.Context, tokens []string) ([]*Key, error) {
	names := make([]string, len(tokens))
	for i, t := range tokens {
		names[i] = keyPrefix + t
	}
	es, err := r.Store.Get(ctx, names)
	if err != nil {
		return nil, err
	}
	out := make([]*Key, len(tokens))
	for i, e := range es {
		if !e.Found() || e.Value == tombstone {
			continue
		}
		var k Key
		if err := json.Unmarshal([]byte(e.Value), &k); err != nil {
			return nil, fmt.Errorf("key document %d: %w", i, err)
		}
		out[i] = &k
	}
	return out, nil
}

// Put writes k (and adds it to the index when new).
func (r Repo) Put(ctx context.Context, k *Key) error {
	b, err := json.Marshal(k)
	if err != nil {
		return err
	}
	if err := r.Store.Put(ctx, keyPrefix+k.Token, string(b), farFuture); err != nil {
		return err
	}
	return r.editIndex(ctx, func(ts []string) []string {
		if !slices.Contains(ts, k.Token) {
			ts = append(ts, k.Token)
		}
		return ts
	})
}

// Delete replaces the key's document with a tombstone and drops it from the index.
func (r Repo) Delete(ctx context.Context, token string) error {
	if err := r.Store.Put(ctx, keyPrefix+token, tombstone, farFuture); err != nil {
		return err
	}
	return r.editIndex(ctx, func(ts []string) []string {
		return slices.DeleteFunc(ts, func(t string) bool { return t == token })
	})
}

// Tokens lists the hashes of every live key, oldest first.
func (r Repo) Tokens(ctx context.Context) ([]string, error) {
	es, err := r.Store.Get(ctx, []string{indexKey})
	if err != nil {
		return nil, err
	}
	var ts []string
	if es[0].Found() {
		if err := json.Unmarshal([]byte(es[0].Value), &ts); err != nil {
			return nil, fmt.Errorf("key index: %w", err)
		}
	}
	return ts, nil
}

// editIndex is a read-modify-write of the index entry. Two admins creating
// keys at the same instant on different instances can lose one index entry
// (the key itself still works; it is missing from /key/list only).
func (r Repo) editIndex(ctx context.Context, edit func([]string) []string) error {
	ts, err := r.Tokens(ctx)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(edit(ts))
	return r.Store.Put(ctx, indexKey, string(b), farFuture)
}

// spendCounter names the budget counter of token's window containing now.
func spendCounter(token string, w Window, now time.Time) (name string, end time.Time) {
	start, end := w.Span(now)
	return fmt.Sprintf("%s%s:%d", spendPrefix, token, start.Unix()), end
}

// minuteCounter names a per-minute counter (rpm, tpm).
func minuteCounter(prefix, token string, now time.Time) (name string, end time.Time) {
	start := now.UTC().Truncate(time.Minute)
	return fmt.Sprintf("%s%s:%d", prefix, token, start.Unix()), start.Add(time.Minute)
}
