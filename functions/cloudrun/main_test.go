package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/sse"
)

// testBinary is a binary of this command built once per test run.
type testBinary struct {
	once sync.Once
	path string
	err  error
}

// build runs `go build` with args (and env added) into a temporary
// directory the first time, and returns the binary's path every time.
func (b *testBinary) build(t *testing.T, env []string, args ...string) string {
	t.Helper()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "gw-bin")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, "gateway")
		cmd := exec.Command("go", append(append([]string{"build"}, args...), "-o", b.path, ".")...)
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

var fullBinary testBinary

// gatewayBinary builds this command (every store and exporter, as `make
// build`) once per test run.
func gatewayBinary(t *testing.T) string {
	t.Helper()
	return fullBinary.build(t, nil)
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

func writeConfig(t *testing.T, yaml string) string {
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBadConfigExitsBeforeListening(t *testing.T) {
	bin := gatewayBinary(t)
	cases := []struct{ yaml, want string }{
		{"model_list:\n - model_name: a\n   litellm_params: {model: simulated/x}\n - model_name: b\n   litellm_params: {model: simulated/y}\n - model_name: c\n   litellm_params: {model: bedrok/x}\n",
			`model_list[2].litellm_params.model: unknown provider prefix "bedrok/"`},
		{"model_list:\n - model_name: a\n   litellm_params: {model: anthropic/x, api_key: os.environ/SURELY_UNSET_VAR}\n",
			"SURELY_UNSET_VAR"},
	}
	for _, c := range cases {
		port := freePort(t)
		cmd := exec.Command(bin, "-config", writeConfig(t, c.yaml))
		cmd.Env = append(os.Environ(), "PORT="+port)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("exit 0 on a bad config; output %s", out)
		}
		if !strings.Contains(string(out), c.want) {
			t.Errorf("output %q lacks %q", out, c.want)
		}
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "GATEWAY_CONFIG=")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "GATEWAY_CONFIG") {
		t.Errorf("no config: err %v output %s", err, out)
	}
}

const streamConfig = `
model_list:
  - model_name: claude-sonnet
    litellm_params:
      model: simulated/claude-sonnet-4-5
      tokens_per_second: 20
      output_tokens: 20
general_settings:
  master_key: sk-k
`

// startServer runs the binary with GATEWAY_CONFIG and waits until it answers.
func startServer(t *testing.T, yaml string) (*exec.Cmd, string, *bytes.Buffer) {
	bin := gatewayBinary(t)
	port := freePort(t)
	cmd := exec.Command(bin)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.Env = append(os.Environ(), "PORT="+port, "GATEWAY_CONFIG="+writeConfig(t, yaml),
		"GATEWAY_STATE_FILE="+filepath.Join(t.TempDir(), "state.db"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if !answers("http://127.0.0.1:" + port) {
		t.Fatalf("server did not start: %s", logs.String())
	}
	return cmd, port, &logs
}

// answers waits up to 5 s for base's liveness route.
func answers(base string) bool {
	for i := 0; i < 200; i++ {
		if resp, err := http.Get(base + "/health/liveliness"); err == nil {
			resp.Body.Close()
			return true
		}
		time.Sleep(25 * time.Millisecond)
	}
	return false
}

// The server listens on IPv6 too: Node clients resolve localhost to ::1 first.
func TestListensOnIPv4AndIPv6(t *testing.T) {
	_, port, _ := startServer(t, streamConfig)
	for _, host := range []string{"127.0.0.1", "[::1]"} {
		resp, err := http.Get("http://" + host + ":" + port + "/health/readiness")
		if err != nil {
			if host == "[::1]" && strings.Contains(err.Error(), "cannot assign") {
				t.Skip("SKIP: no IPv6 loopback on this machine")
			}
			t.Fatalf("%s: %v", host, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", host, resp.StatusCode)
		}
	}
}

// SIGTERM lets in-flight streams finish, then the process exits 0.
func TestSIGTERMDrainsStreams(t *testing.T) {
	cmd, port, logs := startServer(t, streamConfig)
	req, _ := http.NewRequest("POST", "http://127.0.0.1:"+port+"/v1/messages",
		strings.NewReader(`{"model":"claude-sonnet","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("x-api-key", "sk-k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := sse.NewReader(resp.Body)
	if _, err := rd.Next(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var last string
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("stream cut during drain: %v", err)
		}
		last = ev.Type
	}
	if last != "message_stop" {
		t.Errorf("last event %q, want message_stop", last)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit: %v; logs %s", err, logs.String())
	}
}

// The real binary (with its recovery middleware around the handler) streams:
// the first text delta arrives long before the last event is produced.
func TestBinaryStreamsIncrementally(t *testing.T) {
	_, port, _ := startServer(t, streamConfig) // 20 tokens at 20 tokens/s: about one second
	req, _ := http.NewRequest("POST", "http://127.0.0.1:"+port+"/v1/messages",
		strings.NewReader(`{"model":"claude-sonnet","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("x-api-key", "sk-k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := sse.NewReader(resp.Body)
	var firstDelta, stop time.Time
	for {
		ev, err := rd.Next()
		if err != nil {
			break
		}
		if ev.Type == "content_block_delta" && firstDelta.IsZero() {
			firstDelta = time.Now()
		}
		if ev.Type == "message_stop" {
			stop = time.Now()
		}
	}
	if firstDelta.IsZero() || stop.IsZero() {
		t.Fatal("stream incomplete")
	}
	if gap := stop.Sub(firstDelta); gap < 500*time.Millisecond {
		t.Errorf("first delta only %v before message_stop: the stream was buffered", gap)
	}
}

// instance is one gateway process of a multi-instance test.
type instance struct {
	cmd  *exec.Cmd
	base string
}

// dynamoEnv is the environment that points a gateway process at the shared
// DynamoDB server (dynalite, started by scripts/test-services.sh) and a
// table of its own; it skips the test when no server is running.
func dynamoEnv(t *testing.T, cfgPath, tablePrefix string, extra ...string) []string {
	t.Helper()
	endpoint := os.Getenv("DYNAMODB_ENDPOINT")
	if endpoint == "" {
		t.Skip("SKIP: DYNAMODB_ENDPOINT is not set; run through scripts/test-services.sh (make test does) to start dynalite")
	}
	table := fmt.Sprintf("%s-%d", tablePrefix, time.Now().UnixNano())
	return append([]string{"GATEWAY_CONFIG=" + cfgPath, "GATEWAY_STATE_STORE=dynamodb", "GATEWAY_STATE_TABLE=" + table,
		"AWS_ENDPOINT_URL_DYNAMODB=" + endpoint, "AWS_ACCESS_KEY_ID=AKIDLOCAL", "AWS_SECRET_ACCESS_KEY=local",
		"AWS_REGION=us-east-1", "LOG_LEVEL=warn"}, extra...)
}

// startInstance runs the binary with env on a free port and waits until it
// answers; create says whether this process creates the table.
func startInstance(t *testing.T, env []string, create bool) instance {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(gatewayBinary(t))
	cmd.Env = append(append(os.Environ(), env...), "PORT="+port, fmt.Sprintf("GATEWAY_STATE_CREATE_TABLE=%v", create))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base := "http://127.0.0.1:" + port
	if !answers(base) {
		t.Fatal("gateway did not start")
	}
	return instance{cmd: cmd, base: base}
}

// startInstances starts n processes on one table; the first creates it.
func startInstances(t *testing.T, env []string, n int) []instance {
	t.Helper()
	var out []instance
	for i := 0; i < n; i++ {
		out = append(out, startInstance(t, env, i == 0))
	}
	return out
}

// The server bounds the connections still sending their request
// (GATEWAY_MAX_SLOW_CONNECTIONS): 40 clients stuck in their headers against
// a bound of 8 are closed, oldest first, long before the 10 s header
// timeout, while a stream that was already answering runs to message_stop
// and new requests are served.
func TestSlowConnectionsBounded(t *testing.T) {
	t.Setenv("GATEWAY_MAX_SLOW_CONNECTIONS", "8")
	_, port, logs := startServer(t, streamConfig) // a stream takes about one second
	addr := "127.0.0.1:" + port
	streamDone := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest("POST", "http://"+addr+"/v1/messages",
			strings.NewReader(`{"model":"claude-sonnet","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("x-api-key", "sk-k")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			streamDone <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		streamDone <- string(b)
	}()
	time.Sleep(200 * time.Millisecond) // the stream is answering
	conns := make([]net.Conn, 40)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "POST /v1/messages HTTP/1.1\r\nHost: x\r\n") // and never the rest
		conns[i] = c
	}
	closed := 0
	// Closed (EOF, or a reset for the unread headers) well within the 10 s
	// header timeout; the newest up to the bound stay open.
	deadline := time.Now().Add(3 * time.Second)
	for _, c := range conns {
		c.SetReadDeadline(deadline)
		_, err := c.Read(make([]byte, 1))
		if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			closed++
		}
	}
	if closed != len(conns)-8 {
		t.Errorf("%d of %d connections stuck in their headers closed, want %d (all but the bound's newest)", closed, len(conns), len(conns)-8)
	}
	resp, err := http.Get("http://" + addr + "/health/readiness")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("a normal request beside the slow ones: %v %v", resp, err)
	}
	resp.Body.Close()
	if out := <-streamDone; !strings.Contains(out, "event: message_stop") {
		t.Fatalf("the stream answering before the slow clients came was cut: %q\n%s", out, logs.String())
	}
}
