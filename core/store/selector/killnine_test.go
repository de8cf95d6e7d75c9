package selector_test

// This test holds the embedded store to its promise through the public
// interfaces only (selector.New, spend.Store, router.Store), so it runs
// against whatever implementation core/store/embedded has.

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/spend"
	"github.com/claude-gateway/claude-gateway/core/store/selector"
)

const kill9Env = "GATEWAY_KILL9_STATE_FILE"

func openEmbedded(t testing.TB, path string) *selector.State {
	t.Helper()
	cfg, err := config.Parse([]byte("model_list:\n  - {model_name: m, litellm_params: {model: simulated/m}}\n"), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"GATEWAY_STATE_STORE": "embedded", "GATEWAY_STATE_FILE": path}
	st, err := selector.New(context.Background(), cfg, selector.Options{Platform: selector.PlatformLocal, Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	return st
}

// TestKill9Writer is the child process of TestEmbeddedSurvivesKill9: it
// writes spend records (and counters) as fast as it can and prints "ack
// <id>" once PutSpend has returned for a record, until it is killed.
func TestKill9Writer(t *testing.T) {
	path := os.Getenv(kill9Env)
	if path == "" {
		t.Skip("the child of TestEmbeddedSurvivesKill9")
	}
	st := openEmbedded(t, path)
	round := os.Getenv("GATEWAY_KILL9_ROUND")
	ctx := context.Background()
	for i := 0; ; i++ {
		batch := make([]spend.Record, 1+i%7)
		for j := range batch {
			batch[j] = spend.Record{CallID: fmt.Sprintf("r%s-%d-%d", round, i, j), StartTime: time.Now(), EndTime: time.Now(),
				ModelGroup: "m", Status: 200, InputTokens: int64(i), OutputTokens: int64(j)}
		}
		if err := st.Spend.PutSpend(ctx, batch); err != nil {
			fmt.Fprintln(os.Stderr, "put:", err)
			continue
		}
		for _, r := range batch {
			fmt.Printf("ack %s\n", r.CallID)
		}
		st.Store.Incr(ctx, "kill9-counter", 1, 0, time.Now().Add(time.Hour))
	}
}

// The embedded store under kill -9 during writes, three times over on one
// file: each reopen succeeds (the file is never corrupted) and holds every
// record whose write was acknowledged before the kill, exactly once.
func TestEmbeddedSurvivesKill9(t *testing.T) {
	if os.Getenv(kill9Env) != "" {
		t.Skip("in the child")
	}
	path := filepath.Join(t.TempDir(), "state.db")
	acked := map[string]bool{}
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKill9Writer$", "-test.count=1")
		cmd.Env = append(os.Environ(), kill9Env+"="+path, fmt.Sprintf("GATEWAY_KILL9_ROUND=%d", round))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		n := 0
		killAt := 300 + 200*round
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
				acked[id] = true
				if n++; n == killAt {
					cmd.Process.Signal(syscall.SIGKILL)
				}
			}
		}
		cmd.Wait()
		if n < killAt {
			t.Fatalf("round %d: the writer acknowledged %d records, then ended: %s", round, n, stderr.String())
		}

		st := openEmbedded(t, path)
		found := map[string]int{}
		q := spend.Query{Limit: spend.MaxLimit}
		for {
			page, err := st.Spend.QuerySpend(context.Background(), q)
			if err != nil {
				t.Fatalf("round %d: query after reopen: %v", round, err)
			}
			for _, r := range page.Records {
				found[r.CallID]++
			}
			if page.NextCursor == "" {
				break
			}
			q.Cursor = page.NextCursor
		}
		lost, dup := 0, 0
		for id := range acked {
			switch found[id] {
			case 0:
				lost++
			case 1:
			default:
				dup++
			}
		}
		if lost > 0 || dup > 0 {
			t.Errorf("round %d: of %d acknowledged records %d lost, %d duplicated after kill -9", round, len(acked), lost, dup)
		}
		if _, _, err := st.Store.Incr(context.Background(), "after-kill9", 1, 0, time.Now().Add(time.Hour)); err != nil {
			t.Errorf("round %d: store unusable after reopen: %v", round, err)
		}
		t.Logf("round %d: %d acknowledged so far, %d records in the file", round, len(acked), len(found))
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
