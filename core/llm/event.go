package llm

import (
	"context"
	"net/http"
)

// Event is one Anthropic server-sent event: its name ("message_start",
// "content_block_delta", ...) and its JSON data, exactly as the upstream sent it.
type Event struct {
	Type string
	Data []byte
}

// Stream is an upstream response stream of Anthropic events.
//
// Next returns the next event, or io.EOF after the last one. An upstream that
// fails mid-stream returns an *Error (or any other error). Next must honour
// ctx cancellation. Close releases the upstream connection; it is safe to call
// more than once and after io.EOF.
type Stream interface {
	Next(ctx context.Context) (Event, error)
	Close() error
}

// Response is a whole (non-streaming) upstream answer in Anthropic's shape.
type Response struct {
	Status int
	// Header carries upstream headers worth passing on (request-id etc.); may be nil.
	Header http.Header
	// Body is the Anthropic-shaped JSON body.
	Body []byte
}

// Buffered is implemented by streams that can tell whether their next event
// is already at hand (read from the network, not yet returned). The server
// then writes several events before one flush, flushing whenever the next
// Next would wait on the upstream: the client still gets every event as soon
// as the gateway has it, with fewer system calls when events arrive together.
type Buffered interface {
	Buffered() bool
}
