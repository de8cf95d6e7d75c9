package bedrock_test

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	"github.com/claude-gateway/claude-gateway/core/providers/bedrock"
)

// TestAppendChunkIsTheSDKFrame: the chunk frames the gateway writes for
// Bedrock clients are byte for byte the frames the SDK's own encoder
// writes for the same headers and payload, appended after what dst held.
func TestAppendChunkIsTheSDKFrame(t *testing.T) {
	for _, ev := range []string{
		``,
		`{"type":"message_stop"}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello, wörld"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"` + strings.Repeat("long ", 40000) + `"}}`,
	} {
		var m eventstream.Message
		m.Headers.Set(":event-type", eventstream.StringValue("chunk"))
		m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
		m.Headers.Set(":message-type", eventstream.StringValue("event"))
		m.Payload = []byte(`{"bytes":"` + base64.StdEncoding.EncodeToString([]byte(ev)) + `"}`)
		want := bytes.NewBufferString("earlier bytes")
		if err := eventstream.NewEncoder().Encode(want, m); err != nil {
			t.Fatal(err)
		}
		got := bedrock.Frames{}.AppendChunk([]byte("earlier bytes"), []byte(ev))
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("event of %d bytes: frame differs from the SDK encoder's\n got %x\nwant %x", len(ev), got[:min(len(got), 64)], want.Bytes()[:min(want.Len(), 64)])
		}
	}
}

// BenchmarkAppendChunk is the cost of one event framed for a Bedrock client.
func BenchmarkAppendChunk(b *testing.B) {
	ev := []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello, world"}}`)
	dst := make([]byte, 0, 4096)
	b.ReportAllocs()
	for range b.N {
		dst = bedrock.Frames{}.AppendChunk(dst[:0], ev)
	}
}
