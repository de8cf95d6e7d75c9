package gateway_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/claude-gateway/claude-gateway/core/sse"
	"github.com/tidwall/gjson"
)

// slowStream is a fake Anthropic upstream whose streams take
// deltas*gap, long enough for a client to leave mid-way. It records, by
// the marker in each request's prompt, whether the request ended because
// its context did (the gateway cancelled it) or because it was written to
// the end.
type slowStream struct {
	deltas    int
	gap, tail time.Duration

	mu        sync.Mutex
	running   map[string]bool
	cancelled map[string]bool
	completed map[string]bool
}

const slowStreamInput = 25

func (s *slowStream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	marker := gjson.GetBytes(body, "messages.0.content").String()
	s.mu.Lock()
	s.running[marker] = true
	s.mu.Unlock()
	done := s.write(r.Context(), w)
	s.mu.Lock()
	delete(s.running, marker)
	if done {
		s.completed[marker] = true
	} else {
		s.cancelled[marker] = true
	}
	s.mu.Unlock()
}

// write sends the stream and reports whether it reached the end before the
// request's context ended.
func (s *slowStream) write(ctx context.Context, w http.ResponseWriter) bool {
	w.Header().Set("content-type", "text/event-stream")
	f := w.(http.Flusher)
	ev := func(name, data string) { fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, data); f.Flush() }
	ev("message_start", fmt.Sprintf(`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"usage":{"input_tokens":%d,"output_tokens":1}}}`, slowStreamInput))
	ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
	t := time.NewTicker(s.gap)
	defer t.Stop()
	for range s.deltas {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}}`)
	}
	// A pause before the end, so a client that left after the last delta
	// still leaves before the upstream is done.
	select {
	case <-ctx.Done():
		return false
	case <-time.After(s.tail):
	}
	ev("content_block_stop", `{"type":"content_block_stop","index":0}`)
	ev("message_delta", fmt.Sprintf(`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":%d}}`, s.deltas))
	ev("message_stop", `{"type":"message_stop"}`)
	return ctx.Err() == nil
}

// 500 streams, each cut by its client at a random point (before the
// answer's headers, after some events, or just before the end): every
// upstream request is cancelled (its context ends at the fake upstream),
// each request leaves exactly one spend record marked disconnected with the
// usage known when the client left, and goroutines and heap return to
// their baseline.
func TestClientDisconnects(t *testing.T) {
	if testing.Short() {
		t.Skip("500 streams: not in -short")
	}
	const streams, workers = 500, 50
	up := &slowStream{deltas: 60, gap: 10 * time.Millisecond, tail: 500 * time.Millisecond,
		running: map[string]bool{}, cancelled: map[string]bool{}, completed: map[string]bool{}}
	upSrv := httptest.NewServer(up)
	t.Cleanup(upSrv.Close)
	gw := buildGateway(t, fmt.Sprintf(`model_list:
  - model_name: claude-sonnet
    litellm_params: {model: anthropic/claude-sonnet-4-5, api_key: os.environ/UPSTREAM_KEY, api_base: %q}
    model_info: {id: d0}
general_settings:
  master_key: os.environ/MASTER
`, upSrv.URL), gateway.Options{})
	// Count the requests that reached the gateway: a client that leaves
	// before its request is on the wire leaves no record, rightly.
	var received atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/messages" {
			received.Add(1)
		}
		gw.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { srv.Close(); gw.Close(context.Background()) })
	tr := &http.Transport{MaxIdleConnsPerHost: workers}
	client := &http.Client{Transport: tr}

	// Warm up (one whole stream), then take the baseline.
	if got := cutStream(client, srv.URL, "warm-up", -1); got.problem != "" {
		t.Fatal(got.problem)
	}
	tr.CloseIdleConnections()
	baseG, baseHeap := settle()

	rng := rand.New(rand.NewPCG(18, 500))
	// A cut reads 0 (gone right after the headers) to all of message_start,
	// the block start and the deltas; one in ten leaves before the headers.
	total := up.deltas + 3
	cuts := make([]int, streams)
	for i := range cuts {
		cuts[i] = rng.IntN(total)
		if i%10 == 0 {
			cuts[i] = -2 // before the headers
		}
	}
	results := make([]cutResult, streams)
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] = cutStream(client, srv.URL, fmt.Sprintf("s%d", i), cuts[i])
			}
		}()
	}
	for i := range streams {
		next <- i
	}
	close(next)
	wg.Wait()
	tr.CloseIdleConnections()

	for i, r := range results {
		if r.problem != "" {
			t.Errorf("stream %d (cut after %d events): %s", i, cuts[i], r.problem)
		}
	}
	// Each upstream request must end by cancellation, promptly.
	deadline := time.Now().Add(5 * time.Second)
	for {
		up.mu.Lock()
		n := len(up.running)
		up.mu.Unlock()
		if n == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	up.mu.Lock()
	for i := range streams {
		m := fmt.Sprintf("s%d", i)
		switch {
		case up.running[m]:
			t.Errorf("stream %d (cut after %d events): upstream request still running 5 s after the client left", i, cuts[i])
		case up.completed[m]:
			t.Errorf("stream %d (cut after %d events): upstream request ran to the end, not cancelled", i, cuts[i])
		case !up.cancelled[m] && cuts[i] >= 0:
			t.Errorf("stream %d (cut after %d events): never reached the upstream", i, cuts[i])
		}
	}
	cancelled := len(up.cancelled)
	up.mu.Unlock()

	n := int(received.Load())
	rows := allSpend(t, srv.URL, n)
	if len(rows) != n {
		t.Errorf("%d spend records for %d requests received (%d sent, +1 warm-up)", len(rows), n, streams)
	}
	gone, withUsage := 0, 0
	for i, r := range results {
		if r.id == "" {
			continue // left before the headers: counted above
		}
		row, ok := rows[r.id]
		if !ok {
			t.Errorf("stream %d: no spend record for %s", i, r.id)
			continue
		}
		if !row.Disconnected || !row.Stream {
			t.Errorf("stream %d (cut after %d events): record %+v not marked a disconnected stream", i, cuts[i], row)
		}
		gone++
		// The client saw message_start, so the gateway had its usage.
		if r.events >= 1 {
			withUsage++
			if row.Input != slowStreamInput || row.Output < 1 {
				t.Errorf("stream %d (cut after %d events): record usage %d in / %d out, want %d / >= 1", i, cuts[i], row.Input, row.Output, slowStreamInput)
			}
		}
	}
	t.Logf("%d streams cut (%d reached the gateway): %d upstream requests cancelled, %d records of disconnected streams (%d with usage from message_start)", streams, n-1, cancelled, gone, withUsage)

	http.DefaultClient.CloseIdleConnections() // allSpend's
	g, heap := settle()
	if g > baseG+8 {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: %d before, %d after\n%s", baseG, g, buf[:runtime.Stack(buf, true)])
	}
	// The memory store keeps every spend record: allow for them, nothing more.
	if limit := baseHeap + uint64(len(rows))*4<<10 + 16<<20; heap > limit {
		t.Errorf("heap in use: %d MiB before, %d MiB after %d cut streams", baseHeap>>20, heap>>20, streams)
	}
}

type cutResult struct {
	id      string
	events  int
	problem string
}

// cutStream sends one stream whose prompt is marker and hangs up after
// reading cut events (-2: before the headers; -1: never, read it all).
func cutStream(c *http.Client, base, marker string, cut int) cutResult {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	body := strings.Replace(simpleBody, `"content":"hi"`, fmt.Sprintf(`"content":%q`, marker), 1)
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/messages", strings.NewReader(body))
	req.Header.Set("x-api-key", masterKey)
	req.Header.Set("content-type", "application/json")
	if cut == -2 {
		// Leave once the request is on the wire, before any answer.
		go func() { time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond); cancel() }()
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return cutResult{}
	}
	resp, err := c.Do(req)
	if err != nil {
		return cutResult{problem: "transport: " + err.Error()}
	}
	defer resp.Body.Close()
	r := cutResult{id: resp.Header.Get("x-litellm-call-id")}
	if resp.StatusCode != 200 {
		return cutResult{problem: fmt.Sprintf("status %d", resp.StatusCode)}
	}
	rd := sse.NewReader(resp.Body)
	for cut < 0 || r.events < cut {
		if _, err := rd.Next(); err != nil {
			if cut >= 0 {
				r.problem = fmt.Sprintf("stream ended after %d events: %v", r.events, err)
			}
			return r
		}
		r.events++
	}
	cancel() // the client hangs up
	return r
}
