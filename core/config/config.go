// Package config loads LiteLLM's config.yaml shape into typed settings.
//
// Users bring the file they already have: every key LiteLLM documents for
// model_list, router_settings, litellm_settings and general_settings is
// accepted. Keys this gateway does not implement produce one warning each
// (Config.Warnings), never an error. Anything wrong with a key the gateway
// does use is an error naming its exact place.
package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Providers the gateway knows, by model prefix.
const (
	ProviderAnthropic = "anthropic"
	ProviderBedrock   = "bedrock"
	ProviderVertex    = "vertex_ai"
	ProviderSimulated = "simulated"
)

// Config is the whole typed configuration.
type Config struct {
	Deployments []Deployment
	Router      RouterSettings
	General     GeneralSettings
	Litellm     LitellmSettings
	// Warnings lists keys accepted but not implemented, one line each.
	Warnings []string
}

// Deployment is one entry of model_list: a model group name and one upstream.
type Deployment struct {
	// Index is the position in model_list.
	Index int
	// ID is model_info.id, else a stable hash of the non-secret params.
	ID string
	// ModelName is the group name clients ask for (may be a wildcard pattern).
	ModelName string
	Params    Params
	Info      ModelInfo
}

// Params is litellm_params.
type Params struct {
	// Model is the full model string, e.g. "bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0".
	Model string
	// Provider is the prefix (ProviderAnthropic, ...).
	Provider string
	// UpstreamModel is Model without the provider prefix.
	UpstreamModel string

	APIKey  string
	APIBase string

	Weight        float64
	Order         int
	RPM           int64
	TPM           int64
	Timeout       time.Duration
	StreamTimeout time.Duration
	MaxRetries    *int

	AWSAccessKeyID            string
	AWSSecretAccessKey        string
	AWSSessionToken           string
	AWSRegionName             string
	AWSProfileName            string
	AWSRoleName               string
	AWSSessionName            string
	AWSExternalID             string
	AWSBedrockRuntimeEndpoint string
	// BedrockAPI (bedrock_api) picks Bedrock's API: invoke (default),
	// messages (bedrock-runtime's Anthropic Messages API) or mantle.
	BedrockAPI          string
	AWSWebIdentityToken string
	AWSSTSEndpoint      string

	VertexProject     string
	VertexLocation    string
	VertexCredentials string

	// Raw holds every litellm_params key after env resolution, for provider
	// specific settings (e.g. the simulated provider's knobs).
	Raw map[string]any
}

// ModelInfo is model_info: id, limits and price overrides (per token, USD).
type ModelInfo struct {
	ID                          string
	MaxInputTokens              int64
	MaxOutputTokens             int64
	InputCostPerToken           *float64
	OutputCostPerToken          *float64
	CacheCreationInputTokenCost *float64
	CacheReadInputTokenCost     *float64
	// AccessGroups are LiteLLM's model_info.access_groups: names a virtual
	// key, user or team may list in "models" to allow every model group
	// whose deployments carry the name.
	AccessGroups []string
	Raw          map[string]any
}

// RouterSettings is router_settings.
type RouterSettings struct {
	RoutingStrategy        string
	NumRetries             int
	NumRetriesSet          bool
	Timeout                time.Duration
	StreamTimeout          time.Duration
	RetryAfter             time.Duration
	AllowedFails           int
	CooldownTime           time.Duration
	CooldownTimeSet        bool
	EnablePreCallChecks    bool
	MaxFallbacks           int
	Fallbacks              []map[string][]string
	ContextWindowFallbacks []map[string][]string
	DefaultFallbacks       []string
	ModelGroupAlias        map[string]string
	RetryPolicy            map[string]int
	AllowedFailsPolicy     map[string]int
	SessionAffinity        *bool
	RedisHost              string
	RedisPort              string
	RedisPassword          string
	RedisURL               string
	// Raw holds every router_settings key after env resolution.
	Raw map[string]any
}

// GeneralSettings is general_settings.
type GeneralSettings struct {
	MasterKey string
	// StateStore selects the shared-state backend: memory, embedded, dynamodb, firestore, redis.
	StateStore string
	// StateFile is the embedded store's file.
	StateFile string
	// StateTable is the DynamoDB table name.
	StateTable string
	// StateCollection is the Firestore collection prefix.
	StateCollection string
	// StateFailClosed refuses requests when limits cannot be checked.
	StateFailClosed bool
	// MaxRequestBodyBytes caps request bodies (default 32 MiB).
	MaxRequestBodyBytes int64
	// StreamCommitAfter (stream_commit_after, seconds) bounds how long a
	// streaming request waits for an accepted upstream's first event before
	// the response is committed and pings keep the client's watchdog quiet
	// (0: the provider default, a few seconds). Failover stays possible
	// only until then.
	StreamCommitAfter time.Duration
	// LambdaDeadlineMargin (lambda_deadline_margin, seconds) is how long
	// before a Lambda invocation's deadline its request is ended, with a
	// timeout error, so the client gets an answer and the spend record is
	// written before Lambda kills the invocation (0: off). Set tells an
	// explicit 0 from the default (functions/lambda's, 1.5 s).
	LambdaDeadlineMargin    time.Duration
	LambdaDeadlineMarginSet bool
	// MaxSlowConnections (max_slow_connections) bounds the connections the
	// Cloud Run / local server holds while they are still sending their
	// request; past it the oldest is closed (0: the default, 1024).
	MaxSlowConnections int
	// Debug allows logging request bodies.
	Debug bool
	// MetricsPublic serves GET /metrics without the master key.
	MetricsPublic bool
	// SSO is general_settings.sso (nil: sign-in with the IdP is off).
	SSO *SSOSettings
	Raw map[string]any
}

// LitellmSettings is litellm_settings.
type LitellmSettings struct {
	MasterKey      string
	RequestTimeout time.Duration
	NumRetries     int
	NumRetriesSet  bool
	DropParams     bool
	Fallbacks      []map[string][]string
	SetVerbose     bool
	Raw            map[string]any
}

// MasterKey is the key clients must present: general_settings.master_key,
// else litellm_settings.master_key. Empty means open access.
func (c *Config) MasterKey() string {
	if c.General.MasterKey != "" {
		return c.General.MasterKey
	}
	return c.Litellm.MasterKey
}

// LoadFile reads and parses a config file, resolving os.environ/ from the process environment.
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := Parse(data, os.LookupEnv)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse parses config YAML. lookup resolves os.environ/NAME references.
func Parse(data []byte, lookup func(string) (string, bool)) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("invalid YAML: %w", err)
	}
	if len(doc.Content) == 0 {
		return nil, errors.New("empty config: model_list is required")
	}
	if err := resolveEnv(&doc, "", lookup); err != nil {
		return nil, err
	}
	var top map[string]any
	if err := doc.Decode(&top); err != nil {
		return nil, fmt.Errorf("invalid config: %w", err)
	}
	root := newSection("", top)
	cfg := &Config{}
	var errs []error
	var unknown []string

	list, _ := root.raw("model_list")
	items, ok := list.([]any)
	if !ok || len(items) == 0 {
		return nil, errors.New("model_list: at least one deployment is required")
	}
	ids := map[string]int{}
	for i, it := range items {
		d, derrs, unk := parseDeployment(i, it)
		errs = append(errs, derrs...)
		unknown = append(unknown, unk...)
		if prev, dup := ids[d.ID]; dup && len(derrs) == 0 {
			errs = append(errs, fmt.Errorf("model_list[%d]: deployment id %q already used by model_list[%d]", i, d.ID, prev))
		}
		ids[d.ID] = i
		cfg.Deployments = append(cfg.Deployments, d)
	}

	rs, _ := root.raw("router_settings")
	r := newSection("router_settings", rs)
	cfg.Router = parseRouter(r)
	errs = append(errs, r.errs...)
	unknown = append(unknown, r.unknown()...)

	ls, _ := root.raw("litellm_settings")
	l := newSection("litellm_settings", ls)
	cfg.Litellm = parseLitellm(l)
	errs = append(errs, l.errs...)
	unknown = append(unknown, l.unknown()...)

	gs, _ := root.raw("general_settings")
	g := newSection("general_settings", gs)
	cfg.General = parseGeneral(g)
	errs = append(errs, g.errs...)
	unknown = append(unknown, g.unknown()...)

	unknown = append(unknown, root.unknown()...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		cfg.Warnings = append(cfg.Warnings, k+": not implemented by this gateway; ignored")
	}
	return cfg, nil
}

// secretParams are litellm_params whose values never enter ids or logs.
var secretParams = map[string]bool{
	"api_key": true, "aws_access_key_id": true, "aws_secret_access_key": true,
	"aws_session_token": true, "vertex_credentials": true, "aws_web_identity_token": true,
}

// IsSecretParam reports whether a litellm_params key holds a secret.
func IsSecretParam(key string) bool { return secretParams[key] }

func parseDeployment(i int, v any) (Deployment, []error, []string) {
	path := "model_list[" + strconv.Itoa(i) + "]"
	s := newSection(path, v)
	d := Deployment{Index: i}
	d.ModelName = s.str("model_name")
	if d.ModelName == "" {
		s.fail("model_name", "is required")
	}
	lp, _ := s.raw("litellm_params")
	p := newSection(path+".litellm_params", lp)
	d.Params = parseParams(p)
	mi, _ := s.raw("model_info")
	m := newSection(path+".model_info", mi)
	d.Info = parseModelInfo(m)
	errs := append(append(s.errs, p.errs...), m.errs...)
	unknown := append(append(s.unknown(), p.unknown()...), m.unknown()...)
	d.ID = d.Info.ID
	if d.ID == "" {
		d.ID = hashID(d.ModelName, p.m)
	}
	return d, errs, unknown
}

func parseParams(p *section) Params {
	var out Params
	out.Raw = p.m
	out.Model = p.str("model")
	switch prefix, rest, found := strings.Cut(out.Model, "/"); {
	case out.Model == "":
		p.fail("model", "is required (e.g. \"bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0\")")
	case !found || rest == "":
		p.fail("model", "missing provider prefix in %q (want anthropic/, bedrock/, vertex_ai/ or simulated/)", out.Model)
	default:
		switch prefix {
		case ProviderAnthropic, ProviderBedrock, ProviderVertex, ProviderSimulated:
			out.Provider, out.UpstreamModel = prefix, rest
		default:
			p.fail("model", "unknown provider prefix %q (want anthropic/, bedrock/, vertex_ai/ or simulated/)", prefix+"/")
		}
	}
	out.APIKey = p.str("api_key")
	out.APIBase = p.str("api_base")
	if w, ok := p.float("weight"); ok {
		if w < 0 {
			p.fail("weight", "must not be negative")
		}
		out.Weight = w
	}
	if o, ok := p.int("order"); ok {
		out.Order = int(o)
	}
	out.RPM, _ = p.int("rpm")
	out.TPM, _ = p.int("tpm")
	out.Timeout = p.seconds("timeout")
	out.StreamTimeout = p.seconds("stream_timeout")
	if n, ok := p.int("max_retries"); ok {
		v := int(n)
		out.MaxRetries = &v
	}
	out.AWSAccessKeyID = p.str("aws_access_key_id")
	out.AWSSecretAccessKey = p.str("aws_secret_access_key")
	out.AWSSessionToken = p.str("aws_session_token")
	out.AWSRegionName = p.str("aws_region_name")
	out.AWSProfileName = p.str("aws_profile_name")
	out.AWSRoleName = p.str("aws_role_name")
	out.AWSSessionName = p.str("aws_session_name")
	out.AWSExternalID = p.str("aws_external_id")
	out.AWSBedrockRuntimeEndpoint = p.str("aws_bedrock_runtime_endpoint")
	out.BedrockAPI = p.str("bedrock_api")
	switch out.BedrockAPI {
	case "", "invoke", "messages", "mantle":
	default:
		p.fail("bedrock_api", "unknown API %q (want invoke, messages or mantle)", out.BedrockAPI)
	}
	out.AWSWebIdentityToken = p.str("aws_web_identity_token")
	out.AWSSTSEndpoint = p.str("aws_sts_endpoint")
	out.VertexProject = first(p.str("vertex_project"), p.str("vertex_ai_project"))
	out.VertexLocation = first(p.str("vertex_location"), p.str("vertex_ai_location"))
	out.VertexCredentials = first(p.str("vertex_credentials"), p.str("vertex_ai_credentials"))
	// Provider-specific knobs are read by the provider from Raw; mark them known here.
	for _, k := range providerKeys[out.Provider] {
		p.raw(k)
	}
	return out
}

// providerKeys are litellm_params keys a provider reads from Params.Raw itself.
var providerKeys = map[string][]string{
	// The audience of the Google ID token for aws_web_identity_token: gcp-metadata.
	ProviderBedrock: {"aws_web_identity_audience"},
	ProviderSimulated: {"time_to_first_token_ms", "tokens_per_second", "output_tokens", "failure_status",
		"failure_rate", "mid_stream_drop_rate", "tool_use", "retry_after", "seed"},
}

func parseModelInfo(m *section) ModelInfo {
	var out ModelInfo
	out.Raw = m.m
	out.ID = m.str("id")
	out.MaxInputTokens, _ = m.int("max_input_tokens")
	out.MaxOutputTokens, _ = m.int("max_output_tokens")
	if v, ok := m.int("max_tokens"); ok && out.MaxOutputTokens == 0 {
		out.MaxOutputTokens = v
	}
	price := func(key string) *float64 {
		if f, ok := m.float(key); ok {
			return &f
		}
		return nil
	}
	out.InputCostPerToken = price("input_cost_per_token")
	out.OutputCostPerToken = price("output_cost_per_token")
	out.CacheCreationInputTokenCost = price("cache_creation_input_token_cost")
	out.CacheReadInputTokenCost = price("cache_read_input_token_cost")
	out.AccessGroups = m.strList("access_groups")
	m.raw("mode")
	m.raw("base_model")
	return out
}

func parseRouter(r *section) RouterSettings {
	var out RouterSettings
	out.Raw = r.m
	out.RoutingStrategy = r.str("routing_strategy")
	switch out.RoutingStrategy {
	case "", "simple-shuffle", "least-busy", "latency-based-routing", "usage-based-routing",
		"usage-based-routing-v2", "cost-based-routing":
	default:
		r.fail("routing_strategy", "unknown strategy %q (want simple-shuffle, least-busy, latency-based-routing, usage-based-routing-v2 or cost-based-routing)", out.RoutingStrategy)
	}
	if n, ok := r.int("num_retries"); ok {
		out.NumRetries, out.NumRetriesSet = int(n), true
	}
	out.Timeout = r.seconds("timeout")
	out.StreamTimeout = r.seconds("stream_timeout")
	out.RetryAfter = r.seconds("retry_after")
	if n, ok := r.int("allowed_fails"); ok {
		out.AllowedFails = int(n)
	}
	if r.has("cooldown_time") {
		out.CooldownTime, out.CooldownTimeSet = r.seconds("cooldown_time"), true
	}
	b1, _ := r.boolean("enable_pre_call_checks")
	b2, _ := r.boolean("enable_pre_call_check")
	out.EnablePreCallChecks = b1 || b2
	if n, ok := r.int("max_fallbacks"); ok {
		out.MaxFallbacks = int(n)
	}
	out.Fallbacks = fallbackList(r, "fallbacks")
	out.ContextWindowFallbacks = fallbackList(r, "context_window_fallbacks")
	if v, ok := r.raw("default_fallbacks"); ok {
		out.DefaultFallbacks = stringList(r, "default_fallbacks", v)
	}
	out.ModelGroupAlias = aliasMap(r, "model_group_alias")
	out.RetryPolicy = intMap(r, "retry_policy")
	out.AllowedFailsPolicy = intMap(r, "allowed_fails_policy")
	if b, ok := r.boolean("session_affinity"); ok {
		out.SessionAffinity = &b
	}
	out.RedisHost = r.str("redis_host")
	out.RedisPort = r.str("redis_port")
	out.RedisPassword = r.str("redis_password")
	out.RedisURL = r.str("redis_url")
	return out
}

func parseLitellm(l *section) LitellmSettings {
	var out LitellmSettings
	out.Raw = l.m
	out.MasterKey = l.str("master_key")
	out.RequestTimeout = l.seconds("request_timeout")
	if n, ok := l.int("num_retries"); ok {
		out.NumRetries, out.NumRetriesSet = int(n), true
	}
	out.DropParams, _ = l.boolean("drop_params")
	out.SetVerbose, _ = l.boolean("set_verbose")
	out.Fallbacks = fallbackList(l, "fallbacks")
	return out
}

func parseGeneral(g *section) GeneralSettings {
	var out GeneralSettings
	out.Raw = g.m
	out.MasterKey = g.str("master_key")
	out.StateStore = g.str("state_store")
	switch out.StateStore {
	case "", "memory", "embedded", "dynamodb", "firestore", "redis":
	default:
		g.fail("state_store", "unknown store %q (want memory, embedded, dynamodb, firestore or redis)", out.StateStore)
	}
	out.StateFile = g.str("state_file")
	out.StateTable = g.str("state_table")
	out.StateCollection = g.str("state_collection")
	out.StateFailClosed, _ = g.boolean("state_fail_closed")
	out.MetricsPublic, _ = g.boolean("metrics_public")
	out.MaxRequestBodyBytes, _ = g.int("max_request_body_bytes")
	out.StreamCommitAfter = g.seconds("stream_commit_after")
	if _, ok := g.raw("lambda_deadline_margin"); ok {
		out.LambdaDeadlineMargin, out.LambdaDeadlineMarginSet = g.seconds("lambda_deadline_margin"), true
	}
	if n, ok := g.int("max_slow_connections"); ok {
		if n <= 0 {
			g.fail("max_slow_connections", "want a positive number of connections")
		}
		out.MaxSlowConnections = int(n)
	}
	out.Debug, _ = g.boolean("debug")
	out.SSO = parseSSO(g)
	return out
}

func fallbackList(s *section, key string) []map[string][]string {
	v, ok := s.raw(key)
	if !ok {
		return nil
	}
	items, isList := v.([]any)
	if !isList {
		s.fail(key, "want a list like [{\"claude-sonnet\": [\"claude-haiku\"]}]")
		return nil
	}
	var out []map[string][]string
	for i, it := range items {
		m, isMap := it.(map[string]any)
		if !isMap {
			s.fail(fmt.Sprintf("%s[%d]", key, i), "want a mapping of model group to fallback groups")
			continue
		}
		entry := map[string][]string{}
		for k, x := range m {
			entry[k] = stringList(s, fmt.Sprintf("%s[%d].%s", key, i, k), x)
		}
		out = append(out, entry)
	}
	return out
}

func stringList(s *section, key string, v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			str, ok := e.(string)
			if !ok {
				s.fail(key, "want a list of strings")
				return nil
			}
			out = append(out, str)
		}
		return out
	}
	s.fail(key, "want a list of strings")
	return nil
}

func aliasMap(s *section, key string) map[string]string {
	v, ok := s.raw(key)
	if !ok {
		return nil
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		s.fail(key, "want a mapping of alias to model group")
		return nil
	}
	out := map[string]string{}
	for k, x := range m {
		switch t := x.(type) {
		case string:
			out[k] = t
		case map[string]any: // LiteLLM's {"model": "group", "hidden": true} form
			if g, ok := t["model"].(string); ok {
				out[k] = g
				continue
			}
			s.fail(key+"."+k, "want a model group name")
		default:
			s.fail(key+"."+k, "want a model group name")
		}
	}
	return out
}

func intMap(s *section, key string) map[string]int {
	v, ok := s.raw(key)
	if !ok {
		return nil
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		s.fail(key, "want a mapping of name to number")
		return nil
	}
	sub := newSection(join(s.path, key), m)
	out := map[string]int{}
	for k := range m {
		if n, ok := sub.int(k); ok {
			out[k] = int(n)
		}
	}
	s.errs = append(s.errs, sub.errs...)
	return out
}

// hashID is a stable id from the group name and non-secret params: the same
// deployment gets the same id on every instance and restart.
func hashID(modelName string, params map[string]any) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	h.Write([]byte(modelName))
	for _, k := range keys {
		h.Write([]byte{0})
		h.Write([]byte(k))
		h.Write([]byte{0})
		if secretParams[k] {
			continue // the key's presence matters, never its value
		}
		b, _ := json.Marshal(params[k])
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// AccessGroups maps each model_info.access_groups name to the model groups
// (model_name) whose deployments carry it, in config order.
func (c *Config) AccessGroups() map[string][]string {
	out := map[string][]string{}
	for _, d := range c.Deployments {
		for _, g := range d.Info.AccessGroups {
			if !slices.Contains(out[g], d.ModelName) {
				out[g] = append(out[g], d.ModelName)
			}
		}
	}
	return out
}
