package bedrocktest

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// sigv4 is a parsed "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..." header.
type sigv4 struct {
	accessKey, date, region, service string
	signedHeaders                    []string
	signature                        string
}

func parseSigV4(authz string) (sigv4, bool) {
	rest, ok := strings.CutPrefix(authz, "AWS4-HMAC-SHA256 ")
	if !ok {
		return sigv4{}, false
	}
	var sig sigv4
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			scope := strings.Split(v, "/")
			if len(scope) != 5 || scope[4] != "aws4_request" {
				return sigv4{}, false
			}
			sig.accessKey, sig.date, sig.region, sig.service = scope[0], scope[1], scope[2], scope[3]
		case "SignedHeaders":
			sig.signedHeaders = strings.Split(v, ";")
		case "Signature":
			sig.signature = v
		}
	}
	ok = sig.accessKey != "" && len(sig.signedHeaders) > 0 && sig.signature != ""
	return sig, ok
}

// maxSkew is how far X-Amz-Date may be from the server's clock, as in AWS.
const maxSkew = 5 * time.Minute

// verifySigV4 checks a request to this fake (see VerifySigV4).
func (s *Server) verifySigV4(r *http.Request, body []byte, service string, call *Call) *Exception {
	signed, e := VerifySigV4(r, body, service, s.Region, s.credentials)
	call.AccessKeyID = signed.AccessKeyID
	return e
}

// Signed is what a verified SigV4 signature says.
type Signed struct {
	// AccessKeyID signed the request for Region.
	AccessKeyID, Region string
	// SignedHeaders are the (lower-case) headers the signature covers.
	SignedHeaders []string
}

// VerifySigV4 checks a request's signature the way AWS does: it rebuilds the
// request from the headers the client says it signed, signs it again with the
// secret lookup holds for the access key, and compares signatures. The
// signature must be scoped to service and region, at most 5 minutes old, and
// carry the session token of temporary credentials. Other fakes use it for
// AWS requests they receive second-hand (Google's STS verifies a signed
// GetCallerIdentity request this way); r.Host names the signed host.
func VerifySigV4(r *http.Request, body []byte, service, region string, lookup func(accessKeyID string) (Credentials, bool)) (signed Signed, e *Exception) {
	deny := func(typ, msg string) *Exception {
		return &Exception{Type: typ, Message: msg, Status: http.StatusForbidden}
	}
	authz := r.Header.Get("Authorization")
	if authz == "" {
		return signed, deny("MissingAuthenticationToken", "Missing Authentication Token")
	}
	sig, ok := parseSigV4(authz)
	if !ok {
		return signed, deny("IncompleteSignatureException", "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.")
	}
	signed = Signed{AccessKeyID: sig.accessKey, Region: sig.region, SignedHeaders: sig.signedHeaders}
	creds, known := lookup(sig.accessKey)
	if !known {
		return signed, deny("UnrecognizedClientException", "The security token included in the request is invalid.")
	}
	if sig.region != region {
		return signed, deny("InvalidSignatureException", "Credential should be scoped to a valid region.")
	}
	if sig.service != service {
		return signed, deny("InvalidSignatureException", "Credential should be scoped to correct service: '"+service+"'.")
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil || sig.date != when.Format("20060102") {
		return signed, deny("IncompleteSignatureException", "Date must be in ISO-8601 'basic format' and match the credential scope.")
	}
	if d := time.Since(when); d > maxSkew || d < -maxSkew {
		return signed, deny("InvalidSignatureException", "Signature expired: "+r.Header.Get("X-Amz-Date")+" is now earlier or later than the allowed 5 minutes.")
	}
	if creds.SessionToken != "" &&
		subtle.ConstantTimeCompare([]byte(r.Header.Get("X-Amz-Security-Token")), []byte(creds.SessionToken)) != 1 {
		return signed, deny("UnrecognizedClientException", "The security token included in the request is invalid.")
	}
	if !slices.Contains(sig.signedHeaders, "host") || !slices.Contains(sig.signedHeaders, "x-amz-date") {
		return signed, deny("InvalidSignatureException", "'Host' and 'X-Amz-Date' must be signed.")
	}

	u := *r.URL
	u.Scheme, u.Host = "http", r.Host
	again := &http.Request{Method: r.Method, URL: &u, Host: r.Host, Header: http.Header{}}
	for _, h := range sig.signedHeaders {
		switch h {
		case "host":
		case "content-length":
			again.ContentLength = r.ContentLength
		default:
			if v := r.Header.Values(h); len(v) > 0 {
				again.Header[http.CanonicalHeaderKey(h)] = v
			}
		}
	}
	sum := sha256.Sum256(body)
	err = v4.NewSigner().SignHTTP(context.Background(),
		aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, SessionToken: creds.SessionToken},
		again, hex.EncodeToString(sum[:]), service, region, when)
	want, ok2 := parseSigV4(again.Header.Get("Authorization"))
	if err != nil || !ok2 ||
		!slices.Equal(want.signedHeaders, sig.signedHeaders) ||
		subtle.ConstantTimeCompare([]byte(want.signature), []byte(sig.signature)) != 1 {
		return signed, deny("InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return signed, nil
}

// queryOf is r's form for query-protocol services (STS).
func queryOf(r *http.Request, body []byte) url.Values {
	v, _ := url.ParseQuery(string(body))
	for k, vals := range r.URL.Query() {
		v[k] = append(v[k], vals...)
	}
	return v
}
