// Package faultinject is a fake Anthropic API that misbehaves on demand, for
// tests that prove the gateway's failover and error paths through real
// sockets. It speaks HTTP/1.1 by hand on a raw TCP listener, so it can do
// what a well-behaved net/http server cannot: reset a connection before any
// byte or after the headers, hang with the socket open, or trickle a body.
//
// Every answer closes its connection (Connection: close), so a fault on one
// request never leaks into the next.
package faultinject

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/gjson"
)

// Fault is one way an upstream misbehaves.
type Fault int

const (
	// None answers correctly.
	None Fault = iota
	// Refuse: nothing listens on the port (connection refused).
	Refuse
	// ResetBeforeBytes resets the connection before any byte of the answer.
	ResetBeforeBytes
	// ResetAfterHeaders sends 200 headers, then resets.
	ResetAfterHeaders
	// ResetAfterStart sends message_start (a stream) or the first half of
	// the JSON (a whole answer), then resets.
	ResetAfterStart
	// HangHeaders reads the request and never answers.
	HangHeaders
	// HangMidStream sends message_start (or half the JSON), then nothing.
	HangMidStream
	// Status answers Spec.Status with an Anthropic error body and
	// Spec.RetryAfter as retry-after (if set).
	Status
	// NotSSE answers a stream with a 200 text/html page.
	NotSSE
	// NotJSON sends a first event (or whole body) whose data is not JSON.
	NotJSON
	// NotJSONLate sends message_start, then an event whose data is not JSON,
	// then carries on to message_stop as if all were well.
	NotJSONLate
	// Oversized answers with a body larger than any sane answer: a 70 MiB
	// JSON document, or a first event of 20 MiB.
	Oversized
	// Trickle sends the correct answer one byte per Spec.Every (default 1 s).
	Trickle
)

var faultNames = [...]string{"none", "refuse", "reset-before-bytes", "reset-after-headers",
	"reset-after-start", "hang-headers", "hang-mid-stream", "status", "not-sse", "not-json",
	"not-json-late", "oversized", "trickle"}

func (f Fault) String() string {
	if int(f) < len(faultNames) {
		return faultNames[f]
	}
	return fmt.Sprintf("fault(%d)", int(f))
}

// Spec is what the upstream does with one request.
type Spec struct {
	Fault      Fault
	Status     int           // for Status
	RetryAfter string        // for Status: the retry-after header ("" none)
	Every      time.Duration // for Trickle: the pause between bytes
}

// Upstream is a running fake. Its zero Spec answers correctly.
type Upstream struct {
	// URL is the api_base to configure (for Refuse, a port nobody listens on).
	URL string

	ln       net.Listener
	mu       sync.Mutex
	spec     Spec
	choose   func() Spec
	conns    map[net.Conn]struct{}
	closed   bool
	wg       sync.WaitGroup
	requests atomic.Int64
	faulted  atomic.Int64
}

// New starts an upstream that applies spec to every request (a Refuse spec
// starts none: its URL is a closed port).
func New(spec Spec) (*Upstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u := &Upstream{URL: "http://" + ln.Addr().String(), spec: spec, conns: map[net.Conn]struct{}{}}
	if spec.Fault == Refuse {
		ln.Close() // the port stays free (and refusing) for the test's length
		u.closed = true
		return u, nil
	}
	u.ln = ln
	u.wg.Add(1)
	go u.accept()
	return u, nil
}

// Choose makes the upstream ask f for each request's Spec (a soak's random
// faults); f must be safe for concurrent use.
func (u *Upstream) Choose(f func() Spec) {
	u.mu.Lock()
	u.choose = f
	u.mu.Unlock()
}

// Set changes the Spec of later requests.
func (u *Upstream) Set(s Spec) {
	u.mu.Lock()
	u.spec, u.choose = s, nil
	u.mu.Unlock()
}

// Requests counts the requests read so far; Faulted those answered with a fault.
func (u *Upstream) Requests() int64 { return u.requests.Load() }

// Faulted counts the requests answered with a fault other than None.
func (u *Upstream) Faulted() int64 { return u.faulted.Load() }

// Close stops accepting, cuts every open connection (ending hangs) and
// waits for the connection goroutines.
func (u *Upstream) Close() {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return
	}
	u.closed = true
	for c := range u.conns {
		c.Close()
	}
	u.mu.Unlock()
	u.ln.Close()
	u.wg.Wait()
}

func (u *Upstream) accept() {
	defer u.wg.Done()
	for {
		c, err := u.ln.Accept()
		if err != nil {
			return
		}
		u.mu.Lock()
		if u.closed {
			u.mu.Unlock()
			c.Close()
			return
		}
		u.conns[c] = struct{}{}
		u.wg.Add(1)
		u.mu.Unlock()
		go func() {
			defer u.wg.Done()
			u.serve(c)
			u.mu.Lock()
			delete(u.conns, c)
			u.mu.Unlock()
			c.Close()
		}()
	}
}

func (u *Upstream) next() Spec {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.choose != nil {
		return u.choose()
	}
	return u.spec
}

// serve answers one request on c.
func (u *Upstream) serve(c net.Conn) {
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	body, _ := io.ReadAll(io.LimitReader(req.Body, 64<<20))
	u.requests.Add(1)
	spec := u.next()
	if spec.Fault != None {
		u.faulted.Add(1)
	}
	a := answer{c: c, br: br, model: gjson.GetBytes(body, "model").String(), stream: gjson.GetBytes(body, "stream").Bool()}
	if req.URL.Path == "/v1/messages/count_tokens" {
		a.stream = false
	}
	a.do(spec)
}

// answer writes one response on a connection.
type answer struct {
	c      net.Conn
	br     *bufio.Reader
	model  string
	stream bool
}

func (a answer) do(s Spec) {
	switch s.Fault {
	case None:
		a.write(a.head(200), a.body())
	case Refuse, ResetBeforeBytes:
		a.reset()
	case ResetAfterHeaders:
		a.write(a.head(200))
		a.reset()
	case ResetAfterStart:
		a.write(a.head(200), a.firstPart())
		a.reset()
	case HangHeaders:
		a.hang()
	case HangMidStream:
		a.write(a.head(200), a.firstPart())
		a.hang()
	case Status:
		a.status(s)
	case NotSSE:
		a.write("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n",
			"<html><body>502 Bad Gateway</body></html>")
	case NotJSON:
		if a.stream {
			a.write(a.head(200), "event: message_start\ndata: <html>bad gateway</html>\n\n"+strings.Join(events(a.model), ""))
		} else {
			a.write(a.head(200), `{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","te`)
		}
	case NotJSONLate:
		ev := events(a.model)
		if !a.stream {
			a.write(a.head(200), "<html>bad gateway</html>")
			return
		}
		a.write(a.head(200), ev[0]+ev[1]+"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"ind\n\n"+strings.Join(ev[2:], ""))
	case Oversized:
		a.oversized()
	case Trickle:
		every := s.Every
		if every <= 0 {
			every = time.Second
		}
		a.write(a.head(200))
		for _, b := range []byte(a.body()) {
			if _, err := a.c.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(every)
		}
	}
}

// head is the status line and headers of an answer whose body runs to the
// connection's close.
func (a answer) head(status int) string {
	ct := "application/json"
	if a.stream && status == 200 {
		ct = "text/event-stream"
	}
	return fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: %s\r\nRequest-Id: req_fault\r\nConnection: close\r\n\r\n",
		status, http.StatusText(status), ct)
}

func (a answer) write(parts ...string) {
	for _, p := range parts {
		if _, err := io.WriteString(a.c, p); err != nil {
			return
		}
	}
}

// reset closes the connection with an RST rather than a FIN.
func (a answer) reset() {
	if tc, ok := a.c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	a.c.Close()
}

// hang keeps the connection open, reading nothing of note, until the
// client closes it (the gateway gave up) or the upstream is closed.
func (a answer) hang() { io.Copy(io.Discard, a.br) }

func (a answer) status(s Spec) {
	typ := map[int]string{429: "rate_limit_error", 529: "overloaded_error", 400: "invalid_request_error",
		401: "authentication_error", 403: "permission_error", 404: "not_found_error"}[s.Status]
	if typ == "" {
		typ = "api_error"
	}
	body := fmt.Sprintf(`{"type":"error","error":{"type":%q,"message":"injected %d"},"request_id":"req_fault"}`, typ, s.Status)
	h := fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n",
		s.Status, http.StatusText(s.Status), len(body))
	if s.RetryAfter != "" {
		h += "Retry-After: " + s.RetryAfter + "\r\n"
	}
	a.write(h+"\r\n", body)
}

// oversized writes a body larger than the gateway's bounds, in chunks, until
// it is done or the gateway stops reading.
func (a answer) oversized() {
	a.write(a.head(200))
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	prefix, total := `{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"`, 70<<20
	if a.stream {
		prefix, total = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"pad\":\"", 20<<20
	}
	if _, err := io.WriteString(a.c, prefix); err != nil {
		return
	}
	for n := 0; n < total; n += len(chunk) {
		if _, err := a.c.Write(chunk); err != nil {
			return
		}
	}
	if a.stream {
		a.write("\"}}\n\n")
	} else {
		a.write(`"}]}`)
	}
}

// body is a correct answer.
func (a answer) body() string {
	if a.stream {
		return strings.Join(events(a.model), "")
	}
	return wholeAnswer(a.model)
}

// firstPart is what a faulty upstream gets out before it fails.
func (a answer) firstPart() string {
	if a.stream {
		return events(a.model)[0]
	}
	w := wholeAnswer(a.model)
	return w[:len(w)/2]
}

func wholeAnswer(model string) string {
	return fmt.Sprintf(`{"id":"msg_fault","type":"message","role":"assistant","model":%q,`+
		`"content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","stop_sequence":null,`+
		`"usage":{"input_tokens":3,"output_tokens":2}}`, model)
}

// events is a correct stream: message_start first, message_stop last.
func events(model string) []string {
	return []string{
		fmt.Sprintf("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_fault\",\"type\":\"message\",\"role\":\"assistant\",\"model\":%q,\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n", model),
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n",
		"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":2}}\n\n",
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
	}
}
