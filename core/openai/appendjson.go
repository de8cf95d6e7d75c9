package openai

import (
	"strconv"
	"unsafe"

	"github.com/claude-gateway/claude-gateway/core/jsonstr"
	"github.com/tidwall/gjson"
)

// The translators write JSON by appending to byte slices instead of
// marshalling maps or structs: the streaming path runs once per token, and
// most values (texts, partial tool arguments, schemas) are copied from the
// input as raw, already valid JSON without being decoded at all.

// appendString appends s as a JSON string (see jsonstr.Append).
func appendString(dst []byte, s string) []byte { return jsonstr.Append(dst, s) }

// appendStringInner appends the contents of the JSON string literal raw
// (quotes included, escapes kept) without its quotes. Concatenating the
// inner parts of several literals gives a valid literal for the joined text.
func appendStringInner(dst []byte, raw string) []byte {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		return append(dst, raw[1:len(raw)-1]...)
	}
	return dst
}

// appendInt appends n in decimal.
func appendInt(dst []byte, n int64) []byte { return strconv.AppendInt(dst, n, 10) }

// appendNullableString appends s as a JSON string, or null when s is empty.
func appendNullableString(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "null"...)
	}
	return appendString(dst, s)
}

// unsafeString views b as a string without copying. gjson results taken
// from it point into b, so they must not outlive b or be used after b
// changes; the translators only use them within one call.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// isString reports whether r is a JSON string (gjson's Raw then is the
// quoted literal exactly as the input spelled it).
func isString(r gjson.Result) bool { return r.Type == gjson.String }
