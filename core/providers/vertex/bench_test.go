package vertex

import (
	"context"
	"io"
	"testing"

	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/providers/vertex/vertextest"
)

// repeatedEvents is an SSE body of n text deltas and a message_stop,
// produced on the fly so the benchmark's input costs no memory.
type repeatedEvents struct {
	n    int
	rest []byte
}

var (
	deltaFrame = []byte("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello, world \"}}\n\n")
	stopFrame  = []byte("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
)

func (r *repeatedEvents) Read(p []byte) (int, error) {
	if len(r.rest) == 0 {
		switch {
		case r.n > 0:
			r.n--
			r.rest = deltaFrame
		case r.n == 0:
			r.n--
			r.rest = stopFrame
		default:
			return 0, io.EOF
		}
	}
	n := copy(p, r.rest)
	r.rest = r.rest[n:]
	return n, nil
}

// BenchmarkStreamNext is the provider's own cost per streamed event: SSE
// parsing and handing the event out of Next.
func BenchmarkStreamNext(b *testing.B) {
	s := newStream(io.NopCloser(&repeatedEvents{n: b.N}))
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for {
		if _, err := s.Next(ctx); err != nil {
			if err != io.EOF {
				b.Fatal(err)
			}
			break
		}
	}
}

// BenchmarkStreamEventHTTP is the cost per event end to end over loopback
// HTTP from the fake (the fake's own writing and flushing included).
func BenchmarkStreamEventHTTP(b *testing.B) {
	srv := vertextest.NewServer(b, vertextest.Options{Deltas: b.N})
	p := fakeProvider(b, srv, "us-east5")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	s, err := p.Stream(ctx, messagesRequest(true))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for {
		if _, err := s.Next(ctx); err != nil {
			if err != io.EOF {
				b.Fatal(err)
			}
			break
		}
	}
}

// BenchmarkShapeBody shapes a real Claude Code request (about 50 KB, with a
// role "system" message to fold).
func BenchmarkShapeBody(b *testing.B) {
	var body []byte
	for _, f := range loadFixtures(b) {
		if f.Name == "cc-print-text" {
			body = f.Body
		}
	}
	if body == nil {
		b.Skip("cc-print-text.json not found")
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := shapeBody(body, llm.KindMessages, testModel, true); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamNextCancellable is BenchmarkStreamNext with a request-like
// (cancellable) context, as the server passes.
func BenchmarkStreamNextCancellable(b *testing.B) {
	s := newStream(io.NopCloser(&repeatedEvents{n: b.N}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ReportAllocs()
	b.ResetTimer()
	for {
		if _, err := s.Next(ctx); err != nil {
			if err != io.EOF {
				b.Fatal(err)
			}
			break
		}
	}
}
