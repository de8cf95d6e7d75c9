package bedrock

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// FuzzChunkEnvelope: whatever a chunk payload holds, the in-place reading
// of Bedrock's own form never disagrees with encoding/json: where JSON
// reads a "bytes" blob, the stream hands on exactly that event.
func FuzzChunkEnvelope(f *testing.F) {
	ev := base64.StdEncoding.EncodeToString([]byte(`{"type":"message_stop"}`))
	for _, p := range []string{
		`{"bytes":"` + ev + `","p":"abcdefghij"}`, `{"bytes":"` + ev + `"}`, `{"p":"x","bytes":"` + ev + `"}`,
		`{"bytes":"` + ev + `","p":"a\"b"}`, `{"bytes":"` + ev + `","bytes":"aGk="}`, `{"bytes":"` + ev + `","Bytes":"aGk="}`,
		`{"bytes":"Pz8\/"}`, `{"bytes":""}`, `{"bytes":"` + ev + `","p":""}`, `{"bytes":"` + ev + `",}`, `{"bytes":"!!"}`,
		`{"bytes":`, ``,
	} {
		f.Add([]byte(p))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		var ref struct {
			Bytes []byte `json:"bytes"`
		}
		refErr := json.Unmarshal(payload, &ref)
		var s stream
		got, err := s.chunk(payload)
		if refErr != nil {
			return // not JSON: refused or read as Bedrock's form, never a panic
		}
		if err != nil || !bytes.Equal(got, ref.Bytes) {
			t.Fatalf("%q: got %q (%v), encoding/json reads %q", payload, got, err, ref.Bytes)
		}
	})
}

// FuzzStreamRead: any bytes read as an event stream end in io.EOF or an
// error, after no more events than frames the input can hold.
func FuzzStreamRead(f *testing.F) {
	fr := Frames{}
	whole := fr.AppendChunk(fr.AppendChunk(nil, []byte(`{"type":"message_start"}`)), []byte(`{"type":"message_stop"}`))
	f.Add(whole)
	f.Add(fr.AppendException(append([]byte(nil), whole...), "ThrottlingException", "slow down"))
	f.Add(whole[:len(whole)-3])
	f.Add([]byte{0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		s := newStream(context.Background(), io.NopCloser(bytes.NewReader(in)))
		defer s.Close()
		for i := 0; ; i++ {
			if i > len(in)/preludeLen {
				t.Fatalf("more events than %d bytes of frames hold", len(in))
			}
			_ = s.Buffered()
			if _, err := s.Next(context.Background()); err != nil {
				return
			}
		}
	})
}

// TestSlabKeepsEvents: events decoded into the slab stay as they were while
// later ones are decoded, across blocks and for events too big for one, and
// appending to one cannot write into the next.
func TestSlabKeepsEvents(t *testing.T) {
	var s slab
	var want, got [][]byte
	for i := range 200 {
		ev := []byte(strings.Repeat(string(rune('a'+i%26)), i*7%(slabBlock/2)+1))
		d, err := s.decodeBase64([]byte(base64.StdEncoding.EncodeToString(ev)))
		if err != nil {
			t.Fatal(err)
		}
		if cap(d) != len(d) {
			t.Fatalf("event %d: capacity %d past its length %d", i, cap(d), len(d))
		}
		want, got = append(want, ev), append(got, d)
	}
	_ = append(got[0], "overwrite?"...)
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("event %d changed: %q, want %q", i, got[i], want[i])
		}
	}
}

// loop is a body that repeats one frame forever.
type loop struct {
	frame []byte
	off   int
}

func (l *loop) Read(p []byte) (int, error) {
	n := copy(p, l.frame[l.off:])
	l.off = (l.off + n) % len(l.frame)
	return n, nil
}

// TestFrameAddsNoAllocations: past the SDK decoder's own allocations, a
// chunk frame costs the stream nothing (the slab's block, shared by a dozen
// events, rounds to zero per frame).
func TestFrameAddsNoAllocations(t *testing.T) {
	ev := []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" a few words"}}`)
	var m eventstream.Message
	m.Headers.Set(":event-type", eventstream.StringValue("chunk"))
	m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	m.Headers.Set(":message-type", eventstream.StringValue("event"))
	m.Payload = []byte(`{"bytes":"` + base64.StdEncoding.EncodeToString(ev) + `","p":"abcdefghijklmnopqrstu"}`)
	var b bytes.Buffer
	if err := eventstream.NewEncoder().Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	frame := b.Bytes()

	dec, buf, r := eventstream.NewDecoder(), make([]byte, 0, payloadSize), bytes.NewReader(frame)
	sdk := testing.AllocsPerRun(500, func() {
		r.Reset(frame)
		m, err := dec.Decode(r, buf)
		if err != nil {
			t.Fatal(err)
		}
		buf = m.Payload[:0]
	})
	s := newStream(context.Background(), io.NopCloser(&loop{frame: frame}))
	ctx := context.Background()
	ours := testing.AllocsPerRun(500, func() {
		got, err := s.Next(ctx)
		if err != nil || !bytes.Equal(got.Data, ev) {
			t.Fatalf("Next: %s %v", got.Data, err)
		}
	})
	if ours > sdk {
		t.Errorf("%v allocations per frame, the SDK decoder alone %v", ours, sdk)
	}
}
