package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// On Cloud Run the access line carries Cloud Logging's fields: severity,
// the trace of X-Cloud-Trace-Context qualified by the project, its span id
// (decimal there, hex here) and httpRequest, so Cloud Logging files the
// line under the request.
func TestAccessLineHasCloudLoggingFields(t *testing.T) {
	port := freePort(t)
	cmd := exec.Command(gatewayBinary(t))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), "PORT="+port, "GATEWAY_CONFIG="+writeConfig(t, streamConfig),
		"GATEWAY_STATE_FILE="+filepath.Join(t.TempDir(), "state.db"), "GOOGLE_CLOUD_PROJECT=my-proj", "K_SERVICE=gw",
		"GATEWAY_STATE_STORE=memory")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	base := "http://127.0.0.1:" + port
	for i := 0; ; i++ {
		if resp, err := http.Get(base + "/health/liveliness"); err == nil {
			resp.Body.Close()
			break
		}
		if i == 100 {
			t.Fatal("server did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	req, _ := http.NewRequest("POST", base+"/v1/messages?beta=true",
		strings.NewReader(`{"model":"claude-sonnet","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("x-api-key", "sk-k")
	req.Header.Set("X-Cloud-Trace-Context", "105445aa7843bc8bf206b12000100000/255;o=1")
	req.Header.Set("User-Agent", "claude-cli/2.1.332 (external, cli)")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("server output ended without an access line")
			}
			if gjson.Get(line, "message").String() != "request" {
				continue
			}
			want := map[string]string{
				"severity":                               "INFO",
				`logging\.googleapis\.com/trace`:         "projects/my-proj/traces/105445aa7843bc8bf206b12000100000",
				`logging\.googleapis\.com/spanId`:        "00000000000000ff",
				`logging\.googleapis\.com/trace_sampled`: "true",
				"httpRequest.requestMethod":              "POST",
				"httpRequest.requestUrl":                 "/v1/messages?beta=true",
				"httpRequest.status":                     "200",
				"httpRequest.userAgent":                  "claude-cli/2.1.332 (external, cli)",
				"model_group":                            "claude-sonnet",
			}
			for path, v := range want {
				if got := gjson.Get(line, path).String(); got != v {
					t.Errorf("%s = %q, want %q", path, got, v)
				}
			}
			if !strings.HasSuffix(gjson.Get(line, "httpRequest.latency").String(), "s") {
				t.Errorf("latency not in Cloud Logging's duration form: %s", line)
			}
			return
		case <-timeout:
			t.Fatal("no access line")
		}
	}
}
