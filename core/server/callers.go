package server

import (
	"context"
	"crypto/subtle"
	"net/http"

	"github.com/claude-gateway/claude-gateway/core/llm"
)

// Caller is an admitted virtual key (core/identity): its model access,
// limits and budget. The master key has no Caller and no limits.
type Caller interface {
	// AllowsModel reports whether the key may use the model group name.
	AllowsModel(model string) bool
	// Begin checks access, budget and limits for one call; nil means
	// admitted, and End must follow.
	Begin(ctx context.Context, model string) *llm.Error
	// End charges the finished call (off the request path).
	End(costUSD float64, tokens int64)
	// Headers sets per-key response headers (x-litellm-key-spend...) on h
	// (an http.Header; an interface, not a func, so passing one allocates
	// nothing).
	Headers(h interface{ Set(key, value string) })
	// Labels name the key in spend records.
	Labels() (alias, user, team string)
}

// AdmitFunc admits a presented key that is not the master key; its error
// answers the client (401 for an unknown, blocked or expired key).
type AdmitFunc func(ctx context.Context, key string) (Caller, *llm.Error)

type callerKey struct{}

// callerFrom returns the request's virtual key, nil for the master key (or
// an open gateway).
func callerFrom(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c
}

// isMaster compares the presented key with the master key in constant time
// (hashing first, so neither content nor length leaks through timing).
func (s *Server) isMaster(r *http.Request) bool {
	sum := sumKey(clientKey(r))
	return subtle.ConstantTimeCompare(sum[:], s.keySum[:]) == 1
}

// authed admits the master key, else a virtual key through Options.Admit.
// The check runs in admit, whose frame (the key hashed in a stack buffer)
// is gone before h runs: h's frames stay under a stream for its life.
func (s *Server) authed(h http.HandlerFunc) http.HandlerFunc {
	return s.authedCall(func(w http.ResponseWriter, r *http.Request, cl Caller) {
		if cl != nil {
			r = r.WithContext(context.WithValue(r.Context(), callerKey{}, cl))
		}
		h(w, r)
	})
}

// callHandler serves a model call of virtual key cl (nil for the master key).
type callHandler func(w http.ResponseWriter, r *http.Request, cl Caller)

// authedCall is authed for the model routes: the virtual key is passed
// along as an argument, not in the request's context, which cost a
// context and a copy of the request (~300 bytes) per keyed call.
func (s *Server) authedCall(h callHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if cl, ok := s.admit(w, r); ok {
			h(w, r, cl)
		}
	}
}

// admit checks r's key: a nil Caller for the master key (or an open
// gateway), the virtual key's Caller, or false once it has answered.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) (Caller, bool) {
	if !s.hasKey || s.isMaster(r) {
		return nil, true
	}
	if s.opts.Admit == nil {
		s.writeError(w, r, &llm.Error{Status: 401, Type: llm.ErrAuthentication, Message: "invalid x-api-key or Authorization bearer token"})
		return nil, false
	}
	c, e := s.opts.Admit(r.Context(), clientKey(r))
	if e != nil {
		s.writeError(w, r, e)
		return nil, false
	}
	return c, true
}

// hashedKey is a Caller that knows its key's hash (keyHash of the
// presented key), as a virtual key's stored document does.
type hashedKey interface {
	KeyHash() string
}

// keyHash is the spend record's key hash: the virtual key's own when it
// has one, the master key's made once (no second SHA-256 of the key per
// request), else made from r (an open gateway: whatever key came).
func (s *Server) keyHash(r *http.Request, c *call) string {
	if k, ok := c.key.(hashedKey); ok {
		return k.KeyHash()
	}
	if c.key == nil && s.hasKey {
		return s.keyHex // admitted without a Caller: the master key
	}
	return keyHash(r)
}

// AdminCaller is a Caller that may be an admin identity (a user signed in
// through SSO in an admin group): such a caller passes adminOnly as the
// master key does. Virtual keys never are.
type AdminCaller interface {
	Caller
	IsAdmin() bool
}

// adminOnly admits the master key and admin identities: admin routes (keys,
// spend of everyone) are never open to virtual keys. Every other credential
// gets 401, valid or not, as LiteLLM answers a non-admin key on its admin
// routes (its scripts read 401 as "not an admin key").
func (s *Server) adminOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.hasKey || s.isMaster(r) {
			h(w, r)
			return
		}
		key := clientKey(r)
		if s.opts.Admit == nil || key == "" {
			s.writeError(w, r, &llm.Error{Status: 401, Type: llm.ErrAuthentication, Message: "this route needs the master key"})
			return
		}
		c, e := s.opts.Admit(r.Context(), key)
		if e != nil {
			s.writeError(w, r, &llm.Error{Status: 401, Type: llm.ErrAuthentication, Message: "this route needs the master key or an admin's sign-in"})
			return
		}
		if a, ok := c.(AdminCaller); !ok || !a.IsAdmin() {
			s.writeError(w, r, &llm.Error{Status: 401, Type: llm.ErrAuthentication, Message: "this route needs the master key or an admin's sign-in"})
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, c)))
	}
}

// admitCall runs the virtual key's policy for c's model; on refusal it
// answers the client and reports false.
func (s *Server) admitCall(ctx context.Context, w http.ResponseWriter, r *http.Request, c *call) bool {
	cl := c.key
	if cl == nil {
		return true
	}
	c.keyAlias, c.userID, c.teamID = cl.Labels()
	e := cl.Begin(ctx, c.req.Model)
	// After Begin: the rate-limit headers carry what Begin counted.
	cl.Headers(w.Header())
	if e != nil {
		c.fail(e)
		s.writeError(w, r, e)
		return false
	}
	c.caller = cl
	return true
}
