package gateway_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/claude-gateway/claude-gateway/core/providers/anthropic/anthropictest"
)

// benchUpstream is a fast fake Anthropic API: a fixed 7-event stream.
func benchUpstream(b *testing.B) *httptest.Server {
	var sse bytes.Buffer
	for _, ev := range anthropictest.DefaultEvents("claude-sonnet-4-5") {
		sse.WriteString("event: " + ev.Name + "\ndata: " + ev.Data + "\n\n")
	}
	chunks := bytes.SplitAfter(sse.Bytes(), []byte("\n\n"))
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		for _, c := range chunks {
			if len(c) > 0 {
				w.Write(c)
				w.(http.Flusher).Flush()
			}
		}
	}))
	b.Cleanup(up.Close)
	return up
}

func benchLoad(b *testing.B, url string) {
	benchLoadPath(b, url+"/v1/messages", simpleBody, "message_stop")
}

// benchLoadPath posts body to url from parallel clients, counting answers
// that are not a 200 containing done.
func benchLoadPath(b *testing.B, url, body, done string) {
	benchLoadKeys(b, url, body, done, []string{masterKey})
}

// benchLoadKeys is benchLoadPath with the clients' requests spread over keys.
func benchLoadKeys(b *testing.B, url, body, done string, keys []string) {
	var failed, next atomic.Int64
	defer func() { b.ReportMetric(float64(failed.Load()), "failed") }()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", url, strings.NewReader(body))
			req.Header.Set("x-api-key", keys[int(next.Add(1))%len(keys)])
			req.Header.Set("anthropic-version", "2023-06-01")
			resp, err := client.Do(req)
			if err != nil {
				failed.Add(1)
				continue
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			// The bare proxy cuts a few streams short (golang/go#40747): count, don't stop.
			if resp.StatusCode != 200 || !bytes.Contains(data, []byte(done)) {
				failed.Add(1)
			}
		}
	})
}

// BenchmarkStreamGateway is one streamed request through the whole gateway
// over loopback; compare with BenchmarkStreamBareProxy on the same run.
func BenchmarkStreamGateway(b *testing.B) {
	up := benchUpstream(b)
	gw := startGatewayB(b, anthropicConfig(up.URL))
	benchLoad(b, gw.URL)
}

// BenchmarkStreamGatewayVirtualKeys is BenchmarkStreamGateway with the
// requests spread over 1,000 active virtual keys of one team, each with a
// budget and a parallel limit (the steady state: cached, no store round trip
// on the way in; charges go to the store after each response).
func BenchmarkStreamGatewayVirtualKeys(b *testing.B) {
	up := benchUpstream(b)
	gw := startGatewayB(b, anthropicConfig(up.URL))
	req := func(path, body string) []byte {
		r, _ := http.NewRequest("POST", gw.URL+path, strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+masterKey)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			b.Fatalf("%s: %d %s", path, resp.StatusCode, out)
		}
		return out
	}
	req("/team/new", `{"team_id":"bench","max_budget":1000000}`)
	keys := make([]string, 1000)
	for i := range keys {
		var g struct{ Key string }
		json.Unmarshal(req("/key/generate", `{"team_id":"bench","max_budget":1000,"max_parallel_requests":100,"models":["claude-sonnet"]}`), &g)
		keys[i] = g.Key
	}
	benchLoadKeys(b, gw.URL+"/v1/messages", simpleBody, "message_stop", keys)
}

// BenchmarkChatStream is one streamed OpenAI chat request (with usage)
// through the whole gateway over loopback: the same upstream stream as
// BenchmarkStreamGateway, translated to chat.completion.chunk lines.
func BenchmarkChatStream(b *testing.B) {
	up := benchUpstream(b)
	gw := startGatewayB(b, anthropicConfig(up.URL))
	benchLoadPath(b, gw.URL+"/v1/chat/completions",
		`{"model":"claude-sonnet","max_completion_tokens":100,"stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`,
		"data: [DONE]")
}

// BenchmarkStreamBareProxy is the yardstick: httputil.ReverseProxy to the same upstream.
func BenchmarkStreamBareProxy(b *testing.B) {
	up := benchUpstream(b)
	u, _ := url.Parse(up.URL)
	p := httputil.NewSingleHostReverseProxy(u)
	p.FlushInterval = -1
	srv := httptest.NewServer(p)
	b.Cleanup(srv.Close)
	benchLoad(b, srv.URL)
}

// BenchmarkHandlerNonStreaming measures the gateway's own work per request
// (no network) on the simulated provider.
func BenchmarkHandlerNonStreaming(b *testing.B) {
	benchHandler(b, func(*httptest.Server) []string { return []string{masterKey} })
}

// BenchmarkHandlerNonStreamingVirtualKeys is BenchmarkHandlerNonStreaming
// with the requests spread over 1,000 active virtual keys (as the load
// script's gw-keys target): what a key adds to the gateway's own work.
// Run both with -cpu 1 to count the charges sent after each response too.
func BenchmarkHandlerNonStreamingVirtualKeys(b *testing.B) {
	benchHandler(b, func(srv *httptest.Server) []string { return generateKeys(b, srv.Config.Handler, 1000) })
}

func benchHandler(b *testing.B, keys func(*httptest.Server) []string) {
	srv := startGatewayB(b, `
model_list:
  - model_name: claude-sonnet
    litellm_params: {model: simulated/claude-sonnet-4-5, output_tokens: 8}
general_settings:
  master_key: os.environ/MASTER
`)
	h := srv.Config.Handler
	ks := keys(srv)
	body := strings.Replace(simpleBody, `"stream":true`, `"stream":false`, 1)
	i := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/v1/messages", strings.NewReader(body))
		req.Header.Set("x-api-key", ks[i%len(ks)])
		i++
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code, rec.Body.String())
		}
	}
}

// generateKeys makes n virtual keys through /key/generate on h.
func generateKeys(b *testing.B, h http.Handler, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/key/generate", strings.NewReader(`{"models":["claude-sonnet"]}`))
		req.Header.Set("Authorization", "Bearer "+masterKey)
		h.ServeHTTP(rec, req)
		var g struct{ Key string }
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &g) != nil {
			b.Fatalf("/key/generate: %d %s", rec.Code, rec.Body.String())
		}
		keys[i] = g.Key
	}
	return keys
}

func startGatewayB(b *testing.B, yaml string) *httptest.Server {
	return startGatewayTB(b, yaml, gateway.Options{})
}

// BenchmarkStreamGatewayEmbedded is BenchmarkStreamGateway with the local
// default state store (the embedded file) recording every request's spend.
func BenchmarkStreamGatewayEmbedded(b *testing.B) {
	up := benchUpstream(b)
	file := b.TempDir() + "/state.db"
	gw := startGatewayTB(b, anthropicConfig(up.URL), gateway.Options{Platform: "local", Getenv: func(k string) string {
		if k == "GATEWAY_STATE_FILE" {
			return file
		}
		return ""
	}})
	benchLoad(b, gw.URL)
}
