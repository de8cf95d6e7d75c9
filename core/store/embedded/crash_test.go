package embedded

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/spend"
)

const crashDirEnv = "EMBEDDED_CRASH_DIR"

// TestCrashChild is the process TestKillDuringWrites kills: it writes spend
// batches from four goroutines and prints each batch's call ids once
// PutSpend has acknowledged it. It does nothing unless run by that test.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("run by TestKillDuringWrites")
	}
	s, err := Open(dir, Options{SegmentBytes: 256 << 10}) // small segments: kills land around rotations too
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(3)
	}
	var out sync.Mutex
	round := os.Getenv(crashDirEnv + "_ROUND")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; ; seq++ {
				n := 1 + (seq*7+g)%40
				recs := make([]spend.Record, n)
				ids := make([]string, n)
				for i := range recs {
					ids[i] = fmt.Sprintf("r%s-g%d-%d-%d", round, g, seq, i)
					recs[i] = spend.Record{CallID: ids[i], StartTime: time.Now(), ModelGroup: "m", KeyHash: fmt.Sprint("k", g),
						InputTokens: int64(seq), Cost: float64(i), Status: 200}
				}
				if err := s.PutSpend(context.Background(), recs); err != nil {
					fmt.Println("put:", err)
					os.Exit(4)
				}
				out.Lock()
				os.Stdout.WriteString("ack " + strings.Join(ids, " ") + "\n")
				out.Unlock()
			}
		}()
	}
	wg.Wait()
}

// TestKillDuringWrites: a child process writing spend records is killed
// with SIGKILL mid-write, three times over the same directory. After each
// kill the store opens, every record the child saw acknowledged is there
// with its fields, the log has no duplicate, and a second open finds nothing
// left to repair (the first one left the files whole).
func TestKillDuringWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	dir := filepath.Join(t.TempDir(), "state")
	acked := map[string]bool{}
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, fmt.Sprintf("%s_ROUND=%d", crashDirEnv, round))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		batches, killed := 0, false
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "ack ") {
				t.Fatalf("child: %s", line)
			}
			for _, id := range strings.Fields(line)[1:] {
				acked[id] = true
			}
			// Kill after a varying number of batches, while the writers run.
			if batches++; !killed && batches == 150+round*200 {
				cmd.Process.Signal(syscall.SIGKILL)
				killed = true
			}
		}
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("child ended by %v, not SIGKILL", err)
		}

		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatalf("round %d: open after kill: %v", round, err)
		}
		t.Logf("round %d: %d acknowledged so far, %d in the log, %d cut bytes removed", round, len(acked), len(s.idx.recs), s.truncated)
		for id := range acked {
			if !s.idx.has(id) {
				t.Fatalf("round %d: acknowledged record %s lost", round, id)
			}
		}
		ctx := context.Background()
		p, err := s.QuerySpend(ctx, spend.Query{KeyHash: "k1", Limit: 1000})
		if err != nil || len(p.Records) == 0 {
			t.Fatalf("round %d: query after kill = %d records, %v", round, len(p.Records), err)
		}
		seen := map[string]bool{}
		for q := (spend.Query{Limit: 1000}); ; {
			p, err := s.QuerySpend(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range p.Records {
				if seen[r.CallID] || r.ModelGroup != "m" || r.Status != 200 {
					t.Fatalf("round %d: bad or duplicate record %+v", round, r)
				}
				seen[r.CallID] = true
			}
			if p.NextCursor == "" {
				break
			}
			q.Cursor = p.NextCursor
		}
		if len(seen) != len(s.idx.recs) {
			t.Fatalf("round %d: paging found %d records, the index has %d", round, len(seen), len(s.idx.recs))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err = Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if s.truncated != 0 || len(s.idx.recs) != len(seen) {
			t.Fatalf("round %d: second open repaired %d bytes, has %d records (want 0, %d)", round, s.truncated, len(s.idx.recs), len(seen))
		}
		s.Close()
	}
}
