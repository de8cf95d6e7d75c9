package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/faultinject"
	"github.com/claude-gateway/claude-gateway/core/gateway"
)

// benchSoakDuration is GATEWAY_BENCH_SOAK (e.g. "10m"); unset, the bench
// soak and burst are skipped: they run in `make bench`, not `make test`.
func benchSoakDuration(t *testing.T) time.Duration {
	v := os.Getenv("GATEWAY_BENCH_SOAK")
	if v == "" {
		t.Skip("set GATEWAY_BENCH_SOAK (make bench-soak) to run")
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// benchFaults are the soak's injected faults: those that fail fast, so
// that p99 measures the gateway rather than the timeouts.
var benchFaults = []faultinject.Spec{
	{Fault: faultinject.ResetBeforeBytes}, {Fault: faultinject.ResetAfterHeaders}, {Fault: faultinject.ResetAfterStart},
	{Fault: faultinject.Status, Status: 529}, {Fault: faultinject.Status, Status: 500},
	{Fault: faultinject.NotSSE}, {Fault: faultinject.NotJSONLate},
}

// benchGateway serves group claude-sonnet over n fake upstreams, the first
// faulty of which inject a fault into rate of their requests, with the
// embedded store (spend records on disk, as a local deployment keeps them).
func benchGateway(t *testing.T, n, faulty int, rate float64) (*httptest.Server, []*faultinject.Upstream) {
	ups := make([]*faultinject.Upstream, n)
	var yaml strings.Builder
	yaml.WriteString("model_list:\n")
	for i := range ups {
		u, err := faultinject.New(faultinject.Spec{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(u.Close)
		ups[i] = u
		if i < faulty {
			u.Choose(func() faultinject.Spec {
				if rand.Float64() < rate {
					return benchFaults[rand.IntN(len(benchFaults))]
				}
				return faultinject.Spec{}
			})
		}
		fmt.Fprintf(&yaml, "  - model_name: claude-sonnet\n    litellm_params: {model: anthropic/claude-sonnet-4-5, api_key: os.environ/UPSTREAM_KEY, api_base: %q}\n    model_info: {id: d%d}\n", u.URL, i)
	}
	fmt.Fprintf(&yaml, "router_settings: {timeout: 5, stream_timeout: 5, cooldown_time: 1, allowed_fails: 3}\ngeneral_settings:\n  master_key: os.environ/MASTER\n  state_store: embedded\n  state_file: %s\n",
		filepath.Join(t.TempDir(), "state.db"))
	gw := buildGateway(t, yaml.String(), gateway.Options{})
	srv := httptest.NewServer(gw)
	t.Cleanup(func() { srv.Close(); gw.Close(context.Background()) })
	return srv, ups
}

// rssBytes is this process's resident set (the gateway runs in it).
func rssBytes(t *testing.T) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		var kb uint64
		if _, err := fmt.Sscanf(s.Text(), "VmRSS: %d kB", &kb); err == nil {
			return kb << 10
		}
	}
	return 0
}

type soakWindow struct {
	requests   int
	p50, p99   time.Duration
	rss        uint64
	goroutines int
}

// The bench soak: a steady streaming load (16 clients, one request each
// 50 ms) for GATEWAY_BENCH_SOAK over three deployments, two injecting a
// fault into 3% of their requests. After a warm-up (the first tenth) RSS
// grows by under 10%, goroutines stay flat, p99 stays within 2x of the
// first window's, no client sees an unexpected error and every request
// leaves one spend record.
func TestBenchSoak(t *testing.T) {
	dur := benchSoakDuration(t)
	const workers = 16
	srv, ups := benchGateway(t, 3, 2, 0.03)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}

	windows := make([]soakWindow, 10)
	var mu sync.Mutex
	var lat []time.Duration
	var problems []string
	ids := map[string]bool{}
	var sent atomic.Int64
	start := time.Now()
	stop := start.Add(dur)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stop); i++ {
				t0 := time.Now()
				r := soakOne(client, srv.URL, (w+i)%4 != 0, false)
				d := time.Since(t0)
				sent.Add(1)
				mu.Lock()
				lat = append(lat, d)
				if r.id != "" {
					ids[r.id] = true
				}
				if r.problem != "" && len(problems) < 20 {
					problems = append(problems, r.problem)
				}
				mu.Unlock()
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
	for i := range windows {
		time.Sleep(time.Until(start.Add(dur * time.Duration(i+1) / 10)))
		mu.Lock()
		l := lat
		lat = nil
		mu.Unlock()
		slices.Sort(l)
		w := soakWindow{requests: len(l), rss: rssBytes(t), goroutines: runtime.NumGoroutine()}
		if len(l) > 0 {
			w.p50, w.p99 = l[len(l)/2], l[len(l)*99/100]
		}
		windows[i] = w
		t.Logf("window %d: %d requests, p50 %v, p99 %v, RSS %d MiB, %d goroutines", i, w.requests, w.p50.Round(time.Millisecond), w.p99.Round(time.Millisecond), w.rss>>20, w.goroutines)
	}
	wg.Wait()
	for _, p := range problems {
		t.Error(p)
	}
	warm, last := windows[1], windows[len(windows)-1]
	if growth := float64(last.rss)/float64(warm.rss) - 1; growth > 0.10 {
		t.Errorf("RSS grew %.1f%% after warm-up (%d -> %d MiB)", growth*100, warm.rss>>20, last.rss>>20)
	}
	if last.goroutines > warm.goroutines+workers*4 {
		t.Errorf("goroutines %d after warm-up, %d at the end", warm.goroutines, last.goroutines)
	}
	for i, w := range windows[1:] {
		if w.p99 > 2*warm.p99+20*time.Millisecond {
			t.Errorf("window %d: p99 %v, after warm-up %v", i+1, w.p99, warm.p99)
		}
	}
	if int64(len(ids)) != sent.Load() {
		t.Errorf("%d distinct call ids for %d requests", len(ids), sent.Load())
	}
	rows := allSpend(t, srv.URL, len(ids))
	if len(rows) != len(ids) {
		t.Errorf("%d spend records for %d requests", len(rows), len(ids))
	}
	t.Logf("soak %v: %d requests, faults injected %d + %d, spend records %d, RSS %d -> %d MiB, p99 %v -> %v",
		dur, sent.Load(), ups[0].Faulted(), ups[1].Faulted(), len(rows), warm.rss>>20, last.rss>>20, warm.p99.Round(time.Millisecond), last.p99.Round(time.Millisecond))
}

// The burst: 2,000 streams opened at once all complete, none dropped, and
// each leaves one spend record.
func TestBenchBurst(t *testing.T) {
	benchSoakDuration(t)
	const streams = 2000
	srv, _ := benchGateway(t, 2, 0, 0)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: streams}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var problems []string
	ids := map[string]bool{}
	gate := make(chan struct{})
	lat := make([]time.Duration, streams)
	for i := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			t0 := time.Now()
			r := soakOne(client, srv.URL, true, false)
			lat[i] = time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			ids[r.id] = true
			if r.problem != "" && len(problems) < 20 {
				problems = append(problems, r.problem)
			}
		}()
	}
	start := time.Now()
	close(gate)
	wg.Wait()
	took := time.Since(start)
	for _, p := range problems {
		t.Error(p)
	}
	rows := allSpend(t, srv.URL, streams)
	if len(ids) != streams || len(rows) != streams {
		t.Errorf("%d streams: %d call ids, %d spend records", streams, len(ids), len(rows))
	}
	slices.Sort(lat)
	t.Logf("burst: %d streams at once, all complete in %v (p50 %v, p99 %v), %d spend records", streams, took.Round(time.Millisecond),
		lat[streams/2].Round(time.Millisecond), lat[streams*99/100].Round(time.Millisecond), len(rows))
}
