package bedrocktest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const valid = `{"anthropic_version":"bedrock-2023-05-31","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`

// TestValidateRules: each thing Bedrock refuses is refused, with its message.
func TestValidateRules(t *testing.T) {
	s := &Server{betas: map[string]bool{}}
	for _, b := range DefaultAcceptedBetas {
		s.betas[b] = true
	}
	cases := []struct{ body, want string }{
		{valid, ""},
		{`{"anthropic_version":"bedrock-2023-05-31","max_tokens":100,"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral","ttl":"1h"}}],"messages":[{"role":"user","content":[{"type":"text","text":"x","cache_control":{"type":"ephemeral"}}]}],"anthropic_beta":["context-management-2025-06-27","tool-search-tool-2025-10-19"],"context_management":{"edits":[]},"tools":[{"name":"t","input_schema":{},"defer_loading":true}],"thinking":{"type":"enabled","budget_tokens":50},"metadata":{"user_id":"u"},"output_config":{"effort":"low"}}`, ""},
		{`[]`, "Malformed input request"},
		{`{"max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`, "required key [anthropic_version]"},
		{strings.Replace(valid, "bedrock-2023-05-31", "2023-06-01", 1), "anthropic_version: invalid value"},
		{strings.Replace(valid, `"max_tokens":100,`, "", 1), "required key [max_tokens]"},
		{strings.Replace(valid, `{"anthropic_version"`, `{"model":"claude","anthropic_version"`, 1), "model: Extra inputs are not permitted"},
		{strings.Replace(valid, `{"anthropic_version"`, `{"stream":true,"anthropic_version"`, 1), "stream: Extra inputs are not permitted"},
		{strings.Replace(valid, `{"anthropic_version"`, `{"safeguards":{},"anthropic_version"`, 1), "safeguards: Extra inputs are not permitted"},
		{strings.Replace(valid, `{"anthropic_version"`, `{"anthropic_beta":["claude-code-20250219"],"anthropic_version"`, 1), "invalid beta flag"},
		{strings.Replace(valid, `"role":"user","content":"hi"}`, `"role":"user","content":"hi"},{"role":"system","content":"s"}`, 1), `Unexpected role "system"`},
		{strings.Replace(valid, `"content":"hi"`, `"content":[{"type":"text","text":"x","cache_control":{"type":"ephemeral","scope":"global"}}]`, 1), "messages.0.content.0.cache_control.ephemeral.scope: Extra inputs are not permitted"},
		{strings.Replace(valid, `"content":"hi"`, `"content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"x","cache_control":{"type":"ephemeral","scope":"global"}}]}]`, 1), "messages.0.content.0.content.0.cache_control.ephemeral.scope"},
		{strings.Replace(valid, `{"anthropic_version"`, `{"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral","scope":"global"}}],"anthropic_version"`, 1), "system.0.cache_control.ephemeral.scope"},
		{strings.Replace(valid, `{"anthropic_version"`, `{"tools":[{"name":"t","custom":{"defer_loading":true}}],"anthropic_version"`, 1), "tools.0.custom: Extra inputs are not permitted"},
		{strings.Replace(valid, `{"anthropic_version"`, `{"tools":[{"name":"t","defer_loading":true}],"anthropic_version"`, 1), "tools.0.defer_loading: Extra inputs are not permitted"},
		{strings.Replace(valid, `{"anthropic_version"`, `{"context_management":{"edits":[]},"anthropic_version"`, 1), "context_management: Extra inputs are not permitted"},
		{strings.Replace(valid, `{"anthropic_version"`, `{"thinking":{"type":"enabled","budget_tokens":100},"anthropic_version"`, 1), "must be greater than `thinking.budget_tokens`"},
		{strings.Replace(valid, `{"anthropic_version"`, `{"system":[{"type":"text","text":"x-anthropic-billing-header: cc_version=2.1.332.1c9; cc_entrypoint=sdk-cli;"},{"type":"text","text":"s"}],"anthropic_version"`, 1), ReservedMessage},
		{strings.Replace(valid, `{"anthropic_version"`, `{"system":"Be brief. x-anthropic-billing-header: cc_version=1;","anthropic_version"`, 1), ReservedMessage},
	}
	for _, c := range cases {
		got := s.validate([]byte(c.body))
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s\n got %q, want %q", c.body, got, c.want)
		}
	}
}

func sign(t *testing.T, req *http.Request, body []byte, c Credentials, region string, when time.Time) {
	t.Helper()
	sum := sha256.Sum256(body)
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken},
		req, hex.EncodeToString(sum[:]), "bedrock", region, when)
	if err != nil {
		t.Fatal(err)
	}
}

// TestSigV4Checks: the fake re-signs and compares, as AWS does.
func TestSigV4Checks(t *testing.T) {
	s := NewServer(t, Options{Credentials: RandomCredentials(true)})
	good := s.Credentials()
	path := "/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/invoke"
	cases := []struct {
		name   string
		mutate func(req *http.Request, body *[]byte) // after signing
		creds  Credentials
		region string
		when   time.Time
		want   string
	}{
		{name: "valid", want: ""},
		{name: "wrong secret", creds: Credentials{good.AccessKeyID, good.SecretAccessKey + "x", good.SessionToken}, want: "InvalidSignatureException"},
		{name: "unknown key", creds: Credentials{"AKIANOPE", good.SecretAccessKey, good.SessionToken}, want: "UnrecognizedClientException"},
		{name: "missing session token", creds: Credentials{good.AccessKeyID, good.SecretAccessKey, ""}, want: "UnrecognizedClientException"},
		{name: "wrong region", region: "eu-west-1", want: "scoped to a valid region"},
		{name: "expired", when: time.Now().Add(-20 * time.Minute), want: "Signature expired"},
		{name: "body changed after signing", mutate: func(_ *http.Request, b *[]byte) { *b = bytes.Replace(*b, []byte("hi"), []byte("ho"), 1) }, want: "InvalidSignatureException"},
		{name: "signed header changed", mutate: func(r *http.Request, _ *[]byte) { r.Header.Set("Content-Type", "text/plain") }, want: "InvalidSignatureException"},
		{name: "path changed", mutate: func(r *http.Request, _ *[]byte) { r.URL.RawPath = strings.Replace(path, "invoke", "count-tokens", 1) }, want: "InvalidSignatureException"},
		{name: "no auth", mutate: func(r *http.Request, _ *[]byte) { r.Header.Del("Authorization") }, want: "MissingAuthenticationToken"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := []byte(valid)
			req, _ := http.NewRequest(http.MethodPost, s.URL+path, nil)
			req.Header.Set("Content-Type", "application/json")
			creds, region, when := good, s.Region, time.Now()
			if c.creds.AccessKeyID != "" {
				creds = c.creds
			}
			if c.region != "" {
				region = c.region
			}
			if !c.when.IsZero() {
				when = c.when
			}
			req.ContentLength = int64(len(body))
			sign(t, req, body, creds, region, when)
			if c.mutate != nil {
				c.mutate(req, &body)
			}
			req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			errType := resp.Header.Get("X-Amzn-Errortype")
			if c.want == "" {
				if resp.StatusCode != 200 {
					t.Fatalf("%d %s %s", resp.StatusCode, errType, b)
				}
				return
			}
			if resp.StatusCode != 403 || !strings.Contains(errType+string(b), c.want) {
				t.Errorf("got %d %s %s, want 403 %s", resp.StatusCode, errType, b, c.want)
			}
		})
	}
}

// TestStreamFrames reads the fake's stream with the event-stream decoder.
func TestStreamFrames(t *testing.T) {
	s := NewServer(t, Options{Reply: func(*Call) Reply {
		return Reply{Text: "a b", StreamException: &Exception{Type: "ThrottlingException", Message: "slow"}, ExceptionAfter: 3}
	}})
	body := []byte(valid)
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/model/m/invoke-with-response-stream", bytes.NewReader(body))
	sign(t, req, body, s.Credentials(), s.Region, time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.amazon.eventstream" {
		t.Fatalf("content type %q", ct)
	}
	dec := eventstream.NewDecoder()
	var kinds []string
	for {
		m, err := dec.Decode(resp.Body, nil)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		kind := m.Headers.Get(":message-type").String()
		if kind == "exception" {
			kind += ":" + m.Headers.Get(":exception-type").String()
		}
		kinds = append(kinds, kind)
	}
	if got := strings.Join(kinds, " "); got != "event event event exception:throttlingException" {
		t.Errorf("frames %s", got)
	}
}
