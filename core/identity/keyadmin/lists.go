package keyadmin

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/claude-gateway/claude-gateway/core/identity"
)

// paging reads LiteLLM's page (from 1) and page-size parameter (sizeName:
// "size" on /key/list, "page_size" on /user/list); a bad value is a 400
// naming it.
func paging(w http.ResponseWriter, q url.Values, sizeName string) (page, size int, ok bool) {
	page, size = 1, 10
	for _, p := range []struct {
		name string
		dst  *int
		max  int
	}{{"page", &page, 1 << 30}, {sizeName, &size, 100}} {
		if s := q.Get(p.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > p.max {
				badRequest(w, fmt.Sprintf("%s: want an integer from 1 to %d", p.name, p.max))
				return 0, 0, false
			}
			*p.dst = n
		}
	}
	return page, size, true
}

// userList is LiteLLM's GET /user/list: one page of users, in the order
// they were created, as {"users", "total", "page", "page_size", "total_pages"}.
func (h *handlers) userList(w http.ResponseWriter, r *http.Request) {
	page, size, ok := paging(w, r.URL.Query(), "page_size")
	if !ok {
		return
	}
	ids, err := h.repo.UserIDs(r.Context())
	if err != nil {
		h.storeError(w, err)
		return
	}
	lo, hi := min((page-1)*size, len(ids)), min(page*size, len(ids))
	us, err := h.repo.GetUsers(r.Context(), ids[lo:hi])
	if err != nil {
		h.storeError(w, err)
		return
	}
	writeJSON(w, 200, map[string]any{"users": nonNil(us), "total": len(ids), "page": page, "page_size": size,
		"total_pages": (len(ids) + size - 1) / size})
}

// teamList is LiteLLM's GET /team/list: every team (a JSON array), or only
// those user_id is a member of.
func (h *handlers) teamList(w http.ResponseWriter, r *http.Request) {
	ids, err := h.repo.TeamIDs(r.Context())
	if err != nil {
		h.storeError(w, err)
		return
	}
	ts, err := h.repo.GetTeams(r.Context(), ids)
	if err != nil {
		h.storeError(w, err)
		return
	}
	user := r.URL.Query().Get("user_id")
	out := ts[:0]
	for _, t := range ts {
		if t != nil && (user == "" || slices.ContainsFunc(t.MembersWithRoles, func(m identity.Member) bool { return m.UserID == user })) {
			out = append(out, t)
		}
	}
	writeJSON(w, 200, nonNil(out))
}
