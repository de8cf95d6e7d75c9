package config

import (
	"strings"
	"testing"
	"time"
)

const ssoBase = `model_list:
  - model_name: claude-sonnet
    litellm_params: {model: anthropic/claude-sonnet-4-5, api_key: x}
general_settings:
  sso:
`

func TestSSOSettingsParse(t *testing.T) {
	cfg, err := Parse([]byte(ssoBase+`    public_url: https://gw.example.com/
    issuer: https://login.example.com
    client_id: gateway
    client_secret: os.environ/SSO_CLIENT_SECRET
    allowed_email_domains: ["@Example.com"]
    access_token_ttl: 30m
    user: {max_budget: 20, budget_duration: 30d, rpm_limit: 60}
    groups:
      eng: {models: [claude-sonnet], priority: 2, managed_settings: {env: {A: "1"}}}
      base: {max_budget: 500, managed_settings: {}}
    telemetry:
      forward_to: [{url: "https://otel.example.com", headers: {authorization: "Bearer t"}}]
`), envFrom(map[string]string{"SSO_CLIENT_SECRET": "s3cret"}))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.General.SSO
	if s == nil || s.PublicURL != "https://gw.example.com" || s.ClientSecret != "s3cret" || s.AccessTokenTTL != 30*time.Minute {
		t.Fatalf("sso = %+v", s)
	}
	if s.AllowedEmailDomains[0] != "example.com" || s.GroupsClaim != "groups" || s.PollInterval != 5*time.Second {
		t.Errorf("defaults and normalisation: %+v", s)
	}
	if len(s.Groups) != 2 || s.Groups[0].Name != "base" || s.Groups[1].Name != "eng" {
		t.Errorf("groups in merge order (priority, then name): %+v", s.Groups)
	}
	if *s.User.MaxBudget != 20 || *s.User.RPMLimit != 60 || len(s.TelemetryForwardTo) != 1 {
		t.Errorf("user policy / telemetry: %+v %+v", s.User, s.TelemetryForwardTo)
	}
}

func TestSSOSettingsErrorsNameTheField(t *testing.T) {
	cases := []struct{ yaml, field string }{
		{"    issuer: https://login.example.com\n    client_id: g\n", "general_settings.sso.public_url: required"},
		{"    public_url: http://gw.example.com\n    issuer: https://login.example.com\n    client_id: g\n", "general_settings.sso.public_url: http is allowed only on loopback"},
		{"    public_url: https://gw.example.com\n    client_id: g\n", "general_settings.sso.issuer: required"},
		{"    public_url: https://gw.example.com\n    issuer: https://login.example.com\n", "general_settings.sso.client_id"},
		{"    public_url: https://gw.example.com\n    issuer: https://i.example.com\n    client_id: g\n    access_token_ttl: 5h5\n", "general_settings.sso.access_token_ttl"},
		{"    public_url: https://gw.example.com\n    issuer: https://i.example.com\n    client_id: g\n    access_token_ttl: 48h\n", "general_settings.sso.access_token_ttl: must be between"},
		{"    public_url: https://gw.example.com\n    issuer: https://i.example.com\n    client_id: g\n    groups: {eng: {rpm_limit: -1}}\n", "general_settings.sso.groups.eng.rpm_limit: must not be negative"},
		{"    public_url: https://gw.example.com\n    issuer: https://i.example.com\n    client_id: g\n    groups: {eng: {budget_duration: weekly}}\n", "general_settings.sso.groups.eng.budget_duration"},
		{"    public_url: https://gw.example.com\n    issuer: https://i.example.com\n    client_id: g\n    groups: {eng: {modles: [x]}}\n", "general_settings.sso.groups.eng.modles: unknown key"},
		{"    public_url: https://gw.example.com\n    issuer: https://i.example.com\n    client_id: g\n    user: {max_budget: cheap}\n", "general_settings.sso.user.max_budget"},
		{"    public_url: https://gw.example.com\n    issuer: https://i.example.com\n    client_id: g\n    telemetry: {forward_to: [{url: ftp://x}]}\n", "general_settings.sso.telemetry.forward_to[0].url"},
		{"    public_url: https://gw.example.com\n    issuer: https://i.example.com\n    client_id: g\n    typo: 1\n", "general_settings.sso.typo: unknown key"},
	}
	for _, tc := range cases {
		_, err := Parse([]byte(ssoBase+tc.yaml), envFrom(nil))
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%q: error %v, want one naming %q", tc.yaml, err, tc.field)
		}
	}
}

func TestSSOLoopbackHTTPAllowed(t *testing.T) {
	cfg, err := Parse([]byte(ssoBase+"    public_url: http://127.0.0.1:4000\n    issuer: http://localhost:5556/dex\n    client_id: g\n"), envFrom(nil))
	if err != nil || cfg.General.SSO == nil {
		t.Fatalf("loopback http: %v", err)
	}
}
