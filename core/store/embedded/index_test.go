package embedded

import (
	"hash/maphash"
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

// TestIndexHashClash: two call ids with one hash are both found (the
// second through the clash map), before and after dropBefore renumbers.
func TestIndexHashClash(t *testing.T) {
	x := newIndex()
	now := time.Now().UnixNano()
	x.add(rec{start: now}, []byte("first"), nil)
	// Make "second" hash as "first" does: its slot is taken by another id.
	x.ids[maphash.String(x.seed, "second")] = 0
	if x.has("second") {
		t.Fatal(`"second" found before it is added`)
	}
	if !x.add(rec{start: now + 1}, []byte("second"), nil) || len(x.clash) != 1 {
		t.Fatalf("second id not added to the clash map: %v", x.clash)
	}
	x.add(rec{start: now + 2}, []byte("third"), nil)
	for _, id := range []string{"first", "second", "third"} {
		if !x.has(id) || !x.hasBytes([]byte(id), maphash.String(x.seed, id)) {
			t.Errorf("%q not found", id)
		}
	}
	if x.add(rec{start: now + 3}, []byte("second"), nil) {
		t.Error(`"second" added twice`)
	}
	if n := x.dropBefore(now + 1); n != 1 {
		t.Fatalf("dropped %d, want 1", n)
	}
	for id, want := range map[string]bool{"first": false, "second": true, "third": true} {
		if i, ok := x.find(id); ok != want || (ok && string(x.id(i)) != id) {
			t.Errorf("after dropBefore: find(%q) = %d, %v", id, i, ok)
		}
	}
}
