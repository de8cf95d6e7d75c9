package jsonstr

// SetString returns a copy of the JSON object doc with the member at path
// (object keys, outermost first) set to the string value. ok is false, and
// doc is returned unchanged, when the member is absent, a key on the way is
// written with escapes, or doc is not an object there: callers fall back to
// a general JSON editor (sjson) for those.
//
// It exists for the request and stream paths, which replace one known
// member ("model", "message.model") on every call: one shallow pass and one
// allocation, where a general editor parses the document in deep frames
// that make the handler goroutine's stack grow (and stay grown for a
// stream's whole life). The first matching key wins, as with gjson.
func SetString(doc []byte, value string, path ...string) (out []byte, ok bool) {
	start, end, ok := member(doc, path)
	if !ok {
		return doc, false
	}
	out = make([]byte, 0, len(doc)-(end-start)+len(value)+2)
	out = append(out, doc[:start]...)
	out = Append(out, value)
	return append(out, doc[end:]...), true
}

// member finds the value at path in doc: [start, end) of its bytes.
func member(doc []byte, path []string) (start, end int, ok bool) {
	i := 0
	for _, key := range path {
		i = skipSpace(doc, i)
		if i >= len(doc) || doc[i] != '{' {
			return 0, 0, false
		}
		if i, ok = findKey(doc, i+1, key); !ok {
			return 0, 0, false
		}
	}
	end = skipValue(doc, i)
	return i, end, end > i
}

// findKey scans the members of the object whose body starts at i and
// returns where the value of key starts.
func findKey(doc []byte, i int, key string) (int, bool) {
	for {
		i = skipSpace(doc, i)
		if i >= len(doc) || doc[i] != '"' {
			return 0, false // '}' (absent) or malformed
		}
		ke, escaped := skipString(doc, i)
		if ke < 0 || escaped {
			return 0, false
		}
		name := doc[i+1 : ke-1]
		if i = skipSpace(doc, ke); i >= len(doc) || doc[i] != ':' {
			return 0, false
		}
		i = skipSpace(doc, i+1)
		if string(name) == key {
			return i, true
		}
		if i = skipValue(doc, i); i < 0 {
			return 0, false
		}
		if i = skipSpace(doc, i); i >= len(doc) || doc[i] != ',' {
			return 0, false
		}
		i++
	}
}

func skipSpace(doc []byte, i int) int {
	for i < len(doc) && (doc[i] == ' ' || doc[i] == '\t' || doc[i] == '\n' || doc[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string literal starting at i (-1
// if unterminated) and whether it holds an escape.
func skipString(doc []byte, i int) (int, bool) {
	escaped := false
	for i++; i < len(doc); i++ {
		switch doc[i] {
		case '\\':
			escaped = true
			i++
		case '"':
			return i + 1, escaped
		}
	}
	return -1, escaped
}

// skipValue returns the index after the value starting at i (-1 if malformed).
func skipValue(doc []byte, i int) int {
	if i >= len(doc) {
		return -1
	}
	switch doc[i] {
	case '"':
		end, _ := skipString(doc, i)
		return end
	case '{', '[':
		depth := 0
		for ; i < len(doc); i++ {
			switch doc[i] {
			case '"':
				end, _ := skipString(doc, i)
				if end < 0 {
					return -1
				}
				i = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	}
	start := i
	for i < len(doc) && doc[i] != ',' && doc[i] != '}' && doc[i] != ']' && doc[i] != ' ' &&
		doc[i] != '\t' && doc[i] != '\n' && doc[i] != '\r' {
		i++
	}
	if i == start {
		return -1
	}
	return i
}
