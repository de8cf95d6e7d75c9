package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/claude-gateway/claude-gateway/core/sso/devicetest"
	"github.com/claude-gateway/claude-gateway/core/sso/oidctest"
)

// ssoGateway is a whole gateway with general_settings.sso on loopback, a
// test IdP (oidctest) and a loopback OTLP collector.
type ssoGateway struct {
	URL       string
	idp       *oidctest.IdP
	collector *otlpCollector
	mu        sync.Mutex
	paths     []string // every request path the gateway saw
}

type otlpCollector struct {
	*httptest.Server
	mu      sync.Mutex
	metrics []*colmetrics.ExportMetricsServiceRequest
	paths   []string
}

func newCollector(t *testing.T) *otlpCollector {
	c := &otlpCollector{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.paths = append(c.paths, r.URL.Path)
		if r.URL.Path == "/v1/metrics" && !strings.Contains(r.Header.Get("Content-Type"), "json") {
			var m colmetrics.ExportMetricsServiceRequest
			if proto.Unmarshal(b, &m) == nil {
				c.metrics = append(c.metrics, &m)
			}
		}
	}))
	t.Cleanup(c.Close)
	return c
}

const ssoModels = `
model_list:
  - model_name: claude-sonnet-4-5
    litellm_params: {model: simulated/claude-sonnet-4-5, time_to_first_token_ms: 0, tokens_per_second: 0, output_tokens: 3}
  - model_name: claude-haiku-4-5
    litellm_params: {model: simulated/claude-haiku-4-5, time_to_first_token_ms: 0, tokens_per_second: 0, output_tokens: 3}
  - model_name: claude-opus-4-1
    litellm_params: {model: simulated/claude-opus-4-1, time_to_first_token_ms: 0, tokens_per_second: 0, output_tokens: 3}
general_settings:
  master_key: os.environ/MASTER
  sso:
    public_url: PUBLIC
    issuer: ISSUER
    client_id: gateway
    client_secret: os.environ/SSO_SECRET
    allowed_email_domains: [example.com]
    admin_groups: [platform-admins]
    managed_settings:
      env: {CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY: "1"}
    groups:
      interns:
        models: [claude-haiku-4-5]
        rpm_limit: 1
      eng:
        models: [claude-sonnet-4-5, claude-haiku-4-5]
        managed_settings: {availableModels: [sonnet, haiku]}
    telemetry:
      forward_to: [{url: COLLECTOR}]
`

func startSSOGateway(t *testing.T, yaml string, opts gateway.Options) *ssoGateway {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	public := "http://" + srv.Listener.Addr().String()
	g := &ssoGateway{URL: public, collector: newCollector(t)}
	g.idp = oidctest.New(oidctest.Options{ClientID: "gateway", ClientSecret: "idp-secret", RedirectURI: public + "/sso/callback",
		MoreRedirectURIs: []string{public + "/ui/sso/callback"}})
	t.Cleanup(g.idp.Close)
	yaml = strings.NewReplacer("PUBLIC", public, "ISSUER", g.idp.Issuer(), "COLLECTOR", g.collector.URL).Replace(yaml)
	env := map[string]string{"MASTER": masterKey, "SSO_SECRET": "idp-secret"}
	cfg, err := config.Parse([]byte(yaml), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.Build(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.paths = append(g.paths, r.Method+" "+r.URL.Path)
		g.mu.Unlock()
		gw.ServeHTTP(w, r)
	})
	srv.Start()
	t.Cleanup(func() { srv.Close(); gw.Close(context.Background()) })
	return g
}

func (g *ssoGateway) saw(path string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, p := range g.paths {
		if p == path {
			return true
		}
	}
	return false
}

// deviceLogin runs Claude Code's /login against base as user.
func deviceLogin(t *testing.T, base string, idp *oidctest.IdP, user oidctest.User) (access, refresh string) {
	t.Helper()
	tok := devicetest.Login(t, base, idp, user)
	return tok.Access, tok.Refresh
}

var (
	ssoAlice = oidctest.User{Sub: "alice", Email: "alice@example.com", EmailVerified: true, Groups: []string{"eng"}}
	ssoBob   = oidctest.User{Sub: "bob", Email: "bob@example.com", EmailVerified: true, Groups: []string{"interns"}}
	ssoCarol = oidctest.User{Sub: "carol", Email: "carol@example.com", EmailVerified: true, Groups: []string{"interns"}}
	ssoDave  = oidctest.User{Sub: "dave", Email: "dave@example.com", EmailVerified: true, Groups: []string{"eng", "platform-admins"}}
)

// TestSSOBearerPolicy: SSO users get their groups' model access and shared
// limits on every model route; virtual keys and the master key still work.
func TestSSOBearerPolicy(t *testing.T) {
	g := startSSOGateway(t, ssoModels, gateway.Options{})
	alice, _ := deviceLogin(t, g.URL, g.idp, ssoAlice)
	bob, _ := deviceLogin(t, g.URL, g.idp, ssoBob)
	carol, _ := deviceLogin(t, g.URL, g.idp, ssoCarol)

	if code, _, out := call(t, "POST", g.URL+"/v1/messages", alice, message("claude-sonnet-4-5")); code != 200 {
		t.Fatalf("alice on sonnet: %d %s", code, out)
	}
	if code, _, out := call(t, "POST", g.URL+"/v1/messages/count_tokens", alice, message("claude-sonnet-4-5")); code != 200 {
		t.Fatalf("alice count_tokens: %d %s", code, out)
	}
	code, _, out := call(t, "POST", g.URL+"/v1/messages", alice, message("claude-opus-4-1"))
	if code != 400 || !strings.Contains(out, "invalid_request_error") || !strings.Contains(out, "claude-opus-4-1") {
		t.Fatalf("alice on opus: %d %s, want 400 naming the model", code, out)
	}
	code, _, out = call(t, "GET", g.URL+"/v1/models", bob, "")
	if code != 200 || !strings.Contains(out, "claude-haiku-4-5") || strings.Contains(out, "claude-sonnet-4-5") {
		t.Fatalf("bob's /v1/models: %d %s", code, out)
	}
	// interns share rpm_limit 1: bob's call spends it for carol too (both
	// within one minute window).
	if s := time.Now().Second(); s > 55 {
		time.Sleep(time.Duration(61-s) * time.Second)
	}
	if code, _, out := call(t, "POST", g.URL+"/v1/messages", bob, message("claude-haiku-4-5")); code != 200 {
		t.Fatalf("bob: %d %s", code, out)
	}
	code, h, out := call(t, "POST", g.URL+"/v1/messages", carol, message("claude-haiku-4-5"))
	if code != 429 || h.Get("Retry-After") == "" {
		t.Fatalf("carol after bob spent the interns' rpm: %d %s, want 429 with retry-after", code, out)
	}
	// A token that is not ours: 401 that makes Claude Code sign in again at once.
	code, h, _ = call(t, "POST", g.URL+"/v1/messages", "cgwat.forged.forged", message("claude-haiku-4-5"))
	if code != 401 || h.Get("x-should-retry") != "false" {
		t.Errorf("forged SSO token: %d %v", code, h)
	}
	// The master key and virtual keys keep working beside SSO.
	if code, _, out := call(t, "POST", g.URL+"/v1/messages", masterKey, message("claude-opus-4-1")); code != 200 {
		t.Errorf("master key: %d %s", code, out)
	}
	secret, _ := generateKey(t, g.URL, `{"models":["claude-haiku-4-5"]}`)
	if code, _, out := call(t, "POST", g.URL+"/v1/messages", secret, message("claude-haiku-4-5")); code != 200 {
		t.Errorf("virtual key: %d %s", code, out)
	}
	// Admin routes stay closed to SSO users outside sso.admin_groups (and to
	// virtual keys); a signed-in admin calls them as the master key does.
	if code, _, _ := call(t, "POST", g.URL+"/sso/user/revoke", alice, `{"sub":"bob"}`); code != 401 {
		t.Errorf("SSO user on an admin route: %d, want 401", code)
	}
	if code, _, _ := call(t, "GET", g.URL+"/key/list", secret, ""); code != 401 {
		t.Errorf("virtual key on an admin route: %d, want 401", code)
	}
	if code, _, _ := call(t, "GET", g.URL+"/key/list", "cgwat.forged.forged", ""); code != 401 {
		t.Errorf("forged token on an admin route: %d, want 401", code)
	}
	dave, _ := deviceLogin(t, g.URL, g.idp, ssoDave)
	if code, _, out := call(t, "GET", g.URL+"/key/list", dave, ""); code != 200 || !strings.Contains(out, "keys") {
		t.Errorf("SSO admin on /key/list: %d %s", code, out)
	}
	if code, _, out := call(t, "POST", g.URL+"/key/generate", dave, `{"models":["claude-haiku-4-5"]}`); code != 200 || !strings.Contains(out, `"key":"sk-`) {
		t.Errorf("SSO admin on /key/generate: %d %s", code, out)
	}
	if code, _, out := call(t, "POST", g.URL+"/sso/user/revoke", masterKey, `{"sub":"bob"}`); code != 200 {
		t.Fatalf("revoke bob: %d %s", code, out)
	}
	if code, _, _ := call(t, "GET", g.URL+"/v1/models", bob, ""); code != 401 {
		t.Errorf("deprovisioned bob: %d, want 401", code)
	}
}

// TestSSOTelemetryRelay: OTLP from a signed-in client reaches the
// operator's collector with the user on the resource.
func TestSSOTelemetryRelay(t *testing.T) {
	g := startSSOGateway(t, ssoModels, gateway.Options{})
	alice, _ := deviceLogin(t, g.URL, g.idp, ssoAlice)
	body, _ := proto.Marshal(&colmetrics.ExportMetricsServiceRequest{ResourceMetrics: []*metricspb.ResourceMetrics{{}}})
	req, _ := http.NewRequest(http.MethodPost, g.URL+"/v1/metrics", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Authorization", "Bearer "+alice)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("export: %v %v", err, resp)
	}
	resp.Body.Close()
	waitFor(t, func() bool { g.collector.mu.Lock(); defer g.collector.mu.Unlock(); return len(g.collector.metrics) > 0 })
	got := map[string]string{}
	g.collector.mu.Lock()
	for _, kv := range g.collector.metrics[0].ResourceMetrics[0].Resource.GetAttributes() {
		got[kv.Key] = kv.Value.GetStringValue()
	}
	g.collector.mu.Unlock()
	if got["enduser.id"] != "alice@example.com" || got["user.groups"] != "eng" {
		t.Errorf("resource attributes %v", got)
	}
	// The relay counts a delivery once the collector's answer is back,
	// which may be just after the collector has the export.
	var health string
	delivered := func() bool {
		_, _, health = call(t, "GET", g.URL+"/health", masterKey, "")
		return strings.Contains(health, `"otlp_relay":{"received":1,"delivered":1`)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !delivered() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !delivered() {
		t.Errorf("/health relay counters: %s", health)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSSOClaudeCodeCLI: the real Claude Code CLI signed in to the gateway.
// /login's browser half is scripted (deviceLogin); the credential it yields
// is handed to the CLI the way /login stores it: ~/.claude/.credentials.json
// with "enterpriseGateway" (url, jwt = access token, expiresAt in ms,
// idpRefreshToken, tokenEndpoint, email) and the host's trust pin under
// "gatewayTrust" ("http-loopback" for http on loopback; the leaf
// certificate's SHA-256 for https). In that state `claude -p` fetches
// /managed/settings, applies its env (model discovery, telemetry), lists
// /v1/models, and exports OTLP to the gateway. (CLAUDE_CODE_USE_GATEWAY=1
// with ANTHROPIC_BASE_URL and ANTHROPIC_AUTH_TOKEN also runs, but never
// reads /managed/settings.)
func TestSSOClaudeCodeCLI(t *testing.T) {
	bin := os.Getenv("CLAUDE_CODE_BIN")
	if bin == "" {
		t.Skip("SKIP: CLAUDE_CODE_BIN not set (scripts/claude-code-cli.sh installs the CLI; make test sets it)")
	}
	yaml := strings.Replace(ssoModels, `env: {CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY: "1"}`,
		`env: {CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY: "1", CLAUDE_CODE_ENABLE_TELEMETRY: "1", OTEL_METRICS_EXPORTER: otlp, OTEL_LOGS_EXPORTER: otlp, OTEL_EXPORTER_OTLP_PROTOCOL: http/protobuf, OTEL_METRIC_EXPORT_INTERVAL: "1000", OTEL_LOGS_EXPORT_INTERVAL: "1000"}`, 1)
	g := startSSOGateway(t, yaml, gateway.Options{})
	access, refresh := deviceLogin(t, g.URL, g.idp, ssoAlice)
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	for _, d := range []string{filepath.Join(home, ".claude"), filepath.Join(dir, "project")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	host, _, _ := strings.Cut(strings.TrimPrefix(g.URL, "http://"), ":")
	cred, _ := json.Marshal(map[string]any{
		"enterpriseGateway": map[string]any{
			"url": g.URL, "jwt": access, "expiresAt": time.Now().Add(time.Hour).UnixMilli(),
			"idpRefreshToken": refresh, "tokenEndpoint": g.URL + "/oauth/token", "email": ssoAlice.Email,
		},
		"gatewayTrust": map[string]string{host: "http-loopback"},
	})
	if err := os.WriteFile(filepath.Join(home, ".claude", ".credentials.json"), cred, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runClaude(t, bin, dir, nil, "-p", "say hello", "--model", "claude-sonnet-4-5")
	if err != nil || !strings.Contains(out, "gateway") {
		t.Fatalf("claude -p: %v\n%s", err, out)
	}
	for _, p := range []string{"GET /managed/settings", "GET /v1/models", "POST /v1/messages"} {
		if !g.saw(p) {
			t.Errorf("the CLI never sent %s (saw %v)", p, g.paths)
		}
	}
	waitFor(t, func() bool { g.collector.mu.Lock(); defer g.collector.mu.Unlock(); return len(g.collector.metrics) > 0 })
	g.collector.mu.Lock()
	defer g.collector.mu.Unlock()
	attrs := map[string]string{}
	for _, rm := range g.collector.metrics[0].ResourceMetrics {
		for _, kv := range rm.GetResource().GetAttributes() {
			attrs[kv.Key] = kv.Value.GetStringValue()
		}
	}
	if attrs["enduser.id"] != ssoAlice.Email || attrs["service.name"] == "" {
		t.Errorf("metrics resource %v: want the CLI's own attributes and the gateway's user", attrs)
	}
}
