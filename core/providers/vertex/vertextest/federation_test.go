package vertextest

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/tidwall/gjson"
)

var testFed = AWSFederation{AccessKeyID: "ASIAFAKEKEY", SecretAccessKey: "fake-secret", SessionToken: "fake-session", Region: "eu-west-1"}

// subjectToken signs a GetCallerIdentity request with aws-sdk-go-v2's own
// signer (not x/oauth2's) and serializes it as Google's STS expects; edit
// may change the request after signing.
func subjectToken(t *testing.T, f AWSFederation, when time.Time, edit func(h http.Header)) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "https://sts."+f.Region+".amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15", nil)
	req.Header.Set("x-goog-cloud-target-resource", poolAudience)
	empty := sha256.Sum256(nil)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: f.AccessKeyID,
		SecretAccessKey: f.SecretAccessKey, SessionToken: f.SessionToken}, req, hex.EncodeToString(empty[:]), "sts", f.Region, when); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(req.Header)
	}
	sr := map[string]any{"url": req.URL.String(), "method": "POST"}
	var hs []map[string]string
	for k, vs := range req.Header {
		for _, v := range vs {
			hs = append(hs, map[string]string{"key": k, "value": v})
		}
	}
	sr["headers"] = hs
	b, _ := json.Marshal(sr)
	return url.QueryEscape(string(b))
}

func exchange(t *testing.T, s *Server, audience, subject string) (int, string) {
	t.Helper()
	form := url.Values{
		"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "audience": {audience},
		"scope": {Scope}, "requested_token_type": {accessTokenType},
		"subject_token": {subject}, "subject_token_type": {awsSubjectTokenType},
	}
	resp, err := http.PostForm(s.TokenURL, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func callVertex(t *testing.T, s *Server, token string) int {
	t.Helper()
	body := `{"anthropic_version":"vertex-2023-10-16","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1/projects/"+s.Project()+
		"/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func impersonate(t *testing.T, s *Server, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"scope":["`+Scope+`"],"lifetime":"3600s"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The fake STS accepts only a GetCallerIdentity request signed with the
// pool's AWS credentials, unaltered and recent, for the pool's audience.
func TestFakeAWSExchangeChecks(t *testing.T) {
	now := time.Now().UTC()
	other := testFed
	other.SecretAccessKey = "other"
	cases := []struct {
		name     string
		audience string
		subject  func(t *testing.T) string
		ok       bool
	}{
		{"valid", poolAudience, func(t *testing.T) string { return subjectToken(t, testFed, now, nil) }, true},
		{"other audience", poolAudience + "-x", func(t *testing.T) string { return subjectToken(t, testFed, now, nil) }, false},
		{"wrong secret", poolAudience, func(t *testing.T) string { return subjectToken(t, other, now, nil) }, false},
		{"stale signature", poolAudience, func(t *testing.T) string { return subjectToken(t, testFed, now.Add(-20*time.Minute), nil) }, false},
		{"target resource changed after signing", poolAudience, func(t *testing.T) string {
			return subjectToken(t, testFed, now, func(h http.Header) { h.Set("x-goog-cloud-target-resource", "https:"+poolAudience) })
		}, false},
		{"session token dropped", poolAudience, func(t *testing.T) string {
			return subjectToken(t, testFed, now, func(h http.Header) { h.Del("X-Amz-Security-Token") })
		}, false},
		{"not a signed request", poolAudience, func(t *testing.T) string { return "subject-token" }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := NewServer(t, Options{})
			s.AWSExternalAccountJSON(testFed)
			status, body := exchange(t, s, c.audience, c.subject(t))
			if c.ok != (status == http.StatusOK) {
				t.Fatalf("%d %s", status, body)
			}
			if !c.ok {
				if gjson.Get(body, "error").Str == "" {
					t.Errorf("not an OAuth error: %s", body)
				}
				return
			}
			// Direct resource access: the federated token is a Vertex token.
			if st := callVertex(t, s, gjson.Get(body, "access_token").Str); st != http.StatusOK {
				t.Errorf("Vertex answered %d to the federated token", st)
			}
		})
	}
}

// With impersonation, the federated token opens only generateAccessToken
// for the service account, and Vertex takes only the token that returns.
func TestFakeImpersonationChecks(t *testing.T) {
	s := NewServer(t, Options{})
	f := testFed
	f.Impersonate = true
	cfg := s.AWSExternalAccountJSON(f)
	if got := gjson.GetBytes(cfg, "service_account_impersonation_url").Str; got != s.ImpersonationURL() {
		t.Fatalf("impersonation url %q", got)
	}
	status, body := exchange(t, s, poolAudience, subjectToken(t, f, time.Now(), nil))
	if status != http.StatusOK {
		t.Fatalf("%d %s", status, body)
	}
	federated := gjson.Get(body, "access_token").Str
	if st := callVertex(t, s, federated); st != http.StatusUnauthorized {
		t.Errorf("Vertex answered %d to a federated token without impersonation", st)
	}
	if st, b := impersonate(t, s, s.ImpersonationURL(), s.NewAccessToken()); st != http.StatusUnauthorized {
		t.Errorf("impersonation with a non-federated token: %d %s", st, b)
	}
	otherSA := strings.Replace(s.ImpersonationURL(), "gateway@", "other@", 1)
	if st, b := impersonate(t, s, otherSA, federated); st != http.StatusForbidden {
		t.Errorf("impersonating another service account: %d %s", st, b)
	}
	st, b := impersonate(t, s, s.ImpersonationURL(), federated)
	if st != http.StatusOK {
		t.Fatalf("impersonation: %d %s", st, b)
	}
	exp, err := time.Parse(time.RFC3339, gjson.Get(b, "expireTime").Str)
	if err != nil || exp.Before(time.Now().Add(59*time.Minute)) {
		t.Errorf("expireTime %q for a 3600s lifetime", gjson.Get(b, "expireTime").Str)
	}
	if st := callVertex(t, s, gjson.Get(b, "accessToken").Str); st != http.StatusOK {
		t.Errorf("Vertex answered %d to the service account token", st)
	}
}

// The metadata server's ID tokens verify only with the right audience and
// unaltered, and only from the server that issued them.
func TestFakeIDTokens(t *testing.T) {
	s := NewServer(t, Options{})
	get := func(query string, flavor bool) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+s.MetadataHost+"/computeMetadata/v1/instance/service-accounts/default/identity"+query, nil)
		if flavor {
			req.Header.Set("Metadata-Flavor", "Google")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, _ := get("?audience=sts.amazonaws.com", false); st != http.StatusForbidden {
		t.Errorf("no Metadata-Flavor: %d", st)
	}
	if st, _ := get("", true); st != http.StatusBadRequest {
		t.Errorf("no audience: %d", st)
	}
	st, tok := get("?audience=sts.amazonaws.com&format=full", true)
	if st != http.StatusOK {
		t.Fatalf("%d %s", st, tok)
	}
	claims, err := s.VerifyIDToken(tok, "sts.amazonaws.com")
	if err != nil {
		t.Fatal(err)
	}
	if claims["sub"] != ServiceAccountID || claims["azp"] != ServiceAccountID || claims["email"] != s.opts.ClientEmail {
		t.Errorf("claims %v", claims)
	}
	if _, err := s.VerifyIDToken(tok, "other"); err == nil {
		t.Error("wrong audience verified")
	}
	parts := strings.Split(tok, ".")
	claims["sub"] = "999"
	payload, _ := json.Marshal(claims)
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2]
	if _, err := s.VerifyIDToken(forged, "sts.amazonaws.com"); err == nil {
		t.Error("altered token verified")
	}
	if _, err := NewServer(t, Options{}).VerifyIDToken(tok, "sts.amazonaws.com"); err == nil {
		t.Error("token verified by a server that did not issue it")
	}
}
