package main

import (
	"encoding/json"
	"net/http"
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
	env := dynamoEnv(t, cfgPath, "gw-multi")
	instances := startInstances(t, env, 4)
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
			req, _ := http.NewRequest("POST", instances[i%4].base+"/v1/messages",
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
	for _, in := range instances {
		in.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, in := range instances {
		in.cmd.Wait()
	}
	base := startInstance(t, env, false).base
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
