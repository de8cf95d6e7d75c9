package sso

import (
	"context"
	"crypto/subtle"
	"slices"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// PathConsoleCallback is where the IdP sends a browser back after a web
// console sign-in: sso.public_url + this path is the second redirect URI
// to register with the IdP client (beside PathCallback).
const PathConsoleCallback = "/ui/sso/callback"

// WebSignIn is the OIDC authorization-code sign-in (PKCE S256, state and
// nonce) of a browser app the gateway serves itself: the web console. It
// holds no state: the app keeps state, nonce and verifier in its own
// short-lived cookie and hands them back here. The redirect URI comes from
// the config (sso.public_url), never from the request.
type WebSignIn struct {
	s        *Service
	redirect string
}

// WebSignIn returns the sign-in whose redirect URI is public_url + path.
func (s *Service) WebSignIn(path string) *WebSignIn {
	return &WebSignIn{s: s, redirect: s.cfg.PublicURL + path}
}

// RedirectURI is the redirect URI the IdP must have registered.
func (w *WebSignIn) RedirectURI() string { return w.redirect }

func (w *WebSignIn) config(ctx context.Context) (*oauth2.Config, *oidc.IDTokenVerifier, error) {
	oc, v, err := w.s.oauthConfig(ctx)
	if err != nil {
		return nil, nil, err
	}
	c := *oc
	c.RedirectURL = w.redirect
	return &c, v, nil
}

// AuthCodeURL is the IdP's authorization URL for one sign-in: state, nonce
// and the S256 challenge of verifier.
func (w *WebSignIn) AuthCodeURL(ctx context.Context, state, nonce, verifier string) (string, error) {
	oc, _, err := w.config(ctx)
	if err != nil {
		return "", err
	}
	return oc.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), nil
}

// WebIdentity is who signed in, as of the sign-in. Groups holds only the
// user's groups named in sso.admin_groups: all Standing needs, and small
// enough for a cookie.
type WebIdentity struct {
	Sub, Email, Name string
	Groups           []string
	Admin            bool
	SignedIn         time.Time
}

// RefusedError is a sign-in the IdP answered but the gateway refuses (or a
// sign-in that no longer stands); Reason is fit to show the person.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return e.Reason }

func refused(msg string) error { return &RefusedError{Reason: msg} }

// Exchange redeems the code with the PKCE verifier, verifies the ID token
// (signature against the IdP's JWKS, issuer, audience, expiry: go-oidc;
// then the nonce, in constant time), reads the user's claims (UserInfo
// when the ID token has no email) and applies the allow rules and the
// deprovisioning list, as a Claude Code sign-in does.
func (w *WebSignIn) Exchange(ctx context.Context, code, verifier, nonce string) (*WebIdentity, error) {
	oc, v, err := w.config(ctx)
	if err != nil {
		return nil, err
	}
	if code == "" {
		return nil, refused("The identity provider's answer carries no code.")
	}
	tok, err := oc.Exchange(oidc.ClientContext(ctx, w.s.client), code, oauth2.VerifierOption(verifier))
	if err != nil {
		w.s.log.Warn("sso console code exchange failed", "error", err)
		return nil, refused("The identity provider did not accept the sign-in code.")
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := v.Verify(ctx, raw)
	if err != nil {
		w.s.log.Warn("sso console id token refused", "error", err)
		return nil, refused("The identity provider's ID token did not verify.")
	}
	if nonce == "" || subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return nil, refused("The ID token was not issued for this sign-in (nonce mismatch).")
	}
	sess, msg := w.s.sessionFrom(ctx, tok, idt)
	if msg != "" {
		return nil, refused(msg)
	}
	sess.SignedIn = w.s.now()
	if reason := w.s.deprovisioned(ctx, sess); reason != "" {
		return nil, refused("Sign-in refused: " + reason + ".")
	}
	id := &WebIdentity{Sub: sess.Sub, Email: sess.Email, Name: sess.Name, Admin: w.s.isAdmin(sess), SignedIn: sess.SignedIn}
	for _, g := range sess.Groups {
		if slices.Contains(w.s.cfg.AdminGroups, g) {
			id.Groups = append(id.Groups, g)
		}
	}
	return id, nil
}

// Standing re-checks a signed-in identity against the config and the
// deprovisioning list as they are now: nil while the sign-in still holds,
// with admin telling whether it still carries admin rights (an email or a
// group removed from sso.admin_emails / admin_groups takes effect at once).
func (w *WebSignIn) Standing(ctx context.Context, id *WebIdentity) (admin bool, err error) {
	sess := &Session{Sub: id.Sub, Email: id.Email, Groups: id.Groups, SignedIn: id.SignedIn}
	if reason := w.s.deprovisioned(ctx, sess); reason != "" {
		return false, refused(reason)
	}
	return w.s.isAdmin(sess), nil
}
