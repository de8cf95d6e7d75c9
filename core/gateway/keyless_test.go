package gateway_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/claude-gateway/claude-gateway/core/providers/bedrock/bedrocktest"
	"github.com/claude-gateway/claude-gateway/core/providers/vertex"
	"github.com/claude-gateway/claude-gateway/core/providers/vertex/vertextest"
)

// noCloudEnv leaves the process with no AWS or Google credentials of its own.
func noCloudEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
		"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_REGION_NAME", "AWS_BEARER_TOKEN_BEDROCK",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS",
		"GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_QUOTA_PROJECT", vertex.EnvCredentials,
	} {
		t.Setenv(k, "")
	}
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("HOME", dir)
	t.Setenv("GCE_METADATA_HOST", "127.0.0.1:1")
}

// keylessGateway builds the gateway from YAML as config.LoadFile would, with
// os.environ/ resolved from env, and fails on any config warning.
func keylessGateway(t *testing.T, yaml string, env map[string]string) string {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) > 0 {
		t.Fatalf("config warnings: %q", cfg.Warnings)
	}
	gw, err := gateway.Build(context.Background(), cfg, gateway.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(func() { srv.Close(); gw.Close(context.Background()) })
	return srv.URL
}

// askBoth sends n rounds of a streaming and a non-streaming call to each
// model and checks every answer.
func askBoth(t *testing.T, url string, n int, models ...string) {
	t.Helper()
	for range n {
		for _, m := range models {
			for _, stream := range []string{"true", "false"} {
				body := strings.NewReplacer(`"claude-sonnet"`, `"`+m+`"`, `"stream":true`, `"stream":`+stream).Replace(simpleBody)
				resp := post(t, url+"/v1/messages", body, nil)
				b, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s stream=%s: %d %s", m, stream, resp.StatusCode, b)
				}
				if stream == "true" && !strings.Contains(string(b), "event: message_stop") {
					t.Fatalf("%s: stream did not finish: %s", m, b)
				}
			}
		}
	}
}

// On Cloud Run the gateway has a Google service account and nothing else:
// Vertex through the metadata server's access token, Bedrock through
// AssumeRoleWithWebIdentity with the metadata server's ID token. No keys in
// the config or the environment.
func TestKeylessCloudRun(t *testing.T) {
	// Both Bedrock APIs: InvokeModel and the Messages API sign with the
	// same assumed-role credentials.
	for _, api := range []string{"invoke", "messages"} {
		t.Run(api, func(t *testing.T) { testKeylessCloudRun(t, api) })
	}
}

func testKeylessCloudRun(t *testing.T, api string) {
	noCloudEnv(t)
	google := vertextest.NewServer(t, vertextest.Options{})
	t.Setenv("GCE_METADATA_HOST", google.MetadataHost)
	br := bedrocktest.NewServer(t, bedrocktest.Options{Region: "us-west-2"})
	sts := bedrocktest.NewSTS(t, br, br.Region, bedrocktest.RandomCredentials(false), 0)
	const audience = "https://claude-gateway.example.com"
	sts.CheckWebIdentity(func(tok string) error {
		claims, err := google.VerifyIDToken(tok, audience)
		if err == nil && claims["sub"] != vertextest.ServiceAccountID {
			err = &bedrocktest.WebIdentityRejection{Code: "AccessDenied", Message: "Not authorized to perform sts:AssumeRoleWithWebIdentity"}
		}
		return err
	})
	url := keylessGateway(t, `
model_list:
  - model_name: claude-bedrock
    litellm_params:
      model: bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0
      bedrock_api: `+api+`
      aws_region_name: us-west-2
      aws_role_name: arn:aws:iam::123456789012:role/claude-gateway-bedrock
      aws_session_name: claude-gateway
      aws_web_identity_token: gcp-metadata
      aws_web_identity_audience: `+audience+`
      aws_sts_endpoint: `+sts.URL+`
      api_base: `+br.URL+`
  - model_name: claude-vertex
    litellm_params:
      model: vertex_ai/claude-sonnet-4-5@20250929
      vertex_project: `+google.Project()+`
      vertex_location: us-east5
      api_base: `+google.URL+`
general_settings:
  master_key: os.environ/MASTER
`, map[string]string{"MASTER": masterKey})
	askBoth(t, url, 5, "claude-bedrock", "claude-vertex")
	if nb, nv := len(br.Calls()), len(google.Calls()); nb != 10 || nv != 10 {
		t.Fatalf("Bedrock saw %d calls and Vertex %d, want 10 each", nb, nv)
	}

	log := sts.Log()
	if len(log) != 1 || log[0].Action != "AssumeRoleWithWebIdentity" || log[0].Rejected != "" {
		t.Fatalf("STS calls for 10 Bedrock requests: %+v", log)
	}
	for _, c := range br.Calls() {
		if c.Rejected != "" || c.AccessKeyID != log[0].Issued || c.Header.Get("X-Amz-Security-Token") == "" {
			t.Fatalf("Bedrock call signed with %q, rejected %q; want the assumed role's %q", c.AccessKeyID, c.Rejected, log[0].Issued)
		}
	}
	if auds := google.IDTokenAudiences(); len(auds) != 1 || auds[0] != audience {
		t.Errorf("ID tokens for %q", auds)
	}
	if n := google.TokenFetches(); n != 1 {
		t.Errorf("%d Google access tokens for 10 Vertex requests, want 1", n)
	}
}

// On Lambda the gateway has its function's IAM role and nothing else:
// Bedrock with the role's credentials from the environment, Vertex through
// Workload Identity Federation with the same credentials. The credential
// configuration holds no secret and reaches the function in
// GATEWAY_VERTEX_CREDENTIALS (template.yaml's VertexCredentialConfig); the
// config names it, or says nothing and the variable applies.
func TestKeylessLambda(t *testing.T) {
	for _, tc := range []struct{ name, vertexCredentials string }{
		{"config names the variable", "\n      vertex_credentials: os.environ/GATEWAY_VERTEX_CREDENTIALS"},
		{"unchanged config", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noCloudEnv(t)
			role := bedrocktest.RandomCredentials(true)
			t.Setenv("AWS_ACCESS_KEY_ID", role.AccessKeyID)
			t.Setenv("AWS_SECRET_ACCESS_KEY", role.SecretAccessKey)
			t.Setenv("AWS_SESSION_TOKEN", role.SessionToken)
			t.Setenv("AWS_REGION", "eu-west-1")
			br := bedrocktest.NewServer(t, bedrocktest.Options{Region: "us-east-1", Credentials: role})
			google := vertextest.NewServer(t, vertextest.Options{})
			credConfig := string(google.AWSExternalAccountJSON(vertextest.AWSFederation{
				AccessKeyID: role.AccessKeyID, SecretAccessKey: role.SecretAccessKey, SessionToken: role.SessionToken,
				Region: "eu-west-1", Impersonate: true,
			}))
			t.Setenv(vertex.EnvCredentials, credConfig)
			url := keylessGateway(t, `
model_list:
  - model_name: claude-bedrock
    litellm_params:
      model: bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0
      aws_region_name: us-east-1
      api_base: `+br.URL+`
  - model_name: claude-vertex
    litellm_params:
      model: vertex_ai/claude-sonnet-4-5@20250929
      vertex_project: `+google.Project()+`
      vertex_location: us-east5`+tc.vertexCredentials+`
      api_base: `+google.URL+`
general_settings:
  master_key: os.environ/MASTER
`, map[string]string{"MASTER": masterKey, vertex.EnvCredentials: credConfig})
			askBoth(t, url, 5, "claude-bedrock", "claude-vertex")
			if nb, nv := len(br.Calls()), len(google.Calls()); nb != 10 || nv != 10 {
				t.Fatalf("Bedrock saw %d calls and Vertex %d, want 10 each", nb, nv)
			}

			if ex := google.AWSExchanges(); len(ex) != 1 || ex[0].Rejected != "" || ex[0].AccessKeyID != role.AccessKeyID {
				t.Errorf("AWS token exchanges for 10 Vertex requests: %+v", ex)
			}
			if n := google.Impersonations(); n != 1 {
				t.Errorf("%d impersonations, want 1", n)
			}
			if n := google.AWSMetadataCalls(); n != 0 {
				t.Errorf("%d AWS metadata calls", n)
			}
			for _, c := range br.Calls() {
				if c.Rejected != "" || c.AccessKeyID != role.AccessKeyID {
					t.Fatalf("Bedrock call signed with %q, rejected %q", c.AccessKeyID, c.Rejected)
				}
			}
		})
	}
}
