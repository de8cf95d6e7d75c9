package vertextest

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// The fake refuses what Vertex refuses, in the shape Vertex uses.
func TestFakeChecks(t *testing.T) {
	s := NewServer(t, Options{})
	tok := s.NewAccessToken()
	path := "/v1/projects/" + s.Project() + "/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:"
	ok := `{"anthropic_version":"vertex-2023-10-16","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`
	cases := []struct {
		name, method, token, body, beta string
		status                          int
		shape                           string // "google" or "anthropic"
	}{
		{"valid", "rawPredict", tok, ok, "", 200, ""},
		{"valid stream", "streamRawPredict", tok, strings.Replace(ok, `{`, `{"stream":true,`, 1), "context-1m-2025-08-07", 200, ""},
		{"no token", "rawPredict", "", ok, "", 401, "google"},
		{"unknown token", "rawPredict", "ya29.other", ok, "", 401, "google"},
		{"model in body", "rawPredict", tok, strings.Replace(ok, `{`, `{"model":"x",`, 1), "", 400, "anthropic"},
		{"no anthropic_version", "rawPredict", tok, `{"max_tokens":5,"messages":[]}`, "", 400, "anthropic"},
		{"stream mismatch", "streamRawPredict", tok, ok, "", 400, "anthropic"},
		{"role system", "rawPredict", tok, strings.Replace(ok, `"role":"user"`, `"role":"system"`, 1), "", 400, "anthropic"},
		{"cache scope", "rawPredict", tok, strings.Replace(ok, `"content":"hi"`, `"content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral","scope":"global"}}]`, 1), "", 400, "anthropic"},
		{"safeguards", "rawPredict", tok, strings.Replace(ok, `{`, `{"safeguards":{},`, 1), "", 400, "anthropic"},
		{"unknown beta", "rawPredict", tok, ok, "claude-code-20250219", 400, "anthropic"},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(http.MethodPost, s.URL+path+c.method, strings.NewReader(c.body))
		req.Header.Set("Content-Type", "application/json")
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		if c.beta != "" {
			req.Header.Set("anthropic-beta", c.beta)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		b := string(raw)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s: %d %s", c.name, resp.StatusCode, b)
			continue
		}
		switch c.shape {
		case "google":
			if !gjson.Get(b, "error.status").Exists() {
				t.Errorf("%s: not Google-shaped: %s", c.name, b)
			}
		case "anthropic":
			if gjson.Get(b, "type").String() != "error" {
				t.Errorf("%s: not Anthropic-shaped: %s", c.name, b)
			}
		}
	}
}
