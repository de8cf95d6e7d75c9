package keyadmin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"github.com/claude-gateway/claude-gateway/core/identity"
)

// teamRequest is the body of /team/new and /team/update (LiteLLM's names).
type teamRequest struct {
	TeamID           *string            `json:"team_id"`
	TeamAlias        *string            `json:"team_alias"`
	MembersWithRoles *[]identity.Member `json:"members_with_roles"`
	policyRequest
}

func checkMember(field string, m identity.Member) error {
	if m.Role != "admin" && m.Role != "user" {
		return badField(field+".role", `want "admin" or "user"`)
	}
	if m.UserID == "" && m.UserEmail == "" {
		return badField(field, "user_id or user_email required")
	}
	return nil
}

// applyTeam validates r and writes it onto t; t is untouched on error.
func (h *handlers) applyTeam(r *teamRequest, t *identity.Team) error {
	next := *t
	if err := h.applyPolicy(&r.policyRequest, &next.Policy); err != nil {
		return err
	}
	if r.MembersWithRoles != nil {
		for i, m := range *r.MembersWithRoles {
			if err := checkMember(fmt.Sprintf("members_with_roles[%d]", i), m); err != nil {
				return err
			}
		}
		next.MembersWithRoles = append([]identity.Member{}, *r.MembersWithRoles...)
	}
	setIf(&next.TeamAlias, r.TeamAlias)
	*t = next
	return nil
}

func (h *handlers) teamNew(w http.ResponseWriter, r *http.Request) {
	var req teamRequest
	if !decode(w, r, &req) {
		return
	}
	now := h.o.Now().UTC()
	t := &identity.Team{TeamID: newID(), MembersWithRoles: []identity.Member{}, CreatedAt: now, UpdatedAt: now}
	t.Models, t.Metadata = []string{}, map[string]any{}
	if req.TeamID != nil {
		if *req.TeamID == "" {
			badRequest(w, "team_id: must not be empty")
			return
		}
		t.TeamID = *req.TeamID
	}
	if err := h.applyTeam(&req, t); err != nil {
		h.refuse(w, err)
		return
	}
	if ts, err := h.repo.GetTeams(r.Context(), []string{t.TeamID}); err != nil {
		h.storeError(w, err)
		return
	} else if ts[0] != nil {
		badRequest(w, "team_id: already exists")
		return
	}
	if err := h.repo.PutTeam(r.Context(), t); err != nil {
		h.storeError(w, err)
		return
	}
	for _, m := range t.MembersWithRoles {
		if _, err := h.joinUser(r.Context(), t.TeamID, m); err != nil {
			h.storeError(w, err)
			return
		}
	}
	h.o.OwnersChanged(r.Context())
	h.writeTeam(w, r, t, nil)
}

// writeTeam answers with LiteLLM's team row: the team and its window's spend.
func (h *handlers) writeTeam(w http.ResponseWriter, r *http.Request, t *identity.Team, extra map[string]any) {
	spend, err := h.repo.TeamSpend(r.Context(), t, h.o.Now())
	if err != nil {
		h.storeError(w, err)
		return
	}
	out := asMap(t)
	out["spend"] = spend
	for k, v := range extra {
		out[k] = v
	}
	writeJSON(w, 200, out)
}

// findTeam reads the team named in a request; it answers 400 or 404 itself.
func (h *handlers) findTeam(w http.ResponseWriter, r *http.Request, id string) *identity.Team {
	if id == "" {
		badRequest(w, "team_id: required")
		return nil
	}
	ts, err := h.repo.GetTeams(r.Context(), []string{id})
	if err != nil {
		h.storeError(w, err)
		return nil
	}
	if ts[0] == nil {
		writeJSON(w, 404, errorBody("not_found_error", "team_id: team "+id+" not found"))
	}
	return ts[0]
}

// teamInfo is LiteLLM's /team/info: the team (with spend), its keys and memberships.
func (h *handlers) teamInfo(w http.ResponseWriter, r *http.Request) {
	t := h.findTeam(w, r, r.URL.Query().Get("team_id"))
	if t == nil {
		return
	}
	spend, err := h.repo.TeamSpend(r.Context(), t, h.o.Now())
	if err != nil {
		h.storeError(w, err)
		return
	}
	keys, err := h.keysWhere(r.Context(), func(k *identity.Key) bool { return k.TeamID == t.TeamID })
	if err != nil {
		h.storeError(w, err)
		return
	}
	info := asMap(t)
	info["spend"] = spend
	writeJSON(w, 200, map[string]any{"team_id": t.TeamID, "team_info": info, "keys": keys, "team_memberships": memberships(t)})
}

func memberships(t *identity.Team) []map[string]any {
	out := []map[string]any{}
	for _, m := range t.MembersWithRoles {
		if m.UserID != "" {
			out = append(out, map[string]any{"team_id": t.TeamID, "user_id": m.UserID, "budget_id": nil, "spend": 0})
		}
	}
	return out
}

func (h *handlers) teamUpdate(w http.ResponseWriter, r *http.Request) {
	var req teamRequest
	if !decode(w, r, &req) {
		return
	}
	if req.TeamID == nil {
		badRequest(w, "team_id: required")
		return
	}
	t := h.findTeam(w, r, *req.TeamID)
	if t == nil {
		return
	}
	if err := h.applyTeam(&req, t); err != nil {
		h.refuse(w, err)
		return
	}
	t.UpdatedAt = h.o.Now().UTC()
	if err := h.repo.PutTeam(r.Context(), t); err != nil {
		h.storeError(w, err)
		return
	}
	h.o.OwnersChanged(r.Context())
	writeJSON(w, 200, map[string]any{"team_id": t.TeamID, "data": t})
}

// teamDelete deletes teams and, as LiteLLM, their keys; members leave them.
func (h *handlers) teamDelete(w http.ResponseWriter, r *http.Request) {
	var req struct {
		TeamIDs []string `json:"team_ids"`
	}
	if !decode(w, r, &req) {
		return
	}
	deleteOwners(h, w, r, req.TeamIDs, ownerKind[identity.Team]{field: "team_ids", noun: "team", result: "deleted_teams",
		get: h.repo.GetTeams, del: h.repo.DeleteTeam, unlink: h.leaveUsers,
		id: func(t *identity.Team) string { return t.TeamID }, ownerOf: func(k *identity.Key) string { return k.TeamID }})
}

func (h *handlers) leaveUsers(ctx context.Context, t *identity.Team) error {
	var ids []string
	for _, m := range t.MembersWithRoles {
		if m.UserID != "" {
			ids = append(ids, m.UserID)
		}
	}
	us, err := h.repo.GetUsers(ctx, ids)
	if err != nil {
		return err
	}
	for _, u := range us {
		if u == nil {
			continue
		}
		u.Teams = slices.DeleteFunc(u.Teams, func(id string) bool { return id == t.TeamID })
		if err := h.repo.PutUser(ctx, u); err != nil {
			return err
		}
	}
	return nil
}

// teamMemberAdd is LiteLLM's /team/member_add: "member" is one member or a
// list; a member's user is created if it does not exist yet.
func (h *handlers) teamMemberAdd(w http.ResponseWriter, r *http.Request) {
	var req struct {
		TeamID          string          `json:"team_id"`
		Member          json.RawMessage `json:"member"`
		MaxBudgetInTeam *float64        `json:"max_budget_in_team"`
	}
	if !decode(w, r, &req) {
		return
	}
	if req.MaxBudgetInTeam != nil {
		badRequest(w, "max_budget_in_team: not supported; give the user a max_budget (/user/update) instead")
		return
	}
	var members []identity.Member
	body := bytes.TrimSpace(req.Member)
	var err error
	switch {
	case len(body) == 0 || string(body) == "null":
		badRequest(w, "member: required")
		return
	case body[0] == '[':
		err = strictUnmarshal(body, &members)
	default:
		var m identity.Member
		err = strictUnmarshal(body, &m)
		members = []identity.Member{m}
	}
	if err != nil {
		badRequest(w, "member: want {\"role\": ..., \"user_id\": ...} or a list of them: "+err.Error())
		return
	}
	t := h.findTeam(w, r, req.TeamID)
	if t == nil {
		return
	}
	for i, m := range members {
		field := "member"
		if body[0] == '[' {
			field = fmt.Sprintf("member[%d]", i)
		}
		if err := checkMember(field, m); err != nil {
			h.refuse(w, err)
			return
		}
		if slices.ContainsFunc(t.MembersWithRoles, func(x identity.Member) bool { return sameMember(x, m) }) {
			badRequest(w, field+": already a member of team "+t.TeamID)
			return
		}
	}
	updated := []any{}
	for _, m := range members {
		u, err := h.joinUser(r.Context(), t.TeamID, m)
		if err != nil {
			h.storeError(w, err)
			return
		}
		if u != nil {
			m.UserID = u.UserID
			updated = append(updated, u)
		}
		t.MembersWithRoles = append(t.MembersWithRoles, m)
	}
	t.UpdatedAt = h.o.Now().UTC()
	if err := h.repo.PutTeam(r.Context(), t); err != nil {
		h.storeError(w, err)
		return
	}
	h.o.OwnersChanged(r.Context())
	h.writeTeam(w, r, t, map[string]any{"updated_users": updated, "updated_team_memberships": memberships(t)})
}

func sameMember(a, b identity.Member) bool {
	return (a.UserID != "" && a.UserID == b.UserID) || (a.UserEmail != "" && a.UserEmail == b.UserEmail)
}

// joinUser records team membership on the member's user, creating the user
// (LiteLLM does) when it does not exist; nil for an email-only member.
func (h *handlers) joinUser(ctx context.Context, teamID string, m identity.Member) (*identity.User, error) {
	if m.UserID == "" {
		return nil, nil
	}
	us, err := h.repo.GetUsers(ctx, []string{m.UserID})
	if err != nil {
		return nil, err
	}
	u := us[0]
	if u == nil {
		now := h.o.Now().UTC()
		u = &identity.User{UserID: m.UserID, UserEmail: m.UserEmail, UserRole: identity.RoleInternalUser, Teams: []string{}, CreatedAt: now, UpdatedAt: now}
		u.Models, u.Metadata = []string{}, map[string]any{}
	}
	if !slices.Contains(u.Teams, teamID) {
		u.Teams = append(u.Teams, teamID)
	}
	return u, h.repo.PutUser(ctx, u)
}

// addMember adds m to t (a user joining through /user/new or /user/update).
func (h *handlers) addMember(ctx context.Context, t *identity.Team, m identity.Member) error {
	if slices.ContainsFunc(t.MembersWithRoles, func(x identity.Member) bool { return sameMember(x, m) }) {
		return nil
	}
	t.MembersWithRoles = append(t.MembersWithRoles, m)
	return h.repo.PutTeam(ctx, t)
}

func strictUnmarshal(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode(v)
}
