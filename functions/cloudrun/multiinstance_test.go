package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Four gateway processes share one DynamoDB server (dynalite, started by
// scripts/test-services.sh). The only deployment allows 60 requests a minute;
// 200 requests spread over the four: at most 60 are served in the window, the
// rest get 429 with retry-after, and exactly 200 spend records are written.
func TestMultiInstanceSharedDynamoDB(t *testing.T) {
	endpoint := os.Getenv("DYNAMODB_ENDPOINT")
	if endpoint == "" {
		t.Skip("SKIP: DYNAMODB_ENDPOINT is not set; run through scripts/test-services.sh (make test does) to start dynalite")
	}
	bin := gatewayBinary(t)
	cfgPath := writeConfig(t, `
model_list:
  - model_name: claude-sonnet
    litellm_params:
      model: simulated/claude-sonnet-4-5
      output_tokens: 3
      rpm: 60
router_settings:
  enable_pre_call_checks: true
general_settings:
  master_key: sk-multi
`)
	table := fmt.Sprintf("gw-multi-%d", time.Now().UnixNano())
	env := []string{"GATEWAY_CONFIG=" + cfgPath, "GATEWAY_STATE_STORE=dynamodb", "GATEWAY_STATE_TABLE=" + table,
		"AWS_ENDPOINT_URL_DYNAMODB=" + endpoint, "AWS_ACCESS_KEY_ID=AKIDLOCAL", "AWS_SECRET_ACCESS_KEY=local",
		"AWS_REGION=us-east-1", "LOG_LEVEL=warn"}
	start := func(create bool) (*exec.Cmd, string) {
		port := freePort(t)
		cmd := exec.Command(bin)
		cmd.Env = append(append(os.Environ(), env...), "PORT="+port, fmt.Sprintf("GATEWAY_STATE_CREATE_TABLE=%v", create))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		base := "http://127.0.0.1:" + port
		for i := 0; i < 200; i++ {
			if resp, err := http.Get(base + "/health/liveliness"); err == nil {
				resp.Body.Close()
				return cmd, base
			}
			time.Sleep(25 * time.Millisecond)
		}
		t.Fatal("gateway did not start")
		return nil, ""
	}
	var cmds []*exec.Cmd
	var bases []string
	for i := 0; i < 4; i++ {
		cmd, base := start(i == 0) // the first creates the table
		cmds, bases = append(cmds, cmd), append(bases, base)
	}
	// Keep all 200 requests inside one minute window.
	if s := time.Now().Second(); s > 40 {
		time.Sleep(time.Duration(61-s) * time.Second)
	}
	var mu sync.Mutex
	statuses := map[int]int{}
	missingRetryAfter := 0
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			req, _ := http.NewRequest("POST", bases[i%4]+"/v1/messages",
				strings.NewReader(`{"model":"claude-sonnet","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`))
			req.Header.Set("x-api-key", "sk-multi")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			statuses[resp.StatusCode]++
			if resp.StatusCode == 429 && resp.Header.Get("retry-after") == "" {
				missingRetryAfter++
			}
		}(i)
	}
	wg.Wait()
	if statuses[200] > 60 || statuses[200] == 0 || statuses[200]+statuses[429] != 200 || missingRetryAfter > 0 {
		t.Fatalf("statuses %v (429s without retry-after: %d): want at most 60 served and the rest 429", statuses, missingRetryAfter)
	}
	t.Logf("statuses %v", statuses)
	// SIGTERM flushes each instance's buffered spend records.
	for _, cmd := range cmds {
		cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, cmd := range cmds {
		cmd.Wait()
	}
	_, base := start(false)
	records := map[string]int{}
	cursor := ""
	for page := 0; page < 20; page++ {
		req, _ := http.NewRequest("GET", base+"/spend/logs?limit=50&cursor="+cursor, nil)
		req.Header.Set("Authorization", "Bearer sk-multi")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Data []struct {
				ID     string `json:"request_id"`
				Status int    `json:"status"`
			} `json:"data"`
			Next *string `json:"next_cursor"`
		}
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		for _, r := range out.Data {
			records[r.ID] = r.Status
		}
		if out.Next == nil {
			break
		}
		cursor = *out.Next
	}
	byStatus := map[int]int{}
	for _, st := range records {
		byStatus[st]++
	}
	if len(records) != 200 || byStatus[200] != statuses[200] || byStatus[429] != statuses[429] {
		t.Errorf("spend records: %d distinct, by status %v; want 200 matching %v", len(records), byStatus, statuses)
	}
}
