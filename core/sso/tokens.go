package sso

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/router"
)

// Session is who a token speaks for: the IdP's subject, email and groups as
// of sign-in, and the sign-in family every rotated token belongs to.
type Session struct {
	Sub    string   `json:"sub"`
	Email  string   `json:"email,omitempty"`
	Name   string   `json:"name,omitempty"`
	Groups []string `json:"groups,omitempty"`
	// Family links every token issued from one sign-in: reuse of a rotated
	// refresh token revokes all of them.
	Family        string    `json:"fam"`
	SignedIn      time.Time `json:"iat"`
	FamilyExpires time.Time `json:"fexp"`
	// Expires is this token's own expiry.
	Expires time.Time `json:"exp"`
}

// issue mints an access token and a refresh token for sess and answers the
// token request.
func (s *Service) issue(w http.ResponseWriter, r *http.Request, sess *Session, withEmail bool) {
	ctx, now := r.Context(), s.now()
	access := AccessPrefix + sess.Family + "." + randomToken(32)
	refresh := RefreshPrefix + sess.Family + "." + randomToken(32)
	at := *sess
	at.Expires = now.Add(s.cfg.AccessTokenTTL)
	if at.Expires.After(sess.FamilyExpires) {
		at.Expires = sess.FamilyExpires
	}
	rt := *sess
	rt.Expires = sess.FamilyExpires
	if err := putJSON(ctx, s.store, kAccess+hashHex(access), at, at.Expires); err != nil {
		s.oauthUnavailable(w, err)
		return
	}
	if err := putJSON(ctx, s.store, kRefresh+hashHex(refresh), rt, rt.Expires); err != nil {
		s.oauthUnavailable(w, err)
		return
	}
	body := map[string]any{
		"access_token":  access,
		"token_type":    "Bearer",
		"expires_in":    int(at.Expires.Sub(now) / time.Second),
		"refresh_token": refresh,
	}
	if withEmail && sess.Email != "" {
		body["email"] = sess.Email // Claude Code asks the user to confirm it
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, body)
	s.log.Info("sso token issued", "sub", sess.Sub, "email", sess.Email)
}

// family is the sign-in family a token names (its second dot-separated part).
func family(token, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(token, prefix)
	if !ok {
		return "", false
	}
	fam, secret, ok := strings.Cut(rest, ".")
	return fam, ok && fam != "" && secret != ""
}

// refreshGrant rotates: the presented refresh token is spent (one atomic
// claim), a fresh pair is issued in the same family. A second use of a
// spent token is a stolen copy or a replay: the whole family is revoked.
// The user is checked again against the allow rules and the deprovisioning
// list; one no longer allowed gets 401 invalid_grant (Claude Code then asks
// for a new sign-in, which the IdP refuses).
func (s *Service) refreshGrant(w http.ResponseWriter, r *http.Request) {
	ctx, now := r.Context(), s.now()
	token := r.PostForm.Get("refresh_token")
	fam, ok := family(token, RefreshPrefix)
	if !ok {
		oauthError(w, http.StatusUnauthorized, "invalid_grant", "unknown refresh token")
		return
	}
	h := hashHex(token)
	var sess Session
	es, err := s.store.Get(ctx, []string{kRefresh + h, kFamily + fam})
	if err != nil {
		s.oauthUnavailable(w, err)
		return
	}
	if !decode(es[0], &sess) || sess.Family != fam || !now.Before(sess.Expires) {
		oauthError(w, http.StatusUnauthorized, "invalid_grant", "unknown or expired refresh token")
		return
	}
	if es[1].Found() {
		oauthError(w, http.StatusUnauthorized, "invalid_grant", "this sign-in was revoked; sign in again")
		return
	}
	first, err := claim(ctx, s.store, kRefreshUsed+h, sess.Expires)
	if err != nil {
		s.oauthUnavailable(w, err)
		return
	}
	if !first {
		s.revokeFamily(ctx, fam, sess.FamilyExpires)
		s.log.Warn("sso refresh token reused; sign-in revoked", "sub", sess.Sub, "email", sess.Email)
		oauthError(w, http.StatusUnauthorized, "invalid_grant", "refresh token reused; every token of this sign-in is revoked")
		return
	}
	if reason := s.deprovisioned(ctx, &sess); reason != "" {
		s.revokeFamily(ctx, fam, sess.FamilyExpires)
		oauthError(w, http.StatusUnauthorized, "invalid_grant", reason)
		return
	}
	s.issue(w, r, &sess, false)
}

// deprovisioned re-checks a session's user: the allow rules as configured
// now, and the admin's revocation list. It returns why not, or "".
func (s *Service) deprovisioned(ctx context.Context, sess *Session) string {
	if !s.allowedEmail(sess.Email) {
		return "this account is no longer allowed to use the gateway"
	}
	es, err := s.store.Get(ctx, []string{kUserRevoked + hashHex(sess.Sub)})
	if err != nil {
		return "cannot check the account's standing; try again"
	}
	if at, ok := revokedAt(es[0]); ok && !sess.SignedIn.After(at) {
		return "this account was deprovisioned"
	}
	return ""
}

// revokedAt parses a deprovisioning entry.
func revokedAt(e router.Entry) (time.Time, bool) {
	if !e.Found() {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, e.Value)
	return t, err == nil
}

func (s *Service) revokeFamily(ctx context.Context, fam string, until time.Time) {
	if err := s.store.Put(ctx, kFamily+fam, "revoked", until.Add(time.Hour)); err != nil {
		s.log.Error("sso revoking a sign-in failed", "error", err)
	}
	s.cache.dropFamily(fam)
}

// handleRevoke is RFC 7009: sign-out revokes the whole sign-in, whichever
// token is presented. Always 200, as §2.2 asks.
func (s *Service) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if !parseForm(w, r) {
		return
	}
	token := r.PostForm.Get("token")
	for _, p := range []string{AccessPrefix, RefreshPrefix} {
		if fam, ok := family(token, p); ok {
			name := kAccess
			if p == RefreshPrefix {
				name = kRefresh
			}
			es, err := s.store.Get(r.Context(), []string{name + hashHex(token)})
			var sess Session
			if err == nil && decode(es[0], &sess) && sess.Family == fam {
				s.revokeFamily(r.Context(), fam, sess.FamilyExpires)
			}
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// handleRevokeUser deprovisions a user at once (master key): every token
// issued before now stops working here at once and elsewhere within the
// access cache's bound, and refreshes answer invalid_grant. Body:
// {"sub": "..."} or {"email": "..."} when the IdP's subject is the email.
func (s *Service) handleRevokeUser(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Sub string `json:"sub"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes)).Decode(&body); err != nil || body.Sub == "" {
		writeAPIError(w, &llm.Error{Status: 400, Type: llm.ErrInvalidRequest, Message: `want {"sub": "<IdP subject>"}`})
		return
	}
	now := s.now()
	if err := s.store.Put(r.Context(), kUserRevoked+hashHex(body.Sub), now.UTC().Format(time.RFC3339Nano), now.Add(s.cfg.RefreshTokenTTL+time.Hour)); err != nil {
		writeAPIError(w, &llm.Error{Status: 503, Type: llm.ErrAPI, Message: "state store unavailable"})
		return
	}
	s.cache.dropSub(body.Sub)
	writeJSON(w, http.StatusOK, map[string]any{"sub": body.Sub, "revoked_at": now.UTC().Format(time.RFC3339)})
}

// cacheFor bounds how long a verified access token is trusted without a
// store read: a revocation on another instance takes effect within it.
const cacheFor = 5 * time.Second

type cachedSession struct {
	sess    *Session
	checked time.Time
}

// tokenCache remembers verified access tokens by hash.
type tokenCache struct {
	mu sync.Mutex
	m  map[[32]byte]cachedSession
}

func (c *tokenCache) get(sum [32]byte, now time.Time) *Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[sum]
	if !ok || now.Sub(e.checked) > cacheFor || !now.Before(e.sess.Expires) {
		return nil
	}
	return e.sess
}

func (c *tokenCache) put(sum [32]byte, sess *Session, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= 100_000 {
		clear(c.m)
	}
	c.m[sum] = cachedSession{sess: sess, checked: now}
}

func (c *tokenCache) dropFamily(fam string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if e.sess.Family == fam {
			delete(c.m, k)
		}
	}
}

func (c *tokenCache) dropSub(sub string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if e.sess.Sub == sub {
			delete(c.m, k)
		}
	}
}

// Verify returns the session an access token speaks for. Failures are 401
// authentication_error with x-should-retry: false, so Claude Code prompts
// a new sign-in at once instead of retrying for minutes.
func (s *Service) Verify(ctx context.Context, token string) (*Session, *llm.Error) {
	now := s.now()
	fam, ok := family(token, AccessPrefix)
	if !ok {
		return nil, bearerError("invalid bearer token")
	}
	sum := sha256.Sum256([]byte(token))
	if sess := s.cache.get(sum, now); sess != nil {
		return sess, nil
	}
	es, err := s.store.Get(ctx, []string{kAccess + hashHex(token), kFamily + fam})
	if err != nil {
		return nil, storeError(err)
	}
	var sess Session
	switch {
	case !decode(es[0], &sess) || sess.Family != fam:
		return nil, bearerError("invalid or revoked bearer token; run /login")
	case !now.Before(sess.Expires):
		return nil, bearerError("bearer token expired; run /login")
	case es[1].Found():
		return nil, bearerError("this sign-in was revoked; run /login")
	}
	us, err := s.store.Get(ctx, []string{kUserRevoked + hashHex(sess.Sub)})
	if err != nil {
		return nil, storeError(err)
	}
	if at, ok := revokedAt(us[0]); ok && !sess.SignedIn.After(at) {
		return nil, bearerError("this account was deprovisioned")
	}
	s.cache.put(sum, &sess, now)
	return &sess, nil
}

func storeError(err error) *llm.Error {
	return &llm.Error{Status: 503, Type: llm.ErrAPI, Message: "token store unavailable", Cause: err, Retryable: true}
}

// writeAPIError writes the Anthropic envelope (bearer and admin routes).
func writeAPIError(w http.ResponseWriter, e *llm.Error) {
	if e.ShouldRetry != "" {
		w.Header().Set("x-should-retry", e.ShouldRetry)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	_, _ = w.Write(e.JSON())
}

func bearerError(msg string) *llm.Error {
	return &llm.Error{Status: 401, Type: llm.ErrAuthentication, Message: msg, ShouldRetry: "false"}
}

// TelemetryAttributes name a session's user on relayed telemetry, with the
// OpenTelemetry semantic names Claude Code's own gateway uses.
func TelemetryAttributes(sess *Session) map[string]string {
	attrs := map[string]string{"enduser.id": sess.Sub, "enduser.sub": sess.Sub}
	if sess.Email != "" {
		attrs["enduser.id"] = sess.Email
		attrs["user.email"] = sess.Email
	}
	if len(sess.Groups) > 0 {
		attrs["user.groups"] = strings.Join(sess.Groups, ",")
	}
	return attrs
}
