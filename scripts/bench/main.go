// Command bench measures the gateway against a bare httputil.ReverseProxy in
// front of the same fast fake upstream, in one interleaved run, and prints
// each figure with its gateway/bare-proxy ratio: binary sizes, cold start
// (exec -> first 200; the Cloud Run binary and the Lambda bootstrap under a
// fake Runtime API), JSON and SSE throughput, CPU per request and latency on
// the memory and the embedded store, idle RSS, RSS after the load, and RSS
// per open idle stream (1,000 slow streams at once), and a scale table (SSE
// at 1, 8, 32, 128 and 512 concurrent streams). Everything runs on
// loopback, bounded in time.
//
//	go run ./scripts/bench -duration 8s -concurrency 16
package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claude-gateway/claude-gateway/functions/lambda/runtimeapi"
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

const jsonMessage = `{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Hello there, how can I help?"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":8}}`

// upstream answers POST /v1/messages: a short SSE stream flushed per event
// for "stream":true, the JSON message otherwise; a body asking for "slow"
// gets the first event and then nothing until release is closed.
func upstream(release <-chan struct{}) http.Handler {
	var sse bytes.Buffer
	for _, e := range events {
		name := e[9 : strings.Index(e[9:], `"`)+9]
		fmt.Fprintf(&sse, "event: %s\ndata: %s\n\n", name, e)
	}
	chunks := bytes.SplitAfter(sse.Bytes(), []byte("\n\n"))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if !bytes.Contains(b, []byte(`"stream":true`)) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, jsonMessage)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		f := w.(http.Flusher)
		for i, c := range chunks {
			if len(c) > 0 {
				w.Write(c)
				f.Flush()
			}
			if i == 0 && bytes.Contains(b, []byte("slow")) {
				select {
				case <-release:
				case <-r.Context().Done():
					return
				}
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
	// keys, if set, are virtual keys the clients use in rotation instead of
	// the master key (the 1,000-active-keys figure).
	keys []string
	next atomic.Uint64
}

// key returns the credential for tg's next request.
func (tg *target) key() string {
	if len(tg.keys) == 0 {
		return "sk-bench"
	}
	return tg.keys[tg.next.Add(1)%uint64(len(tg.keys))]
}

// generateKeys makes n virtual keys on tg through /key/generate.
func generateKeys(tg *target, n int) ([]string, error) {
	keys := make([]string, 0, n)
	for i := range n {
		req, _ := http.NewRequest("POST", tg.url+"/key/generate", strings.NewReader(fmt.Sprintf(`{"key_alias":"bench-%d","models":["claude-sonnet"]}`, i)))
		req.Header.Set("Authorization", "Bearer sk-bench")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		i := bytes.Index(b, []byte(`"key":"`))
		if resp.StatusCode != 200 || i < 0 {
			return nil, fmt.Errorf("/key/generate: %d %.200s", resp.StatusCode, b)
		}
		rest := b[i+7:]
		keys = append(keys, string(rest[:bytes.IndexByte(rest, '"')]))
	}
	return keys, nil
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

// rssKB is the process's resident set (VmRSS), KB.
func rssKB(pid int) int64 { return readRSS(pid).total }

// cpuTime is the process's user+system CPU time.
func cpuTime(pid int) time.Duration {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

// syscalls is the number of read and write system calls the process has
// made (syscr + syscw in /proc/PID/io).
func syscalls(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	var n int64
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ": "); ok && (k == "syscr" || k == "syscw") {
			c, _ := strconv.ParseInt(v, 10, 64)
			n += c
		}
	}
	return n
}

// result sums one target's load runs.
type result struct {
	n        int
	errs     int64
	lat      []time.Duration
	elapsed  time.Duration
	cpu      time.Duration
	syscalls int64 // read and write system calls
	maxRSSKB int64
}

func (r result) rps() float64 { return float64(r.n) / r.elapsed.Seconds() }

func (r result) cpuPerReq() time.Duration {
	if r.n == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.n)
}

// syscallsPerReq is the read and write system calls per request.
func (r result) syscallsPerReq() float64 {
	if r.n == 0 {
		return 0
	}
	return float64(r.syscalls) / float64(r.n)
}

func (r result) pct(p int) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[len(r.lat)*p/100]
}

func body(stream bool, text string) string {
	return fmt.Sprintf(`{"model":"claude-sonnet","max_tokens":256,"stream":%t,"messages":[{"role":"user","content":%q}]}`, stream, text)
}

func post(ctx context.Context, url, key, b string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", url+"/v1/messages", strings.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("content-type", "application/json")
	req.Header.Set("x-api-key", key)
	req.Header.Set("anthropic-version", "2023-06-01")
	return req, nil
}

// load runs conc clients against tg for d and adds the outcome to into.
func load(tg *target, d time.Duration, conc int, stream bool, into *result) {
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conc * 2, MaxIdleConns: conc * 2}}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	want := []byte("message_stop")
	if !stream {
		want = []byte(`"end_turn"`)
	}
	b := body(stream, "Say hello")
	var mu sync.Mutex
	var errs atomic.Int64
	cpu0, sys0 := cpuTime(tg.cmd.Process.Pid), syscalls(tg.cmd.Process.Pid)
	t0 := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			for ctx.Err() == nil {
				s := time.Now()
				req, _ := post(context.Background(), tg.url, tg.key(), b)
				resp, err := client.Do(req)
				if err != nil {
					errs.Add(1)
					continue
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !bytes.Contains(got, want) {
					if errs.Add(1) == 1 {
						fmt.Fprintf(os.Stderr, "%s: status %d: %.200s\n", tg.name, resp.StatusCode, got)
					}
					continue
				}
				local = append(local, time.Since(s))
			}
			mu.Lock()
			into.lat = append(into.lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	into.elapsed += time.Since(t0)
	into.cpu += cpuTime(tg.cmd.Process.Pid) - cpu0
	into.syscalls += syscalls(tg.cmd.Process.Pid) - sys0
	into.n = len(into.lat)
	into.errs += errs.Load()
	into.maxRSSKB = max(into.maxRSSKB, rssKB(tg.cmd.Process.Pid))
}

// coldStart is exec -> first response served: the process is started and
// asked for path over fresh connections until one answers 200.
func coldStart(bin string, args, env []string, path string) (time.Duration, error) {
	port := freePort()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(os.Environ(), env...), "PORT="+port, "LOG_LEVEL=error")
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	for time.Since(t0) < 10*time.Second {
		req, _ := http.NewRequest("GET", "http://127.0.0.1:"+port+path, nil)
		req.Header.Set("x-api-key", "sk-bench")
		if resp, err := client.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return time.Since(t0), nil
			}
		}
		time.Sleep(100 * time.Microsecond)
	}
	return 0, fmt.Errorf("%s: no 200 within 10s", bin)
}

// lambdaColdStart is the Lambda bootstrap's exec -> first invocation's
// response, under the fake Runtime API (functions/lambda/runtimeapi).
func lambdaColdStart(bootstrap, cfg string) (time.Duration, error) {
	in, err := runtimeapi.Start(runtimeapi.Options{Bootstrap: bootstrap, TaskRoot: filepath.Dir(cfg),
		Env: []string{"GATEWAY_CONFIG=" + cfg, "GATEWAY_STATE_STORE=memory", "LOG_LEVEL=error"}})
	if err != nil {
		return 0, err
	}
	defer in.Close()
	req, _ := http.NewRequest("GET", "https://fn.lambda-url.us-east-1.on.aws/health", nil)
	req.Header.Set("x-api-key", "sk-bench")
	ev, err := runtimeapi.NewEvent(runtimeapi.FormatFunctionURL, req, nil, time.Now())
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := in.Invoke(ctx, ev)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	<-resp.Done()
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("lambda bootstrap: first invocation answered %d", resp.StatusCode)
	}
	t := in.Timing()
	return t.FirstResponse.Sub(t.Started), nil
}

func median[T cmp.Ordered](d []T) T {
	slices.Sort(d)
	return d[len(d)/2]
}

// streams opens n slow streams through tg at once, waits until each has its
// first event, and returns the RSS growth per open stream (KB).
func streams(tg *target, n int, release chan struct{}) (float64, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: 0}}
	before := rssKB(tg.cmd.Process.Pid)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var opened, failed sync.WaitGroup
	var errs atomic.Int64
	opened.Add(n)
	b := body(true, "slow")
	for range n {
		failed.Add(1)
		go func() {
			defer failed.Done()
			once := sync.OnceFunc(opened.Done)
			defer once()
			req, _ := post(ctx, tg.url, tg.key(), b)
			resp, err := client.Do(req)
			if err != nil {
				errs.Add(1)
				return
			}
			defer resp.Body.Close()
			buf := make([]byte, 512)
			if _, err := resp.Body.Read(buf); err != nil {
				errs.Add(1)
				return
			}
			once()
			io.Copy(io.Discard, resp.Body)
		}()
	}
	opened.Wait()
	time.Sleep(500 * time.Millisecond) // let the goroutines settle
	after := rssKB(tg.cmd.Process.Pid)
	close(release)
	failed.Wait()
	if e := errs.Load(); e > 0 {
		return 0, fmt.Errorf("%s: %d of %d streams failed", tg.name, e, n)
	}
	return float64(after-before) / float64(n), nil
}

func build(dir, pkg, name, tags string) (string, error) {
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-tags", tags, "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %v\n%s", pkg, err, b)
	}
	return out, nil
}

func main() {
	dur := flag.Duration("duration", 8*time.Second, "load duration per target and body type, split over the rounds")
	conc := flag.Int("concurrency", 16, "concurrent clients")
	rounds := flag.Int("rounds", 4, "interleaved rounds (bare proxy, then each gateway, in turn)")
	starts := flag.Int("starts", 11, "cold starts per binary (the median is reported)")
	nStreams := flag.Int("streams", 1000, "slow concurrent streams for the memory-per-stream figure (0: skip)")
	crTags := flag.String("cloudrun-tags", "grpcnotrace,nodynamodb,nofirestore,noredis", "build tags of the lean Cloud Run binary (make print-tags)")
	crFsTags := flag.String("cloudrun-firestore-tags", "", "build tags of the Cloud Run binary with Firestore, the deployed image (make print-tags CLOUDRUN_STORE=firestore; empty: skip)")
	nKeys := flag.Int("keys", 1000, "virtual keys for the gw-keys target (memory store, clients rotate over them; 0: skip)")
	lambdaTags := flag.String("lambda-tags", "lambda.norpc,grpcnotrace,nootlp,noprometheus,nofirestore,noredis", "build tags of the Lambda bootstrap")
	upTLS := flag.Bool("upstream-tls", false, "serve the upstream over TLS with HTTP/2, as every real provider does (both proxies then multiplex their upstream streams over a few connections)")
	only := flag.String("only", "", `"startup": binary sizes, cold starts and idle RSS only (no load); "scale": the scale table only; "streams": the memory per open stream only`)
	scaleLevels := flag.String("scale", "1,8,32,128,512", "concurrent streams for the scale table (bare proxy and gw-memory, SSE; empty: skip)")
	scaleDur := flag.Duration("scale-duration", 2*time.Second, "scale table: load per target and level, split over the rounds")
	loadTargets := flag.String("targets", "", "comma-separated targets to load beside the bare proxy (gw-memory,gw-embedded,gw-keys; default all)")
	flag.Parse()
	dir, _ := os.MkdirTemp("", "gwbench")
	defer os.RemoveAll(dir)
	gwBin, err := build(dir, "./functions/cloudrun", "gateway", *crTags)
	check(err)
	lambdaBin, err := build(dir, "./functions/lambda", "bootstrap", *lambdaTags)
	check(err)
	proxyBin, err := build(dir, "./scripts/bench/bareproxy", "bareproxy", "")
	check(err)
	bins := []string{gwBin, lambdaBin, proxyBin}
	fsBin := ""
	if *crFsTags != "" {
		fsBin, err = build(dir, "./functions/cloudrun", "gateway-fs", *crFsTags)
		check(err)
		bins = append(bins, fsBin)
	}
	for _, b := range bins {
		fi, _ := os.Stat(b)
		fmt.Printf("binary %-10s %5.1f MB stripped\n", filepath.Base(b), float64(fi.Size())/(1<<20))
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	var release atomic.Pointer[chan struct{}]
	rel := make(chan struct{})
	release.Store(&rel)
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstream(*release.Load()).ServeHTTP(w, r)
	})}
	upURL := "http://" + ln.Addr().String()
	var tlsEnv []string
	if *upTLS {
		cert, err := upstreamTLS(up, dir)
		check(err)
		upURL = "https://" + strings.TrimPrefix(upURL, "http://")
		tlsEnv = []string{"SSL_CERT_FILE=" + cert}
		go up.ServeTLS(ln, "", "") // HTTP/2 as well: the server adds h2
	} else {
		go up.Serve(ln)
	}
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
	proxyEnv := append([]string{"UPSTREAM=" + upURL}, tlsEnv...)
	gwArgs := []string{"-config", cfg}
	memEnv := append([]string{"GATEWAY_STATE_STORE=memory"}, tlsEnv...)
	embEnv := func(name string) []string {
		return append([]string{"GATEWAY_STATE_STORE=embedded", "GATEWAY_STATE_FILE=" + filepath.Join(dir, name)}, tlsEnv...)
	}

	// Cold starts, interleaved: bare proxy, Cloud Run binary (lean, then
	// with Firestore compiled in: the deployed image), Lambda bootstrap.
	var csP, csG, csF, csL []time.Duration
	for i := range *starts { // -starts 0 skips the cold starts
		d, err := coldStart(proxyBin, nil, proxyEnv, "/")
		check(err)
		csP = append(csP, d)
		d, err = coldStart(gwBin, gwArgs, embEnv(fmt.Sprint("cold-", i)), "/health")
		check(err)
		csG = append(csG, d)
		if fsBin != "" {
			d, err = coldStart(fsBin, gwArgs, embEnv(fmt.Sprint("cold-fs-", i)), "/health")
			check(err)
			csF = append(csF, d)
		}
		d, err = lambdaColdStart(lambdaBin, cfg)
		check(err)
		csL = append(csL, d)
	}
	if *starts > 0 {
		ms := func(d []time.Duration) string {
			return fmt.Sprintf("%s = %.2fx", median(d).Round(10*time.Microsecond), float64(median(d))/float64(median(csP)))
		}
		fs := ""
		if fsBin != "" {
			fs = ", cloudrun gateway with Firestore (embedded store) " + ms(csF)
		}
		fmt.Printf("\ncold start (exec -> first 200), median of %d: bare proxy %s, cloudrun gateway (embedded store) %s%s, lambda bootstrap %s\n",
			*starts, median(csP).Round(10*time.Microsecond), ms(csG), fs, ms(csL))
	}

	if *only == "startup" {
		gws := []idleTarget{{"gw-memory", gwBin, gwArgs, memEnv}, {"gw-embedded", gwBin, gwArgs, embEnv("idle")}}
		if fsBin != "" {
			gws = append(gws, idleTarget{"gw-firestore-build (memory store)", fsBin, gwArgs, memEnv})
		}
		idleRSS(idleTarget{"bare proxy", proxyBin, nil, proxyEnv}, gws, *starts)
		return
	}
	proxy, err := start("bare-proxy", proxyBin, nil, proxyEnv)
	check(err)
	defer proxy.cmd.Process.Kill()
	gwMem, err := start("gw-memory", gwBin, gwArgs, memEnv)
	check(err)
	defer gwMem.cmd.Process.Kill()
	gwEmb, err := start("gw-embedded", gwBin, gwArgs, embEnv("state"))
	check(err)
	defer gwEmb.cmd.Process.Kill()
	if *scaleLevels != "" {
		levels, err := parseLevels(*scaleLevels)
		check(err)
		scaleTable(proxy, gwMem, levels, *scaleDur, *rounds)
	}
	if *only == "scale" {
		return
	}
	if *only == "streams" {
		proxy.cmd.Process.Kill()
		gwMem.cmd.Process.Kill()
		gwEmb.cmd.Process.Kill()
		perStream(proxyBin, proxyEnv, gwBin, gwArgs, memEnv, &release, *nStreams)
		return
	}
	targets := []*target{proxy, gwMem, gwEmb}
	if *nKeys > 0 {
		gwKeys, err := start("gw-keys", gwBin, gwArgs, memEnv)
		check(err)
		defer gwKeys.cmd.Process.Kill()
		gwKeys.keys, err = generateKeys(gwKeys, *nKeys)
		check(err)
		targets = append(targets, gwKeys)
	}
	if *loadTargets != "" {
		// Fewer targets interleave more finely: a ratio of two of them
		// suffers less from other load on a shared machine.
		keep := strings.Split(*loadTargets, ",")
		targets = slices.DeleteFunc(targets, func(tg *target) bool { return tg != proxy && !slices.Contains(keep, tg.name) })
	}

	fmt.Printf("\nload: %d concurrent clients, %s per target and body type in %d interleaved rounds, loopback upstream\n", *conc, *dur, *rounds)
	res := map[string]map[bool]*result{}
	for _, tg := range targets {
		res[tg.name] = map[bool]*result{false: {}, true: {}}
		load(tg, time.Second, *conc, true, &result{}) // warm up
		load(tg, 500*time.Millisecond, *conc, false, &result{})
	}
	for range *rounds {
		for _, stream := range []bool{false, true} {
			for _, tg := range targets {
				load(tg, *dur/time.Duration(*rounds), *conc, stream, res[tg.name][stream])
			}
		}
	}
	fmt.Printf("%-12s %-5s %9s %9s %9s %9s %9s %9s %9s %9s %7s\n", "target", "body", "req/s", "ratio", "cpu/req", "ratio", "p50", "p99", "p99 ratio", "load RSS", "errors")
	for _, stream := range []bool{false, true} {
		kind := map[bool]string{false: "json", true: "sse"}[stream]
		base := res[proxy.name][stream]
		for _, r := range []*result{base} {
			sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
		}
		for _, tg := range targets {
			r := res[tg.name][stream]
			sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
			fmt.Printf("%-12s %-5s %9.0f %8.3fx %9s %8.2fx %9s %9s %8.2fx %7dKB %7d\n", tg.name, kind, r.rps(), r.rps()/base.rps(),
				r.cpuPerReq().Round(time.Microsecond), float64(r.cpuPerReq())/float64(base.cpuPerReq()),
				r.pct(50).Round(time.Microsecond), r.pct(99).Round(time.Microsecond), float64(r.pct(99))/float64(base.pct(99)),
				r.maxRSSKB, r.errs)
		}
	}
	if *nKeys > 0 && res["gw-keys"] != nil && res[gwMem.name] != nil {
		for _, stream := range []bool{false, true} {
			k, m := res["gw-keys"][stream], res[gwMem.name][stream]
			fmt.Printf("%d virtual keys vs the master key (both memory store), %s: throughput %.3fx, cpu/req %.2fx\n", *nKeys,
				map[bool]string{false: "json", true: "sse"}[stream], k.rps()/m.rps(), float64(k.cpuPerReq())/float64(m.cpuPerReq()))
		}
	}
	fmt.Printf("\nidle RSS (fresh process): bare proxy %d KB, gw-memory %d KB (%.2fx), gw-embedded %d KB (%.2fx)\n",
		proxy.idleRSS, gwMem.idleRSS, float64(gwMem.idleRSS)/float64(proxy.idleRSS), gwEmb.idleRSS, float64(gwEmb.idleRSS)/float64(proxy.idleRSS))
	for _, tg := range targets {
		tg.cmd.Process.Kill()
		tg.cmd.Wait()
	}

	if *nStreams > 0 {
		perStream(proxyBin, proxyEnv, gwBin, gwArgs, memEnv, &release, *nStreams)
	}
	// The bare proxy streams request bodies and cuts a few responses short
	// (golang/go#40747): its errors are reported, only the gateway's fail the run.
	for _, tg := range targets[1:] {
		if e := res[tg.name][false].errs + res[tg.name][true].errs; e > 0 {
			fmt.Fprintf(os.Stderr, "bench: %d %s requests failed\n", e, tg.name)
			os.Exit(1)
		}
	}
}

// perStream prints the RSS each open idle stream adds to a fresh bare proxy
// and a fresh gateway (memory store), n slow streams at once.
func perStream(proxyBin string, proxyEnv []string, gwBin string, gwArgs, gwEnv []string, release *atomic.Pointer[chan struct{}], n int) {
	per := map[string]float64{}
	for _, s := range []struct {
		name, bin string
		args, env []string
	}{{"bare-proxy", proxyBin, nil, proxyEnv}, {"gw-memory", gwBin, gwArgs, gwEnv}} {
		tg, err := start(s.name, s.bin, s.args, s.env)
		check(err)
		r := make(chan struct{})
		release.Store(&r)
		per[s.name], err = streams(tg, n, r)
		tg.cmd.Process.Kill()
		tg.cmd.Wait()
		check(err)
	}
	fmt.Printf("RSS per open idle stream (%d slow streams at once, fresh process): bare proxy %.1f KB, gateway %.1f KB (%.2fx)\n",
		n, per["bare-proxy"], per["gw-memory"], per["gw-memory"]/per["bare-proxy"])
}

// upstreamTLS gives up a self-signed certificate for 127.0.0.1 and writes it to a PEM file for the proxies'
// SSL_CERT_FILE (Go's system roots on Linux).
func upstreamTLS(up *http.Server, dir string) (string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench upstream"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "upstream-ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return "", err
	}
	up.TLSConfig = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	return path, nil
}

// idleTarget is one binary idleRSS starts.
type idleTarget struct {
	name, bin string
	args, env []string
}

// rss is a process's resident set from /proc/PID/status (KB): anon is heap,
// stacks and runtime data; file is the executable's (and libraries') pages
// it touched, mapped with the kernel's fault-around.
type rss struct{ total, anon, file int64 }

func readRSS(pid int) rss {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	var r rss
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			r.total = n
		case "RssAnon:":
			r.anon = n
		case "RssFile:":
			r.file = n
		}
	}
	return r
}

// idleRSS prints the median idle RSS (total, anonymous, file-backed) of n/3
// fresh processes of the bare proxy and each gateway, interleaved.
func idleRSS(bare idleTarget, gws []idleTarget, n int) {
	all := append([]idleTarget{bare}, gws...)
	got := make([][]rss, len(all))
	for range max(n/3, 1) {
		for i, s := range all {
			tg, err := start("idle", s.bin, s.args, s.env)
			check(err)
			got[i] = append(got[i], readRSS(tg.cmd.Process.Pid))
			tg.cmd.Process.Kill()
			tg.cmd.Wait()
		}
	}
	med := func(rs []rss, f func(rss) int64) int64 {
		v := make([]int64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		return median(v)
	}
	p := med(got[0], func(r rss) int64 { return r.total })
	fmt.Printf("idle RSS (fresh process), median of %d, total KB (anon + file):", len(got[0]))
	for i, s := range all {
		t := med(got[i], func(r rss) int64 { return r.total })
		fmt.Printf(" %s %d (%d + %d)", s.name, t, med(got[i], func(r rss) int64 { return r.anon }), med(got[i], func(r rss) int64 { return r.file }))
		if i > 0 {
			fmt.Printf(" = %.2fx", float64(t)/float64(p))
		}
		if i < len(all)-1 {
			fmt.Print(",")
		}
	}
	fmt.Println()
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// parseLevels reads the -scale list of concurrency levels.
func parseLevels(s string) ([]int, error) {
	var levels []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-scale: %q is not a positive number of streams", f)
		}
		levels = append(levels, n)
	}
	return levels, nil
}

// scaleTable prints SSE throughput, CPU per request and p99 of the gateway
// against the bare proxy at each concurrency level. Each level runs its own
// interleaved rounds (bare proxy, then the gateway), so a ratio compares two
// runs that saw the same machine.
func scaleTable(base, gw *target, levels []int, d time.Duration, rounds int) {
	fmt.Printf("\nscale: SSE, %s per target and level in %d interleaved rounds; %s against %s\n", d, rounds, gw.name, base.name)
	fmt.Printf("%8s %10s %10s %8s %9s %9s %8s %9s %9s %8s %9s %9s\n", "streams", "bare req/s", "gw req/s", "ratio",
		"bare cpu", "gw cpu", "ratio", "bare p99", "gw p99", "ratio", "bare r+w", "gw r+w")
	for _, n := range levels {
		load(base, 300*time.Millisecond, n, true, &result{}) // warm the connections up
		load(gw, 300*time.Millisecond, n, true, &result{})
		var b, g result
		for range rounds {
			load(base, d/time.Duration(rounds), n, true, &b)
			load(gw, d/time.Duration(rounds), n, true, &g)
		}
		slices.Sort(b.lat)
		slices.Sort(g.lat)
		fmt.Printf("%8d %10.0f %10.0f %7.3fx %9s %9s %7.2fx %9s %9s %7.2fx %9.1f %9.1f\n", n, b.rps(), g.rps(), g.rps()/b.rps(),
			b.cpuPerReq().Round(100*time.Nanosecond), g.cpuPerReq().Round(100*time.Nanosecond), float64(g.cpuPerReq())/float64(b.cpuPerReq()),
			b.pct(99).Round(10*time.Microsecond), g.pct(99).Round(10*time.Microsecond), float64(g.pct(99))/float64(b.pct(99)),
			b.syscallsPerReq(), g.syscallsPerReq())
		if g.errs > 0 {
			fmt.Fprintf(os.Stderr, "bench: %d %s requests failed at %d streams\n", g.errs, gw.name, n)
			os.Exit(1)
		}
	}
}
