package console

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html"
	"net/http"
	"regexp"
	"time"
)

// IdentityProvider signs people in to the console at the company's OpenID
// Connect provider (core/sso's WebSignIn, adapted in core/gateway). The
// console keeps the round trip's state, nonce and PKCE verifier in its own
// cookie; the provider does the protocol.
type IdentityProvider interface {
	// AuthCodeURL is the IdP's authorization URL for one sign-in, with the
	// S256 challenge of verifier. Its redirect URI comes from the config.
	AuthCodeURL(ctx context.Context, state, nonce, verifier string) (string, error)
	// Exchange redeems the code with the verifier and verifies the ID
	// token (signature by the IdP's JWKS, issuer, audience, expiry, nonce).
	// An error wrapping a *Refusal says why the person may not sign in;
	// any other means the IdP could not be asked.
	Exchange(ctx context.Context, code, verifier, nonce string) (Identity, error)
	// Standing re-checks a signed-in person against the config and the
	// deprovisioning list as they are now, and whether they are still an admin.
	Standing(ctx context.Context, id Identity) (admin bool, err error)
}

// Identity is a person signed in at the IdP. Groups holds what Standing
// needs to re-check admin rights (the admin groups they are in).
type Identity struct {
	Subject, Email, Name string
	Groups               []string
	Admin                bool
	SignedIn             time.Time
}

// Refusal is a sign-in the IdP answered but the gateway refuses; Reason is
// fit to show the person.
type Refusal struct{ Reason string }

func (r *Refusal) Error() string { return r.Reason }

// ssoCookie carries one IdP round trip's state, nonce, PKCE verifier and
// return route, sealed (AES-GCM under a key derived from the master key):
// the browser can neither read nor alter it. SameSite=Lax because the
// IdP's redirect back is a cross-site top-level GET, which Strict would
// strip; Path limits it to the sign-in routes; it lives ssoLoginTTL and is
// spent by the first callback.
const ssoCookie = "cg_console_sso"

const ssoLoginTTL = 10 * time.Minute

// Paths of the IdP sign-in. The callback is sso.public_url + ssoCallback:
// the redirect URI registered with the IdP (core/sso.PathConsoleCallback).
const (
	ssoStart    = Prefix + "/sso/start"
	ssoCallback = Prefix + "/sso/callback"
)

type ssoLogin struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Next     string `json:"r"`
	Expires  int64  `json:"e"`
}

// nextRoute is where a sign-in may land: one of the console's own hash
// routes, so "next" can never send the browser anywhere else.
var nextRoute = regexp.MustCompile(`^#/[a-z]{1,20}$`)

func safeNext(s string) string {
	if nextRoute.MatchString(s) && s != "#/signin" {
		return s
	}
	return "#/overview"
}

// ssoStartHandler sends the browser to the IdP with a fresh state, nonce
// and PKCE challenge, bound to this browser by the sealed cookie. The
// target is always the IdP's authorization endpoint: nothing in the
// request can change it.
func (c *Console) ssoStartHandler(w http.ResponseWriter, r *http.Request) {
	if c.o.SSO == nil {
		writeError(w, http.StatusNotFound, "not_found_error", "this gateway has no SSO (general_settings.sso)")
		return
	}
	now := c.o.Now()
	lg := ssoLogin{State: randomB64(32), Nonce: randomB64(32), Verifier: randomB64(32),
		Next: safeNext(r.URL.Query().Get("next")), Expires: now.Add(ssoLoginTTL).Unix()}
	target, err := c.o.SSO.AuthCodeURL(r.Context(), lg.State, lg.Nonce, lg.Verifier)
	if err != nil {
		c.o.Logger.Error("console: identity provider unreachable", "error", err)
		c.ssoFailed(w, http.StatusBadGateway, "The identity provider cannot be reached. Try again in a moment.")
		return
	}
	b, _ := json.Marshal(lg)
	http.SetCookie(w, &http.Cookie{Name: ssoCookie, Value: c.sign.seal("sso-login", b), Path: Prefix + "/sso/",
		MaxAge: int(ssoLoginTTL / time.Second), Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusFound)
}

// ssoCallbackHandler completes the round trip: the cookie is spent at once,
// the state must match it (constant time), the IdP's code is exchanged with
// the verifier and the ID token checked against the nonce. An admin gets
// an admin session; anyone else a session over their own usage.
func (c *Console) ssoCallbackHandler(w http.ResponseWriter, r *http.Request) {
	if c.o.SSO == nil {
		writeError(w, http.StatusNotFound, "not_found_error", "this gateway has no SSO (general_settings.sso)")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: ssoCookie, Path: Prefix + "/sso/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	now := c.o.Now()
	var lg ssoLogin
	ck, err := r.Cookie(ssoCookie)
	if err == nil {
		var b []byte
		if b, err = c.sign.unseal("sso-login", ck.Value); err == nil {
			err = json.Unmarshal(b, &lg)
		}
	}
	q := r.URL.Query()
	switch {
	case err != nil || now.Unix() >= lg.Expires:
		c.ssoFailed(w, http.StatusBadRequest, "This sign-in expired or was started in another browser. Sign in again.")
		return
	case subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(lg.State)) != 1:
		c.o.Logger.Warn("console: sso callback with a foreign state", "remote", clientAddr(r))
		c.ssoFailed(w, http.StatusForbidden, "This sign-in answer does not belong to this browser's sign-in (state mismatch). Sign in again.")
		return
	case q.Get("error") != "":
		c.ssoFailed(w, http.StatusForbidden, "The identity provider refused the sign-in: "+trunc(q.Get("error")+" "+q.Get("error_description"), 200))
		return
	}
	id, err := c.o.SSO.Exchange(r.Context(), q.Get("code"), lg.Verifier, lg.Nonce)
	if err != nil {
		var ref *Refusal
		if errors.As(err, &ref) {
			c.o.Logger.Warn("console: sso sign-in refused", "reason", ref.Reason)
			c.ssoFailed(w, http.StatusForbidden, ref.Reason)
			return
		}
		c.o.Logger.Error("console: identity provider exchange failed", "error", err)
		c.ssoFailed(w, http.StatusBadGateway, "The identity provider cannot be reached. Try again in a moment.")
		return
	}
	ss := session{Role: roleUser, Sub: id.Subject, Email: id.Email, Name: trunc(id.Name, 100), Groups: id.Groups,
		SignedIn: id.SignedIn.UnixMilli(), Expires: now.Add(sessionTTL).Unix(), Nonce: newNonce()}
	if id.Admin {
		ss.Role = roleAdmin
	}
	c.o.Logger.Info("console sign-in", "actor", ss.actor(), "sub", ss.Sub, "role", ss.Role)
	http.SetCookie(w, sessionCookie(c.sign.encode(ss), time.Unix(ss.Expires, 0)))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, Prefix+"/"+safeNext(lg.Next), http.StatusSeeOther)
}

// standing re-checks an IdP session at every request: a deprovisioned
// person, or an admin whose rights were removed, is signed out at once.
func (c *Console) standing(ctx context.Context, ss session) error {
	if c.o.SSO == nil {
		return &Refusal{"SSO is no longer configured"}
	}
	admin, err := c.o.SSO.Standing(ctx, Identity{Subject: ss.Sub, Email: ss.Email, Groups: ss.Groups, SignedIn: time.UnixMilli(ss.SignedIn)})
	if err != nil {
		return err
	}
	if ss.Role == roleAdmin && !admin {
		return &Refusal{"your admin rights were removed"}
	}
	return nil
}

// ssoFailed answers a failed sign-in with a small page (escaped text, the
// console's own stylesheet, no script) and a way back.
func (c *Console) ssoFailed(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
		`<title>Sign-in failed · claude-gateway console</title><link rel="stylesheet" href="` + Prefix + `/assets/app.css?v=` + c.assets.load().version + `"></head>` +
		`<body><main id="main"><section class="card narrow"><h1>Sign-in failed</h1><p class="error" id="sso-error">` + html.EscapeString(msg) +
		`</p><p><a class="button" href="` + Prefix + `/">Back to sign-in</a></p></section></main></body></html>`))
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func randomB64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// seal encrypts and authenticates b for the browser to carry (AES-256-GCM,
// the label as associated data so one kind of sealed value never opens as another).
func (s signer) seal(label string, b []byte) string {
	g := s.aead()
	nonce := make([]byte, g.NonceSize())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(g.Seal(nonce, nonce, b, []byte(label)))
}

func (s signer) unseal(label, v string) ([]byte, error) {
	raw, err := base64.RawURLEncoding.DecodeString(v)
	g := s.aead()
	if err != nil || len(raw) < g.NonceSize() {
		return nil, errNoSession
	}
	return g.Open(nil, raw[:g.NonceSize()], raw[g.NonceSize():], []byte(label))
}

func (s signer) aead() cipher.AEAD {
	blk, _ := aes.NewCipher(s.mac("seal key")) // 32 bytes: AES-256
	g, _ := cipher.NewGCM(blk)
	return g
}
