package runtimeapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as a minimal custom runtime: started with
// FAKE_RUNTIME=<behaviour> it runs one Runtime API exchange, so the fake's
// handling of each way a runtime can answer is tested against real HTTP.
func TestMain(m *testing.M) {
	if b := os.Getenv("FAKE_RUNTIME"); b != "" {
		os.Exit(fakeRuntime(b))
	}
	os.Exit(m.Run())
}

func fakeRuntime(behaviour string) int {
	api := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/"
	if behaviour == "init-error" {
		req, _ := http.NewRequest("POST", api+"init/error", strings.NewReader(`{"errorMessage":"no config","errorType":"Runtime.ConfigError"}`))
		req.Header.Set("Lambda-Runtime-Function-Error-Type", "Runtime.ConfigError")
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
		return 1
	}
	base := api + "invocation/"
	res, err := http.Get(base + "next")
	if err != nil {
		return 10
	}
	event, _ := io.ReadAll(res.Body)
	res.Body.Close()
	id := res.Header.Get("Lambda-Runtime-Aws-Request-Id")
	post := func(path, ctype string, body io.Reader, hdr, trailer http.Header) int {
		req, _ := http.NewRequest("POST", base+id+path, body)
		req.Header.Set("Content-Type", ctype)
		for k, v := range hdr {
			req.Header[k] = v
		}
		req.Trailer = trailer
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 11
		}
		res.Body.Close()
		if res.StatusCode != http.StatusAccepted {
			return 12
		}
		return 0
	}
	switch behaviour {
	case "echo": // buffered proxy response echoing the event's body
		var ev struct{ Body string }
		json.Unmarshal(event, &ev)
		out, _ := json.Marshal(map[string]any{"statusCode": 201, "headers": map[string]string{"X-Echo": "1"},
			"cookies": []string{"a=b"}, "body": base64.StdEncoding.EncodeToString([]byte(ev.Body)), "isBase64Encoded": true})
		return post("/response", "application/json", bytes.NewReader(out), nil, nil)
	case "error":
		return post("/error", "application/json", strings.NewReader(`{"errorMessage":"bad input","errorType":"Handler.Oops"}`),
			http.Header{"Lambda-Runtime-Function-Error-Type": {"Handler.Oops"}}, nil)
	case "header-mode": // streaming announced by header, no prelude
		pr, pw := io.Pipe()
		go func() {
			pw.Write([]byte("chunk-1 "))
			time.Sleep(20 * time.Millisecond)
			pw.Write([]byte("chunk-2"))
			pw.Close()
		}()
		return post("/response", "text/plain", pr, http.Header{ResponseModeHeader: {"streaming"}}, nil)
	case "trailer-error": // a streamed response that fails mid-way
		pr, pw := io.Pipe()
		trailer := http.Header{errorTypeTrailer: nil, errorBodyTrailer: nil}
		go func() {
			pw.Write(append([]byte(`{"statusCode":200,"headers":{"Content-Type":"text/event-stream"}}`), make([]byte, 8)...))
			pw.Write([]byte("event: ping\ndata: {}\n\n"))
			trailer.Set(errorTypeTrailer, "Runtime.StreamError")
			trailer.Set(errorBodyTrailer, base64.StdEncoding.EncodeToString([]byte(`{"errorMessage":"upstream went away","errorType":"Runtime.StreamError"}`)))
			pw.Close()
		}()
		return post("/response", IntegrationContentType, pr, nil, trailer)
	case "crash":
		return 3
	case "hang":
		select {}
	}
	return 20
}

func startFake(t *testing.T, behaviour string, timeout time.Duration) *Instance {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	in, err := Start(Options{Bootstrap: exe, TaskRoot: t.TempDir(), Env: []string{"FAKE_RUNTIME=" + behaviour}, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	return in
}

func TestRuntimeAnswers(t *testing.T) {
	tests := []struct {
		behaviour string
		timeout   time.Duration
		status    int
		streaming bool
		body      string
		header    [2]string
		errType   string
	}{
		{behaviour: "echo", status: 201, body: `ping`, header: [2]string{"X-Echo", "1"}},
		{behaviour: "error", status: 502, body: `{"Message":"Internal Server Error"}`, errType: "Handler.Oops"},
		{behaviour: "header-mode", status: 200, streaming: true, body: "chunk-1 chunk-2", header: [2]string{"Content-Type", "text/plain"}},
		{behaviour: "trailer-error", status: 200, streaming: true, body: "event: ping\ndata: {}\n\n", errType: "Runtime.StreamError"},
		{behaviour: "init-error", status: 502, errType: "Runtime.ConfigError", body: `{"Message":"Internal Server Error"}`},
		{behaviour: "crash", status: 502, errType: "Runtime.ExitError", body: `{"Message":"Internal Server Error"}`},
		{behaviour: "hang", timeout: 300 * time.Millisecond, status: 502, errType: "Sandbox.Timedout", body: `{"Message":"Internal Server Error"}`},
	}
	for _, tc := range tests {
		t.Run(tc.behaviour, func(t *testing.T) {
			in := startFake(t, tc.behaviour, tc.timeout)
			resp, err := in.Invoke(context.Background(), []byte(`{"body":"ping"}`))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			<-resp.Done()
			if resp.StatusCode != tc.status || string(body) != tc.body || resp.Streaming != tc.streaming {
				t.Fatalf("status %d streaming %v body %q", resp.StatusCode, resp.Streaming, body)
			}
			if tc.header[0] != "" && resp.Headers.Get(tc.header[0]) != tc.header[1] {
				t.Errorf("header %s = %q", tc.header[0], resp.Headers.Get(tc.header[0]))
			}
			gotErr := ""
			if fe := resp.Err(); fe != nil {
				gotErr = fe.Type
			}
			if gotErr != tc.errType {
				t.Fatalf("error type %q, want %q (%v)", gotErr, tc.errType, resp.Err())
			}
			if tc.behaviour == "echo" && (len(resp.Cookies) != 1 || resp.Cookies[0] != "a=b") {
				t.Errorf("cookies %v", resp.Cookies)
			}
		})
	}
}

func TestReadPrelude(t *testing.T) {
	nul8 := string(make([]byte, 8))
	tests := []struct {
		name, in string
		status   int
		rest     string
		wantErr  string
	}{
		{"status and headers", `{"statusCode":429,"headers":{"Retry-After":"3"}}` + nul8 + "body", 429, "body", ""},
		{"status defaults to 200", `{}` + nul8, 200, "", ""},
		{"body may start with NULs", `{"statusCode":200}` + nul8 + "\x00x", 200, "\x00x", ""},
		{"no delimiter", `{"statusCode":200}`, 0, "", "before the 8-byte NUL delimiter"},
		{"short delimiter", `{"statusCode":200}` + "\x00\x00\x00x", 0, "", "NUL inside"},
		{"not JSON", "hello" + nul8, 0, "", "prelude"},
		{"too large", strings.Repeat(" ", maxPrelude+1) + nul8, 0, "", "too large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tc.in))
			p, err := ReadPrelude(br)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rest, _ := io.ReadAll(br)
			if p.StatusCode != tc.status || string(rest) != tc.rest {
				t.Fatalf("status %d rest %q", p.StatusCode, rest)
			}
		})
	}
}

func TestNewEvent(t *testing.T) {
	tests := []struct {
		name   string
		req    func() *http.Request
		body   []byte
		check  func(t *testing.T, ev httpEvent)
		format string
	}{
		{"JSON body as text, headers lower-cased and joined", func() *http.Request {
			r := httptest.NewRequest("POST", "https://u.lambda-url.us-east-1.on.aws/v1/messages?beta=true&x=1&x=2", nil)
			r.Header.Set("Content-Type", "application/json")
			r.Header.Add("Anthropic-Beta", "a")
			r.Header.Add("Anthropic-Beta", "b")
			r.Header.Set("Cookie", "s=1; t=2")
			return r
		}, []byte(`{"model":"m"}`), func(t *testing.T, ev httpEvent) {
			check(t, ev.Body, `{"model":"m"}`)
			check(t, ev.IsBase64Encoded, false)
			check(t, ev.Headers["anthropic-beta"], "a,b")
			check(t, ev.Headers["host"], "u.lambda-url.us-east-1.on.aws")
			check(t, ev.RawPath, "/v1/messages")
			check(t, ev.RawQueryString, "beta=true&x=1&x=2")
			check(t, ev.QueryStringParameters["x"], "1,2")
			check(t, strings.Join(ev.Cookies, "|"), "s=1|t=2")
			check(t, ev.Headers["cookie"], "")
			check(t, ev.RequestContext.HTTP.Method, "POST")
			check(t, ev.RequestContext.DomainPrefix, "u")
		}, FormatFunctionURL},
		{"binary body as base64", func() *http.Request {
			r := httptest.NewRequest("POST", "https://u/upload", nil)
			r.Header.Set("Content-Type", "application/octet-stream")
			return r
		}, []byte{0xff, 0x00}, func(t *testing.T, ev httpEvent) {
			check(t, ev.Body, "/wA=")
			check(t, ev.IsBase64Encoded, true)
		}, FormatAPIGatewayV2},
		{"no body", func() *http.Request { return httptest.NewRequest("GET", "https://u/health/readiness", nil) }, nil,
			func(t *testing.T, ev httpEvent) {
				check(t, ev.Body, "")
				check(t, ev.Version, "2.0")
				check(t, ev.RouteKey, "$default")
			}, FormatFunctionURL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := NewEvent(tc.format, tc.req(), tc.body, time.Unix(1767225600, 0))
			if err != nil {
				t.Fatal(err)
			}
			var ev httpEvent
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatal(err)
			}
			check(t, ev.RequestContext.TimeEpoch, int64(1767225600000))
			tc.check(t, ev)
		})
	}
	if _, err := NewEvent("alb", httptest.NewRequest("GET", "/", nil), nil, time.Now()); err == nil {
		t.Fatal("unknown format accepted")
	}
}

func TestDecodeProxyResponse(t *testing.T) {
	status, h, cookies, body, ok := DecodeProxyResponse([]byte(`{"statusCode":200,"headers":{"A":"1"},"multiValueHeaders":{"B":["x","y"]},"cookies":["c=d"],"body":"aGk=","isBase64Encoded":true}`))
	if !ok || status != 200 || h.Get("A") != "1" || fmt.Sprint(h.Values("B")) != "[x y]" || cookies[0] != "c=d" || string(body) != "hi" {
		t.Fatalf("got %d %v %v %q %v", status, h, cookies, body, ok)
	}
	if _, _, _, _, ok := DecodeProxyResponse([]byte(`"just a string"`)); ok {
		t.Fatal("non-proxy payload decoded")
	}
}

func check[T comparable](t *testing.T, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("got %v, want %v", got, want)
	}
}
