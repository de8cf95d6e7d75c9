// Command bench drives the same load through the gateway and through a bare
// httputil.ReverseProxy in front of the same fast fake upstream, and prints
// latency, throughput, CPU per request, start-up time and idle RSS for each,
// with gateway/bare-proxy ratios. Everything runs on loopback, bounded in time.
//
//	go run ./scripts/bench -duration 10s -concurrency 32
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var events = []string{
	`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":1}}}`,
	`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
	`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}`,
	`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" there, how can I help?"}}`,
	`{"type":"content_block_stop","index":0}`,
	`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":8}}`,
	`{"type":"message_stop"}`,
}

// upstream answers every POST /v1/messages with a short SSE stream, flushing per event.
func upstream() http.Handler {
	var sse bytes.Buffer
	for _, e := range events {
		name := e[9 : strings.Index(e[9:], `"`)+9]
		fmt.Fprintf(&sse, "event: %s\ndata: %s\n\n", name, e)
	}
	chunks := bytes.SplitAfter(sse.Bytes(), []byte("\n\n"))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		f := w.(http.Flusher)
		for _, c := range chunks {
			if len(c) > 0 {
				w.Write(c)
				f.Flush()
			}
		}
	})
}

func freePort() string {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

type target struct {
	name    string
	cmd     *exec.Cmd
	url     string
	startMS float64
	idleRSS int64
}

func start(name, bin string, args []string, env []string) (*target, error) {
	port := freePort()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(os.Environ(), env...), "PORT="+port, "LOG_LEVEL=error")
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	url := "http://127.0.0.1:" + port
	for time.Since(t0) < 10*time.Second {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			c.Close()
			tg := &target{name: name, cmd: cmd, url: url, startMS: float64(time.Since(t0).Microseconds()) / 1000}
			time.Sleep(300 * time.Millisecond)
			tg.idleRSS = rssKB(cmd.Process.Pid)
			return tg, nil
		}
		time.Sleep(200 * time.Microsecond)
	}
	cmd.Process.Kill()
	return nil, fmt.Errorf("%s did not start", name)
}

func rssKB(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			n, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return n
		}
	}
	return 0
}

// cpuTime is the process's user+system CPU time.
func cpuTime(pid int) time.Duration {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

type result struct {
	n         int
	errs      int64
	p50, p99  time.Duration
	rps       float64
	cpuPerReq time.Duration
	maxRSS    int64
}

const body = `{"model":"claude-sonnet","max_tokens":256,"stream":true,"messages":[{"role":"user","content":"Say hello"}]}`

func load(tg *target, d time.Duration, conc int) result {
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conc * 2, MaxIdleConns: conc * 2}}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var mu sync.Mutex
	var lat []time.Duration
	var errs atomic.Int64
	cpu0 := cpuTime(tg.cmd.Process.Pid)
	t0 := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < conc; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			for ctx.Err() == nil {
				s := time.Now()
				req, _ := http.NewRequest("POST", tg.url+"/v1/messages", strings.NewReader(body))
				req.Header.Set("content-type", "application/json")
				req.Header.Set("x-api-key", "sk-bench")
				req.Header.Set("anthropic-version", "2023-06-01")
				resp, err := client.Do(req)
				if err != nil {
					if errs.Add(1) == 1 {
						fmt.Fprintln(os.Stderr, tg.name+":", err)
					}
					continue
				}
				b, err := io.ReadAll(resp.Body)
				if err != nil && errs.Load() == 0 {
					fmt.Fprintln(os.Stderr, tg.name+": reading:", err)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 || !bytes.Contains(b, []byte("message_stop")) {
					errs.Add(1)
					continue
				}
				local = append(local, time.Since(s))
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(t0)
	cpu := cpuTime(tg.cmd.Process.Pid) - cpu0
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	r := result{n: len(lat), errs: errs.Load(), rps: float64(len(lat)) / el.Seconds(), maxRSS: rssKB(tg.cmd.Process.Pid)}
	if len(lat) > 0 {
		r.p50, r.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
		r.cpuPerReq = cpu / time.Duration(len(lat))
	}
	return r
}

func build(dir, pkg, name string) (string, error) {
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %v\n%s", pkg, err, b)
	}
	return out, nil
}

func main() {
	dur := flag.Duration("duration", 8*time.Second, "load duration per target")
	conc := flag.Int("concurrency", 16, "concurrent clients")
	flag.Parse()
	dir, _ := os.MkdirTemp("", "gwbench")
	defer os.RemoveAll(dir)
	gwBin, err := build(dir, "./functions/cloudrun", "gateway")
	check(err)
	proxyBin, err := build(dir, "./scripts/bench/bareproxy", "bareproxy")
	check(err)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	up := &http.Server{Handler: upstream()}
	go up.Serve(ln)
	upURL := "http://" + ln.Addr().String()
	cfg := filepath.Join(dir, "config.yaml")
	check(os.WriteFile(cfg, []byte(`model_list:
  - model_name: claude-sonnet
    litellm_params:
      model: anthropic/claude-sonnet-4-5
      api_key: sk-upstream
      api_base: `+upURL+`
general_settings:
  master_key: sk-bench
`), 0o600))

	proxy, err := start("bare-proxy", proxyBin, nil, []string{"UPSTREAM=" + upURL})
	check(err)
	defer proxy.cmd.Process.Kill()
	gw, err := start("gateway", gwBin, []string{"-config", cfg}, []string{"GATEWAY_STATE_FILE=" + filepath.Join(dir, "state.db")})
	check(err)
	defer gw.cmd.Process.Kill()

	fmt.Printf("load: %d concurrent streaming clients, %s per target, 7-event SSE upstream on loopback\n", *conc, *dur)
	load(proxy, time.Second, *conc) // warm up both
	load(gw, time.Second, *conc)
	rp := load(proxy, *dur, *conc)
	rg := load(gw, *dur, *conc)
	fmt.Printf("%-11s %9s %9s %10s %10s %8s %10s %10s %6s\n", "target", "p50", "p99", "req/s", "cpu/req", "start", "idle RSS", "load RSS", "errors")
	for _, x := range []struct {
		t *target
		r result
	}{{proxy, rp}, {gw, rg}} {
		fmt.Printf("%-11s %9s %9s %10.0f %10s %6.1fms %8dKB %8dKB %6d\n", x.t.name, x.r.p50.Round(time.Microsecond), x.r.p99.Round(time.Microsecond),
			x.r.rps, x.r.cpuPerReq.Round(time.Microsecond), x.t.startMS, x.t.idleRSS, x.r.maxRSS, x.r.errs)
	}
	ratio := func(a, b float64) string {
		if b == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2fx", a/b)
	}
	fmt.Printf("gateway/bare-proxy: p50 %s, p99 %s, throughput %s, cpu/req %s\n",
		ratio(float64(rg.p50), float64(rp.p50)), ratio(float64(rg.p99), float64(rp.p99)),
		ratio(rg.rps, rp.rps), ratio(float64(rg.cpuPerReq), float64(rp.cpuPerReq)))
	proxy.cmd.Process.Kill()
	gw.cmd.Process.Kill()
	// The bare proxy streams request bodies and cuts a few responses short
	// (golang/go#40747): its errors are reported, only the gateway's fail the run.
	if rg.errs > 0 {
		fmt.Fprintf(os.Stderr, "bench: %d gateway requests failed\n", rg.errs)
		os.Exit(1)
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
