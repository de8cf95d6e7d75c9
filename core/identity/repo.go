package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/claude-gateway/claude-gateway/core/router"
)

// Store key layout inside the shared router.Store. Documents are entries;
// budget and rate windows are counters, one per window, so a window resets
// by expiring. Counter subjects are a key's hash, "u:"+user_id or
// "t:"+team_id (hashes are hex, so they never collide with the others).
const (
	keyPrefix   = "idk:"           // idk:<hash> -> Key JSON ("-" once deleted)
	userPrefix  = "idu:"           // idu:<user_id> -> User JSON
	teamPrefix  = "idg:"           // idg:<team_id> -> Team JSON
	indexKey    = "identity:keys"  // JSON array of hashes, for /key/list
	userIndex   = "identity:users" // JSON array of user ids
	teamIndex   = "identity:teams" // JSON array of team ids
	spendPrefix = "ids:"           // ids:<subject>:<window start> -> micro-USD
	rpmPrefix   = "idr:"           // idr:<subject>:<minute> -> requests
	tpmPrefix   = "idt:"           // idt:<subject>:<minute> -> tokens
	tombstone   = "-"
)

// userSubject and teamSubject name a user's and a team's counters.
func userSubject(id string) string { return "u:" + id }
func teamSubject(id string) string { return "t:" + id }

// Repo reads and writes key, user and team documents in a router.Store.
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
	return getDocs[Key](ctx, r.Store, keyPrefix, tokens)
}

// Put writes k (and adds it to the index when new).
func (r Repo) Put(ctx context.Context, k *Key) error {
	return r.putDoc(ctx, keyPrefix, indexKey, k.Token, k)
}

// Delete replaces the key's document with a tombstone and drops it from the index.
func (r Repo) Delete(ctx context.Context, token string) error {
	return r.deleteDoc(ctx, keyPrefix, indexKey, token)
}

// Tokens lists the hashes of every live key, oldest first.
func (r Repo) Tokens(ctx context.Context) ([]string, error) { return r.ids(ctx, indexKey) }

// GetUsers returns the users with ids in one round trip (nil where unknown).
func (r Repo) GetUsers(ctx context.Context, ids []string) ([]*User, error) {
	return getDocs[User](ctx, r.Store, userPrefix, ids)
}

// PutUser writes u (and adds it to the user index when new).
func (r Repo) PutUser(ctx context.Context, u *User) error {
	return r.putDoc(ctx, userPrefix, userIndex, u.UserID, u)
}

// DeleteUser removes the user's document.
func (r Repo) DeleteUser(ctx context.Context, id string) error {
	return r.deleteDoc(ctx, userPrefix, userIndex, id)
}

// UserIDs lists every user, oldest first.
func (r Repo) UserIDs(ctx context.Context) ([]string, error) { return r.ids(ctx, userIndex) }

// GetTeams returns the teams with ids in one round trip (nil where unknown).
func (r Repo) GetTeams(ctx context.Context, ids []string) ([]*Team, error) {
	return getDocs[Team](ctx, r.Store, teamPrefix, ids)
}

// PutTeam writes t (and adds it to the team index when new).
func (r Repo) PutTeam(ctx context.Context, t *Team) error {
	return r.putDoc(ctx, teamPrefix, teamIndex, t.TeamID, t)
}

// DeleteTeam removes the team's document.
func (r Repo) DeleteTeam(ctx context.Context, id string) error {
	return r.deleteDoc(ctx, teamPrefix, teamIndex, id)
}

// TeamIDs lists every team, oldest first.
func (r Repo) TeamIDs(ctx context.Context) ([]string, error) { return r.ids(ctx, teamIndex) }

// getDocs reads the documents prefix+id for ids in one Get.
func getDocs[T any](ctx context.Context, s router.Store, prefix string, ids []string) ([]*T, error) {
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = prefix + id
	}
	es, err := s.Get(ctx, names)
	if err != nil {
		return nil, err
	}
	out := make([]*T, len(ids))
	for i, e := range es {
		if !e.Found() || e.Value == tombstone {
			continue
		}
		v, err := decodeDoc[T](e.Value, names[i])
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func decodeDoc[T any](value, name string) (*T, error) {
	var v T
	if err := json.Unmarshal([]byte(value), &v); err != nil {
		return nil, fmt.Errorf("identity document %s: %w", name, err)
	}
	return &v, nil
}

func (r Repo) putDoc(ctx context.Context, prefix, index, id string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := r.Store.Put(ctx, prefix+id, string(b), farFuture); err != nil {
		return err
	}
	return r.editIndex(ctx, index, func(ids []string) []string {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
		return ids
	})
}

func (r Repo) deleteDoc(ctx context.Context, prefix, index, id string) error {
	if err := r.Store.Put(ctx, prefix+id, tombstone, farFuture); err != nil {
		return err
	}
	return r.editIndex(ctx, index, func(ids []string) []string {
		return slices.DeleteFunc(ids, func(t string) bool { return t == id })
	})
}

func (r Repo) ids(ctx context.Context, index string) ([]string, error) {
	es, err := r.Store.Get(ctx, []string{index})
	if err != nil {
		return nil, err
	}
	var ids []string
	if es[0].Found() {
		if err := json.Unmarshal([]byte(es[0].Value), &ids); err != nil {
			return nil, fmt.Errorf("identity index %s: %w", index, err)
		}
	}
	return ids, nil
}

// editIndex is a read-modify-write of an index entry. Two admins creating
// documents at the same instant on different instances can lose one index
// entry (the document itself still works; it is missing from listings only).
func (r Repo) editIndex(ctx context.Context, index string, edit func([]string) []string) error {
	ids, err := r.ids(ctx, index)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(edit(ids))
	return r.Store.Put(ctx, index, string(b), farFuture)
}

// spendCounter names the budget counter of subject's window containing now.
func spendCounter(subject string, w Window, now time.Time) (name string, end time.Time) {
	start, end := w.Span(now)
	return fmt.Sprintf("%s%s:%d", spendPrefix, subject, start.Unix()), end
}

// minuteCounter names a per-minute counter (rpm, tpm).
func minuteCounter(prefix, subject string, now time.Time) (name string, end time.Time) {
	start := now.UTC().Truncate(time.Minute)
	return fmt.Sprintf("%s%s:%d", prefix, subject, start.Unix()), start.Add(time.Minute)
}

// KeySpend is the key's spend (USD) in its current budget window.
func (r Repo) KeySpend(ctx context.Context, k *Key, now time.Time) (float64, error) {
	return r.spend(ctx, k.Token, k.BudgetDuration, now)
}

// UserSpend is the user's spend (USD, all its keys) in its current budget window.
func (r Repo) UserSpend(ctx context.Context, u *User, now time.Time) (float64, error) {
	return r.spend(ctx, userSubject(u.UserID), u.BudgetDuration, now)
}

// TeamSpend is the team's spend (USD, all its keys) in its current budget window.
func (r Repo) TeamSpend(ctx context.Context, t *Team, now time.Time) (float64, error) {
	return r.spend(ctx, teamSubject(t.TeamID), t.BudgetDuration, now)
}

func (r Repo) spend(ctx context.Context, subject, duration string, now time.Time) (float64, error) {
	w, _ := ParseWindow(duration)
	name, _ := spendCounter(subject, w, now)
	vs, err := r.Store.Counts(ctx, []string{name})
	if err != nil {
		return 0, err
	}
	return float64(vs[0]) / 1e6, nil
}
