package sso

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/identity"
	"github.com/claude-gateway/claude-gateway/core/llm"
)

var llm404 = llm.Error{Status: 404, Type: llm.ErrNotFound, Message: "no managed settings for this user"}

// Caller is an admitted SSO user: the user's own counters under sso.user,
// plus one shared set per group of theirs that has a budget or limits. A
// call must pass every one of them (the narrowest wins).
type Caller struct {
	sess    *Session
	models  modelRule
	parts   []*identity.Caller
	begun   int
	primary *identity.Caller
	admin   bool
}

// Admit verifies an access token and builds the user's Caller.
func (s *Service) Admit(ctx context.Context, token string) (*Caller, *llm.Error) {
	sess, e := s.Verify(ctx, token)
	if e != nil {
		return nil, e
	}
	c := &Caller{sess: sess, models: s.rules.get(s, sess.Groups), admin: s.isAdmin(sess)}
	if s.prin == nil {
		return c, nil
	}
	team := firstGroup(s.cfg, sess.Groups)
	user, err := s.prin.Caller(ctx, "user:"+sess.Sub, policyKey(s.cfg.User, sess.Email, team, "sso:"+sess.Email))
	if err != nil {
		return nil, storeError(err)
	}
	c.primary = user
	c.parts = append(c.parts, user)
	for _, g := range s.cfg.Groups {
		if !slices.Contains(sess.Groups, g.Name) || !hasLimits(g.SSOPolicy) {
			continue
		}
		gc, err := s.prin.Caller(ctx, "group:"+g.Name, policyKey(config.SSOPolicy{
			MaxBudget: g.MaxBudget, BudgetDuration: g.BudgetDuration, RPMLimit: g.RPMLimit,
			TPMLimit: g.TPMLimit, MaxParallelRequests: g.MaxParallelRequests,
		}, "", g.Name, "group:"+g.Name))
		if err != nil {
			return nil, storeError(err)
		}
		c.parts = append(c.parts, gc)
	}
	return c, nil
}

// Session is who the caller is.
func (c *Caller) Session() *Session { return c.sess }

// IsAdmin reports whether the signed-in user may call the admin routes:
// their email is in sso.admin_emails or one of their groups in
// sso.admin_groups. Read at every request, so a config change or a group
// removed at the IdP (seen at the next refresh) takes effect.
func (c *Caller) IsAdmin() bool { return c.admin }

// AllowsModel applies the model rule (groups' models, sso.user.models and
// the managed settings' availableModels, which the gateway enforces too).
func (c *Caller) AllowsModel(model string) bool { return c.models.allows(model) }

// Begin checks the model, then every budget and limit; on a refusal the
// parts already begun are released.
func (c *Caller) Begin(ctx context.Context, model string) *llm.Error {
	if !c.AllowsModel(model) {
		return &llm.Error{Status: 400, Type: llm.ErrInvalidRequest,
			Message: "model " + strconv.Quote(model) + " is not allowed for " + c.sess.Email + "; allowed: " + c.models.String()}
	}
	for i, p := range c.parts {
		if e := p.Begin(ctx, model); e != nil {
			for _, q := range c.parts[:i] {
				q.End(0, 0)
			}
			return e
		}
	}
	c.begun = len(c.parts)
	return nil
}

// End charges the call to the user and to each limited group.
func (c *Caller) End(costUSD float64, tokens int64) {
	for _, p := range c.parts[:c.begun] {
		p.End(costUSD, tokens)
	}
	c.begun = 0
}

// Headers are the user's own spend headers.
func (c *Caller) Headers(h interface{ Set(key, value string) }) {
	if c.primary != nil {
		c.primary.Headers(h)
	}
}

// Labels name the user in spend records: alias sso:<email>, user = email,
// team = the first configured group of theirs.
func (c *Caller) Labels() (alias, user, team string) {
	if c.primary != nil {
		return c.primary.Labels()
	}
	return "sso:" + c.sess.Email, c.sess.Email, ""
}

func policyKey(p config.SSOPolicy, user, team, alias string) *identity.Key {
	return &identity.Key{
		KeyAlias: alias, UserID: user, TeamID: team,
		MaxBudget: p.MaxBudget, BudgetDuration: p.BudgetDuration, RPMLimit: p.RPMLimit,
		TPMLimit: p.TPMLimit, MaxParallelRequests: p.MaxParallelRequests,
	}
}

func hasLimits(p config.SSOPolicy) bool {
	return p.MaxBudget != nil || p.RPMLimit != nil || p.TPMLimit != nil || p.MaxParallelRequests != nil
}

func firstGroup(cfg *config.SSOSettings, groups []string) string {
	for _, g := range cfg.Groups {
		if slices.Contains(groups, g.Name) {
			return g.Name
		}
	}
	return ""
}

// ruleCache memoizes the model rule per group set: composing it merges the
// managed settings, which is too slow for every request.
type ruleCache struct {
	mu sync.Mutex
	m  map[string]modelRule
}

func (c *ruleCache) get(s *Service, groups []string) modelRule {
	key := strings.Join(groups, "\x00")
	c.mu.Lock()
	r, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return r
	}
	r = s.modelRule(groups)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= 10_000 {
		c.m = map[string]modelRule{}
	}
	c.m[key] = r
	c.mu.Unlock()
	return r
}

// modelRule is a conjunction of allow lists; an empty rule allows all.
// Each list allows exact names, "*" patterns and family aliases (opus,
// sonnet, haiku, as Claude Code's availableModels takes them).
type modelRule [][]string

// modelRule: the union of the user's groups' models (any group without a
// list allows every model), else sso.user.models when the user is in no
// group; and, when the managed settings carry availableModels, those too.
func (s *Service) modelRule(groups []string) modelRule {
	var rule modelRule
	var union []string
	inGroup, open := false, false
	for _, g := range s.cfg.Groups {
		if !slices.Contains(groups, g.Name) {
			continue
		}
		inGroup = true
		if len(g.Models) == 0 {
			open = true
		}
		union = append(union, g.Models...)
	}
	switch {
	case inGroup && !open:
		rule = append(rule, union)
	case !inGroup && len(s.cfg.User.Models) > 0:
		rule = append(rule, s.cfg.User.Models)
	}
	if inGroup && len(s.cfg.User.Models) > 0 {
		rule = append(rule, s.cfg.User.Models)
	}
	if settings, ok := Settings(s.cfg, groups); ok {
		if am, ok := settings["availableModels"].([]any); ok {
			var list []string
			for _, m := range am {
				if str, ok := m.(string); ok {
					list = append(list, str)
				}
			}
			rule = append(rule, list)
		}
	}
	return rule
}

func (r modelRule) allows(model string) bool {
	for _, list := range r {
		if !listAllows(list, model) {
			return false
		}
	}
	return true
}

func listAllows(list []string, model string) bool {
	for _, m := range list {
		switch {
		case m == model || m == "all-proxy-models":
			return true
		case strings.Contains(m, "*") && wildcard(m, model):
			return true
		case (m == "opus" || m == "sonnet" || m == "haiku") && strings.Contains(model, "-"+m):
			return true
		}
	}
	return false
}

func wildcard(pattern, s string) bool {
	pre, post, _ := strings.Cut(pattern, "*")
	if !strings.HasPrefix(s, pre) {
		return false
	}
	rest := s[len(pre):]
	if !strings.Contains(post, "*") {
		return strings.HasSuffix(rest, post)
	}
	for i := 0; i <= len(rest); i++ {
		if wildcard(post, rest[i:]) {
			return true
		}
	}
	return false
}

func (r modelRule) String() string {
	if len(r) == 0 {
		return "all models"
	}
	parts := make([]string, len(r))
	for i, l := range r {
		parts[i] = strings.Join(l, ", ")
	}
	return strings.Join(parts, " and ")
}

func (s *Service) isAdmin(sess *Session) bool {
	if sess.Email != "" && slices.Contains(s.cfg.AdminEmails, strings.ToLower(sess.Email)) {
		return true
	}
	for _, g := range sess.Groups {
		if slices.Contains(s.cfg.AdminGroups, g) {
			return true
		}
	}
	return false
}
