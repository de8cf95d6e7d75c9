package console

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// streamClient opens the live deployments stream with cookie.
func streamClient(t *testing.T, ctx context.Context, url string, ck *http.Cookie) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/ui/api/deployments/stream", nil)
	if ck != nil {
		req.AddCookie(ck)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// events reads the stream's event names until it ends.
func events(resp *http.Response) (names []string, data []string) {
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
			names = append(names, n)
		}
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			data = append(data, d)
		}
	}
	return names, data
}

// TestDeploymentStream: the live view is an event stream for admin
// sessions only; it sends the view at once and on every tick, and ends
// by itself after its lifetime (the page reconnects) or when the session
// expires.
func TestDeploymentStream(t *testing.T) {
	f := newFixture(t)
	f.c.o.StreamLifetime = 300 * time.Millisecond
	srv := httptest.NewServer(f.c)
	defer srv.Close()
	admin, _ := f.signIn(t, testMaster)
	key, _ := f.signIn(t, f.alice)

	for name, tc := range map[string]struct {
		ck   *http.Cookie
		want int
	}{"no session": {nil, 401}, "key session": {key, 403}} {
		resp := streamClient(t, context.Background(), srv.URL, tc.ck)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", name, resp.StatusCode, tc.want)
		}
	}

	start := time.Now()
	resp := streamClient(t, context.Background(), srv.URL, admin)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("stream: %d %v", resp.StatusCode, resp.Header)
	}
	names, data := events(resp)
	resp.Body.Close()
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("a 300 ms stream lasted %v", took)
	}
	if len(names) != 2 || names[0] != "deployments" || names[1] != "end" || !strings.Contains(data[0], `"model_id":"haiku-1"`) || !strings.Contains(data[0], `"cooldown_until"`) {
		t.Errorf("events %v, data %v", names, data)
	}

	// The session expires mid-stream: the stream ends at the next tick.
	var clock atomic.Int64
	clock.Store(f.now.UnixNano())
	f.c.o.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	f.c.o.StreamLifetime = time.Minute
	resp = streamClient(t, context.Background(), srv.URL, admin)
	clock.Store(f.now.Add(sessionTTL + time.Second).UnixNano())
	start = time.Now()
	names, _ = events(resp)
	resp.Body.Close()
	if time.Since(start) > streamTick+time.Second || len(names) == 0 || names[len(names)-1] != "end" {
		t.Errorf("stream after the session expired: %v, lasted %v", names, time.Since(start))
	}
}

// TestDeploymentStreamBounded: at most maxStreamsPerSession streams per
// session at once (other sessions unaffected), and a slot comes back
// when a stream's client goes away.
func TestDeploymentStreamBounded(t *testing.T) {
	f := newFixture(t)
	f.c.o.StreamLifetime = time.Minute
	srv := httptest.NewServer(f.c)
	defer srv.Close()
	a, _ := f.signIn(t, testMaster)
	b, _ := f.signIn(t, testMaster)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var held []*http.Response
	for range maxStreamsPerSession {
		resp := streamClient(t, ctx, srv.URL, a)
		if resp.StatusCode != 200 {
			t.Fatalf("stream %d: %d", len(held), resp.StatusCode)
		}
		held = append(held, resp)
	}
	over := streamClient(t, context.Background(), srv.URL, a)
	over.Body.Close()
	if over.StatusCode != 429 || over.Header.Get("Retry-After") == "" {
		t.Errorf("stream over the bound: %d %v", over.StatusCode, over.Header)
	}
	other := streamClient(t, ctx, srv.URL, b)
	if other.StatusCode != 200 {
		t.Errorf("another session's stream: %d", other.StatusCode)
	}
	cancel() // every client goes away
	for _, r := range append(held, other) {
		r.Body.Close()
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		f.c.live.mu.Lock()
		n := f.c.live.total
		f.c.live.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d streams still counted after their clients left", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	again, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	if resp := streamClient(t, again, srv.URL, a); resp.StatusCode != 200 {
		t.Errorf("stream after the slots came back: %d", resp.StatusCode)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"#/keys": "#/keys", "#/deployments": "#/deployments", "": "#/overview", "#/signin": "#/overview",
		"//evil.example": "#/overview", "https://evil.example/#/keys": "#/overview", "/\\evil": "#/overview",
		"#/keys/../x": "#/overview", "#/KEYS": "#/overview", "javascript:alert(1)": "#/overview", "#/keys\n": "#/overview",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSealedCookie(t *testing.T) {
	s := newSigner(testMaster)
	v := s.seal("sso-login", []byte(`{"s":"state"}`))
	if strings.Contains(v, "state") {
		t.Errorf("sealed value shows its content: %s", v)
	}
	if b, err := s.unseal("sso-login", v); err != nil || string(b) != `{"s":"state"}` {
		t.Errorf("unseal: %q %v", b, err)
	}
	flipped := []byte(v)
	flipped[len(flipped)/2] ^= 1
	for name, tc := range map[string]struct {
		s     signer
		label string
		v     string
	}{"another label": {s, "session", v}, "another gateway": {newSigner("sk-other"), "sso-login", v},
		"flipped bit": {s, "sso-login", string(flipped)}, "short": {s, "sso-login", "AAAA"}, "not base64": {s, "sso-login", "%%"}} {
		if _, err := tc.s.unseal(tc.label, tc.v); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
}
