package bedrock_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/providers/bedrock"
)

// The provider calls bedrock-runtime as signed HTTP, not through the
// generated client (it is a test dependency only). These tests hold the
// two to the same wire: the endpoint the client would pick, and the
// request line, headers and body of each operation.

// staticParams is a bedrock deployment for model with static example
// credentials, at api_base base ("" for the regional endpoint) in region.
func staticParams(model, base, region string) config.Params {
	return config.Params{Model: "bedrock/" + model, Provider: config.ProviderBedrock, UpstreamModel: model,
		APIBase: base, AWSRegionName: region, AWSAccessKeyID: "AKIDEXAMPLE", AWSSecretAccessKey: "secret"}
}

// errCaptured stops an SDK call once its request is seen.
var errCaptured = errors.New("captured")

// sdkRequest is the request the generated client sends for one call.
func sdkRequest(t *testing.T, cfg aws.Config, base string, call func(context.Context, *bedrockruntime.Client) error) *http.Request {
	t.Helper()
	var got *http.Request
	client := bedrockruntime.NewFromConfig(cfg, func(o *bedrockruntime.Options) {
		o.Retryer = aws.NopRetryer{}
		if base != "" {
			o.BaseEndpoint = aws.String(base)
		}
		o.HTTPClient = doFunc(func(r *http.Request) (*http.Response, error) {
			body, _ := io.ReadAll(r.Body)
			got = r.Clone(r.Context())
			got.Body = io.NopCloser(strings.NewReader(string(body)))
			return nil, errCaptured
		})
	})
	if err := call(context.Background(), client); !errors.Is(err, errCaptured) {
		t.Fatalf("SDK call: %v", err)
	}
	return got
}

type doFunc func(*http.Request) (*http.Response, error)

func (f doFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

func sdkConfig(t *testing.T, region string) aws.Config {
	t.Helper()
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion(region),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestEndpointMatchesSDK(t *testing.T) {
	cases := []struct {
		name, region string
		env          map[string]string
		profile      string // the shared config file's contents
	}{
		{name: "regional", region: "us-east-1"},
		{name: "eu", region: "eu-central-1"},
		{name: "govcloud", region: "us-gov-west-1"},
		{name: "china", region: "cn-north-1"},
		{name: "european sovereign cloud", region: "eusc-de-east-1"},
		{name: "iso", region: "us-iso-east-1"},
		{name: "fips", region: "us-east-1", env: map[string]string{"AWS_USE_FIPS_ENDPOINT": "true"}},
		{name: "dual-stack", region: "us-west-2", env: map[string]string{"AWS_USE_DUALSTACK_ENDPOINT": "true"}},
		{name: "fips and dual-stack", region: "us-gov-east-1", env: map[string]string{"AWS_USE_FIPS_ENDPOINT": "true", "AWS_USE_DUALSTACK_ENDPOINT": "true"}},
		{name: "service endpoint", region: "us-east-1", env: map[string]string{"AWS_ENDPOINT_URL_BEDROCK_RUNTIME": "https://vpce-1.bedrock-runtime.us-east-1.vpce.amazonaws.com"}},
		{name: "general endpoint", region: "us-east-1", env: map[string]string{"AWS_ENDPOINT_URL": "http://localhost:4566"}},
		{name: "service over general", region: "us-east-1", env: map[string]string{"AWS_ENDPOINT_URL": "http://localhost:4566", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": "http://localhost:9999/br"}},
		{name: "ignore configured", region: "us-east-1", env: map[string]string{"AWS_ENDPOINT_URL_BEDROCK_RUNTIME": "http://localhost:9999", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"}},
		{name: "profile fips", region: "us-east-1", profile: "[default]\nuse_fips_endpoint = true\n"},
		{name: "env fips off over profile on", region: "us-east-1", env: map[string]string{"AWS_USE_FIPS_ENDPOINT": "false"},
			profile: "[default]\nuse_fips_endpoint = true\nuse_dualstack_endpoint = true\n"},
		{name: "profile services section", region: "us-east-1",
			profile: "[default]\nservices = local\n\n[services local]\nbedrock_runtime =\n  endpoint_url = http://localhost:7777\n"},
		{name: "profile endpoint_url", region: "us-east-1", profile: "[default]\nendpoint_url = http://localhost:8888\n"},
		{name: "general env over profile services", region: "us-east-1", env: map[string]string{"AWS_ENDPOINT_URL": "http://localhost:4566"},
			profile: "[default]\nservices = local\n\n[services local]\nbedrock_runtime =\n  endpoint_url = http://localhost:7777\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			isolateEnv(t)
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			if c.profile != "" {
				if err := os.WriteFile(os.Getenv("AWS_CONFIG_FILE"), []byte(c.profile), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			d := config.Deployment{ID: "d", Params: staticParams(testModel, "", c.region)}
			p, err := bedrock.New(context.Background(), d, bedrock.Options{})
			if err != nil {
				t.Fatal(err)
			}
			r := sdkRequest(t, sdkConfig(t, c.region), "", func(ctx context.Context, cl *bedrockruntime.Client) error {
				_, err := cl.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(testModel), Body: []byte("{}")})
				return err
			})
			want, _, _ := strings.Cut(r.URL.String(), "/model/")
			if got := p.Endpoint(); got != want {
				t.Errorf("endpoint %s, the SDK's client uses %s", got, want)
			}
		})
	}
}

// TestEndpointErrorsNameTheSetting: a deployment whose endpoint cannot be
// formed fails at start, naming what to fix.
func TestEndpointErrorsNameTheSetting(t *testing.T) {
	cases := []struct {
		name   string
		mod    func(*config.Params)
		env    map[string]string
		naming string
	}{
		{"api_base not a URL", func(p *config.Params) { p.APIBase = "ftp://bedrock.example" }, nil, "api_base"},
		{"runtime endpoint without a host", func(p *config.Params) { p.AWSBedrockRuntimeEndpoint = "https://" }, nil, "aws_bedrock_runtime_endpoint"},
		{"configured endpoint", nil, map[string]string{"AWS_ENDPOINT_URL_BEDROCK_RUNTIME": "localhost:9999"}, "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"},
		{"region not a DNS label", func(p *config.Params) { p.AWSRegionName = "us-east-1.evil.example" }, nil, "aws_region_name"},
		{"mantle region not a DNS label", func(p *config.Params) {
			p.AWSRegionName, p.BedrockAPI = "us-east-1.evil.example", bedrock.APIMantle
		}, nil, "aws_region_name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			isolateEnv(t)
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			p := staticParams(testModel, "", "us-east-1")
			if c.mod != nil {
				c.mod(&p)
			}
			d := config.Deployment{ID: "dep-x", Params: p}
			var err error
			if p.BedrockAPI != "" {
				_, err = bedrock.NewMessages(context.Background(), d, bedrock.Options{})
			} else {
				_, err = bedrock.New(context.Background(), d, bedrock.Options{})
			}
			if err == nil || !strings.Contains(err.Error(), c.naming) || !strings.Contains(err.Error(), "dep-x") {
				t.Fatalf("error %v, want one naming %s and the deployment", err, c.naming)
			}
		})
	}
}

// wireRequest is what reached a server: the parts a signature covers.
type wireRequest struct {
	method, uri, contentType, accept, bedrockAccept, body string
}

func wireOf(r *http.Request, body []byte) wireRequest {
	return wireRequest{r.Method, r.URL.EscapedPath(), r.Header.Get("Content-Type"), r.Header.Get("Accept"),
		r.Header.Get("X-Amzn-Bedrock-Accept"), string(body)}
}

func TestWireMatchesSDK(t *testing.T) {
	isolateEnv(t)
	var got wireRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = wireOf(r, b)
		w.Header().Set("X-Amzn-Errortype", "ValidationException")
		w.WriteHeader(400)
		io.WriteString(w, `{"message":"captured"}`)
	}))
	defer srv.Close()
	cfg := sdkConfig(t, "us-west-2")
	for _, model := range []string{testModel, "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
		"arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
		"arn:aws:bedrock:us-west-2:123456789012:application-inference-profile/a1b2 c3+d"} {
		d := config.Deployment{ID: "d", Params: staticParams(model, srv.URL, "us-west-2")}
		p, err := bedrock.New(context.Background(), d, bedrock.Options{})
		if err != nil {
			t.Fatal(err)
		}
		body := `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`
		ops := []struct {
			name string
			ours func() error
			sdk  func(context.Context, *bedrockruntime.Client) error
		}{
			{"invoke", func() error {
				_, err := p.Send(context.Background(), &llm.Request{Kind: llm.KindMessages, Body: []byte(body)})
				return err
			}, func(ctx context.Context, c *bedrockruntime.Client) error {
				_, err := c.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(model), Body: []byte(body),
					ContentType: aws.String("application/json"), Accept: aws.String("application/json")})
				return err
			}},
			{"stream", func() error {
				_, err := p.Stream(context.Background(), &llm.Request{Kind: llm.KindMessages, Body: []byte(body), Stream: true})
				return err
			}, func(ctx context.Context, c *bedrockruntime.Client) error {
				_, err := c.InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{ModelId: aws.String(model),
					Body: []byte(body), ContentType: aws.String("application/json"), Accept: aws.String("application/json")})
				return err
			}},
		}
		for _, op := range ops {
			got = wireRequest{}
			if err := op.ours(); err == nil {
				t.Fatalf("%s %s: the capture server's 400 was not an error", model, op.name)
			}
			ours := got
			want := wireOf(sdkRequest(t, cfg, srv.URL, op.sdk), nil)
			want.body = ours.body // compared by the shaping tests; here the wire around it
			if ours != want {
				t.Errorf("%s %s:\n ours %+v\n SDK  %+v", model, op.name, ours, want)
			}
		}
	}
}

func TestCountTokensWireMatchesSDK(t *testing.T) {
	isolateEnv(t)
	var got wireRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = wireOf(r, b)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"inputTokens":42}`)
	}))
	defer srv.Close()
	d := config.Deployment{ID: "d", Params: staticParams(testModel, srv.URL, "us-west-2")}
	p, err := bedrock.New(context.Background(), d, bedrock.Options{})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.Send(context.Background(), &llm.Request{Kind: llm.KindCountTokens, Body: []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Body) != `{"input_tokens":42}` || resp.Header.Get(bedrock.CountTokensSourceHeader) != bedrock.CountTokensFromProvider {
		t.Fatalf("count_tokens answered %s %v", resp.Body, resp.Header)
	}
	ours := got
	// The SDK is handed the shaped body ours carried (base64 in the envelope).
	var env struct {
		Input struct{ InvokeModel struct{ Body []byte } }
	}
	if err := json.Unmarshal([]byte(ours.body), &env); err != nil || len(env.Input.InvokeModel.Body) == 0 {
		t.Fatalf("count-tokens body %s: %v", ours.body, err)
	}
	sent := env.Input.InvokeModel.Body
	r := sdkRequest(t, sdkConfig(t, "us-west-2"), srv.URL, func(ctx context.Context, c *bedrockruntime.Client) error {
		_, err := c.CountTokens(ctx, &bedrockruntime.CountTokensInput{ModelId: aws.String(testModel),
			Input: &types.CountTokensInputMemberInvokeModel{Value: types.InvokeModelTokensRequest{Body: sent}}})
		return err
	})
	b, _ := io.ReadAll(r.Body)
	if want := wireOf(r, b); ours != want {
		t.Errorf("count-tokens:\n ours %+v\n SDK  %+v", ours, want)
	}
}
