package keyadmin_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/claude-gateway/claude-gateway/core/identity"
	"github.com/claude-gateway/claude-gateway/core/identity/keyadmin"
	"github.com/claude-gateway/claude-gateway/core/store/memory"
)

// Any body on any /key/* write route gets a JSON answer and never a 5xx:
// a bad body is the admin's 400, not the gateway's failure.
func FuzzKeyRoutes(f *testing.F) {
	for _, s := range []string{
		`{"key_alias":"a","models":["claude-sonnet"],"max_budget":1.5,"budget_duration":"30d","rpm_limit":10,"metadata":{"team":"x"}}`,
		`{"key":"sk-1","models":[]}`, `{"keys":["sk-1","sk-2"]}`, `{"key":"sk-1"}`, `{"duration":"-1h"}`,
		`{"max_budget":"lots"}`, `{"models":"all"}`, `[`, ``, `null`, `{"key_alias":"\ud800"}`, `{"a":1}`,
	} {
		for route := range 5 {
			f.Add(uint8(route), []byte(s))
		}
	}
	h := keyadmin.Handlers(identity.NewGatekeeper(memory.New(nil), identity.Options{}).Repo(), keyadmin.Options{})
	routes := []string{"/key/generate", "/key/update", "/key/delete", "/key/block", "/key/regenerate"}
	mux := http.NewServeMux()
	for pattern, handler := range h {
		mux.Handle(pattern, handler)
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		path := routes[int(route)%len(routes)]
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("POST", path, bytes.NewReader(body)))
		if rec.Code >= 500 || !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("POST %s %q: %d %s", path, body, rec.Code, rec.Body)
		}
	})
}
