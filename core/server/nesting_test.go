package server

import (
	"strings"
	"testing"
)

func TestNestedDeeperThan(t *testing.T) {
	cases := []struct {
		name string
		body string
		deep bool
	}{
		{"flat", `{"a":1,"b":[1,2]}`, false},
		{"at the limit", strings.Repeat("[", 4) + strings.Repeat("]", 4), false},
		{"past the limit", strings.Repeat("[", 5) + strings.Repeat("]", 5), true},
		{"brackets inside strings", `{"a":"[[[[[[[[{{{{{{"}`, false},
		{"escaped quote inside string", `{"a":"\"[[[[[[[[[["}`, false},
		{"escaped backslash ends string", `{"a":"\\","b":[[[[[]]]]]}`, true},
		{"siblings do not add up", `[[[],[],[]],[[],[]]]`, false},
		{"unclosed", strings.Repeat("{\"a\":", 6), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := nestedDeeperThan([]byte(tc.body), 4); got != tc.deep {
				t.Errorf("nestedDeeperThan(%s, 4) = %v, want %v", tc.body, got, tc.deep)
			}
		})
	}
}
