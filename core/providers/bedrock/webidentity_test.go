package bedrock_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/providers/bedrock"
	"github.com/claude-gateway/claude-gateway/core/providers/bedrock/bedrocktest"
	"github.com/claude-gateway/claude-gateway/core/providers/vertex/vertextest"
)

const webIdentityRole = "arn:aws:iam::123456789012:role/gateway-from-cloud-run"

// cloudRun is the setting of a gateway on Cloud Run reaching Bedrock: a
// metadata server (GCE_METADATA_HOST) that issues Google-signed ID tokens, a
// fake AWS STS whose role trusts accounts.google.com for the service
// account's unique id and one audience, and a fake Bedrock that accepts only
// what STS issued.
type cloudRun struct {
	google  *vertextest.Server
	bedrock *bedrocktest.Server
	sts     *bedrocktest.STS
}

func newCloudRun(t *testing.T, trustedAudience string) *cloudRun {
	t.Helper()
	isolateEnv(t)
	c := &cloudRun{google: vertextest.NewServer(t, vertextest.Options{})}
	t.Setenv("GCE_METADATA_HOST", c.google.MetadataHost)
	c.bedrock = bedrocktest.NewServer(t, bedrocktest.Options{Region: "us-west-2"})
	// The caller has no AWS credentials at all: AssumeRoleWithWebIdentity
	// is unsigned, and Bedrock accepts only the assumed role's credentials.
	c.sts = bedrocktest.NewSTS(t, c.bedrock, c.bedrock.Region, bedrocktest.RandomCredentials(false), 0)
	c.sts.CheckWebIdentity(func(tok string) error {
		// As AWS: the signature against accounts.google.com's keys, then
		// the trust policy: accounts.google.com:aud is the azp claim,
		// :oaud the aud claim, :sub the service account's unique id.
		claims, err := c.google.VerifyIDToken(tok, trustedAudience)
		if err != nil {
			return err
		}
		if claims["sub"] != vertextest.ServiceAccountID || claims["azp"] != vertextest.ServiceAccountID {
			return &bedrocktest.WebIdentityRejection{Code: "AccessDenied", Message: "Not authorized to perform sts:AssumeRoleWithWebIdentity"}
		}
		return nil
	})
	return c
}

// deployment is a Bedrock deployment with no AWS keys that assumes the role
// with the given aws_web_identity_token.
func (c *cloudRun) deployment(token string, mods ...func(*config.Params)) config.Deployment {
	return deployment(c.bedrock, append([]func(*config.Params){noKeys, func(p *config.Params) {
		p.AWSRoleName, p.AWSSessionName, p.AWSWebIdentityToken = webIdentityRole, "claude-gateway", token
		p.AWSSTSEndpoint = c.sts.URL
	}}, mods...)...)
}

// sendConcurrently makes n non-streaming calls at once and one streaming call.
func sendConcurrently(t *testing.T, p *bedrock.Provider, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := p.Send(context.Background(), request(false))
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	sendSome(t, p, 1)
}

// Cloud Run -> Bedrock end to end: the ID token comes from the metadata
// server with the configured audience, STS verifies it and issues
// credentials once, and Bedrock verifies SigV4 signatures made with exactly
// those credentials, session token included.
func TestWebIdentityFromGCPMetadata(t *testing.T) {
	cases := []struct {
		name, token, audienceParam, audience string
		stsEnv                               bool
	}{
		{name: "gcp-metadata default audience", token: "gcp-metadata", audience: bedrock.DefaultWebIdentityAudience},
		{name: "gcp-metadata with aws_web_identity_audience", token: "gcp-metadata", audienceParam: "https://gateway.example.com", audience: "https://gateway.example.com"},
		{name: "litellm oidc/google/", token: "oidc/google/https://gateway.example.com", audience: "https://gateway.example.com"},
		{name: "STS endpoint from AWS_ENDPOINT_URL_STS", token: "gcp-metadata", audience: bedrock.DefaultWebIdentityAudience, stsEnv: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCloudRun(t, tc.audience)
			d := c.deployment(tc.token, func(p *config.Params) {
				if tc.audienceParam != "" {
					p.Raw = map[string]any{"aws_web_identity_audience": tc.audienceParam}
				}
				if tc.stsEnv {
					p.AWSSTSEndpoint = ""
				}
			})
			if tc.stsEnv {
				t.Setenv("AWS_ENDPOINT_URL_STS", c.sts.URL)
			}
			p := newProvider(t, d, bedrock.Options{})
			if c.sts.Calls() != 0 || len(c.google.IDTokenAudiences()) != 0 {
				t.Fatal("credentials fetched at startup")
			}
			sendConcurrently(t, p, 30)

			log := c.sts.Log()
			if len(log) != 1 {
				t.Fatalf("STS called %d times for 31 calls, want 1: %+v", len(log), log)
			}
			if got := log[0]; got.Action != "AssumeRoleWithWebIdentity" || got.RoleArn != webIdentityRole ||
				got.RoleSessionName != "claude-gateway" || got.Rejected != "" {
				t.Errorf("STS call %+v", got)
			}
			if auds := c.google.IDTokenAudiences(); len(auds) != 1 || auds[0] != tc.audience {
				t.Errorf("ID tokens requested for audiences %q, want one for %q", auds, tc.audience)
			}
			calls := c.bedrock.Calls()
			if len(calls) != 31 {
				t.Fatalf("Bedrock saw %d calls, want 31", len(calls))
			}
			for _, call := range calls {
				if call.Rejected != "" || call.AccessKeyID != log[0].Issued || call.Header.Get("X-Amz-Security-Token") == "" {
					t.Fatalf("call signed with %q (session token %t), rejected %q; want the assumed role's %q",
						call.AccessKeyID, call.Header.Get("X-Amz-Security-Token") != "", call.Rejected, log[0].Issued)
				}
			}
		})
	}
}

// Credentials are reused until they enter the refresh window, then
// refreshed exactly once however many requests arrive together.
func TestWebIdentityRefreshBeforeExpiry(t *testing.T) {
	c := newCloudRun(t, bedrock.DefaultWebIdentityAudience)
	// The first credentials expire in 4 minutes, inside the 5-minute
	// refresh window: the next request must replace them.
	c.sts.SetLifetimes(4*time.Minute, time.Hour)
	p := newProvider(t, c.deployment("gcp-metadata"), bedrock.Options{})
	sendSome(t, p, 1)
	if n := c.sts.Calls(); n != 1 {
		t.Fatalf("%d STS calls after the first request", n)
	}
	sendConcurrently(t, p, 40)
	if n := c.sts.Calls(); n != 2 {
		t.Fatalf("%d STS calls after credentials came due, want 2 (one refresh for 41 requests)", n)
	}
	sendConcurrently(t, p, 20)
	if n := c.sts.Calls(); n != 2 {
		t.Fatalf("%d STS calls with fresh credentials, want still 2", n)
	}
	log := c.sts.Log()
	if auds := c.google.IDTokenAudiences(); len(auds) != 2 {
		t.Errorf("%d ID tokens fetched for 2 STS calls", len(auds))
	}
	calls := c.bedrock.Calls()
	if calls[0].AccessKeyID != log[0].Issued {
		t.Errorf("first call signed with %q, want %q", calls[0].AccessKeyID, log[0].Issued)
	}
	for _, call := range calls[1:] {
		if call.AccessKeyID != log[1].Issued {
			t.Fatalf("call after refresh signed with %q, want %q", call.AccessKeyID, log[1].Issued)
		}
	}
}

// Failures to get a token or credentials are credentials errors: retryable
// on another deployment, and Bedrock is never called.
func TestWebIdentityFailures(t *testing.T) {
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}
	cases := []struct {
		name  string
		setup func(t *testing.T, c *cloudRun) config.Deployment
		want  string
	}{
		{"audience not trusted by the role", func(t *testing.T, c *cloudRun) config.Deployment {
			return c.deployment("oidc/google/https://other.example.com")
		}, "InvalidIdentityToken"},
		{"token not signed by Google", func(t *testing.T, c *cloudRun) config.Deployment {
			other := vertextest.NewServer(t, vertextest.Options{})
			t.Setenv("GCE_METADATA_HOST", other.MetadataHost)
			return c.deployment("gcp-metadata")
		}, "InvalidIdentityToken"},
		{"no metadata server", func(t *testing.T, c *cloudRun) config.Deployment {
			t.Setenv("GCE_METADATA_HOST", closed())
			return c.deployment("gcp-metadata")
		}, "metadata server"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCloudRun(t, bedrock.DefaultWebIdentityAudience)
			p := newProvider(t, tc.setup(t, c), bedrock.Options{})
			_, err := p.Send(context.Background(), request(false))
			le := llmError(t, err)
			if !le.Retryable || !strings.Contains(le.Message, "credentials") || !strings.Contains(le.Message, tc.want) {
				t.Errorf("got %+v, want a retryable credentials error mentioning %q", le, tc.want)
			}
			if len(c.bedrock.Calls()) != 0 {
				t.Error("Bedrock called without credentials")
			}
		})
	}
}

// aws_web_identity_token as a file, an environment variable or the token
// itself: each is read when credentials are fetched.
func TestWebIdentityTokenSources(t *testing.T) {
	c := newCloudRun(t, "")
	c.sts.CheckWebIdentity(nil)
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("eyJ.file.token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GATEWAY_OIDC_TOKEN", "eyJ.env.token")
	t.Setenv("GATEWAY_OIDC_TOKEN_FILE", file)
	cases := []struct{ value, want string }{
		{file, "eyJ.file.token"},
		{"oidc/file" + file, "eyJ.file.token"},
		{"oidc/env/GATEWAY_OIDC_TOKEN", "eyJ.env.token"},
		{"oidc/env_path/GATEWAY_OIDC_TOKEN_FILE", "eyJ.file.token"},
		{"eyJ.literal.token", "eyJ.literal.token"},
	}
	for _, tc := range cases {
		before := len(c.sts.Log())
		p := newProvider(t, c.deployment(tc.value), bedrock.Options{})
		sendSome(t, p, 2)
		log := c.sts.Log()[before:]
		if len(log) != 1 || log[0].WebIdentityToken != tc.want || log[0].Rejected != "" {
			t.Errorf("%s: STS calls %+v, want one with token %q", tc.value, log, tc.want)
		}
	}

	for _, bad := range []string{filepath.Join(dir, "missing"), "oidc/github/x", "oidc/env/"} {
		if _, err := bedrock.New(context.Background(), c.deployment(bad), bedrock.Options{}); err == nil {
			t.Errorf("aws_web_identity_token %q accepted at startup", bad)
		}
	}
	if _, err := bedrock.New(context.Background(), deployment(c.bedrock, noKeys, func(p *config.Params) {
		p.AWSWebIdentityToken = "gcp-metadata"
	}), bedrock.Options{}); err == nil {
		t.Error("aws_web_identity_token without aws_role_name accepted")
	}
}
