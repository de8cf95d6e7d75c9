package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/claude-gateway/claude-gateway/core/router"
)

// Store key layout inside the shared router.Store. Documents are entries;
// budget and rate windows are counters, one per window, so a window resets
// by expiring. Counter subjects are a key's hash, "u:"+user_id or
// "t:"+team_id (hashes are hex, so they never collide with the others).
// Listings read the store's sets (Sets), one member per document.
const (
	keyPrefix   = "idk:"           // idk:<hash> -> Key JSON ("-" once deleted)
	userPrefix  = "idu:"           // idu:<user_id> -> User JSON
	teamPrefix  = "idg:"           // idg:<team_id> -> Team JSON
	keySet      = "identity:keys"  // set of listMember(created_at, hash); also the old index entry
	userSet     = "identity:users" // set of listMember(created_at, user_id)
	teamSet     = "identity:teams" // set of listMember(created_at, team_id)
	spendPrefix = "ids:"           // ids:<subject>:<window start> -> micro-USD
	rpmPrefix   = "idr:"           // idr:<subject>:<minute> -> requests
	tpmPrefix   = "idt:"           // idt:<subject>:<minute> -> tokens
	tombstone   = "-"
)

// Sets is what listings need from the store: named sets of strings, each
// member its own stored item, so documents created at the same time on
// several instances never overwrite each other's index entries (one shared
// list, read, edited and written back, lost one of two concurrent
// additions, and cost O(n) per addition). Every store in core/store has
// them: memory and embedded in their maps, Redis as sorted sets, DynamoDB
// as items of one partition, Firestore as a subcollection.
type Sets interface {
	// SetAdd adds member to set; adding it again changes nothing.
	SetAdd(ctx context.Context, set, member string) error
	// SetRemove removes member from set, if there.
	SetRemove(ctx context.Context, set, member string) error
	// SetRange returns up to limit members of set greater than after in
	// byte order, ascending; fewer than limit means there are no more.
	SetRange(ctx context.Context, set, after string, limit int) ([]string, error)
}

// ErrNoSets is returned by listings on a store without Sets.
var ErrNoSets = errors.New("identity: the state store cannot list (no Sets)")

// userSubject and teamSubject name a user's and a team's counters.
func userSubject(id string) string { return "u:" + id }
func teamSubject(id string) string { return "t:" + id }

// listMember is a document's member of its set: its creation time (fixed
// width, so byte order is time order) and id. Listings so come oldest
// first, and a document created while an admin pages through a listing
// lands after the pages already read instead of shifting them.
func listMember(created time.Time, id string) string {
	ns := int64(0)
	if !created.IsZero() && created.Unix() > 0 {
		ns = created.UnixNano()
	}
	return fmt.Sprintf("%020d %s", ns, id)
}

// memberID is the document id in a set member.
func memberID(m string) string {
	if len(m) < 21 {
		return m
	}
	return m[21:]
}

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

// Put writes k and lists it.
func (r Repo) Put(ctx context.Context, k *Key) error {
	return r.putDoc(ctx, keyPrefix, keySet, k.Token, k.CreatedAt, k)
}

// Delete replaces the key's document with a tombstone and unlists it.
func (r Repo) Delete(ctx context.Context, token string) error {
	return r.deleteDoc(ctx, keyPrefix, keySet, token)
}

// Tokens lists the hashes of every live key, oldest first.
func (r Repo) Tokens(ctx context.Context) ([]string, error) { return r.ids(ctx, keyPrefix, keySet) }

// GetUsers returns the users with ids in one round trip (nil where unknown).
func (r Repo) GetUsers(ctx context.Context, ids []string) ([]*User, error) {
	return getDocs[User](ctx, r.Store, userPrefix, ids)
}

// PutUser writes u and lists it.
func (r Repo) PutUser(ctx context.Context, u *User) error {
	return r.putDoc(ctx, userPrefix, userSet, u.UserID, u.CreatedAt, u)
}

// DeleteUser removes the user's document.
func (r Repo) DeleteUser(ctx context.Context, id string) error {
	return r.deleteDoc(ctx, userPrefix, userSet, id)
}

// UserIDs lists every user, oldest first.
func (r Repo) UserIDs(ctx context.Context) ([]string, error) { return r.ids(ctx, userPrefix, userSet) }

// GetTeams returns the teams with ids in one round trip (nil where unknown).
func (r Repo) GetTeams(ctx context.Context, ids []string) ([]*Team, error) {
	return getDocs[Team](ctx, r.Store, teamPrefix, ids)
}

// PutTeam writes t and lists it.
func (r Repo) PutTeam(ctx context.Context, t *Team) error {
	return r.putDoc(ctx, teamPrefix, teamSet, t.TeamID, t.CreatedAt, t)
}

// DeleteTeam removes the team's document.
func (r Repo) DeleteTeam(ctx context.Context, id string) error {
	return r.deleteDoc(ctx, teamPrefix, teamSet, id)
}

// TeamIDs lists every team, oldest first.
func (r Repo) TeamIDs(ctx context.Context) ([]string, error) { return r.ids(ctx, teamPrefix, teamSet) }

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

// createdAt reads the created_at every document has.
func createdAt(value, name string) (time.Time, error) {
	var doc struct {
		CreatedAt time.Time `json:"created_at"`
	}
	if err := json.Unmarshal([]byte(value), &doc); err != nil {
		return time.Time{}, fmt.Errorf("identity document %s: %w", name, err)
	}
	return doc.CreatedAt, nil
}

func (r Repo) sets() (Sets, error) {
	if s, ok := r.Store.(Sets); ok {
		return s, nil
	}
	return nil, ErrNoSets
}

// putDoc writes the document, then its set member: a crash in between
// leaves a working document that is not listed, never a listed one that
// does not exist.
func (r Repo) putDoc(ctx context.Context, prefix, set, id string, created time.Time, v any) error {
	sets, err := r.sets()
	if err != nil {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := r.Store.Put(ctx, prefix+id, string(b), farFuture); err != nil {
		return err
	}
	return sets.SetAdd(ctx, set, listMember(created, id))
}

// deleteDoc tombstones the document and removes its member (found from the
// document's created_at).
func (r Repo) deleteDoc(ctx context.Context, prefix, set, id string) error {
	sets, err := r.sets()
	if err != nil {
		return err
	}
	es, err := r.Store.Get(ctx, []string{prefix + id})
	if err != nil {
		return err
	}
	if err := r.Store.Put(ctx, prefix+id, tombstone, farFuture); err != nil {
		return err
	}
	if !es[0].Found() || es[0].Value == tombstone {
		return nil
	}
	created, err := createdAt(es[0].Value, prefix+id)
	if err != nil {
		return err
	}
	return sets.SetRemove(ctx, set, listMember(created, id))
}

// listPage is how many members one SetRange reads.
const listPage = 500

// ids lists the ids in set, oldest first, each once, after taking in what
// an older gateway's single index entry (a JSON array) still lists.
func (r Repo) ids(ctx context.Context, prefix, set string) ([]string, error) {
	sets, err := r.sets()
	if err != nil {
		return nil, err
	}
	if err := r.migrate(ctx, sets, prefix, set); err != nil {
		return nil, err
	}
	var ids []string
	seen := map[string]bool{}
	for after := ""; ; {
		ms, err := sets.SetRange(ctx, set, after, listPage)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			// Two instances creating one user at once may both list it.
			if id := memberID(m); !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		if len(ms) < listPage {
			return ids, nil
		}
		after = ms[len(ms)-1]
	}
}

// migrate moves the ids of an older gateway's index entry (a JSON array at
// the set's name) into the set and empties the entry. It leaves "[]", not a
// tombstone: an older instance still running appends to it again, and the
// next listing takes those in too (adding a member twice is harmless).
func (r Repo) migrate(ctx context.Context, sets Sets, prefix, set string) error {
	es, err := r.Store.Get(ctx, []string{set})
	if err != nil {
		return err
	}
	if !es[0].Found() || es[0].Value == "[]" || es[0].Value == tombstone {
		return nil
	}
	var old []string
	if err := json.Unmarshal([]byte(es[0].Value), &old); err != nil {
		return fmt.Errorf("identity index %s: %w", set, err)
	}
	names := appendPrefixed(nil, prefix, old)
	docs, err := r.Store.Get(ctx, names)
	if err != nil {
		return err
	}
	for i, e := range docs {
		if !e.Found() || e.Value == tombstone {
			continue
		}
		created, err := createdAt(e.Value, names[i])
		if err != nil {
			return err
		}
		if err := sets.SetAdd(ctx, set, listMember(created, old[i])); err != nil {
			return err
		}
	}
	return r.Store.Put(ctx, set, "[]", farFuture)
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
