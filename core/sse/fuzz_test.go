package sse

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// Any upstream bytes: the reader ends (io.EOF, io.ErrUnexpectedEOF or an
// error), never panics or loops, and every event it returns fits the bound
// and re-encodes to bytes that parse back to the same event.
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"event: message_start\ndata: {\"type\":\"message_start\"}\n\n",
		"data: {\"type\":\"ping\"}\r\n\r\n",
		": comment\n\nevent: x\n\n",
		"event: a\ndata: {\"a\":\ndata: 1}\n\n",
		"data:no-space\n\n",
		"event: message_stop\ndata: {\"type\":\"message_stop\"}",
		"\x00\xff\n\n\n",
		"retry: 10\nid: 5\ndata: {}\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in))
		for i := 0; ; i++ {
			if i > len(in)+1 {
				t.Fatalf("more events than input bytes")
			}
			ev, err := r.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrEventTooLarge) {
					t.Logf("ended with %v", err)
				}
				return
			}
			if len(ev.Data) > MaxEventBytes {
				t.Fatalf("event of %d bytes", len(ev.Data))
			}
			if bytes.ContainsAny(ev.Data, "\r\n") || bytes.ContainsAny([]byte(ev.Type), "\r\n") {
				continue // multi-line data re-encodes as one line per field: not a round trip
			}
			back, err := NewReader(bytes.NewReader(Append(nil, ev))).Next()
			if err != nil || back.Type != ev.Type || !bytes.Equal(back.Data, ev.Data) {
				t.Fatalf("round trip of %s: %v %s", String(ev), err, String(back))
			}
		}
	})
}

// ErrorEvent is valid JSON of Anthropic's error shape for any message.
func FuzzErrorEvent(f *testing.F) {
	f.Add("api_error", "upstream \"broke\"\n\x00")
	f.Fuzz(func(t *testing.T, typ, msg string) {
		if !utf8.ValidString(typ) {
			return // the gateway's own error types are ASCII
		}
		ev := ErrorEvent(typ, msg)
		back, err := NewReader(bytes.NewReader(Append(nil, ev))).Next()
		if err != nil || back.Type != "error" || !json.Valid(back.Data) ||
			gjson.GetBytes(back.Data, "type").Str != "error" || gjson.GetBytes(back.Data, "error.type").Str != typ {
			t.Fatalf("%v %s", err, String(back))
		}
	})
}
