// Package simulated is a built-in provider that answers like Claude, with no
// network: realistic SSE event sequences and usage, optional tool use, and
// knobs for latency, throughput and injected failures. It lets the README
// demo, load tests and newcomers run everything without a cloud account.
//
// litellm_params knobs (all optional):
//
//	time_to_first_token_ms  delay before the first event (default 0)
//	tokens_per_second       output pace; 0 = as fast as possible (default 0)
//	output_tokens           output length in tokens (default 24; capped by max_tokens)
//	tool_use                answer with a tool_use block for the first tool offered
//	failure_status          HTTP status of injected failures (default 529)
//	failure_rate            share of requests failing before the first byte (0..1)
//	mid_stream_drop_rate    share of streams cut after the first content delta (0..1)
//	retry_after             retry-after seconds sent with injected failures
//	seed                    random seed, for repeatable failure injection
package simulated

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/tidwall/gjson"
)

// Provider is one simulated deployment.
type Provider struct {
	model          string
	name           string
	ttft           time.Duration
	tokensPerSec   float64
	outputTokens   int64
	toolUse        bool
	failStatus     int
	failRate       float64
	dropRate       float64
	retryAfter     string
	seq            atomic.Uint64
	mu             sync.Mutex
	rnd            *rand.Rand
	statusOverride atomic.Int64
}

// New builds a simulated provider from d's litellm_params.
func New(_ context.Context, d config.Deployment) (*Provider, error) {
	raw := d.Params.Raw
	p := &Provider{
		model:        d.Params.UpstreamModel,
		name:         d.ID,
		outputTokens: 24,
		failStatus:   529,
	}
	var errs []string
	num := func(key string) (float64, bool) {
		v, ok := raw[key]
		if !ok || v == nil {
			return 0, false
		}
		f, err := strconv.ParseFloat(fmt.Sprint(v), 64)
		if err != nil || f < 0 {
			errs = append(errs, fmt.Sprintf("%s: want a non-negative number, got %v", key, v))
			return 0, false
		}
		return f, true
	}
	if f, ok := num("time_to_first_token_ms"); ok {
		p.ttft = time.Duration(f * float64(time.Millisecond))
	}
	if f, ok := num("tokens_per_second"); ok {
		p.tokensPerSec = f
	}
	if f, ok := num("output_tokens"); ok {
		p.outputTokens = int64(f)
	}
	if f, ok := num("failure_status"); ok {
		p.failStatus = int(f)
	}
	if f, ok := num("failure_rate"); ok {
		p.failRate = f
	}
	if f, ok := num("mid_stream_drop_rate"); ok {
		p.dropRate = f
	}
	if f, ok := num("retry_after"); ok {
		p.retryAfter = strconv.FormatFloat(f, 'f', -1, 64)
	}
	seed, _ := num("seed")
	if v, ok := raw["tool_use"]; ok {
		p.toolUse = fmt.Sprint(v) == "true"
	}
	if p.failRate > 1 || p.dropRate > 1 {
		errs = append(errs, "failure_rate and mid_stream_drop_rate must be between 0 and 1")
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("simulated: %s", strings.Join(errs, "; "))
	}
	if seed == 0 {
		seed = float64(time.Now().UnixNano())
	}
	p.rnd = rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	return p, nil
}

// Endpoint implements router.Provider.
func (p *Provider) Endpoint() string { return "simulated://" + p.model }

// SetFailure overrides injected failures at run time: status > 0 makes every
// request fail with it, 0 restores the configured behaviour. For tests and demos.
func (p *Provider) SetFailure(status int) { p.statusOverride.Store(int64(status)) }

func (p *Provider) chance(rate float64) bool {
	if rate <= 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rnd.Float64() < rate
}

// failure returns the injected error for this request, if any.
func (p *Provider) failure() error {
	status := int(p.statusOverride.Load())
	if status == 0 && p.chance(p.failRate) {
		status = p.failStatus
	}
	if status == 0 {
		return nil
	}
	e := llm.NewError(status, "simulated failure")
	if status == 529 {
		e.Type = llm.ErrOverloaded
	}
	e.Body = llm.ErrorBody(e.Type, fmt.Sprintf("simulated %d from %s", status, p.model))
	if p.retryAfter != "" {
		s, _ := strconv.ParseFloat(p.retryAfter, 64)
		e.RetryAfter = time.Duration(s * float64(time.Second))
	}
	return e
}

// plan is what one answer will contain.
type plan struct {
	id           string
	inputTokens  int64
	outputTokens int64
	tool         string // tool name when answering with tool_use
}

func (p *Provider) plan(req *llm.Request) (plan, error) {
	if !gjson.ValidBytes(req.Body) {
		return plan{}, &llm.Error{Status: 400, Type: llm.ErrInvalidRequest, Message: "invalid JSON body"}
	}
	pl := plan{
		id:           fmt.Sprintf("msg_sim%016x", p.seq.Add(1)),
		inputTokens:  EstimateTokens(req.Body),
		outputTokens: p.outputTokens,
	}
	if mt := gjson.GetBytes(req.Body, "max_tokens").Int(); mt > 0 && mt < pl.outputTokens {
		pl.outputTokens = mt
	}
	if p.toolUse {
		pl.tool = gjson.GetBytes(req.Body, "tools.0.name").String()
	}
	return pl, nil
}

// EstimateTokens is a cheap token estimate: about four bytes a token.
func EstimateTokens(body []byte) int64 { return int64(len(body)/4 + 1) }

// Send implements router.Provider.
func (p *Provider) Send(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	if err := p.failure(); err != nil {
		return nil, err
	}
	pl, err := p.plan(req)
	if err != nil {
		return nil, err
	}
	if req.Kind == llm.KindCountTokens {
		return &llm.Response{Status: 200, Body: []byte(`{"input_tokens":` + strconv.FormatInt(pl.inputTokens, 10) + `}`)}, nil
	}
	if err := sleep(ctx, p.ttft+p.outputDuration(pl.outputTokens)); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"id":%q,"type":"message","role":"assistant","model":%q,"content":[{"type":"text","text":%q}`,
		pl.id, p.model, text(pl.outputTokens))
	stop := "end_turn"
	if pl.tool != "" {
		fmt.Fprintf(&b, `,{"type":"tool_use","id":"toolu_sim%s","name":%q,"input":{"query":"simulated"}}`, pl.id[7:], pl.tool)
		stop = "tool_use"
	}
	fmt.Fprintf(&b, `],"stop_reason":%q,"stop_sequence":null,"usage":{"input_tokens":%d,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":%d}}`,
		stop, pl.inputTokens, pl.outputTokens)
	return &llm.Response{Status: 200, Body: b.Bytes()}, nil
}

func (p *Provider) outputDuration(tokens int64) time.Duration {
	if p.tokensPerSec <= 0 {
		return 0
	}
	return time.Duration(float64(tokens) / p.tokensPerSec * float64(time.Second))
}

// Stream implements router.Provider.
func (p *Provider) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	if err := p.failure(); err != nil {
		return nil, err
	}
	pl, err := p.plan(req)
	if err != nil {
		return nil, err
	}
	s := &stream{p: p, pl: pl, drop: p.chance(p.dropRate), wait: p.ttft}
	return s, nil
}

// stream generates events lazily, pacing them like a real model.
type stream struct {
	p      *Provider
	pl     plan
	drop   bool
	wait   time.Duration
	step   int
	sent   int64 // output tokens sent
	closed bool
}

var words = strings.Fields("The gateway routes each request to a healthy Claude deployment across Bedrock Vertex and the Anthropic API while streaming every event as soon as it arrives")

func text(n int64) string {
	var b strings.Builder
	for i := int64(0); i < n; i++ {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[i%int64(len(words))])
	}
	return b.String()
}

func (s *stream) Next(ctx context.Context) (llm.Event, error) {
	if s.closed {
		return llm.Event{}, io.EOF
	}
	if s.wait > 0 {
		if err := sleep(ctx, s.wait); err != nil {
			return llm.Event{}, err
		}
		s.wait = 0
	}
	if err := ctx.Err(); err != nil {
		return llm.Event{}, err
	}
	pl := &s.pl
	s.step++
	switch {
	case s.step == 1:
		return ev("message_start", fmt.Sprintf(`{"type":"message_start","message":{"id":%q,"type":"message","role":"assistant","model":%q,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":%d,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}`,
			pl.id, s.p.model, pl.inputTokens)), nil
	case s.step == 2:
		return ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`), nil
	case s.sent < pl.outputTokens:
		if s.drop && s.sent > 0 {
			s.closed = true
			return llm.Event{}, &llm.Error{Status: 502, Type: llm.ErrAPI, Message: "simulated mid-stream drop", Retryable: true}
		}
		w := words[s.sent%int64(len(words))]
		if s.sent > 0 {
			w = " " + w
		}
		s.sent++
		s.wait = s.p.outputDuration(1)
		return ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`+strconv.Quote(w)+`}}`), nil
	}
	// After the text: optional tool block, then the closing events.
	rest := s.step - 3 - int(pl.outputTokens)
	var tail []llm.Event
	stop := "end_turn"
	if pl.tool != "" {
		stop = "tool_use"
		tail = append(tail,
			ev("content_block_stop", `{"type":"content_block_stop","index":0}`),
			ev("content_block_start", fmt.Sprintf(`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_sim%s","name":%q,"input":{}}}`, pl.id[7:], pl.tool)),
			ev("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"query\": "}}`),
			ev("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"simulated\"}"}}`),
			ev("content_block_stop", `{"type":"content_block_stop","index":1}`))
	} else {
		tail = append(tail, ev("content_block_stop", `{"type":"content_block_stop","index":0}`))
	}
	tail = append(tail,
		ev("message_delta", fmt.Sprintf(`{"type":"message_delta","delta":{"stop_reason":%q,"stop_sequence":null},"usage":{"output_tokens":%d}}`, stop, pl.outputTokens)),
		ev("message_stop", `{"type":"message_stop"}`))
	if rest >= len(tail) {
		s.closed = true
		return llm.Event{}, io.EOF
	}
	return tail[rest], nil
}

func (s *stream) Close() error { s.closed = true; return nil }

func ev(t, data string) llm.Event { return llm.Event{Type: t, Data: []byte(data)} }

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Buffered implements llm.Buffered: the next event is ready when no pacing delay is due.
func (s *stream) Buffered() bool { return !s.closed && s.wait <= 0 }
