package router

import (
	"context"
	"math"

	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/tidwall/gjson"
)

// peeked replays an already-read first event, then reads on.
type peeked struct {
	llm.Stream
	first llm.Event
	has   bool
}

func (p *peeked) Next(ctx context.Context) (llm.Event, error) {
	if p.has {
		p.has = false
		return p.first, nil
	}
	return p.Stream.Next(ctx)
}

// errorFromEvent turns an Anthropic "error" event into a typed error.
func errorFromEvent(ev llm.Event) *llm.Error {
	t := gjson.GetBytes(ev.Data, "error.type").String()
	status := 500
	switch t {
	case llm.ErrOverloaded:
		status = 529
	case llm.ErrRateLimit:
		status = 429
	case llm.ErrInvalidRequest:
		status = 400
	case llm.ErrTimeout:
		status = 504
	}
	if t == "" {
		t = llm.ErrAPI
	}
	return &llm.Error{Status: status, Type: t, Message: gjson.GetBytes(ev.Data, "error.message").String(),
		Body: ev.Data, Retryable: llm.RetryableStatus(status)}
}

func pow(x, y float64) float64 { return math.Pow(x, y) }
