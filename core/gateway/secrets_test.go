package gateway_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/faultinject"
	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/tidwall/gjson"
)

// No secret ever reaches a log line (at any level, debug bodies included)
// or an error body: the master key, virtual keys, keys a client tried,
// upstream API keys, AWS keys and session tokens, a Google service
// account's private key. Every route runs, and every error path the fakes
// can provoke: upstreams refusing, failing, resetting mid-stream, a token
// endpoint down.
func TestNoSecretInLogsOrErrors(t *testing.T) {
	const (
		master      = "sk-MASTER-7f3e9a1c55d2"
		upstreamKey = "sk-ant-UPSTREAM-4b8d2e6f"
		awsID       = "AKIASECRETID9Q2W"
		awsSecret   = "AWS-SECRET-ACCESS-KEY-x8Jk2mN5pQ"
		awsToken    = "AWS-SESSION-TOKEN-r4T7yU1iO"
		triedKey    = "sk-TRIED-BY-A-CLIENT-3c5e7"
	)
	pk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: must(x509.MarshalPKCS8PrivateKey(pk))}))
	pemLine := strings.Split(pemKey, "\n")[5] // a line of the key's body
	deadToken, _ := faultinject.New(faultinject.Spec{Fault: faultinject.Refuse})
	sa, _ := json.Marshal(map[string]string{"type": "service_account", "project_id": "p", "private_key_id": "PKID-SECRET-0a9b8c",
		"private_key": pemKey, "client_email": "gw@p.iam.gserviceaccount.com", "token_uri": deadToken.URL + "/token"})
	secrets := []string{master, upstreamKey, awsID, awsSecret, awsToken, triedKey, pemLine, "PKID-SECRET-0a9b8c"}

	failing, _ := faultinject.New(faultinject.Spec{Fault: faultinject.Status, Status: 500})
	midStream, _ := faultinject.New(faultinject.Spec{Fault: faultinject.ResetAfterStart})
	healthy, _ := faultinject.New(faultinject.Spec{})
	for _, u := range []*faultinject.Upstream{deadToken, failing, midStream, healthy} {
		t.Cleanup(u.Close)
	}
	env := map[string]string{"MASTER": master, "UPSTREAM_KEY": upstreamKey, "AWS_ID": awsID, "AWS_SECRET": awsSecret,
		"AWS_TOKEN": awsToken, "SA": string(sa)}
	yaml := fmt.Sprintf(`
model_list:
  - model_name: claude-sonnet
    litellm_params: {model: anthropic/claude-sonnet-4-5, api_key: os.environ/UPSTREAM_KEY, api_base: %q, order: 1}
  - model_name: claude-sonnet
    litellm_params: {model: anthropic/claude-sonnet-4-5, api_key: os.environ/UPSTREAM_KEY, api_base: %q, order: 2}
  - model_name: claude-broken
    litellm_params: {model: anthropic/claude-sonnet-4-5, api_key: os.environ/UPSTREAM_KEY, api_base: %q}
  - model_name: claude-cut
    litellm_params: {model: anthropic/claude-sonnet-4-5, api_key: os.environ/UPSTREAM_KEY, api_base: %q}
  - model_name: claude-bedrock
    litellm_params: {model: bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0, aws_access_key_id: os.environ/AWS_ID,
      aws_secret_access_key: os.environ/AWS_SECRET, aws_session_token: os.environ/AWS_TOKEN, aws_region_name: us-east-1, api_base: %q}
  - model_name: claude-vertex
    litellm_params: {model: vertex_ai/claude-sonnet-4-5@20250929, vertex_project: p, vertex_location: us-east5,
      vertex_credentials: os.environ/SA, api_base: %q}
router_settings: {num_retries: 0}
general_settings:
  master_key: os.environ/MASTER
  debug: true
`, failing.URL, healthy.URL, failing.URL, midStream.URL, failing.URL, healthy.URL)
	var logs bytes.Buffer
	cfg, err := config.Parse([]byte(yaml), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.Build(context.Background(), cfg, gateway.Options{Logger: newLogger(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(func() { srv.Close(); gw.Close(context.Background()) })

	var errorBodies []string
	do := func(method, path, auth, body string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("content-type", "application/json")
		req.Header.Set("anthropic-version", "2023-06-01")
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		req.Header.Set("x-goog-api-key", triedKey) // a credential header the gateway does not use
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 400 || strings.Contains(string(b), "event: error") {
			errorBodies = append(errorBodies, fmt.Sprintf("%d %s %s", resp.StatusCode, resp.Header, b))
		}
		return resp.StatusCode, string(b)
	}
	msg := func(model string, stream bool) string {
		return fmt.Sprintf(`{"model":%q,"max_tokens":10,"stream":%v,"messages":[{"role":"user","content":"hi"}]}`, model, stream)
	}
	status, body := do("POST", "/key/generate", master, `{"key_alias":"team-a","models":["claude-sonnet"]}`)
	virtual := gjson.Get(body, "key").String()
	if status != 200 || virtual == "" {
		t.Fatalf("key/generate: %d %s", status, body)
	}
	secrets = append(secrets, virtual)
	for _, key := range []string{master, virtual, triedKey, ""} {
		for _, model := range []string{"claude-sonnet", "claude-broken", "claude-cut", "claude-bedrock", "claude-vertex", "no-such-model"} {
			for _, stream := range []bool{false, true} {
				do("POST", "/v1/messages", key, msg(model, stream))
			}
			do("POST", "/v1/messages/count_tokens", key, msg(model, false))
			do("POST", "/v1/chat/completions", key, fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"hi"}]}`, model))
			do("POST", "/bedrock/model/"+model+"/invoke", key, `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`)
		}
		do("POST", "/v1/messages", key, `{"model":`)
		for _, path := range []string{"/v1/models", "/health", "/metrics", "/spend/logs", "/key/list", "/key/info?key=" + virtual, "/spend/report"} {
			do("GET", path, key, "")
		}
		do("POST", "/key/update", key, `{"key":"`+virtual+`","models":"oops"}`)
		do("POST", "/key/block", key, `{"key":"`+triedKey+`"}`)
	}
	gw.Close(context.Background())

	if !strings.Contains(logs.String(), "request body") {
		t.Fatal("debug logging is not on: the test would prove nothing")
	}
	if len(errorBodies) < 20 {
		t.Fatalf("only %d error answers: the error paths did not run", len(errorBodies))
	}
	t.Logf("%d log bytes, %d error answers", logs.Len(), len(errorBodies))
	for _, s := range secrets {
		if i := strings.Index(logs.String(), s); i >= 0 {
			t.Errorf("secret %.12s... in the logs: %s", s, logs.String()[max(0, i-300):min(logs.Len(), i+100)])
		}
		for _, b := range errorBodies {
			if strings.Contains(b, s) {
				t.Errorf("secret %.12s... in an error answer: %.500s", s, b)
			}
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
