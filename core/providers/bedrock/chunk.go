package bedrock

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream/eventstreamapi"
	"github.com/aws/smithy-go"
)

// The event-stream headers a Bedrock response frame is read by.
const (
	messageTypeHeader   = eventstreamapi.MessageTypeHeader   // event, exception or error
	eventTypeHeader     = eventstreamapi.EventTypeHeader     // chunk
	exceptionTypeHeader = eventstreamapi.ExceptionTypeHeader // throttlingException, ...
	errorCodeHeader     = eventstreamapi.ErrorCodeHeader
	errorMessageHeader  = eventstreamapi.ErrorMessageHeader
)

// header is a frame header's value, "" when absent. The decoder has already
// made every header value a string; reading one allocates nothing.
func header(m *eventstream.Message, name string) string {
	if v := m.Headers.Get(name); v != nil {
		return v.String()
	}
	return ""
}

// chunk returns the Anthropic event a chunk frame carries: its payload is
// {"bytes":"<the event, base64>","p":"<padding>"}, which Bedrock always
// writes in that order and without escapes. That form is read in place and
// its base64 decoded straight into the stream's slab; any other form (keys
// reordered or added, escapes, spaces) goes through encoding/json.
func (s *stream) chunk(payload []byte) ([]byte, error) {
	if b64, ok := chunkBase64(payload); ok {
		data, err := s.slab.decodeBase64(b64)
		if err != nil {
			return nil, fmt.Errorf("bedrock chunk: %w", err)
		}
		return data, nil
	}
	var env struct {
		Bytes []byte `json:"bytes"`
	}
	if err := json.Unmarshal(payload, &env); err != nil {
		return nil, fmt.Errorf("bedrock chunk: %w", err)
	}
	return env.Bytes, nil
}

// chunkBase64 finds the base64 text of a chunk payload in exactly
// Bedrock's form, {"bytes":"<base64>"} or {"bytes":"<base64>","p":"<pad>"}
// with no escapes; ok is false for any other form.
func chunkBase64(payload []byte) (b64 []byte, ok bool) {
	const head, padHead, padTail = `{"bytes":"`, `,"p":"`, `"}`
	if !bytes.HasPrefix(payload, []byte(head)) {
		return nil, false
	}
	rest := payload[len(head):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return nil, false
	}
	b64, tail := rest[:end], rest[end+1:]
	if bytes.IndexByte(b64, '\\') >= 0 {
		return nil, false
	}
	if len(tail) == 1 && tail[0] == '}' {
		return b64, true
	}
	if len(tail) < len(padHead)+len(padTail) || !bytes.HasPrefix(tail, []byte(padHead)) || !bytes.HasSuffix(tail, []byte(padTail)) {
		return nil, false
	}
	if pad := tail[len(padHead) : len(tail)-len(padTail)]; bytes.ContainsAny(pad, `"\`) {
		return nil, false
	}
	return b64, true
}

// slab hands out the bytes of decoded events from a shared block, so that
// most events cost no allocation of their own. Its rule: a slice handed out
// is never written again (the slab only moves forward, and a full block is
// left to the events still pointing into it), so an event stays valid for
// as long as its holder keeps it, exactly as if it had its own copy.
type slab struct{ block []byte }

// slabBlock is a block's size: about a dozen text delta events. An event
// over a quarter of it gets a slice of its own.
const slabBlock = 2048

// decodeBase64 decodes src (standard encoding, padded, as the SDK decodes
// blobs) into the slab.
func (s *slab) decodeBase64(src []byte) ([]byte, error) {
	n := base64.StdEncoding.DecodedLen(len(src))
	var dst []byte
	if n > slabBlock/4 {
		dst = make([]byte, n)
	} else {
		if cap(s.block)-len(s.block) < n {
			s.block = make([]byte, 0, slabBlock)
		}
		at := len(s.block)
		dst = s.block[at : at+n]
	}
	w, err := base64.StdEncoding.Decode(dst, src)
	if err != nil {
		return nil, err
	}
	if n <= slabBlock/4 {
		s.block = s.block[:len(s.block)+w]
	}
	// The capacity ends with the event: appending to it cannot reach the next.
	return dst[:w:w], nil
}

// exceptionError is the error of an exception frame, as the SDK reports it:
// the API error named by :exception-type (sent lower-camel,
// "throttlingException"; its code is "ThrottlingException"), with the
// payload's message.
func exceptionError(m *eventstream.Message) error {
	code := header(m, exceptionTypeHeader)
	if code == "" {
		return errors.New("bedrock: exception frame without " + exceptionTypeHeader)
	}
	var body struct {
		Message string `json:"message"`
	}
	// A payload that is not JSON leaves the message empty; the code stands.
	_ = json.Unmarshal(m.Payload, &body)
	return &smithy.GenericAPIError{Code: strings.ToUpper(code[:1]) + code[1:], Message: body.Message}
}

// errorMessage is the error of an error frame: its code and message travel
// in headers.
func errorMessage(m *eventstream.Message) error {
	code, msg := header(m, errorCodeHeader), header(m, errorMessageHeader)
	if code == "" {
		code = "UnknownError"
	}
	if msg == "" {
		msg = "UnknownError"
	}
	return &smithy.GenericAPIError{Code: code, Message: msg}
}
