package bedrocktest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/tidwall/sjson"
)

// DefaultText is the default reply's text.
const DefaultText = "Hello from the fake Bedrock runtime."

// defaults fills a reply's unset usage and text.
func (r *Reply) defaults(call *Call) {
	if r.Text == "" {
		r.Text = DefaultText
	}
	if r.InputTokens == 0 {
		r.InputTokens = CountTokens(call.Body)
	}
	if r.OutputTokens == 0 {
		r.OutputTokens = len(words(r.Text))
	}
}

// DefaultEvents are the Anthropic events of a plain text reply, as Bedrock
// streams them (before the invocation metrics it adds to the last one).
func DefaultEvents(model string, r Reply) []string {
	start, _ := sjson.Set(`{"type":"message_start","message":{"id":"","type":"message","role":"assistant","model":"","content":[],"stop_reason":null,"stop_sequence":null}}`, "message.id", "msg_bdrk_"+randomString(20))
	start, _ = sjson.Set(start, "message.model", model)
	start, _ = sjson.SetRaw(start, "message.usage", usageJSON(r, 1))
	evs := []string{start, `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`}
	for _, w := range words(r.Text) {
		d, _ := sjson.Set(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""}}`, "delta.text", w)
		evs = append(evs, d)
	}
	return append(evs,
		`{"type":"content_block_stop","index":0}`,
		`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":`+strconv.Itoa(r.OutputTokens)+`}}`,
		`{"type":"message_stop"}`)
}

func usageJSON(r Reply, output int) string {
	return `{"input_tokens":` + strconv.Itoa(r.InputTokens) + `,"cache_creation_input_tokens":` + strconv.Itoa(r.CacheWriteTokens) +
		`,"cache_read_input_tokens":` + strconv.Itoa(r.CacheReadTokens) + `,"output_tokens":` + strconv.Itoa(output) + `}`
}

// words splits text into deltas that keep their spaces.
func words(s string) []string {
	var out []string
	start := 0
	for i, c := range s {
		if i > start && unicode.IsSpace(c) {
			out = append(out, s[start:i])
			start = i
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// writeMessage answers InvokeModel with a whole Anthropic message.
func (s *Server) writeMessage(w http.ResponseWriter, call *Call, r Reply) {
	r.defaults(call)
	body := r.Message
	if body == "" {
		body, _ = sjson.Set(`{"id":"","type":"message","role":"assistant","model":"","content":[{"type":"text","text":""}],"stop_reason":"end_turn","stop_sequence":null}`, "id", "msg_bdrk_"+randomString(20))
		body, _ = sjson.Set(body, "model", call.ModelID)
		body, _ = sjson.Set(body, "content.0.text", r.Text)
		body, _ = sjson.SetRaw(body, "usage", usageJSON(r, r.OutputTokens))
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-Requestid", newID())
	h.Set("X-Amzn-Bedrock-Input-Token-Count", strconv.Itoa(r.InputTokens))
	h.Set("X-Amzn-Bedrock-Output-Token-Count", strconv.Itoa(r.OutputTokens))
	h.Set("X-Amzn-Bedrock-Invocation-Latency", "42")
	w.Write([]byte(body))
}

// writeStream answers InvokeModelWithResponseStream with event-stream frames:
// one chunk message per Anthropic event, the invocation metrics on the last,
// and an exception message where the reply asks for one.
func (s *Server) writeStream(w http.ResponseWriter, call *Call, r Reply) {
	r.defaults(call)
	evs := r.Events
	if evs == nil {
		evs = DefaultEvents(call.ModelID, r)
	}
	h := w.Header()
	h.Set("Content-Type", "application/vnd.amazon.eventstream")
	h.Set("X-Amzn-Bedrock-Content-Type", "application/json")
	h.Set("X-Amzn-Requestid", newID())
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	enc := eventstream.NewEncoder()
	started := time.Now()
	for i, ev := range evs {
		if r.StreamException != nil && i == r.ExceptionAfter {
			enc.Encode(w, ExceptionFrame(r.StreamException))
			rc.Flush()
			return
		}
		if i > 0 && s.opts.ChunkDelay > 0 {
			time.Sleep(s.opts.ChunkDelay)
		}
		if r.BeforeEvent != nil {
			r.BeforeEvent(i)
		}
		if i == len(evs)-1 {
			ev, _ = sjson.SetRaw(ev, "amazon-bedrock-invocationMetrics", metricsJSON(r, time.Since(started)))
		}
		if err := enc.Encode(w, ChunkFrame([]byte(ev))); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
	if r.StreamException != nil && r.ExceptionAfter >= len(evs) {
		enc.Encode(w, ExceptionFrame(r.StreamException))
		rc.Flush()
	}
}

func metricsJSON(r Reply, latency time.Duration) string {
	b, _ := json.Marshal(map[string]int64{
		"inputTokenCount":           int64(r.InputTokens),
		"outputTokenCount":          int64(r.OutputTokens),
		"invocationLatency":         latency.Milliseconds(),
		"firstByteLatency":          1,
		"cacheReadInputTokenCount":  int64(r.CacheReadTokens),
		"cacheWriteInputTokenCount": int64(r.CacheWriteTokens),
	})
	return string(b)
}

// ChunkFrame is the event-stream message Bedrock sends for one Anthropic
// event: a "chunk" event whose JSON payload carries the event base64-encoded
// in "bytes" (and random padding in "p", as Bedrock does).
func ChunkFrame(event []byte) eventstream.Message {
	payload, _ := json.Marshal(struct {
		Bytes string `json:"bytes"`
		P     string `json:"p"`
	}{base64.StdEncoding.EncodeToString(event), randomString(1 + len(event)%23)})
	var m eventstream.Message
	m.Headers.Set(":event-type", eventstream.StringValue("chunk"))
	m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	m.Headers.Set(":message-type", eventstream.StringValue("event"))
	m.Payload = payload
	return m
}

// ExceptionFrame is the event-stream message of an exception mid-stream; its
// :exception-type is the event-stream member name ("throttlingException").
func ExceptionFrame(e *Exception) eventstream.Message {
	payload, _ := json.Marshal(map[string]string{"message": e.Message})
	var m eventstream.Message
	m.Headers.Set(":exception-type", eventstream.StringValue(strings.ToLower(e.Type[:1])+e.Type[1:]))
	m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	m.Headers.Set(":message-type", eventstream.StringValue("exception"))
	m.Payload = payload
	return m
}
