package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// cookieName is the session cookie. Path=/ui keeps it off the API routes.
const cookieName = "cg_console"

// sessionTTL is how long a sign-in lasts.
const sessionTTL = 12 * time.Hour

// Roles a session can hold.
const (
	roleAdmin = "admin" // the master key, or an IdP user in sso.admin_groups / admin_emails
	roleKey   = "key"   // signed in with a virtual key: its own usage only
	roleUser  = "user"  // an IdP user who is no admin: their own usage and keys only
)

// session is what the cookie carries: who, until when, and a nonce that the
// CSRF token is derived from. Never a key: a virtual key appears only as its
// SHA-256, which is what spend records carry anyway.
type session struct {
	Role    string `json:"r"`
	KeyHash string `json:"k,omitempty"`
	// Sub, Email, Name, Groups and SignedIn name a person signed in at the
	// IdP (Sub is empty for key and master-key sessions).
	Sub      string   `json:"s,omitempty"`
	Email    string   `json:"u,omitempty"`
	Name     string   `json:"m,omitempty"`
	Groups   []string `json:"g,omitempty"`
	SignedIn int64    `json:"i,omitempty"`
	Expires  int64    `json:"e"`
	Nonce    string   `json:"n"`
}

// viaSSO reports whether the session is a person's IdP sign-in.
func (ss session) viaSSO() bool { return ss.Sub != "" }

// actor names who acts in audit logs: the person, else the credential.
func (ss session) actor() string {
	switch {
	case ss.viaSSO():
		return "sso:" + ss.Email
	case ss.Role == roleKey:
		return "key:" + ss.KeyHash[:min(12, len(ss.KeyHash))]
	}
	return "master-key"
}

// signer makes and checks session cookies and CSRF tokens. Its secret is
// derived from the master key, so every instance (Lambda, Cloud Run) accepts
// the cookies of every other without shared state, and rotating the master
// key signs everyone out.
type signer struct {
	secret []byte
}

func newSigner(masterKey string) signer {
	m := hmac.New(sha256.New, []byte(masterKey))
	m.Write([]byte("claude-gateway console session v1"))
	return signer{secret: m.Sum(nil)}
}

func (s signer) mac(parts ...string) []byte {
	m := hmac.New(sha256.New, s.secret)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

// encode returns the cookie value: base64url(JSON) "." base64url(HMAC).
func (s signer) encode(ss session) string {
	b, _ := json.Marshal(ss)
	p := base64.RawURLEncoding.EncodeToString(b)
	return p + "." + base64.RawURLEncoding.EncodeToString(s.mac("session", p))
}

var errNoSession = errors.New("no valid session")

// decode verifies the signature (constant time) and the expiry.
func (s signer) decode(v string, now time.Time) (session, error) {
	p, sig, ok := strings.Cut(v, ".")
	if !ok {
		return session{}, errNoSession
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac("session", p)) {
		return session{}, errNoSession
	}
	b, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return session{}, errNoSession
	}
	var ss session
	if json.Unmarshal(b, &ss) != nil || now.Unix() >= ss.Expires || !validRole(ss) {
		return session{}, errNoSession
	}
	return ss, nil
}

// validRole: a user session is always a person's, a key session a key's.
func validRole(ss session) bool {
	switch ss.Role {
	case roleAdmin:
		return true
	case roleKey:
		return ss.KeyHash != "" && !ss.viaSSO()
	case roleUser:
		return ss.viaSSO() && ss.Email != ""
	}
	return false
}

// csrf is the token a session's state-changing calls must echo in the
// X-CSRF-Token header. The page reads it from /ui/api/session; another
// origin can neither read it nor (SameSite=Strict) send the cookie.
func (s signer) csrf(ss session) string {
	return base64.RawURLEncoding.EncodeToString(s.mac("csrf", ss.Nonce))
}

func (s signer) checkCSRF(ss session, token string) bool {
	want := s.csrf(ss)
	return subtle.ConstantTimeCompare([]byte(token), []byte(want)) == 1
}

func newNonce() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func sessionCookie(value string, expires time.Time) *http.Cookie {
	c := &http.Cookie{Name: cookieName, Value: value, Path: "/ui", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.Expires = expires
	}
	return c
}

// sameOrigin reports whether a state-changing request comes from a page of
// this origin: Sec-Fetch-Site when the browser sends it, else the Origin
// header's host against Host. A request with neither is refused: every
// browser sends Origin on a POST, and scripts use the API, not the console.
// Only hosts are compared: TLS often ends in front of the gateway.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin"
	}
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return false
	}
	u, err := url.Parse(o)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}
