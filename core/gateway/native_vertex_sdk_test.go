package gateway_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/anthropics/anthropic-sdk-go/v2/vertex"
	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/claude-gateway/claude-gateway/core/providers/anthropic/anthropictest"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
)

// vertexSDK is the official Anthropic SDK in Vertex mode pointed at the
// gateway root (it serves Vertex paths at /v1/projects/... as well as under
// /vertex_ai; the SDK rewrites only an exact /v1/messages): the gateway key travels as the Google access
// token (Authorization: Bearer), as Claude Code's Vertex mode with
// CLAUDE_CODE_SKIP_VERTEX_AUTH sends it.
func vertexSDK(gwURL, key string, client *http.Client) anthropic.Client {
	creds := &google.Credentials{TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: key, Expiry: time.Now().Add(time.Hour)})}
	// The HTTP client goes first: WithCredentials layers the token on it.
	return anthropic.NewClient(
		option.WithHTTPClient(client),
		vertex.WithCredentials(context.Background(), "us-east5", "proj", creds),
		option.WithBaseURL(gwURL+"/"), option.WithMaxRetries(0),
	)
}

// plainBodyTransport hides the request body's WriteTo (PITFALLS #1: otherwise
// streams intermittently end early on loopback).
type plainBodyTransport struct{ rt http.RoundTripper }

func (p plainBodyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = struct{ io.ReadCloser }{r.Body}
	}
	return p.rt.RoundTrip(r)
}

func plainHTTPClient(gw *httptest.Server) *http.Client {
	return &http.Client{Transport: plainBodyTransport{gw.Client().Transport}}
}

// TestVertexSDKFromGateway: the Anthropic Vertex SDK reads the gateway's
// rawPredict answer, its streamRawPredict stream to the end and its
// count-tokens answer, served by an Anthropic deployment; a wrong key is the
// SDK's typed 401.
func TestVertexSDKFromGateway(t *testing.T) {
	up := anthropictest.New(t, "sk-upstream")
	up.EventDelay = 5 * time.Millisecond
	gw := startGateway(t, anthropicConfig(up.URL), gateway.Options{PingInterval: 10 * time.Millisecond})
	ctx := context.Background()
	c := vertexSDK(gw.URL, masterKey, plainHTTPClient(gw))
	params := anthropic.MessageNewParams{
		Model: "claude-sonnet", MaxTokens: 64,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
	}
	msg, err := c.Messages.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) == 0 || msg.Content[0].Text != "Hello there" || msg.StopReason == "" {
		t.Fatalf("message %+v", msg)
	}

	stream := c.Messages.NewStreaming(ctx, params)
	var acc anthropic.Message
	events := 0
	for stream.Next() {
		if err := acc.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
		events++
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream error after %d events: %v", events, err)
	}
	if len(acc.Content) == 0 || acc.Content[0].Text == "" || acc.StopReason == "" || acc.Usage.OutputTokens == 0 {
		t.Fatalf("accumulated %+v from %d events", acc, events)
	}

	n, err := c.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{
		Model:    "claude-sonnet",
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("count me"))},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n.InputTokens <= 0 {
		t.Fatalf("count %+v", n)
	}

	wrong := vertexSDK(gw.URL, "sk-wrong", plainHTTPClient(gw))
	_, err = wrong.Messages.New(ctx, params)
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 {
		t.Fatalf("wrong key: %v", err)
	}
}
