package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/gateway"
)

const keysConfig = `
model_list:
  - model_name: claude-sonnet
    litellm_params: {model: simulated/claude-sonnet-4-5, time_to_first_token_ms: 0, tokens_per_second: 0, output_tokens: 3}
  - model_name: claude-haiku
    litellm_params: {model: simulated/claude-haiku-4-5, time_to_first_token_ms: 0, tokens_per_second: 0, output_tokens: 3}
general_settings:
  master_key: os.environ/MASTER
`

// call sends body to path with key and returns status, headers and body.
func call(t *testing.T, method, url, key, body string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("content-type", "application/json")
	req.Header.Set("anthropic-version", "2023-06-01")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func generateKey(t *testing.T, base, body string) (secret, token string) {
	t.Helper()
	code, _, out := call(t, "POST", base+"/key/generate", masterKey, body)
	if code != 200 {
		t.Fatalf("/key/generate %s = %d %s", body, code, out)
	}
	var g struct{ Key, Token string }
	if err := json.Unmarshal([]byte(out), &g); err != nil || !strings.HasPrefix(g.Key, "sk-") || len(g.Token) != 64 {
		t.Fatalf("/key/generate answer %s (%v)", out, err)
	}
	return g.Key, g.Token
}

func message(model string) string {
	return `{"model":"` + model + `","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`
}

func TestVirtualKeyLifecycle(t *testing.T) {
	srv := startGateway(t, keysConfig, gateway.Options{})
	base := srv.URL
	secret, token := generateKey(t, base, `{"models":["claude-haiku"],"key_alias":"alice","max_budget":10,"budget_duration":"30d"}`)

	if code, h, out := call(t, "POST", base+"/v1/messages", secret, message("claude-haiku")); code != 200 || h.Get("x-litellm-key-max-budget") != "10" {
		t.Fatalf("allowed model: %d %v %s", code, h, out)
	}
	code, _, out := call(t, "POST", base+"/v1/messages", secret, message("claude-sonnet"))
	if code != 403 || !strings.Contains(out, "claude-haiku") || !strings.Contains(out, `"permission_error"`) {
		t.Fatalf("other model: %d %s", code, out)
	}
	if code, _, out := call(t, "POST", base+"/v1/chat/completions", secret, message("claude-sonnet")); code != 403 || !strings.Contains(out, `"error"`) {
		t.Fatalf("other model on chat: %d %s", code, out)
	}
	code, _, out = call(t, "GET", base+"/v1/models", secret, "")
	if code != 200 || !strings.Contains(out, "claude-haiku") || strings.Contains(out, "claude-sonnet") {
		t.Fatalf("/v1/models for the key: %d %s", code, out)
	}
	if code, _, out := call(t, "GET", base+"/v1/models", masterKey, ""); !strings.Contains(out, "claude-sonnet") {
		t.Fatalf("/v1/models for the master key: %d %s", code, out)
	}
	// Admin routes are the master key's alone.
	for _, path := range []string{"/key/list", "/spend/logs"} {
		if code, _, _ := call(t, "GET", base+path, secret, ""); code != 401 {
			t.Errorf("GET %s with a virtual key = %d, want 401", path, code)
		}
	}
	code, _, out = call(t, "GET", base+"/key/info?key="+secret, masterKey, "")
	if code != 200 || !strings.Contains(out, `"key_alias":"alice"`) || strings.Contains(out, secret) {
		t.Fatalf("/key/info: %d %s", code, out)
	}
	code, _, out = call(t, "GET", base+"/key/list", masterKey, "")
	if code != 200 || !strings.Contains(out, token) || !strings.Contains(out, `"total_count":1`) {
		t.Fatalf("/key/list: %d %s", code, out)
	}

	// Block, unblock, regenerate, delete.
	steps := []struct {
		path, body string
		key        string
		want       int
	}{
		{"/key/block", `{"key":"` + secret + `"}`, secret, 401},
		{"/key/unblock", `{"key":"` + token + `"}`, secret, 403}, // admitted again, still haiku only
		{"/key/update", `{"key":"` + token + `","models":[]}`, secret, 200},
	}
	for _, st := range steps {
		if code, _, out := call(t, "POST", base+st.path, masterKey, st.body); code != 200 {
			t.Fatalf("%s: %d %s", st.path, code, out)
		}
		if code, _, out := call(t, "POST", base+"/v1/messages", st.key, message("claude-sonnet")); code != st.want {
			t.Fatalf("after %s: %d %s, want %d", st.path, code, out, st.want)
		}
	}
	code, _, out = call(t, "POST", base+"/key/regenerate", masterKey, `{"key":"`+secret+`"}`)
	var re struct{ Key string }
	if code != 200 || json.Unmarshal([]byte(out), &re) != nil || re.Key == secret {
		t.Fatalf("/key/regenerate: %d %s", code, out)
	}
	if code, _, _ := call(t, "POST", base+"/v1/messages", secret, message("claude-haiku")); code != 401 {
		t.Fatalf("old key after regenerate = %d, want 401", code)
	}
	if code, _, _ := call(t, "POST", base+"/v1/messages", re.Key, message("claude-haiku")); code != 200 {
		t.Fatalf("new key after regenerate = %d, want 200", code)
	}
	if code, _, out := call(t, "POST", base+"/key/delete", masterKey, `{"keys":["`+re.Key+`"]}`); code != 200 || !strings.Contains(out, "deleted_keys") {
		t.Fatalf("/key/delete: %d %s", code, out)
	}
	if code, _, out := call(t, "POST", base+"/v1/messages", re.Key, message("claude-haiku")); code != 401 || !strings.Contains(out, "authentication_error") {
		t.Fatalf("deleted key: %d %s", code, out)
	}
	// The master key always works.
	if code, _, _ := call(t, "POST", base+"/v1/messages", masterKey, message("claude-sonnet")); code != 200 {
		t.Fatalf("master key = %d", code)
	}
}

func TestVirtualKeyRefusals(t *testing.T) {
	srv := startGateway(t, keysConfig, gateway.Options{})
	base := srv.URL
	broke, _ := generateKey(t, base, `{"max_budget":0,"budget_duration":"1d"}`)
	code, _, out := call(t, "POST", base+"/v1/messages", broke, message("claude-haiku"))
	if code != 402 || !strings.Contains(out, "budget exceeded") || !strings.Contains(out, "resets at") {
		t.Fatalf("over budget: %d %s", code, out)
	}
	limited, _ := generateKey(t, base, `{"rpm_limit":2}`)
	for i, want := range []int{200, 200, 429} {
		code, h, out := call(t, "POST", base+"/v1/messages", limited, message("claude-haiku"))
		if code != want || (want == 429 && h.Get("Retry-After") == "") {
			t.Fatalf("rpm call %d: %d %v %s, want %d", i, code, h, out, want)
		}
	}
	expired, _ := generateKey(t, base, `{"expires":"2001-01-01T00:00:00Z"}`)
	if code, _, _ := call(t, "POST", base+"/v1/messages/count_tokens", expired, message("claude-haiku")); code != 401 {
		t.Fatalf("expired key = %d, want 401", code)
	}
	if code, _, _ := call(t, "POST", base+"/v1/messages", "sk-never-issued-0000000000", message("claude-haiku")); code != 401 {
		t.Fatalf("unknown key = %d, want 401", code)
	}
	for _, body := range []string{
		`{"rpm_limit":-1}`, `{"budget_duration":"fortnight"}`, `{"models":["gpt-9"]}`, `{"bogus":1}`, `{"max_budget":"ten"}`, `{"duration":"x"}`,
	} {
		code, _, out := call(t, "POST", base+"/key/generate", masterKey, body)
		if code != 400 {
			t.Errorf("/key/generate %s = %d %s, want 400", body, code, out)
		}
	}
	if code, _, out := call(t, "GET", base+"/key/list?size=500", masterKey, ""); code != 400 || !strings.Contains(out, "size") {
		t.Errorf("/key/list size=500 = %d %s", code, out)
	}
	code, _, out = call(t, "GET", base+"/key/list", masterKey, "")
	if code != 200 || !strings.Contains(out, `"total_count":3`) {
		t.Errorf("/key/list = %d %s, want 3 keys (bad requests wrote nothing)", code, out)
	}
}

// TestVirtualKeySpend: a virtual key's calls are recorded with its hash,
// alias, user and team, and /spend/report groups them by user and team.
func TestVirtualKeySpend(t *testing.T) {
	srv := startGateway(t, keysConfig, gateway.Options{})
	base := srv.URL
	if code, _, out := call(t, "POST", base+"/team/new", masterKey, `{"team_id":"platform"}`); code != 200 {
		t.Fatalf("/team/new: %d %s", code, out)
	}
	secret, token := generateKey(t, base, `{"key_alias":"bob-laptop","user_id":"bob","team_id":"platform"}`)
	if code, _, out := call(t, "POST", base+"/v1/messages", secret, message("claude-haiku")); code != 200 {
		t.Fatalf("call: %d %s", code, out)
	}
	var out string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, _, out = call(t, "GET", base+"/spend/logs?api_key="+secret, masterKey, ""); strings.Contains(out, token) {
			break
		}
	}
	for _, want := range []string{`"api_key":"` + token + `"`, `"key_alias":"bob-laptop"`, `"user":"bob"`, `"team_id":"platform"`} {
		if !strings.Contains(out, want) {
			t.Errorf("/spend/logs lacks %s: %s", want, out)
		}
	}
	for by, want := range map[string]string{"user": `"group":"bob"`, "team": `"group":"platform"`} {
		if code, _, out := call(t, "GET", base+"/spend/report?group_by="+by, masterKey, ""); code != 200 || !strings.Contains(out, want) {
			t.Errorf("/spend/report?group_by=%s = %d %s", by, code, out)
		}
	}
}

const groupsConfig = `
model_list:
  - model_name: claude-sonnet
    litellm_params: {model: simulated/claude-sonnet-4-5, time_to_first_token_ms: 0, tokens_per_second: 0, output_tokens: 3}
  - model_name: claude-haiku
    litellm_params: {model: simulated/claude-haiku-4-5, time_to_first_token_ms: 0, tokens_per_second: 0, output_tokens: 3}
    model_info: {access_groups: [interns]}
general_settings:
  master_key: os.environ/MASTER
`

// TestTeamBudgetSharedByTwoKeys: two developers' keys share their team's
// budget through the HTTP server: once one key's calls spend it, the other
// key is refused with a 402 naming the team budget, its spend and the reset.
func TestTeamBudgetSharedByTwoKeys(t *testing.T) {
	srv := startGateway(t, keysConfig, gateway.Options{})
	base := srv.URL
	if code, _, out := call(t, "POST", base+"/team/new", masterKey, `{"team_id":"mobile","max_budget":0.000001,"budget_duration":"1d"}`); code != 200 {
		t.Fatalf("/team/new: %d %s", code, out)
	}
	k1, _ := generateKey(t, base, `{"team_id":"mobile","user_id":"ana"}`)
	k2, _ := generateKey(t, base, `{"team_id":"mobile","user_id":"ben"}`)
	if code, _, out := call(t, "POST", base+"/v1/messages", k1, message("claude-haiku")); code != 200 {
		t.Fatalf("first call: %d %s", code, out)
	}
	var code int
	var out string
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if code, _, out = call(t, "POST", base+"/v1/messages", k2, message("claude-haiku")); code != 200 {
			break
		}
	}
	if code != 402 || !strings.Contains(out, "budget exceeded (its team)") || !strings.Contains(out, "resets at") || !strings.Contains(out, "max_budget 0.000001") {
		t.Fatalf("second key of a spent team: %d %s", code, out)
	}
	code, _, out = call(t, "GET", base+"/team/info?team_id=mobile", masterKey, "")
	if code != 200 || strings.Contains(out, `"spend":0,`) || !strings.Contains(out, `"keys":[`) {
		t.Fatalf("/team/info after spending: %d %s", code, out)
	}
	// Records reach the store in the background: wait for ana's.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, _, out = call(t, "GET", base+"/spend/logs?user_id=ana", masterKey, ""); strings.Contains(out, `"user":"ana"`) {
			break
		}
	}
	for q, want := range map[string]string{"team_id=mobile": `"user":"ana"`, "user_id=ana": `"team_id":"mobile"`, "user_id=nobody": `"data":[]`} {
		if _, _, out := call(t, "GET", base+"/spend/logs?"+q, masterKey, ""); !strings.Contains(out, want) || (q == "user_id=ana" && strings.Contains(out, `"user":"ben"`)) {
			t.Errorf("/spend/logs?%s = %s", q, out)
		}
	}
}

// TestAccessGroupsAndUserPolicy: a user given the "interns" access group
// (model_info.access_groups) gets a key from /user/new that may call only
// the group's models; /v1/models lists only those.
func TestAccessGroupsAndUserPolicy(t *testing.T) {
	srv := startGateway(t, groupsConfig, gateway.Options{})
	base := srv.URL
	code, _, out := call(t, "POST", base+"/user/new", masterKey, `{"user_id":"intern1","models":["interns"]}`)
	var u struct{ Key string }
	if code != 200 || json.Unmarshal([]byte(out), &u) != nil || u.Key == "" {
		t.Fatalf("/user/new: %d %s", code, out)
	}
	if code, _, out := call(t, "POST", base+"/v1/messages", u.Key, message("claude-haiku")); code != 200 {
		t.Fatalf("group model: %d %s", code, out)
	}
	for _, path := range []string{"/user/new", "/team/new", "/team/member_add", "/user/update"} {
		if code, _, _ := call(t, "POST", base+path, u.Key, `{"user_id":"intern1","max_budget":1000}`); code != 401 {
			t.Errorf("POST %s with a virtual key = %d, want 401 (master key only)", path, code)
		}
	}
	if code, _, out := call(t, "POST", base+"/v1/messages", u.Key, message("claude-sonnet")); code != 403 || !strings.Contains(out, "interns") {
		t.Fatalf("model outside the group: %d %s", code, out)
	}
	if _, _, out := call(t, "GET", base+"/v1/models", u.Key, ""); !strings.Contains(out, "claude-haiku") || strings.Contains(out, "claude-sonnet") {
		t.Fatalf("/v1/models for the intern: %s", out)
	}
	if code, _, out := call(t, "POST", base+"/user/update", masterKey, `{"user_id":"intern1","blocked":true}`); code != 200 {
		t.Fatalf("/user/update: %d %s", code, out)
	}
	if code, _, out := call(t, "POST", base+"/v1/messages", u.Key, message("claude-haiku")); code != 401 || !strings.Contains(out, "blocked (its user)") {
		t.Fatalf("blocked user's key: %d %s", code, out)
	}
}

// TestRateLimitHeaders: LiteLLM's headers where a limit applies.
func TestRateLimitHeaders(t *testing.T) {
	srv := startGateway(t, keysConfig, gateway.Options{})
	base := srv.URL
	secret, _ := generateKey(t, base, `{"rpm_limit":5,"tpm_limit":100000,"max_budget":3}`)
	code, h, out := call(t, "POST", base+"/v1/messages", secret, message("claude-haiku"))
	if code != 200 || h.Get("x-ratelimit-remaining-requests") != "4" || h.Get("x-ratelimit-limit-requests") != "5" ||
		h.Get("x-ratelimit-remaining-tokens") != "100000" || h.Get("x-litellm-key-max-budget") != "3" || h.Get("x-litellm-key-spend") == "" {
		t.Fatalf("headers: %d %v %s", code, h, out)
	}
	plain, _ := generateKey(t, base, `{}`)
	if _, h, _ := call(t, "POST", base+"/v1/messages", plain, message("claude-haiku")); h.Get("x-ratelimit-remaining-requests") != "" {
		t.Fatalf("a key without limits got rate-limit headers: %v", h)
	}
}
