package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/console"
	"github.com/claude-gateway/claude-gateway/core/identity"
	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/otlprelay"
	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/claude-gateway/claude-gateway/core/server"
	"github.com/claude-gateway/claude-gateway/core/sso"
	"github.com/claude-gateway/claude-gateway/core/store/selector"
)

// signInRoutes wires general_settings.sso: the Claude Code gateway
// protocol's sign-in routes, SSO bearer tokens beside virtual keys, and the
// OTLP relay.
type signInRoutes struct {
	sso   *sso.Service
	relay *otlprelay.Relay
	keys  server.AdmitFunc
}

func newSignIn(ctx context.Context, cfg *config.Config, st router.Store, keys *identity.Gatekeeper, keyAdmit server.AdmitFunc, platform string, log *slog.Logger) *signInRoutes {
	prin := identity.NewPrincipals(keys)
	go prin.Run(ctx)
	s := &signInRoutes{keys: keyAdmit}
	s.sso = sso.New(cfg.General.SSO, st, sso.Options{Logger: log, Principals: prin})
	dests := make([]otlprelay.Destination, 0, len(cfg.General.SSO.TelemetryForwardTo))
	for _, d := range cfg.General.SSO.TelemetryForwardTo {
		dests = append(dests, otlprelay.Destination{URL: d.URL, Headers: d.Headers})
	}
	o := otlprelay.Options{Logger: log}
	if platform == selector.PlatformLambda {
		o.FlushOnReturn = 2 * time.Second // the instance freezes after the handler returns
	}
	master := sha256.Sum256([]byte(cfg.MasterKey()))
	hasMaster := cfg.MasterKey() != ""
	s.relay = otlprelay.New(dests, func(r *http.Request) (map[string]string, *llm.Error) {
		key := bearerOf(r)
		if sum := sha256.Sum256([]byte(key)); hasMaster && subtle.ConstantTimeCompare(sum[:], master[:]) == 1 {
			return map[string]string{"enduser.id": "master-key"}, nil
		}
		if strings.HasPrefix(key, sso.AccessPrefix) {
			sess, e := s.sso.Verify(r.Context(), key)
			if e != nil {
				return nil, e
			}
			return sso.TelemetryAttributes(sess), nil
		}
		c, e := keyAdmit(r.Context(), key)
		if e != nil {
			return nil, e
		}
		alias, user, team := c.Labels()
		return map[string]string{"enduser.id": first(user, alias), "user.team": team}, nil
	}, o)
	return s
}

// admit sends SSO access tokens to the SSO service, anything else to the
// virtual keys.
func (s *signInRoutes) admit(ctx context.Context, key string) (server.Caller, *llm.Error) {
	if strings.HasPrefix(key, sso.AccessPrefix) {
		c, e := s.sso.Admit(ctx, key)
		if e != nil {
			return nil, e
		}
		return c, nil
	}
	return s.keys(ctx, key)
}

// handler serves the protocol's own paths and hands the rest to the server.
func (s *signInRoutes) handler(srv http.Handler) http.Handler {
	m := http.NewServeMux()
	for p, h := range s.sso.Routes() {
		m.Handle(p, h)
	}
	for p, h := range s.relay.Routes() {
		m.Handle(p, h)
	}
	m.Handle("/", srv)
	return m
}

func bearerOf(r *http.Request) string {
	a := r.Header.Get("Authorization")
	if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	return r.Header.Get("x-api-key")
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// consoleSSO is the web console's IdP sign-in: core/sso's WebSignIn in the
// console's terms.
type consoleSSO struct{ w *sso.WebSignIn }

func (c consoleSSO) AuthCodeURL(ctx context.Context, state, nonce, verifier string) (string, error) {
	return c.w.AuthCodeURL(ctx, state, nonce, verifier)
}

func (c consoleSSO) Exchange(ctx context.Context, code, verifier, nonce string) (console.Identity, error) {
	id, err := c.w.Exchange(ctx, code, verifier, nonce)
	if err != nil {
		return console.Identity{}, consoleError(err)
	}
	return console.Identity{Subject: id.Sub, Email: id.Email, Name: id.Name, Groups: id.Groups, Admin: id.Admin, SignedIn: id.SignedIn}, nil
}

func (c consoleSSO) Standing(ctx context.Context, id console.Identity) (bool, error) {
	admin, err := c.w.Standing(ctx, &sso.WebIdentity{Sub: id.Subject, Email: id.Email, Groups: id.Groups, SignedIn: id.SignedIn})
	return admin, consoleError(err)
}

func consoleError(err error) error {
	var re *sso.RefusedError
	if errors.As(err, &re) {
		return &console.Refusal{Reason: re.Reason}
	}
	return err
}
