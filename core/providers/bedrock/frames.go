package bedrock

import (
	"bytes"
	"encoding/base64"
	"strings"

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
func (Frames) AppendChunk(dst, event []byte) []byte {
	payload := make([]byte, 0, base64.StdEncoding.EncodedLen(len(event))+12)
	payload = append(payload, `{"bytes":"`...)
	payload = base64.StdEncoding.AppendEncode(payload, event)
	payload = append(payload, `"}`...)
	var m eventstream.Message
	m.Headers.Set(":event-type", eventstream.StringValue("chunk"))
	m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	m.Headers.Set(":message-type", eventstream.StringValue("event"))
	m.Payload = payload
	return appendMessage(dst, m)
}

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
