package bedrock_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/providers/bedrock"
)

// BenchmarkInvokeCall is one whole non-streaming InvokeModel call, signed
// with SigV4, against a loopback server that answers at once: the
// provider's own cost per call (shaping, signing, the HTTP exchange and
// reading the answer), the server's included.
func BenchmarkInvokeCall(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-Requestid", "req-1")
		io.WriteString(w, `{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[{"type":"text","text":"Hello"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":1}}`)
	}))
	defer srv.Close()
	b.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	d := config.Deployment{ID: "d", Params: staticParams(testModel, srv.URL, "us-west-2")}
	p, err := bedrock.New(context.Background(), d, bedrock.Options{})
	if err != nil {
		b.Fatal(err)
	}
	req := &llm.Request{Kind: llm.KindMessages, Body: []byte(`{"model":"claude-sonnet","max_tokens":100,"messages":[{"role":"user","content":"Say hello"}]}`)}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		resp, err := p.Send(context.Background(), req)
		if err != nil || resp.Status != 200 {
			b.Fatalf("%v %v", resp, err)
		}
	}
}
