package bedrock_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/providers/bedrock"
	"github.com/claude-gateway/claude-gateway/core/providers/bedrock/bedrocktest"
)

// captured is one request from ../shared/claude-code-requests.
type captured struct {
	name string
	kind llm.Kind
	req  *llm.Request
}

func loadCaptured(t *testing.T) []captured {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(sharedDir(t), "claude-code-requests", "*.json"))
	var out []captured
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			Method, Path string
			Headers      map[string]string
			Body         json.RawMessage
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var kind llm.Kind
		switch {
		case c.Method != http.MethodPost:
			continue
		case c.Path == "/v1/messages":
			kind = llm.KindMessages
		case c.Path == "/v1/messages/count_tokens":
			kind = llm.KindCountTokens
		default:
			continue
		}
		h := http.Header{}
		for k, v := range c.Headers {
			h.Set(k, v)
		}
		body := []byte(c.Body)
		out = append(out, captured{name: filepath.Base(f), kind: kind, req: &llm.Request{
			Kind: kind, Body: body, Model: gjson.GetBytes(body, "model").Str, Stream: gjson.GetBytes(body, "stream").Bool(),
			Betas: llm.ParseBetas(h), Version: h.Get("anthropic-version"),
		}})
	}
	if len(out) == 0 {
		t.Skip("no captured POST requests")
	}
	return out
}

// interactive adds what Claude Code's interactive mode and other versions
// send besides: the safeguards object, cache_control scopes and the
// tools[].custom wrapper.
func interactive(t *testing.T, body []byte) []byte {
	t.Helper()
	var err error
	set := func(path, raw string) {
		if err == nil {
			body, err = sjson.SetRawBytes(body, path, []byte(raw))
		}
	}
	set("safeguards", `{"level":"standard","categories":["cyber"]}`)
	if gjson.GetBytes(body, "system.1").Exists() {
		set("system.1.cache_control", `{"type":"ephemeral","scope":"global"}`)
	}
	if gjson.GetBytes(body, "tools.0").Exists() {
		set("tools.0.custom", `{"defer_loading":true}`)
	}
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// TestClaudeCodeRequestsPassThrough sends every captured Claude Code request
// (and its interactive-mode variant) through the provider to a fake that
// rejects what Bedrock rejects.
func TestClaudeCodeRequestsPassThrough(t *testing.T) {
	isolateEnv(t)
	fake := bedrocktest.NewServer(t, bedrocktest.Options{})
	d := deployment(fake, func(p *config.Params) { p.UpstreamModel = "us.anthropic.claude-opus-4-5-20251101-v1:0" })
	p := newProvider(t, d, bedrock.Options{})
	for _, c := range loadCaptured(t) {
		for _, variant := range []string{"as captured", "interactive"} {
			t.Run(c.name+"/"+variant, func(t *testing.T) {
				req := *c.req
				if variant == "interactive" {
					req.Body = interactive(t, req.Body)
				}
				switch {
				case req.Kind == llm.KindMessages && req.Stream:
					s, err := p.Stream(context.Background(), &req)
					if err != nil {
						t.Fatal(err)
					}
					if _, err := drain(t, s); err != nil {
						t.Fatal(err)
					}
				default:
					resp, err := p.Send(context.Background(), &req)
					if err != nil {
						t.Fatal(err)
					}
					if req.Kind == llm.KindCountTokens && resp.Header.Get(bedrock.CountTokensSourceHeader) != "provider" {
						t.Errorf("count source %q", resp.Header.Get(bedrock.CountTokensSourceHeader))
					}
				}
				call, _ := fake.LastCall()
				if call.Rejected != "" {
					t.Fatalf("rejected: %s", call.Rejected)
				}
				// What the fake cannot see must hold too: nothing else was touched.
				for _, key := range []string{"messages.0", "tools.1", "metadata", "thinking", "output_config", "context_management"} {
					if want := gjson.GetBytes(req.Body, key); want.Exists() && gjson.GetBytes(call.Body, key).Raw != want.Raw {
						t.Errorf("%s changed:\n%s\n%s", key, want.Raw, gjson.GetBytes(call.Body, key).Raw)
					}
				}
			})
		}
	}
}

// TestFakeRejectsUnshapedClaudeCodeRequests: the same requests, merely
// reformatted for Invoke (model and stream out, anthropic_version in, header
// betas moved into the body unfiltered), are refused by the fake as by
// Bedrock: the fake has teeth.
func TestFakeRejectsUnshapedClaudeCodeRequests(t *testing.T) {
	isolateEnv(t)
	fake := bedrocktest.NewServer(t, bedrocktest.Options{})
	client := &http.Client{}
	for _, c := range loadCaptured(t) {
		if c.kind != llm.KindMessages || !strings.HasPrefix(c.name, "cc-") {
			continue
		}
		body, _ := sjson.DeleteBytes(c.req.Body, "model")
		body, _ = sjson.DeleteBytes(body, "stream")
		body, _ = sjson.SetBytes(body, "anthropic_version", bedrocktest.AnthropicVersion)
		body, _ = sjson.SetBytes(body, "anthropic_beta", c.req.Betas)
		resp, err := signedPost(t, client, fake, "/model/"+testModel+"/invoke", body)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		call, _ := fake.LastCall()
		if resp.StatusCode != 400 || !strings.Contains(call.Rejected, "ValidationException") {
			t.Errorf("%s: unshaped body accepted (%d %s)", c.name, resp.StatusCode, call.Rejected)
		}
	}
}

// TestSeedBasicLoadBalancing loads the seed config unchanged and points both
// Bedrock regions at their own fake: each serves its region's traffic, signed
// for that region.
func TestSeedBasicLoadBalancing(t *testing.T) {
	isolateEnv(t)
	creds := bedrocktest.RandomCredentials(false)
	t.Setenv("AWS_ACCESS_KEY_ID", creds.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", creds.SecretAccessKey)
	t.Setenv("VERTEXAI_PROJECT", "test-project")
	t.Setenv("LITELLM_MASTER_KEY", "sk-test")
	cfg, err := config.LoadFile(filepath.Join(sharedDir(t), "seed-configs", "basic-load-balancing.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	fakes := map[string]*bedrocktest.Server{}
	var providers []*bedrock.Provider
	for _, d := range cfg.Deployments {
		if d.Params.Provider != config.ProviderBedrock {
			continue
		}
		region := d.Params.AWSRegionName
		fakes[region] = bedrocktest.NewServer(t, bedrocktest.Options{Region: region, Credentials: creds})
		d.Params.APIBase = fakes[region].URL
		providers = append(providers, newProvider(t, d, bedrock.Options{}))
	}
	if len(providers) != 2 {
		t.Fatalf("%d bedrock deployments in the seed, want 2", len(providers))
	}
	for _, p := range providers {
		sendSome(t, p, 2)
	}
	for region, f := range fakes {
		if f.Accepted() != 2 || f.Rejected() != 0 {
			t.Errorf("%s: %d accepted, %d rejected", region, f.Accepted(), f.Rejected())
		}
	}
}

// TestConfigYAMLToFake goes the way the gateway does: a config.yaml
// deployment (litellm_params from Server.Params) parsed by core/config.
func TestConfigYAMLToFake(t *testing.T) {
	isolateEnv(t)
	fake := bedrocktest.NewServer(t, bedrocktest.Options{Region: "eu-west-1", Credentials: bedrocktest.RandomCredentials(true)})
	yaml := "model_list:\n  - model_name: claude-sonnet\n    litellm_params:\n      model: bedrock/converse/eu.anthropic.claude-sonnet-4-5-20250929-v1:0\n"
	for k, v := range fake.Params() {
		yaml += "      " + k + ": " + strconv.Quote(v) + "\n"
	}
	cfg, err := config.Parse([]byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	p := newProvider(t, cfg.Deployments[0], bedrock.Options{})
	sendSome(t, p, 2)
	if call, _ := fake.LastCall(); call.ModelID != "eu.anthropic.claude-sonnet-4-5-20250929-v1:0" || fake.Accepted() != 2 {
		t.Errorf("model %q, %d accepted", call.ModelID, fake.Accepted())
	}
}
