package vertex

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/providers/vertex/vertextest"
)

// lambdaRole is the AWS role credentials Lambda puts in a function's
// environment, and the region it runs in.
type lambdaRole struct{ keyID, secret, session, region string }

func newLambdaRole() lambdaRole {
	r := func(n int) string {
		b := make([]byte, n)
		rand.Read(b)
		return hex.EncodeToString(b)
	}
	return lambdaRole{keyID: "ASIA" + strings.ToUpper(r(8)), secret: r(20), session: "IQoJb3JpZ2luX2VjE" + r(40), region: "eu-west-1"}
}

// setEnv makes the environment a Lambda function's: role credentials and
// AWS_REGION, nothing pointing at Google.
func (l lambdaRole) setEnv(t *testing.T) {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", l.keyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", l.secret)
	t.Setenv("AWS_SESSION_TOKEN", l.session)
	t.Setenv("AWS_REGION", l.region)
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
	t.Setenv("GCE_METADATA_HOST", "127.0.0.1:1") // any metadata call fails
}

func (l lambdaRole) federation(impersonate bool) vertextest.AWSFederation {
	return vertextest.AWSFederation{AccessKeyID: l.keyID, SecretAccessKey: l.secret, SessionToken: l.session,
		Region: l.region, Impersonate: impersonate}
}

// Lambda -> Vertex end to end: vertex_credentials is the configuration
// `gcloud iam workload-identity-pools create-cred-config --aws` writes, with
// its token_url (and impersonation URL) pointing at the fake. x/oauth2 signs
// a GetCallerIdentity request with the role credentials from the
// environment, the fake STS verifies that signature by re-signing it with
// aws-sdk-go-v2's signer, and Vertex accepts the token that comes out. One
// exchange serves 50 concurrent cold requests; a token about to expire is
// refreshed once.
func TestAWSWorkloadIdentityFederation(t *testing.T) {
	for _, tc := range []struct {
		name        string
		impersonate bool
		asFile      bool
	}{
		{"direct resource access", false, false},
		{"service account impersonation", true, false},
		{"configuration file path", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			role := newLambdaRole()
			role.setEnv(t)
			srv := vertextest.NewServer(t, vertextest.Options{TokenLifetimes: reuseLifetimes})
			creds := string(srv.AWSExternalAccountJSON(role.federation(tc.impersonate)))
			if tc.asFile {
				path := filepath.Join(t.TempDir(), "clientLibraryConfig-aws.json")
				if err := os.WriteFile(path, []byte(creds), 0o600); err != nil {
					t.Fatal(err)
				}
				creds = path
			}
			newProvider := func() *Provider {
				p, err := New(context.Background(), deployment(testModel, "us-east5", srv.Project(), srv.URL, creds), Options{})
				if err != nil {
					t.Fatal(err)
				}
				return p
			}
			exerciseTokenReuse(t, srv, newProvider)

			// Directly, every access token is an exchange (two providers with
			// their own caches, and one refresh). With impersonation, the
			// refresh of the service account token reuses the federated
			// token, which is still valid: one exchange per provider.
			wantEx, wantImp := 3, 0
			if tc.impersonate {
				wantEx, wantImp = 2, 3
			}
			ex := srv.AWSExchanges()
			if len(ex) != wantEx {
				t.Fatalf("%d AWS token exchanges, want %d: %+v", len(ex), wantEx, ex)
			}
			for _, e := range ex {
				if e.Rejected != "" || e.AccessKeyID != role.keyID || e.Region != role.region ||
					!slices.Contains(e.SignedHeaders, "x-amz-security-token") {
					t.Errorf("exchange %+v", e)
				}
			}
			if n := srv.Impersonations(); n != wantImp {
				t.Errorf("%d impersonations, want %d", n, wantImp)
			}
			if n := srv.AWSMetadataCalls(); n != 0 {
				t.Errorf("%d calls to the AWS metadata endpoints; the environment has the credentials", n)
			}
		})
	}
}

// The fake STS refuses what Google's STS (through AWS) refuses; the
// provider reports an authentication failure, retryable elsewhere, and
// never calls Vertex without a token.
func TestAWSWorkloadIdentityRejected(t *testing.T) {
	cases := []struct {
		name string
		env  func(t *testing.T, l lambdaRole)
		want string
	}{
		{"wrong secret", func(t *testing.T, l lambdaRole) { t.Setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret") }, "signature"},
		{"other session token", func(t *testing.T, l lambdaRole) { t.Setenv("AWS_SESSION_TOKEN", "other") }, "security token"},
		{"other access key", func(t *testing.T, l lambdaRole) { t.Setenv("AWS_ACCESS_KEY_ID", "ASIAOTHER") }, "security token"},
		{"other region", func(t *testing.T, l lambdaRole) { t.Setenv("AWS_REGION", "us-east-1") }, "regional STS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			role := newLambdaRole()
			role.setEnv(t)
			srv := vertextest.NewServer(t, vertextest.Options{})
			creds := string(srv.AWSExternalAccountJSON(role.federation(true)))
			tc.env(t, role)
			p, err := New(context.Background(), deployment(testModel, "us-east5", srv.Project(), srv.URL, creds), Options{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Send(context.Background(), messagesRequest(false))
			e := asLLMError(t, err)
			if e.Status != http.StatusUnauthorized || e.Type != llm.ErrAuthentication || !e.Retryable {
				t.Errorf("got %+v", e)
			}
			ex := srv.AWSExchanges()
			if len(ex) != 1 || !strings.Contains(ex[0].Rejected, tc.want) {
				t.Errorf("exchanges %+v, want one rejected for %q", ex, tc.want)
			}
			if len(srv.Calls()) != 0 || srv.Impersonations() != 0 {
				t.Error("Vertex or impersonation called without a valid federated token")
			}
		})
	}
}

// GATEWAY_VERTEX_CREDENTIALS serves deployments without vertex_credentials
// (how template.yaml hands a Lambda its configuration); a deployment's own
// vertex_credentials wins, and a bad value is reported under the variable's name.
func TestEnvCredentials(t *testing.T) {
	role := newLambdaRole()
	role.setEnv(t)
	srv := vertextest.NewServer(t, vertextest.Options{})
	wif := string(srv.AWSExternalAccountJSON(role.federation(true)))

	t.Setenv(EnvCredentials, wif)
	p, err := New(context.Background(), deployment(testModel, "us-east5", srv.Project(), srv.URL, ""), Options{})
	if err != nil {
		t.Fatal(err)
	}
	concurrently(t, p, 5)
	if n := len(srv.AWSExchanges()); n != 1 {
		t.Errorf("%d exchanges, want 1", n)
	}

	missing := filepath.Join(t.TempDir(), "missing.json")
	t.Setenv(EnvCredentials, missing)
	_, err = New(context.Background(), deployment(testModel, "us-east5", srv.Project(), srv.URL, ""), Options{})
	if err == nil || !strings.Contains(err.Error(), EnvCredentials) {
		t.Errorf("bad %s: err %v", EnvCredentials, err)
	}
	p, err = New(context.Background(), deployment(testModel, "us-east5", srv.Project(), srv.URL, wif), Options{})
	if err != nil {
		t.Fatalf("the deployment's vertex_credentials must win over %s: %v", EnvCredentials, err)
	}
	concurrently(t, p, 2)
}
