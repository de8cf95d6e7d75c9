package bedrock_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	"github.com/claude-gateway/claude-gateway/core/providers/bedrock"
)

// The event-stream frame path both ways. Decoding any bytes as frames (cut
// short, bad CRCs, absurd lengths, unknown headers) ends in an error or
// io.EOF and never panics or allocates past the frame bound; and any event
// the gateway frames for a Bedrock client (Frames.AppendChunk) decodes back
// to a chunk frame whose payload carries exactly that event.
func FuzzEventStreamDecode(f *testing.F) {
	fr := bedrock.Frames{}
	start := fr.AppendChunk(nil, []byte(`{"type":"message_start","message":{"id":"m","usage":{"input_tokens":1}}}`))
	whole := fr.AppendChunk(append([]byte(nil), start...), []byte(`{"type":"message_stop"}`))
	f.Add(whole, []byte(`{"type":"ping"}`))
	f.Add(fr.AppendException(append([]byte(nil), start...), "ThrottlingException", "slow down"), []byte(`{}`))
	f.Add(whole[:len(whole)-3], []byte("not json"))
	bad := append([]byte(nil), whole...)
	bad[len(bad)-1] ^= 0xff // message CRC
	f.Add(bad, []byte{0, 0xff})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, []byte(""))
	f.Fuzz(func(t *testing.T, frames, event []byte) {
		dec := eventstream.NewDecoder()
		r := bytes.NewReader(frames)
		for i := 0; ; i++ {
			if i > len(frames)/16+1 {
				t.Fatalf("more frames than the input holds")
			}
			m, err := dec.Decode(r, nil)
			if err != nil {
				break
			}
			if len(m.Payload) > len(frames) {
				t.Fatalf("payload of %d bytes from %d input bytes", len(m.Payload), len(frames))
			}
		}

		framed := fr.AppendChunk(nil, event)
		m, err := eventstream.NewDecoder().Decode(bytes.NewReader(framed), nil)
		if err != nil {
			t.Fatalf("own frame does not decode: %v", err)
		}
		if h := m.Headers.Get(":event-type"); h == nil || h.String() != "chunk" {
			t.Fatalf("event-type %v", h)
		}
		var chunk struct{ Bytes string }
		if err := json.Unmarshal(m.Payload, &chunk); err != nil {
			t.Fatalf("chunk payload %q: %v", m.Payload, err)
		}
		got, err := base64.StdEncoding.DecodeString(chunk.Bytes)
		if err != nil || !bytes.Equal(got, event) {
			t.Fatalf("round trip: %q -> %q (%v)", event, got, err)
		}
	})
}
