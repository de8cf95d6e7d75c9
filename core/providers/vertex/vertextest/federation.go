package vertextest

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/claude-gateway/claude-gateway/core/providers/bedrock/bedrocktest"
)

// AWSFederation is a Workload Identity Federation pool provider for AWS, as
// `gcloud iam workload-identity-pools providers create-aws` sets it up: the
// fake's STS accepts GetCallerIdentity requests signed with these AWS
// credentials (the role credentials Lambda puts in the environment).
type AWSFederation struct {
	AccessKeyID, SecretAccessKey, SessionToken string
	// Region is AWS_REGION: the signature must be scoped to it and the
	// request addressed to sts.<Region>.amazonaws.com.
	Region string
	// Impersonate adds service_account_impersonation_url to the
	// configuration. The pool's principals then hold only
	// roles/iam.workloadIdentityUser on the service account: the federated
	// token works at the impersonation endpoint and nowhere else, and Vertex
	// accepts the service account's token. Without it the federated token
	// itself is granted Vertex access (direct resource access).
	Impersonate bool
}

// AWSExchange is one token exchange the fake's STS received with an AWS
// subject token.
type AWSExchange struct {
	// AccessKeyID, Region and SignedHeaders are from the signed request.
	AccessKeyID   string
	Region        string
	SignedHeaders []string
	// Rejected is the error answered ("" when a token was issued).
	Rejected string
}

const (
	awsSubjectTokenType = "urn:ietf:params:aws:token-type:aws4_request"
	accessTokenType     = "urn:ietf:params:oauth:token-type:access_token"
	// awsVerificationURL is what gcloud writes: the workload signs a
	// GetCallerIdentity call for its region, and Google's STS makes it.
	awsVerificationURL = "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
	// poolAudience names the pool provider; the signed request must carry
	// it as x-goog-cloud-target-resource.
	poolAudience = "//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/lambda-pool/providers/aws-account"
)

// AWSExternalAccountJSON is the credential configuration `gcloud iam
// workload-identity-pools create-cred-config --aws` writes for the pool
// provider f describes, with token_url (and service_account_impersonation_url)
// pointing at the fake. Its region_url and url (the EC2 metadata endpoints a
// workload without credentials in its environment would use) point at a
// trap the fake counts (AWSMetadataCalls). Calling it again replaces f.
func (s *Server) AWSExternalAccountJSON(f AWSFederation) []byte {
	s.mu.Lock()
	s.awsFed = &f
	s.mu.Unlock()
	cfg := map[string]any{
		"universe_domain":    "googleapis.com",
		"type":               "external_account",
		"audience":           poolAudience,
		"subject_token_type": awsSubjectTokenType,
		"token_url":          s.TokenURL,
		"credential_source": map[string]any{
			"environment_id":                 "aws1",
			"region_url":                     s.authBase + "/aws-metadata/latest/meta-data/placement/availability-zone",
			"url":                            s.authBase + "/aws-metadata/latest/meta-data/iam/security-credentials",
			"regional_cred_verification_url": awsVerificationURL,
		},
	}
	if f.Impersonate {
		cfg["service_account_impersonation_url"] = s.ImpersonationURL()
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	return b
}

// ImpersonationURL is the IAM Credentials generateAccessToken endpoint of
// the fake's service account.
func (s *Server) ImpersonationURL() string {
	return s.authBase + "/v1/projects/-/serviceAccounts/" + s.opts.ClientEmail + ":generateAccessToken"
}

// AWSExchanges returns the token exchanges made with AWS subject tokens.
func (s *Server) AWSExchanges() []AWSExchange {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.awsExchanges)
}

// Impersonations counts service account tokens issued by generateAccessToken.
func (s *Server) Impersonations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.impersonations
}

// AWSMetadataCalls counts requests to the AWS metadata trap (which answers 404).
func (s *Server) AWSMetadataCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.awsMetadataCalls
}

// exchangeAWS answers a token exchange whose subject token is a signed AWS
// GetCallerIdentity request. Google's STS makes that request and maps the
// caller's ARN to a principal; the fake instead verifies the signature with
// the secret it knows, which proves the same thing: the workload holds the
// AWS credentials.
func (s *Server) exchangeAWS(w http.ResponseWriter, form url.Values) {
	s.mu.Lock()
	f := s.awsFed
	s.mu.Unlock()
	ex := AWSExchange{}
	reject := func(code, desc string) {
		ex.Rejected = code + ": " + desc
		s.mu.Lock()
		s.awsExchanges = append(s.awsExchanges, ex)
		s.mu.Unlock()
		oauthError(w, code, desc)
	}
	switch {
	case f == nil:
		reject("invalid_target", "The target service indicated by the \"audience\" parameters is invalid.")
		return
	case form.Get("audience") != poolAudience:
		reject("invalid_target", "The target service indicated by the \"audience\" parameters is invalid.")
		return
	case form.Get("requested_token_type") != accessTokenType:
		reject("invalid_request", "Invalid requested_token_type.")
		return
	case !hasScope(form.Get("scope")):
		reject("invalid_scope", "Invalid scope.")
		return
	}
	if err := verifyAWSSubject(form.Get("subject_token"), *f, &ex); err != nil {
		reject("invalid_grant", err.Error())
		return
	}
	s.mu.Lock()
	s.awsExchanges = append(s.awsExchanges, ex)
	var tok string
	life := time.Hour
	if f.Impersonate {
		// Valid only for impersonation.
		tok = "ya29.federated-" + randHex(8)
		s.federated[tok] = time.Now().Add(life)
	} else {
		tok, life = s.issue()
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok, "expires_in": int(life / time.Second), "token_type": "Bearer",
		"issued_token_type": accessTokenType,
	})
}

// awsSignedRequest is the subject token: a serialized, signed request.
type awsSignedRequest struct {
	URL     string `json:"url"`
	Method  string `json:"method"`
	Headers []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"headers"`
}

// verifyAWSSubject checks the URL-encoded JSON of a signed GetCallerIdentity
// request: addressed to the regional STS, naming the pool provider, and
// signed with f's credentials for f.Region, as AWS checks it (bedrocktest's
// SigV4 verifier, which re-signs the request with aws-sdk-go-v2's signer).
func verifyAWSSubject(subject string, f AWSFederation, ex *AWSExchange) error {
	raw, err := url.QueryUnescape(subject)
	if err != nil {
		return fmt.Errorf("subject token is not URL-encoded")
	}
	var sr awsSignedRequest
	if err := json.Unmarshal([]byte(raw), &sr); err != nil {
		return fmt.Errorf("subject token is not a serialized AWS request")
	}
	u, err := url.Parse(sr.URL)
	if err != nil || u.Scheme != "https" || u.Host != "sts."+f.Region+".amazonaws.com" {
		return fmt.Errorf("subject token URL %q is not the regional STS GetCallerIdentity endpoint", sr.URL)
	}
	if q := u.Query(); sr.Method != http.MethodPost || q.Get("Action") != "GetCallerIdentity" || q.Get("Version") != "2011-06-15" {
		return fmt.Errorf("subject token is not a GetCallerIdentity call")
	}
	req := &http.Request{Method: sr.Method, URL: u, Host: u.Host, Header: http.Header{}}
	for _, kv := range sr.Headers {
		req.Header.Add(kv.Key, kv.Value)
	}
	if tr := req.Header.Get("X-Goog-Cloud-Target-Resource"); tr != poolAudience && tr != "https:"+poolAudience {
		return fmt.Errorf("x-goog-cloud-target-resource %q does not name the pool provider", tr)
	}
	role := bedrocktest.Credentials{AccessKeyID: f.AccessKeyID, SecretAccessKey: f.SecretAccessKey, SessionToken: f.SessionToken}
	signed, e := bedrocktest.VerifySigV4(req, nil, "sts", f.Region, func(id string) (bedrocktest.Credentials, bool) {
		return role, subtle.ConstantTimeCompare([]byte(id), []byte(role.AccessKeyID)) == 1
	})
	ex.AccessKeyID, ex.Region, ex.SignedHeaders = signed.AccessKeyID, signed.Region, signed.SignedHeaders
	if e != nil {
		return fmt.Errorf("AWS %s: %s", e.Type, e.Message)
	}
	if !slices.Contains(signed.SignedHeaders, "x-goog-cloud-target-resource") {
		return fmt.Errorf("x-goog-cloud-target-resource must be signed")
	}
	return nil
}

// serveImpersonation answers generateAccessToken as IAM Credentials does:
// the caller's bearer token must be a live federated token, the scope must
// include cloud-platform, and the token lives for the requested lifetime
// (or the fake's TokenLifetimes, when set).
func (s *Server) serveImpersonation(w http.ResponseWriter, r *http.Request, email string) {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	exp, known := s.federated[tok]
	s.mu.Unlock()
	if !known || !time.Now().Before(exp) {
		googleError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
		return
	}
	if email != s.opts.ClientEmail {
		googleError(w, http.StatusForbidden, "PERMISSION_DENIED",
			"Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).")
		return
	}
	var req struct {
		Scope    []string `json:"scope"`
		Lifetime string   `json:"lifetime"`
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err := json.Unmarshal(body, &req); err != nil || !slices.Contains(req.Scope, Scope) {
		googleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Request contains an invalid argument.")
		return
	}
	life, err := time.ParseDuration(req.Lifetime)
	if req.Lifetime == "" {
		life, err = time.Hour, nil
	}
	if err != nil || life <= 0 || life > 12*time.Hour {
		googleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "invalid lifetime "+req.Lifetime)
		return
	}
	s.mu.Lock()
	s.impersonations++
	issued, fakeLife := s.issue()
	if len(s.opts.TokenLifetimes) == 0 {
		s.tokens[issued] = time.Now().Add(life)
	} else {
		life = fakeLife
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{
		"accessToken": issued,
		"expireTime":  time.Now().Add(life).UTC().Format(time.RFC3339),
	})
}

// serveAWSMetadata is the trap for EC2 metadata requests: a workload with
// credentials in its environment (Lambda) must never come here.
func (s *Server) serveAWSMetadata(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.awsMetadataCalls++
	s.mu.Unlock()
	http.NotFound(w, r)
}
