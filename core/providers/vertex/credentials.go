package vertex

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tidwall/gjson"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
)

// Scope is the OAuth2 scope Vertex AI needs.
const Scope = "https://www.googleapis.com/auth/cloud-platform"

// ErrNoCredentials is returned by New when no vertex_credentials are
// configured and Application Default Credentials find nothing either. Callers
// that would rather start without the deployment can test for it with errors.Is.
var ErrNoCredentials = errors.New("vertex: no Google credentials found")

// tokenFetchTimeout bounds one token request to Google's token endpoint (or
// STS, or the impersonation endpoint). oauth2's TokenSource.Token has no
// context, so the bound has to live in the HTTP client it uses.
const tokenFetchTimeout = 30 * time.Second

// CredentialCache holds one token source per distinct credential, so every
// deployment using the same credential (the same vertex_credentials, or ADC)
// shares one cached token and one refresh. Build one per process with
// NewCredentialCache and pass it to every New; a nil cache in Options gives
// each provider its own.
type CredentialCache struct {
	mu sync.Mutex
	m  map[string]*credential
}

// NewCredentialCache returns an empty cache.
func NewCredentialCache() *CredentialCache {
	return &CredentialCache{m: map[string]*credential{}}
}

// credential is a cached token source and the project its credential names.
// A credential from Application Default Credentials for a deployment that
// names its project is found at its first token, not at start (adc set):
// finding ADC may probe the metadata server, which a cold start should not
// wait for and a gateway that never calls Vertex should never do.
type credential struct {
	// adc, if set, finds the credential; ts, projectID and quotaProject are
	// valid only after resolve has returned nil.
	adc     func() (*credential, error)
	once    sync.Once
	failure error

	// ts is an oauth2.ReuseTokenSource: it holds the current token and its
	// mutex is held across a refresh, so requests arriving while a token is
	// being fetched wait for that one fetch instead of starting their own.
	ts        oauth2.TokenSource
	projectID string
	// quotaProject is billed for the calls (x-goog-user-project), as
	// Google's client libraries do for user credentials that name one.
	quotaProject string
}

// EnvCredentials holds the credentials of deployments that configure no
// vertex_credentials (the JSON or a path), ahead of Application Default
// Credentials. It is how template.yaml hands a Lambda function its Workload
// Identity Federation configuration (docs/keyless.md): an unchanged config
// then reaches Vertex with the function's AWS role.
const EnvCredentials = "GATEWAY_VERTEX_CREDENTIALS"

// get returns the cached credential for raw (a vertex_credentials value; ""
// means EnvCredentials, then ADC), loading it on first use. ADC is found at
// the first token if lazyADC (the caller needs no project from it).
func (c *CredentialCache) get(ctx context.Context, raw string, hc *http.Client, lazyADC bool) (*credential, error) {
	fromEnv := false
	if raw == "" {
		raw = strings.TrimSpace(os.Getenv(EnvCredentials))
		fromEnv = raw != ""
	}
	data, key, err := readCredentials(raw)
	if err != nil {
		if fromEnv {
			err = fmt.Errorf("%s: %w", EnvCredentials, err)
		}
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cr, ok := c.m[key]; ok {
		if !lazyADC {
			if err := cr.resolve(); err != nil {
				return nil, err
			}
		}
		return cr, nil
	}
	var cr *credential
	if data == nil && lazyADC {
		cr = &credential{adc: func() (*credential, error) { return loadCredential(ctx, nil, hc) }}
	} else if cr, err = loadCredential(ctx, data, hc); err != nil {
		return nil, err
	}
	c.m[key] = cr
	return cr, nil
}

// resolve finds a lazy credential once; its failure is kept (ADC that is
// not there at the first request is not there later either).
func (c *credential) resolve() error {
	if c.adc == nil {
		return nil
	}
	c.once.Do(func() {
		found, err := c.adc()
		if err != nil {
			c.failure = err
			return
		}
		c.ts, c.projectID, c.quotaProject = found.ts, found.projectID, found.quotaProject
	})
	return c.failure
}

// readCredentials resolves vertex_credentials: the JSON itself, or a path to
// it. The cache key is a hash of the content, so the same key file named two
// ways still shares one token source (and the key never sits in memory as a
// map key).
func readCredentials(raw string) (data []byte, key string, err error) {
	if raw == "" {
		return nil, "adc", nil
	}
	if t := bytes.TrimSpace([]byte(raw)); len(t) > 0 && t[0] == '{' {
		data = t
	} else {
		data, err = os.ReadFile(raw)
		if err != nil {
			// The error names the path, never any content.
			return nil, "", fmt.Errorf("vertex_credentials: %w", err)
		}
	}
	sum := sha256.Sum256(data)
	return data, "json:" + hex.EncodeToString(sum[:]), nil
}

// credentialTypes are the credential files vertex_credentials may hold.
// Loading by the file's declared type (rather than the untyped loader) keeps
// an unexpected type from being loaded silently, and lets Workload Identity
// Federation configurations work (PITFALLS #12).
var credentialTypes = map[string]google.CredentialsType{
	"service_account":                  google.ServiceAccount,
	"authorized_user":                  google.AuthorizedUser,
	"external_account":                 google.ExternalAccount,
	"external_account_authorized_user": google.ExternalAccountAuthorizedUser,
	"impersonated_service_account":     google.ImpersonatedServiceAccount,
}

func loadCredential(ctx context.Context, data []byte, hc *http.Client) (*credential, error) {
	// The token source keeps this context for every later refresh: it must
	// outlive New's caller and carry the HTTP client token fetches use.
	tctx := context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, hc)
	var creds *google.Credentials
	var err error
	if data == nil {
		// ADC: GOOGLE_APPLICATION_CREDENTIALS, then gcloud's user credentials
		// file, then the metadata server (Cloud Run, GCE, GKE).
		creds, err = findDefaultCredentials(tctx)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoCredentials, err)
		}
	} else {
		typ := gjson.GetBytes(data, "type").String()
		ct, ok := credentialTypes[typ]
		if !ok {
			return nil, fmt.Errorf("vertex_credentials: unsupported credential type %q (want service_account, authorized_user, external_account, external_account_authorized_user or impersonated_service_account)", typ)
		}
		if ct == google.ServiceAccount {
			// The key is otherwise parsed at the first token fetch; a broken
			// key file should stop start-up, not fail every request.
			if err := checkPrivateKey(gjson.GetBytes(data, "private_key").String()); err != nil {
				return nil, err
			}
		}
		creds, err = google.CredentialsFromJSONWithType(tctx, data, ct, Scope)
		if err != nil {
			return nil, fmt.Errorf("vertex_credentials (%s): %w", typ, err)
		}
	}
	quota := os.Getenv("GOOGLE_CLOUD_QUOTA_PROJECT")
	if quota == "" && creds.JSON != nil {
		quota = gjson.GetBytes(creds.JSON, "quota_project_id").String()
	}
	return &credential{
		ts:           oauth2.ReuseTokenSource(nil, creds.TokenSource),
		projectID:    creds.ProjectID,
		quotaProject: quota,
	}, nil
}

// staticCredential wraps a caller-supplied token source.
func staticCredential(ts oauth2.TokenSource) *credential {
	return &credential{ts: oauth2.ReuseTokenSource(nil, ts)}
}

// token returns a valid access token, waiting at most until ctx is done. A
// fetch that outlives ctx carries on in the background and its token is
// cached for the next request.
func (c *credential) token(ctx context.Context) (*oauth2.Token, error) {
	if ctx.Done() == nil {
		if err := c.resolve(); err != nil {
			return nil, err
		}
		return c.ts.Token()
	}
	type result struct {
		t   *oauth2.Token
		err error
	}
	ch := make(chan result, 1)
	go func() {
		if err := c.resolve(); err != nil {
			ch <- result{nil, err}
			return
		}
		t, err := c.ts.Token()
		ch <- result{t, err}
	}()
	select {
	case r := <-ch:
		return r.t, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// tokenHTTPClient is the client token fetches use: the provider's transport
// (proxies, custom roots) with an overall bound per fetch.
func tokenHTTPClient(base *http.Client) *http.Client {
	var rt http.RoundTripper
	if base != nil {
		rt = base.Transport
	}
	return &http.Client{Transport: rt, Timeout: tokenFetchTimeout}
}

// checkPrivateKey reports whether a service account's private_key is a PEM
// RSA key (PKCS#8 or PKCS#1), without ever quoting it.
func checkPrivateKey(k string) error {
	block, _ := pem.Decode([]byte(k))
	if block == nil {
		return errors.New("vertex_credentials: service_account private_key is not a PEM key")
	}
	if key, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if _, ok := key.(*rsa.PrivateKey); ok {
			return nil
		}
		return errors.New("vertex_credentials: service_account private_key is not an RSA key")
	}
	if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
		return errors.New("vertex_credentials: service_account private_key cannot be parsed")
	}
	return nil
}
