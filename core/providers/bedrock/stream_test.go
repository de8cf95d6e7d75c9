package bedrock_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/providers/bedrock"
	"github.com/claude-gateway/claude-gateway/core/providers/bedrock/bedrocktest"
)

// served answers every call with the event-stream body its open returns.
type served struct{ open func() io.ReadCloser }

func (s served) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	return &http.Response{
		StatusCode: 200, Request: req, ContentLength: -1,
		Header: http.Header{"Content-Type": {"application/vnd.amazon.eventstream"}},
		Body:   s.open(),
	}, nil
}

// servedProvider is a provider whose every stream reads body.
func servedProvider(t *testing.T, open func() io.ReadCloser) *bedrock.Provider {
	t.Helper()
	isolateEnv(t)
	d := config.Deployment{ID: "dep-frames", Params: config.Params{Provider: config.ProviderBedrock, UpstreamModel: testModel,
		AWSRegionName: "us-east-1", AWSAccessKeyID: "AKIATEST", AWSSecretAccessKey: "secret", APIBase: "http://bedrock.invalid"}}
	return newProvider(t, d, bedrock.Options{HTTPClient: &http.Client{Transport: served{open: open}}})
}

// encode is one event-stream frame, with its real CRCs.
func encode(t *testing.T, m eventstream.Message) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := eventstream.NewEncoder().Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// message is a frame with the given string headers (name, value pairs).
func message(payload string, headers ...string) eventstream.Message {
	var m eventstream.Message
	for i := 0; i+1 < len(headers); i += 2 {
		m.Headers.Set(headers[i], eventstream.StringValue(headers[i+1]))
	}
	m.Payload = []byte(payload)
	return m
}

// chunkPayload is a chunk frame with the payload as given.
func chunkPayload(payload string) eventstream.Message {
	return message(payload, ":event-type", "chunk", ":content-type", "application/json", ":message-type", "event")
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

const (
	evStart = `{"type":"message_start","message":{"id":"msg_bdrk_1","type":"message","role":"assistant","model":"m","content":[],"usage":{"input_tokens":3,"output_tokens":1}}}`
	evDelta = `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}`
	evStop  = `{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":3,"outputTokenCount":1}}`
	// evSlash's base64 has a "/", which JSON may escape as "\/".
	evSlash = `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"???"}}`
)

// TestStreamFrames: Bedrock's frames as the provider reads them: chunk
// envelopes in every form JSON allows, frames it skips, exception and
// error frames, and frames it must refuse (a bad CRC, a cut-off frame).
// Every event delivered is exactly the one sent, and stays so while later
// frames are read.
func TestStreamFrames(t *testing.T) {
	if !strings.Contains(b64(evSlash), "/") {
		t.Fatalf("evSlash's base64 %s has no slash", b64(evSlash))
	}
	fr := bedrock.Frames{}
	padded := func(ev string) []byte { return encode(t, bedrocktest.ChunkFrame([]byte(ev))) }
	flip := func(b []byte, i int) []byte {
		b = append([]byte(nil), b...)
		if i < 0 {
			i += len(b)
		}
		b[i] ^= 0x20
		return b
	}
	cat := func(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
	big := `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"` + strings.Repeat("long text ", 400) + `"}}`
	var many []string
	var manyFrames [][]byte
	for i := range 60 {
		ev := strings.Replace(evDelta, "Hello", strings.Repeat("w", i), 1)
		if i == 30 {
			ev = big
		}
		many = append(many, ev)
		manyFrames = append(manyFrames, padded(ev))
	}

	type want struct {
		status int    // of the error that ends the stream; 0: io.EOF
		first  bool   // the error is Stream's (before the first event)
		code   string // in the error's message
	}
	cases := []struct {
		name string
		body []byte
		evs  []string
		want want
	}{
		{"padded chunks, as Bedrock sends them", cat(padded(evStart), padded(evDelta), padded(evStop)),
			[]string{evStart, evDelta, evStop}, want{}},
		{"unpadded chunks", cat(fr.AppendChunk(nil, []byte(evStart)), fr.AppendChunk(nil, []byte(evStop))),
			[]string{evStart, evStop}, want{}},
		{"envelope keys in another order", cat(padded(evStart), encode(t, chunkPayload(`{"p":"abcd","bytes":"`+b64(evDelta)+`"}`))),
			[]string{evStart, evDelta}, want{}},
		{"envelope with spaces and another key", cat(padded(evStart), encode(t, chunkPayload(`{ "bytes" : "`+b64(evDelta)+`", "p":"x", "q":1 }`))),
			[]string{evStart, evDelta}, want{}},
		{"escaped slash in the base64", cat(padded(evStart), encode(t, chunkPayload(`{"bytes":"`+strings.ReplaceAll(b64(evSlash), "/", `\/`)+`","p":"ab"}`))),
			[]string{evStart, evSlash}, want{}},
		{"escaped padding", cat(padded(evStart), encode(t, chunkPayload(`{"bytes":"`+b64(evDelta)+`","p":"a\"b"}`))),
			[]string{evStart, evDelta}, want{}},
		{"a second bytes key wins, as in JSON", cat(padded(evStart), encode(t, chunkPayload(`{"bytes":"`+b64(evStop)+`","bytes":"`+b64(evDelta)+`"}`))),
			[]string{evStart, evDelta}, want{}},
		{"many events, one larger than the slab", cat(manyFrames...), many, want{}},
		{"unknown event type skipped", cat(padded(evStart), encode(t, message(`{}`, ":event-type", "metadata", ":message-type", "event")), padded(evStop)),
			[]string{evStart, evStop}, want{}},
		{"exception mid-stream", cat(padded(evStart), fr.AppendException(nil, "ThrottlingException", "slow down")),
			[]string{evStart}, want{status: 429, code: "slow down"}},
		{"exception first", fr.AppendException(nil, "ServiceUnavailableException", "busy"),
			nil, want{status: 529, first: true, code: "busy"}},
		{"unknown exception", cat(padded(evStart), fr.AppendException(nil, "BrandNewException", "new")),
			[]string{evStart}, want{status: 500, code: "new"}},
		{"error message", cat(padded(evStart), encode(t, message("", ":message-type", "error", ":error-code", "InternalFailure", ":error-message", "boom"))),
			[]string{evStart}, want{status: 500, code: "boom"}},
		{"message CRC refused", cat(padded(evStart), flip(padded(evDelta), -6), padded(evStop)),
			[]string{evStart}, want{status: 502}},
		{"prelude CRC refused", flip(padded(evStart), 9),
			nil, want{status: 502, first: true}},
		{"prelude length corrupted", cat(padded(evStart), flip(padded(evDelta), 4)),
			[]string{evStart}, want{status: 502}},
		{"cut off in the headers", cat(padded(evStart), padded(evDelta)[:40]),
			[]string{evStart}, want{status: 502}},
		{"cut off before the message CRC", cat(padded(evStart), padded(evDelta)[:len(padded(evDelta))-4]),
			[]string{evStart}, want{status: 502}},
		{"unknown message type", cat(padded(evStart), encode(t, message("{}", ":message-type", "gossip"))),
			[]string{evStart}, want{status: 502}},
		{"no message type", cat(padded(evStart), encode(t, message("{}", ":event-type", "chunk"))),
			[]string{evStart}, want{status: 502}},
		{"chunk not JSON", cat(padded(evStart), encode(t, chunkPayload(`{"bytes":`))),
			[]string{evStart}, want{status: 502}},
		{"chunk not base64", cat(padded(evStart), encode(t, chunkPayload(`{"bytes":"!!!!"}`))),
			[]string{evStart}, want{status: 502}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := servedProvider(t, func() io.ReadCloser { return io.NopCloser(bytes.NewReader(c.body)) })
			s, err := p.Stream(context.Background(), request(true))
			if c.want.first {
				le := llmError(t, err)
				if le.Status != c.want.status || !le.Retryable || !strings.Contains(le.Message, c.want.code) {
					t.Fatalf("Stream: %d retryable=%v %q", le.Status, le.Retryable, le.Message)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			evs, err := drain(t, s)
			if c.want.status == 0 && err != nil {
				t.Fatalf("stream ended by %v", err)
			}
			if c.want.status != 0 {
				le := llmError(t, err)
				if le.Status != c.want.status || !strings.Contains(le.Message, c.want.code) {
					t.Errorf("error %d %q (%v)", le.Status, le.Message, le.Cause)
				}
			}
			if len(evs) != len(c.evs) {
				t.Fatalf("%d events, want %d", len(evs), len(c.evs))
			}
			for i, ev := range evs {
				if string(ev.Data) != c.evs[i] {
					t.Errorf("event %d: %s\nwant %s", i, ev.Data, c.evs[i])
				}
				if want := eventTypeOf(c.evs[i]); ev.Type != want {
					t.Errorf("event %d: type %q, want %q", i, ev.Type, want)
				}
			}
		})
	}
}

func eventTypeOf(ev string) string {
	_, rest, _ := strings.Cut(ev, `{"type":"`)
	t, _, _ := strings.Cut(rest, `"`)
	return t
}

// TestCRCRefusalCause: a corrupted frame is the SDK decoder's checksum
// error, kept as the cause (for logs), never an event.
func TestCRCRefusalCause(t *testing.T) {
	start := encode(t, bedrocktest.ChunkFrame([]byte(evStart)))
	bad := encode(t, bedrocktest.ChunkFrame([]byte(evDelta)))
	bad[len(bad)/2] ^= 1
	p := servedProvider(t, func() io.ReadCloser { return io.NopCloser(bytes.NewReader(append(start, bad...))) })
	s, err := p.Stream(context.Background(), request(true))
	if err != nil {
		t.Fatal(err)
	}
	_, err = drain(t, s)
	var ce eventstream.ChecksumError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v, want a checksum error as its cause", err)
	}
}

// gate is a body that hands out its first bytes, then blocks until more
// are released or it is closed.
type gate struct {
	mu      sync.Mutex
	data    []byte
	more    chan []byte
	closed  chan struct{}
	once    sync.Once
	reading chan struct{} // receives when a Read finds nothing to hand out
}

func newGate(first []byte) *gate {
	return &gate{data: first, more: make(chan []byte, 1), closed: make(chan struct{}), reading: make(chan struct{}, 1)}
}

func (g *gate) Read(p []byte) (int, error) {
	g.mu.Lock()
	if len(g.data) == 0 {
		g.mu.Unlock()
		select {
		case g.reading <- struct{}{}:
		default:
		}
		select {
		case b := <-g.more:
			g.mu.Lock()
			g.data = b
		case <-g.closed:
			return 0, errors.New("read on closed body")
		}
	}
	defer g.mu.Unlock()
	n := copy(p, g.data)
	g.data = g.data[n:]
	return n, nil
}

func (g *gate) Close() error {
	g.once.Do(func() { close(g.closed) })
	return nil
}

// TestStreamBuffered: Buffered reports a whole frame waiting in the read
// buffer, and not a partial one (the server flushes before Next waits).
func TestStreamBuffered(t *testing.T) {
	f1, f2, f3 := encode(t, bedrocktest.ChunkFrame([]byte(evStart))), encode(t, bedrocktest.ChunkFrame([]byte(evDelta))), encode(t, bedrocktest.ChunkFrame([]byte(evStop)))
	g := newGate(bytes.Join([][]byte{f1, f2, f3[:len(f3)/2]}, nil))
	p := servedProvider(t, func() io.ReadCloser { return g })
	s, err := p.Stream(context.Background(), request(true))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := s.(llm.Buffered)
	ctx := context.Background()
	for i, want := range []struct {
		typ      string
		buffered bool
	}{{"", true}, {"message_start", true}, {"content_block_delta", false}} {
		if i > 0 {
			if ev, err := s.Next(ctx); err != nil || ev.Type != want.typ {
				t.Fatalf("Next %d: %q %v", i, ev.Type, err)
			}
		}
		if got := b.Buffered(); got != want.buffered {
			t.Errorf("after %d events: Buffered %v, want %v", i, got, want.buffered)
		}
	}
	g.more <- f3[len(f3)/2:]
	if ev, err := s.Next(ctx); err != nil || ev.Type != "message_stop" {
		t.Fatalf("last: %q %v", ev.Type, err)
	}
}

// TestBlockedNextEnds: a Next waiting on a silent upstream returns when its
// own context ends (not the call's), and when another goroutine closes the
// stream.
func TestBlockedNextEnds(t *testing.T) {
	for _, how := range []string{"context", "close"} {
		t.Run(how, func(t *testing.T) {
			g := newGate(encode(t, bedrocktest.ChunkFrame([]byte(evStart))))
			p := servedProvider(t, func() io.ReadCloser { return g })
			s, err := p.Stream(context.Background(), request(true))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.Next(context.Background()); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := s.Next(ctx)
				done <- err
			}()
			<-g.reading // Next is blocked on the body
			if how == "context" {
				cancel()
				if err := <-done; !errors.Is(err, context.Canceled) {
					t.Errorf("Next: %v, want context.Canceled", err)
				}
				return
			}
			s.Close()
			if err := <-done; err != io.EOF {
				t.Errorf("Next after Close: %v, want io.EOF", err)
			}
		})
	}
}

// TestBlockedNextEndsOverHTTP is TestBlockedNextEnds on a real HTTP
// connection to the fake runtime: net/http's body ends the blocked read.
func TestBlockedNextEndsOverHTTP(t *testing.T) {
	for _, how := range []string{"context", "close"} {
		t.Run(how, func(t *testing.T) {
			isolateEnv(t)
			release := make(chan struct{})
			defer close(release)
			fake := bedrocktest.NewServer(t, bedrocktest.Options{Reply: func(*bedrocktest.Call) bedrocktest.Reply {
				return bedrocktest.Reply{BeforeEvent: func(i int) {
					if i == 1 {
						<-release
					}
				}}
			}})
			p := newProvider(t, deployment(fake), bedrock.Options{})
			s, err := p.Stream(context.Background(), request(true))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.Next(context.Background()); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := s.Next(ctx)
				done <- err
			}()
			// Whether Next is already blocked or not yet reading, it must end.
			if how == "context" {
				cancel()
				if err := <-done; !errors.Is(err, context.Canceled) {
					t.Errorf("Next: %v, want context.Canceled", err)
				}
				return
			}
			s.Close()
			if err := <-done; err != io.EOF {
				t.Errorf("Next after Close: %v, want io.EOF", err)
			}
		})
	}
}
