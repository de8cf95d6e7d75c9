// Package oidctest is a test OpenID Connect provider on loopback. It is not
// a real IdP, but it refuses what a real one refuses: an unknown client, a
// redirect URI that is not the registered one exactly, a missing or wrong
// PKCE S256 verifier, a reused or foreign authorization code, a bad client
// secret. ID tokens are RS256-signed with a key named (kid) in its JWKS, and
// keys rotate (RotateKey), so a verifier that caches keys is exercised.
// Tests reach the probes a real IdP cannot stage: tokens signed with a key
// outside the JWKS, expired ID tokens, a wrong nonce.
package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// User is an account at the IdP.
type User struct {
	Sub           string
	Email         string
	EmailVerified bool
	Groups        []string
}

// Options configure the IdP's one registered client.
type Options struct {
	ClientID, ClientSecret, RedirectURI string
	// MoreRedirectURIs are further registered redirect URIs (the web
	// console's callback beside the device flow's).
	MoreRedirectURIs []string
}

// IdP is a running provider.
type IdP struct {
	*httptest.Server
	opts Options

	mu       sync.Mutex
	keys     []signingKey // keys[0] signs; all are published
	foreign  *signingKey  // when set, signs instead and is never published
	user     *User
	codes    map[string]*grant
	ttl      time.Duration
	badNonce bool
	// Counters tests assert on.
	Authorizations, Exchanges, JWKSFetches int
}

type signingKey struct {
	kid string
	key *rsa.PrivateKey
}

type grant struct {
	user      User
	challenge string
	redirect  string
	nonce     string
	used      bool
	expires   time.Time
}

// New starts an IdP with one signing key.
func New(o Options) *IdP {
	p := &IdP{opts: o, codes: map[string]*grant{}, ttl: 10 * time.Minute}
	p.keys = []signingKey{newKey()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("GET /userinfo", p.userinfo)
	p.Server = httptest.NewServer(mux)
	return p
}

func newKey() signingKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return signingKey{kid: base64.RawURLEncoding.EncodeToString(b[:]), key: k}
}

// Issuer is the IdP's issuer URL.
func (p *IdP) Issuer() string { return p.URL }

// SignInAs makes the next authorization sign in u (the browser's IdP session).
func (p *IdP) SignInAs(u User) { p.mu.Lock(); p.user = &u; p.mu.Unlock() }

// RotateKey signs with a fresh key from now on; the old key stays published
// unless dropOld.
func (p *IdP) RotateKey(dropOld bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := newKey()
	if dropOld {
		p.keys = []signingKey{k}
		return
	}
	p.keys = append([]signingKey{k}, p.keys...)
}

// SignWithForeignKey makes ID tokens carry a signature by a key the JWKS
// does not publish (with the current key's kid, as a forger would).
func (p *IdP) SignWithForeignKey(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !on {
		p.foreign = nil
		return
	}
	k := newKey()
	k.kid = p.keys[0].kid
	p.foreign = &k
}

// IDTokenTTL sets the ID tokens' lifetime (negative: already expired).
func (p *IdP) IDTokenTTL(d time.Duration) { p.mu.Lock(); p.ttl = d; p.mu.Unlock() }

// WrongNonce makes ID tokens carry a nonce other than the one requested.
func (p *IdP) WrongNonce(on bool) { p.mu.Lock(); p.badNonce = on; p.mu.Unlock() }

func (p *IdP) discovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]any{
		"issuer":                                p.URL,
		"authorization_endpoint":                p.URL + "/authorize",
		"token_endpoint":                        p.URL + "/token",
		"userinfo_endpoint":                     p.URL + "/userinfo",
		"jwks_uri":                              p.URL + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
	})
}

func (p *IdP) jwks(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.JWKSFetches++
	var set jose.JSONWebKeySet
	for _, k := range p.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.key.PublicKey, KeyID: k.kid, Algorithm: "RS256", Use: "sig"})
	}
	writeJSON(w, 200, set)
}

// authorize checks the request as a real IdP does, then (the user being
// signed in already) redirects back with a code. Errors that make the
// redirect URI untrustworthy are shown here, never redirected.
func (p *IdP) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != p.opts.ClientID {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	redirect := q.Get("redirect_uri")
	if redirect != p.opts.RedirectURI && !slices.Contains(p.opts.MoreRedirectURIs, redirect) {
		http.Error(w, "redirect_uri is not registered for this client", http.StatusBadRequest)
		return
	}
	back := func(params url.Values) {
		http.Redirect(w, r, redirect+"?"+params.Encode(), http.StatusFound)
	}
	state := q.Get("state")
	switch {
	case q.Get("response_type") != "code":
		back(url.Values{"error": {"unsupported_response_type"}, "state": {state}})
		return
	case !strings.Contains(" "+q.Get("scope")+" ", " openid "):
		back(url.Values{"error": {"invalid_scope"}, "state": {state}})
		return
	case q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) < 43:
		back(url.Values{"error": {"invalid_request"}, "error_description": {"PKCE S256 required"}, "state": {state}})
		return
	}
	p.mu.Lock()
	u := p.user
	p.Authorizations++
	if u == nil {
		p.mu.Unlock()
		back(url.Values{"error": {"access_denied"}, "state": {state}})
		return
	}
	code := randomString()
	p.codes[code] = &grant{user: *u, challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri"), nonce: q.Get("nonce"), expires: time.Now().Add(time.Minute)}
	p.mu.Unlock()
	back(url.Values{"code": {code}, "state": {state}})
}

func (p *IdP) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		tokenError(w, "invalid_request")
		return
	}
	id, secret, ok := r.BasicAuth()
	if ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != p.opts.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(p.opts.ClientSecret)) != 1 {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	if r.PostForm.Get("grant_type") != "authorization_code" {
		tokenError(w, "unsupported_grant_type")
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.Exchanges++
	g := p.codes[r.PostForm.Get("code")]
	if g == nil || g.used || time.Now().After(g.expires) || g.redirect != r.PostForm.Get("redirect_uri") {
		tokenError(w, "invalid_grant")
		return
	}
	g.used = true
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
		tokenError(w, "invalid_grant") // PKCE verifier does not match the challenge
		return
	}
	idToken := p.signIDToken(g)
	access := "idp-at-" + randomString()
	p.codes[access] = g // userinfo looks the access token up
	writeJSON(w, 200, map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": 3600, "id_token": idToken})
}

func (p *IdP) signIDToken(g *grant) string {
	k := p.keys[0]
	if p.foreign != nil {
		k = *p.foreign
	}
	now := time.Now()
	nonce := g.nonce
	if p.badNonce {
		nonce = "not-" + nonce
	}
	claims := map[string]any{
		"iss": p.URL, "sub": g.user.Sub, "aud": p.opts.ClientID, "iat": now.Unix(), "exp": now.Add(p.ttl).Unix(),
		"nonce": nonce, "email": g.user.Email, "email_verified": g.user.EmailVerified, "groups": g.user.Groups,
	}
	payload, _ := json.Marshal(claims)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: k.key, KeyID: k.kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		panic(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		panic(err)
	}
	out, _ := jws.CompactSerialize()
	return out
}

func (p *IdP) userinfo(w http.ResponseWriter, r *http.Request) {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	p.mu.Lock()
	g := p.codes[tok]
	p.mu.Unlock()
	if g == nil || !strings.HasPrefix(tok, "idp-at-") {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	writeJSON(w, 200, map[string]any{"sub": g.user.Sub, "email": g.user.Email, "email_verified": g.user.EmailVerified, "groups": g.user.Groups})
}

func tokenError(w http.ResponseWriter, code string) {
	writeJSON(w, 400, map[string]string{"error": code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(mustJSON(v))))
	w.WriteHeader(status)
	_, _ = w.Write(mustJSON(v))
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func randomString() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
