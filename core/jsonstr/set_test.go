package jsonstr

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/tidwall/sjson"
)

func TestSetString(t *testing.T) {
	cases := []struct {
		name, doc string
		path      []string
		ok        bool
	}{
		{"top level", `{"model":"a","max_tokens":5}`, []string{"model"}, true},
		{"spaces", " {\n\t\"x\" : 1 ,\r\n \"model\" :  \"old\"  } ", []string{"model"}, true},
		{"after nested values", `{"messages":[{"model":"inner","c":"}]{\"model\":"}],"m":{"model":1},"n":null,"b":true,"f":-1.5e3,"model":"a"}`, []string{"model"}, true},
		{"not a string before", `{"model":{"x":[1,2]}}`, []string{"model"}, true},
		{"nested path", `{"type":"message_start","message":{"id":"m","model":"up-model","usage":{}}}`, []string{"message", "model"}, true},
		{"first of duplicates", `{"model":"a","model":"b"}`, []string{"model"}, true},
		{"absent", `{"max_tokens":5}`, []string{"model"}, false},
		{"absent nested", `{"message":{"id":"m"}}`, []string{"message", "model"}, false},
		{"escaped key", `{"mod\u0065l":"a"}`, []string{"model"}, false},
		{"not an object", `["model"]`, []string{"model"}, false},
		{"parent not an object", `{"message":"model"}`, []string{"message", "model"}, false},
		{"unterminated", `{"x":"abc`, []string{"model"}, false},
		{"empty", ``, []string{"model"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			const v = "new \"model\"\n"
			out, ok := SetString([]byte(c.doc), v, c.path...)
			if ok != c.ok {
				t.Fatalf("ok = %v, want %v (%s)", ok, c.ok, out)
			}
			if !ok {
				if string(out) != c.doc {
					t.Fatalf("not ok but doc changed: %s", out)
				}
				return
			}
			// The same document sjson makes, member for member.
			want, err := sjson.SetBytes([]byte(c.doc), strings.Join(c.path, "."), v)
			if err != nil {
				t.Fatal(err)
			}
			var got, exp any
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("output not JSON: %v: %s", err, out)
			}
			if c.name == "first of duplicates" {
				if !strings.HasPrefix(string(out), `{"model":"new \"model\"\n","model":"b"}`) {
					t.Fatalf("got %s", out)
				}
				return
			}
			json.Unmarshal(want, &exp)
			if !reflect.DeepEqual(got, exp) {
				t.Fatalf("got %s\nwant %s", out, want)
			}
		})
	}
}

func TestSetStringLeavesInput(t *testing.T) {
	doc := []byte(`{"model":"a"}`)
	out, _ := SetString(doc, "bb", "model")
	if string(doc) != `{"model":"a"}` || string(out) != `{"model":"bb"}` {
		t.Fatalf("doc %s out %s", doc, out)
	}
}

var benchBody = []byte(`{"model":"claude-sonnet","max_tokens":1024,"stream":true,"system":[{"type":"text","text":"You are helpful."}],"messages":[{"role":"user","content":"` + strings.Repeat("hello ", 200) + `"}]}`)

// BenchmarkSetString vs BenchmarkSetStringSjson: the provider's model swap.
func BenchmarkSetString(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := SetString(benchBody, "claude-sonnet-4-5", "model"); !ok {
			b.Fatal("not set")
		}
	}
}

func BenchmarkSetStringSjson(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sjson.SetBytes(append([]byte(nil), benchBody...), "model", "claude-sonnet-4-5"); err != nil {
			b.Fatal(err)
		}
	}
}
