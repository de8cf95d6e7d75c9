package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/faultinject"
	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/tidwall/gjson"
)

// faultGateway is a gateway over one faulty and one healthy Anthropic
// upstream in one group: the faulty one first by order, so every request
// tries it until it cools down, and the healthy one takes over.
type faultGateway struct {
	URL     string
	gw      *gateway.Gateway
	faulty  *faultinject.Upstream
	healthy *faultinject.Upstream
}

// faultTimeout is timeout and stream_timeout in these tests: short, so a
// hang costs little, long enough for a loaded -race run to answer.
const faultTimeout = 700 * time.Millisecond

func startFaultGateway(t testing.TB, spec faultinject.Spec, opts gateway.Options) *faultGateway {
	t.Helper()
	faulty, err := faultinject.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	healthy, err := faultinject.New(faultinject.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(faulty.Close)
	t.Cleanup(healthy.Close)
	dep := func(id, base string, order int) string {
		return fmt.Sprintf(`  - model_name: claude-sonnet
    litellm_params: {model: anthropic/claude-sonnet-4-5, api_key: os.environ/UPSTREAM_KEY, api_base: %q, order: %d}
    model_info: {id: %s}
`, base, order, id)
	}
	yaml := "model_list:\n" + dep("faulty", faulty.URL, 1) + dep("healthy", healthy.URL, 2) +
		fmt.Sprintf("router_settings: {timeout: %g, stream_timeout: %g, cooldown_time: 60}\n", faultTimeout.Seconds(), faultTimeout.Seconds()) +
		"general_settings:\n  master_key: os.environ/MASTER\n"
	gw := buildGateway(t, yaml, opts)
	srv := httptest.NewServer(gw)
	t.Cleanup(func() { srv.Close(); gw.Close(context.Background()) })
	return &faultGateway{URL: srv.URL, gw: gw, faulty: faulty, healthy: healthy}
}

func buildGateway(t testing.TB, yaml string, opts gateway.Options) *gateway.Gateway {
	t.Helper()
	env := map[string]string{"MASTER": masterKey, "UPSTREAM_KEY": "sk-upstream"}
	cfg, err := config.Parse([]byte(yaml), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.Build(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return gw
}

// health returns the router's view of deployment id.
func (f *faultGateway) health(id string) router.DeploymentHealth {
	for _, h := range f.gw.Router.Health(context.Background()) {
		if h.ID == id {
			return h
		}
	}
	return router.DeploymentHealth{}
}

// outcome is what one client request saw.
type clientOutcome struct {
	id, servedBy string
	status       int
	body         []byte
	events       [][2]string
	err          error
}

// ask sends one Messages request and reads the whole answer.
func ask(ctx context.Context, url string, stream bool, key string) clientOutcome {
	body := strings.Replace(simpleBody, `"stream":true`, fmt.Sprintf(`"stream":%v`, stream), 1)
	req, _ := http.NewRequestWithContext(ctx, "POST", url+"/v1/messages", strings.NewReader(body))
	req.Header.Set("content-type", "application/json")
	req.Header.Set("x-api-key", key)
	req.Header.Set("anthropic-version", "2023-06-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return clientOutcome{err: err}
	}
	defer resp.Body.Close()
	o := clientOutcome{id: resp.Header.Get("x-litellm-call-id"), servedBy: resp.Header.Get("x-litellm-model-id"), status: resp.StatusCode}
	o.body, o.err = io.ReadAll(resp.Body)
	if strings.HasPrefix(resp.Header.Get("content-type"), "text/event-stream") {
		o.events = parseSSE(o.body)
	}
	return o
}

// check says what is wrong with a response, if anything: a whole answer
// must be a message; a stream must hold one message_start first and end in
// message_stop, or else in exactly one error event (wantErr: its type;
// "" means no error was acceptable).
func (o clientOutcome) check(stream bool, wantErr string) string {
	switch {
	case o.err != nil:
		return "transport: " + o.err.Error()
	case o.status != 200:
		return fmt.Sprintf("status %d: %.300s", o.status, o.body)
	case !stream:
		if gjson.GetBytes(o.body, "type").String() != "message" {
			return fmt.Sprintf("body %.300s", o.body)
		}
		return ""
	}
	evs := o.events
	if len(evs) == 0 || evs[0][0] != "message_start" {
		return fmt.Sprintf("stream does not start with message_start: %v", evs)
	}
	starts := 0
	for i, ev := range evs {
		if !gjson.Valid(ev[1]) {
			return fmt.Sprintf("event %d relayed as is: %q", i, ev[1])
		}
		if ev[0] == "message_start" {
			starts++
		}
		if ev[0] == "error" && i != len(evs)-1 {
			return fmt.Sprintf("events after the error event: %v", evs)
		}
	}
	if starts != 1 {
		return fmt.Sprintf("%d message_start events", starts)
	}
	last := evs[len(evs)-1]
	switch last[0] {
	case "message_stop":
		return ""
	case "error":
		if wantErr == "" {
			return fmt.Sprintf("error event although the healthy deployment could serve: %v", last)
		}
		if gjson.Get(last[1], "type").String() != "error" || gjson.Get(last[1], "error.type").String() != wantErr ||
			gjson.Get(last[1], "error.message").String() == "" {
			return fmt.Sprintf("error event %s, want type %s", last[1], wantErr)
		}
		return ""
	}
	return fmt.Sprintf("stream truncated silently after %v", last)
}

// spendRows polls /spend/logs until want records are there (or 5 s pass).
func spendRows(t testing.TB, url string, want int) map[string]spendRow {
	t.Helper()
	rows := map[string]spendRow{}
	for deadline := time.Now().Add(5 * time.Second); ; {
		req, _ := http.NewRequest("GET", url+"/spend/logs?limit=1000", nil)
		req.Header.Set("Authorization", "Bearer "+masterKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out struct{ Data []spendRow }
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		for _, r := range out.Data {
			rows[r.ID] = r
		}
		if len(rows) >= want || time.Now().After(deadline) {
			return rows
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// faultCase is one row of the fault matrix.
type faultCase struct {
	name string
	spec faultinject.Spec
	// midStream: on a stream the fault comes after message_start, so the
	// client sees the faulty deployment's first byte and then errType.
	midStream bool
	errType   string
	// fails is how many failures before the first byte cool the faulty
	// deployment down: 1 for failed answers (5xx, 429, 529, broken or
	// garbled bodies), allowed_fails+1 for timeouts. A failure after the
	// first byte counts as a transport failure: allowed_fails+1 as well.
	fails int
	// mayTimeOut: reading the fault can outlast timeout on a loaded
	// machine (64 MiB under -race), which is then a timeout's count.
	mayTimeOut bool
	// cooldownAtLeast bounds the cooldown from below (a retry-after).
	cooldownAtLeast time.Duration
}

// midStreamFails is allowed_fails+1: a stream broken after its first byte
// counts toward allowed_fails, like a transport failure.
const midStreamFails = 4

var faultMatrix = []faultCase{
	{name: "connection refused", spec: faultinject.Spec{Fault: faultinject.Refuse}, fails: 1},
	{name: "reset before any byte", spec: faultinject.Spec{Fault: faultinject.ResetBeforeBytes}, fails: 1},
	{name: "reset after headers", spec: faultinject.Spec{Fault: faultinject.ResetAfterHeaders}, fails: 1},
	{name: "reset after message_start", spec: faultinject.Spec{Fault: faultinject.ResetAfterStart}, midStream: true, errType: "api_error", fails: 1},
	{name: "hang before headers", spec: faultinject.Spec{Fault: faultinject.HangHeaders}, fails: 4},
	{name: "hang mid-stream", spec: faultinject.Spec{Fault: faultinject.HangMidStream}, midStream: true, errType: "timeout_error", fails: 4},
	{name: "500", spec: faultinject.Spec{Fault: faultinject.Status, Status: 500}, fails: 1},
	{name: "500 retry-after", spec: faultinject.Spec{Fault: faultinject.Status, Status: 500, RetryAfter: "20"}, fails: 1},
	{name: "503", spec: faultinject.Spec{Fault: faultinject.Status, Status: 503}, fails: 1},
	{name: "503 retry-after", spec: faultinject.Spec{Fault: faultinject.Status, Status: 503, RetryAfter: "20"}, fails: 1},
	{name: "529", spec: faultinject.Spec{Fault: faultinject.Status, Status: 529}, fails: 1},
	{name: "529 retry-after", spec: faultinject.Spec{Fault: faultinject.Status, Status: 529, RetryAfter: "20"}, fails: 1, cooldownAtLeast: 19 * time.Second},
	{name: "429", spec: faultinject.Spec{Fault: faultinject.Status, Status: 429}, fails: 1},
	{name: "429 retry-after", spec: faultinject.Spec{Fault: faultinject.Status, Status: 429, RetryAfter: "20"}, fails: 1, cooldownAtLeast: 19 * time.Second},
	{name: "body not SSE", spec: faultinject.Spec{Fault: faultinject.NotSSE}, fails: 1},
	{name: "first event not JSON", spec: faultinject.Spec{Fault: faultinject.NotJSON}, fails: 1},
	{name: "later event not JSON", spec: faultinject.Spec{Fault: faultinject.NotJSONLate}, midStream: true, errType: "api_error", fails: 1},
	{name: "oversized", spec: faultinject.Spec{Fault: faultinject.Oversized}, fails: 1, mayTimeOut: true},
	{name: "slow trickle", spec: faultinject.Spec{Fault: faultinject.Trickle, Every: 100 * time.Millisecond}, fails: 4},
}

// The fault matrix, through the real HTTP server and real sockets: one
// faulty and one healthy deployment per group. Before the first byte no
// fault reaches the client; after it, the client gets one well-formed
// error event (never a silent truncation, never a second message_start);
// the faulty deployment cools down; every request leaves one spend record
// with its status.
func TestFaultMatrix(t *testing.T) {
	const requests = 7
	for _, fc := range faultMatrix {
		for _, stream := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/stream=%v", fc.name, stream), func(t *testing.T) {
				t.Parallel()
				fg := startFaultGateway(t, fc.spec, gateway.Options{})
				mid := fc.midStream && stream
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				var ids []string
				errored := 0
				startMinute := time.Now().Unix() / 60
				for i := 0; i < requests; i++ {
					start := time.Now()
					o := ask(ctx, fg.URL, stream, masterKey)
					wantErr := ""
					if mid && o.servedBy == "faulty" {
						wantErr = fc.errType
					}
					if msg := o.check(stream, wantErr); msg != "" {
						t.Fatalf("request %d (served by %q): %s", i, o.servedBy, msg)
					}
					if el := time.Since(start); el > 3*faultTimeout+2*time.Second {
						t.Errorf("request %d took %v", i, el)
					}
					if !mid && o.servedBy != "healthy" {
						t.Errorf("request %d served by %q", i, o.servedBy)
					}
					if wantErr != "" {
						errored++
					}
					ids = append(ids, o.id)
				}
				h := fg.health("faulty")
				if h.Healthy {
					t.Errorf("faulty deployment not cooled down after %d requests (upstream saw %d)", requests, fg.faulty.Requests())
				}
				if fc.cooldownAtLeast > 0 && time.Until(h.CooldownUntil) < fc.cooldownAtLeast {
					t.Errorf("cooldown until %v, want retry-after's %v", h.CooldownUntil, fc.cooldownAtLeast)
				}
				fails := fc.fails
				if mid {
					fails = midStreamFails
				}
				most := fails + 1
				if fc.mayTimeOut {
					most = midStreamFails + 1
				}
				if time.Now().Unix()/60 != startMinute {
					most = 2*most - 1 // allowed_fails counts per minute: the count restarted
				}
				if fc.spec.Fault != faultinject.Refuse {
					if n := fg.faulty.Requests(); n < int64(fails) || n > int64(most) {
						t.Errorf("faulty upstream tried %d times, want %d (then cooled down)", n, fails)
					}
				}
				if mid && errored == 0 {
					t.Errorf("no request saw the mid-stream fault")
				}
				rows := spendRows(t, fg.URL, requests)
				if len(rows) != requests {
					t.Fatalf("%d spend records for %d requests", len(rows), requests)
				}
				for _, id := range ids {
					r, ok := rows[id]
					if !ok || r.Status != 200 {
						t.Errorf("spend record of %s: %+v (present %v)", id, r, ok)
					}
				}
				errRows := 0
				for _, r := range rows {
					if r.ErrorType != "" {
						errRows++
						if r.ErrorType != fc.errType {
							t.Errorf("spend record error_type %q, want %q", r.ErrorType, fc.errType)
						}
					}
				}
				if errRows != errored {
					t.Errorf("%d spend records carry an error, %d clients saw one", errRows, errored)
				}
			})
		}
	}
}

// parseSSE splits an SSE body into (event, data) pairs.
func parseSSE(b []byte) [][2]string {
	var evs [][2]string
	var ev string
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "event: "):
			ev = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			evs = append(evs, [2]string{ev, strings.TrimPrefix(line, "data: ")})
		}
	}
	return evs
}
