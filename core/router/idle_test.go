package router_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/router"
)

// pacedProvider streams message_start, then one event per gap (real time),
// then message_stop; a gap of -1 hangs until the stream's context ends.
type pacedProvider struct{ gaps []time.Duration }

func (p *pacedProvider) Endpoint() string { return "fake://paced" }
func (p *pacedProvider) Send(context.Context, *llm.Request) (*llm.Response, error) {
	return nil, errors.New("not used")
}
func (p *pacedProvider) Stream(ctx context.Context, _ *llm.Request) (llm.Stream, error) {
	return &pacedStream{ctx: ctx, gaps: p.gaps}, nil
}

type pacedStream struct {
	ctx  context.Context // the attempt's: cancelling it aborts the read, as a body read would
	gaps []time.Duration
	step int
}

func (s *pacedStream) Next(context.Context) (llm.Event, error) {
	s.step++
	switch {
	case s.step == 1:
		return llm.Event{Type: "message_start", Data: []byte(`{"type":"message_start","message":{"usage":{"input_tokens":1}}}`)}, nil
	case s.step-2 < len(s.gaps):
		gap := s.gaps[s.step-2]
		var wait <-chan time.Time
		if gap >= 0 {
			wait = time.After(gap)
		}
		select {
		case <-wait:
			return llm.Event{Type: "ping", Data: []byte(`{"type":"ping"}`)}, nil
		case <-s.ctx.Done():
			return llm.Event{}, s.ctx.Err()
		}
	case s.step-2 == len(s.gaps):
		return llm.Event{Type: "message_stop", Data: []byte(`{"type":"message_stop"}`)}, nil
	}
	return llm.Event{}, io.EOF
}
func (s *pacedStream) Close() error { return nil }

// stream_timeout bounds the silence between events after the first, never
// the whole stream: a stream with short gaps runs well past it; one that
// falls silent ends with a timeout error (and the attempt is cancelled).
func TestStreamIdleLimit(t *testing.T) {
	gap := 40 * time.Millisecond
	cases := []struct {
		name    string
		gaps    []time.Duration
		wantErr bool
	}{
		{"steady stream longer than stream_timeout", []time.Duration{gap, gap, gap, gap, gap, gap, gap, gap}, false},
		{"silent after two events", []time.Duration{gap, -1}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse([]byte("model_list:\n  - {model_name: g, litellm_params: {model: anthropic/a, stream_timeout: 0.15}}\n"), dummyEnv)
			if err != nil {
				t.Fatal(err)
			}
			r := router.New([]*router.Deployment{{Config: cfg.Deployments[0], Provider: &pacedProvider{gaps: tc.gaps}}}, cfg.Router, router.Options{})
			res, err := r.Route(context.Background(), msgReq("g", true))
			if err != nil {
				t.Fatal(err)
			}
			defer res.Stream.Close()
			start := time.Now()
			var last error
			for {
				if _, err := res.Stream.Next(context.Background()); err != nil {
					last = err
					break
				}
			}
			res.Finish(llm.Usage{}, nil)
			var le *llm.Error
			switch {
			case !tc.wantErr && last != io.EOF:
				t.Fatalf("steady stream cut: %v", last)
			case tc.wantErr && (!errors.As(last, &le) || le.Type != llm.ErrTimeout || le.Status != 504):
				t.Fatalf("silent stream ended with %v, want a 504 timeout_error", last)
			case tc.wantErr && time.Since(start) > 2*time.Second:
				t.Fatalf("silence noticed after %v", time.Since(start))
			}
		})
	}
}
