package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/claude-gateway/claude-gateway/core/providers/anthropic/anthropictest"
)

// The official Go SDK as the client: what real users run.
func sdkClient(url, key string) *anthropic.Client {
	c := anthropic.NewClient(option.WithBaseURL(url), option.WithAPIKey(key), option.WithMaxRetries(0))
	return &c
}

func TestSDKNonStreaming(t *testing.T) {
	up := anthropictest.New(t, "sk-upstream")
	gw := startGateway(t, anthropicConfig(up.URL), gateway.Options{})
	msg, err := sdkClient(gw.URL, masterKey).Messages.New(context.Background(), anthropic.MessageNewParams{
		Model:     "claude-sonnet",
		MaxTokens: 64,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Hello"))},
	})
	if err != nil {
		t.Fatal(err)
	}
	if msg.Model != "claude-sonnet" || len(msg.Content) != 1 || msg.Content[0].Text != "Hello there" || msg.Usage.OutputTokens != 5 {
		t.Errorf("message %+v", msg)
	}
}

func TestSDKStreaming(t *testing.T) {
	up := anthropictest.New(t, "sk-upstream")
	gw := startGateway(t, anthropicConfig(up.URL), gateway.Options{})
	stream := sdkClient(gw.URL, masterKey).Messages.NewStreaming(context.Background(), anthropic.MessageNewParams{
		Model:     "claude-opus-5-5", // lands on the claude-* wildcard group
		MaxTokens: 64,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Hello"))},
	})
	var msg anthropic.Message
	for stream.Next() {
		if err := msg.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if msg.Model != "claude-opus-5-5" || len(msg.Content) != 1 || msg.Content[0].Text != "Hello there" || msg.StopReason != "end_turn" {
		t.Errorf("accumulated %+v", msg)
	}
	if got := up.Requests()[0].Header.Get("x-api-key"); got != "sk-upstream" {
		t.Errorf("upstream key %q", got)
	}
}

func TestSDKCountTokensAndErrors(t *testing.T) {
	up := anthropictest.New(t, "sk-upstream")
	gw := startGateway(t, anthropicConfig(up.URL), gateway.Options{})
	c := sdkClient(gw.URL, masterKey)
	n, err := c.Messages.CountTokens(context.Background(), anthropic.MessageCountTokensParams{
		Model:    "claude-sonnet",
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Hello"))},
	})
	if err != nil || n.InputTokens <= 0 {
		t.Fatalf("count tokens %v %v", n, err)
	}
	_, err = sdkClient(gw.URL, "wrong").Messages.New(context.Background(), anthropic.MessageNewParams{
		Model: "claude-sonnet", MaxTokens: 5,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("x"))},
	})
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad key: %v", err)
	}
}
