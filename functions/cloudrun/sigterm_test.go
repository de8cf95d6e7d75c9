package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/sse"
)

// twoSecondStreams: 20 tokens at 10 tokens/s.
const twoSecondStreams = `
model_list:
  - model_name: claude-sonnet
    litellm_params:
      model: simulated/claude-sonnet-4-5
      tokens_per_second: 10
      output_tokens: 20
general_settings:
  master_key: sk-k
`

// SIGTERM with 200 streams open: every stream finishes whole within the
// grace period (drainTimeout), new connections are refused as soon as the
// drain starts, and the process exits 0 before Cloud Run's SIGKILL.
func TestSIGTERMDuring200Streams(t *testing.T) {
	if testing.Short() {
		t.Skip("200 streams: not in -short")
	}
	const streams = 200
	cmd, port, logs := startServer(t, twoSecondStreams)
	addr := "127.0.0.1:" + port
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: streams}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Open every stream and read its first event before the signal.
	readers := make([]*sse.Reader, streams)
	for i := range readers {
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/v1/messages",
			strings.NewReader(`{"model":"claude-sonnet","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("x-api-key", "sk-k")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		defer resp.Body.Close()
		readers[i] = sse.NewReader(resp.Body)
		if _, err := readers[i].Next(); err != nil {
			t.Fatalf("stream %d: first event: %v", i, err)
		}
	}
	sigterm := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	// New connections are refused once the drain has begun (the listener
	// closes at once; allow the signal a moment to arrive).
	refusedAfter := time.Duration(-1)
	for time.Since(sigterm) < time.Second {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			// Refused, or reset by the listener closing under the dial.
			if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
				refusedAfter = time.Since(sigterm)
				break
			}
			t.Errorf("dial during drain: %v", err)
			break
		}
		c.Close()
		time.Sleep(10 * time.Millisecond)
	}
	if refusedAfter < 0 {
		t.Error("new connections still accepted 1 s after SIGTERM")
	}

	var wg sync.WaitGroup
	problems := make([]string, streams)
	for i, rd := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := ""
			for {
				ev, err := rd.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					problems[i] = fmt.Sprintf("stream %d cut during the drain after %q: %v", i, last, err)
					return
				}
				last = ev.Type
			}
			if last != "message_stop" {
				problems[i] = fmt.Sprintf("stream %d: last event %q, want message_stop", i, last)
			}
		}()
	}
	wg.Wait()
	finished := time.Since(sigterm)
	for _, p := range problems {
		if p != "" {
			t.Error(p)
		}
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit: %v; logs %s", err, logs.String())
		}
	case <-time.After(drainTimeout + time.Second - time.Since(sigterm)):
		t.Errorf("still running %v after SIGTERM (grace period %v)", time.Since(sigterm), drainTimeout)
		cmd.Process.Kill()
		<-exited
	}
	exit := time.Since(sigterm)
	if finished > drainTimeout {
		t.Errorf("streams finished %v after SIGTERM, past the %v grace period", finished, drainTimeout)
	}
	t.Logf("%d streams: refused new connections %v after SIGTERM, all finished after %v, exit 0 after %v", streams, refusedAfter, finished, exit)
}
