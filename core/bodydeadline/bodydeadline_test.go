package bodydeadline_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/bodydeadline"
)

const limit = 500 * time.Millisecond

// streamer reads the body, then streams ten lines 100 ms apart (longer
// than limit); a body that fails to arrive is answered 400.
var streamer = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if _, err := io.ReadAll(r.Body); err != nil {
		http.Error(w, "reading body: "+err.Error(), 400)
		return
	}
	for i := range 10 {
		fmt.Fprintf(w, "line %d\n", i)
		w.(http.Flusher).Flush()
		time.Sleep(100 * time.Millisecond)
	}
	io.WriteString(w, "done\n")
})

func newServer(t *testing.T) string {
	srv := httptest.NewUnstartedServer(bodydeadline.Handler(streamer, limit))
	srv.Config.ReadHeaderTimeout = limit
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func TestDeadline(t *testing.T) {
	addr := newServer(t)
	cases := []struct {
		name      string
		trickle   bool // send the body one byte per 100 ms
		wantFirst string
	}{
		{"fast body, answer streams past the limit", false, "HTTP/1.1 200"},
		{"body one byte at a time", true, "HTTP/1.1 400"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			body := strings.Repeat("x", 40)
			fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n", len(body))
			start := time.Now()
			if c.trickle {
				go func() {
					for i := range body {
						if _, err := conn.Write([]byte{body[i]}); err != nil {
							return
						}
						time.Sleep(100 * time.Millisecond)
					}
				}()
			} else {
				io.WriteString(conn, body)
			}
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			rd := bufio.NewReader(conn)
			first, _ := rd.ReadString('\n')
			answered := time.Since(start)
			rest, _ := io.ReadAll(rd)
			out := first + string(rest)
			if !strings.HasPrefix(out, c.wantFirst) {
				t.Fatalf("answer %q, want %s", out, c.wantFirst)
			}
			if c.trickle {
				took := answered
				if took > limit+time.Second {
					t.Errorf("slow body answered after %v, limit %v", took, limit)
				}
			} else if !strings.Contains(out, "done\n") {
				t.Errorf("stream cut: %q", out)
			}
		})
	}
}

// Slow clients, SLOW_CLIENTS of them (2,000 by default): half send their
// headers one byte at a time, half their body. Meanwhile normal requests
// are answered promptly, and every slow connection is closed by the server
// within its timeout (plus slack).
func TestSlowClientsDoNotStarveOthers(t *testing.T) {
	if testing.Short() {
		t.Skip("2,000 connections: not in -short")
	}
	n := 2000
	if v := os.Getenv("SLOW_CLIENTS"); v != "" {
		fmt.Sscan(v, &n)
	}
	addr := newServer(t)
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for i := range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("slow client %d: %v", i, err)
		}
		if i%2 == 1 {
			io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
		}
		conns = append(conns, c)
	}
	opened := time.Now()
	// One goroutine trickles a byte to every slow connection each 100 ms.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		head := "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
		for k := 0; ; k++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			for i, c := range conns {
				b := byte('x')
				if i%2 == 0 {
					b = head[k%len(head)]
				}
				c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
				c.Write([]byte{b})
			}
		}
	}()

	// Normal requests while the slow ones hold their connections.
	client := &http.Client{Timeout: 5 * time.Second}
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
			// The answer itself streams for 1 s.
			if took := time.Since(start) - time.Second; took > worst {
				worst = took
			}
		}()
	}
	normal.Wait()
	if worst > time.Second {
		t.Errorf("a normal request waited %v beyond its own answer time beside %d slow clients", worst, n)
	}

	// Every slow connection is closed by the server by now or soon.
	closed, closedOf := 0, [2]int{}
	deadline := opened.Add(limit + 5*time.Second)
	for i, c := range conns {
		d := deadline
		if soon := time.Now().Add(50 * time.Millisecond); soon.After(d) {
			d = soon // a deadline already past would time out a closed connection too
		}
		c.SetReadDeadline(d)
		_, err := io.Copy(io.Discard, bufio.NewReader(c))
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			continue
		}
		closed++
		closedOf[i%2]++
	}
	close(stop)
	wg.Wait()
	if closed != n {
		t.Errorf("%d of %d slow connections closed by the server within %v of opening (%d trickling headers, %d bodies)", closed, n, limit+5*time.Second, closedOf[0], closedOf[1])
	}
	t.Logf("%d slow clients: normal requests at most %v slower than their answer; all closed by the server", n, worst)
}
