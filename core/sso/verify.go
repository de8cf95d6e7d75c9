package sso

import (
	"context"
	"crypto/subtle"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// csrfCookie binds the verification form and the IdP round trip to one
// browser. SameSite=Lax: the IdP's redirect back is a cross-site top-level
// GET, which Strict would strip.
const csrfCookie = "cgw_sso"

// loginTTL bounds the IdP round trip (state, nonce, PKCE verifier).
const loginTTL = 10 * time.Minute

// loginState is what the IdP round trip must come back to.
type loginState struct {
	Device   string `json:"dc"`  // device code hash
	Nonce    string `json:"n"`   // echoed in the ID token
	Verifier string `json:"v"`   // PKCE code_verifier
	Browser  string `json:"b"`   // hash of the csrf cookie that started it
	Expires  int64  `json:"exp"` // unix
}

// pageStyle is the verification page's head; renderPage fills the body.
const pageStyle = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in to Claude Code</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px system-ui,sans-serif;max-width:32em;margin:4em auto;padding:0 1em}
input{font:inherit;font-family:monospace;letter-spacing:.2em;padding:.3em}button{font:inherit;padding:.3em 1em}
.err{color:#b00}</style></head><body>
`

// renderPage writes the page for d. Every value is HTML-escaped (quotes
// included, so attribute values are safe too). Plain string building
// rather than html/template: a linked template engine keeps every exported
// method of every type in the binary (reflection by name), which doubled
// the lean Lambda bootstrap, and parsing it ran at start-up.
func renderPage(w io.Writer, d pageData) error {
	var b strings.Builder
	b.WriteString(pageStyle)
	b.WriteString("<h1>" + html.EscapeString(d.Title) + "</h1>\n")
	if d.Error != "" {
		b.WriteString(`<p class="err">` + html.EscapeString(d.Error) + "</p>\n")
	}
	if d.Message != "" {
		b.WriteString("<p>" + html.EscapeString(d.Message) + "</p>\n")
	}
	if d.Form {
		b.WriteString(`<form method="post" action="` + html.EscapeString(d.Action) + `">
<p>Check that this code matches the one Claude Code shows in your terminal, then continue to sign in.</p>
<input type="hidden" name="csrf" value="` + html.EscapeString(d.CSRF) + `">
<p><input name="user_code" value="` + html.EscapeString(d.UserCode) + `" placeholder="XXXX-XXXX" autocomplete="off" autocapitalize="characters" required maxlength="12"></p>
<p><button type="submit">Continue</button></p>
</form>`)
	}
	b.WriteString("\n</body></html>")
	_, err := io.WriteString(w, b.String())
	return err
}

type pageData struct {
	Title, Error, Message, Action, CSRF, UserCode string
	Form                                          bool
}

func (s *Service) render(w http.ResponseWriter, status int, d pageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// form-action covers the redirect to the IdP that follows the submit.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' "+originOf(s.cfg.Issuer)+"; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	w.WriteHeader(status)
	_ = renderPage(w, d)
}

// handleVerifyPage shows the code form, pre-filled from ?user_code= but
// never submitted by itself (RFC 8628 §5.4: the user confirms the code).
func (s *Service) handleVerifyPage(w http.ResponseWriter, r *http.Request) {
	token := s.csrfToken(w, r)
	s.render(w, http.StatusOK, pageData{
		Title: "Sign in to Claude Code", Form: true, Action: PathVerify, CSRF: token,
		UserCode: normalizeUserCode(r.URL.Query().Get("user_code")),
	})
}

// csrfToken returns the browser's token, setting a new cookie when it has none.
func (s *Service) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	v := randomToken(32)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: "/", HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode, MaxAge: 3600})
	return v
}

// handleVerifySubmit checks the form (same origin, CSRF token, per-IP
// attempt limit, a live user code) and sends the browser to the IdP with a
// fresh state, nonce and PKCE challenge. The redirect target is always the
// IdP's own authorization endpoint: nothing in the request can change it.
func (s *Service) handleVerifySubmit(w http.ResponseWriter, r *http.Request) {
	ctx, now := r.Context(), s.now()
	if !s.sameOrigin(r) {
		s.render(w, http.StatusForbidden, pageData{Title: "Request refused", Error: "This form must be submitted from the gateway's own page."})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.render(w, http.StatusBadRequest, pageData{Title: "Request refused", Error: "Malformed form."})
		return
	}
	cookie, err := r.Cookie(csrfCookie)
	sent := r.PostForm.Get("csrf")
	if err != nil || len(cookie.Value) < 32 || subtle.ConstantTimeCompare([]byte(cookie.Value), []byte(sent)) != 1 {
		s.render(w, http.StatusForbidden, pageData{Title: "Request refused", Error: "The form expired or came from another site. Reload the page and try again."})
		return
	}
	minute := now.Unix() / 60
	_, ok, err := s.store.Incr(ctx, kVerifyIP+clientIP(r)+":"+strconv.FormatInt(minute, 10), 1, s.cfg.VerifyAttemptsPerMinute, now.Add(2*time.Minute))
	if err == nil && !ok {
		w.Header().Set("Retry-After", strconv.FormatInt(60-now.Unix()%60, 10))
		s.render(w, http.StatusTooManyRequests, pageData{Title: "Too many attempts", Error: "Too many codes tried from this address. Wait a minute and try again."})
		return
	}
	code := normalizeUserCode(r.PostForm.Get("user_code"))
	form := pageData{Title: "Sign in to Claude Code", Form: true, Action: PathVerify, CSRF: cookie.Value, UserCode: code}
	dc, st, found := s.lookupUserCode(r, code)
	if !found || st.Status != statusPending || !now.Before(st.Expires) {
		form.Error = "That code is not valid or has expired. Check the code in your terminal, or run /login again."
		s.render(w, http.StatusBadRequest, form)
		return
	}
	oc, _, err := s.oauthConfig(ctx)
	if err != nil {
		s.log.Error("sso identity provider discovery failed", "issuer", s.cfg.Issuer, "error", err)
		form.Error = "The identity provider cannot be reached. Try again in a moment."
		s.render(w, http.StatusBadGateway, form)
		return
	}
	state, nonce, verifier := randomToken(32), randomToken(32), oauth2.GenerateVerifier()
	ls := loginState{Device: dc, Nonce: nonce, Verifier: verifier, Browser: hashHex(cookie.Value), Expires: now.Add(loginTTL).Unix()}
	if err := putJSON(ctx, s.store, kLogin+hashHex(state), ls, now.Add(loginTTL)); err != nil {
		form.Error = "The gateway's state store is unavailable. Try again in a moment."
		s.render(w, http.StatusServiceUnavailable, form)
		return
	}
	http.Redirect(w, r, oc.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), http.StatusSeeOther)
}

func (s *Service) lookupUserCode(r *http.Request, code string) (string, deviceState, bool) {
	var st deviceState
	if code == "" {
		return "", st, false
	}
	es, err := s.store.Get(r.Context(), []string{kUserCode + hashHex(code)})
	if err != nil || !es[0].Found() {
		return "", st, false
	}
	dc := es[0].Value
	ds, err := s.store.Get(r.Context(), []string{kDevice + dc})
	if err != nil || !decode(ds[0], &st) {
		return "", st, false
	}
	return dc, st, true
}

// sameOrigin accepts a POST only when the browser says it comes from the
// gateway's own origin (Sec-Fetch-Site, then Origin, then Referer).
func (s *Service) sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		return o == s.origin
	}
	if ref := r.Header.Get("Referer"); ref != "" {
		return originOf(ref) == s.origin
	}
	return false
}

func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// clientIP is the peer address; behind a function URL or Cloud Run's front
// end that is the proxy, so the last X-Forwarded-For hop counts: the one the
// front end appended (earlier hops are whatever the client chose to send).
func clientIP(r *http.Request) string {
	if f := r.Header.Get("X-Forwarded-For"); f != "" {
		hops := strings.Split(f, ",")
		if ip := net.ParseIP(strings.TrimSpace(hops[len(hops)-1])); ip != nil {
			return ip.String()
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// handleCallback completes the IdP round trip: the state is spent (once,
// and only by the browser that started it), the code is exchanged with the
// PKCE verifier, the ID token's signature, issuer, audience, expiry and
// nonce are checked by go-oidc, and the user is matched against the allow
// rules. Then the device code is approved (or denied) for the terminal's
// next poll.
func (s *Service) handleCallback(w http.ResponseWriter, r *http.Request) {
	ctx, now := r.Context(), s.now()
	q := r.URL.Query()
	fail := func(status int, msg string) {
		s.render(w, status, pageData{Title: "Sign-in failed", Error: msg})
	}
	state := q.Get("state")
	if state == "" {
		fail(http.StatusBadRequest, "The identity provider's answer carries no state.")
		return
	}
	sh := hashHex(state)
	es, err := s.store.Get(ctx, []string{kLogin + sh})
	var ls loginState
	if err != nil || !decode(es[0], &ls) || now.Unix() >= ls.Expires {
		fail(http.StatusBadRequest, "This sign-in link is unknown or expired. Start again from your terminal.")
		return
	}
	cookie, cerr := r.Cookie(csrfCookie)
	if cerr != nil || subtle.ConstantTimeCompare([]byte(hashHex(cookie.Value)), []byte(ls.Browser)) != 1 {
		fail(http.StatusForbidden, "This sign-in was started in another browser. Start again from the link in your terminal.")
		return
	}
	if ok, err := claim(ctx, s.store, kLoginClaim+sh, now.Add(loginTTL)); err != nil || !ok {
		fail(http.StatusBadRequest, "This sign-in link was already used. Start again from your terminal.")
		return
	}
	if e := q.Get("error"); e != "" {
		fail(http.StatusForbidden, "The identity provider refused the sign-in: "+trunc(e+" "+q.Get("error_description"), 200))
		return
	}
	oc, verifier, err := s.oauthConfig(ctx)
	if err != nil {
		fail(http.StatusBadGateway, "The identity provider cannot be reached.")
		return
	}
	tok, err := oc.Exchange(oidc.ClientContext(ctx, s.client), q.Get("code"), oauth2.VerifierOption(ls.Verifier))
	if err != nil {
		s.log.Warn("sso code exchange failed", "error", err)
		fail(http.StatusBadGateway, "The identity provider did not accept the sign-in code.")
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := verifier.Verify(ctx, raw)
	if err != nil {
		s.log.Warn("sso id token refused", "error", err)
		fail(http.StatusForbidden, "The identity provider's ID token did not verify.")
		return
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(ls.Nonce)) != 1 {
		fail(http.StatusForbidden, "The ID token was not issued for this sign-in (nonce mismatch).")
		return
	}
	sess, msg := s.sessionFrom(ctx, tok, idt)
	status := statusApproved
	if msg != "" {
		status = statusDenied
	}
	if sess == nil {
		fail(http.StatusForbidden, msg)
		return
	}
	if err := s.settle(r, ls.Device, status, sess); err != nil {
		fail(http.StatusBadRequest, err.Error())
		return
	}
	if msg != "" {
		fail(http.StatusForbidden, msg)
		return
	}
	s.log.Info("sso sign-in approved", "sub", sess.Sub, "email", sess.Email, "groups", sess.Groups)
	s.render(w, http.StatusOK, pageData{Title: "You are signed in", Message: "Signed in as " + sess.Email + ". Return to your terminal: Claude Code continues by itself."})
}

// sessionFrom reads the ID token's claims (and, when it names no email,
// the UserInfo endpoint's, whose subject must match), then applies the allow
// rules; msg says why a user is refused.
func (s *Service) sessionFrom(ctx context.Context, tok *oauth2.Token, idt *oidc.IDToken) (*Session, string) {
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, "The ID token's claims cannot be read."
	}
	sess := &Session{Sub: idt.Subject}
	if _, ok := claims["email"].(string); !ok {
		s.provMu.Lock()
		p := s.provider
		s.provMu.Unlock()
		ui, err := p.UserInfo(oidc.ClientContext(ctx, s.client), oauth2.StaticTokenSource(tok))
		if err != nil || ui.Subject != idt.Subject {
			return nil, "The identity provider did not say which email address signed in."
		}
		var more map[string]any
		_ = ui.Claims(&more)
		for k, v := range more {
			if _, set := claims[k]; !set {
				claims[k] = v
			}
		}
	}
	sess.Email, _ = claims["email"].(string)
	sess.Email = strings.ToLower(sess.Email)
	sess.Name, _ = claims["name"].(string)
	sess.Groups = groupsClaim(claims[s.cfg.GroupsClaim])
	if v, ok := claims["email_verified"].(bool); ok && !v {
		return sess, "Your email address is not verified at the identity provider."
	}
	if sess.Email == "" || !s.allowedEmail(sess.Email) {
		return sess, "The account " + sess.Email + " is not allowed to use this gateway."
	}
	return sess, ""
}

// groupsClaim accepts a list of strings or one comma-separated string.
func groupsClaim(v any) []string {
	switch g := v.(type) {
	case []any:
		out := make([]string, 0, len(g))
		for _, x := range g {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case string:
		var out []string
		for _, p := range strings.Split(g, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out
	}
	return nil
}

// allowedEmail applies allowed_emails and allowed_email_domains (either
// matching admits; neither configured admits everyone the IdP signs in).
func (s *Service) allowedEmail(email string) bool {
	if len(s.cfg.AllowedEmails) == 0 && len(s.cfg.AllowedEmailDomains) == 0 {
		return true
	}
	email = strings.ToLower(email)
	for _, e := range s.cfg.AllowedEmails {
		if e == email {
			return true
		}
	}
	_, domain, ok := strings.Cut(email, "@")
	if !ok {
		return false
	}
	for _, d := range s.cfg.AllowedEmailDomains {
		if d == domain {
			return true
		}
	}
	return false
}

// settle records the outcome on the device code.
func (s *Service) settle(r *http.Request, dc, status string, sess *Session) error {
	ctx := r.Context()
	es, err := s.store.Get(ctx, []string{kDevice + dc})
	var st deviceState
	if err != nil || !decode(es[0], &st) || st.Status != statusPending || !s.now().Before(st.Expires) {
		return errExpired
	}
	st.Status, st.Session = status, sess
	if status == statusDenied {
		st.Session = nil
	}
	return putJSON(ctx, s.store, kDevice+dc, st, st.Expires.Add(time.Hour))
}

type userError string

func (e userError) Error() string { return string(e) }

const errExpired = userError("The code expired or was already used. Run /login again in your terminal.")
