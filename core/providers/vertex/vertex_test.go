package vertex

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/providers/vertex/vertextest"
	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/tidwall/gjson"
	"golang.org/x/oauth2"
)

var _ router.Provider = (*Provider)(nil)

const testModel = "claude-3-5-sonnet-v2@20241022"

func deployment(model, location, project, apiBase, creds string) config.Deployment {
	return config.Deployment{
		ID:        "vtx-" + location,
		ModelName: "claude-sonnet",
		Params: config.Params{
			Model: "vertex_ai/" + model, Provider: config.ProviderVertex, UpstreamModel: model,
			VertexProject: project, VertexLocation: location, APIBase: apiBase, VertexCredentials: creds,
		},
	}
}

// fakeProvider is a provider for srv authenticated with a token srv minted.
func fakeProvider(t testing.TB, srv *vertextest.Server, location string) *Provider {
	t.Helper()
	tok := &oauth2.Token{AccessToken: srv.NewAccessToken(), TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}
	p, err := New(context.Background(), deployment(testModel, location, srv.Project(), srv.URL, ""),
		Options{TokenSource: oauth2.StaticTokenSource(tok)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func messagesRequest(stream bool, betas ...string) *llm.Request {
	body := `{"model":"claude-sonnet","max_tokens":100,"messages":[{"role":"user","content":"Say hello"}]`
	if stream {
		body += `,"stream":true`
	}
	return &llm.Request{Kind: llm.KindMessages, Body: []byte(body + "}"), Model: "claude-sonnet", Stream: stream, Betas: betas}
}

func TestBaseURL(t *testing.T) {
	cases := []struct {
		apiBase, location, want string
		bad                     bool
	}{
		{"", "us-east5", "https://us-east5-aiplatform.googleapis.com", false},
		{"", "europe-west1", "https://europe-west1-aiplatform.googleapis.com", false},
		{"", "global", "https://aiplatform.googleapis.com", false},
		{"", "us", "https://aiplatform.us.rep.googleapis.com", false},
		{"http://127.0.0.1:8080", "us-east5", "http://127.0.0.1:8080", false},
		{"https://proxy.example.com/vertex/", "global", "https://proxy.example.com/vertex", false},
		{"https://us-east5-aiplatform.googleapis.com/v1", "us-east5", "https://us-east5-aiplatform.googleapis.com", false},
		{"https://proxy.example.com/p?x=1", "us-east5", "https://proxy.example.com/p", false},
		{"ftp://x", "us-east5", "", true},
		{"not a url", "us-east5", "", true},
	}
	for _, c := range cases {
		got, err := baseURL(c.apiBase, c.location)
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("baseURL(%q, %q) = %q, %v; want %q (error %v)", c.apiBase, c.location, got, err, c.want, c.bad)
		}
	}
}

func TestProviderURLs(t *testing.T) {
	ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"})
	cases := []struct {
		location, model, apiBase string
		raw, stream, count       string
	}{
		{"us-east5", "claude-3-5-sonnet-v2@20241022", "",
			"https://us-east5-aiplatform.googleapis.com/v1/projects/p-1/locations/us-east5/publishers/anthropic/models/claude-3-5-sonnet-v2@20241022:rawPredict",
			"https://us-east5-aiplatform.googleapis.com/v1/projects/p-1/locations/us-east5/publishers/anthropic/models/claude-3-5-sonnet-v2@20241022:streamRawPredict",
			"https://us-east5-aiplatform.googleapis.com/v1/projects/p-1/locations/us-east5/publishers/anthropic/models/count-tokens:rawPredict"},
		{"global", "claude-sonnet-4-5", "",
			"https://aiplatform.googleapis.com/v1/projects/p-1/locations/global/publishers/anthropic/models/claude-sonnet-4-5:rawPredict",
			"https://aiplatform.googleapis.com/v1/projects/p-1/locations/global/publishers/anthropic/models/claude-sonnet-4-5:streamRawPredict",
			"https://aiplatform.googleapis.com/v1/projects/p-1/locations/global/publishers/anthropic/models/count-tokens:rawPredict"},
		{"europe-west1", "claude-3-5-haiku@20241022", "https://gw.internal/vertex",
			"https://gw.internal/vertex/v1/projects/p-1/locations/europe-west1/publishers/anthropic/models/claude-3-5-haiku@20241022:rawPredict",
			"https://gw.internal/vertex/v1/projects/p-1/locations/europe-west1/publishers/anthropic/models/claude-3-5-haiku@20241022:streamRawPredict",
			"https://gw.internal/vertex/v1/projects/p-1/locations/europe-west1/publishers/anthropic/models/count-tokens:rawPredict"},
	}
	for _, c := range cases {
		p, err := New(context.Background(), deployment(c.model, c.location, "p-1", c.apiBase, ""), Options{TokenSource: ts})
		if err != nil {
			t.Fatal(err)
		}
		if p.rawURL != c.raw || p.streamURL != c.stream || p.countURL != c.count {
			t.Errorf("%s %s:\n%s\n%s\n%s", c.location, c.model, p.rawURL, p.streamURL, p.countURL)
		}
		if want, _ := baseURL(c.apiBase, c.location); p.Endpoint() != want {
			t.Errorf("Endpoint() = %q, want %q", p.Endpoint(), want)
		}
	}
}

func TestNewRejects(t *testing.T) {
	ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"})
	cases := map[string]config.Deployment{
		"no location":         deployment(testModel, "", "p", "", ""),
		"location as host":    deployment(testModel, "evil.com/#", "p", "", ""),
		"no project":          deployment(testModel, "us-east5", "", "", ""),
		"model with a slash":  deployment("a/b", "us-east5", "p", "", ""),
		"bad api_base":        deployment(testModel, "us-east5", "p", "gopher://x", ""),
		"bedrock deployment":  {Params: config.Params{Provider: config.ProviderBedrock, UpstreamModel: "m", VertexLocation: "us-east5", VertexProject: "p"}},
		"unsupported creds":   deployment(testModel, "us-east5", "p", "", `{"type":"gdch_service_account"}`),
		"missing creds file":  deployment(testModel, "us-east5", "p", "", "/nonexistent/key.json"),
		"creds without type":  deployment(testModel, "us-east5", "p", "", `{"client_email":"x"}`),
		"broken service acct": deployment(testModel, "us-east5", "p", "", `{"type":"service_account","private_key":"-----BEGIN nonsense"}`),
	}
	for name, d := range cases {
		var opts Options
		if d.Params.VertexCredentials == "" {
			opts.TokenSource = ts
		}
		if _, err := New(context.Background(), d, opts); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "BEGIN nonsense") {
			t.Errorf("%s: error leaks credential content: %v", name, err)
		}
	}
}

func TestSend(t *testing.T) {
	srv := vertextest.NewServer(t, vertextest.Options{})
	p := fakeProvider(t, srv, "us-east5")
	resp, err := p.Send(context.Background(), messagesRequest(false,
		"claude-code-20250219", "context-1m-2025-08-07", "interleaved-thinking-2025-05-14", "thinking-token-count-2026-05-13"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 || gjson.GetBytes(resp.Body, "content.0.text").String() != "Hello from fake Vertex." {
		t.Fatalf("response %d %s", resp.Status, resp.Body)
	}
	if resp.Header.Get("Request-Id") == "" {
		t.Error("request id not passed on")
	}
	calls := srv.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d calls", len(calls))
	}
	c := calls[0]
	if c.Method != "rawPredict" || c.Project != srv.Project() || c.Location != "us-east5" || c.Model != testModel {
		t.Errorf("call %s %s %s %s", c.Method, c.Project, c.Location, c.Model)
	}
	if want := []string{"context-1m-2025-08-07"}; !reflect.DeepEqual(c.Betas, want) {
		t.Errorf("betas %v, want %v", c.Betas, want)
	}
	if gjson.GetBytes(c.Body, "model").Exists() || gjson.GetBytes(c.Body, "anthropic_version").String() != AnthropicVersion {
		t.Errorf("body %s", c.Body)
	}
}

func TestSendNoBetaHeader(t *testing.T) {
	srv := vertextest.NewServer(t, vertextest.Options{})
	p := fakeProvider(t, srv, "us-east5")
	if _, err := p.Send(context.Background(), messagesRequest(false, "claude-code-20250219")); err != nil {
		t.Fatal(err)
	}
	if h := srv.Calls()[0].Header; h.Get("anthropic-beta") != "" {
		t.Errorf("anthropic-beta %q sent with every flag dropped", h.Get("anthropic-beta"))
	}
}

func TestStream(t *testing.T) {
	srv := vertextest.NewServer(t, vertextest.Options{Text: "one two three", EventDelay: time.Millisecond})
	p := fakeProvider(t, srv, "global")
	s, err := p.Stream(context.Background(), messagesRequest(true, "context-1m-2025-08-07"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var types []string
	var text strings.Builder
	var usage llm.Usage
	for {
		ev, err := s.Next(context.Background())
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, ev.Type)
		usage.ObserveEvent(ev)
		text.WriteString(gjson.GetBytes(ev.Data, "delta.text").String())
	}
	want := []string{"message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta",
		"content_block_delta", "content_block_stop", "message_delta", "message_stop"}
	if !reflect.DeepEqual(types, want) {
		t.Errorf("events %v", types)
	}
	if text.String() != "one two three" || usage.OutputTokens != 3 || usage.InputTokens == 0 {
		t.Errorf("text %q usage %+v", text.String(), usage)
	}
	if _, err := s.Next(context.Background()); err != io.EOF {
		t.Errorf("Next after end: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	s.Close()
	c := srv.Calls()[0]
	if c.Method != "streamRawPredict" || c.Location != "global" || !gjson.GetBytes(c.Body, "stream").Bool() {
		t.Errorf("call %s %s %s", c.Method, c.Location, c.Body)
	}
}

func TestCountTokens(t *testing.T) {
	srv := vertextest.NewServer(t, vertextest.Options{})
	p := fakeProvider(t, srv, "us-east5")
	// Claude Code's betas on a count (tool search and web search are what
	// Vertex's count-tokens refused in LiteLLM #39597).
	req := &llm.Request{Kind: llm.KindCountTokens, Betas: []string{"claude-code-20250219", "interleaved-thinking-2025-05-14",
		"context-management-2025-06-27", "token-counting-2024-11-01", "tool-search-tool-2025-10-19", "web-search-2025-03-05", "context-1m-2025-08-07"},
		Body: []byte(`{"model":"claude-sonnet","messages":[{"role":"user","content":"count me"}]}`)}
	resp, err := p.Send(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if gjson.GetBytes(resp.Body, "input_tokens").Int() <= 0 {
		t.Errorf("body %s", resp.Body)
	}
	c := srv.Calls()[0]
	if c.Model != "count-tokens" || c.Method != "rawPredict" || gjson.GetBytes(c.Body, "model").String() != "claude-3-5-sonnet-v2" {
		t.Errorf("call %s:%s body %s", c.Model, c.Method, c.Body)
	}
	if len(c.Betas) != 0 {
		t.Errorf("count-tokens sent betas %v", c.Betas)
	}
	if _, err := p.Stream(context.Background(), req); err == nil {
		t.Error("streaming count_tokens accepted")
	}
}

// Every captured Claude Code / SDK request reaches the fake without a 400:
// role "system" messages, safeguards, deferred tools with the renamed
// tool-search beta, context_management with its beta.
func TestClaudeCodeFixturesReachVertex(t *testing.T) {
	srv := vertextest.NewServer(t, vertextest.Options{})
	p := fakeProvider(t, srv, "us-east5")
	for _, f := range loadFixtures(t) {
		if f.Path != "/v1/messages" && f.Path != "/v1/messages/count_tokens" {
			continue
		}
		t.Run(f.Name, func(t *testing.T) {
			req := f.request()
			ctx := context.Background()
			if gjson.GetBytes(f.Body, "stream").Bool() {
				s, err := p.Stream(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				for {
					if _, err := s.Next(ctx); err == io.EOF {
						break
					} else if err != nil {
						t.Fatal(err)
					}
				}
				return
			}
			if _, err := p.Send(ctx, req); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func asLLMError(t *testing.T, err error) *llm.Error {
	t.Helper()
	var e *llm.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not *llm.Error", err, err)
	}
	return e
}

func TestUpstreamErrorsReachCaller(t *testing.T) {
	anthropic400 := vertextest.AnthropicError(400, "invalid_request_error", "messages.0: bad block")
	quota := vertextest.GoogleError(429, "RESOURCE_EXHAUSTED", "Quota exceeded")
	quota.Header.Set("Retry-After", "4")
	listed := vertextest.Failure{Status: 503, Body: `[{"error":{"code":503,"message":"Service unavailable","status":"UNAVAILABLE"}}]`}
	cases := []struct {
		name     string
		fail     vertextest.Failure
		status   int
		typ      string
		retry    bool
		after    time.Duration
		passBody bool
	}{
		{"quota", quota, 429, llm.ErrRateLimit, true, 4 * time.Second, false},
		{"list-wrapped unavailable", listed, 529, llm.ErrOverloaded, true, 0, false},
		{"deadline", vertextest.GoogleError(504, "DEADLINE_EXCEEDED", "late"), 504, llm.ErrTimeout, true, 0, false},
		{"anthropic 400 unchanged", anthropic400, 400, llm.ErrInvalidRequest, false, 0, true},
	}
	srv := vertextest.NewServer(t, vertextest.Options{})
	p := fakeProvider(t, srv, "us-east5")
	for _, c := range cases {
		for _, streaming := range []bool{false, true} {
			srv.FailNext(c.fail)
			var err error
			if streaming {
				_, err = p.Stream(context.Background(), messagesRequest(true))
			} else {
				_, err = p.Send(context.Background(), messagesRequest(false))
			}
			e := asLLMError(t, err)
			if e.Status != c.status || e.Type != c.typ || e.Retryable != c.retry || e.RetryAfter != c.after {
				t.Errorf("%s stream=%v: %d %s retry=%v after=%v", c.name, streaming, e.Status, e.Type, e.Retryable, e.RetryAfter)
			}
			if c.passBody && string(e.Body) != c.fail.Body {
				t.Errorf("%s: body %s, want %s", c.name, e.Body, c.fail.Body)
			}
		}
	}
}

func TestFakeRefusals(t *testing.T) {
	srv := vertextest.NewServer(t, vertextest.Options{Models: []string{testModel}})
	ctx := context.Background()

	bogus := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "ya29.not-issued"})
	p, err := New(ctx, deployment(testModel, "us-east5", srv.Project(), srv.URL, ""), Options{TokenSource: bogus})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Send(ctx, messagesRequest(false))
	if e := asLLMError(t, err); e.Status != 401 || e.Type != llm.ErrAuthentication {
		t.Errorf("bad token: %v", e)
	}

	good := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: srv.NewAccessToken()})
	p, _ = New(ctx, deployment(testModel, "us-east5", "other-project", srv.URL, ""), Options{TokenSource: good})
	_, err = p.Send(ctx, messagesRequest(false))
	if e := asLLMError(t, err); e.Status != 403 || e.Type != llm.ErrPermission {
		t.Errorf("wrong project: %v", e)
	}

	p, _ = New(ctx, deployment("claude-nope@1", "us-east5", srv.Project(), srv.URL, ""), Options{TokenSource: good})
	_, err = p.Stream(ctx, messagesRequest(true))
	if e := asLLMError(t, err); e.Status != 404 || e.Type != llm.ErrNotFound || e.Retryable {
		t.Errorf("unknown model: %v", e)
	}
}

func drain(t *testing.T, s llm.Stream) ([]llm.Event, error) {
	t.Helper()
	var evs []llm.Event
	for {
		ev, err := s.Next(context.Background())
		if err != nil {
			if err == io.EOF {
				return evs, nil
			}
			return evs, err
		}
		evs = append(evs, ev)
	}
}

// Vertex's mid-stream error event comes out of Next as the typed error,
// its JSON unchanged as the body, after the events before it.
func TestMidStreamErrorEvent(t *testing.T) {
	srv := vertextest.NewServer(t, vertextest.Options{})
	p := fakeProvider(t, srv, "us-east5")
	overloaded := vertextest.AnthropicError(529, "overloaded_error", "Overloaded")
	overloaded.AfterEvents = 3
	srv.FailNext(overloaded)
	s, err := p.Stream(context.Background(), messagesRequest(true))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	evs, err := drain(t, s)
	if len(evs) != 3 {
		t.Errorf("%d events before the error", len(evs))
	}
	e := asLLMError(t, err)
	if e.Status != 529 || e.Type != llm.ErrOverloaded || !e.Retryable || string(e.Body) != overloaded.Body {
		t.Errorf("error event: %d %s %v body %s", e.Status, e.Type, e.Retryable, e.Body)
	}
	if _, err := s.Next(context.Background()); err != io.EOF {
		t.Errorf("Next after the error event: %v", err)
	}
}

func TestMidStreamDropIsAnError(t *testing.T) {
	srv := vertextest.NewServer(t, vertextest.Options{})
	p := fakeProvider(t, srv, "us-east5")
	srv.FailNext(vertextest.Failure{AfterEvents: 3, Drop: true})
	s, err := p.Stream(context.Background(), messagesRequest(true))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	evs, err := drain(t, s)
	if len(evs) != 3 {
		t.Errorf("%d events before the drop", len(evs))
	}
	if e := asLLMError(t, err); e.Type != llm.ErrAPI || !e.Retryable {
		t.Errorf("drop: %v", e)
	}
}

// Next honours its context while blocked on a silent upstream.
func TestStreamNextCancel(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	srv := vertextest.NewServer(t, vertextest.Options{BeforeEvent: func(_, i int) {
		if i == 2 {
			<-release
		}
	}})
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	p := fakeProvider(t, srv, "us-east5")
	s, err := p.Stream(context.Background(), messagesRequest(true))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 2 {
		if _, err := s.Next(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := s.Next(ctx)
		errc <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("Next after cancel: %v", err)
	}
	once.Do(func() { close(release) })
}

// Each event reaches the caller before the fake sends the next one: the
// fake refuses to write event i until the test has received event i-1, and
// Stream returns before the first event exists.
func TestStreamIncremental(t *testing.T) {
	received := make(chan int, 64)
	returned := make(chan struct{})
	var broken atomic.Bool // after one timeout, stop waiting
	wait := func(ch <-chan struct{}, what string) bool {
		if broken.Load() {
			return false
		}
		select {
		case <-ch:
			return true
		case <-time.After(10 * time.Second): // only bounds a failure
			broken.Store(true)
			t.Error(what)
			return false
		}
	}
	srv := vertextest.NewServer(t, vertextest.Options{Text: "a b c d e f", BeforeEvent: func(_, i int) {
		if i == 0 {
			wait(returned, "Stream did not return before the first event was sent")
			return
		}
		got := make(chan struct{})
		go func() {
			if n, ok := <-received; ok {
				if n != i-1 {
					t.Errorf("caller reported event %d before event %d was sent", n, i)
				}
				close(got)
			}
		}()
		if !wait(got, fmt.Sprintf("caller did not receive event %d before event %d was due", i-1, i)) {
			return
		}
	}})
	p := fakeProvider(t, srv, "us-east5")
	s, err := p.Stream(context.Background(), messagesRequest(true))
	if err != nil {
		t.Fatal(err)
	}
	close(returned)
	defer s.Close()
	for i := 0; ; i++ {
		_, err := s.Next(context.Background())
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		received <- i
	}
}

func TestSendContextCanceled(t *testing.T) {
	srv := vertextest.NewServer(t, vertextest.Options{})
	p := fakeProvider(t, srv, "us-east5")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Send(ctx, messagesRequest(false)); !errors.Is(err, context.Canceled) {
		t.Errorf("err %v", err)
	}
}

func TestUnreachableUpstream(t *testing.T) {
	srv := vertextest.NewServer(t, vertextest.Options{})
	tok := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: srv.NewAccessToken()})
	// A port nothing listens on.
	p, err := New(context.Background(), deployment(testModel, "us-east5", "p", "http://127.0.0.1:1", ""), Options{TokenSource: tok})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Send(context.Background(), messagesRequest(false))
	if e := asLLMError(t, err); e.Status != http.StatusBadGateway || !e.Retryable {
		t.Errorf("unreachable: %v", e)
	}
}

func TestBetaHeader(t *testing.T) {
	p := fakeProvider(t, vertextest.NewServer(t, vertextest.Options{}), "us-east5")
	cc := []string{"claude-code-20250219", "interleaved-thinking-2025-05-14", "context-management-2025-06-27",
		"advanced-tool-use-2025-11-20", "effort-2025-11-24", "thinking-token-count-2026-05-13"}
	cases := []struct {
		name, body string
		want       []string
	}{
		{"adaptive thinking, no deferred tools", `{"thinking":{"type":"adaptive"},"tools":[{"name":"a"}]}`,
			[]string{"context-management-2025-06-27"}},
		{"budget thinking and deferred tools", `{"thinking":{"type":"enabled","budget_tokens":100},"tools":[{"name":"a"},{"name":"b","defer_loading":true}]}`,
			[]string{"interleaved-thinking-2025-05-14", "context-management-2025-06-27", "tool-search-tool-2025-10-19"}},
		{"tool search tool", `{"tools":[{"type":"tool_search_tool_regex_20251119","name":"tool_search"}]}`,
			[]string{"context-management-2025-06-27", "tool-search-tool-2025-10-19"}},
	}
	for _, c := range cases {
		kept, _ := p.betaHeader(&llm.Request{Body: []byte(c.body), Betas: cc})
		if !reflect.DeepEqual(kept, c.want) {
			t.Errorf("%s: %v, want %v", c.name, kept, c.want)
		}
	}
}
