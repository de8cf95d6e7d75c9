package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdaurl"
	"github.com/tidwall/gjson"

	"github.com/claude-gateway/claude-gateway/core/logging"
	"github.com/claude-gateway/claude-gateway/core/recovery"
	"github.com/claude-gateway/claude-gateway/functions/lambda/runtimeapi"
)

// bootstrapPath is the real bootstrap, built once for the host architecture
// exactly as the Makefile builds it for Lambda (static, the lean tags of
// `make print-tags`; -tags lambda.norpc where make is missing).
var bootstrapPath string

// lambdaTags are the Makefile's Lambda build tags.
func lambdaTags() string {
	out, err := exec.Command("make", "-s", "-C", filepath.Join("..", ".."), "print-tags", "BUNDLE_CONFIG=config.example.yaml").Output()
	if err != nil {
		return "lambda.norpc"
	}
	for _, l := range strings.Split(string(out), "\n") {
		if name, tags, ok := strings.Cut(l, " "); ok && name == "lambda" {
			return tags
		}
	}
	return "lambda.norpc"
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gateway-bootstrap-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bootstrapPath = filepath.Join(dir, "bootstrap")
	cmd := exec.Command(goTool(), "build", "-tags", lambdaTags(), "-trimpath", "-o", bootstrapPath, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building bootstrap: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// syncBuffer collects the function's log lines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testConfig(t *testing.T, name string) string {
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func fnOptions(t *testing.T, logs *syncBuffer, env ...string) runtimeapi.Options {
	return runtimeapi.Options{
		Bootstrap: bootstrapPath,
		TaskRoot:  t.TempDir(),
		Env:       append([]string{"GATEWAY_CONFIG=" + testConfig(t, "config.yaml"), "GATEWAY_MASTER_KEY=sk-local-dev", "GATEWAY_STATE_STORE=memory"}, env...),
		Stdout:    logs,
		Stderr:    logs,
		Timeout:   time.Minute,
	}
}

// startFunction starts one execution environment of the real bootstrap.
func startFunction(t *testing.T, env ...string) (*runtimeapi.Instance, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	in, err := runtimeapi.Start(fnOptions(t, logs, env...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		if t.Failed() {
			t.Logf("function output:\n%s", logs.String())
		}
	})
	return in, logs
}

func messagesRequest(t *testing.T, model string, stream bool) *http.Request {
	body := fmt.Sprintf(`{"model":%q,"max_tokens":256,"stream":%v,"messages":[{"role":"user","content":"Hello"}]}`, model, stream)
	r := httptest.NewRequest("POST", "https://abc.lambda-url.us-east-1.on.aws/v1/messages", strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer sk-local-dev")
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("anthropic-version", "2023-06-01")
	return r
}

func event(t *testing.T, format string, r *http.Request) []byte {
	t.Helper()
	body, _ := io.ReadAll(r.Body)
	ev, err := runtimeapi.NewEvent(format, r, body, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// sseEvent is one event and when it reached the reader.
type sseEvent struct {
	name string
	data string
	at   time.Time
}

func readSSE(t *testing.T, r io.Reader) []sseEvent {
	t.Helper()
	var out []sseEvent
	sc := bufio.NewScanner(r)
	var cur sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			cur = sseEvent{name: strings.TrimPrefix(line, "event: ")}
		case strings.HasPrefix(line, "data: "):
			cur.data = strings.TrimPrefix(line, "data: ")
		case line == "" && cur.name != "":
			cur.at = time.Now()
			out = append(out, cur)
			cur = sseEvent{}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading SSE: %v", err)
	}
	return out
}

// checkIncremental asserts a whole Anthropic stream whose events arrived
// while they were being produced: the simulated claude-sonnet paces its 20
// deltas 25 ms apart (~475 ms from first to last), so a buffered delivery
// would show them all within a few milliseconds of each other.
func checkIncremental(t *testing.T, events []sseEvent) {
	t.Helper()
	var names []string
	var firstDelta, stop time.Time
	deltas := 0
	for _, e := range events {
		names = append(names, e.name)
		if e.name == "content_block_delta" {
			if deltas == 0 {
				firstDelta = e.at
			}
			deltas++
		}
		if e.name == "message_stop" {
			stop = e.at
		}
	}
	if len(names) < 2 || names[0] != "message_start" || names[len(names)-1] != "message_stop" {
		t.Fatalf("event sequence = %v", names)
	}
	if deltas != 20 {
		t.Fatalf("got %d deltas, want 20: %v", deltas, names)
	}
	if got := gjson.Get(events[0].data, "message.model").String(); got != "claude-sonnet" {
		t.Errorf("message_start model = %q, want the client's alias", got)
	}
	if spread := stop.Sub(firstDelta); spread < 200*time.Millisecond {
		t.Fatalf("first delta arrived only %v before message_stop: the stream was buffered", spread)
	}
}

// The runtime posts a streamed function-URL response (prelude, 8 NULs,
// body) and its events reach the invoker one by one, as produced.
func TestStreamingResponseThroughRuntimeAPI(t *testing.T) {
	in, _ := startFunction(t)
	resp, err := in.Invoke(context.Background(), event(t, runtimeapi.FormatFunctionURL, messagesRequest(t, "claude-sonnet", true)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if !resp.Streaming || resp.ContentType != runtimeapi.IntegrationContentType {
		t.Fatalf("response not posted in streaming mode: streaming=%v content-type=%q mode=%q", resp.Streaming, resp.ContentType, resp.ResponseMode)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Headers.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("prelude: status %d headers %v", resp.StatusCode, resp.Headers)
	}
	if g := resp.Headers.Get("X-Litellm-Model-Group"); g != "claude-sonnet" {
		t.Errorf("x-litellm-model-group = %q", g)
	}
	checkIncremental(t, readSSE(t, resp.Body))
	<-resp.Done()
	if fe := resp.Err(); fe != nil {
		t.Fatalf("function error: %v", fe)
	}
}

// The same through plain HTTP, as `make lambda-local` serves it.
func TestStreamingThroughFunctionURLBridge(t *testing.T) {
	logs := &syncBuffer{}
	pool := &runtimeapi.Pool{Options: fnOptions(t, logs), Max: 2}
	srv := httptest.NewServer(&runtimeapi.Bridge{Pool: pool})
	t.Cleanup(func() {
		srv.Close()
		pool.Close()
		if t.Failed() {
			t.Logf("function output:\n%s", logs.String())
		}
	})
	req := messagesRequest(t, "claude-sonnet", true)
	hreq, _ := http.NewRequest("POST", srv.URL+"/v1/messages", req.Body)
	hreq.Header = req.Header
	res, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d, content-type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	checkIncremental(t, readSSE(t, res.Body))
}

// Every file in events/ is a valid event for `sam local invoke -e`, and the
// function answers each as a function URL (or API Gateway) would relay it.
func TestEventFiles(t *testing.T) {
	urlFn, _ := startFunction(t)
	apiFn, _ := startFunction(t, "GATEWAY_LAMBDA_MODE=apigw-v2")
	tests := []struct {
		file      string
		fn        *runtimeapi.Instance
		streaming bool
		ctype     string
		check     func(t *testing.T, body string)
	}{
		{"function-url-messages-stream.json", urlFn, true, "text/event-stream", func(t *testing.T, b string) {
			if !strings.HasPrefix(b, "event: message_start\n") || !strings.HasSuffix(b, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n") {
				t.Fatalf("not a whole stream: %q", b)
			}
		}},
		{"function-url-messages.json", urlFn, true, "application/json", func(t *testing.T, b string) {
			if gjson.Get(b, "type").String() != "message" || gjson.Get(b, "model").String() != "claude-sonnet" {
				t.Fatalf("not a message: %s", b)
			}
		}},
		{"function-url-readiness.json", urlFn, true, "application/json", func(t *testing.T, b string) {
			if gjson.Get(b, "status").String() != "healthy" {
				t.Fatalf("readiness: %s", b)
			}
		}},
		{"function-url-models.json", urlFn, true, "application/json", func(t *testing.T, b string) {
			if !strings.Contains(gjson.Get(b, "data.#.id").Raw, `"claude-sonnet"`) {
				t.Fatalf("models: %s", b)
			}
		}},
		{"apigw-v2-messages.json", apiFn, false, "application/json", func(t *testing.T, b string) {
			if gjson.Get(b, "type").String() != "message" {
				t.Fatalf("not a message: %s", b)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			ev, err := os.ReadFile(filepath.Join("..", "..", "events", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := tc.fn.Invoke(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			<-resp.Done()
			if fe := resp.Err(); fe != nil {
				t.Fatalf("function error: %v", fe)
			}
			if resp.Streaming != tc.streaming {
				t.Errorf("streaming = %v, want %v", resp.Streaming, tc.streaming)
			}
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Headers.Get("Content-Type"), tc.ctype) {
				t.Fatalf("status %d, content-type %q: %s", resp.StatusCode, resp.Headers.Get("Content-Type"), body)
			}
			tc.check(t, string(body))
		})
	}
}

// API Gateway HTTP APIs do not stream: in apigw-v2 mode a streaming request
// comes back whole, in one buffered proxy response.
func TestAPIGatewayModeBuffers(t *testing.T) {
	in, _ := startFunction(t, "GATEWAY_LAMBDA_MODE=apigw-v2")
	resp, err := in.Invoke(context.Background(), event(t, runtimeapi.FormatAPIGatewayV2, messagesRequest(t, "claude-haiku", true)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.Streaming || resp.Payload == nil {
		t.Fatal("apigw-v2 mode posted a streamed response")
	}
	if resp.StatusCode != 200 || !strings.HasSuffix(string(body), "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n") {
		t.Fatalf("status %d body %q", resp.StatusCode, body)
	}
}

func TestErrorsKeepAnthropicShape(t *testing.T) {
	in, _ := startFunction(t)
	tests := []struct {
		name    string
		req     func() *http.Request
		status  int
		errType string
	}{
		{"no key", func() *http.Request {
			r := messagesRequest(t, "claude-haiku", false)
			r.Header.Del("Authorization")
			return r
		}, 401, "authentication_error"},
		{"unknown route", func() *http.Request {
			r := httptest.NewRequest("GET", "https://abc.lambda-url.us-east-1.on.aws/v1/nope", nil)
			r.Header.Set("x-api-key", "sk-local-dev")
			return r
		}, 404, "not_found_error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := in.Invoke(context.Background(), event(t, runtimeapi.FormatFunctionURL, tc.req()))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || gjson.GetBytes(body, "error.type").String() != tc.errType {
				t.Fatalf("status %d body %s", resp.StatusCode, body)
			}
		})
	}
}

// A public URL with AuthType NONE must not come up without a master key.
func TestInitRefusesNoMasterKey(t *testing.T) {
	in, logs := startFunction(t, "GATEWAY_CONFIG="+testConfig(t, "no-master-key.yaml"), "GATEWAY_MASTER_KEY=")
	resp, err := in.Invoke(context.Background(), event(t, runtimeapi.FormatFunctionURL, messagesRequest(t, "claude-haiku", false)))
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("status %d, want 502 from a failed init", resp.StatusCode)
		}
	}
	<-in.Exited()
	if !strings.Contains(logs.String(), "no master key") {
		t.Fatalf("init failure not logged: %s", logs.String())
	}
}

// The bundled config.yaml next to the binary is used when nothing else is named.
func TestDefaultConfigBesideBootstrap(t *testing.T) {
	logs := &syncBuffer{}
	opts := fnOptions(t, logs)
	opts.Env = []string{"GATEWAY_MASTER_KEY=sk-local-dev"}
	data, err := os.ReadFile(testConfig(t, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(opts.TaskRoot, "config.yaml"), data, 0o444); err != nil {
		t.Fatal(err)
	}
	in, err := runtimeapi.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	resp, err := in.Invoke(context.Background(), event(t, runtimeapi.FormatFunctionURL, messagesRequest(t, "claude-haiku", false)))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d; logs:\n%s", resp.StatusCode, logs.String())
	}
	if want := `"config":"file ` + filepath.Join(opts.TaskRoot, "config.yaml"); !strings.Contains(logs.String(), want) {
		t.Fatalf("init log does not name %s: %s", want, logs.String())
	}
}

// Lambda sends SIGTERM at spin-down (the library registers an extension to
// get it); the function flushes and exits 0 on its own.
func TestShutdownOnSIGTERM(t *testing.T) {
	in, logs := startFunction(t)
	resp, err := in.Invoke(context.Background(), event(t, runtimeapi.FormatFunctionURL, messagesRequest(t, "claude-haiku", false)))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	<-resp.Done()
	if err := in.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := in.ExitErr(); err != nil {
		t.Fatalf("bootstrap did not exit cleanly on SIGTERM: %v\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), `"message":"shutdown"`) {
		t.Fatalf("no shutdown log: %s", logs.String())
	}
}

// Cold start: process start to the first response served (a readiness
// probe), as Lambda would bill the first request.
func TestColdStart(t *testing.T) {
	in, logs := startFunction(t)
	r := httptest.NewRequest("GET", "https://abc.lambda-url.us-east-1.on.aws/health/readiness", nil)
	resp, err := in.Invoke(context.Background(), event(t, runtimeapi.FormatFunctionURL, r))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	<-resp.Done()
	tm := in.Timing()
	if tm.InitDone.IsZero() || tm.FirstResponse.Before(tm.InitDone) {
		t.Fatalf("timing not recorded: %+v", tm)
	}
	initMS := gjson.Get(firstLine(logs.String(), "lambda init done"), "init_ms").Float()
	t.Logf("cold start: process start -> init done %v (gateway init %.2f ms), -> first response served %v",
		tm.InitDone.Sub(tm.Started).Round(100*time.Microsecond), initMS, tm.FirstResponse.Sub(tm.Started).Round(100*time.Microsecond))
}

func firstLine(logs, contains string) string {
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, contains) {
			return l
		}
	}
	return ""
}

// BenchmarkColdStart reports process start to first response served.
func BenchmarkColdStart(b *testing.B) {
	dir := b.TempDir()
	cfg, _ := filepath.Abs(filepath.Join("testdata", "config.yaml"))
	r := httptest.NewRequest("GET", "https://abc.lambda-url.us-east-1.on.aws/health/readiness", nil)
	ev, _ := runtimeapi.NewEvent(runtimeapi.FormatFunctionURL, r, nil, time.Now())
	var total time.Duration
	for b.Loop() {
		in, err := runtimeapi.Start(runtimeapi.Options{Bootstrap: bootstrapPath, TaskRoot: dir,
			Env: []string{"GATEWAY_CONFIG=" + cfg, "GATEWAY_MASTER_KEY=sk-local-dev", "GATEWAY_STATE_STORE=memory"}})
		if err != nil {
			b.Fatal(err)
		}
		resp, err := in.Invoke(context.Background(), ev)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		<-resp.Done()
		tm := in.Timing()
		total += tm.FirstResponse.Sub(tm.Started)
		in.Close()
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms-to-first-response")
}

// lambdaurl runs the handler in its own goroutine and does not recover
// panics; recovery.Handler must turn one into a 500 in Anthropic's shape
// (or an error event if a stream had started) instead of a dead runtime.
func TestPanicUnderLambdaURL(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		status  int
		body    func(t *testing.T, body string)
	}{
		{"before any write", func(http.ResponseWriter, *http.Request) { panic("boom") }, 500, func(t *testing.T, b string) {
			if gjson.Get(b, "type").String() != "error" || gjson.Get(b, "error.type").String() != "api_error" {
				t.Fatalf("body %q", b)
			}
		}},
		{"mid-stream", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			w.Write([]byte("event: message_start\ndata: {}\n\n"))
			panic("boom")
		}, 200, func(t *testing.T, b string) {
			if !strings.HasPrefix(b, "event: message_start") || !strings.Contains(b, "event: error\n") {
				t.Fatalf("body %q", b)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncBuffer
			h := lambdaurl.Wrap(recovery.Handler(tc.handler, logging.New(&logs, slog.LevelInfo)))
			resp, err := h(context.Background(), &events.LambdaFunctionURLRequest{
				RawPath:        "/v1/messages",
				RequestContext: events.LambdaFunctionURLRequestContext{DomainName: "abc.lambda-url.us-east-1.on.aws", HTTP: events.LambdaFunctionURLRequestContextHTTPDescription{Method: "POST"}},
			})
			if err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(resp)
			prelude, err := runtimeapi.ReadPrelude(br)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(br)
			if prelude.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", prelude.StatusCode, tc.status)
			}
			tc.body(t, string(body))
			if !strings.Contains(logs.String(), `"severity":"ERROR","message":"handler panicked"`) {
				t.Fatalf("panic not logged: %s", logs.String())
			}
		})
	}
}

// Each invocation's access log line and EMF line carry its AWS request id
// (as "requestId", with "level"), the fields CloudWatch Logs Insights
// queries on; two invocations, two ids.
func TestLogLinesCarryRequestID(t *testing.T) {
	in, logs := startFunction(t)
	for range 2 {
		resp, err := in.Invoke(context.Background(), event(t, runtimeapi.FormatFunctionURL, messagesRequest(t, "claude-haiku", false)))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		<-resp.Done()
	}
	// The lines follow the response: wait for them.
	var access, emf []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		access, emf = nil, nil
		for _, line := range strings.Split(logs.String(), "\n") {
			switch {
			case gjson.Get(line, "message").String() == "request":
				if gjson.Get(line, "level").String() != "INFO" || gjson.Get(line, "severity").Exists() {
					t.Errorf("access line fields: %s", line)
				}
				access = append(access, gjson.Get(line, "requestId").String())
			case gjson.Get(line, "_aws").Exists():
				emf = append(emf, gjson.Get(line, "requestId").String())
			}
		}
		if len(access) == 2 && len(emf) == 2 {
			break
		}
	}
	if len(access) != 2 || len(emf) != 2 || access[0] == "" || access[0] == access[1] || access[0] != emf[0] || access[1] != emf[1] {
		t.Fatalf("request ids: access lines %q, EMF lines %q\n%s", access, emf, logs.String())
	}
}
