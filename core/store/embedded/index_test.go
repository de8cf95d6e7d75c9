package embedded

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/spend"
)

// TestTermsAsSpendNamesThem: the terms a frame holds are the model names
// spend.ModelNames gives, the key hash in its JSON form and the user and
// team as spend.Query.Normalize leaves them, for odd strings too.
func TestTermsAsSpendNamesThem(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, r := range randomRecords(rng, 500) {
		var want []string
		for _, m := range spend.ModelNames(r) {
			want = append(want, "m"+m)
		}
		if r.KeyHash != "" {
			want = append(want, "k"+jsonForm(r.KeyHash))
		}
		for _, f := range []struct{ kind, v string }{{"u", r.UserID}, {"t", r.TeamID}} {
			if f.v != "" {
				want = append(want, f.kind+strings.ToValidUTF8(f.v, "\uFFFD"))
			}
		}
		frame := appendFrame(nil, &r, unixNanos(r.StartTime))
		var h scanned
		if !decodeHead(frame[frameHead:], &h) {
			t.Fatalf("%+v: frame does not decode", r)
		}
		var got []string
		for _, term := range h.terms.all() {
			got = append(got, string(term))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%q/%q key %q user %q team %q: terms %q, want %q", r.ModelGroup, r.RequestedModel, r.KeyHash, r.UserID, r.TeamID, got, want)
		}
	}
}

// TestIDTable: call ids added as bytes are found as strings and as bytes,
// through the table's growth and dropBefore's renumbering, and two ids with
// one hash are told apart.
func TestIDTable(t *testing.T) {
	x := newIndex()
	now := time.Now().UnixNano()
	const n = 5000
	for i := range n {
		if !x.add(rec{start: now + int64(i)}, fmt.Appendf(nil, "call-%d", i), nil) {
			t.Fatalf("call-%d not added", i)
		}
	}
	if x.add(rec{start: now}, []byte("call-7"), nil) {
		t.Fatal("call-7 added twice")
	}
	check := func(what string, from int) {
		t.Helper()
		for i := range n {
			id := fmt.Sprintf("call-%d", i)
			pos, ok := x.find(id)
			bpos, bok := x.ids.find(&x, []byte(id), x.ids.hash([]byte(id)))
			if ok != (i >= from) || bok != ok || pos != bpos || (ok && string(x.id(pos)) != id) {
				t.Fatalf("%s: find(%q) = %d, %v; as bytes %d, %v", what, id, pos, ok, bpos, bok)
			}
		}
	}
	check("after adds", 0)
	if got := x.dropBefore(now + 1000); got != 1000 {
		t.Fatalf("dropped %d, want 1000", got)
	}
	check("after dropBefore", 1000)

	// Equal hashes: two ids put under one hash are both found, a third is not.
	y := newIndex()
	for i, id := range []string{"a", "b"} {
		y.idBytes = append(y.idBytes, id...)
		y.recs = append(y.recs, rec{idAt: uint64(i)})
		y.ids.insert(&y, 42, int32(i))
	}
	for want, id := range []string{"a", "b"} {
		if pos, ok := y.ids.findString(&y, id, 42); !ok || pos != int32(want) {
			t.Errorf("find(%q) under a shared hash = %d, %v", id, pos, ok)
		}
	}
	if _, ok := y.ids.findString(&y, "c", 42); ok {
		t.Error(`"c" found under the others' hash`)
	}
}
