package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/claude-gateway/claude-gateway/core/spend"
	"github.com/tidwall/gjson"
)

// storeServer is a private state store server this test starts, kills
// with SIGKILL and restarts on the same port and data directory.
type storeServer struct {
	t      *testing.T
	port   int
	args   []string // {port} is replaced
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
}

// freePort picks a port below Linux's ephemeral range (32768-60999), so
// that neither another test's bind(":0") nor an outgoing connection's local
// port can take it between this check and the server's bind, or while the
// server is down for its outage: the store restarts on the same port.
func freePort(t *testing.T) int {
	t.Helper()
	for range 200 {
		port := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
	t.Fatal("no free port in 20000-32000")
	return 0
}

// start runs the server on its port and waits until it serves there.
func (s *storeServer) start() {
	s.t.Helper()
	if err := s.tryStart(); err != nil {
		s.t.Fatal(err)
	}
}

// startAnywhere is the first start: a server that loses its port to
// another listener before it binds is started again on another one.
func (s *storeServer) startAnywhere() {
	s.t.Helper()
	var err error
	for range 3 {
		if err = s.tryStart(); err == nil {
			return
		}
		s.t.Log(err)
		s.port = freePort(s.t)
	}
	s.t.Fatal(err)
}

func (s *storeServer) tryStart() error {
	args := make([]string, len(s.args))
	for i, a := range s.args {
		args[i] = strings.ReplaceAll(a, "{port}", strconv.Itoa(s.port))
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		select {
		case <-exited:
			s.cmd = nil
			return fmt.Errorf("%s exited before serving on port %d: %s", args[0], s.port, out.String())
		default:
		}
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.port)); err == nil {
			c.Close()
			// A listener answered; it is ours only if our process is
			// still running a moment later (a lost bind race exits).
			select {
			case <-exited:
				s.cmd = nil
				return fmt.Errorf("%s exited while port %d answered (another listener?): %s", args[0], s.port, out.String())
			case <-time.After(100 * time.Millisecond):
			}
			return nil
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("%s did not start: %s", args[0], out.String())
		}
	}
}

// kill ends the server's whole process group with SIGKILL, as an outage would.
func (s *storeServer) kill() {
	if s.cmd == nil {
		return
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
	s.cmd = nil
}

// storeBackends are the servers this test can start: redis-server (with an
// append-only file, fsync per write: a restart keeps what it acknowledged)
// and dynalite (LevelDB on disk).
func storeBackends(t *testing.T) map[string]func(t *testing.T) (*storeServer, map[string]string) {
	out := map[string]func(t *testing.T) (*storeServer, map[string]string){}
	if bin, err := exec.LookPath("redis-server"); err == nil {
		out["redis"] = func(t *testing.T) (*storeServer, map[string]string) {
			s := &storeServer{t: t, port: freePort(t), args: []string{bin, "--bind", "127.0.0.1", "--port", "{port}",
				"--dir", t.TempDir(), "--appendonly", "yes", "--appendfsync", "always", "--save", ""}}
			return s, map[string]string{"GATEWAY_STATE_STORE": "redis", "REDIS_URL": "redis://127.0.0.1:{port}"}
		}
	} else {
		t.Log("SKIP redis: redis-server is not installed")
	}
	cli := os.Getenv("DYNALITE_CLI")
	if cli == "" {
		cli, _ = filepath.Abs("../../.cache/node/node_modules/dynalite/cli.js")
	}
	node, err := exec.LookPath("node")
	if _, serr := os.Stat(cli); serr == nil && err == nil {
		t.Setenv("AWS_ACCESS_KEY_ID", "test")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
		t.Setenv("AWS_REGION", "us-east-1")
		out["dynamodb"] = func(t *testing.T) (*storeServer, map[string]string) {
			s := &storeServer{t: t, port: freePort(t), args: []string{node, cli, "--host", "127.0.0.1", "--port", "{port}",
				"--path", t.TempDir(), "--createTableMs", "0"}}
			return s, map[string]string{"GATEWAY_STATE_STORE": "dynamodb", "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:{port}",
				"GATEWAY_STATE_TABLE": "outage", "GATEWAY_STATE_CREATE_TABLE": "true"}
		}
	} else {
		t.Logf("SKIP dynamodb: no dynalite at %s (scripts/test-services.sh installs it and sets DYNALITE_CLI)", cli)
	}
	return out
}

// The state store killed mid-load (SIGKILL) for 4 s and restarted: fail-open keeps
// serving, fail-closed refuses with a 503 in Anthropic's shape; /health
// says the store is down meanwhile; and every request's spend record is
// either in the store after recovery or logged as unsaved: none vanished.
func TestStateStoreOutage(t *testing.T) {
	backends := storeBackends(t)
	if len(backends) == 0 {
		t.Skip("no state store server available")
	}
	for name, open := range backends {
		for _, failClosed := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/fail_closed=%v", name, failClosed), func(t *testing.T) {
				t.Parallel()
				srvStore, env := open(t)
				srvStore.startAnywhere()
				t.Cleanup(srvStore.kill)
				for k, v := range env { // the port is known once it has started
					env[k] = strings.ReplaceAll(v, "{port}", strconv.Itoa(srvStore.port))
				}
				testOutage(t, srvStore, env, failClosed)
			})
		}
	}
}

func testOutage(t *testing.T, store *storeServer, env map[string]string, failClosed bool) {
	var logs bytes.Buffer
	yaml := fmt.Sprintf(`
model_list:
  - model_name: claude-sonnet
    litellm_params: {model: simulated/claude-sonnet, output_tokens: 2, rpm: 1000000}
router_settings: {enable_pre_call_checks: true}
general_settings:
  master_key: os.environ/MASTER
  state_fail_closed: %v
`, failClosed)
	gw := buildGateway(t, yaml, gateway.Options{Logger: newLogger(&logs), Platform: "local", Getenv: func(k string) string { return env[k] }})
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	closed := false
	t.Cleanup(func() {
		if !closed {
			gw.Close(context.Background())
		}
	})

	var mu sync.Mutex
	statuses := map[string]map[int]int{} // phase -> status -> count
	var ids []string
	phase := "before"
	load := func(stop <-chan struct{}, wg *sync.WaitGroup) {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			resp := postNoFatal(srv.URL+"/v1/messages", strings.Replace(simpleBody, `"stream":true`, `"stream":false`, 1))
			if resp == nil {
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			mu.Lock()
			if statuses[phase] == nil {
				statuses[phase] = map[int]int{}
			}
			statuses[phase][resp.StatusCode]++
			ids = append(ids, resp.Header.Get("x-litellm-call-id"))
			if resp.StatusCode != 200 && (resp.StatusCode != 503 || gjson.GetBytes(b, "error.type").String() != "api_error") {
				t.Errorf("%s: %d %s", phase, resp.StatusCode, b)
			}
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}
	setPhase := func(p string) { mu.Lock(); phase = p; mu.Unlock() }
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go load(stop, &wg)
	}

	time.Sleep(time.Second)
	setPhase("outage")
	store.kill()
	time.Sleep(1500 * time.Millisecond)
	h := health(t, srv.URL)
	if gjson.Get(h, "state_store.healthy").Bool() || gjson.Get(h, "state_store.fail_closed").Bool() != failClosed {
		t.Errorf("/health during the outage: %s", gjson.Get(h, "state_store").Raw)
	}
	// Long enough for the first failed spend batch to spend its retries
	// (logged as unsaved) while later ones are still retrying (written
	// after the restart): both ways must account for every record.
	time.Sleep(2500 * time.Millisecond)
	store.start()
	setPhase("recovering")
	// The guard leaves a failing store alone for a few seconds: recovery
	// is when a request is served again (fail-closed) or the store answers.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if gjson.Get(health(t, srv.URL), "state_store.healthy").Bool() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store still unhealthy 15 s after its restart: %s", gjson.Get(health(t, srv.URL), "state_store").Raw)
		}
	}
	setPhase("after")
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()

	mu.Lock()
	t.Logf("statuses by phase: %v", statuses)
	if n := statuses["before"][200]; n == 0 || len(statuses["before"]) != 1 {
		t.Errorf("before the outage: %v", statuses["before"])
	}
	// A store just restarted (dynalite reopening its files) can still be
	// slow for a moment: fail-closed may refuse a few requests then.
	if after := statuses["after"]; after[200] == 0 || 10*after[503] > after[200] || len(after) > 2 || (!failClosed && after[503] > 0) {
		t.Errorf("after recovery: %v", after)
	}
	if failClosed && statuses["outage"][503] == 0 {
		t.Errorf("fail-closed served through the outage: %v", statuses["outage"])
	}
	if !failClosed && len(statuses["outage"]) != 1 {
		t.Errorf("fail-open refused during the outage: %v", statuses["outage"])
	}
	sent := append([]string(nil), ids...)
	mu.Unlock()

	// Wait until the recorder has dealt with every record, then count.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		rec := gjson.Get(health(t, srv.URL), "spend_recorder")
		if rec.Get("written").Int()+rec.Get("unsaved").Int() >= int64(len(sent)) && rec.Get("buffered").Int() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("recorder %s after %d requests", rec.Raw, len(sent))
		}
	}
	stored := allSpend(t, srv.URL, len(sent))
	unsaved := unsavedIDs(t, logs.Bytes())
	rec := gjson.Get(health(t, srv.URL), "spend_recorder")
	gw.Close(context.Background())
	closed = true
	vanished := 0
	for _, id := range sent {
		_, inStore := stored[id]
		if !inStore && !unsaved[id] {
			vanished++
		}
	}
	t.Logf("%d requests: %d records in the store after recovery, %d logged as unsaved (recorder %s)", len(sent), len(stored), len(unsaved), rec.Raw)
	if vanished > 0 {
		t.Errorf("%d of %d spend records vanished: neither stored nor logged as unsaved", vanished, len(sent))
	}
	if int64(len(unsaved)) != rec.Get("unsaved").Int() {
		t.Errorf("%d unsaved log lines, the recorder counts %d", len(unsaved), rec.Get("unsaved").Int())
	}
}

func postNoFatal(url, body string) *http.Response {
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("content-type", "application/json")
	req.Header.Set("x-api-key", masterKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	return resp
}

func health(t *testing.T, base string) string {
	req, _ := http.NewRequest("GET", base+"/health", nil)
	req.Header.Set("x-api-key", masterKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// unsavedIDs reads the call ids of the spend_record_unsaved log lines.
func unsavedIDs(t *testing.T, logs []byte) map[string]bool {
	out := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg    string `json:"msg"`
			CallID string `json:"call_id"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == spend.UnsavedMessage {
			out[line.CallID] = true
		}
	}
	return out
}
