package bedrock

import (
	"context"
	"fmt"
	"io"

	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// readStreamsHere is the client option (an SDK APIOptions entry) that makes
// InvokeModelWithResponseStream hand its accepted response body to this
// package instead of to the SDK's event-stream reader. Signing, endpoints,
// HTTP errors and request ids stay the SDK's; only the reading of frames
// moves to stream.go. The SDK reader decodes on two goroutines of its own
// and passes every event over two channels, allocating at each step; read
// here, on the caller's goroutine, a stream reuses its decoder and buffers.
func readStreamsHere(s *middleware.Stack) error {
	if s.ID() != "InvokeModelWithResponseStream" {
		return nil
	}
	_, err := s.Deserialize.Swap(sdkEventStreamReader, rawEventStream{})
	return err
}

// sdkEventStreamReader is the ID of the SDK middleware that starts its
// event-stream reader; rawEventStream takes its place in the stack.
const sdkEventStreamReader = "OperationEventStreamDeserializer"

// rawEventStream puts the body of an accepted stream call into the call's
// metadata (rawBodyKey), unread. A failed call is the SDK's error as before.
type rawEventStream struct{}

// rawBodyKey is the metadata key of the body rawEventStream keeps.
type rawBodyKey struct{}

func (rawEventStream) ID() string { return sdkEventStreamReader }

func (rawEventStream) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (
	middleware.DeserializeOutput, middleware.Metadata, error,
) {
	out, md, err := next.HandleDeserialize(ctx, in)
	if err != nil {
		return out, md, err
	}
	resp, ok := out.RawResponse.(*smithyhttp.Response)
	if !ok {
		return out, md, fmt.Errorf("bedrock: unknown transport type %T", out.RawResponse)
	}
	md.Set(rawBodyKey{}, resp.Body)
	return out, md, nil
}

// rawBody is the body rawEventStream kept in md.
func rawBody(md middleware.Metadata) (io.ReadCloser, bool) {
	b, ok := md.Get(rawBodyKey{}).(io.ReadCloser)
	return b, ok && b != nil
}
