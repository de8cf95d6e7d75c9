package anthropic

import (
	"io"
	"testing"
)

// TestRequestBody: the bytes are kept while the transport may still send
// or rewind them, and let go of once sent and the round trip is over, in
// either order; a body still being written is never cut short.
func TestRequestBody(t *testing.T) {
	const want = `{"model":"m","messages":[]}`
	cases := []struct {
		name string
		run  func(t *testing.T, rb *requestBody) (sent string)
	}{
		{"sent, then the round trip returns", func(t *testing.T, rb *requestBody) string {
			b, _ := io.ReadAll(rb)
			rb.done()
			return string(b)
		}},
		{"the answer arrives mid-body", func(t *testing.T, rb *requestBody) string {
			head := make([]byte, 5)
			n, _ := rb.Read(head)
			rb.done()
			if rb.bb.b == nil {
				t.Fatal("bytes let go of while the body was being written")
			}
			rest, _ := io.ReadAll(rb)
			return string(head[:n]) + string(rest)
		}},
		{"rewound for a retry", func(t *testing.T, rb *requestBody) string {
			io.ReadAll(rb) // sent on a connection that turned out dead
			again, err := rb.rewind()
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(again)
			rb.done()
			return string(b)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rb := newRequestBody([]byte(want))
			if got := c.run(t, rb); got != want {
				t.Fatalf("sent %q, want %q", got, want)
			}
			if rb.bb.b != nil {
				t.Fatal("bytes still held after the body was sent and the round trip returned")
			}
		})
	}
}
