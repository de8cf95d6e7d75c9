package vertextest

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
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
// signed (SigV4, recomputed here with aws-sdk-go-v2's signer) with f's
// credentials for f.Region, within AWS's 15-minute window.
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
	h := http.Header{}
	for _, kv := range sr.Headers {
		h.Add(kv.Key, kv.Value)
	}
	if tr := h.Get("X-Goog-Cloud-Target-Resource"); tr != poolAudience && tr != "https:"+poolAudience {
		return fmt.Errorf("x-goog-cloud-target-resource %q does not name the pool provider", tr)
	}
	sig, ok := parseAWSAuthorization(h.Get("Authorization"))
	if !ok {
		return fmt.Errorf("subject token has no AWS SigV4 Authorization header")
	}
	ex.AccessKeyID, ex.Region, ex.SignedHeaders = sig.accessKey, sig.region, sig.signedHeaders
	when, err := time.Parse("20060102T150405Z", h.Get("X-Amz-Date"))
	switch {
	case subtle.ConstantTimeCompare([]byte(sig.accessKey), []byte(f.AccessKeyID)) != 1:
		return fmt.Errorf("AWS: The security token included in the request is invalid.")
	case sig.region != f.Region || sig.service != "sts":
		return fmt.Errorf("AWS: Credential should be scoped to a valid region and service")
	case err != nil || sig.date != when.Format("20060102"):
		return fmt.Errorf("AWS: X-Amz-Date missing or not matching the credential scope")
	case time.Since(when).Abs() > 15*time.Minute:
		return fmt.Errorf("AWS: Signature expired")
	case f.SessionToken != "" && subtle.ConstantTimeCompare([]byte(h.Get("X-Amz-Security-Token")), []byte(f.SessionToken)) != 1:
		return fmt.Errorf("AWS: The security token included in the request is invalid.")
	case !slices.Contains(sig.signedHeaders, "host") || !slices.Contains(sig.signedHeaders, "x-amz-date") ||
		!slices.Contains(sig.signedHeaders, "x-goog-cloud-target-resource"):
		return fmt.Errorf("AWS: host, x-amz-date and x-goog-cloud-target-resource must be signed")
	}
	// Rebuild the request from the headers the workload says it signed and
	// sign it again with the secret.
	again, _ := http.NewRequest(sr.Method, sr.URL, nil)
	for _, name := range sig.signedHeaders {
		if name != "host" {
			again.Header[http.CanonicalHeaderKey(name)] = h.Values(name)
		}
	}
	empty := sha256.Sum256(nil)
	err = v4.NewSigner().SignHTTP(context.Background(),
		aws.Credentials{AccessKeyID: f.AccessKeyID, SecretAccessKey: f.SecretAccessKey, SessionToken: f.SessionToken},
		again, hex.EncodeToString(empty[:]), "sts", f.Region, when)
	want, ok := parseAWSAuthorization(again.Header.Get("Authorization"))
	if err != nil || !ok || !slices.Equal(want.signedHeaders, sig.signedHeaders) ||
		subtle.ConstantTimeCompare([]byte(want.signature), []byte(sig.signature)) != 1 {
		return fmt.Errorf("AWS: The request signature we calculated does not match the signature you provided.")
	}
	return nil
}

// awsSig is a parsed SigV4 Authorization header.
type awsSig struct {
	accessKey, date, region, service string
	signedHeaders                    []string
	signature                        string
}

func parseAWSAuthorization(authz string) (awsSig, bool) {
	rest, ok := strings.CutPrefix(authz, "AWS4-HMAC-SHA256 ")
	if !ok {
		return awsSig{}, false
	}
	var sig awsSig
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			scope := strings.Split(v, "/")
			if len(scope) != 5 || scope[4] != "aws4_request" {
				return awsSig{}, false
			}
			sig.accessKey, sig.date, sig.region, sig.service = scope[0], scope[1], scope[2], scope[3]
		case "SignedHeaders":
			sig.signedHeaders = strings.Split(v, ";")
		case "Signature":
			sig.signature = v
		}
	}
	return sig, sig.accessKey != "" && len(sig.signedHeaders) > 0 && sig.signature != ""
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
