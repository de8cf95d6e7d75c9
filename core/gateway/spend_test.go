package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/claude-gateway/claude-gateway/core/sse"
)

type spendRow struct {
	ID           string  `json:"request_id"`
	Status       int     `json:"status"`
	ErrorType    string  `json:"error_type"`
	Stream       bool    `json:"stream"`
	Disconnected bool    `json:"client_disconnected"`
	Input        int64   `json:"prompt_tokens"`
	Output       int64   `json:"completion_tokens"`
	Cost         float64 `json:"spend"`
	Group        string  `json:"model_group"`
}

// Every call leaves one spend record: served, malformed, streamed, and
// streamed to a client that left mid-way (with the usage known so far).
func TestSpendRecordsForEveryCall(t *testing.T) {
	gw := startGateway(t, `
model_list:
  - model_name: claude-sonnet
    litellm_params:
      model: simulated/claude-sonnet-4-5
      output_tokens: 40
      tokens_per_second: 200
    model_info:
      input_cost_per_token: 0.000003
      output_cost_per_token: 0.000015
general_settings:
  master_key: os.environ/MASTER
`, gateway.Options{})
	ids := map[string]string{}
	resp := post(t, gw.URL+"/v1/messages", `{"model":"claude-sonnet","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`, nil)
	io.ReadAll(resp.Body)
	ids["served"] = resp.Header.Get("x-litellm-call-id")
	if resp.Header.Get("x-litellm-response-cost") == "" {
		t.Error("no x-litellm-response-cost on a non-streaming answer")
	}
	resp = post(t, gw.URL+"/v1/messages", `{"model":`, nil)
	io.ReadAll(resp.Body)
	ids["malformed"] = resp.Header.Get("x-litellm-call-id")

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", gw.URL+"/v1/messages", strings.NewReader(simpleBody))
	req.Header.Set("x-api-key", masterKey)
	sresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ids["disconnected"] = sresp.Header.Get("x-litellm-call-id")
	rd := sse.NewReader(sresp.Body)
	for i := 0; i < 4; i++ { // message_start, block start, two deltas
		if _, err := rd.Next(); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	sresp.Body.Close()

	rows := map[string]spendRow{}
	deadline := time.Now().Add(5 * time.Second)
	for len(rows) < 3 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		req, _ := http.NewRequest("GET", gw.URL+"/spend/logs?limit=100", nil)
		req.Header.Set("Authorization", "Bearer "+masterKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out struct{ Data []spendRow }
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		for _, r := range out.Data {
			rows[r.ID] = r
		}
	}
	served, malformed, gone := rows[ids["served"]], rows[ids["malformed"]], rows[ids["disconnected"]]
	if served.Status != 200 || served.Output != 40 || served.Input == 0 || served.Cost <= 0 || served.Group != "claude-sonnet" {
		t.Errorf("served record %+v", served)
	}
	if malformed.ID == "" || malformed.Status != 400 || malformed.ErrorType != "invalid_request_error" {
		t.Errorf("malformed record %+v", malformed)
	}
	if gone.ID == "" || !gone.Disconnected || !gone.Stream || gone.Input == 0 {
		t.Errorf("disconnected record %+v", gone)
	}
	if len(rows) != 3 {
		t.Errorf("%d records, want exactly 3: %+v", len(rows), rows)
	}
}
