package spend

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCursorRoundTrip(t *testing.T) {
	r := Record{CallID: "abc-123", StartTime: time.Unix(1700000000, 123456789)}
	sk := SortKey(r)
	if sk != "1700000000123456789#abc-123" {
		t.Fatalf("SortKey = %q", sk)
	}
	got, err := DecodeCursor(EncodeCursor(sk))
	if err != nil || got != sk {
		t.Fatalf("round trip = %q, %v", got, err)
	}
	for _, bad := range []string{"%%%", EncodeCursor("x"), EncodeCursor("170000000012345678a#x"), EncodeCursor("1700000000123456789-x")} {
		if _, err := DecodeCursor(bad); !errors.Is(err, ErrBadCursor) {
			t.Errorf("DecodeCursor(%q) err = %v", bad, err)
		}
	}
	if _, err := (Query{Cursor: "zz!"}).Normalize(); !errors.Is(err, ErrBadCursor) {
		t.Error("Normalize accepted a bad cursor")
	}
}

// TestSortKeyOrder: byte order of sort keys is time order.
func TestSortKeyOrder(t *testing.T) {
	t0 := time.Unix(999, 999999999)
	t1 := time.Unix(1000, 0)
	if !(SortKey(Record{CallID: "z", StartTime: t0}) < SortKey(Record{CallID: "a", StartTime: t1})) {
		t.Fatal("sort keys out of time order")
	}
	if !(TimeKey(t1) <= SortKey(Record{CallID: "a", StartTime: t1})) || !(SortKey(Record{CallID: "z", StartTime: t0}) < TimeKey(t1)) {
		t.Fatal("TimeKey does not split records at the instant")
	}
}

func TestBoundsAndNormalize(t *testing.T) {
	start, end := time.Unix(100, 0), time.Unix(200, 0)
	q, _ := Query{Start: start, End: end, Limit: 5000}.Normalize()
	if q.Limit != MaxLimit {
		t.Fatalf("limit %d", q.Limit)
	}
	if q2, _ := (Query{}).Normalize(); q2.Limit != DefaultLimit {
		t.Fatalf("default limit %d", q2.Limit)
	}
	lo, hi := q.Bounds()
	if lo != TimeKey(start) || hi != TimeKey(end) {
		t.Fatalf("bounds %q %q", lo, hi)
	}
	// A cursor below the end bound narrows it; one above does not widen it.
	c := SortKey(Record{CallID: "x", StartTime: time.Unix(150, 0)})
	q.Cursor = EncodeCursor(c)
	if _, hi := q.Bounds(); hi != c {
		t.Fatalf("hi %q, want the cursor", hi)
	}
	q.Cursor = EncodeCursor(SortKey(Record{CallID: "x", StartTime: time.Unix(300, 0)}))
	if _, hi := q.Bounds(); hi != TimeKey(end) {
		t.Fatalf("hi %q, want the end bound", hi)
	}
}

func TestHashKey(t *testing.T) {
	h := HashKey("sk-secret")
	if len(h) != 64 || strings.Contains(h, "secret") {
		t.Fatalf("HashKey = %q", h)
	}
	if HashKey(h) != h {
		t.Fatal("a hash is hashed again")
	}
	if HashKey("") != "" {
		t.Fatal("empty key hashed")
	}
}

func TestModelNamesAndDedupe(t *testing.T) {
	cases := []struct {
		group, requested string
		want             string
	}{
		{"g", "g", "g"}, {"g", "alias", "g,alias"}, {"g", "", "g"}, {"", "m", "m"}, {"", "", ""},
	}
	for _, c := range cases {
		if got := strings.Join(ModelNames(Record{ModelGroup: c.group, RequestedModel: c.requested}), ","); got != c.want {
			t.Errorf("ModelNames(%q, %q) = %q, want %q", c.group, c.requested, got, c.want)
		}
	}
	got := Dedupe([]Record{{CallID: "a", Cost: 1}, {CallID: ""}, {CallID: "b"}, {CallID: "a", Cost: 2}})
	if len(got) != 2 || got[0].CallID != "a" || got[0].Cost != 2 || got[1].CallID != "b" {
		t.Fatalf("Dedupe = %+v", got)
	}
}

func TestMatches(t *testing.T) {
	r := Record{CallID: "c", StartTime: time.Unix(150, 0), ModelGroup: "g", RequestedModel: "alias", KeyHash: "k"}
	yes := []Query{{}, {Model: "g"}, {Model: "alias"}, {KeyHash: "k"}, {RequestID: "c"}, {Start: time.Unix(150, 0)}, {End: time.Unix(151, 0)}}
	no := []Query{{Model: "x"}, {KeyHash: "x"}, {RequestID: "x"}, {Start: time.Unix(151, 0)}, {End: time.Unix(150, 0)}}
	for _, q := range yes {
		if !q.Matches(r) {
			t.Errorf("%+v does not match", q)
		}
	}
	for _, q := range no {
		if q.Matches(r) {
			t.Errorf("%+v matches", q)
		}
	}
}
