package bedrock_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/providers/bedrock"
	"github.com/claude-gateway/claude-gateway/core/providers/bedrock/bedrocktest"
	"github.com/claude-gateway/claude-gateway/core/sse"
)

// frames answers every call with an event stream of n copies of one chunk
// frame, from memory: the benchmark measures decoding and hand-off, not a
// network.
type frames struct {
	frame []byte
	n     int
}

func (f frames) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	return &http.Response{
		StatusCode: 200, Request: req, ContentLength: -1,
		Header: http.Header{"Content-Type": {"application/vnd.amazon.eventstream"}},
		Body:   io.NopCloser(&repeat{frame: f.frame, left: f.n}),
	}, nil
}

type repeat struct {
	frame []byte
	off   int
	left  int
}

func (r *repeat) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && r.left > 0 {
		c := copy(p[n:], r.frame[r.off:])
		n += c
		if r.off += c; r.off == len(r.frame) {
			r.off = 0
			r.left--
		}
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// BenchmarkStreamEvent is the cost of one streamed event on the path from an
// event-stream frame to SSE bytes: SDK frame decoding, the chunk's base64
// payload, the event type, and sse.Append.
func BenchmarkStreamEvent(b *testing.B) {
	var buf bytes.Buffer
	ev := `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello, world"}}`
	if err := eventstreamEncode(&buf, []byte(ev)); err != nil {
		b.Fatal(err)
	}
	d := config.Deployment{ID: "bench", Params: config.Params{Provider: "bedrock", UpstreamModel: "anthropic.claude-3-5-sonnet-20241022-v2:0",
		AWSRegionName: "us-east-1", AWSAccessKeyID: "AKIABENCH", AWSSecretAccessKey: "secret", APIBase: "http://bedrock.invalid"}}
	p, err := bedrock.New(context.Background(), d, bedrock.Options{HTTPClient: &http.Client{Transport: frames{frame: buf.Bytes(), n: b.N + 1}}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	s, err := p.Stream(ctx, &llm.Request{Body: []byte(`{"max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`), Stream: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	out := make([]byte, 0, 512)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N + 1 {
		ev, err := s.Next(ctx)
		if err != nil {
			b.Fatal(err)
		}
		out = sse.Append(out[:0], ev)
	}
	b.StopTimer()
	if _, err := s.Next(ctx); err != io.EOF {
		b.Fatalf("end: %v", err)
	}
}

func eventstreamEncode(w io.Writer, event []byte) error {
	return eventstreamEncoder.Encode(w, bedrocktest.ChunkFrame(event))
}

var eventstreamEncoder = eventstream.NewEncoder()

// sseFrames answers every call with n copies of one SSE event, from memory.
type sseFrames struct {
	event []byte
	n     int
}

func (f sseFrames) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	return &http.Response{
		StatusCode: 200, Request: req, ContentLength: -1,
		Header: http.Header{"Content-Type": {"text/event-stream"}},
		Body:   io.NopCloser(&repeat{frame: f.event, left: f.n}),
	}, nil
}

// BenchmarkMessagesStreamEvent is BenchmarkStreamEvent for a bedrock_api:
// messages deployment: the same event as SSE, no event-stream decoding.
func BenchmarkMessagesStreamEvent(b *testing.B) {
	ev := `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello, world"}}`
	frame := sse.Append(nil, llm.Event{Type: "content_block_delta", Data: []byte(ev)})
	d := config.Deployment{ID: "bench", Params: config.Params{Provider: "bedrock", UpstreamModel: "anthropic.claude-3-5-sonnet-20241022-v2:0",
		AWSRegionName: "us-east-1", AWSAccessKeyID: "AKIABENCH", AWSSecretAccessKey: "secret", APIBase: "http://bedrock.invalid", BedrockAPI: bedrock.APIMessages}}
	p, err := bedrock.NewMessages(context.Background(), d, bedrock.Options{HTTPClient: &http.Client{Transport: sseFrames{event: frame, n: b.N + 1}}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	s, err := p.Stream(ctx, &llm.Request{Body: []byte(`{"max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`), Stream: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	out := make([]byte, 0, 512)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N + 1 {
		ev, err := s.Next(ctx)
		if err != nil {
			b.Fatal(err)
		}
		out = sse.Append(out[:0], ev)
	}
	b.StopTimer()
	if _, err := s.Next(ctx); err != io.EOF {
		b.Fatalf("end: %v", err)
	}
}
