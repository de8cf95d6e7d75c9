package gateway_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go/auth/bearer"
	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/claude-gateway/claude-gateway/core/providers/anthropic/anthropictest"
	"github.com/tidwall/gjson"
)

// tlsGateway serves gw over HTTPS too: the SDK sends bearer tokens only over TLS.
func tlsGateway(t *testing.T, gw *httptest.Server) *httptest.Server {
	s := httptest.NewTLSServer(gw.Config.Handler)
	t.Cleanup(s.Close)
	return s
}

func bedrockSDK(gw *httptest.Server, key string) *bedrockruntime.Client {
	url := gw.URL
	return bedrockruntime.New(bedrockruntime.Options{
		// A Bedrock API key (bearer auth) carries the gateway key, as
		// Claude Code's Bedrock mode sends it: Authorization: Bearer.
		Region: "us-east-1", BaseEndpoint: aws.String(url + "/bedrock"),
		BearerAuthTokenProvider: bearer.StaticTokenProvider{Token: bearer.Token{Value: key}},
		HTTPClient:              plainHTTPClient(gw), RetryMaxAttempts: 1,
	})
}

const bedrockSDKBody = `{"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["interleaved-thinking-2025-05-14"],"max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`

// TestBedrockSDKStreamsFromGateway: the official AWS SDK's
// InvokeModelWithResponseStream reads the gateway's event stream (served by
// an Anthropic deployment, with keep-alive pings between slow events) to the
// end without error, each chunk an Anthropic event (pings included).
func TestBedrockSDKStreamsFromGateway(t *testing.T) {
	up := anthropictest.New(t, "sk-upstream")
	up.EventDelay = 30 * time.Millisecond
	gw := startGateway(t, anthropicConfig(up.URL), gateway.Options{PingInterval: 10 * time.Millisecond})
	gw = tlsGateway(t, gw)
	for i := 0; i < 10; i++ {
		out, err := bedrockSDK(gw, masterKey).InvokeModelWithResponseStream(context.Background(), &bedrockruntime.InvokeModelWithResponseStreamInput{
			ModelId: aws.String("us.anthropic.claude-sonnet-4-5-20250929-v1:0"), ContentType: aws.String("application/json"), Body: []byte(bedrockSDKBody),
		})
		if err != nil {
			t.Fatal(err)
		}
		var types_ []string
		for ev := range out.GetStream().Events() {
			chunk, ok := ev.(*types.ResponseStreamMemberChunk)
			if !ok {
				t.Fatalf("event %T", ev)
			}
			types_ = append(types_, gjson.GetBytes(chunk.Value.Bytes, "type").String())
		}
		if err := out.GetStream().Close(); err != nil {
			t.Fatal(err)
		}
		if err := out.GetStream().Err(); err != nil {
			t.Fatalf("run %d: stream error %v after %v", i, err, types_)
		}
		if len(types_) < 2 || types_[0] != "message_start" || types_[len(types_)-1] != "message_stop" || !slices.Contains(types_, "ping") {
			t.Fatalf("run %d: events %v", i, types_)
		}
	}
	reqs := up.Requests()
	if got := reqs[0].Header.Get("anthropic-beta"); !strings.Contains(got, "interleaved-thinking-2025-05-14") {
		t.Errorf("the body's anthropic_beta did not reach the upstream: %q", got)
	}
	if gjson.GetBytes(reqs[0].Body, "anthropic_version").Exists() || gjson.GetBytes(reqs[0].Body, "anthropic_beta").Exists() {
		t.Errorf("Bedrock fields reached the Anthropic API: %s", reqs[0].Body)
	}
}

// TestBedrockSDKInvokeAndErrors: InvokeModel answers the message; a wrong
// key and an unknown model come back as the SDK's typed Bedrock exceptions.
func TestBedrockSDKInvokeAndErrors(t *testing.T) {
	up := anthropictest.New(t, "sk-upstream")
	gw := startGateway(t, "model_list:\n  - model_name: claude-sonnet\n    litellm_params:\n      model: anthropic/claude-sonnet-4-5-20250929\n"+
		"      api_key: os.environ/UPSTREAM_KEY\n      api_base: "+up.URL+"\ngeneral_settings:\n  master_key: os.environ/MASTER\n", gateway.Options{})
	gw = tlsGateway(t, gw)
	ctx := context.Background()
	in := func(model string) *bedrockruntime.InvokeModelInput {
		return &bedrockruntime.InvokeModelInput{ModelId: aws.String(model), ContentType: aws.String("application/json"), Body: []byte(bedrockSDKBody)}
	}
	out, err := bedrockSDK(gw, masterKey).InvokeModel(ctx, in("claude-sonnet"))
	if err != nil {
		t.Fatal(err)
	}
	if got := gjson.GetBytes(out.Body, "content.0.text").String(); got != "Hello there" {
		t.Errorf("body %s", out.Body)
	}
	var denied *types.AccessDeniedException
	if _, err := bedrockSDK(gw, "sk-wrong").InvokeModel(ctx, in("claude-sonnet")); !errors.As(err, &denied) {
		t.Errorf("wrong key: %v", err)
	}
	var notFound *types.ResourceNotFoundException
	if _, err := bedrockSDK(gw, masterKey).InvokeModel(ctx, in("us.anthropic.claude-haiku-9")); !errors.As(err, &notFound) {
		t.Errorf("unknown model: %v", err)
	}
}

// TestBedrockSDKCountTokens: the official AWS SDK's CountTokens (what
// Claude Code's Bedrock mode calls) is answered by the group's upstream in
// Bedrock's shape; the Converse input form is a typed ValidationException.
func TestBedrockSDKCountTokens(t *testing.T) {
	up := anthropictest.New(t, "sk-upstream")
	gw := tlsGateway(t, startGateway(t, anthropicConfig(up.URL), gateway.Options{}))
	client := bedrockSDK(gw, masterKey)
	out, err := client.CountTokens(context.Background(), &bedrockruntime.CountTokensInput{
		ModelId: aws.String("us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
		Input:   &types.CountTokensInputMemberInvokeModel{Value: types.InvokeModelTokensRequest{Body: []byte(bedrockSDKBody)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	reqs := up.Requests()
	if len(reqs) != 1 || reqs[0].Path != "/v1/messages/count_tokens" {
		t.Fatalf("upstream calls %v", reqs)
	}
	// The fake counts a quarter of the body it got.
	if got, want := aws.ToInt32(out.InputTokens), int32(len(reqs[0].Body)/4); got != want || got == 0 {
		t.Errorf("inputTokens %d, want %d", got, want)
	}
	if gjson.GetBytes(reqs[0].Body, "anthropic_version").Exists() || gjson.GetBytes(reqs[0].Body, "model").String() != "claude-opus-4-1" { // the claude-* group
		t.Errorf("upstream body %s", reqs[0].Body)
	}

	_, err = client.CountTokens(context.Background(), &bedrockruntime.CountTokensInput{
		ModelId: aws.String("us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
		Input: &types.CountTokensInputMemberConverse{Value: types.ConverseTokensRequest{
			Messages: []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "hi"}}}}}},
	})
	var ve *types.ValidationException
	if !errors.As(err, &ve) {
		t.Errorf("converse input: %v, want ValidationException", err)
	}
}
