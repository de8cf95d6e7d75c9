package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/faultinject"
	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/claude-gateway/claude-gateway/core/sse"
	"github.com/tidwall/gjson"
)

// soakFaults are the faults the soak injects at random, in all about 10%
// of a faulty deployment's requests (the rest it serves correctly); each
// cools the deployment down for cooldown_time (1 s).
var soakFaults = []faultinject.Spec{
	{Fault: faultinject.ResetBeforeBytes}, {Fault: faultinject.ResetAfterHeaders}, {Fault: faultinject.ResetAfterStart},
	{Fault: faultinject.HangHeaders}, {Fault: faultinject.HangMidStream}, {Fault: faultinject.Status, Status: 529},
	{Fault: faultinject.Status, Status: 429, RetryAfter: "1"}, {Fault: faultinject.Status, Status: 500},
	{Fault: faultinject.NotSSE}, {Fault: faultinject.NotJSON}, {Fault: faultinject.NotJSONLate},
}

const soakTimeout = 5 * time.Second

// A bounded soak (SOAK_DURATION, 20 s by default) through the HTTP server:
// many concurrent streams and whole answers over two deployments that
// fail at random and one that never does, with clients that hang up at
// random points. Nothing is lost (one spend record per request), no client
// sees an error it should not (only a stream already started may end in an
// error event), and goroutines and heap return to where they were.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak: not in -short")
	}
	dur := 20 * time.Second
	if v := os.Getenv("SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		dur = d
	}
	const workers = 32
	ups := make([]*faultinject.Upstream, 3)
	for i := range ups {
		u, err := faultinject.New(faultinject.Spec{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(u.Close)
		ups[i] = u
	}
	for _, u := range ups[:2] {
		u.Choose(func() faultinject.Spec {
			if n := rand.IntN(len(soakFaults) * 10); n < len(soakFaults) {
				return soakFaults[n]
			}
			return faultinject.Spec{}
		})
	}
	var yaml strings.Builder
	yaml.WriteString("model_list:\n")
	for i, u := range ups {
		fmt.Fprintf(&yaml, "  - model_name: claude-sonnet\n    litellm_params: {model: anthropic/claude-sonnet-4-5, api_key: os.environ/UPSTREAM_KEY, api_base: %q}\n    model_info: {id: d%d}\n", u.URL, i)
	}
	// Timeouts far above the healthy deployment's answer time even on a
	// loaded machine (make test runs packages side by side under -race): a
	// healthy deployment that times out four times a minute cools down too.
	fmt.Fprintf(&yaml, "router_settings: {timeout: %g, stream_timeout: %g, cooldown_time: 1}\ngeneral_settings:\n  master_key: os.environ/MASTER\n",
		soakTimeout.Seconds(), soakTimeout.Seconds())
	gw := buildGateway(t, yaml.String(), gateway.Options{})
	srv := httptest.NewServer(gw)
	t.Cleanup(func() { srv.Close(); gw.Close(context.Background()) })
	tr := &http.Transport{MaxIdleConnsPerHost: workers}
	client := &http.Client{Transport: tr}

	// Warm up, then take the baseline.
	for range 20 {
		soakOne(client, srv.URL, false, false)
	}
	tr.CloseIdleConnections()
	baseG, baseHeap := settle()

	var sent, started, midErrors, hangUps atomic.Int64
	var mu sync.Mutex
	var problems []string
	ids := map[string]bool{}
	stop := time.Now().Add(dur)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stop); i++ {
				stream := (w+i)%4 != 0
				hangUp := stream && rand.IntN(10) == 0
				r := soakOne(client, srv.URL, stream, hangUp)
				sent.Add(1)
				mu.Lock()
				if r.id != "" {
					ids[r.id] = true
				}
				if r.problem != "" && len(problems) < 20 {
					problems = append(problems, r.problem)
				}
				mu.Unlock()
				if r.midError {
					midErrors.Add(1)
				}
				if r.hungUp {
					hangUps.Add(1)
				}
				if r.started {
					started.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	tr.CloseIdleConnections()
	t.Logf("%d requests in %v (%d streams started, %d ended in an error event after their first byte, %d hung up by the client); faults injected: %d, %d",
		sent.Load(), dur, started.Load(), midErrors.Load(), hangUps.Load(), ups[0].Faulted(), ups[1].Faulted())
	for _, p := range problems {
		t.Error(p)
	}
	if ups[0].Faulted()+ups[1].Faulted() == 0 {
		t.Error("no fault was injected")
	}
	if int64(len(ids)) != sent.Load() {
		t.Errorf("%d distinct call ids for %d requests", len(ids), sent.Load())
	}

	rows := allSpend(t, srv.URL, len(ids)+20) // the warm-up left 20
	missing := 0
	for id := range ids {
		if _, ok := rows[id]; !ok {
			missing++
		}
	}
	if missing > 0 || len(rows) != len(ids)+20 {
		t.Errorf("%d spend records for %d requests (+20 warm-up), %d requests without one", len(rows), len(ids), missing)
	}

	g, heap := settle()
	if g > baseG+8 {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: %d before, %d after the soak\n%s", baseG, g, buf[:runtime.Stack(buf, true)])
	}
	// The memory store keeps every spend record: allow for them, nothing more.
	if limit := baseHeap + uint64(len(rows))*4<<10 + 16<<20; heap > limit {
		t.Errorf("heap in use: %d MiB before, %d MiB after %d requests", baseHeap>>20, heap>>20, len(rows))
	}
}

type soakResult struct {
	id                        string
	problem                   string
	started, midError, hungUp bool
}

// soakOne sends one request and checks its answer like the fault matrix
// does; hangUp drops the stream after its first few events.
func soakOne(c *http.Client, base string, stream, hangUp bool) soakResult {
	ctx, cancel := context.WithTimeout(context.Background(), 4*soakTimeout)
	defer cancel()
	body := strings.Replace(simpleBody, `"stream":true`, fmt.Sprintf(`"stream":%v`, stream), 1)
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/messages", strings.NewReader(body))
	req.Header.Set("x-api-key", masterKey)
	req.Header.Set("content-type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return soakResult{problem: "transport: " + err.Error()}
	}
	defer resp.Body.Close()
	r := soakResult{id: resp.Header.Get("x-litellm-call-id")}
	if hangUp {
		rd := sse.NewReader(resp.Body)
		for range 1 + rand.IntN(3) {
			if _, err := rd.Next(); err != nil {
				break
			}
		}
		r.hungUp, r.started = true, true
		return r
	}
	o := clientOutcome{id: r.id, servedBy: resp.Header.Get("x-litellm-model-id"), status: resp.StatusCode}
	o.body, o.err = io.ReadAll(resp.Body)
	if stream {
		o.events = parseSSE(o.body)
		r.started = len(o.events) > 0
	}
	if len(o.events) > 0 && o.events[len(o.events)-1][0] == "error" {
		r.midError = true
	}
	// After the first byte a fault can only end the stream with an error
	// event; before it, the healthy deployment must have served.
	errType := ""
	if r.midError {
		errType = gjson.Get(o.events[len(o.events)-1][1], "error.type").String()
		if errType != "api_error" && errType != "timeout_error" {
			errType = "api_error" // let check name the unexpected type
		}
	}
	if msg := o.check(stream, errType); msg != "" {
		r.problem = fmt.Sprintf("stream=%v served by %s: %s", stream, o.servedBy, msg)
	}
	return r
}

// settle waits for goroutines to wind down and returns their count and the
// heap in use after a GC.
func settle() (int, uint64) {
	var g int
	for range 50 {
		runtime.GC()
		g = runtime.NumGoroutine()
		time.Sleep(100 * time.Millisecond)
		if runtime.NumGoroutine() == g {
			break
		}
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return g, ms.HeapInuse
}

// allSpend pages through /spend/logs until it has want records or none are
// added for 5 s.
func allSpend(t *testing.T, base string, want int) map[string]spendRow {
	t.Helper()
	rows := map[string]spendRow{}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		cursor := ""
		for {
			req, _ := http.NewRequest("GET", base+"/spend/logs?limit=1000&cursor="+url.QueryEscape(cursor), nil)
			req.Header.Set("Authorization", "Bearer "+masterKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var page struct {
				Data       []spendRow
				NextCursor *string `json:"next_cursor"`
			}
			json.NewDecoder(resp.Body).Decode(&page)
			resp.Body.Close()
			for _, r := range page.Data {
				rows[r.ID] = r
			}
			if page.NextCursor == nil {
				break
			}
			cursor = *page.NextCursor
		}
		if len(rows) >= want {
			break
		}
	}
	return rows
}
