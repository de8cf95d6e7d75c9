package bedrock_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/providers/bedrock"
	"github.com/claude-gateway/claude-gateway/core/providers/bedrock/bedrocktest"
)

// noKeys removes the deployment's own AWS keys: the chain must find them.
func noKeys(p *config.Params) { p.AWSAccessKeyID, p.AWSSecretAccessKey, p.AWSSessionToken = "", "", "" }

// sendSome makes n calls, one of them streaming, and checks they succeed.
func sendSome(t *testing.T, p *bedrock.Provider, n int) {
	t.Helper()
	for i := range n {
		if i == 0 {
			s, err := p.Stream(context.Background(), request(true))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := drain(t, s); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if _, err := p.Send(context.Background(), request(false)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCredentialsFromEnv(t *testing.T) {
	isolateEnv(t)
	fake := bedrocktest.NewServer(t, bedrocktest.Options{Credentials: bedrocktest.RandomCredentials(true)})
	c := fake.Credentials()
	t.Setenv("AWS_ACCESS_KEY_ID", c.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", c.SecretAccessKey)
	t.Setenv("AWS_SESSION_TOKEN", c.SessionToken)
	p := newProvider(t, deployment(fake, noKeys), bedrock.Options{})
	sendSome(t, p, 2)
	if call, _ := fake.LastCall(); call.AccessKeyID != c.AccessKeyID || call.Header.Get("X-Amz-Security-Token") != c.SessionToken {
		t.Errorf("signed with %q", call.AccessKeyID)
	}
}

// TestContainerCredentials runs the chain as on Lambda: the function's role
// comes from the container credentials endpoint, AWS_REGION is the
// function's region, and the deployment's aws_region_name still wins.
func TestContainerCredentials(t *testing.T) {
	isolateEnv(t)
	fake := bedrocktest.NewServer(t, bedrocktest.Options{Region: "us-west-2"})
	cc := bedrocktest.NewContainerCredentials(t, fake, 0)
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", cc.URL)
	t.Setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", cc.Token)
	t.Setenv("AWS_REGION", "eu-central-1")
	p := newProvider(t, deployment(fake, noKeys), bedrock.Options{})
	if cc.Calls() != 0 {
		t.Error("credentials fetched at startup")
	}
	sendSome(t, p, 4)
	if cc.Calls() != 1 {
		t.Errorf("credentials endpoint called %d times for 4 calls, want 1 (cached)", cc.Calls())
	}
	call, _ := fake.LastCall()
	if !strings.HasPrefix(call.AccessKeyID, "ASIA") || call.AccessKeyID == fake.Credentials().AccessKeyID {
		t.Errorf("not signed with the role's credentials: %q", call.AccessKeyID)
	}

	t.Run("wrong authorization token", func(t *testing.T) {
		t.Setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong")
		var failures atomic.Int32
		p := newProvider(t, deployment(fake, noKeys), bedrock.Options{CredentialsFailed: func(error) { failures.Add(1) }})
		_, err := p.Send(context.Background(), request(false))
		le := llmError(t, err)
		if !le.Retryable || !strings.Contains(le.Message, "credentials") {
			t.Errorf("got %v", le)
		}
		// The failed fetch is reported (metrics count it).
		if n := failures.Load(); n != 1 {
			t.Errorf("CredentialsFailed called %d times, want 1", n)
		}
	})
}

func TestAssumeRole(t *testing.T) {
	for _, via := range []string{"AWS_ENDPOINT_URL_STS", "aws_sts_endpoint"} {
		t.Run(via, func(t *testing.T) {
			isolateEnv(t)
			fake := bedrocktest.NewServer(t, bedrocktest.Options{})
			// The base identity may call STS but not Bedrock.
			base := bedrocktest.RandomCredentials(false)
			sts := bedrocktest.NewSTS(t, fake, fake.Region, base, 0)
			const role = "arn:aws:iam::123456789012:role/bedrock-invoke"
			d := deployment(fake, func(p *config.Params) {
				p.AWSAccessKeyID, p.AWSSecretAccessKey = base.AccessKeyID, base.SecretAccessKey
				p.AWSRoleName, p.AWSSessionName, p.AWSExternalID = role, "gateway-session", "ext-42"
			})
			if via == "AWS_ENDPOINT_URL_STS" {
				t.Setenv("AWS_ENDPOINT_URL_STS", sts.URL)
			} else {
				d.Params.AWSSTSEndpoint = sts.URL
			}
			p := newProvider(t, d, bedrock.Options{})
			sendSome(t, p, 3)
			log := sts.Log()
			if len(log) != 1 {
				t.Fatalf("STS called %d times for 3 calls, want 1: %+v", len(log), log)
			}
			if got := log[0]; got.Action != "AssumeRole" || got.RoleArn != role || got.RoleSessionName != "gateway-session" || got.ExternalID != "ext-42" || got.Rejected != "" {
				t.Errorf("STS call %+v", got)
			}
			if call, _ := fake.LastCall(); !strings.HasPrefix(call.AccessKeyID, "ASIA") {
				t.Errorf("signed with %q, not the assumed role", call.AccessKeyID)
			}
		})
	}
}

func TestWebIdentityRole(t *testing.T) {
	isolateEnv(t)
	fake := bedrocktest.NewServer(t, bedrocktest.Options{})
	sts := bedrocktest.NewSTS(t, fake, fake.Region, bedrocktest.RandomCredentials(false), 0)
	d := deployment(fake, noKeys, func(p *config.Params) {
		p.AWSRoleName, p.AWSWebIdentityToken, p.AWSSTSEndpoint = "arn:aws:iam::123456789012:role/wif", "eyJhbGciOi.jwt.sig", sts.URL
	})
	sendSome(t, newProvider(t, d, bedrock.Options{}), 2)
	log := sts.Log()
	if len(log) != 1 || log[0].Action != "AssumeRoleWithWebIdentity" || log[0].WebIdentityToken != "eyJhbGciOi.jwt.sig" {
		t.Errorf("STS log %+v", log)
	}
}

func TestProfile(t *testing.T) {
	isolateEnv(t)
	fake := bedrocktest.NewServer(t, bedrocktest.Options{Region: "ap-northeast-1"})
	c := fake.Credentials()
	dir := t.TempDir()
	cfgFile, credFile := filepath.Join(dir, "config"), filepath.Join(dir, "credentials")
	os.WriteFile(cfgFile, []byte("[profile team]\nregion = ap-northeast-1\n"), 0o600)
	os.WriteFile(credFile, []byte("[team]\naws_access_key_id = "+c.AccessKeyID+"\naws_secret_access_key = "+c.SecretAccessKey+"\n"), 0o600)
	t.Setenv("AWS_CONFIG_FILE", cfgFile)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", credFile)
	// No aws_region_name: the profile's region applies.
	d := deployment(fake, noKeys, func(p *config.Params) { p.AWSProfileName, p.AWSRegionName = "team", "" })
	sendSome(t, newProvider(t, d, bedrock.Options{}), 2)

	d.Params.AWSProfileName = "missing"
	if _, err := bedrock.New(context.Background(), d, bedrock.Options{}); err == nil {
		t.Error("a missing profile must fail at startup")
	}
}

func TestBearerAPIKey(t *testing.T) {
	isolateEnv(t)
	const key = "ABSKQmVkcm9ja0FQSUtleS1leGFtcGxl"
	fake := bedrocktest.NewServer(t, bedrocktest.Options{TLS: true, APIKey: key})
	opts := bedrock.Options{HTTPClient: fake.Client()}

	t.Run("api_key", func(t *testing.T) {
		d := deployment(fake, noKeys, func(p *config.Params) { p.APIKey = key })
		sendSome(t, newProvider(t, d, opts), 2)
		if call, _ := fake.LastCall(); !call.Bearer || call.Header.Get("Authorization") != "Bearer "+key {
			t.Errorf("call not Bearer-authenticated: %+v", call.Header)
		}
	})
	t.Run("env AWS_BEARER_TOKEN_BEDROCK", func(t *testing.T) {
		t.Setenv("AWS_BEARER_TOKEN_BEDROCK", key)
		sendSome(t, newProvider(t, deployment(fake, noKeys), opts), 2)
		if call, _ := fake.LastCall(); !call.Bearer {
			t.Error("env API key not used")
		}
	})
	t.Run("deployment keys win over the env API key", func(t *testing.T) {
		t.Setenv("AWS_BEARER_TOKEN_BEDROCK", "some-other-key")
		sendSome(t, newProvider(t, deployment(fake), opts), 1)
		if call, _ := fake.LastCall(); call.Bearer {
			t.Error("env API key used despite the deployment's own AWS keys")
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		d := deployment(fake, noKeys, func(p *config.Params) { p.APIKey = key + "x" })
		_, err := newProvider(t, d, opts).Send(context.Background(), request(false))
		if le := llmError(t, err); le.Status != 403 {
			t.Errorf("got %v", le)
		}
	})
}
