package gateway_test

import (
	"context"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/anthropics/anthropic-sdk-go/v2/vertex"
	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/claude-gateway/claude-gateway/core/providers/anthropic/anthropictest"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
)

// TestVertexSDKReadsGateway: the Anthropic Vertex SDK, its access token being
// the gateway key and its base URL the gateway (it rewrites only a root
// /v1/messages, so the gateway also serves Vertex paths at /v1), reads a message
// and a stream (served by an Anthropic deployment) without error.
func TestVertexSDKReadsGateway(t *testing.T) {
	up := anthropictest.New(t, "sk-upstream")
	gw := startGateway(t, anthropicConfig(up.URL), gateway.Options{})
	creds := &google.Credentials{TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: masterKey})}
	client := anthropic.NewClient(vertex.WithCredentials(context.Background(), "us-east5", "my-project", creds),
		option.WithBaseURL(gw.URL+"/"), option.WithMaxRetries(0))
	params := anthropic.MessageNewParams{Model: "claude-sonnet@20250929", MaxTokens: 64,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Hello"))}}
	msg, err := client.Messages.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 1 || msg.Content[0].Text != "Hello there" {
		t.Errorf("message %+v", msg)
	}
	stream := client.Messages.NewStreaming(context.Background(), params)
	var acc anthropic.Message
	for stream.Next() {
		if err := acc.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if acc.StopReason != "end_turn" || len(acc.Content) == 0 {
		t.Errorf("streamed message %+v", acc)
	}
	if n := len(up.Requests()); n != 2 {
		t.Errorf("%d upstream calls, want 2", n)
	}
}
