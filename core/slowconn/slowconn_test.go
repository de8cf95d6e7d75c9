package slowconn_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/bodydeadline"
	"github.com/claude-gateway/claude-gateway/core/slowconn"
)

// streamer reads the body, then streams ?lines= lines (default 10) 100 ms
// apart and "done".
var streamer = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if _, err := io.ReadAll(r.Body); err != nil {
		http.Error(w, "reading body: "+err.Error(), 400)
		return
	}
	n := 10
	fmt.Sscan(r.URL.Query().Get("lines"), &n)
	for i := range n {
		fmt.Fprintf(w, "line %d\n", i)
		w.(http.Flusher).Flush()
		time.Sleep(100 * time.Millisecond)
	}
	io.WriteString(w, "done\n")
})

// newServer serves streamer behind the limiter the way functions/cloudrun
// does, with timeouts long enough (30 s) that only the limiter can close a
// slow connection during a test.
func newServer(t *testing.T, lim *slowconn.Limiter) string {
	srv := httptest.NewUnstartedServer(lim.Handler(bodydeadline.Handler(streamer, 30*time.Second)))
	srv.Config.ReadHeaderTimeout = 30 * time.Second
	srv.Config.ConnState = lim.ConnState
	srv.Config.ConnContext = lim.ConnContext
	srv.Listener = lim.Listen(srv.Listener)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func waitSlow(t *testing.T, lim *slowconn.Limiter, want int) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); lim.Stats().Slow != want; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("limiter counts %d slow connections, want %d", lim.Stats().Slow, want)
		}
	}
}

// The phases: a connection is slow from accept until its body is read, a
// request without a body leaves at its headers, a kept-alive connection
// re-enters with its next request's first byte, and one past the bound
// closes the oldest.
func TestPhases(t *testing.T) {
	lim := slowconn.New(2)
	addr := newServer(t, lim)
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a := dial()
	waitSlow(t, lim, 1)
	io.WriteString(a, "POST /?lines=0 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab")
	time.Sleep(50 * time.Millisecond)
	waitSlow(t, lim, 1) // headers in, body not yet
	io.WriteString(a, "cd")
	rd := bufio.NewReader(a)
	if line, _ := rd.ReadString('\n'); !strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Fatalf("answer %q", line)
	}
	waitSlow(t, lim, 0) // body read: out, and idle after the answer
	io.WriteString(a, "GE")
	waitSlow(t, lim, 1) // its next request began
	io.WriteString(a, "T /?lines=0 HTTP/1.1\r\nHost: x\r\n\r\n")
	waitSlow(t, lim, 0) // no body: out at its headers

	b, c := dial(), dial()
	waitSlow(t, lim, 2)
	d := dial() // one too many: b, the oldest, is closed
	waitSlow(t, lim, 2)
	b.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := b.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("oldest slow connection not closed: %v", err)
	}
	for _, live := range []net.Conn{c, d} {
		live.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := live.Read(make([]byte, 1)); err == io.EOF {
			t.Fatal("a newer slow connection was closed")
		}
	}
	if st := lim.Stats(); st.Evicted != 1 || st.Max != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// slowClients is SLOW_CLIENTS (default 3,000), bounded by the file
// descriptors this process may open: each connection costs two here.
func slowClients(t *testing.T) int {
	n := 3000
	if v := os.Getenv("SLOW_CLIENTS"); v != "" {
		fmt.Sscan(v, &n)
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil {
		if fit := int(rl.Cur)/2 - 200; fit < n {
			t.Logf("RLIMIT_NOFILE %d: %d slow clients instead of %d", rl.Cur, fit, n)
			n = fit
		}
	}
	return n
}

// Thousands of connections sending their headers or their body a byte
// every 100 ms, with timeouts too long to help: the limiter keeps at most
// its bound of them, closing the oldest; normal requests are served with
// bounded latency meanwhile; a response that was streaming before the
// flood is not cut; and the count returns to 0 once the clients leave.
func TestFloodOfSlowConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("thousands of connections: not in -short")
	}
	const max = 100
	n := slowClients(t)
	lim := slowconn.New(max)
	addr := newServer(t, lim)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

	// A long answer (4 s) that started streaming before the flood.
	long := make(chan string, 1)
	go func() {
		resp, err := client.Post("http://"+addr+"/?lines=40", "text/plain", strings.NewReader("hello"))
		if err != nil {
			long <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		long <- string(b)
	}()
	waitSlow(t, lim, 0)
	time.Sleep(100 * time.Millisecond)

	head := "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	over := 0
	for i := range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("slow client %d: %v", i, err)
		}
		if i%2 == 1 { // half trickle a body, half their headers
			io.WriteString(c, head)
		}
		conns = append(conns, c)
		if lim.Stats().Slow > max {
			over++
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		dead := make([]bool, len(conns)) // closed by the server: stop writing
		for k := 0; ; k++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			for i, c := range conns {
				if dead[i] {
					continue
				}
				b := byte('x')
				if i%2 == 0 {
					b = head[k%len(head)]
				}
				c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
				if _, err := c.Write([]byte{b}); err != nil {
					if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
						dead[i] = true
					}
				}
			}
		}
	}()

	var worst time.Duration
	var mu sync.Mutex
	var normal sync.WaitGroup
	for i := range 20 {
		normal.Add(1)
		go func() {
			defer normal.Done()
			start := time.Now()
			resp, err := client.Post("http://"+addr+"/", "text/plain", strings.NewReader("hello"))
			if err != nil {
				t.Errorf("normal request %d: %v", i, err)
				return
			}
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.HasSuffix(string(out), "done\n") {
				t.Errorf("normal request %d: %d %q", i, resp.StatusCode, out)
			}
			mu.Lock()
			defer mu.Unlock()
			if took := time.Since(start) - time.Second; took > worst { // the answer streams for 1 s
				worst = took
			}
		}()
	}
	normal.Wait()
	if worst > 2*time.Second {
		t.Errorf("a normal request waited %v beyond its own answer time beside %d slow clients", worst, n)
	}
	if st := lim.Stats(); st.Slow > max || over > 0 || st.Evicted < int64(n-max) {
		t.Errorf("stats %+v (over the bound %d times): want at most %d slow and at least %d evicted", st, over, max, n-max)
	}
	if out := <-long; !strings.HasSuffix(out, "line 39\ndone\n") {
		t.Errorf("the stream that began before the flood was cut: %q", out)
	}
	close(stop)
	wg.Wait()
	for _, c := range conns {
		c.Close()
	}
	waitSlow(t, lim, 0)
	t.Logf("%d slow clients, bound %d: %d evicted, normal requests at most %v slower than their answer", n, max, lim.Stats().Evicted, worst)
}
