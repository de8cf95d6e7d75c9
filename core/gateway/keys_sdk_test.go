package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/openai/openai-go/v3"
	oaoption "github.com/openai/openai-go/v3/option"
)

// TestSDKVirtualKeys: the official Go SDK, with its default retries, as a
// developer's client: a key limited to one model, a revoked key, a team
// budget shared by two keys; a spent budget is one request, not retried.
func TestSDKVirtualKeys(t *testing.T) {
	gw := startGateway(t, keysConfig, gateway.Options{})
	var requests atomic.Int64
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		gw.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	if code, _, out := call(t, "POST", gw.URL+"/team/new", masterKey, `{"team_id":"sdk","max_budget":0.000001}`); code != 200 {
		t.Fatalf("/team/new: %d %s", code, out)
	}
	haikuOnly, _ := generateKey(t, gw.URL, `{"models":["claude-haiku"],"team_id":"sdk"}`)
	other, _ := generateKey(t, gw.URL, `{"team_id":"sdk"}`)
	send := func(key, model string) error {
		c := anthropic.NewClient(option.WithBaseURL(front.URL), option.WithAPIKey(key)) // default retries
		_, err := c.Messages.New(context.Background(), anthropic.MessageNewParams{
			Model: anthropic.Model(model), MaxTokens: 5,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
		})
		return err
	}
	status := func(err error) int {
		var ae *anthropic.Error
		if errors.As(err, &ae) {
			return ae.StatusCode
		}
		if err != nil {
			t.Fatalf("not an API error: %v", err)
		}
		return 200
	}
	if err := send(haikuOnly, "claude-haiku"); err != nil {
		t.Fatalf("allowed model: %v", err)
	}
	if got := status(send(haikuOnly, "claude-sonnet")); got != 403 {
		t.Fatalf("model outside the key's list: %d, want 403", got)
	}
	// The first call spent the team's budget: the team's other key is refused.
	var err error
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err = send(other, "claude-haiku"); err != nil {
			break
		}
	}
	before := requests.Load()
	if got := status(send(other, "claude-haiku")); got != 402 || requests.Load()-before != 1 {
		t.Fatalf("spent team budget: %d after %d requests, want 402 after 1 (%v)", got, requests.Load()-before, err)
	}
	if code, _, out := call(t, "POST", gw.URL+"/key/delete", masterKey, `{"keys":["`+haikuOnly+`"]}`); code != 200 {
		t.Fatalf("/key/delete: %d %s", code, out)
	}
	if got := status(send(haikuOnly, "claude-haiku")); got != 401 {
		t.Fatalf("revoked key: %d, want 401", got)
	}
}

// TestOpenAISDKOverBudget: openai-go (default retries) on /v1/chat/completions
// with a spent key: one request, 402 with code insufficient_quota.
func TestOpenAISDKOverBudget(t *testing.T) {
	gw := startGateway(t, keysConfig, gateway.Options{})
	var requests atomic.Int64
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		gw.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	spent, _ := generateKey(t, gw.URL, `{"max_budget":0,"budget_duration":"1d"}`)
	c := openai.NewClient(oaoption.WithBaseURL(front.URL+"/v1"), oaoption.WithAPIKey(spent))
	_, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    "claude-haiku",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	var oe *openai.Error
	if !errors.As(err, &oe) || oe.StatusCode != 402 || oe.Code != "insufficient_quota" || requests.Load() != 1 {
		t.Fatalf("spent key: %v (%d requests), want one 402 insufficient_quota", err, requests.Load())
	}
}
