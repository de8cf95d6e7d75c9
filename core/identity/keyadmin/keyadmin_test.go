package keyadmin_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/claude-gateway/claude-gateway/core/identity"
	"github.com/claude-gateway/claude-gateway/core/identity/keyadmin"
	"github.com/claude-gateway/claude-gateway/core/store/memory"
)

func newAdmin(t *testing.T) (func(method, path, body string) (int, map[string]any), identity.Repo) {
	repo := identity.Repo{Store: memory.New(nil)}
	mux := http.NewServeMux()
	known := map[string]bool{"claude-haiku": true, "claude-opus": true, "interns": true}
	for p, h := range keyadmin.Handlers(repo, keyadmin.Options{KnownModel: func(m string) bool { return known[m] }}) {
		mux.Handle(p, h)
	}
	return func(method, path, body string) (int, map[string]any) {
		t.Helper()
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %s: body is not a JSON object: %s", method, path, rec.Body.String())
		}
		return rec.Code, out
	}, repo
}

func TestUserRoutes(t *testing.T) {
	do, _ := newAdmin(t)
	code, u := do("POST", "/user/new", `{"user_id":"ana","user_email":"ana@example.com","max_budget":20,"budget_duration":"1mo","models":["claude-haiku"]}`)
	if code != 200 || u["user_id"] != "ana" || u["user_role"] != "internal_user" || !strings.HasPrefix(u["key"].(string), "sk-") || u["max_budget"] != 20.0 {
		t.Fatalf("/user/new: %d %v", code, u)
	}
	code, u2 := do("POST", "/user/new", `{"auto_create_key":false}`)
	if code != 200 || u2["key"] != nil || len(u2["user_id"].(string)) != 36 {
		t.Fatalf("/user/new without key: %d %v (want a generated UUID user_id, key null)", code, u2)
	}
	code, info := do("GET", "/user/info?user_id=ana", "")
	if code != 200 || info["user_id"] != "ana" || len(info["keys"].([]any)) != 1 || info["user_info"].(map[string]any)["spend"] != 0.0 {
		t.Fatalf("/user/info: %d %v", code, info)
	}
	code, up := do("POST", "/user/update", `{"user_id":"ana","rpm_limit":5}`)
	if code != 200 || up["data"].(map[string]any)["rpm_limit"] != 5.0 || up["data"].(map[string]any)["max_budget"] != 20.0 {
		t.Fatalf("/user/update: %d %v", code, up)
	}
	code, del := do("POST", "/user/delete", `{"user_ids":["ana"]}`)
	if code != 200 || del["deleted_keys"] != 1.0 {
		t.Fatalf("/user/delete: %d %v", code, del)
	}
	if code, _ := do("GET", "/user/info?user_id=ana", ""); code != 404 {
		t.Fatalf("deleted user: %d, want 404", code)
	}
}

func TestTeamRoutes(t *testing.T) {
	do, repo := newAdmin(t)
	code, tm := do("POST", "/team/new", `{"team_id":"platform","team_alias":"Platform","max_budget":100,"models":["interns"],"members_with_roles":[{"role":"admin","user_id":"lead"}]}`)
	if code != 200 || tm["team_id"] != "platform" || tm["spend"] != 0.0 || len(tm["members_with_roles"].([]any)) != 1 {
		t.Fatalf("/team/new: %d %v", code, tm)
	}
	code, add := do("POST", "/team/member_add", `{"team_id":"platform","member":[{"role":"user","user_id":"dev1"},{"role":"user","user_id":"dev2"}]}`)
	if code != 200 || len(add["updated_users"].([]any)) != 2 || len(add["updated_team_memberships"].([]any)) != 3 || len(add["members_with_roles"].([]any)) != 3 {
		t.Fatalf("/team/member_add: %d %v", code, add)
	}
	us, _ := repo.GetUsers(t.Context(), []string{"dev1"})
	if us[0] == nil || len(us[0].Teams) != 1 || us[0].Teams[0] != "platform" {
		t.Fatalf("member's user: %+v", us[0])
	}
	if code, _ := do("POST", "/team/member_add", `{"team_id":"platform","member":{"role":"user","user_id":"dev1"}}`); code != 400 {
		t.Fatalf("adding a member twice: %d, want 400", code)
	}
	if code, out := do("POST", "/key/generate", `{"team_id":"platform","user_id":"dev1"}`); code != 200 {
		t.Fatalf("/key/generate for the team: %d %v", code, out)
	}
	code, info := do("GET", "/team/info?team_id=platform", "")
	if code != 200 || len(info["keys"].([]any)) != 1 || len(info["team_memberships"].([]any)) != 3 {
		t.Fatalf("/team/info: %d %v", code, info)
	}
	if code, up := do("POST", "/team/update", `{"team_id":"platform","blocked":true}`); code != 200 || up["data"].(map[string]any)["blocked"] != true {
		t.Fatalf("/team/update: %d %v", code, up)
	}
	code, del := do("POST", "/team/delete", `{"team_ids":["platform"]}`)
	if code != 200 || del["deleted_keys"] != 1.0 {
		t.Fatalf("/team/delete: %d %v", code, del)
	}
	if us, _ := repo.GetUsers(t.Context(), []string{"dev1"}); len(us[0].Teams) != 0 {
		t.Fatalf("deleted team still on its member: %+v", us[0])
	}
}

// TestBadInput: each refusal is a 400 naming the field, and writes nothing.
func TestBadInput(t *testing.T) {
	do, repo := newAdmin(t)
	if code, _ := do("POST", "/team/new", `{"team_id":"t1"}`); code != 200 {
		t.Fatal("setup")
	}
	if code, _ := do("POST", "/user/new", `{"user_id":"u1","auto_create_key":false}`); code != 200 {
		t.Fatal("setup")
	}
	tests := []struct{ path, body, field string }{
		{"/user/new", `{"user_id":"x","rpm_limit":-1}`, "rpm_limit"},
		{"/user/new", `{"user_id":"x","budget_duration":"fortnight"}`, "budget_duration"},
		{"/user/new", `{"user_id":"x","models":["claude-haiku","gpt-9"]}`, "models[1]"},
		{"/user/new", `{"user_id":"x","user_role":"god"}`, "user_role"},
		{"/user/new", `{"user_id":"x","teams":["t1","nope"]}`, "teams[1]"},
		{"/user/new", `{"user_id":"x","max_budget":"ten"}`, "max_budget"},
		{"/user/new", `{"user_id":"x","colour":"red"}`, "colour"},
		{"/user/new", `{"user_id":"u1"}`, "user_id"},
		{"/user/update", `{"user_id":"u1","tpm_limit":-5}`, "tpm_limit"},
		{"/user/update", `{"rpm_limit":5}`, "user_id"},
		{"/team/new", `{"team_id":"x","max_parallel_requests":-1}`, "max_parallel_requests"},
		{"/team/new", `{"team_id":"x","members_with_roles":[{"role":"owner","user_id":"a"}]}`, "members_with_roles[0].role"},
		{"/team/new", `{"team_id":"x","members_with_roles":[{"role":"user"}]}`, "members_with_roles[0]"},
		{"/team/new", `{"team_id":"t1"}`, "team_id"},
		{"/team/new", `{"team_id":"x","duration":"soon"}`, "duration"},
		{"/team/update", `{"team_id":"t1","models":["gpt-9"]}`, "models[0]"},
		{"/team/member_add", `{"team_id":"t1","member":{"role":"boss","user_id":"a"}}`, "member.role"},
		{"/team/member_add", `{"team_id":"t1"}`, "member"},
		{"/team/member_add", `{"team_id":"t1","member":{"role":"user","user_id":"a"},"max_budget_in_team":5}`, "max_budget_in_team"},
		{"/key/generate", `{"team_id":"nope"}`, "team_id"},
		{"/key/generate", `{"rpm_limit":1.5}`, "rpm_limit"},
	}
	for _, tc := range tests {
		code, out := do("POST", tc.path, tc.body)
		msg, _ := out["error"].(map[string]any)["message"].(string)
		if code != 400 || !strings.HasPrefix(msg, tc.field) {
			t.Errorf("%s %s: %d %q, want 400 naming %s", tc.path, tc.body, code, msg, tc.field)
		}
	}
	users, _ := repo.UserIDs(t.Context())
	teams, _ := repo.TeamIDs(t.Context())
	keys, _ := repo.Tokens(t.Context())
	if len(users) != 1 || len(teams) != 1 || len(keys) != 0 {
		t.Fatalf("refused requests wrote: users %v teams %v keys %v", users, teams, keys)
	}
	if ts, _ := repo.GetTeams(t.Context(), []string{"t1"}); len(ts[0].Models) != 0 || len(ts[0].MembersWithRoles) != 0 {
		t.Fatalf("refused update changed the team: %+v", ts[0])
	}
}
