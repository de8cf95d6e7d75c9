package firestore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/claude-gateway/claude-gateway/core/spend"
	"github.com/claude-gateway/claude-gateway/core/store/storetest"
)

// open uses the Firestore emulator at FIRESTORE_EMULATOR_HOST (started by
// scripts/test-services.sh) with fresh collections per call, or skips.
func open(tb testing.TB) (router.Store, spend.Store) {
	host := os.Getenv("FIRESTORE_EMULATOR_HOST")
	if host == "" {
		reason := ""
		if r := os.Getenv("STATE_TEST_SKIP_FIRESTORE"); r != "" {
			reason = " (" + r + ")"
		}
		tb.Skip("SKIP: FIRESTORE_EMULATOR_HOST is not set; run through scripts/test-services.sh to test against the Firestore emulator" + reason)
	}
	st, err := Open(context.Background(), Options{
		EmulatorHost: host,
		ProjectID:    "demo-gateway-test",
		Collection:   fmt.Sprintf("t%08x", rand.Uint32()),
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st, st
}

func TestConformance(t *testing.T) { storetest.Run(t, open) }

func BenchmarkStore(b *testing.B) { storetest.Bench(b, open) }

func TestDocID(t *testing.T) {
	seen := map[string]string{}
	for _, k := range []string{"a/b", "a%2Fb", ".", "..", "__x__", "", string(make([]byte, 2000))} {
		id := docID(k)
		if len(id) > 1500 || id == "." || id == ".." || id == "" {
			t.Errorf("docID(%q) = %q is not a valid document id", k, id)
		}
		for _, c := range id {
			if c == '/' {
				t.Errorf("docID(%q) = %q contains a slash", k, id)
			}
		}
		if prev, dup := seen[id]; dup {
			t.Errorf("docID(%q) == docID(%q)", k, prev)
		}
		seen[id] = k
	}
}

// TestMultiInstance: four clients on one collection prefix, as four gateway instances.
func TestMultiInstance(t *testing.T) {
	storetest.RunMultiInstance(t, func(tb testing.TB, n int) ([]router.Store, []spend.Store) {
		first, _ := open(tb)
		o := first.(*Store).o
		rs, ss := []router.Store{first}, []spend.Store{first.(*Store)}
		for range n - 1 {
			st, err := Open(context.Background(), Options{EmulatorHost: o.EmulatorHost, ProjectID: o.ProjectID, Collection: o.Collection})
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { st.Close() })
			rs, ss = append(rs, st), append(ss, st)
		}
		return rs, ss
	})
}
