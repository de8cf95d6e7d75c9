package simulated

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/tidwall/gjson"
)

func newSim(t *testing.T, raw map[string]any) *Provider {
	t.Helper()
	p, err := New(context.Background(), config.Deployment{ID: "d1", Params: config.Params{Provider: "simulated", UpstreamModel: "claude-sim", Raw: raw}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const body = `{"model":"x","max_tokens":100,"messages":[{"role":"user","content":"hi"}],"tools":[{"name":"search","input_schema":{"type":"object"}}]}`

func drain(t *testing.T, s llm.Stream) ([]llm.Event, error) {
	var evs []llm.Event
	for {
		ev, err := s.Next(context.Background())
		if err == io.EOF {
			return evs, nil
		}
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
}

func TestStreamSequenceAndUsage(t *testing.T) {
	for _, tool := range []bool{false, true} {
		p := newSim(t, map[string]any{"output_tokens": 5, "tool_use": tool})
		s, err := p.Stream(context.Background(), &llm.Request{Body: []byte(body), Stream: true})
		if err != nil {
			t.Fatal(err)
		}
		evs, err := drain(t, s)
		if err != nil {
			t.Fatal(err)
		}
		var u llm.Usage
		var types []string
		for _, ev := range evs {
			if !gjson.ValidBytes(ev.Data) || gjson.GetBytes(ev.Data, "type").String() != ev.Type {
				t.Fatalf("bad event %s %s", ev.Type, ev.Data)
			}
			u.ObserveEvent(ev)
			types = append(types, ev.Type)
		}
		if types[0] != "message_start" || types[len(types)-1] != "message_stop" || types[len(types)-2] != "message_delta" {
			t.Errorf("sequence %v", types)
		}
		if u.OutputTokens != 5 || u.InputTokens == 0 {
			t.Errorf("usage %+v", u)
		}
		stop := gjson.GetBytes(evs[len(evs)-2].Data, "delta.stop_reason").String()
		if (tool && stop != "tool_use") || (!tool && stop != "end_turn") {
			t.Errorf("tool=%v stop_reason %s", tool, stop)
		}
	}
}

func TestNonStreamingAndCountTokens(t *testing.T) {
	p := newSim(t, map[string]any{"output_tokens": 3, "tool_use": true})
	resp, err := p.Send(context.Background(), &llm.Request{Body: []byte(body)})
	if err != nil {
		t.Fatal(err)
	}
	if gjson.GetBytes(resp.Body, "content.1.name").String() != "search" || llm.FromBody(resp.Body).OutputTokens != 3 {
		t.Errorf("body %s", resp.Body)
	}
	resp, err = p.Send(context.Background(), &llm.Request{Kind: llm.KindCountTokens, Body: []byte(body)})
	if err != nil || gjson.GetBytes(resp.Body, "input_tokens").Int() <= 0 {
		t.Errorf("count tokens %s %v", resp.Body, err)
	}
}

func TestInjectedFailures(t *testing.T) {
	p := newSim(t, map[string]any{"failure_rate": 1, "failure_status": 429, "retry_after": 2})
	_, err := p.Stream(context.Background(), &llm.Request{Body: []byte(body)})
	var le *llm.Error
	if !errors.As(err, &le) || le.Status != 429 || le.Type != llm.ErrRateLimit || le.RetryAfter != 2*time.Second || !le.Retryable {
		t.Fatalf("err %v", err)
	}
	p = newSim(t, map[string]any{"mid_stream_drop_rate": 1})
	s, err := p.Stream(context.Background(), &llm.Request{Body: []byte(body)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := drain(t, s); err == nil {
		t.Fatal("stream was not dropped")
	}
	p = newSim(t, nil)
	p.SetFailure(500)
	if _, err := p.Send(context.Background(), &llm.Request{Body: []byte(body)}); !errors.As(err, &le) || le.Status != 500 {
		t.Fatalf("override: %v", err)
	}
	p.SetFailure(0)
	if _, err := p.Send(context.Background(), &llm.Request{Body: []byte(body)}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(context.Background(), config.Deployment{Params: config.Params{Raw: map[string]any{"failure_rate": "lots"}}}); err == nil {
		t.Error("bad knob accepted")
	}
}

func TestPacingHonoursCancel(t *testing.T) {
	p := newSim(t, map[string]any{"time_to_first_token_ms": 10000})
	s, _ := p.Stream(context.Background(), &llm.Request{Body: []byte(body)})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := s.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
}
