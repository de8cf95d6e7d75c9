// Package keyadmin serves LiteLLM's virtual-key, user and team admin routes
// (/key/generate, /key/info, /key/update, /key/delete, /key/list,
// /key/block, /key/unblock, /key/regenerate; /user/new, /user/info,
// /user/update, /user/delete; /team/new, /team/info, /team/update,
// /team/delete, /team/member_add) over an identity.Repo, with LiteLLM's field names and
// response shapes so its scripts keep working. The server mounts them behind
// the master key.
package keyadmin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/claude-gateway/claude-gateway/core/identity"
)

// maxBody bounds admin request bodies.
const maxBody = 1 << 20

// Options configure the handlers.
type Options struct {
	Logger *slog.Logger
	// KnownModel reports whether a name in "models" is served (a model
	// group, alias or wildcard); nil accepts any name.
	KnownModel func(string) bool
	// Changed is told a key's hash after every write (the local cache drops it).
	Changed func(token string)
	// OwnersChanged is called after a user or team is written (the local
	// cache re-reads its owners at once instead of within one refresh).
	OwnersChanged func(ctx context.Context)
	Now           func() time.Time
}

type handlers struct {
	repo identity.Repo
	o    Options
}

// Handlers returns the routes, keyed by ServeMux pattern.
func Handlers(repo identity.Repo, o Options) map[string]http.Handler {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Changed == nil {
		o.Changed = func(string) {}
	}
	if o.OwnersChanged == nil {
		o.OwnersChanged = func(context.Context) {}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	h := &handlers{repo: repo, o: o}
	return map[string]http.Handler{
		"POST /key/generate":         http.HandlerFunc(h.generate),
		"GET /key/info":              http.HandlerFunc(h.info),
		"POST /key/update":           http.HandlerFunc(h.update),
		"POST /key/delete":           http.HandlerFunc(h.delete),
		"GET /key/list":              http.HandlerFunc(h.list),
		"POST /key/block":            http.HandlerFunc(h.block(true)),
		"POST /key/unblock":          http.HandlerFunc(h.block(false)),
		"POST /key/regenerate":       http.HandlerFunc(h.regenerate),
		"POST /key/{key}/regenerate": http.HandlerFunc(h.regenerate),
		"POST /user/new":             http.HandlerFunc(h.userNew),
		"GET /user/info":             http.HandlerFunc(h.userInfo),
		"GET /user/list":             http.HandlerFunc(h.userList),
		"POST /user/update":          http.HandlerFunc(h.userUpdate),
		"POST /user/delete":          http.HandlerFunc(h.userDelete),
		"POST /team/new":             http.HandlerFunc(h.teamNew),
		"GET /team/info":             http.HandlerFunc(h.teamInfo),
		"GET /team/list":             http.HandlerFunc(h.teamList),
		"POST /team/update":          http.HandlerFunc(h.teamUpdate),
		"POST /team/delete":          http.HandlerFunc(h.teamDelete),
		"POST /team/member_add":      http.HandlerFunc(h.teamMemberAdd),
	}
}

// keyRequest is the body of /key/generate and /key/update (LiteLLM's names).
// Pointers tell "absent" from "set to zero" for updates.
type keyRequest struct {
	Key      *string `json:"key"`
	KeyAlias *string `json:"key_alias"`
	UserID   *string `json:"user_id"`
	TeamID   *string `json:"team_id"`
	policyRequest
}

// apply validates r and writes it onto k; nothing is written on error.
func (h *handlers) apply(ctx context.Context, r *keyRequest, k *identity.Key) error {
	p := k.Policy()
	if err := h.applyPolicy(&r.policyRequest, &p); err != nil {
		return err
	}
	if r.TeamID != nil && *r.TeamID != "" {
		ts, err := h.repo.GetTeams(ctx, []string{*r.TeamID})
		if err != nil {
			return err
		}
		if ts[0] == nil {
			return badField("team_id", "unknown team %q (create it with /team/new)", *r.TeamID)
		}
	}
	next := *k
	next.SetPolicy(p)
	setIf(&next.KeyAlias, r.KeyAlias)
	setIf(&next.UserID, r.UserID)
	setIf(&next.TeamID, r.TeamID)
	*k = next
	return nil
}

func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

func (h *handlers) generate(w http.ResponseWriter, r *http.Request) {
	var req keyRequest
	if !decode(w, r, &req) {
		return
	}
	secret := identity.NewSecret()
	if req.Key != nil {
		if !strings.HasPrefix(*req.Key, "sk-") || len(*req.Key) < 20 {
			badRequest(w, "key: a custom key must start with sk- and have at least 20 characters")
			return
		}
		secret = *req.Key
	}
	now := h.o.Now().UTC()
	k := &identity.Key{Token: identity.HashKey(secret), Models: []string{}, Metadata: map[string]any{}, CreatedAt: now, UpdatedAt: now}
	if err := h.apply(r.Context(), &req, k); err != nil {
		h.refuse(w, err)
		return
	}
	k.KeyName = "sk-..." + secret[len(secret)-4:]
	if existing, err := h.repo.Get(r.Context(), k.Token); err != nil {
		h.storeError(w, err)
		return
	} else if existing != nil {
		badRequest(w, "key: already exists")
		return
	}
	if err := h.repo.Put(r.Context(), k); err != nil {
		h.storeError(w, err)
		return
	}
	writeJSON(w, 200, withSecret(k, secret))
}

// withSecret is LiteLLM's /key/generate answer: the key document plus the
// key itself under "key" (shown this once).
func withSecret(k *identity.Key, secret string) map[string]any {
	out := asMap(k)
	out["key"] = secret
	return out
}

func asMap(v any) map[string]any {
	b, _ := json.Marshal(v)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// token accepts a key as presented (sk-...) or as its hash.
func token(s string) string {
	if strings.HasPrefix(s, "sk-") {
		return identity.HashKey(s)
	}
	return s
}

func (h *handlers) find(w http.ResponseWriter, r *http.Request, key string) *identity.Key {
	if key == "" {
		badRequest(w, "key: required")
		return nil
	}
	k, err := h.repo.Get(r.Context(), token(key))
	if err != nil {
		h.storeError(w, err)
		return nil
	}
	if k == nil {
		writeJSON(w, 404, errorBody("not_found_error", "key not found"))
	}
	return k
}

func (h *handlers) info(w http.ResponseWriter, r *http.Request) {
	k := h.find(w, r, r.URL.Query().Get("key"))
	if k == nil {
		return
	}
	spend, err := h.repo.KeySpend(r.Context(), k, h.o.Now())
	if err != nil {
		h.storeError(w, err)
		return
	}
	info := asMap(k)
	info["spend"] = spend
	writeJSON(w, 200, map[string]any{"key": k.Token, "info": info})
}

func (h *handlers) update(w http.ResponseWriter, r *http.Request) {
	var req keyRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Key == nil {
		badRequest(w, "key: required")
		return
	}
	k := h.find(w, r, *req.Key)
	if k == nil {
		return
	}
	req.Key = nil
	if err := h.apply(r.Context(), &req, k); err != nil {
		h.refuse(w, err)
		return
	}
	h.save(w, r, k)
}

func (h *handlers) save(w http.ResponseWriter, r *http.Request, k *identity.Key) {
	k.UpdatedAt = h.o.Now().UTC()
	if err := h.repo.Put(r.Context(), k); err != nil {
		h.storeError(w, err)
		return
	}
	h.o.Changed(k.Token)
	writeJSON(w, 200, k)
}

func (h *handlers) block(blocked bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Key string `json:"key"`
		}
		if !decode(w, r, &req) {
			return
		}
		if k := h.find(w, r, req.Key); k != nil {
			k.Blocked = blocked
			h.save(w, r, k)
		}
	}
}

func (h *handlers) delete(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Keys       []string `json:"keys"`
		KeyAliases []string `json:"key_aliases"`
	}
	if !decode(w, r, &req) {
		return
	}
	tokens := make([]string, 0, len(req.Keys))
	for _, k := range req.Keys {
		tokens = append(tokens, token(k))
	}
	if len(req.KeyAliases) > 0 {
		all, err := h.all(r.Context())
		if err != nil {
			h.storeError(w, err)
			return
		}
		for _, k := range all {
			for _, a := range req.KeyAliases {
				if k.KeyAlias == a {
					tokens = append(tokens, k.Token)
				}
			}
		}
	}
	if len(tokens) == 0 {
		badRequest(w, "keys: required")
		return
	}
	found, err := h.repo.GetMany(r.Context(), tokens)
	if err != nil {
		h.storeError(w, err)
		return
	}
	for i, k := range found {
		if k == nil {
			writeJSON(w, 404, errorBody("not_found_error", fmt.Sprintf("keys[%d]: key not found", i)))
			return
		}
	}
	deleted := []string{}
	for _, t := range tokens {
		if err := h.repo.Delete(r.Context(), t); err != nil {
			h.storeError(w, err)
			return
		}
		h.o.Changed(t)
		deleted = append(deleted, t)
	}
	writeJSON(w, 200, map[string]any{"deleted_keys": deleted})
}

func (h *handlers) all(ctx context.Context) ([]*identity.Key, error) {
	ts, err := h.repo.Tokens(ctx)
	if err != nil || len(ts) == 0 {
		return nil, err
	}
	ks, err := h.repo.GetMany(ctx, ts)
	if err != nil {
		return nil, err
	}
	out := ks[:0]
	for _, k := range ks {
		if k != nil {
			out = append(out, k)
		}
	}
	return out, nil
}

// list is LiteLLM's paged /key/list: page (from 1), size (default 10, at
// most 100), optional user_id, team_id, key_alias filters;
// return_full_object=true returns documents instead of hashes.
func (h *handlers) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, size, ok := paging(w, q, "size")
	if !ok {
		return
	}
	match, err := h.listed(r.Context(), q.Get("user_id"), q.Get("team_id"), q.Get("key_alias"), page, size)
	if err != nil {
		h.storeError(w, err)
		return
	}
	keys := []any{}
	for _, k := range match.page {
		if q.Get("return_full_object") == "true" {
			keys = append(keys, k)
		} else {
			keys = append(keys, k.Token)
		}
	}
	writeJSON(w, 200, map[string]any{"keys": keys, "total_count": match.total, "current_page": page,
		"total_pages": (match.total + size - 1) / size})
}

// keyPage is one page of a key listing and how many keys the listing has.
type keyPage struct {
	page  []*identity.Key
	total int
}

// listed returns page (from 1) of size of the keys matching the filters
// ("" matches all), oldest first. Unfiltered, it reads the listing's
// hashes and only the page's documents; a filter reads every document.
func (h *handlers) listed(ctx context.Context, user, team, alias string, page, size int) (keyPage, error) {
	if user == "" && team == "" && alias == "" {
		ts, err := h.repo.Tokens(ctx)
		if err != nil {
			return keyPage{}, err
		}
		lo, hi := min((page-1)*size, len(ts)), min(page*size, len(ts))
		ks, err := h.repo.GetMany(ctx, ts[lo:hi])
		return keyPage{page: slices.DeleteFunc(ks, func(k *identity.Key) bool { return k == nil }), total: len(ts)}, err
	}
	all, err := h.all(ctx)
	if err != nil {
		return keyPage{}, err
	}
	var match []*identity.Key
	for _, k := range all {
		if (user == "" || k.UserID == user) && (team == "" || k.TeamID == team) && (alias == "" || k.KeyAlias == alias) {
			match = append(match, k)
		}
	}
	lo, hi := min((page-1)*size, len(match)), min(page*size, len(match))
	return keyPage{page: match[lo:hi], total: len(match)}, nil
}

// regenerate issues a new secret for an existing key (same document, new
// hash); the old secret stops working at once here and within one refresh
// elsewhere.
func (h *handlers) regenerate(w http.ResponseWriter, r *http.Request) {
	var req keyRequest
	if r.ContentLength != 0 && !decode(w, r, &req) {
		return
	}
	key := r.PathValue("key")
	if key == "" && req.Key != nil {
		key = *req.Key
	}
	k := h.find(w, r, key)
	if k == nil {
		return
	}
	req.Key = nil
	old := k.Token
	if err := h.apply(r.Context(), &req, k); err != nil {
		h.refuse(w, err)
		return
	}
	secret := identity.NewSecret()
	k.Token, k.KeyName, k.UpdatedAt = identity.HashKey(secret), "sk-..."+secret[len(secret)-4:], h.o.Now().UTC()
	if err := h.repo.Put(r.Context(), k); err != nil {
		h.storeError(w, err)
		return
	}
	if err := h.repo.Delete(r.Context(), old); err != nil {
		h.storeError(w, err)
		return
	}
	h.o.Changed(old)
	writeJSON(w, 200, withSecret(k, secret))
}

// decode reads a bounded JSON body, refusing unknown fields (400 naming it).
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		badRequest(w, "reading body: "+err.Error())
		return false
	}
	if !utf8.Valid(body) {
		// encoding/json would replace the bytes: the stored alias or
		// model name would differ from what the admin sent.
		badRequest(w, "request body is not valid UTF-8")
		return false
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		msg := err.Error()
		switch {
		case errors.As(err, &te):
			// Fields of the embedded policyRequest are the body's own.
			badRequest(w, strings.TrimPrefix(te.Field, "policyRequest.")+": wrong type, want "+te.Type.String())
		case strings.HasPrefix(msg, `json: unknown field "`):
			badRequest(w, strings.TrimSuffix(strings.TrimPrefix(msg, `json: unknown field "`), `"`)+": unknown field")
		default:
			badRequest(w, "invalid JSON body: "+strings.TrimPrefix(err.Error(), "json: "))
		}
		return false
	}
	return true
}

func (h *handlers) storeError(w http.ResponseWriter, err error) {
	h.o.Logger.Error("key store", "error", err)
	writeJSON(w, 503, errorBody("api_error", "key store unavailable"))
}

func badRequest(w http.ResponseWriter, msg string) {
	writeJSON(w, 400, errorBody("invalid_request_error", msg))
}

// errorBody is LiteLLM's admin error shape.
func errorBody(typ, msg string) any {
	return map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
