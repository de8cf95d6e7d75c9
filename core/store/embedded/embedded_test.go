package embedded

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/claude-gateway/claude-gateway/core/spend"
	"github.com/claude-gateway/claude-gateway/core/store/storetest"
)

func open(tb testing.TB) (router.Store, spend.Store) {
	s, err := Open(filepath.Join(tb.TempDir(), "state.db"), Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s, s
}

func TestConformance(t *testing.T) { storetest.Run(t, open) }

func BenchmarkStore(b *testing.B) { storetest.Bench(b, open) }

// TestSurvivesRestart: counters, entries and spend records written before
// Close are there after reopening the directory; expired ones are not.
func TestSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	s.Incr(ctx, "rpm", 7, 0, exp)
	s.Put(ctx, "cooldown", "dep-1", exp)
	s.Put(ctx, "short", "x", time.Now().Add(-time.Second))
	rec := spend.Record{CallID: "c1", StartTime: time.Now(), ModelGroup: "g", Cost: 0.5, Status: 200}
	if err := s.PutSpend(ctx, []spend.Record{rec}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if c, _ := s.Counts(ctx, []string{"rpm"}); c[0] != 7 {
		t.Fatalf("counter after restart = %d, want 7", c[0])
	}
	e, _ := s.Get(ctx, []string{"cooldown", "short"})
	if e[0].Value != "dep-1" || !e[0].Expires.Equal(exp) || e[1].Found() {
		t.Fatalf("entries after restart = %+v", e)
	}
	p, err := s.QuerySpend(ctx, spend.Query{RequestID: "c1"})
	if err != nil || len(p.Records) != 1 || p.Records[0].Cost != 0.5 {
		t.Fatalf("spend after restart = %+v, %v", p, err)
	}
}

// TestSecondProcessRefused: the file is locked while one store holds it.
func TestSecondProcessRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s2, err := Open(path, Options{}); err == nil {
		s2.Close()
		t.Fatal("second open of a locked file succeeded")
	}
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t)
	st := s.(*Store)
	now := time.Now()
	recs := []spend.Record{
		{CallID: "old", StartTime: now.Add(-48 * time.Hour), ModelGroup: "g", RequestedModel: "alias", KeyHash: "k"},
		{CallID: "new", StartTime: now, ModelGroup: "g", KeyHash: "k"},
	}
	if err := st.PutSpend(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if n, err := st.prune(now.Add(-24 * time.Hour)); err != nil || n != 1 {
		t.Fatalf("prune = %d, %v", n, err)
	}
	for _, q := range []spend.Query{{}, {Model: "g"}, {Model: "alias"}, {KeyHash: "k"}, {RequestID: "old"}} {
		p, err := st.QuerySpend(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Records {
			if r.CallID == "old" {
				t.Fatalf("pruned record still found by %+v", q)
			}
		}
	}
}

// TestCutTailRepaired: what a power cut can leave at the end of the newest
// segment (half a frame, a frame failing its CRC) is removed at Open; the
// whole records before it are kept, and the next open finds nothing to do.
func TestCutTailRepaired(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	recs := []spend.Record{{CallID: "a", StartTime: now, ModelGroup: "g"}, {CallID: "b", StartTime: now.Add(time.Second), ModelGroup: "g"}}
	extra := appendFrame(nil, &spend.Record{CallID: "c", StartTime: now, ModelGroup: "g"}, now.UnixNano())
	badCRC := append([]byte(nil), extra...)
	badCRC[len(badCRC)-2] ^= 0xff
	for name, tail := range map[string][]byte{"half frame": extra[:len(extra)/2], "bad crc": badCRC, "short header": extra[:5]} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			s, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.PutSpend(ctx, recs); err != nil {
				t.Fatal(err)
			}
			s.Close()
			f, err := os.OpenFile(filepath.Join(dir, segName(1)), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(tail)
			f.Close()
			for pass, wantCut := range []int64{int64(len(tail)), 0} {
				s, err = Open(dir, Options{})
				if err != nil {
					t.Fatal(err)
				}
				if s.truncated != wantCut {
					t.Errorf("open %d removed %d bytes, want %d", pass, s.truncated, wantCut)
				}
				p, err := s.QuerySpend(ctx, spend.Query{})
				if err != nil || len(p.Records) != 2+pass || p.Records[0].CallID != "b" {
					t.Fatalf("open %d: records = %+v, %v", pass, p.Records, err)
				}
				// The log takes writes again after the repair.
				if pass == 0 {
					if err := s.PutSpend(ctx, []spend.Record{{CallID: "c", StartTime: now.Add(-time.Hour)}}); err != nil {
						t.Fatal(err)
					}
				}
				s.Close()
			}
		})
	}
}

// TestCorruptSealedSegmentRefused: damage anywhere but the end of the newest
// segment is not a crash's doing; Open refuses rather than drop records.
func TestCorruptSealedSegmentRefused(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	s, err := Open(dir, Options{SegmentBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if err := s.PutSpend(ctx, []spend.Record{{CallID: fmt.Sprint("r", i), StartTime: time.Now(), ModelGroup: "g"}}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	f, err := os.OpenFile(filepath.Join(dir, segName(1)), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{0xde, 0xad}, 30)
	f.Close()
	if s, err := Open(dir, Options{}); err == nil {
		s.Close()
		t.Fatal("opened a log with a damaged sealed segment")
	} else if !strings.Contains(err.Error(), segName(1)) {
		t.Fatalf("error %q does not name the segment", err)
	}
}

// TestSegmentsRotateAndRetentionDeletesThem: the log moves to a new segment
// past SegmentBytes; pruning deletes sealed segments with nothing newer than
// the cutoff, and the records they held are gone after a reopen too.
func TestSegmentsRotateAndRetentionDeletesThem(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	now := time.Now()
	s, err := Open(dir, Options{SegmentBytes: 2048})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		age := 48 * time.Hour
		if i >= 30 {
			age = 0
		}
		r := spend.Record{CallID: fmt.Sprint("r", i), StartTime: now.Add(-age + time.Duration(i)), ModelGroup: "g"}
		if err := s.PutSpend(ctx, []spend.Record{r}); err != nil {
			t.Fatal(err)
		}
	}
	nums, _ := listSegments(dir)
	if len(nums) < 3 {
		t.Fatalf("%d segments after 40 records of 2 KiB segments", len(nums))
	}
	if n, err := s.prune(now.Add(-24 * time.Hour)); err != nil || n != 30 {
		t.Fatalf("prune = %d, %v; want 30", n, err)
	}
	after, _ := listSegments(dir)
	if len(after) >= len(nums) {
		t.Fatalf("segments %v -> %v: none deleted", nums, after)
	}
	s.Close()
	s, err = Open(dir, Options{Retention: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p, err := s.QuerySpend(ctx, spend.Query{Limit: 1000})
	if err != nil || len(p.Records) != 10 {
		t.Fatalf("after reopen: %d records, %v; want the 10 recent ones", len(p.Records), err)
	}
}

// TestOldStateFileRefused: a bbolt file from an older gateway at the path
// is reported, not overwritten.
func TestOldStateFileRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway-state.db")
	os.WriteFile(path, []byte("bolt"), 0o600)
	if s, err := Open(path, Options{}); err == nil {
		s.Close()
		t.Fatal("opened over a file")
	} else if !strings.Contains(err.Error(), "is a file") {
		t.Fatalf("error = %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "bolt" {
		t.Fatal("the old file was changed")
	}
}

// TestConcurrentPutSpendGroupCommit: writers at once, the same ids from
// several of them, leave exactly one copy of each record.
func TestConcurrentPutSpendGroupCommit(t *testing.T) {
	ctx := context.Background()
	_, sp := open(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range 20 {
				recs := make([]spend.Record, 10)
				for i := range recs {
					// Writers g and g^1 write the same ids.
					recs[i] = spend.Record{CallID: fmt.Sprintf("g%d-b%d-%d", g/2, b, i), StartTime: time.Unix(int64(1000+b), int64(i)), ModelGroup: "g"}
				}
				if err := sp.PutSpend(ctx, recs); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	p, err := sp.QuerySpend(ctx, spend.Query{Limit: 1000})
	if err != nil || len(p.Records) != 4*20*10 {
		t.Fatalf("%d records, %v; want 800", len(p.Records), err)
	}
}

// TestFirstSegmentAtFirstWrite: opening a new directory creates (and
// fsyncs) no segment; the first spend record does, and it survives a
// reopen, as does an empty directory reopened before any write.
func TestFirstSegmentAtFirstWrite(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state")
	segs := func() []string {
		m, _ := filepath.Glob(filepath.Join(path, segPrefix+"*"+segSuffix))
		return m
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := segs(); len(got) != 0 {
		t.Fatalf("Open created %v before any write", got)
	}
	if p, err := s.QuerySpend(ctx, spend.Query{}); err != nil || len(p.Records) != 0 {
		t.Fatalf("empty store: %+v, %v", p, err)
	}
	s.Close()
	if s, err = Open(path, Options{}); err != nil {
		t.Fatalf("reopening a directory with no segment: %v", err)
	}
	rec := spend.Record{CallID: "first", StartTime: time.Now(), ModelGroup: "g", Cost: 0.25, Status: 200}
	if err := s.PutSpend(ctx, []spend.Record{rec}); err != nil {
		t.Fatal(err)
	}
	if got := segs(); len(got) != 1 || filepath.Base(got[0]) != segName(1) {
		t.Fatalf("segments after the first write: %v", got)
	}
	s.Close()
	if s, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if p, err := s.QuerySpend(ctx, spend.Query{RequestID: "first"}); err != nil || len(p.Records) != 1 {
		t.Fatalf("after reopen: %+v, %v", p, err)
	}
}

// TestPutSpendKeepsLastOfACallID: of two records with one call id in a
// batch the last is stored (spend.Dedupe's rule), once; a record without a
// call id is not; and a smaller batch after a larger one (encoded into the
// larger one's kept buffer) reads back as written, after a reopen too.
func TestPutSpendKeepsLastOfACallID(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1_800_000_000, 0).UTC()
	big := make([]spend.Record, 50)
	for i := range big {
		big[i] = spend.Record{CallID: fmt.Sprint("big-", i), StartTime: at.Add(time.Duration(i) * time.Second), ModelGroup: strings.Repeat("g", 100)}
	}
	small := []spend.Record{
		{CallID: "c", StartTime: at.Add(time.Hour), ModelGroup: "first", InputTokens: 1},
		{StartTime: at.Add(time.Hour), ModelGroup: "no call id"},
		{CallID: "d", StartTime: at.Add(time.Hour + time.Second), ModelGroup: "only"},
		{CallID: "c", StartTime: at.Add(time.Hour + 2*time.Second), ModelGroup: "last", InputTokens: 2},
	}
	for _, batch := range [][]spend.Record{big, small} {
		if err := s.PutSpend(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what string, s *Store) {
		t.Helper()
		p, err := s.QuerySpend(ctx, spend.Query{Limit: 1000})
		if err != nil || len(p.Records) != len(big)+2 {
			t.Fatalf("%s: %d records, %v; want %d", what, len(p.Records), err, len(big)+2)
		}
		if got := p.Records[0]; got.CallID != "c" || got.ModelGroup != "last" || got.InputTokens != 2 {
			t.Errorf("%s: newest record %+v, want the last of call id c", what, got)
		}
		if got := p.Records[1]; got.CallID != "d" || got.ModelGroup != "only" {
			t.Errorf("%s: second newest %+v, want d", what, got)
		}
		for i, r := range p.Records[2:] {
			if want := big[len(big)-1-i]; r.CallID != want.CallID || r.ModelGroup != want.ModelGroup {
				t.Fatalf("%s: record %s/%.10s, want %s", what, r.CallID, r.ModelGroup, want.CallID)
			}
		}
	}
	check("written", s)
	s.Close()
	if s, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check("reopened", s)
}
