package keyadmin

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"slices"

	"github.com/claude-gateway/claude-gateway/core/identity"
)

// userRequest is the body of /user/new and /user/update (LiteLLM's names).
type userRequest struct {
	UserID          *string   `json:"user_id"`
	UserAlias       *string   `json:"user_alias"`
	UserEmail       *string   `json:"user_email"`
	UserRole        *string   `json:"user_role"`
	Teams           *[]string `json:"teams"`
	AutoCreateKey   *bool     `json:"auto_create_key"`
	SendInviteEmail *bool     `json:"send_invite_email"`
	policyRequest
}

// userRoles are LiteLLM's user_role values.
var userRoles = []string{"proxy_admin", "proxy_admin_viewer", "internal_user", "internal_user_viewer"}

// newID is a random UUID (version 4), LiteLLM's default user_id and team_id.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// applyUser validates r and writes it onto u; u is untouched on error. The
// teams named must exist (returned, to add the user as a member).
func (h *handlers) applyUser(ctx context.Context, r *userRequest, u *identity.User) ([]*identity.Team, error) {
	next := *u
	if err := h.applyPolicy(&r.policyRequest, &next.Policy); err != nil {
		return nil, err
	}
	if r.UserRole != nil {
		if !slices.Contains(userRoles, *r.UserRole) {
			return nil, badField("user_role", "want one of %v", userRoles)
		}
		next.UserRole = *r.UserRole
	}
	if r.SendInviteEmail != nil && *r.SendInviteEmail {
		return nil, badField("send_invite_email", "this gateway sends no email")
	}
	setIf(&next.UserAlias, r.UserAlias)
	setIf(&next.UserEmail, r.UserEmail)
	var teams []*identity.Team
	if r.Teams != nil {
		ts, err := h.repo.GetTeams(ctx, *r.Teams)
		if err != nil {
			return nil, err
		}
		for i, t := range ts {
			if t == nil {
				return nil, badField(fmt.Sprintf("teams[%d]", i), "unknown team %q", (*r.Teams)[i])
			}
		}
		next.Teams, teams = append([]string{}, *r.Teams...), ts
	}
	*u = next
	return teams, nil
}

func (h *handlers) userNew(w http.ResponseWriter, r *http.Request) {
	var req userRequest
	if !decode(w, r, &req) {
		return
	}
	now := h.o.Now().UTC()
	u := &identity.User{UserID: newID(), UserRole: identity.RoleInternalUser, Teams: []string{}, CreatedAt: now, UpdatedAt: now}
	u.Models, u.Metadata = []string{}, map[string]any{}
	if req.UserID != nil {
		if *req.UserID == "" {
			badRequest(w, "user_id: must not be empty")
			return
		}
		u.UserID = *req.UserID
	}
	teams, err := h.applyUser(r.Context(), &req, u)
	if err != nil {
		h.refuse(w, err)
		return
	}
	if us, err := h.repo.GetUsers(r.Context(), []string{u.UserID}); err != nil {
		h.storeError(w, err)
		return
	} else if us[0] != nil {
		badRequest(w, "user_id: already exists")
		return
	}
	if err := h.repo.PutUser(r.Context(), u); err != nil {
		h.storeError(w, err)
		return
	}
	for _, t := range teams {
		if err := h.addMember(r.Context(), t, identity.Member{Role: "user", UserID: u.UserID, UserEmail: u.UserEmail}); err != nil {
			h.storeError(w, err)
			return
		}
	}
	h.o.OwnersChanged(r.Context())
	out := asMap(u)
	out["key"], out["token"], out["key_name"], out["expires"] = nil, nil, nil, nil
	if req.AutoCreateKey == nil || *req.AutoCreateKey {
		// LiteLLM's /user/new returns a first key for the user; its limits
		// are the user's (applied through the user, not copied onto the key).
		secret := identity.NewSecret()
		k := &identity.Key{Token: identity.HashKey(secret), KeyName: "sk-..." + secret[len(secret)-4:], UserID: u.UserID,
			Models: []string{}, Metadata: map[string]any{}, CreatedAt: now, UpdatedAt: now}
		if err := h.repo.Put(r.Context(), k); err != nil {
			h.storeError(w, err)
			return
		}
		out["key"], out["token"], out["key_name"] = secret, k.Token, k.KeyName
	}
	writeJSON(w, 200, out)
}

// findUser reads the user named in a request; it answers 400 or 404 itself.
func (h *handlers) findUser(w http.ResponseWriter, r *http.Request, id string) *identity.User {
	if id == "" {
		badRequest(w, "user_id: required")
		return nil
	}
	us, err := h.repo.GetUsers(r.Context(), []string{id})
	if err != nil {
		h.storeError(w, err)
		return nil
	}
	if us[0] == nil {
		writeJSON(w, 404, errorBody("not_found_error", "user_id: user "+id+" not found"))
	}
	return us[0]
}

// userInfo is LiteLLM's /user/info: the user (with its window's spend), its keys and teams.
func (h *handlers) userInfo(w http.ResponseWriter, r *http.Request) {
	u := h.findUser(w, r, r.URL.Query().Get("user_id"))
	if u == nil {
		return
	}
	spend, err := h.repo.UserSpend(r.Context(), u, h.o.Now())
	if err != nil {
		h.storeError(w, err)
		return
	}
	keys, err := h.keysWhere(r.Context(), func(k *identity.Key) bool { return k.UserID == u.UserID })
	if err != nil {
		h.storeError(w, err)
		return
	}
	teams, err := h.repo.GetTeams(r.Context(), u.Teams)
	if err != nil {
		h.storeError(w, err)
		return
	}
	info := asMap(u)
	info["spend"] = spend
	writeJSON(w, 200, map[string]any{"user_id": u.UserID, "user_info": info, "keys": keys, "teams": nonNil(teams)})
}

func (h *handlers) userUpdate(w http.ResponseWriter, r *http.Request) {
	var req userRequest
	if !decode(w, r, &req) {
		return
	}
	if req.UserID == nil {
		badRequest(w, "user_id: required")
		return
	}
	if req.AutoCreateKey != nil {
		badRequest(w, "auto_create_key: only for /user/new")
		return
	}
	u := h.findUser(w, r, *req.UserID)
	if u == nil {
		return
	}
	teams, err := h.applyUser(r.Context(), &req, u)
	if err != nil {
		h.refuse(w, err)
		return
	}
	u.UpdatedAt = h.o.Now().UTC()
	if err := h.repo.PutUser(r.Context(), u); err != nil {
		h.storeError(w, err)
		return
	}
	for _, t := range teams {
		if err := h.addMember(r.Context(), t, identity.Member{Role: "user", UserID: u.UserID, UserEmail: u.UserEmail}); err != nil {
			h.storeError(w, err)
			return
		}
	}
	h.o.OwnersChanged(r.Context())
	writeJSON(w, 200, map[string]any{"user_id": u.UserID, "data": u})
}

// userDelete deletes users and, as LiteLLM, their keys; they leave their teams.
func (h *handlers) userDelete(w http.ResponseWriter, r *http.Request) {
	var req struct {
		UserIDs []string `json:"user_ids"`
	}
	if !decode(w, r, &req) {
		return
	}
	deleteOwners(h, w, r, req.UserIDs, ownerKind[identity.User]{field: "user_ids", noun: "user", result: "deleted_users",
		get: h.repo.GetUsers, del: h.repo.DeleteUser, unlink: h.leaveTeams,
		id: func(u *identity.User) string { return u.UserID }, ownerOf: func(k *identity.Key) string { return k.UserID }})
}

func (h *handlers) leaveTeams(ctx context.Context, u *identity.User) error {
	ts, err := h.repo.GetTeams(ctx, u.Teams)
	if err != nil {
		return err
	}
	for _, t := range ts {
		if t == nil {
			continue
		}
		t.MembersWithRoles = slices.DeleteFunc(t.MembersWithRoles, func(m identity.Member) bool { return m.UserID == u.UserID })
		if err := h.repo.PutTeam(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

// ownerKind is what /user/delete and /team/delete do differently.
type ownerKind[T any] struct {
	field, noun, result string // "user_ids", "user", "deleted_users"
	get                 func(ctx context.Context, ids []string) ([]*T, error)
	del                 func(ctx context.Context, id string) error
	unlink              func(ctx context.Context, owner *T) error // the other side's references to it
	id                  func(*T) string
	ownerOf             func(*identity.Key) string // the key's owner of this kind
}

// deleteOwners deletes the users or teams ids (all of them exist, or
// nothing is deleted), their keys, and the references to them.
func deleteOwners[T any](h *handlers, w http.ResponseWriter, r *http.Request, ids []string, kind ownerKind[T]) {
	if len(ids) == 0 {
		badRequest(w, kind.field+": required")
		return
	}
	owners, err := kind.get(r.Context(), ids)
	if err != nil {
		h.storeError(w, err)
		return
	}
	for i, o := range owners {
		if o == nil {
			writeJSON(w, 404, errorBody("not_found_error", fmt.Sprintf("%s[%d]: %s %s not found", kind.field, i, kind.noun, ids[i])))
			return
		}
	}
	keys, err := h.keysWhere(r.Context(), func(k *identity.Key) bool { return slices.Contains(ids, kind.ownerOf(k)) })
	if err != nil {
		h.storeError(w, err)
		return
	}
	if err := h.deleteKeys(r.Context(), keys); err != nil {
		h.storeError(w, err)
		return
	}
	for _, o := range owners {
		if err := kind.unlink(r.Context(), o); err != nil {
			h.storeError(w, err)
			return
		}
		if err := kind.del(r.Context(), kind.id(o)); err != nil {
			h.storeError(w, err)
			return
		}
	}
	h.o.OwnersChanged(r.Context())
	writeJSON(w, 200, map[string]any{kind.result: ids, "deleted_keys": len(keys)})
}

// keysWhere lists the live keys matching keep.
func (h *handlers) keysWhere(ctx context.Context, keep func(*identity.Key) bool) ([]*identity.Key, error) {
	all, err := h.all(ctx)
	if err != nil {
		return nil, err
	}
	out := []*identity.Key{}
	for _, k := range all {
		if keep(k) {
			out = append(out, k)
		}
	}
	return out, nil
}

func (h *handlers) deleteKeys(ctx context.Context, keys []*identity.Key) error {
	for _, k := range keys {
		if err := h.repo.Delete(ctx, k.Token); err != nil {
			return err
		}
		h.o.Changed(k.Token)
	}
	return nil
}

func nonNil[T any](l []*T) []*T {
	out := []*T{}
	for _, v := range l {
		if v != nil {
			out = append(out, v)
		}
	}
	return out
}
