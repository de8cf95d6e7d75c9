package bedrock_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

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

// recordedStream is the Anthropic events of one realistic streamed answer as
// Bedrock sends them: message_start, a text block of many small deltas (a
// few words each, as Claude streams), message_delta, and message_stop with
// Bedrock's invocation metrics on it.
func recordedStream(deltas int) []string {
	words := strings.Fields("Sure! Here is a short overview of how the gateway balances load across " +
		"Bedrock, Vertex and the Anthropic API, with retries before the first byte and " +
		"well-formed error events after it, so that every client sees one stream.")
	evs := bedrocktest.DefaultEvents("anthropic.claude-sonnet-4-5-20250929-v1:0",
		bedrocktest.Reply{Text: "x", InputTokens: 1532, OutputTokens: 1})[:2]
	for i := range deltas {
		n := 1 + i%6
		text := " " + strings.Join(words[i%(len(words)-n):i%(len(words)-n)+n], " ")
		d, _ := sjson.Set(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""}}`, "delta.text", text)
		evs = append(evs, d)
	}
	return append(evs,
		`{"type":"content_block_stop","index":0}`,
		`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":`+strconv.Itoa(deltas*3)+`}}`,
		`{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":1532,"outputTokenCount":`+strconv.Itoa(deltas*3)+
			`,"invocationLatency":2841,"firstByteLatency":412,"cacheReadInputTokenCount":0,"cacheWriteInputTokenCount":0}}`)
}

// cycle answers every call with frames, in order and over again, until n
// frames have been sent.
type cycle struct {
	frames [][]byte
	n      int
	ct     string
}

func (c cycle) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	return &http.Response{
		StatusCode: 200, Request: req, ContentLength: -1,
		Header: http.Header{"Content-Type": {c.ct}},
		Body:   io.NopCloser(&cycleReader{frames: c.frames, left: c.n}),
	}, nil
}

type cycleReader struct {
	frames [][]byte
	i, off int
	left   int
}

// Read hands out at most the rest of one frame, as a network read of events
// that arrive one by one does.
func (r *cycleReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	f := r.frames[r.i]
	n := copy(p, f[r.off:])
	if r.off += n; r.off == len(f) {
		r.off, r.left = 0, r.left-1
		r.i = (r.i + 1) % len(r.frames)
	}
	return n, nil
}

// BenchmarkStreamFrames is the per-frame cost of a realistic Bedrock stream
// (recordedStream, real event-stream framing with CRCs and Bedrock's "p"
// padding) on the provider's whole path: frame decoding, the chunk
// envelope, base64, the event type, and the SSE bytes the client gets.
// "sse" is the same events through the Messages API provider (SSE in,
// no event-stream decoding), as the baseline of the same run.
func BenchmarkStreamFrames(b *testing.B) {
	evs := recordedStream(200)
	b.Run("eventstream", func(b *testing.B) {
		frames := make([][]byte, len(evs))
		for i, ev := range evs {
			var buf bytes.Buffer
			if err := eventstreamEncode(&buf, []byte(ev)); err != nil {
				b.Fatal(err)
			}
			frames[i] = buf.Bytes()
		}
		d := config.Deployment{ID: "bench", Params: config.Params{Provider: "bedrock", UpstreamModel: "anthropic.claude-sonnet-4-5-20250929-v1:0",
			AWSRegionName: "us-east-1", AWSAccessKeyID: "AKIABENCH", AWSSecretAccessKey: "secret", APIBase: "http://bedrock.invalid"}}
		p, err := bedrock.New(context.Background(), d, bedrock.Options{HTTPClient: &http.Client{
			Transport: cycle{frames: frames, n: b.N + 1, ct: "application/vnd.amazon.eventstream"}}})
		if err != nil {
			b.Fatal(err)
		}
		benchFrames(b, p)
	})
	b.Run("sse", func(b *testing.B) {
		frames := make([][]byte, len(evs))
		for i, ev := range evs {
			frames[i] = sse.Append(nil, llm.Event{Type: gjson.Get(ev, "type").Str, Data: []byte(ev)})
		}
		d := config.Deployment{ID: "bench", Params: config.Params{Provider: "bedrock", UpstreamModel: "anthropic.claude-sonnet-4-5-20250929-v1:0",
			AWSRegionName: "us-east-1", AWSAccessKeyID: "AKIABENCH", AWSSecretAccessKey: "secret", APIBase: "http://bedrock.invalid", BedrockAPI: bedrock.APIMessages}}
		p, err := bedrock.NewMessages(context.Background(), d, bedrock.Options{HTTPClient: &http.Client{
			Transport: cycle{frames: frames, n: b.N + 1, ct: "text/event-stream"}}})
		if err != nil {
			b.Fatal(err)
		}
		benchFrames(b, p)
	})
}

// benchFrames reads b.N+1 events from one stream of p and writes each as
// SSE, reporting the cost per frame: wall time, the process's CPU time and
// the process's allocations (so that the SDK's reader goroutines count too).
func benchFrames(b *testing.B, p interface {
	Stream(context.Context, *llm.Request) (llm.Stream, error)
}) {
	ctx := context.Background()
	s, err := p.Stream(ctx, &llm.Request{Body: []byte(`{"max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`), Stream: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	out := make([]byte, 0, 1024)
	if _, err := s.Next(ctx); err != nil { // the primed first event
		b.Fatal(err)
	}
	var before, after runtime.MemStats
	b.ReportAllocs()
	b.ResetTimer()
	runtime.ReadMemStats(&before)
	cpu0, cpuOK := processCPU()
	for range b.N {
		ev, err := s.Next(ctx)
		if err != nil {
			b.Fatal(err)
		}
		out = sse.Append(out[:0], ev)
	}
	cpu1, _ := processCPU()
	runtime.ReadMemStats(&after)
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/frame")
	if cpuOK {
		b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/n, "cpu-ns/frame")
	}
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/n, "B/frame")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/frame")
	if _, err := s.Next(ctx); err != io.EOF {
		b.Fatalf("end: %v", err)
	}
}

// BenchmarkIdleStream is the memory an open Bedrock stream holds while its
// upstream is silent (a long think, a slow tool): heap and goroutine stacks
// per stream, and the goroutines of its own, with b.N streams open at once.
// Run it with a fixed count (-benchtime 500x): each op is one open stream.
func BenchmarkIdleStream(b *testing.B) {
	var buf bytes.Buffer
	if err := eventstreamEncode(&buf, []byte(`{"type":"message_start","message":{"id":"m","usage":{"input_tokens":1}}}`)); err != nil {
		b.Fatal(err)
	}
	first := buf.Bytes()
	d := config.Deployment{ID: "bench", Params: config.Params{Provider: "bedrock", UpstreamModel: "anthropic.claude-sonnet-4-5-20250929-v1:0",
		AWSRegionName: "us-east-1", AWSAccessKeyID: "AKIABENCH", AWSSecretAccessKey: "secret", APIBase: "http://bedrock.invalid"}}
	p, err := bedrock.New(context.Background(), d, bedrock.Options{HTTPClient: &http.Client{
		Transport: served{open: func() io.ReadCloser { return newGate(first) }}}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	req := func() *llm.Request {
		return &llm.Request{Body: []byte(`{"max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`), Stream: true}
	}
	streams := make([]llm.Stream, 0, b.N)
	defer func() {
		for _, s := range streams {
			s.Close()
		}
	}()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()
	b.ResetTimer()
	for range b.N {
		s, err := p.Stream(ctx, req())
		if err != nil {
			b.Fatal(err)
		}
		streams = append(streams, s)
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	n := float64(b.N)
	b.ReportMetric(float64(int64(after.HeapInuse+after.StackInuse)-int64(before.HeapInuse+before.StackInuse))/n, "B/stream")
	b.ReportMetric(float64(runtime.NumGoroutine()-g0)/n, "goroutines/stream")
}
