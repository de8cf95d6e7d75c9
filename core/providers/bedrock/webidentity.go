package bedrock

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"

	"github.com/claude-gateway/claude-gateway/core/config"
)

// GCPMetadataToken is the aws_web_identity_token value that makes a
// deployment running on Google Cloud (Cloud Run, GKE, GCE) use its service
// account's Google-signed ID token for AssumeRoleWithWebIdentity.
const GCPMetadataToken = "gcp-metadata"

// DefaultWebIdentityAudience is the audience of the Google ID token when
// neither aws_web_identity_audience nor an "oidc/google/<audience>" value
// names one. AWS checks it only through the role's trust policy
// (accounts.google.com:oaud), so it must match what the policy says.
const DefaultWebIdentityAudience = "sts.amazonaws.com"

// audienceParam is the litellm_params key naming the ID token's audience.
const audienceParam = "aws_web_identity_audience"

const (
	// envMetadataHost overrides the metadata server's host[:port], as in
	// Google's client libraries.
	envMetadataHost = "GCE_METADATA_HOST"
	// defaultMetadataHost is the metadata server's link-local address.
	// Google's libraries use the address rather than metadata.google.internal
	// so that no DNS search path is needed; it is documented as stable.
	defaultMetadataHost = "169.254.169.254"
	// identityPath answers a Google-signed OIDC ID token for the instance's
	// (or Cloud Run revision's) service account.
	identityPath = "/computeMetadata/v1/instance/service-accounts/default/identity"
	// metadataTimeout bounds one ID token fetch: the retriever has no
	// context, and the metadata server answers in milliseconds.
	metadataTimeout = 10 * time.Second
	// maxTokenBytes bounds what is read as a token (JWTs are a few KiB).
	maxTokenBytes = 64 << 10
)

// webIdentitySource resolves aws_web_identity_token (already expanded from
// os.environ/ by the config loader) to where each AssumeRoleWithWebIdentity
// gets its token. Tokens are read again at every credential refresh, since
// the ones in files and from the metadata server rotate:
//
//	gcp-metadata            Google ID token from the metadata server; audience
//	                        aws_web_identity_audience (default sts.amazonaws.com)
//	oidc/google/<audience>  the same with that audience (LiteLLM's spelling)
//	oidc/file/<path>        a file (LiteLLM)
//	oidc/env/<VAR>          an environment variable (LiteLLM)
//	oidc/env_path/<VAR>     the file an environment variable names (LiteLLM)
//	a value with a "/"      a file path (JWTs never contain "/")
//	anything else           the token itself
func webIdentitySource(p config.Params) (stscreds.IdentityTokenRetriever, error) {
	v := strings.TrimSpace(p.AWSWebIdentityToken)
	audience, _ := p.Raw[audienceParam].(string)
	if audience == "" {
		audience = DefaultWebIdentityAudience
	}
	if v == GCPMetadataToken {
		return newMetadataIDToken(audience), nil
	}
	if rest, ok := strings.CutPrefix(v, "oidc/"); ok {
		kind, arg, _ := strings.Cut(rest, "/")
		switch kind {
		case "google":
			if arg == "" {
				arg = audience
			}
			return newMetadataIDToken(arg), nil
		case "file":
			if arg == "" {
				return nil, errors.New("aws_web_identity_token: oidc/file/ needs a path")
			}
			return tokenFile("/" + strings.TrimPrefix(arg, "/")), nil
		case "env":
			if arg == "" {
				return nil, errors.New("aws_web_identity_token: oidc/env/ needs a variable name")
			}
			return envToken(arg), nil
		case "env_path":
			if arg == "" {
				return nil, errors.New("aws_web_identity_token: oidc/env_path/ needs a variable name")
			}
			return envPathToken(arg), nil
		}
		return nil, fmt.Errorf("aws_web_identity_token: unsupported OIDC provider %q (want google, file, env or env_path)", kind)
	}
	if strings.ContainsRune(v, '/') {
		// A missing file is a configuration error worth stopping for; its
		// content is read at each refresh.
		if _, err := os.Stat(v); err != nil {
			return nil, fmt.Errorf("aws_web_identity_token: %w", err)
		}
		return tokenFile(v), nil
	}
	return staticToken(v), nil
}

// staticToken is a web identity token given in the config itself.
type staticToken string

func (t staticToken) GetIdentityToken() ([]byte, error) { return []byte(t), nil }

// tokenFile reads the token from a file at each refresh (Kubernetes and
// other platforms rotate projected tokens in place).
type tokenFile string

func (f tokenFile) GetIdentityToken() ([]byte, error) {
	b, err := os.ReadFile(filepath.Clean(string(f)))
	if err != nil {
		// The error names the file, never its content.
		return nil, fmt.Errorf("web identity token file: %w", err)
	}
	return nonEmpty(bytes.TrimSpace(b), "file "+string(f))
}

// envToken reads the token from an environment variable at each refresh.
type envToken string

func (e envToken) GetIdentityToken() ([]byte, error) {
	return nonEmpty([]byte(strings.TrimSpace(os.Getenv(string(e)))), "environment variable "+string(e))
}

// envPathToken reads the token from the file an environment variable names.
type envPathToken string

func (e envPathToken) GetIdentityToken() ([]byte, error) {
	p := os.Getenv(string(e))
	if p == "" {
		return nil, fmt.Errorf("web identity token: environment variable %s is not set", string(e))
	}
	return tokenFile(p).GetIdentityToken()
}

func nonEmpty(b []byte, where string) ([]byte, error) {
	if len(b) == 0 {
		return nil, errors.New("web identity token: " + where + " is empty")
	}
	return b, nil
}

// metadataIDToken fetches a Google-signed ID token for the service account
// the workload runs as from the GCE/Cloud Run metadata server. The token's
// sub (and azp) is the service account's unique id and its aud the
// configured audience; AWS verifies its signature against accounts.google.com.
type metadataIDToken struct {
	audience string
	client   *http.Client
}

func newMetadataIDToken(audience string) *metadataIDToken {
	return &metadataIDToken{
		audience: audience,
		// Its own client: the metadata server is link-local and must never
		// be reached through a proxy (it refuses proxied requests anyway).
		client: &http.Client{
			Timeout: metadataTimeout,
			Transport: &http.Transport{
				Proxy:                 nil,
				DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
				ResponseHeaderTimeout: metadataTimeout,
				MaxIdleConnsPerHost:   1,
			},
		},
	}
}

// GetIdentityToken asks the metadata server for a fresh ID token. The host
// is read at each call, so GCE_METADATA_HOST set after start-up applies.
func (m *metadataIDToken) GetIdentityToken() ([]byte, error) {
	host := os.Getenv(envMetadataHost)
	if host == "" {
		host = defaultMetadataHost
	}
	q := url.Values{"audience": {m.audience}, "format": {"full"}}
	req, err := http.NewRequest(http.MethodGet, "http://"+host+identityPath+"?"+q.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("metadata server: %w", err)
	}
	// The metadata server refuses requests without it (an SSRF guard).
	req.Header.Set("Metadata-Flavor", "Google")
	resp, err := m.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metadata server ID token (is the gateway running on Google Cloud?): %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenBytes))
	if err != nil {
		return nil, fmt.Errorf("metadata server ID token: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		// Error answers are short plain text ("non-empty audience parameter
		// required"); no token is involved.
		msg := strings.TrimSpace(string(body[:min(len(body), 200)]))
		return nil, fmt.Errorf("metadata server ID token: HTTP %d: %s", resp.StatusCode, msg)
	}
	tok := bytes.TrimSpace(body)
	if bytes.Count(tok, []byte(".")) != 2 {
		return nil, errors.New("metadata server ID token: the answer is not a JWT")
	}
	return tok, nil
}
