package bedrock

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/claude-gateway/claude-gateway/core/jsonstr"
)

// Frames encodes Bedrock's InvokeModelWithResponseStream answer: AWS
// event-stream messages whose chunk payload is {"bytes":"<base64 event>"}.
// The gateway's Bedrock-shaped ingress uses it so that Bedrock clients read
// the gateway unchanged; it lives here because this is the one package that
// imports the AWS SDK.
type Frames struct{}

// AppendChunk appends one chunk frame carrying an Anthropic event's JSON.
// It is on the path of every event a Bedrock client streams, so it writes
// the frame straight into dst: the header block is the SDK encoder's own
// (the same for every chunk), the prelude and the CRC-32s are the event-stream
// format's (a frame byte for byte as the SDK's Encoder writes it, see
// TestAppendChunkIsTheSDKFrame), and nothing is allocated beyond dst.
func (Frames) AppendChunk(dst, event []byte) []byte {
	const head, tail = `{"bytes":"`, `"}`
	h := chunkHeaders()
	payloadLen := len(head) + base64.StdEncoding.EncodedLen(len(event)) + len(tail)
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, uint32(preludeLen+len(h)+payloadLen+4))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(h)))
	dst = binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[start:]))
	dst = append(dst, h...)
	dst = append(dst, head...)
	dst = base64.StdEncoding.AppendEncode(dst, event)
	dst = append(dst, tail...)
	return binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[start:]))
}

// chunkHeaders is the encoded header block of a chunk frame, as Bedrock
// sends it (and in its order).
var chunkHeaders = sync.OnceValue(func() []byte {
	var hs eventstream.Headers
	hs.Set(":event-type", eventstream.StringValue("chunk"))
	hs.Set(":content-type", eventstream.StringValue("application/json"))
	hs.Set(":message-type", eventstream.StringValue("event"))
	var b bytes.Buffer
	// Encoding into a bytes.Buffer cannot fail.
	_ = eventstream.EncodeHeaders(&b, hs)
	return b.Bytes()
})

// AppendException appends an exception frame; excType is the Bedrock error
// name (ThrottlingException), sent lower-camel as Bedrock streams it.
func (Frames) AppendException(dst []byte, excType, message string) []byte {
	var m eventstream.Message
	m.Headers.Set(":exception-type", eventstream.StringValue(strings.ToLower(excType[:1])+excType[1:]))
	m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	m.Headers.Set(":message-type", eventstream.StringValue("exception"))
	m.Payload = append(jsonstr.Append([]byte(`{"message":`), message), '}')
	return appendMessage(dst, m)
}

func appendMessage(dst []byte, m eventstream.Message) []byte {
	b := bytes.NewBuffer(dst)
	// Encoding into a bytes.Buffer cannot fail.
	_ = eventstream.NewEncoder().Encode(b, m)
	return b.Bytes()
}
