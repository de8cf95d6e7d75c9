package gateway_test

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/tidwall/gjson"
)

// Valid Anthropic stream events, for a faulty upstream to mix with garbage.
const (
	evStart = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n"
	evBlock = "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
	evDelta = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n"
	evEnd   = "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" +
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n" +
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
)

// garbageUpstream is an Anthropic API that answers 200 with a broken body:
// whole answers cut off mid-JSON, streams with a non-JSON event first or
// after a few good ones (and then carrying on to message_stop as if fine).
func garbageUpstream(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !gjson.GetBytes(body, "stream").Bool() {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","te`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		if strings.Contains(string(body), "late garbage") {
			io.WriteString(w, evStart+evBlock+evDelta+"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"ind\n\n"+evDelta+evEnd)
			return
		}
		io.WriteString(w, "event: message_start\ndata: <html>bad gateway</html>\n\n"+evStart+evBlock+evDelta+evEnd)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func garbageConfig(url string, healthy bool) string {
	y := `
model_list:
  - model_name: claude-sonnet
    litellm_params:
      model: anthropic/claude-sonnet-4-5
      api_key: os.environ/UPSTREAM_KEY
      api_base: ` + url + `
    model_info: {id: faulty}
`
	if healthy {
		y += `  - model_name: claude-sonnet
    litellm_params: {model: simulated/healthy, output_tokens: 3}
    model_info: {id: healthy}
`
	}
	if !healthy {
		y += "router_settings: {num_retries: 0}\n" // nothing else to try: no backoff
	}
	return y + "general_settings:\n  master_key: os.environ/MASTER\n"
}

// sseEvents reads a whole SSE response into (event, data) pairs.
func sseEvents(t *testing.T, r io.Reader) [][2]string {
	t.Helper()
	var evs [][2]string
	var ev string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			ev = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			evs = append(evs, [2]string{ev, strings.TrimPrefix(line, "data: ")})
		}
	}
	return evs
}

// A 200 whose body or first event is not JSON is the faulty deployment's
// failure, found before any byte is sent: every request is served whole by
// the healthy deployment, none relays the garbage.
func TestMalformedUpstreamFailsOver(t *testing.T) {
	for _, stream := range []bool{false, true} {
		// A gateway each: the faulty deployment's cooldown must not carry over.
		gw := startGateway(t, garbageConfig(garbageUpstream(t).URL, true), gateway.Options{})
		retried := 0
		for i := 0; i < 20; i++ {
			body := simpleBody
			if !stream {
				body = strings.Replace(body, `"stream":true`, `"stream":false`, 1)
			}
			resp := post(t, gw.URL+"/v1/messages", body, nil)
			if resp.StatusCode != 200 {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("stream=%v request %d: %d %s", stream, i, resp.StatusCode, b)
			}
			if id := resp.Header.Get("x-litellm-model-id"); id != "healthy" {
				t.Fatalf("stream=%v request %d served by %q", stream, i, id)
			}
			n, _ := strconv.Atoi(resp.Header.Get("x-litellm-attempted-retries"))
			retried += n
			if !stream {
				b, _ := io.ReadAll(resp.Body)
				if !gjson.ValidBytes(b) || gjson.GetBytes(b, "type").String() != "message" {
					t.Fatalf("request %d: body %s", i, b)
				}
				continue
			}
			evs := sseEvents(t, resp.Body)
			for _, ev := range evs {
				if !gjson.Valid(ev[1]) {
					t.Fatalf("request %d relayed %q", i, ev[1])
				}
			}
			if len(evs) == 0 || evs[len(evs)-1][0] != "message_stop" {
				t.Fatalf("request %d: stream %v", i, evs)
			}
		}
		if retried == 0 {
			t.Errorf("stream=%v: the faulty deployment was never tried", stream)
		}
	}
}

// With no healthy deployment left, a broken whole answer or first event is
// a clean 502 api_error in Anthropic's shape, not a 200 carrying garbage.
func TestMalformedUpstreamAlone(t *testing.T) {
	gw := startGateway(t, garbageConfig(garbageUpstream(t).URL, false), gateway.Options{})
	for _, stream := range []string{"false", "true"} {
		resp := post(t, gw.URL+"/v1/messages", strings.Replace(simpleBody, `"stream":true`, `"stream":`+stream, 1), nil)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 502 || gjson.GetBytes(b, "type").String() != "error" || gjson.GetBytes(b, "error.type").String() != "api_error" {
			t.Errorf("stream=%s: %d %s", stream, resp.StatusCode, b)
		}
	}
}

// A non-JSON event after the first byte ends the stream with one
// well-formed error event: nothing after it, no message_stop, the garbage
// never relayed.
func TestMalformedEventMidStream(t *testing.T) {
	gw := startGateway(t, garbageConfig(garbageUpstream(t).URL, false), gateway.Options{})
	resp := post(t, gw.URL+"/v1/messages", strings.Replace(simpleBody, `"hi"`, `"late garbage"`, 1), nil)
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	evs := sseEvents(t, resp.Body)
	starts := 0
	for _, ev := range evs {
		if !gjson.Valid(ev[1]) {
			t.Fatalf("relayed %q", ev[1])
		}
		if ev[0] == "message_start" {
			starts++
		}
	}
	last := evs[len(evs)-1]
	if starts != 1 || last[0] != "error" || gjson.Get(last[1], "type").String() != "error" || gjson.Get(last[1], "error.type").String() != "api_error" {
		t.Fatalf("stream %v", evs)
	}
}
