package gateway_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/gateway"
)

// footprint is what the process holds: live heap, goroutine stacks, goroutines.
type footprint struct{ heap, stack, goroutines float64 }

func measureFootprint() footprint {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return footprint{float64(m.HeapAlloc), float64(m.StackInuse), float64(runtime.NumGoroutine())}
}

// openIdleStreams opens n streams to url whose upstream has sent its first
// event and then waits, and returns the footprint they add, per stream.
// The streams are ended (and their goroutines gone) before it returns.
func openIdleStreams(t *testing.T, url string, n int, body string) footprint {
	t.Helper()
	before := measureFootprint()
	ctx, cancel := context.WithCancel(context.Background())
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	var opened, done sync.WaitGroup
	opened.Add(n)
	done.Add(n)
	errs := make(chan error, n)
	for range n {
		go func() {
			defer done.Done()
			once := sync.OnceFunc(opened.Done)
			defer once()
			req, _ := http.NewRequestWithContext(ctx, "POST", url+"/v1/messages", strings.NewReader(body))
			req.Header.Set("x-api-key", masterKey)
			req.Header.Set("anthropic-version", "2023-06-01")
			resp, err := client.Do(req)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			if _, err := resp.Body.Read(make([]byte, 512)); err != nil {
				errs <- err
				return
			}
			once()
			io.Copy(io.Discard, resp.Body)
		}()
	}
	opened.Wait()
	time.Sleep(100 * time.Millisecond) // the relays reach their idle read
	after := measureFootprint()
	cancel()
	done.Wait()
	client.CloseIdleConnections()
	select {
	case err := <-errs:
		t.Fatalf("opening a stream: %v", err)
	default:
	}
	// Wait for the server side to notice the clients left.
	for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > int(before.goroutines)+8 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	k := float64(n)
	return footprint{(after.heap - before.heap) / k, (after.stack - before.stack) / k, (after.goroutines - before.goroutines) / k}
}

// TestIdleStreamFootprint: an open stream whose upstream is silent (a long
// think, a client's tool run) costs the gateway a bounded, small amount:
// its four goroutines (the handler, net/http's connection reader and the
// upstream connection's two loops) on small stacks, no pooled buffers, and
// not its prompt.
// The cost is the difference between streams through the gateway and the
// same streams straight to the upstream, in one process. The bounds are
// generous (measured here: 4 goroutines, 13-19 KB of stacks, ~27.5 KB of
// live heap, most of it net/http's own connection buffers; 38 KB before the
// upstream reader and the event writer gave their buffers back while idle
// and the upstream transport's buffers shrank, and over 100 KB with this
// prompt before the prompt and its upstream copy were let go of): a
// goroutine more per stream, or one more 4 KB buffer held per idle stream,
// breaks them.
func TestIdleStreamFootprint(t *testing.T) {
	if testing.Short() {
		t.Skip("opens hundreds of streams")
	}
	const n = 200
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); up.Close() })
	gw := startGateway(t, anthropicConfig(up.URL), gateway.Options{})

	// A prompt of 32 KB (Claude Code's are often far bigger): only the
	// attempts need it, so an open stream must not keep it (nor the copy
	// sent upstream) for its life.
	body := `{"model":"claude-sonnet","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"` + strings.Repeat("lorem ipsum ", 32<<10/12) + `"}]}`
	openIdleStreams(t, gw.URL, 20, body) // warm up: pools, lazily built tables
	direct := openIdleStreams(t, up.URL, n, body)
	via := openIdleStreams(t, gw.URL, n, body)
	cost := footprint{via.heap - direct.heap, via.stack - direct.stack, via.goroutines - direct.goroutines}
	t.Logf("gateway per idle stream: %.1f goroutines, %.1f KB stack, %.1f KB heap (direct: %.1f goroutines, %.1f KB stack, %.1f KB heap)",
		cost.goroutines, cost.stack/1024, cost.heap/1024, direct.goroutines, direct.stack/1024, direct.heap/1024)
	if cost.goroutines > 4.5 {
		t.Errorf("%.1f goroutines per idle stream, want at most 4", cost.goroutines)
	}
	if raceEnabled {
		return // the race detector's shadow state swells stacks and heap alike
	}
	if cost.stack > 24<<10 {
		t.Errorf("%.1f KB of goroutine stacks per idle stream, want at most 24 KB", cost.stack/1024)
	}
	if cost.heap > 32<<10 {
		t.Errorf("%.1f KB of live heap per idle stream, want at most 32 KB", cost.heap/1024)
	}
}
