package spendapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/server"
	"github.com/claude-gateway/claude-gateway/core/spend"
	"github.com/claude-gateway/claude-gateway/core/store/memory"
)

var day = time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)

func fixture(t *testing.T) (http.Handler, []spend.Record) {
	recs := []spend.Record{
		{CallID: "a", StartTime: day.Add(1 * time.Hour), ModelGroup: "sonnet", RequestedModel: "sonnet", Provider: "bedrock", DeploymentID: "d1", KeyHash: spend.HashKey("sk-1"), InputTokens: 10, OutputTokens: 5, Cost: 0.1, Status: 200, UserID: "ana", TeamID: "platform"},
		{CallID: "b", StartTime: day.Add(2 * time.Hour), ModelGroup: "sonnet", RequestedModel: "claude-3-5-sonnet", Provider: "vertex_ai", DeploymentID: "d2", KeyHash: spend.HashKey("sk-2"), InputTokens: 20, Cost: 0.2, Status: 429, UserID: "ben", TeamID: "platform"},
		{CallID: "c", StartTime: day.Add(26 * time.Hour), ModelGroup: "haiku", RequestedModel: "haiku", Provider: "anthropic", DeploymentID: "d3", KeyHash: spend.HashKey("sk-1"), InputTokens: 30, Cost: 0.3, Status: 200, UserID: "ana", TeamID: "platform"},
		{CallID: "d", StartTime: day.Add(50 * time.Hour), ModelGroup: "haiku", RequestedModel: "haiku", Provider: "anthropic", DeploymentID: "d3", KeyHash: spend.HashKey("sk-1"), InputTokens: 40, Cost: 0.4, Status: 200},
	}
	st := memory.NewSpendStore()
	if err := st.PutSpend(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for p, h := range Handlers(st, Options{}) {
		mux.Handle(p, h)
	}
	return mux, recs
}

func get(t *testing.T, h http.Handler, path string, query url.Values) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest("GET", path+"?"+query.Encode(), nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("content type %q", ct)
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body is not JSON: %s", rec.Body.String())
	}
	return rec.Code, body
}

func ids(body map[string]any) string {
	var out []string
	for _, r := range body["data"].([]any) {
		out = append(out, r.(map[string]any)["request_id"].(string))
	}
	return strings.Join(out, ",")
}

func TestLogs(t *testing.T) {
	h, _ := fixture(t)
	tests := []struct {
		query url.Values
		want  string
	}{
		{url.Values{}, "d,c,b,a"},
		{url.Values{"model": {"sonnet"}}, "b,a"},
		{url.Values{"model": {"claude-3-5-sonnet"}}, "b"},
		{url.Values{"request_id": {"c"}}, "c"},
		{url.Values{"request_id": {"nope"}}, ""},
		{url.Values{"api_key": {"sk-1"}}, "d,c,a"},
		{url.Values{"api_key": {spend.HashKey("sk-2")}}, "b"},
		{url.Values{"user_id": {"ana"}}, "c,a"},
		{url.Values{"team_id": {"platform"}}, "c,b,a"},
		{url.Values{"team_id": {"platform"}, "user_id": {"ben"}}, "b"},
		{url.Values{"user_id": {"nobody"}}, ""},
		{url.Values{"start_date": {"2026-03-11"}}, "d,c"},
		{url.Values{"end_date": {"2026-03-11"}}, "c,b,a"}, // a bare end date includes the day
		{url.Values{"start_date": {"2026-03-10"}, "end_date": {"2026-03-10"}}, "b,a"},
		{url.Values{"start_date": {"2026-03-10T01:30:00Z"}, "end_date": {"2026-03-11T02:00:00Z"}}, "b"},
		{url.Values{"api_key": {"sk-1"}, "model": {"haiku"}, "start_date": {"2026-03-11"}, "end_date": {"2026-03-11"}}, "c"},
	}
	for _, tc := range tests {
		code, body := get(t, h, "/spend/logs", tc.query)
		if code != 200 || ids(body) != tc.want {
			t.Errorf("%v: %d %q, want %q", tc.query, code, ids(body), tc.want)
		}
		if body["has_more"] != false || body["next_cursor"] != nil {
			t.Errorf("%v: has_more %v next_cursor %v", tc.query, body["has_more"], body["next_cursor"])
		}
	}
}

func TestLogsPaging(t *testing.T) {
	h, _ := fixture(t)
	var got []string
	q := url.Values{"limit": {"3"}}
	for range 5 {
		code, body := get(t, h, "/spend/logs", q)
		if code != 200 {
			t.Fatalf("status %d", code)
		}
		got = append(got, ids(body))
		if body["has_more"] != true {
			break
		}
		q.Set("cursor", body["next_cursor"].(string))
	}
	if strings.Join(got, "|") != "d,c,b|a" {
		t.Fatalf("pages %q", got)
	}
}

func TestLogsBadRequests(t *testing.T) {
	h, _ := fixture(t)
	for _, q := range []url.Values{
		{"limit": {"0"}}, {"limit": {"1001"}}, {"limit": {"x"}},
		{"start_date": {"yesterday"}}, {"end_date": {"2026-13-01"}},
		{"start_date": {"2026-03-12"}, "end_date": {"2026-03-10"}},
		{"cursor": {"not-a-cursor"}},
	} {
		code, body := get(t, h, "/spend/logs", q)
		if code != 400 || body["type"] != "error" || body["error"].(map[string]any)["type"] != "invalid_request_error" {
			t.Errorf("%v: %d %v", q, code, body)
		}
	}
}

func TestReport(t *testing.T) {
	h, _ := fixture(t)
	code, body := get(t, h, "/spend/report", url.Values{"group_by": {"day"}})
	if code != 200 {
		t.Fatalf("status %d %v", code, body)
	}
	rows := body["data"].([]any)
	if len(rows) != 3 {
		t.Fatalf("rows %v", rows)
	}
	first := rows[0].(map[string]any)
	if first["group"] != "2026-03-10" || first["requests"] != 2.0 || first["failed_requests"] != 1.0 || first["prompt_tokens"] != 30.0 {
		t.Fatalf("first row %v", first)
	}
	if tot := body["total"].(map[string]any); tot["requests"] != 4.0 || tot["spend"].(float64) < 0.99 || tot["spend"].(float64) > 1.01 {
		t.Fatalf("total %v", tot)
	}

	code, body = get(t, h, "/spend/report", url.Values{"start_date": {"2026-03-11"}, "end_date": {"2026-03-12"}})
	if code != 200 || body["group_by"] != "model_group" {
		t.Fatalf("default group_by: %d %v", code, body)
	}
	if rows := body["data"].([]any); len(rows) != 1 || rows[0].(map[string]any)["group"] != "haiku" || rows[0].(map[string]any)["requests"] != 2.0 {
		t.Fatalf("rows %v", rows)
	}
	for _, by := range []string{"deployment", "provider", "api_key", "model_group", "user", "team"} {
		if code, _ := get(t, h, "/spend/report", url.Values{"group_by": {by}}); code != 200 {
			t.Errorf("group_by %s: %d", by, code)
		}
	}
	if code, _ := get(t, h, "/spend/report", url.Values{"group_by": {"teams"}}); code != 400 {
		t.Fatalf("unknown group_by: %d", code)
	}
}

type broken struct{ spend.Store }

func (broken) QuerySpend(context.Context, spend.Query) (spend.Page, error) {
	return spend.Page{}, errors.New("dial tcp: connection refused")
}

func TestStoreDown(t *testing.T) {
	mux := http.NewServeMux()
	for p, h := range Handlers(broken{}, Options{}) {
		mux.Handle(p, h)
	}
	for _, path := range []string{"/spend/logs", "/spend/report"} {
		code, body := get(t, mux, path, nil)
		if code != 503 || strings.Contains(body["error"].(map[string]any)["message"].(string), "dial") {
			t.Errorf("%s: %d %v", path, code, body)
		}
	}
}

// TestBehindMasterKey: registered through server.Options.Extra, the
// endpoints need the master key like every other route.
func TestBehindMasterKey(t *testing.T) {
	srv := server.New(server.Options{MasterKey: "sk-master", Extra: Handlers(memory.NewSpendStore(), Options{})})
	for _, path := range []string{"/spend/logs", "/spend/report"} {
		req := httptest.NewRequest("GET", path, nil)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != 401 {
			t.Errorf("%s without key: %d", path, rec.Code)
		}
		req = httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer sk-master")
		rec = httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Errorf("%s with key: %d %s", path, rec.Code, rec.Body.String())
		}
	}
}
