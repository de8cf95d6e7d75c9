package bedrock

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/tidwall/gjson"

	"github.com/claude-gateway/claude-gateway/core/llm"
)

// stream hands on each event-stream chunk as one Anthropic event, as soon as
// the SDK has decoded its frame. It holds at most one event.
type stream struct {
	es *bedrockruntime.InvokeModelWithResponseStreamEventStream
	// ctx is the call's context, for mapping errors that end the stream.
	ctx context.Context

	first    llm.Event
	hasFirst bool

	closeOnce sync.Once
}

func newStream(ctx context.Context, es *bedrockruntime.InvokeModelWithResponseStreamEventStream) *stream {
	return &stream{es: es, ctx: ctx}
}

// prime waits up to wait for the first event, so that a stream failing
// before it (an exception frame first, or nothing at all) is a retryable
// error of Stream. A stream still silent by then is handed on unprimed: the
// router's own first-event wait (its commit bound) takes over from there.
func (s *stream) prime(ctx context.Context, wait time.Duration) error {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	ev, err := s.nextOr(ctx, timer.C)
	if errors.Is(err, errWaited) {
		return nil
	}
	if err == io.EOF {
		return &llm.Error{Status: http.StatusBadGateway, Type: llm.ErrAPI, Retryable: true,
			Message: "bedrock stream ended before its first event"}
	}
	if err != nil {
		return err
	}
	s.first, s.hasFirst = ev, true
	return nil
}

// errWaited ends a prime that waited its bound.
var errWaited = errors.New("bedrock: no first event within the prime bound")

// Next returns the next event, io.EOF after the last, or the failure that
// ended the stream as an *llm.Error.
func (s *stream) Next(ctx context.Context) (llm.Event, error) {
	if s.hasFirst {
		ev := s.first
		s.first, s.hasFirst = llm.Event{}, false
		return ev, nil
	}
	return s.next(ctx)
}

func (s *stream) next(ctx context.Context) (llm.Event, error) { return s.nextOr(ctx, nil) }

// nextOr is next, giving up with errWaited when stop fires (nil: never).
func (s *stream) nextOr(ctx context.Context, stop <-chan time.Time) (llm.Event, error) {
	events := s.es.Events()
	for {
		select {
		case <-stop:
			return llm.Event{}, errWaited
		case ev, ok := <-events:
			if !ok {
				if err := s.es.Err(); err != nil {
					return llm.Event{}, upstreamError(s.ctx, err)
				}
				return llm.Event{}, io.EOF
			}
			if c, isChunk := ev.(*types.ResponseStreamMemberChunk); isChunk {
				return llm.Event{Type: eventType(c.Value.Bytes), Data: c.Value.Bytes}, nil
			}
			// Union members this SDK does not know: nothing to hand on.
		case <-ctx.Done():
			return llm.Event{}, ctx.Err()
		}
	}
}

// Close releases the upstream connection. Safe to call more than once.
func (s *stream) Close() error {
	s.closeOnce.Do(func() { s.es.Close() })
	return nil
}

// eventType is the event's "type" field. Bedrock chunks start with it, so the
// common case is read in place and returned as a constant, without allocating.
func eventType(data []byte) string {
	const prefix = `{"type":"`
	if bytes.HasPrefix(data, []byte(prefix)) {
		rest := data[len(prefix):]
		if end := bytes.IndexByte(rest, '"'); end > 0 {
			switch t := rest[:end]; string(t) {
			case "content_block_delta":
				return "content_block_delta"
			case "content_block_start":
				return "content_block_start"
			case "content_block_stop":
				return "content_block_stop"
			case "message_start":
				return "message_start"
			case "message_delta":
				return "message_delta"
			case "message_stop":
				return "message_stop"
			case "ping":
				return "ping"
			case "error":
				return "error"
			}
		}
	}
	return gjson.GetBytes(data, "type").String()
}

// Buffered implements llm.Buffered: a held first event or a decoded one
// waiting in the SDK's channel.
func (s *stream) Buffered() bool { return s.hasFirst || len(s.es.Events()) > 0 }
