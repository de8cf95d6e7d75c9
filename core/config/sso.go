package config

import (
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"time"
)

// SSOSettings is general_settings.sso: developers sign in to Claude Code
// through the company's OpenID Connect provider (the Claude Code gateway
// protocol). Nil when the section is absent: SSO is off.
type SSOSettings struct {
	// PublicURL is the base URL developers give Claude Code: the origin of
	// every endpoint the discovery document names (https, or http on loopback).
	PublicURL string
	// Issuer is the OIDC issuer (discovery at /.well-known/openid-configuration).
	Issuer       string
	ClientID     string
	ClientSecret string
	// Scopes requested from the IdP (default openid, email, profile).
	Scopes []string
	// AllowedEmailDomains and AllowedEmails admit a signed-in user (either
	// matching is enough); both empty admits every user the IdP signs in.
	AllowedEmailDomains []string
	AllowedEmails       []string
	// GroupsClaim names the ID token claim holding the user's groups.
	GroupsClaim string
	// AdminGroups and AdminEmails name the signed-in users who may call the
	// admin routes (/key/*, /user/*, /team/*, /spend/*...) with their SSO
	// token, as the master key does; empty: nobody through SSO.
	AdminGroups []string
	AdminEmails []string
	// AccessTokenTTL is an access token's lifetime (default 1h, 1m..24h).
	AccessTokenTTL time.Duration
	// RefreshTokenTTL bounds a sign-in's life: refreshes stop working after
	// it and the developer signs in again (default 30d).
	RefreshTokenTTL time.Duration
	// DeviceCodeTTL is how long a device code waits for approval (default 10m).
	DeviceCodeTTL time.Duration
	// PollInterval is the device flow's polling interval (default 5s).
	PollInterval time.Duration
	// VerifyAttemptsPerMinute caps verification-page attempts per client IP (default 10).
	VerifyAttemptsPerMinute int64
	// User is the policy every signed-in user gets on their own counters.
	User SSOPolicy
	// ManagedSettings is the base managed-settings.json every user gets
	// before their groups' (nil: none).
	ManagedSettings map[string]any
	// Groups maps an IdP group to its policy, in merge order (Priority, then name).
	Groups []SSOGroup
	// LoginNotice is shown by Claude Code next to the code on its sign-in
	// screen (plain text, at most 500 characters; empty: none).
	LoginNotice string
	// TelemetryForwardTo lists OTLP/HTTP destinations Claude Code's
	// telemetry is relayed to (none: dropped and counted).
	TelemetryForwardTo []OTLPDestination
}

// SSOPolicy is the limits part of a user or group policy, with the virtual
// keys' field names. A group's budget and limits are shared by its members.
type SSOPolicy struct {
	Models              []string
	MaxBudget           *float64
	BudgetDuration      string
	RPMLimit            *int64
	TPMLimit            *int64
	MaxParallelRequests *int64
}

// SSOGroup is one entry of sso.groups.
type SSOGroup struct {
	Name string
	SSOPolicy
	// Priority orders the managed settings merge: lower first, later wins.
	Priority int
	// ManagedSettings is merged into the user's managed-settings.json (nil: none).
	ManagedSettings map[string]any
}

// OTLPDestination is one relay target: URL is the collector's base
// (/v1/metrics, /v1/logs, /v1/traces are appended).
type OTLPDestination struct {
	URL     string
	Headers map[string]string
}

func parseSSO(g *section) *SSOSettings {
	v, ok := g.raw("sso")
	if !ok {
		return nil
	}
	if _, isMap := v.(map[string]any); !isMap {
		g.fail("sso", "want a mapping, got %T", v)
		return nil
	}
	s := newSection(join(g.path, "sso"), v)
	out := &SSOSettings{
		PublicURL:    strings.TrimRight(s.str("public_url"), "/"),
		Issuer:       s.str("issuer"),
		ClientID:     s.str("client_id"),
		ClientSecret: s.str("client_secret"),
		GroupsClaim:  s.str("groups_claim"),
	}
	checkBaseURL(s, "public_url", out.PublicURL, true)
	checkBaseURL(s, "issuer", out.Issuer, true)
	if out.ClientID == "" {
		s.fail("client_id", "required: the OAuth client registered at the IdP")
	}
	if out.GroupsClaim == "" {
		out.GroupsClaim = "groups"
	}
	out.Scopes = optStrings(s, "scopes")
	if len(out.Scopes) == 0 {
		out.Scopes = []string{"openid", "email", "profile"}
	}
	out.AllowedEmailDomains = lower(optStrings(s, "allowed_email_domains"))
	out.AllowedEmails = lower(optStrings(s, "allowed_emails"))
	out.AdminGroups = optStrings(s, "admin_groups")
	out.AdminEmails = lower(optStrings(s, "admin_emails"))
	out.AccessTokenTTL = duration(s, "access_token_ttl", time.Hour, time.Minute, 24*time.Hour)
	out.RefreshTokenTTL = duration(s, "refresh_token_ttl", 30*24*time.Hour, time.Hour, 365*24*time.Hour)
	out.DeviceCodeTTL = duration(s, "device_code_ttl", 10*time.Minute, time.Minute, time.Hour)
	out.PollInterval = duration(s, "poll_interval", 5*time.Second, time.Second, time.Minute)
	out.VerifyAttemptsPerMinute = 10
	if n, ok := s.int("verify_attempts_per_minute"); ok {
		if n < 1 {
			s.fail("verify_attempts_per_minute", "must be at least 1")
		}
		out.VerifyAttemptsPerMinute = n
	}
	if u, ok := s.raw("user"); ok {
		out.User = parsePolicy(s, "user", u)
	}
	out.LoginNotice = s.str("login_notice")
	if n := len([]rune(out.LoginNotice)); n > 500 {
		s.fail("login_notice", "%d characters; Claude Code shows at most 500", n)
	}
	out.ManagedSettings = settingsMap(s, "managed_settings")
	out.Groups = parseGroups(s)
	out.TelemetryForwardTo = parseDestinations(s)
	g.errs = append(g.errs, s.errs...)
	for _, k := range s.unknown() {
		g.errs = append(g.errs, fmt.Errorf("%s: unknown key", k))
	}
	return out
}

// checkBaseURL requires an absolute http(s) URL; http only on loopback, as
// an OAuth server must not hand tokens over plain HTTP.
func checkBaseURL(s *section, key, v string, required bool) {
	if v == "" {
		if required {
			s.fail(key, "required")
		}
		return
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		s.fail(key, "want an absolute https URL, got %q", v)
		return
	}
	if u.RawQuery != "" || u.Fragment != "" {
		s.fail(key, "must not have a query or fragment")
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		s.fail(key, "http is allowed only on loopback; use https")
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func duration(s *section, key string, def, lo, hi time.Duration) time.Duration {
	v := s.str(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		s.fail(key, "want a duration like 30m or 1h, got %q", v)
		return def
	}
	if d < lo || d > hi {
		s.fail(key, "must be between %s and %s", lo, hi)
		return def
	}
	return d
}

func optStrings(s *section, key string) []string {
	v, ok := s.raw(key)
	if !ok {
		return nil
	}
	return stringList(s, key, v)
}

func lower(in []string) []string {
	for i, v := range in {
		in[i] = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(v), "@"))
	}
	return in
}

func settingsMap(s *section, key string) map[string]any {
	v, ok := s.raw(key)
	if !ok {
		return nil
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		s.fail(key, "want a mapping (a managed-settings.json object), got %T", v)
		return nil
	}
	return m
}

func parsePolicy(parent *section, key string, v any) SSOPolicy {
	p := newSection(join(parent.path, key), v)
	if _, isMap := v.(map[string]any); !isMap {
		parent.fail(key, "want a mapping, got %T", v)
		return SSOPolicy{}
	}
	out := readPolicy(p)
	parent.errs = append(parent.errs, p.errs...)
	for _, k := range p.unknown() {
		parent.errs = append(parent.errs, fmt.Errorf("%s: unknown key", k))
	}
	return out
}

func readPolicy(p *section) SSOPolicy {
	var out SSOPolicy
	out.Models = optStrings(p, "models")
	if f, ok := p.float("max_budget"); ok {
		if f < 0 {
			p.fail("max_budget", "must not be negative")
		}
		out.MaxBudget = &f
	}
	out.BudgetDuration = p.str("budget_duration")
	if out.BudgetDuration != "" && !validWindow(out.BudgetDuration) {
		p.fail("budget_duration", `want a number followed by s, m, h, d or mo (e.g. "30d", "1mo"), got %q`, out.BudgetDuration)
	}
	out.RPMLimit = limit(p, "rpm_limit")
	out.TPMLimit = limit(p, "tpm_limit")
	out.MaxParallelRequests = limit(p, "max_parallel_requests")
	return out
}

func validWindow(s string) bool {
	unit := strings.TrimLeft(s, "0123456789")
	n := strings.TrimSuffix(s, unit)
	if n == "" || strings.Trim(n, "0") == "" {
		return false
	}
	switch unit {
	case "s", "m", "h", "d", "mo":
		return true
	}
	return false
}

func limit(p *section, key string) *int64 {
	n, ok := p.int(key)
	if !ok {
		return nil
	}
	if n < 0 {
		p.fail(key, "must not be negative")
	}
	return &n
}

func parseGroups(s *section) []SSOGroup {
	v, ok := s.raw("groups")
	if !ok {
		return nil
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		s.fail("groups", "want a mapping of IdP group name to policy, got %T", v)
		return nil
	}
	var out []SSOGroup
	for name, gv := range m {
		path := join(s.path, "groups") + "." + name
		if gv == nil {
			gv = map[string]any{}
		}
		if _, isMap := gv.(map[string]any); !isMap {
			s.errs = append(s.errs, fmt.Errorf("%s: want a mapping, got %T", path, gv))
			continue
		}
		p := newSection(path, gv)
		grp := SSOGroup{Name: name, SSOPolicy: readPolicy(p)}
		if n, ok := p.int("priority"); ok {
			grp.Priority = int(n)
		}
		grp.ManagedSettings = settingsMap(p, "managed_settings")
		s.errs = append(s.errs, p.errs...)
		for _, k := range p.unknown() {
			s.errs = append(s.errs, fmt.Errorf("%s: unknown key", k))
		}
		out = append(out, grp)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Priority != out[j].Priority {
			return out[i].Priority < out[j].Priority
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func parseDestinations(s *section) []OTLPDestination {
	t, ok := s.raw("telemetry")
	if !ok {
		return nil
	}
	ts := newSection(join(s.path, "telemetry"), t)
	defer func() {
		s.errs = append(s.errs, ts.errs...)
		for _, k := range ts.unknown() {
			s.errs = append(s.errs, fmt.Errorf("%s: unknown key", k))
		}
	}()
	v, ok := ts.raw("forward_to")
	if !ok {
		return nil
	}
	items, isList := v.([]any)
	if !isList {
		ts.fail("forward_to", "want a list of {url, headers}")
		return nil
	}
	var out []OTLPDestination
	for i, it := range items {
		d := newSection(fmt.Sprintf("%s.forward_to[%d]", ts.path, i), it)
		dst := OTLPDestination{URL: strings.TrimRight(d.str("url"), "/"), Headers: d.strMap("headers")}
		checkBaseURL(d, "url", dst.URL, true)
		ts.errs = append(ts.errs, d.errs...)
		for _, k := range d.unknown() {
			ts.errs = append(ts.errs, fmt.Errorf("%s: unknown key", k))
		}
		out = append(out, dst)
	}
	return out
}
