// Package sso serves the Claude Code gateway protocol's sign-in half: the
// RFC 8414 discovery document, the RFC 8628 device flow, the browser
// verification page that signs the developer in with the company's OpenID
// Connect provider (authorization code + PKCE, via coreos/go-oidc and
// x/oauth2), the token endpoint with rotating refresh tokens, and
// GET /managed/settings.
//
// Every piece of state (device codes, user codes, login states, access and
// refresh tokens, revocations) lives in the router's Store under its SHA-256,
// with a TTL, so any instance (a Lambda instance that may die between two
// polls, another Cloud Run replica) serves any step of the flow. Single-use
// rules (device codes, login states, refresh tokens) are atomic counter
// claims (Store.Incr with limit 1): exactly one instance wins.
package sso

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/identity"
	"github.com/claude-gateway/claude-gateway/core/router"
)

// Paths the gateway serves; the discovery document names them absolutely.
const (
	PathMetadata   = "/.well-known/oauth-authorization-server"
	PathDevice     = "/oauth/device_authorization"
	PathToken      = "/oauth/token"
	PathRevoke     = "/oauth/revoke"
	PathVerify     = "/device"
	PathCallback   = "/sso/callback"
	PathSettings   = "/managed/settings"
	PathRevokeUser = "/sso/user/revoke" // admin: deprovision one user now
)

// Options tune a Service.
type Options struct {
	Logger *slog.Logger
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// HTTPClient reaches the IdP (nil: http.DefaultClient).
	HTTPClient *http.Client
	// Principals carries the per-user and per-group budgets and limits (nil:
	// none are enforced beyond model access).
	Principals *identity.Principals
}

// Service is one gateway's SSO: stateless itself, its state in the Store.
type Service struct {
	cfg    *config.SSOSettings
	store  router.Store
	log    *slog.Logger
	now    func() time.Time
	client *http.Client
	prin   *identity.Principals
	origin string // scheme://host of PublicURL, for same-origin checks
	secure bool   // cookies get Secure (https)

	provMu   sync.Mutex
	oauth    *oauth2.Config // nil until the IdP is discovered (lazily: no outbound call at start)
	verifier *oidc.IDTokenVerifier
	provider *oidc.Provider

	cache tokenCache
	rules ruleCache
}

// New returns the Service for cfg over store.
func New(cfg *config.SSOSettings, store router.Store, o Options) *Service {
	s := &Service{cfg: cfg, store: store, log: o.Logger, now: o.Now, client: o.HTTPClient, prin: o.Principals}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.client == nil {
		s.client = http.DefaultClient
	}
	u, _ := url.Parse(cfg.PublicURL)
	s.origin = u.Scheme + "://" + u.Host
	s.secure = u.Scheme == "https"
	s.cache.m = map[[32]byte]cachedSession{}
	return s
}

// Routes are the unauthenticated protocol routes (the bearer-checked
// /managed/settings included: it authenticates itself), by ServeMux pattern.
func (s *Service) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		"GET " + PathMetadata:  http.HandlerFunc(s.handleMetadata),
		"POST " + PathDevice:   http.HandlerFunc(s.handleDeviceAuthorization),
		"POST " + PathToken:    http.HandlerFunc(s.handleToken),
		"POST " + PathRevoke:   http.HandlerFunc(s.handleRevoke),
		"GET " + PathVerify:    http.HandlerFunc(s.handleVerifyPage),
		"POST " + PathVerify:   http.HandlerFunc(s.handleVerifySubmit),
		"GET " + PathCallback:  http.HandlerFunc(s.handleCallback),
		"GET " + PathSettings:  http.HandlerFunc(s.handleSettings),
		"HEAD " + PathSettings: http.HandlerFunc(s.handleSettings),
	}
}

// AdminRoutes need the master key (the caller wraps them).
func (s *Service) AdminRoutes() map[string]http.Handler {
	return map[string]http.Handler{"POST " + PathRevokeUser: http.HandlerFunc(s.handleRevokeUser)}
}

// oauthConfig returns the IdP client and ID token verifier, discovering
// the provider on first use (and again after a failure). The verifier's key
// set follows the IdP's JWKS: a rotated key is fetched when a token names it.
func (s *Service) oauthConfig(ctx context.Context) (*oauth2.Config, *oidc.IDTokenVerifier, error) {
	s.provMu.Lock()
	defer s.provMu.Unlock()
	if s.oauth != nil {
		return s.oauth, s.verifier, nil
	}
	bg := oidc.ClientContext(context.WithoutCancel(ctx), s.client)
	dctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(dctx, s.cfg.Issuer)
	if err != nil {
		return nil, nil, err
	}
	s.oauth = &oauth2.Config{
		ClientID:     s.cfg.ClientID,
		ClientSecret: s.cfg.ClientSecret,
		Endpoint:     p.Endpoint(),
		RedirectURL:  s.cfg.PublicURL + PathCallback,
		Scopes:       s.cfg.Scopes,
	}
	s.provider = p
	s.verifier = p.VerifierContext(bg, &oidc.Config{ClientID: s.cfg.ClientID, Now: s.now})
	return s.oauth, s.verifier, nil
}
