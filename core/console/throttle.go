package console

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// maxFailedSignIns is how many wrong keys one client address may try per
// minute on one instance: enough for typos, too few to guess a key.
const maxFailedSignIns = 10

// maxThrottled bounds the addresses remembered; past it the count restarts.
const maxThrottled = 10_000

// signInThrottle counts failed sign-ins per client address per minute.
type signInThrottle struct {
	mu     sync.Mutex
	minute int64
	fails  map[string]int
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// allowed reports whether addr may try another key now.
func (t *signInThrottle) allowed(addr string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.roll(now)
	return t.fails[addr] < maxFailedSignIns
}

func (t *signInThrottle) failed(addr string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.roll(now)
	if len(t.fails) >= maxThrottled {
		clear(t.fails)
	}
	t.fails[addr]++
}

func (t *signInThrottle) roll(now time.Time) {
	if m := now.Unix() / 60; m != t.minute || t.fails == nil {
		t.minute, t.fails = m, map[string]int{}
	}
}
