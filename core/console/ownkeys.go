package console

import (
	"context"
	"net/http"

	"github.com/claude-gateway/claude-gateway/core/identity"
)

// KeyLister lists every virtual key's hash (identity.Repo is one): how a
// person's own keys are found.
type KeyLister interface {
	Tokens(ctx context.Context) ([]string, error)
}

// maxOwnKeys bounds the keys one person's view lists.
const maxOwnKeys = 100

// myKeys lists the virtual keys of the signed-in person (user_id = their
// email, which their SSO spend records carry too), with each key's spend in
// its budget window. Public fields only: never another person's keys, never
// a hash that admin routes take.
func (c *Console) myKeys(w http.ResponseWriter, r *http.Request) {
	ss := sessionFrom(r.Context())
	lister, ok := c.o.Keys.(KeyLister)
	if ss.Role != roleUser || !ok {
		writeError(w, http.StatusNotFound, "not_found_error", "only a person signed in through SSO has a list of their own keys here")
		return
	}
	tokens, err := lister.Tokens(r.Context())
	var ks []*identity.Key
	if err == nil {
		ks, err = c.o.Keys.GetMany(r.Context(), tokens)
	}
	if err != nil {
		c.storeError(w, r, err)
		return
	}
	own := make([]*identity.Key, 0, 4)
	for _, k := range ks {
		if k != nil && k.UserID == ss.Email && len(own) < maxOwnKeys {
			own = append(own, k)
		}
	}
	sp, err := c.o.Keys.WindowSpend(r.Context(), own, c.o.Now())
	if err != nil {
		c.storeError(w, r, err)
		return
	}
	out := make([]map[string]any, 0, len(own))
	for i, k := range own {
		out = append(out, map[string]any{"key_name": k.KeyName, "key_alias": k.KeyAlias, "team_id": k.TeamID, "models": k.Models,
			"max_budget": k.MaxBudget, "budget_duration": k.BudgetDuration, "blocked": k.Blocked, "expires": k.Expires, "spend": sp[i]})
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": out})
}
