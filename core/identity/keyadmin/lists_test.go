package keyadmin_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/claude-gateway/claude-gateway/core/identity"
	"github.com/claude-gateway/claude-gateway/core/identity/keyadmin"
	"github.com/claude-gateway/claude-gateway/core/store/memory"
)

// TestListRoutes: /user/list pages users in LiteLLM's shape; /team/list
// answers every team as an array, or a user's teams with user_id; bad paging
// is a 400 naming the parameter.
func TestListRoutes(t *testing.T) {
	mux := http.NewServeMux()
	for p, h := range keyadmin.Handlers(identity.Repo{Store: memory.New(nil)}, keyadmin.Options{KnownModel: func(string) bool { return true }}) {
		mux.Handle(p, h)
	}
	do := func(method, path, body string) (int, []byte) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
		return rec.Code, rec.Body.Bytes()
	}
	for i := range 3 {
		if code, out := do("POST", "/user/new", fmt.Sprintf(`{"user_id":"u%d","auto_create_key":false}`, i)); code != 200 {
			t.Fatalf("/user/new: %d %s", code, out)
		}
	}
	for _, b := range []string{`{"team_id":"a","members_with_roles":[{"role":"user","user_id":"u1"}]}`, `{"team_id":"b"}`} {
		if code, out := do("POST", "/team/new", b); code != 200 {
			t.Fatalf("/team/new: %d %s", code, out)
		}
	}

	code, body := do("GET", "/user/list?page=2&page_size=2", "")
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil || code != 200 {
		t.Fatalf("/user/list: %d %s", code, body)
	}
	users, _ := out["users"].([]any)
	if out["total"] != 3.0 || out["total_pages"] != 2.0 || out["page"] != 2.0 || out["page_size"] != 2.0 || len(users) != 1 ||
		users[0].(map[string]any)["user_id"] != "u2" {
		t.Fatalf("/user/list page 2: %s", body)
	}
	if code, body := do("GET", "/user/list?page_size=0", ""); code != 400 || !strings.Contains(string(body), "page_size") {
		t.Errorf("page_size=0: %d %s", code, body)
	}

	for _, tc := range []struct {
		query string
		want  []string
	}{{"", []string{"a", "b"}}, {"?user_id=u1", []string{"a"}}, {"?user_id=nobody", []string{}}} {
		code, body := do("GET", "/team/list"+tc.query, "")
		var got []struct {
			TeamID string `json:"team_id"`
		}
		if err := json.Unmarshal(body, &got); code != 200 || err != nil {
			t.Fatalf("/team/list%s: %d %s", tc.query, code, body)
		}
		ids := []string{}
		for _, g := range got {
			ids = append(ids, g.TeamID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(tc.want) {
			t.Errorf("/team/list%s = %v, want %v", tc.query, ids, tc.want)
		}
	}
}
