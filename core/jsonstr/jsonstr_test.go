package jsonstr

import (
	"encoding/json"
	"testing"
)

func TestAppend(t *testing.T) {
	cases := map[string]string{
		"plain":            `"plain"`,
		"q\"b\\":           `"q\"b\\"`,
		"nl\ntab\tcr\r":    `"nl\ntab\tcr\r"`,
		"ctl\x01":          `"ctl\u0001"`,
		"bad\xff":          `"bad\ufffd"`,
		"ls\u2028ps\u2029": `"ls\u2028ps\u2029"`,
		"é😀":               `"é😀"`,
	}
	for in, want := range cases {
		got := string(Append(nil, in))
		if got != want {
			t.Errorf("%q: got %s, want %s", in, got, want)
		}
		var back string
		if err := json.Unmarshal([]byte(got), &back); err != nil {
			t.Errorf("%q: %v", in, err)
		}
	}
}
