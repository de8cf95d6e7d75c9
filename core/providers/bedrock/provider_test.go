package bedrock_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/tidwall/gjson"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/providers/bedrock"
	"github.com/claude-gateway/claude-gateway/core/providers/bedrock/bedrocktest"
	"github.com/claude-gateway/claude-gateway/core/tokencount"
)

const testModel = "anthropic.claude-3-5-sonnet-20241022-v2:0"

// isolateEnv keeps the machine's AWS settings out of a test: no keys,
// profiles, regions, API keys or metadata endpoints but those a test sets.
func isolateEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
		"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_REGION_NAME", "AWS_BEARER_TOKEN_BEDROCK",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS",
		"AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_MAX_ATTEMPTS",
	} {
		t.Setenv(k, "")
	}
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// deployment is a bedrock deployment signing with the fake's credentials.
func deployment(fake *bedrocktest.Server, mods ...func(*config.Params)) config.Deployment {
	c := fake.Credentials()
	p := config.Params{
		Model: "bedrock/" + testModel, Provider: config.ProviderBedrock, UpstreamModel: testModel,
		APIBase: fake.URL, AWSRegionName: fake.Region,
		AWSAccessKeyID: c.AccessKeyID, AWSSecretAccessKey: c.SecretAccessKey, AWSSessionToken: c.SessionToken,
	}
	for _, m := range mods {
		m(&p)
	}
	return config.Deployment{ID: "dep-1", ModelName: "claude-sonnet", Params: p}
}

func newProvider(t *testing.T, d config.Deployment, opts bedrock.Options) *bedrock.Provider {
	t.Helper()
	p, err := bedrock.New(context.Background(), d, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const helloBody = `{"model":"claude-sonnet","max_tokens":100,"stream":%s,"messages":[{"role":"user","content":"Say hello"}]}`

func request(stream bool, betas ...string) *llm.Request {
	s := "false"
	if stream {
		s = "true"
	}
	return &llm.Request{Kind: llm.KindMessages, Body: []byte(strings.Replace(helloBody, "%s", s, 1)),
		Model: "claude-sonnet", Stream: stream, Betas: betas}
}

// drain reads a stream to its end.
func drain(t *testing.T, s llm.Stream) ([]llm.Event, error) {
	t.Helper()
	defer s.Close()
	var evs []llm.Event
	for {
		ev, err := s.Next(context.Background())
		if err == io.EOF {
			return evs, nil
		}
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
}

func llmError(t *testing.T, err error) *llm.Error {
	t.Helper()
	var le *llm.Error
	if !errors.As(err, &le) {
		t.Fatalf("want *llm.Error, got %T %v", err, err)
	}
	return le
}

func TestSendSigV4(t *testing.T) {
	isolateEnv(t)
	fake := bedrocktest.NewServer(t, bedrocktest.Options{})
	p := newProvider(t, deployment(fake), bedrock.Options{})
	resp, err := p.Send(context.Background(), request(false, "claude-code-20250219", "context-1m-2025-08-07"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 || gjson.GetBytes(resp.Body, "content.0.text").Str != bedrocktest.DefaultText {
		t.Fatalf("response %d %s", resp.Status, resp.Body)
	}
	if resp.Header.Get("X-Amzn-Requestid") == "" {
		t.Error("no request id passed on")
	}
	call, _ := fake.LastCall()
	if call.Op != bedrocktest.OpInvoke || call.ModelID != testModel || call.Bearer || call.AccessKeyID != fake.Credentials().AccessKeyID {
		t.Errorf("call %+v", call)
	}
	if v := gjson.GetBytes(call.Body, "anthropic_version").Str; v != "bedrock-2023-05-31" {
		t.Errorf("anthropic_version %q", v)
	}
	if b := gjson.GetBytes(call.Body, "anthropic_beta").Raw; b != `["context-1m-2025-08-07"]` {
		t.Errorf("anthropic_beta %s", b)
	}
	if gjson.GetBytes(call.Body, "model").Exists() || gjson.GetBytes(call.Body, "stream").Exists() {
		t.Errorf("model/stream reached Bedrock: %s", call.Body)
	}
	if fake.Requests() != 1 || fake.Accepted() != 1 {
		t.Errorf("fake counted %d requests, %d accepted", fake.Requests(), fake.Accepted())
	}
	if got, want := p.Endpoint(), fake.URL; got != want {
		t.Errorf("Endpoint %q, want %q", got, want)
	}
}

func TestWrongSecretIs403(t *testing.T) {
	isolateEnv(t)
	fake := bedrocktest.NewServer(t, bedrocktest.Options{})
	cases := []struct {
		name string
		mod  func(*config.Params)
		want string
	}{
		{"wrong secret", func(p *config.Params) { p.AWSSecretAccessKey += "x" }, "signature we calculated does not match"},
		{"unknown key", func(p *config.Params) { p.AWSAccessKeyID = "AKIAUNKNOWN000000000" }, "security token included in the request is invalid"},
		{"wrong region scope", func(p *config.Params) { p.AWSRegionName = "eu-west-1" }, "scoped to a valid region"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := fake.Rejected()
			p := newProvider(t, deployment(fake, c.mod), bedrock.Options{})
			_, err := p.Send(context.Background(), request(false))
			le := llmError(t, err)
			if le.Status != 403 || le.Type != llm.ErrPermission || !strings.Contains(le.Message, c.want) {
				t.Errorf("got %v", le)
			}
			if !le.Retryable {
				t.Error("a deployment's bad credentials should let the router try another")
			}
			if fake.Rejected() != before+1 {
				t.Error("fake did not reject")
			}
			// The stream path fails the same way, before any event.
			if _, err := p.Stream(context.Background(), request(true)); llmError(t, err).Status != 403 {
				t.Errorf("stream: %v", err)
			}
		})
	}
}

func TestStreamEventsAndUsage(t *testing.T) {
	isolateEnv(t)
	fake := bedrocktest.NewServer(t, bedrocktest.Options{
		ChunkDelay: time.Millisecond,
		Reply: func(c *bedrocktest.Call) bedrocktest.Reply {
			return bedrocktest.Reply{Text: "one two three", InputTokens: 11, OutputTokens: 3, CacheReadTokens: 5, CacheWriteTokens: 2}
		},
	})
	p := newProvider(t, deployment(fake), bedrock.Options{})
	s, err := p.Stream(context.Background(), request(true))
	if err != nil {
		t.Fatal(err)
	}
	evs, err := drain(t, s)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	var text string
	var u llm.Usage
	for _, ev := range evs {
		types = append(types, ev.Type)
		if ev.Type != gjson.GetBytes(ev.Data, "type").Str {
			t.Errorf("event type %q for %s", ev.Type, ev.Data)
		}
		text += gjson.GetBytes(ev.Data, "delta.text").Str
		u.ObserveEvent(ev)
	}
	want := "message_start content_block_start content_block_delta content_block_delta content_block_delta content_block_stop message_delta message_stop"
	if strings.Join(types, " ") != want {
		t.Errorf("events %v", types)
	}
	if text != "one two three" {
		t.Errorf("text %q", text)
	}
	if (u != llm.Usage{InputTokens: 11, OutputTokens: 3, CacheReadInputTokens: 5, CacheCreationInputTokens: 2}) {
		t.Errorf("usage %+v", u)
	}
	if !gjson.GetBytes(evs[len(evs)-1].Data, "amazon-bedrock-invocationMetrics.inputTokenCount").Exists() {
		t.Error("no invocation metrics on the last event")
	}
	call, _ := fake.LastCall()
	if call.Op != bedrocktest.OpInvokeStream {
		t.Errorf("op %s", call.Op)
	}
	if _, err := s.Next(context.Background()); err != io.EOF {
		t.Errorf("Next after close: %v", err)
	}
	s.Close() // twice is fine
}

// TestStreamIsIncremental: the first event reaches the caller of Next while
// the fake still holds the second one back.
func TestStreamIsIncremental(t *testing.T) {
	isolateEnv(t)
	release := make(chan struct{})
	fake := bedrocktest.NewServer(t, bedrocktest.Options{
		Reply: func(c *bedrocktest.Call) bedrocktest.Reply {
			return bedrocktest.Reply{BeforeEvent: func(i int) {
				if i == 1 {
					<-release
				}
			}}
		},
	})
	p := newProvider(t, deployment(fake), bedrock.Options{})
	got := make(chan llm.Event, 1)
	errc := make(chan error, 1)
	go func() {
		s, err := p.Stream(context.Background(), request(true))
		if err != nil {
			errc <- err
			return
		}
		ev, err := s.Next(context.Background())
		if err != nil {
			errc <- err
			return
		}
		got <- ev
		<-release
		_, err = drain(t, s)
		errc <- err
	}()
	// A deadlock guard only: the event must arrive while the second is held.
	guard := time.NewTimer(20 * time.Second)
	defer guard.Stop()
	select {
	case ev := <-got:
		if ev.Type != "message_start" {
			t.Errorf("first event %q", ev.Type)
		}
	case err := <-errc:
		t.Fatal(err)
	case <-guard.C:
		t.Fatal("first event not delivered while the fake held back the second")
	}
	close(release)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestErrorMapping(t *testing.T) {
	isolateEnv(t)
	cases := []struct {
		exception string
		status    int
		typ       string
		retryable bool
	}{
		{"ThrottlingException", 429, llm.ErrRateLimit, true},
		{"ServiceUnavailableException", 529, llm.ErrOverloaded, true},
		{"ModelNotReadyException", 529, llm.ErrOverloaded, true},
		{"InternalServerException", 500, llm.ErrAPI, true},
		{"ModelStreamErrorException", 500, llm.ErrAPI, true},
		{"ModelTimeoutException", 504, llm.ErrTimeout, true},
		{"ValidationException", 400, llm.ErrInvalidRequest, false},
		{"AccessDeniedException", 403, llm.ErrPermission, true},
		{"ResourceNotFoundException", 404, llm.ErrNotFound, true},
		{"ServiceQuotaExceededException", 429, llm.ErrRateLimit, true},
	}
	// Exceptions Bedrock can send inside a response stream.
	inStream := map[string]bool{"ThrottlingException": true, "ServiceUnavailableException": true, "InternalServerException": true,
		"ModelStreamErrorException": true, "ModelTimeoutException": true, "ValidationException": true}
	var mode sync.Map // exception -> "http" | "first" | "mid"
	fake := bedrocktest.NewServer(t, bedrocktest.Options{Reply: func(c *bedrocktest.Call) bedrocktest.Reply {
		exc := gjson.GetBytes(c.Body, "metadata.user_id").Str
		e := &bedrocktest.Exception{Type: exc, Message: "injected " + exc}
		m, _ := mode.Load(exc)
		switch m {
		case "first":
			return bedrocktest.Reply{StreamException: e, ExceptionAfter: 0}
		case "mid":
			return bedrocktest.Reply{StreamException: e, ExceptionAfter: 2}
		}
		if exc == "ThrottlingException" {
			e.RetryAfter = "7"
		}
		return bedrocktest.Reply{Error: e}
	}})
	p := newProvider(t, deployment(fake), bedrock.Options{})
	req := func(exc string, stream bool) *llm.Request {
		r := request(stream)
		r.Body = []byte(strings.Replace(string(r.Body), `"max_tokens"`, `"metadata":{"user_id":"`+exc+`"},"max_tokens"`, 1))
		return r
	}
	check := func(t *testing.T, err error, status int, typ string, retryable bool) {
		t.Helper()
		le := llmError(t, err)
		if le.Status != status || le.Type != typ || le.Retryable != retryable || !strings.Contains(le.Message, "injected") {
			t.Errorf("got %d %s retryable=%v %q", le.Status, le.Type, le.Retryable, le.Message)
		}
	}
	for _, c := range cases {
		t.Run(c.exception, func(t *testing.T) {
			mode.Store(c.exception, "http")
			_, err := p.Send(context.Background(), req(c.exception, false))
			check(t, err, c.status, c.typ, c.retryable)
			if c.exception == "ThrottlingException" && llmError(t, err).RetryAfter != 7*time.Second {
				t.Errorf("retry-after %v", llmError(t, err).RetryAfter)
			}
			_, err = p.Stream(context.Background(), req(c.exception, true))
			check(t, err, c.status, c.typ, c.retryable)
			if !inStream[c.exception] {
				return
			}
			// An exception frame before the first event: still Stream's error.
			mode.Store(c.exception, "first")
			_, err = p.Stream(context.Background(), req(c.exception, true))
			check(t, err, c.status, c.typ, c.retryable)
			// After some events: Next's error, events before it delivered.
			mode.Store(c.exception, "mid")
			s, err := p.Stream(context.Background(), req(c.exception, true))
			if err != nil {
				t.Fatal(err)
			}
			evs, err := drain(t, s)
			check(t, err, c.status, c.typ, c.retryable)
			if len(evs) == 0 || evs[0].Type != "message_start" {
				t.Errorf("events before the exception: %v", evs)
			}
		})
	}
}

func TestAnthropicErrorInsideBedrockMessage(t *testing.T) {
	isolateEnv(t)
	inner := `{"type":"error","error":{"type":"invalid_request_error","message":"messages.1.content.0.thinking.signature: Field required"}}`
	fake := bedrocktest.NewServer(t, bedrocktest.Options{Reply: func(*bedrocktest.Call) bedrocktest.Reply {
		return bedrocktest.Reply{Error: &bedrocktest.Exception{Type: "ValidationException", Message: "The model returned the following errors: " + inner}}
	}})
	p := newProvider(t, deployment(fake), bedrock.Options{})
	_, err := p.Send(context.Background(), request(false))
	le := llmError(t, err)
	if le.Status != 400 || string(le.JSON()) != inner {
		t.Errorf("got %d %s", le.Status, le.JSON())
	}
}

func TestUnreachableIsRetryable(t *testing.T) {
	isolateEnv(t)
	fake := bedrocktest.NewServer(t, bedrocktest.Options{})
	d := deployment(fake, func(p *config.Params) { p.APIBase = "http://127.0.0.1:1" })
	p := newProvider(t, d, bedrock.Options{})
	_, err := p.Send(context.Background(), request(false))
	if le := llmError(t, err); !le.Retryable || le.Status != http.StatusBadGateway {
		t.Errorf("got %v", le)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := newProvider(t, deployment(fake), bedrock.Options{}).Send(ctx, request(false)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled call: %v", err)
	}
}

func TestCountTokens(t *testing.T) {
	isolateEnv(t)
	body := `{"model":"claude-opus-5-5","messages":[{"role":"user","content":"How many tokens?"}]}`
	req := &llm.Request{Kind: llm.KindCountTokens, Body: []byte(body), Betas: []string{"token-counting-2024-11-01"}, EstimatedInputTokens: 123}

	t.Run("provider", func(t *testing.T) {
		fake := bedrocktest.NewServer(t, bedrocktest.Options{})
		d := deployment(fake, func(p *config.Params) { p.UpstreamModel = "us.anthropic.claude-sonnet-4-5-20250929-v1:0" })
		resp, err := newProvider(t, d, bedrock.Options{}).Send(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		call, _ := fake.LastCall()
		if call.Op != bedrocktest.OpCountTokens || call.ModelID != "anthropic.claude-sonnet-4-5-20250929-v1:0" {
			t.Errorf("call %s %s", call.Op, call.ModelID)
		}
		if n := gjson.GetBytes(resp.Body, "input_tokens").Int(); n != int64(bedrocktest.CountTokens(call.Body)) || n == 0 {
			t.Errorf("body %s", resp.Body)
		}
		if src := resp.Header.Get(bedrock.CountTokensSourceHeader); src != "provider" {
			t.Errorf("source %q", src)
		}
	})
	t.Run("unsupported model: estimate", func(t *testing.T) {
		fake := bedrocktest.NewServer(t, bedrocktest.Options{CountTokensUnsupported: true})
		resp, err := newProvider(t, deployment(fake), bedrock.Options{}).Send(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		// The local estimate, labelled, and never below what Bedrock counts.
		n := gjson.GetBytes(resp.Body, "input_tokens").Int()
		if n != tokencount.Estimate(req.Body) || n < int64(bedrocktest.CountTokens(req.Body)) || resp.Header.Get(bedrock.CountTokensSourceHeader) != "estimate" {
			t.Errorf("got %s %v", resp.Body, resp.Header)
		}
	})
	t.Run("throttled: error", func(t *testing.T) {
		fake := bedrocktest.NewServer(t, bedrocktest.Options{Reply: func(*bedrocktest.Call) bedrocktest.Reply {
			return bedrocktest.Reply{Error: &bedrocktest.Exception{Type: "ThrottlingException", Message: "slow down"}}
		}})
		_, err := newProvider(t, deployment(fake), bedrock.Options{}).Send(context.Background(), req)
		if le := llmError(t, err); le.Status != 429 || !le.Retryable {
			t.Errorf("got %v", le)
		}
	})
}

func TestModelIDsReachThePath(t *testing.T) {
	isolateEnv(t)
	fake := bedrocktest.NewServer(t, bedrocktest.Options{Region: "eu-west-1"})
	cases := []struct{ upstream, want string }{
		{"converse/eu.anthropic.claude-sonnet-4-5-20250929-v1:0", "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"},
		{"invoke/global.anthropic.claude-opus-4-5-20251101-v1:0", "global.anthropic.claude-opus-4-5-20251101-v1:0"},
		{"arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/abc123", "arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/abc123"},
	}
	for _, c := range cases {
		// No aws_region_name: an ARN's region is used, else AWS_REGION.
		t.Setenv("AWS_REGION", "eu-west-1")
		d := deployment(fake, func(p *config.Params) { p.UpstreamModel = c.upstream; p.AWSRegionName = "" })
		if _, err := newProvider(t, d, bedrock.Options{}).Send(context.Background(), request(false)); err != nil {
			t.Fatalf("%s: %v", c.upstream, err)
		}
		if call, _ := fake.LastCall(); call.ModelID != c.want {
			t.Errorf("%s: path model %q", c.upstream, call.ModelID)
		}
	}
}

func TestRegionPrecedence(t *testing.T) {
	isolateEnv(t)
	arn := "arn:aws:bedrock:ap-south-1:123456789012:inference-profile/apac.anthropic.claude-sonnet-4-20250514-v1:0"
	cases := []struct {
		name, regionName, model, envRegionName, envRegion, want string
	}{
		{"aws_region_name wins over all", "us-west-2", arn, "eu-west-1", "eu-central-1", "us-west-2"},
		{"ARN region next", "", arn, "eu-west-1", "eu-central-1", "ap-south-1"},
		{"AWS_REGION_NAME next", "", testModel, "eu-west-1", "eu-central-1", "eu-west-1"},
		{"AWS_REGION last", "", testModel, "", "eu-central-1", "eu-central-1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("AWS_REGION_NAME", c.envRegionName)
			t.Setenv("AWS_REGION", c.envRegion)
			d := config.Deployment{ID: "r", Params: config.Params{Provider: "bedrock", UpstreamModel: c.model,
				AWSRegionName: c.regionName, AWSAccessKeyID: "AKIAEXAMPLE", AWSSecretAccessKey: "secret"}}
			p := newProvider(t, d, bedrock.Options{})
			if got, want := p.Endpoint(), "https://bedrock-runtime."+c.want+".amazonaws.com"; got != want {
				t.Errorf("Endpoint %q, want %q", got, want)
			}
			// The signature is scoped to that region too.
			fake := bedrocktest.NewServer(t, bedrocktest.Options{Region: c.want})
			d = deployment(fake, func(p *config.Params) { p.UpstreamModel, p.AWSRegionName = c.model, c.regionName })
			if _, err := newProvider(t, d, bedrock.Options{}).Send(context.Background(), request(false)); err != nil {
				t.Error(err)
			}
		})
	}
	t.Run("no region anywhere", func(t *testing.T) {
		t.Setenv("AWS_REGION_NAME", "")
		t.Setenv("AWS_REGION", "")
		_, err := bedrock.New(context.Background(), config.Deployment{ID: "r", Params: config.Params{UpstreamModel: testModel}}, bedrock.Options{})
		if err == nil || !strings.Contains(err.Error(), "region") {
			t.Errorf("got %v", err)
		}
	})
}

func TestEndpointOverride(t *testing.T) {
	isolateEnv(t)
	fake := bedrocktest.NewServer(t, bedrocktest.Options{})
	d := deployment(fake, func(p *config.Params) { p.APIBase, p.AWSBedrockRuntimeEndpoint = "", fake.URL+"/" })
	p := newProvider(t, d, bedrock.Options{})
	if p.Endpoint() != fake.URL {
		t.Errorf("Endpoint %q", p.Endpoint())
	}
	if _, err := p.Send(context.Background(), request(false)); err != nil {
		t.Fatal(err)
	}
}

func TestDroppedFieldsLoggedOnce(t *testing.T) {
	isolateEnv(t)
	fake := bedrocktest.NewServer(t, bedrocktest.Options{})
	var h recordHandler
	p := newProvider(t, deployment(fake), bedrock.Options{Logger: slog.New(&h)})
	body := `{"model":"m","max_tokens":5,"safeguards":{"level":"x"},"messages":[{"role":"user","content":"hi"}]}`
	for range 3 {
		if _, err := p.Send(context.Background(), &llm.Request{Body: []byte(body), Betas: []string{"claude-code-20250219"}}); err != nil {
			t.Fatal(err)
		}
	}
	got := h.removed()
	if strings.Join(got, "|") != "field safeguards|beta claude-code-20250219" {
		t.Errorf("logged %q", got)
	}
}

type recordHandler struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.recs = append(h.recs, r)
	h.mu.Unlock()
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }
func (h *recordHandler) removed() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.recs {
		r.Attrs(func(a slog.Attr) bool {
			// Unknown fields at info (news to an operator), the rest at debug.
			if want := map[bool]slog.Level{true: slog.LevelInfo, false: slog.LevelDebug}[strings.HasPrefix(a.Value.String(), "field ")]; a.Key == "removed" && r.Level == want {
				out = append(out, a.Value.String())
			}
			return true
		})
	}
	return out
}

func TestNonJSONContentTypeIsAnError(t *testing.T) {
	isolateEnv(t)
	srv := bedrocktest.NewServer(t, bedrocktest.Options{})
	// A proxy in front of Bedrock answering HTML: checked before decoding.
	d := deployment(srv)
	hc := &http.Client{Transport: rewriteContentType{}}
	p := newProvider(t, d, bedrock.Options{HTTPClient: hc})
	_, err := p.Send(context.Background(), request(false))
	if le := llmError(t, err); le.Status != http.StatusBadGateway || !strings.Contains(le.Message, "text/html") {
		t.Errorf("got %v", le)
	}
}

type rewriteContentType struct{}

func (rewriteContentType) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		resp.Header.Set("Content-Type", "text/html")
	}
	return resp, err
}

// sharedDir finds ../shared (the team's read-only data) from the package.
func sharedDir(t *testing.T) string {
	t.Helper()
	dir, _ := os.Getwd()
	for ; dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
		if st, err := os.Stat(filepath.Join(dir, "shared", "claude-code-requests")); err == nil && st.IsDir() {
			return filepath.Join(dir, "shared")
		}
	}
	t.Skip("shared/claude-code-requests not found")
	return ""
}

// signedPost signs a request with the fake's credentials as the SDK would.
func signedPost(t *testing.T, c *http.Client, fake *bedrocktest.Server, path string, body []byte) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, fake.URL+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	cr := fake.Credentials()
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: cr.AccessKeyID, SecretAccessKey: cr.SecretAccessKey},
		req, hex.EncodeToString(sum[:]), "bedrock", fake.Region, time.Now())
	if err != nil {
		return nil, err
	}
	return c.Do(req)
}

// TestNextHonoursContext: a caller that gives up gets its context's error
// while the upstream is silent, and Close releases the stream.
func TestNextHonoursContext(t *testing.T) {
	isolateEnv(t)
	release := make(chan struct{})
	defer close(release)
	fake := bedrocktest.NewServer(t, bedrocktest.Options{Reply: func(*bedrocktest.Call) bedrocktest.Reply {
		return bedrocktest.Reply{BeforeEvent: func(i int) {
			if i == 1 {
				<-release
			}
		}}
	}})
	p := newProvider(t, deployment(fake), bedrock.Options{})
	s, err := p.Stream(context.Background(), request(true))
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := s.Next(context.Background()); err != nil || ev.Type != "message_start" {
		t.Fatalf("first: %v %v", ev.Type, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Next on a cancelled context: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
}
