package console

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/claude-gateway/claude-gateway/core/identity"
)

// OwnerDirectory lists users and teams with their budget use (identity.Repo
// is one). The admin routes have no list of their own (LiteLLM's /user/list
// and /team/list), so the users and teams pages read them here; creating,
// editing and deleting still go through /user/* and /team/*.
type OwnerDirectory interface {
	UserIDs(ctx context.Context) ([]string, error)
	GetUsers(ctx context.Context, ids []string) ([]*identity.User, error)
	UserSpend(ctx context.Context, u *identity.User, now time.Time) (float64, error)
	TeamIDs(ctx context.Context) ([]string, error)
	GetTeams(ctx context.Context, ids []string) ([]*identity.Team, error)
	TeamSpend(ctx context.Context, t *identity.Team, now time.Time) (float64, error)
}

// maxOwners bounds one listing.
const maxOwners = 500

// withSpend is a user or team document with "spend" (its budget window's) added.
func withSpend(doc any, spend float64) map[string]any {
	b, _ := json.Marshal(doc)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	m["spend"] = spend
	return m
}

func (c *Console) owners() (OwnerDirectory, bool) {
	d, ok := c.o.Keys.(OwnerDirectory)
	return d, ok
}

// users answers LiteLLM's /user/list shape: {"users": [...], "total": n}.
func (c *Console) users(w http.ResponseWriter, r *http.Request) {
	d, ok := c.owners()
	if !ok {
		writeError(w, http.StatusNotFound, "not_found_error", "this gateway keeps no users")
		return
	}
	ids, err := d.UserIDs(r.Context())
	if err == nil && len(ids) > maxOwners {
		ids = ids[:maxOwners]
	}
	var us []*identity.User
	if err == nil {
		us, err = d.GetUsers(r.Context(), ids)
	}
	if err != nil {
		c.storeError(w, r, err)
		return
	}
	out := []map[string]any{}
	for _, u := range us {
		if u == nil {
			continue
		}
		sp, _ := d.UserSpend(r.Context(), u, c.o.Now())
		out = append(out, withSpend(u, sp))
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out, "total": len(out)})
}

// teams answers LiteLLM's /team/list shape: a list of teams.
func (c *Console) teams(w http.ResponseWriter, r *http.Request) {
	d, ok := c.owners()
	if !ok {
		writeError(w, http.StatusNotFound, "not_found_error", "this gateway keeps no teams")
		return
	}
	ids, err := d.TeamIDs(r.Context())
	if err == nil && len(ids) > maxOwners {
		ids = ids[:maxOwners]
	}
	var ts []*identity.Team
	if err == nil {
		ts, err = d.GetTeams(r.Context(), ids)
	}
	if err != nil {
		c.storeError(w, r, err)
		return
	}
	out := []map[string]any{}
	for _, t := range ts {
		if t == nil {
			continue
		}
		sp, _ := d.TeamSpend(r.Context(), t, c.o.Now())
		out = append(out, withSpend(t, sp))
	}
	writeJSON(w, http.StatusOK, out)
}
