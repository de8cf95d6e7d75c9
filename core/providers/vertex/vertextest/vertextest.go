// Package vertextest is a fake of Claude on Vertex AI and of the Google
// credential endpoints in front of it, for tests anywhere in the gateway.
//
// The fake checks what the real service checks and answers in the real wire
// formats:
//   - the API (Server.URL, an api_base): the URL shape
//     /v1/projects/{project}/locations/{location}/publishers/anthropic/models/{model}:rawPredict
//     (or :streamRawPredict, or count-tokens:rawPredict), a bearer token it
//     issued and that has not expired, the project, location and model, the
//     body's anthropic_version, no model field, stream matching the method,
//     and the anthropic-beta header against the flags Vertex accepts. It
//     answers Anthropic JSON or SSE (flushed per event, with optional delays),
//     Google-shaped errors for auth/URL problems, Anthropic-shaped ones for
//     body problems, and any error a test queues with FailNext.
//   - the OAuth2 token endpoint (Server.TokenURL): the service-account JWT
//     bearer grant (RS256 signature against the key in ServiceAccountJSON,
//     iss/aud/scope/iat/exp), the refresh-token grant (AuthorizedUserJSON) and
//     the STS token exchange (ExternalAccountJSON).
//   - the GCE/Cloud Run metadata server (Server.MetadataHost, for
//     GCE_METADATA_HOST): requires Metadata-Flavor: Google; serves access
//     tokens and Google-signed ID tokens (VerifyIDToken checks them as AWS
//     STS would).
//   - Workload Identity Federation from AWS (AWSExternalAccountJSON): the STS
//     exchange of a signed GetCallerIdentity request, verified by re-signing
//     it, and the IAM Credentials generateAccessToken endpoint.
//
// A seed config is pointed at the fake with api_base: <Server.URL> and either
// vertex_credentials: <WriteServiceAccountFile path> or the environment
// (GOOGLE_APPLICATION_CREDENTIALS, or GCE_METADATA_HOST=<MetadataHost>).
package vertextest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/sse"
	"github.com/tidwall/gjson"
)

// Scope is the OAuth2 scope Vertex needs; token requests must ask for it.
const Scope = "https://www.googleapis.com/auth/cloud-platform"

// AnthropicVersion is the body anthropic_version Vertex requires.
const AnthropicVersion = "vertex-2023-10-16"

// DefaultAcceptedBetas are the anthropic-beta flags the fake accepts, after
// the flags Claude on Vertex is documented to take; any other flag is a 400
// "invalid beta flag", as on Vertex.
var DefaultAcceptedBetas = []string{
	"computer-use-2024-10-22", "computer-use-2025-01-24", "computer-use-2025-11-24",
	"context-1m-2025-08-07", "context-management-2025-06-27", "interleaved-thinking-2025-05-14",
	"tool-search-tool-2025-10-19", "web-search-2025-03-05", "compact-2026-01-12", "compact-2026-09-04",
	"per-turn-control-2026-07-01", "thinking-binding-controls-2026-08-01",
	"thinking-display-updates-2026-08-18", "dangerous-tool-use-2026-09-03",
}

// CountTokensAcceptedBetas are the only flags count-tokens:rawPredict
// takes: it refuses flags the messages routes accept (tool-search,
// web-search, as seen in LiteLLM #39597; context-1m and effort on models
// that lag their rollout, anthropic-sdk-typescript #1060).
var CountTokensAcceptedBetas = []string{"interleaved-thinking-2025-05-14", "context-management-2025-06-27"}

// Options configure a fake. The zero value works.
type Options struct {
	// Project is the only project that exists (default "test-project").
	Project string
	// Locations, when set, are the only locations served.
	Locations []string
	// Models, when set, are the only models that exist.
	Models []string
	// AcceptedBetas replaces DefaultAcceptedBetas.
	AcceptedBetas []string
	// Text is the answer (default "Hello from fake Vertex."), streamed one
	// word per content_block_delta.
	Text string
	// Deltas, when > 0, makes the answer that many "tok " deltas instead.
	Deltas int
	// Respond, when set, answers each streaming call with these Anthropic
	// events (each one event's JSON; its type is read from it) instead of
	// the Text reply: a test's model, e.g. one that calls a tool.
	Respond func(body []byte) []string
	// EventDelay is slept before each streamed event after the first.
	EventDelay time.Duration
	// BeforeEvent, when set, is called before streamed event i of API call
	// number call (both from 0) is written; a test can block in it to prove
	// the caller received the earlier events first.
	BeforeEvent func(call, i int)
	// TokenLifetimes are the expires_in of successively issued tokens; the
	// last one repeats (default one hour).
	TokenLifetimes []time.Duration
	// ClientEmail is the service account's email.
	ClientEmail string
}

// Call is one API request the fake received.
type Call struct {
	// Method is "rawPredict" or "streamRawPredict".
	Method string
	// Model is the URL's model segment ("count-tokens" for count_tokens).
	Project, Location, Model string
	Token                    string
	Betas                    []string
	Body                     []byte
	Header                   http.Header
	// Status is what the fake answered.
	Status int
}

// Failure is an answer queued with FailNext.
type Failure struct {
	Status int
	Header http.Header
	Body   string
	// AfterEvents > 0 (streaming calls only) starts the stream normally and,
	// after that many events, sends Body as an SSE "error" event, or with
	// Drop cuts the connection.
	AfterEvents int
	Drop        bool
}

// GoogleError is a failure in Google's error shape, e.g. (429, "RESOURCE_EXHAUSTED", "Quota exceeded").
func GoogleError(code int, status, message string) Failure {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": code, "message": message, "status": status}})
	return Failure{Status: code, Body: string(b), Header: http.Header{"Content-Type": {"application/json"}}}
}

// AnthropicError is a failure in Anthropic's error shape.
func AnthropicError(status int, typ, message string) Failure {
	return Failure{Status: status, Body: string(llm.ErrorBody(typ, message)),
		Header: http.Header{"Content-Type": {"application/json"}}}
}

// Server is a running fake. Its servers close when the test ends.
type Server struct {
	// URL is the Vertex API base, to use as api_base.
	URL string
	// TokenURL is the OAuth2 token endpoint (token_uri / token_url).
	TokenURL string
	// MetadataHost is host:port of the metadata server, for GCE_METADATA_HOST.
	MetadataHost string

	opts   Options
	accept map[string]bool

	mu            sync.Mutex
	tokens        map[string]time.Time
	issued        int
	fetches       int
	calls         []Call
	failures      []Failure
	assertions    []map[string]any
	metadataScope []string
	subjectToken  string
	idAudiences   []string
	tokenDown     bool
	tokenDelay    time.Duration

	// Workload Identity Federation from AWS (federation.go).
	authBase         string
	awsFed           *AWSFederation
	federated        map[string]time.Time
	awsExchanges     []AWSExchange
	impersonations   int
	awsMetadataCalls int

	keyOnce sync.Once
	key     *rsa.PrivateKey
	keyID   string

	idKeyOnce sync.Once
	idKey     *rsa.PrivateKey
	idKeyID   string
}

// TokenOutage makes the token endpoint answer 503 while down is true (an
// outage of Google's token service at refresh time).
func (s *Server) TokenOutage(down bool) {
	s.mu.Lock()
	s.tokenDown = down
	s.mu.Unlock()
}

// TokenDelay makes the token endpoint answer only after d (0: at once), or
// not at all if the caller gives up first: a slow token service at refresh
// time.
func (s *Server) TokenDelay(d time.Duration) {
	s.mu.Lock()
	s.tokenDelay = d
	s.mu.Unlock()
}

// NewServer starts a fake; it is closed by t.Cleanup.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Project == "" {
		opts.Project = "test-project"
	}
	if opts.Text == "" {
		opts.Text = "Hello from fake Vertex."
	}
	if opts.ClientEmail == "" {
		opts.ClientEmail = "gateway@" + opts.Project + ".iam.gserviceaccount.com"
	}
	acc := opts.AcceptedBetas
	if acc == nil {
		acc = DefaultAcceptedBetas
	}
	s := &Server{opts: opts, accept: map[string]bool{}, tokens: map[string]time.Time{}, federated: map[string]time.Time{}}
	for _, b := range acc {
		s.accept[b] = true
	}
	api := httptest.NewServer(http.HandlerFunc(s.serveAPI))
	auth := httptest.NewServer(http.HandlerFunc(s.serveAuth))
	t.Cleanup(api.Close)
	t.Cleanup(auth.Close)
	s.URL = api.URL
	s.TokenURL = auth.URL + "/token"
	s.authBase = auth.URL
	s.MetadataHost = strings.TrimPrefix(auth.URL, "http://")
	return s
}

// Project is the project the fake serves.
func (s *Server) Project() string { return s.opts.Project }

// NewAccessToken mints a valid one-hour token without an OAuth2 flow (it
// does not count as a fetch).
func (s *Server) NewAccessToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok := "ya29.direct-" + randHex(8)
	s.tokens[tok] = time.Now().Add(time.Hour)
	return tok
}

// TokenFetches is how many tokens the token endpoint, STS and the metadata
// server have issued.
func (s *Server) TokenFetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

// Calls returns the API calls received so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// Assertions returns the claims of every JWT assertion the token endpoint verified.
func (s *Server) Assertions() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.assertions)
}

// MetadataScopes returns the scopes query of each metadata token request.
func (s *Server) MetadataScopes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.metadataScope)
}

// FailNext queues answers for the next API calls, one call each, after the
// bearer token and URL checks.
func (s *Server) FailNext(fs ...Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, fs...)
}

// ServiceAccountJSON is a service-account key file (type service_account)
// whose token_uri is the fake's token endpoint. The RSA key is generated
// once per Server.
func (s *Server) ServiceAccountJSON() []byte {
	s.keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		s.key, s.keyID = k, randHex(20)
	})
	der, err := x509.MarshalPKCS8PrivateKey(s.key)
	if err != nil {
		panic(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	b, _ := json.MarshalIndent(map[string]string{
		"type":                        "service_account",
		"project_id":                  s.opts.Project,
		"private_key_id":              s.keyID,
		"private_key":                 string(pemKey),
		"client_email":                s.opts.ClientEmail,
		"client_id":                   ServiceAccountID,
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   s.TokenURL,
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
		"universe_domain":             "googleapis.com",
	}, "", "  ")
	return b
}

// WriteServiceAccountFile writes ServiceAccountJSON to a temporary file and
// returns its path.
func (s *Server) WriteServiceAccountFile(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "service-account.json")
	if err := os.WriteFile(p, s.ServiceAccountJSON(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const (
	userClientID     = "fake-client.apps.googleusercontent.com"
	userClientSecret = "fake-client-secret"
	userRefreshToken = "1//fake-refresh-token"
)

// AuthorizedUserJSON is a gcloud user-credentials file (type authorized_user)
// refreshed at the fake's token endpoint.
func (s *Server) AuthorizedUserJSON() []byte {
	b, _ := json.Marshal(map[string]string{
		"type":             "authorized_user",
		"client_id":        userClientID,
		"client_secret":    userClientSecret,
		"refresh_token":    userRefreshToken,
		"token_uri":        s.TokenURL,
		"quota_project_id": s.opts.Project,
	})
	return b
}

// ExternalAccountJSON is a Workload Identity Federation configuration (type
// external_account) whose subject token is a file in a temporary directory
// and whose STS endpoint is the fake's token endpoint.
func (s *Server) ExternalAccountJSON(t testing.TB) []byte {
	t.Helper()
	s.mu.Lock()
	if s.subjectToken == "" {
		s.subjectToken = "subject-" + randHex(16)
	}
	sub := s.subjectToken
	s.mu.Unlock()
	p := filepath.Join(t.TempDir(), "subject-token")
	if err := os.WriteFile(p, []byte(sub), 0o600); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{
		"type":               "external_account",
		"audience":           "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/prov",
		"subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
		"token_url":          s.TokenURL,
		"credential_source":  map[string]any{"file": p},
	})
	return b
}

// issue records and returns a new access token; the caller holds s.mu.
func (s *Server) issue() (string, time.Duration) {
	life := time.Hour
	if n := len(s.opts.TokenLifetimes); n > 0 {
		life = s.opts.TokenLifetimes[min(s.issued, n-1)]
	}
	s.issued++
	s.fetches++
	tok := "ya29.fake-" + strconv.Itoa(s.issued) + "-" + randHex(8)
	s.tokens[tok] = time.Now().Add(life)
	return tok, life
}

func (s *Server) serveAuth(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/computeMetadata/v1/") {
		s.serveMetadata(w, r)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/aws-metadata/") {
		s.serveAWSMetadata(w, r)
		return
	}
	if m := impersonationRE.FindStringSubmatch(r.URL.Path); m != nil && r.Method == http.MethodPost {
		s.serveImpersonation(w, r, m[1])
		return
	}
	if r.URL.Path != "/token" || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	down, delay := s.tokenDown, s.tokenDelay
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(delay):
		}
	}
	if down {
		http.Error(w, "token service unavailable", http.StatusServiceUnavailable)
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, "invalid_request", err.Error())
		return
	}
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "urn:ietf:params:oauth:grant-type:jwt-bearer":
		claims, err := s.verifyAssertion(r.PostForm.Get("assertion"))
		if err != nil {
			oauthError(w, "invalid_grant", err.Error())
			return
		}
		s.mu.Lock()
		s.assertions = append(s.assertions, claims)
		s.mu.Unlock()
	case "refresh_token":
		if r.PostForm.Get("client_id") != userClientID || r.PostForm.Get("client_secret") != userClientSecret ||
			r.PostForm.Get("refresh_token") != userRefreshToken {
			oauthError(w, "invalid_grant", "Bad Request")
			return
		}
	case "urn:ietf:params:oauth:grant-type:token-exchange":
		if r.PostForm.Get("subject_token_type") == awsSubjectTokenType {
			s.exchangeAWS(w, r.PostForm)
			return
		}
		s.mu.Lock()
		want := s.subjectToken
		s.mu.Unlock()
		if want == "" || r.PostForm.Get("subject_token") != want || !hasScope(r.PostForm.Get("scope")) {
			oauthError(w, "invalid_grant", "The subject token is invalid.")
			return
		}
	default:
		oauthError(w, "unsupported_grant_type", "Invalid grant_type: "+gt)
		return
	}
	s.mu.Lock()
	tok, life := s.issue()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok, "expires_in": int(life / time.Second), "token_type": "Bearer",
		"issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
	})
}

// verifyAssertion checks a service-account JWT as Google's token endpoint
// does: RS256 over header.claims with the key of kid, the issuer, the
// audience (the token endpoint itself), the scope and the validity window.
func (s *Server) verifyAssertion(a string) (map[string]any, error) {
	if s.key == nil {
		return nil, fmt.Errorf("no service account key issued")
	}
	claims, err := verifyRS256(a, &s.key.PublicKey, s.keyID)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	iat, _ := claims["iat"].(float64)
	exp, _ := claims["exp"].(float64)
	switch {
	case claims["iss"] != s.opts.ClientEmail:
		return nil, fmt.Errorf("Invalid issuer %v", claims["iss"])
	case claims["aud"] != s.TokenURL:
		return nil, fmt.Errorf("Invalid JWT audience %v", claims["aud"])
	case !hasScope(fmt.Sprint(claims["scope"])):
		return nil, fmt.Errorf("Invalid scope %v", claims["scope"])
	case time.Unix(int64(iat), 0).After(now.Add(5 * time.Minute)):
		return nil, fmt.Errorf("Invalid JWT: Token must be a short-lived token and in a reasonable timeframe (iat)")
	case !time.Unix(int64(exp), 0).After(now) || exp-iat > 3600:
		return nil, fmt.Errorf("Invalid JWT: Token must be a short-lived token and in a reasonable timeframe (exp)")
	}
	return claims, nil
}

func (s *Server) serveMetadata(w http.ResponseWriter, r *http.Request) {
	// The real server refuses requests without the header (SSRF guard) and
	// proxied requests.
	if r.Header.Get("Metadata-Flavor") != "Google" || r.Header.Get("X-Forwarded-For") != "" {
		http.Error(w, "Missing Metadata-Flavor:Google header.", http.StatusForbidden)
		return
	}
	w.Header().Set("Metadata-Flavor", "Google")
	switch strings.TrimPrefix(r.URL.Path, "/computeMetadata/v1/") {
	case "instance/service-accounts/default/token":
		s.mu.Lock()
		s.metadataScope = append(s.metadataScope, r.URL.Query().Get("scopes"))
		tok, life := s.issue()
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{
			"access_token": tok, "expires_in": int(life / time.Second), "token_type": "Bearer"})
	case "instance/service-accounts/default/identity":
		s.serveIdentity(w, r)
	case "project/project-id":
		w.Header().Set("Content-Type", "application/text")
		fmt.Fprint(w, s.opts.Project)
	case "instance/service-accounts/default/email":
		w.Header().Set("Content-Type", "application/text")
		fmt.Fprint(w, s.opts.ClientEmail)
	case "universe/universe-domain":
		w.Header().Set("Content-Type", "application/text")
		fmt.Fprint(w, "googleapis.com")
	default:
		http.NotFound(w, r)
	}
}

var impersonationRE = regexp.MustCompile(`^/v1/projects/-/serviceAccounts/([^/:]+):generateAccessToken$`)

var pathRE = regexp.MustCompile(`^/v1/projects/([^/]+)/locations/([^/]+)/publishers/anthropic/models/([^/:]+):(rawPredict|streamRawPredict)$`)

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	m := pathRE.FindStringSubmatch(r.URL.Path)
	if m == nil {
		googleError(w, http.StatusNotFound, "NOT_FOUND", "The requested URL "+r.URL.Path+" was not found on this server.")
		return
	}
	if r.Method != http.MethodPost {
		googleError(w, http.StatusMethodNotAllowed, "INVALID_ARGUMENT", "Method "+r.Method+" not allowed.")
		return
	}
	body, _ := io.ReadAll(r.Body)
	c := Call{Method: m[4], Project: m[1], Location: m[2], Model: m[3], Body: body, Header: r.Header.Clone(),
		Betas: llm.ParseBetas(r.Header)}
	tok, hasBearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	c.Token = tok

	s.mu.Lock()
	idx := len(s.calls)
	s.calls = append(s.calls, c)
	exp, known := s.tokens[tok]
	s.mu.Unlock()
	status := s.answer(w, r, idx, &c, hasBearer && known && time.Now().Before(exp))
	s.mu.Lock()
	s.calls[idx].Status = status
	s.mu.Unlock()
}

// answer checks one call and writes the answer, returning its status.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, idx int, c *Call, authed bool) int {
	resource := "projects/" + c.Project + "/locations/" + c.Location + "/publishers/anthropic/models/" + c.Model
	switch {
	case !authed:
		return googleError(w, http.StatusUnauthorized, "UNAUTHENTICATED",
			"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
	case c.Project != s.opts.Project:
		return googleError(w, http.StatusForbidden, "PERMISSION_DENIED",
			"Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/"+resource+"' (or it may not exist).")
	case len(s.opts.Locations) > 0 && !slices.Contains(s.opts.Locations, c.Location):
		return googleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Unsupported location "+c.Location+".")
	case c.Model != "count-tokens" && len(s.opts.Models) > 0 && !slices.Contains(s.opts.Models, c.Model):
		return googleError(w, http.StatusNotFound, "NOT_FOUND",
			"Publisher Model `"+resource+"` not found.")
	}

	var fail *Failure
	s.mu.Lock()
	if len(s.failures) > 0 {
		f := s.failures[0]
		s.failures = s.failures[1:]
		fail = &f
	}
	s.mu.Unlock()
	if fail != nil && (fail.AfterEvents == 0 || c.Method != "streamRawPredict") {
		for k, v := range fail.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(fail.Status)
		fmt.Fprint(w, fail.Body)
		return fail.Status
	}

	if msg := s.checkBody(c); msg != "" {
		return anthropicError(w, http.StatusBadRequest, llm.ErrInvalidRequest, msg)
	}
	inTokens := int64(len(c.Body)/4 + 1)
	if c.Model == "count-tokens" {
		writeJSON(w, http.StatusOK, map[string]any{"input_tokens": inTokens})
		return http.StatusOK
	}
	if c.Method == "rawPredict" {
		text := s.opts.Text
		if s.opts.Deltas > 0 {
			text = strings.Repeat("tok ", s.opts.Deltas)
		}
		w.Header().Set("Request-Id", "req_vrtx_"+strconv.Itoa(idx))
		writeJSON(w, http.StatusOK, map[string]any{
			"id": "msg_vrtx_" + strconv.Itoa(idx), "type": "message", "role": "assistant", "model": c.Model,
			"content":     []any{map[string]any{"type": "text", "text": text}},
			"stop_reason": "end_turn", "stop_sequence": nil,
			"usage": map[string]any{"input_tokens": inTokens, "output_tokens": s.outputTokens()},
		})
		return http.StatusOK
	}
	s.stream(w, r, idx, c, inTokens, fail)
	return http.StatusOK
}

// vertexFields are the top-level fields Claude on Vertex takes (the Messages
// API's, at Vertex's version); any other, Claude Code's interactive-mode
// "safeguards" among them, is "<field>: Extra inputs are not permitted".
var vertexFields = map[string]bool{
	"anthropic_version": true, "model": true, "messages": true, "max_tokens": true, "system": true,
	"stop_sequences": true, "stream": true, "temperature": true, "top_p": true, "top_k": true,
	"tools": true, "tool_choice": true, "thinking": true, "metadata": true, "output_config": true,
	"context_management": true, "service_tier": true, "container": true, "mcp_servers": true,
}

// checkBody is the request validation Vertex (and the model behind it)
// applies; it returns the Anthropic-style message of the first problem.
func (s *Server) checkBody(c *Call) string {
	if ct := c.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return "Content-Type must be application/json, got " + ct
	}
	if !gjson.ValidBytes(c.Body) {
		return "The request body is not valid JSON."
	}
	doc := gjson.ParseBytes(c.Body)
	if v := doc.Get("anthropic_version"); v.String() != AnthropicVersion {
		if !v.Exists() {
			return "anthropic_version: Field required"
		}
		return "anthropic_version: Input should be '" + AnthropicVersion + "'"
	}
	for _, b := range c.Betas {
		if c.Model == "count-tokens" && !slices.Contains(CountTokensAcceptedBetas, b) {
			return "Unexpected value(s) `" + b + "` for the `anthropic-beta` header. Please consult our documentation at platform.claude.com/docs or try again without the header."
		}
		if !s.accept[b] {
			return "Unexpected value(s) `" + b + "` for the `anthropic-beta` header. Please consult our documentation at docs.anthropic.com or try again without the header."
		}
	}
	if c.Model == "count-tokens" {
		if m := doc.Get("model").String(); m == "" || strings.Contains(m, "@") {
			return "model: the count-tokens model must be named without a version suffix, got \"" + m + "\""
		}
	} else {
		if doc.Get("model").Exists() {
			return "model: Extra inputs are not permitted"
		}
		if stream := doc.Get("stream").Bool(); stream != (c.Method == "streamRawPredict") {
			return "stream: must be " + strconv.FormatBool(c.Method == "streamRawPredict") + " for " + c.Method
		}
	}
	unknown := ""
	doc.ForEach(func(k, _ gjson.Result) bool {
		if !vertexFields[k.Str] {
			unknown = k.Str
		}
		return unknown == ""
	})
	if unknown != "" {
		return unknown + ": Extra inputs are not permitted"
	}
	msg := ""
	doc.Get("messages").ForEach(func(k, m gjson.Result) bool {
		if role := m.Get("role").String(); role != "user" && role != "assistant" {
			msg = "messages." + k.String() + ".role: Input should be 'user' or 'assistant'"
			return false
		}
		return true
	})
	if msg != "" {
		return msg
	}
	if strings.Contains(string(c.Body), `"scope"`) && hasCacheScope(doc) {
		return "cache_control.scope: Extra inputs are not permitted"
	}
	tools := doc.Get("tools")
	tools.ForEach(func(k, t gjson.Result) bool {
		if t.Get("defer_loading").Exists() && !slices.Contains(c.Betas, "tool-search-tool-2025-10-19") {
			msg = "tools." + k.String() + ".custom.defer_loading: Extra inputs are not permitted"
			return false
		}
		return true
	})
	if msg != "" {
		return msg
	}
	if doc.Get("context_management").Exists() && !slices.Contains(c.Betas, "context-management-2025-06-27") {
		return "context_management: Extra inputs are not permitted"
	}
	return ""
}

// hasCacheScope reports a cache_control object with a scope anywhere.
func hasCacheScope(v gjson.Result) bool {
	found := false
	var walk func(r gjson.Result)
	walk = func(r gjson.Result) {
		if found || (!r.IsObject() && !r.IsArray()) {
			return
		}
		r.ForEach(func(k, c gjson.Result) bool {
			if k.String() == "cache_control" && c.Get("scope").Exists() {
				found = true
				return false
			}
			walk(c)
			return !found
		})
	}
	walk(v)
	return found
}

func (s *Server) outputTokens() int {
	if s.opts.Deltas > 0 {
		return s.opts.Deltas
	}
	return len(strings.Fields(s.opts.Text))
}

// stream writes the SSE answer, one flushed write per event.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, idx int, c *Call, inTokens int64, fail *Failure) {
	words := strings.SplitAfter(s.opts.Text, " ")
	n := len(words)
	if s.opts.Deltas > 0 {
		n = s.opts.Deltas
	}
	total := n + 6
	event := func(i int) llm.Event {
		switch {
		case i == 0:
			return llm.Event{Type: "message_start", Data: fmt.Appendf(nil,
				`{"type":"message_start","message":{"id":"msg_vrtx_%d","type":"message","role":"assistant","model":%q,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":%d,"output_tokens":1}}}`,
				idx, c.Model, inTokens)}
		case i == 1:
			return llm.Event{Type: "content_block_start", Data: []byte(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)}
		case i == 2:
			return llm.Event{Type: "ping", Data: []byte(`{"type": "ping"}`)}
		case i < 3+n:
			text := "tok "
			if s.opts.Deltas == 0 {
				text = words[i-3]
			}
			d, _ := json.Marshal(text)
			return llm.Event{Type: "content_block_delta", Data: fmt.Appendf(nil,
				`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":%s}}`, d)}
		case i == 3+n:
			return llm.Event{Type: "content_block_stop", Data: []byte(`{"type":"content_block_stop","index":0}`)}
		case i == 4+n:
			return llm.Event{Type: "message_delta", Data: fmt.Appendf(nil,
				`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":%d}}`, s.outputTokens())}
		}
		return llm.Event{Type: "message_stop", Data: []byte(`{"type":"message_stop"}`)}
	}
	if s.opts.Respond != nil {
		scripted := s.opts.Respond(c.Body)
		total = len(scripted)
		event = func(i int) llm.Event {
			return llm.Event{Type: gjson.Get(scripted[i], "type").String(), Data: []byte(scripted[i])}
		}
	}
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl := http.NewResponseController(w)
	// The status goes out at once, before the first event, as upstreams do:
	// the caller learns the call was accepted while generation starts.
	if err := fl.Flush(); err != nil {
		return
	}
	buf := make([]byte, 0, 512)
	for i := range total {
		if fail != nil && i == fail.AfterEvents {
			if fail.Drop {
				panic(http.ErrAbortHandler) // cut the connection mid-stream
			}
			buf = sse.Append(buf[:0], llm.Event{Type: "error", Data: []byte(fail.Body)})
			w.Write(buf)
			fl.Flush()
			return
		}
		if s.opts.BeforeEvent != nil {
			s.opts.BeforeEvent(idx, i)
		}
		if i > 0 && s.opts.EventDelay > 0 {
			select {
			case <-time.After(s.opts.EventDelay):
			case <-r.Context().Done():
				return
			}
		}
		buf = sse.Append(buf[:0], event(i))
		if _, err := w.Write(buf); err != nil {
			return
		}
		if err := fl.Flush(); err != nil {
			return
		}
	}
}

// verifyRS256 checks a JWT's header (RS256 with key id kid) and signature
// with key, and returns its claims.
func verifyRS256(token string, key *rsa.PublicKey, kid string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("malformed JWT")
	}
	var hdr struct{ Alg, Typ, Kid string }
	if err := decodeSegment(parts[0], &hdr); err != nil {
		return nil, fmt.Errorf("JWT header: %v", err)
	}
	if hdr.Alg != "RS256" || hdr.Kid != kid {
		return nil, fmt.Errorf("JWT header alg %q kid %q", hdr.Alg, hdr.Kid)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, fmt.Errorf("JWT signature encoding: %v", err)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig); err != nil {
		return nil, fmt.Errorf("Invalid JWT Signature.")
	}
	var claims map[string]any
	if err := decodeSegment(parts[1], &claims); err != nil {
		return nil, fmt.Errorf("JWT claims: %v", err)
	}
	return claims, nil
}

func hasScope(s string) bool { return slices.Contains(strings.Fields(s), Scope) }

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func googleError(w http.ResponseWriter, code int, status, msg string) int {
	writeJSON(w, code, map[string]any{"error": map[string]any{"code": code, "message": msg, "status": status}})
	return code
}

func anthropicError(w http.ResponseWriter, status int, typ, msg string) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(llm.ErrorBody(typ, msg))
	return status
}

func oauthError(w http.ResponseWriter, code, desc string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": desc})
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
