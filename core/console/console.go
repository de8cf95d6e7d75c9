// Package console is the gateway's web console at /ui: overview charts,
// spend by person, team, key and model, deployment health, key, user and
// team admin, and the request log. Every asset is embedded in the binary
// (no CDN: it works offline and behind strict proxies), served under a
// strict Content-Security-Policy with no inline script or style.
//
// Sign-in takes the master key (an admin session), a virtual key (a
// session that sees only that key's usage), or a person's sign-in at the
// company's IdP (OIDC authorization code + PKCE: an admin session for
// sso.admin_groups / admin_emails, else one over their own usage and keys),
// and sets an HMAC-signed,
// Secure, HttpOnly, SameSite=Strict cookie; the key itself is never stored
// in the cookie or the browser. Every state-changing call must come from the
// same origin and carry the session's CSRF token. The admin calls reuse the
// gateway's own admin handlers (/key/*, /user/*, /team/*, /spend/*), so the
// console and the API can never disagree.
package console

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/claude-gateway/claude-gateway/core/identity"
	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/claude-gateway/claude-gateway/core/spend"
	"github.com/claude-gateway/claude-gateway/core/spend/spendapi"
)

// Prefix is where the console is served.
const Prefix = "/ui"

// KeyDirectory finds virtual keys (identity.Repo is one): for signing in
// with a key, for ending a session whose key was blocked or deleted, and for
// budget bars.
type KeyDirectory interface {
	GetMany(ctx context.Context, tokens []string) ([]*identity.Key, error)
	WindowSpend(ctx context.Context, keys []*identity.Key, now time.Time) ([]float64, error)
}

// Options configure the console.
type Options struct {
	// MasterKey signs admins in and keys the session signatures; without
	// one the console refuses to serve (an open gateway has no admins).
	MasterKey string
	// Spend is the spend store the charts, tables and log read.
	Spend spend.Store
	// Admin are the gateway's admin routes by ServeMux pattern ("POST
	// /key/generate", ...); the console serves them to admin sessions under
	// /ui/api/admin, after its session and CSRF checks.
	Admin map[string]http.Handler
	// Keys lets virtual keys sign in; nil admits the master key only.
	Keys KeyDirectory
	// Health reports the deployments (router.Router.Health); nil: none.
	Health func(ctx context.Context) []router.DeploymentHealth
	// SSO signs people in at the IdP; nil: no "Sign in with SSO".
	SSO IdentityProvider
	// StreamLifetime caps one live deployments stream (default
	// defaultStreamLifetime): the browser reconnects, so a Lambda
	// invocation never stays open for long.
	StreamLifetime time.Duration
	Logger         *slog.Logger
	// Now is the clock (time.Now if nil).
	Now func() time.Time
}

// Console is the /ui handler.
type Console struct {
	o      Options
	sign   signer
	mux    func() *http.ServeMux
	admin  http.Handler
	logs   http.Handler
	rollup *rollup
	people *rollup // IdP users' own views, over scopedSpend
	assets *assets
	guard  signInThrottle
	live   streamLimit
}

// New builds the console.
func New(o Options) *Console {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.StreamLifetime <= 0 {
		o.StreamLifetime = defaultStreamLifetime
	}
	c := &Console{o: o, sign: newSigner(o.MasterKey), rollup: newRollup(o.Spend, o.Now),
		people: newRollup(scopedSpend{o.Spend}, o.Now), assets: newAssets()}
	c.mux = sync.OnceValue(c.routes)
	return c
}

// routes builds the console's handlers at its first request, not at start:
// registering them costs a cold start a fifth of a millisecond, and a
// gateway that never serves /ui (Lambda behind Claude Code) never needs them.
func (c *Console) routes() *http.ServeMux {
	o := c.o
	am := http.NewServeMux()
	for p, h := range o.Admin {
		am.Handle(p, h)
	}
	am.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found_error", "this gateway has no admin route "+r.Method+" "+r.URL.Path)
	})
	c.admin = http.StripPrefix(Prefix+"/api/admin", am)
	c.logs = spendapi.Handlers(o.Spend, spendapi.Options{Logger: o.Logger})["GET /spend/logs"]

	m := http.NewServeMux()
	m.HandleFunc("GET "+Prefix, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix+"/", http.StatusMovedPermanently)
	})
	m.HandleFunc("GET "+Prefix+"/{$}", c.assets.serveIndex)
	m.HandleFunc("GET "+Prefix+"/assets/{file...}", c.assets.serve)
	m.HandleFunc("POST "+Prefix+"/api/login", c.login)
	m.HandleFunc("POST "+Prefix+"/api/logout", c.authed(false, c.logout))
	m.HandleFunc("GET "+Prefix+"/api/session", c.sessionInfo)
	m.HandleFunc("GET "+ssoStart, c.ssoStartHandler)
	m.HandleFunc("GET "+ssoCallback, c.ssoCallbackHandler)
	m.HandleFunc("GET "+Prefix+"/api/my-keys", c.authed(false, c.myKeys))
	m.HandleFunc("GET "+Prefix+"/api/deployments/stream", c.authed(true, c.deploymentStream))
	m.HandleFunc("GET "+Prefix+"/api/overview", c.authed(false, c.overview))
	m.HandleFunc("GET "+Prefix+"/api/spend", c.authed(false, c.spendReport))
	m.HandleFunc("GET "+Prefix+"/api/spend.csv", c.authed(false, c.spendCSV))
	m.HandleFunc("GET "+Prefix+"/api/logs", c.authed(false, c.requestLog))
	m.HandleFunc("GET "+Prefix+"/api/deployments", c.authed(true, c.deployments))
	m.HandleFunc("GET "+Prefix+"/api/key-spend", c.authed(true, c.keySpend))
	m.HandleFunc("GET "+Prefix+"/api/users", c.authed(true, c.users))
	m.HandleFunc("GET "+Prefix+"/api/teams", c.authed(true, c.teams))
	m.Handle(Prefix+"/api/admin/", c.authed(true, c.adminCall))
	m.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found_error", "no console route "+r.Method+" "+r.URL.Path)
	})
	return m
}

// ServeHTTP implements http.Handler for every path under Prefix.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if c.o.MasterKey == "" {
		writeError(w, http.StatusServiceUnavailable, "api_error", "the console needs general_settings.master_key: an open gateway has no admins")
		return
	}
	if strings.HasPrefix(r.URL.Path, Prefix+"/api/") {
		h.Set("Cache-Control", "no-store")
	}
	c.mux().ServeHTTP(w, r)
}

// csp allows only this origin's scripts, styles and fetches: no inline
// script or style, no eval, no frames, no form posts elsewhere. uPlot draws
// on canvas and sets styles through the CSSOM, which CSP does not restrict.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

type sessionKey struct{}

// authed admits requests with a valid session (admin sessions only when
// adminOnly), and state-changing ones only from this origin with the
// session's CSRF token. A key session ends as soon as its key is blocked,
// expired or deleted.
func (c *Console) authed(adminOnly bool, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ss, ok := c.session(r)
		if !ok {
			writeError(w, http.StatusUnauthorized, "authentication_error", "sign in first")
			return
		}
		if msg := c.revoked(r.Context(), ss); msg != "" {
			http.SetCookie(w, sessionCookie("", time.Time{}))
			writeError(w, http.StatusUnauthorized, "authentication_error", msg+"; sign in again")
			return
		}
		if adminOnly && ss.Role != roleAdmin {
			writeError(w, http.StatusForbidden, "permission_error", "this page needs the master key or an admin's sign-in")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if !sameOrigin(r) {
				writeError(w, http.StatusForbidden, "permission_error", "cross-origin request refused")
				return
			}
			if !c.sign.checkCSRF(ss, r.Header.Get("X-CSRF-Token")) {
				writeError(w, http.StatusForbidden, "permission_error", "missing or wrong X-CSRF-Token")
				return
			}
		}
		h(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, ss)))
	}
}

func (c *Console) session(r *http.Request) (session, bool) {
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return session{}, false
	}
	ss, err := c.sign.decode(ck.Value, c.o.Now())
	return ss, err == nil
}

func sessionFrom(ctx context.Context) session {
	ss, _ := ctx.Value(sessionKey{}).(session)
	return ss
}

// revoked says why a valid cookie no longer stands ("" while it does): a
// key blocked, expired or deleted; a person deprovisioned or no longer
// allowed, or an admin whose rights were removed.
func (c *Console) revoked(ctx context.Context, ss session) string {
	switch {
	case ss.Role == roleKey && !c.keyActive(ctx, ss.KeyHash):
		return "this key is blocked, expired or deleted"
	case ss.viaSSO():
		if err := c.standing(ctx, ss); err != nil {
			c.o.Logger.Info("console: sso session ended", "actor", ss.actor(), "reason", err)
			return "your sign-in no longer stands (" + err.Error() + ")"
		}
	}
	return ""
}

// keyFilter is the key hash a key session's spend queries are limited to
// ("" for admins and people).
func keyFilter(ctx context.Context) string {
	if ss := sessionFrom(ctx); ss.Role == roleKey {
		return ss.KeyHash
	}
	return ""
}

// scope is the rollup and filter serving a session's own view: a key
// session's key hash, a person's user id (the email their spend records
// carry) through the people rollup, nothing for admins.
func (c *Console) scope(ctx context.Context) (*rollup, string) {
	if ss := sessionFrom(ctx); ss.Role == roleUser {
		return c.people, ss.Email
	}
	return c.rollup, keyFilter(ctx)
}

// scopedSpend is the people rollup's store: the rollup filters and caches
// by one string, which here is a user id, not a key hash.
type scopedSpend struct{ store spend.Store }

func (s scopedSpend) PutSpend(ctx context.Context, recs []spend.Record) error {
	return s.store.PutSpend(ctx, recs)
}

func (s scopedSpend) QuerySpend(ctx context.Context, q spend.Query) (spend.Page, error) {
	q.KeyHash, q.UserID = "", q.KeyHash
	if q.UserID == "" {
		return spend.Page{}, nil // never everyone's records through this store
	}
	return s.store.QuerySpend(ctx, q)
}

func (c *Console) lookupKey(ctx context.Context, hash string) *identity.Key {
	if c.o.Keys == nil {
		return nil
	}
	ks, err := c.o.Keys.GetMany(ctx, []string{hash})
	if err != nil {
		c.o.Logger.Error("console: key lookup", "error", err)
		return nil
	}
	return ks[0]
}

func (c *Console) keyActive(ctx context.Context, hash string) bool {
	k := c.lookupKey(ctx, hash)
	return k != nil && !k.Blocked && !k.Expired(c.o.Now())
}
