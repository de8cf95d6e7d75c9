package openai

import (
	"fmt"
	"strings"

	"github.com/tidwall/gjson"
)

// cursor is where the messages being written stand.
type cursor struct {
	len     int    // len(msgs) when the cursor was taken (see translator.part)
	nmsgs   int    // messages written
	open    bool   // a message is open (its content array not closed)
	role    string // role of the open message
	nblocks int    // blocks in the open message
	total   int    // blocks written in all messages
}

// translator accumulates the system blocks and the messages array contents.
type translator struct {
	sys  []byte
	msgs []byte

	cursor

	scratch fields // the current message's fields

	// lastAssistantToolUseWithoutThinking is whether the last assistant
	// message has tool calls but no thinking blocks.
	lastAssistantToolUseWithoutThinking bool
}

func (t *translator) messages(msgs gjson.Result) *Error {
	var err *Error
	i := 0
	msgs.ForEach(func(_, m gjson.Result) bool {
		err = t.message(i, m)
		i++
		return err == nil
	})
	if err != nil {
		return err
	}
	if t.open {
		t.msgs = append(t.msgs, "]}"...)
	}
	return nil
}

func (t *translator) message(i int, msg gjson.Result) *Error {
	if !msg.IsObject() {
		return badRequest(fmt.Sprintf("messages[%d]", i), CodeInvalidType, "Invalid 'messages[%d]': expected an object.", i)
	}
	t.scratch = fieldsOf(t.scratch[:0], msg)
	m := t.scratch
	before := t.total
	var err *Error
	switch role := m.get("role").Str; role {
	case "system", "developer":
		return t.system(i, m.get("content"))
	case "user":
		err = t.userContent(i, m.get("content"))
	case "assistant":
		err = t.assistant(i, m)
	case "tool":
		err = t.toolResult(i, m)
	case "function":
		return unsupported(fmt.Sprintf("messages[%d].role", i), "'function' is not supported: use tool messages with tool_call_id.")
	default:
		return badRequest(fmt.Sprintf("messages[%d].role", i), CodeInvalidValue, "Invalid value: 'messages[%d].role' %q; expected system, developer, user, assistant or tool.", i, role)
	}
	if err != nil {
		return err
	}
	// A message-level cache_control (LiteLLM's convention) marks the
	// message's last block, which is the last thing written so far.
	if cc := m.get("cache_control"); cc.IsObject() && t.total != before {
		t.markLastBlock(cc.Raw)
	}
	return nil
}

// startBlock opens (or continues) a message of role and prepares for one
// more content block.
func (t *translator) startBlock(role string) {
	if t.open && t.role != role {
		t.msgs = append(t.msgs, "]}"...)
		t.open = false
	}
	if !t.open {
		if t.nmsgs > 0 {
			t.msgs = append(t.msgs, ',')
		}
		t.msgs = append(t.msgs, `{"role":"`...)
		t.msgs = append(t.msgs, role...)
		t.msgs = append(t.msgs, `","content":[`...)
		t.open, t.role, t.nblocks = true, role, 0
		t.nmsgs++
	}
	if t.nblocks > 0 {
		t.msgs = append(t.msgs, ',')
	}
	t.nblocks++
	t.total++
}

// markLastBlock adds cache_control to the block just written, unless it has one.
func (t *translator) markLastBlock(cc string) {
	n := len(t.msgs)
	if n == 0 || t.msgs[n-1] != '}' {
		return
	}
	start := lastBlockStart(t.msgs)
	if start >= 0 && gjson.Get(unsafeString(t.msgs[start:]), "cache_control").Exists() {
		return
	}
	t.msgs = append(t.msgs[:n-1], `,"cache_control":`...)
	t.msgs = append(t.msgs, cc...)
	t.msgs = append(t.msgs, '}')
}

// lastBlockStart finds the '{' that opens the object ending the buffer.
func lastBlockStart(b []byte) int {
	depth, inStr := 0, false
	for i := len(b) - 1; i >= 0; i-- {
		c := b[i]
		if inStr {
			if c == '"' && !escaped(b, i) {
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '}', ']':
			depth++
		case '{', '[':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// escaped reports whether the quote at b[i] is preceded by an odd number of backslashes.
func escaped(b []byte, i int) bool {
	n := 0
	for j := i - 1; j >= 0 && b[j] == '\\'; j-- {
		n++
	}
	return n%2 == 1
}

// systemBlock adds a text block (raw is a JSON string literal) to the system prompt.
func (t *translator) systemBlock(raw string) {
	t.appendSystem(raw, "")
}

func (t *translator) appendSystem(raw, cacheControl string) {
	if len(t.sys) > 0 {
		t.sys = append(t.sys, ',')
	}
	t.sys = append(t.sys, `{"type":"text","text":`...)
	t.sys = append(t.sys, raw...)
	if cacheControl != "" {
		t.sys = append(t.sys, `,"cache_control":`...)
		t.sys = append(t.sys, cacheControl...)
	}
	t.sys = append(t.sys, '}')
}

func (t *translator) system(i int, content gjson.Result) *Error {
	switch {
	case isString(content):
		if !blank(content.Str) {
			t.appendSystem(content.Raw, "")
		}
	case content.IsArray():
		j := 0
		var err *Error
		content.ForEach(func(_, part gjson.Result) bool {
			text := part.Get("text")
			if part.Get("type").Str != "text" || !isString(text) {
				err = badRequest(fmt.Sprintf("messages[%d].content[%d]", i, j), CodeInvalidValue, "System and developer messages may only contain text parts.")
				return false
			}
			if !blank(text.Str) {
				cc := part.Get("cache_control")
				if !cc.IsObject() {
					cc = gjson.Result{}
				}
				t.appendSystem(text.Raw, cc.Raw)
			}
			j++
			return true
		})
		return err
	case present(content):
		return badRequest(fmt.Sprintf("messages[%d].content", i), CodeInvalidType, "Invalid 'messages[%d].content': expected a string or an array of text parts.", i)
	}
	return nil
}

// blank reports whether s has no visible text (Anthropic rejects such text blocks).
func blank(s string) bool { return strings.TrimSpace(s) == "" }

func (t *translator) userContent(i int, content gjson.Result) *Error {
	switch {
	case isString(content):
		if !blank(content.Str) {
			t.startBlock("user")
			t.msgs = appendTextBlock(t.msgs, content.Raw, "")
		}
		return nil
	case content.IsArray():
		j := 0
		var err *Error
		content.ForEach(func(_, part gjson.Result) bool {
			err = t.part("user", loc{msg: i, list: "content", idx: j}, part)
			j++
			return err == nil
		})
		return err
	case present(content):
		return badRequest(fmt.Sprintf("messages[%d].content", i), CodeInvalidType, "Invalid 'messages[%d].content': expected a string or an array of content parts.", i)
	}
	return nil
}

func appendTextBlock(dst []byte, raw, cacheControl string) []byte {
	dst = append(dst, `{"type":"text","text":`...)
	dst = append(dst, raw...)
	if cacheControl != "" {
		dst = append(dst, `,"cache_control":`...)
		dst = append(dst, cacheControl...)
	}
	return append(dst, '}')
}

// part translates one content part into a block of a message of role.
func (t *translator) part(role string, at loc, part gjson.Result) *Error {
	// Written in place (images can be megabytes); a skipped part is undone.
	saved := t.cursor
	saved.len = len(t.msgs)
	t.startBlock(role)
	msgs, skip, err := appendPart(t.msgs, at, part)
	if err != nil {
		return err
	}
	t.msgs = msgs
	if skip {
		t.msgs = t.msgs[:saved.len]
		t.cursor = saved
	}
	return nil
}

// appendPart appends the Anthropic block for an OpenAI content part. skip
// reports a part with nothing to send (blank text).
func appendPart(dst []byte, at loc, part gjson.Result) (_ []byte, skip bool, _ *Error) {
	cc := ""
	if c := part.Get("cache_control"); c.IsObject() {
		cc = c.Raw
	}
	switch typ := part.Get("type").Str; typ {
	case "text", "refusal":
		text := part.Get(typ)
		if !isString(text) {
			return nil, false, badRequest(at.sub(".")+typ, CodeInvalidType, "Invalid '%s.%s': expected a string.", at, typ)
		}
		if blank(text.Str) {
			return dst, true, nil
		}
		return appendTextBlock(dst, text.Raw, cc), false, nil
	case "image_url":
		url := part.Get("image_url.url")
		if !url.Exists() {
			url = part.Get("image_url") // some clients send the URL as a plain string
		}
		if !isString(url) || url.Str == "" {
			return nil, false, badRequest(at.sub(".image_url.url"), CodeMissingRequired, "Missing required parameter: '%s.image_url.url'.", at)
		}
		b, err := appendImage(dst, at.with(".image_url.url"), url.Str, cc)
		return b, false, err
	case "file":
		b, err := appendFile(dst, at.with(".file"), part.Get("file"), cc)
		return b, false, err
	case "input_audio":
		return nil, false, unsupported(at.sub(".type"), "'input_audio' is not supported: Claude does not accept audio input.")
	default:
		return nil, false, badRequest(at.sub(".type"), CodeUnsupportedValue, "Unsupported value: content part type %q; expected text, image_url or file.", typ)
	}
}

// imageTypes are the image media types Claude accepts.
var imageTypes = map[string]string{
	"image/jpeg": "image/jpeg",
	"image/jpg":  "image/jpeg",
	"image/png":  "image/png",
	"image/gif":  "image/gif",
	"image/webp": "image/webp",
}

// appendImage appends an image block for a data: or http(s) URL.
func appendImage(dst []byte, at loc, url, cacheControl string) ([]byte, *Error) {
	switch {
	case hasPrefixFold(url, "data:"):
		mediaType, data, err := parseDataURL(at, url)
		if err != nil {
			return nil, err
		}
		mt, ok := imageTypes[strings.ToLower(mediaType)]
		if !ok {
			return nil, badRequest(at.String(), CodeInvalidValue, "Invalid image media type %q; Claude accepts image/jpeg, image/png, image/gif and image/webp.", mediaType)
		}
		dst = append(dst, `{"type":"image","source":{"type":"base64","media_type":"`...)
		dst = append(dst, mt...)
		dst = append(dst, `","data":`...)
		dst = appendString(dst, data)
		dst = append(dst, '}')
	case hasPrefixFold(url, "https://") || hasPrefixFold(url, "http://"):
		dst = append(dst, `{"type":"image","source":{"type":"url","url":`...)
		dst = appendString(dst, url)
		dst = append(dst, '}')
	default:
		return nil, badRequest(at.String(), CodeInvalidValue, "Invalid image URL: expected a data: URL with base64 data or an http(s) URL.")
	}
	if cacheControl != "" {
		dst = append(dst, `,"cache_control":`...)
		dst = append(dst, cacheControl...)
	}
	return append(dst, '}'), nil
}

// appendFile appends a document block for a file part carrying PDF data
// (OpenAI's file_data is a data: URL; bare base64 is taken as PDF).
func appendFile(dst []byte, at loc, file gjson.Result, cacheControl string) ([]byte, *Error) {
	if id := file.Get("file_id"); present(id) {
		return nil, unsupported(at.sub(".file_id"), "is not supported: uploaded OpenAI files are not available; send file_data instead.")
	}
	fd := file.Get("file_data")
	if !isString(fd) || fd.Str == "" {
		return nil, badRequest(at.sub(".file_data"), CodeMissingRequired, "Missing required parameter: '%s.file_data'.", at)
	}
	mediaType, data := "application/pdf", fd.Str
	if hasPrefixFold(data, "data:") {
		var err *Error
		if mediaType, data, err = parseDataURL(at.with(".file_data"), data); err != nil {
			return nil, err
		}
	}
	if _, isImage := imageTypes[strings.ToLower(mediaType)]; isImage {
		return appendImage(dst, at.with(".file_data"), fd.Str, cacheControl)
	}
	if !strings.EqualFold(mediaType, "application/pdf") {
		return nil, badRequest(at.sub(".file_data"), CodeInvalidValue, "Unsupported file type %q; Claude accepts PDF documents and images.", mediaType)
	}
	dst = append(dst, `{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":`...)
	dst = appendString(dst, data)
	dst = append(dst, '}')
	if cacheControl != "" {
		dst = append(dst, `,"cache_control":`...)
		dst = append(dst, cacheControl...)
	}
	return append(dst, '}'), nil
}

// parseDataURL splits data:<media type>[;params];base64,<data>.
func parseDataURL(at loc, url string) (mediaType, data string, err *Error) {
	header, data, ok := strings.Cut(url[len("data:"):], ",")
	if !ok {
		return "", "", badRequest(at.String(), CodeInvalidValue, "Invalid data URL: missing ','.")
	}
	mediaType, params, _ := strings.Cut(header, ";")
	base64 := false
	for _, p := range strings.Split(params, ";") {
		base64 = base64 || strings.EqualFold(strings.TrimSpace(p), "base64")
	}
	if !base64 {
		return "", "", badRequest(at.String(), CodeInvalidValue, "Invalid data URL: only base64-encoded data URLs are supported.")
	}
	if data == "" {
		return "", "", badRequest(at.String(), CodeInvalidValue, "Invalid data URL: no data.")
	}
	return strings.TrimSpace(mediaType), data, nil
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func (t *translator) assistant(i int, m fields) *Error {
	hasThinking := false
	if tb := m.get("thinking_blocks"); tb.IsArray() {
		for _, b := range tb.Array() {
			switch b.Get("type").Str {
			case "thinking":
				th, sig := b.Get("thinking"), b.Get("signature")
				if !isString(th) || !isString(sig) || sig.Str == "" {
					continue // unsigned thinking cannot be sent back
				}
				t.startBlock("assistant")
				t.msgs = append(t.msgs, `{"type":"thinking","thinking":`...)
				t.msgs = append(t.msgs, th.Raw...)
				t.msgs = append(t.msgs, `,"signature":`...)
				t.msgs = append(t.msgs, sig.Raw...)
				t.msgs = append(t.msgs, '}')
				hasThinking = true
			case "redacted_thinking":
				data := b.Get("data")
				if !isString(data) {
					continue
				}
				t.startBlock("assistant")
				t.msgs = append(t.msgs, `{"type":"redacted_thinking","data":`...)
				t.msgs = append(t.msgs, data.Raw...)
				t.msgs = append(t.msgs, '}')
				hasThinking = true
			}
		}
	}

	content := m.get("content")
	switch {
	case isString(content):
		if !blank(content.Str) {
			t.startBlock("assistant")
			t.msgs = appendTextBlock(t.msgs, content.Raw, "")
		}
	case content.IsArray():
		j := 0
		var err *Error
		content.ForEach(func(_, part gjson.Result) bool {
			at := loc{msg: i, list: "content", idx: j}
			if typ := part.Get("type").Str; typ != "text" && typ != "refusal" {
				err = badRequest(at.sub(".type"), CodeUnsupportedValue, "Unsupported value: assistant content part type %q; expected text or refusal.", typ)
				return false
			}
			err = t.part("assistant", at, part)
			j++
			return err == nil
		})
		if err != nil {
			return err
		}
	case present(content):
		return badRequest(fmt.Sprintf("messages[%d].content", i), CodeInvalidType, "Invalid 'messages[%d].content': expected a string or an array of text parts.", i)
	}
	if fc := m.get("function_call"); present(fc) {
		return unsupported(fmt.Sprintf("messages[%d].function_call", i), "is not supported: use tool_calls.")
	}

	calls := m.get("tool_calls")
	if present(calls) && !calls.IsArray() {
		return badRequest(fmt.Sprintf("messages[%d].tool_calls", i), CodeInvalidType, "Invalid 'messages[%d].tool_calls': expected an array.", i)
	}
	ncalls := 0
	var err *Error
	calls.ForEach(func(_, c gjson.Result) bool {
		err = t.toolCall(loc{msg: i, list: "tool_calls", idx: ncalls}, c)
		ncalls++
		return err == nil
	})
	if err != nil {
		return err
	}
	t.lastAssistantToolUseWithoutThinking = ncalls > 0 && !hasThinking
	return nil
}

func (t *translator) toolCall(at loc, c gjson.Result) *Error {
	if typ := c.Get("type"); typ.Exists() && typ.Str != "function" {
		return badRequest(at.sub(".type"), CodeUnsupportedValue, "Unsupported value: tool call type %q; only function tool calls are supported.", typ.Str)
	}
	id := c.Get("id")
	if !isString(id) || id.Str == "" {
		return badRequest(at.sub(".id"), CodeMissingRequired, "Missing required parameter: '%s.id'.", at)
	}
	name := c.Get("function.name")
	if !isString(name) || name.Str == "" {
		return badRequest(at.sub(".function.name"), CodeMissingRequired, "Missing required parameter: '%s.function.name'.", at)
	}
	input := "{}"
	if args := c.Get("function.arguments"); present(args) {
		if !isString(args) {
			return badRequest(at.sub(".function.arguments"), CodeInvalidType, "Invalid '%s.function.arguments': expected a string of JSON.", at)
		}
		if s := strings.TrimSpace(args.String()); s != "" {
			if !gjson.Valid(s) || !gjson.Parse(s).IsObject() {
				return badRequest(at.sub(".function.arguments"), CodeInvalidValue, "Invalid '%s.function.arguments': expected a JSON object encoded as a string.", at)
			}
			input = s
		}
	}
	t.startBlock("assistant")
	t.msgs = append(t.msgs, `{"type":"tool_use","id":`...)
	t.msgs = append(t.msgs, id.Raw...)
	t.msgs = append(t.msgs, `,"name":`...)
	t.msgs = append(t.msgs, name.Raw...)
	t.msgs = append(t.msgs, `,"input":`...)
	t.msgs = append(t.msgs, input...)
	t.msgs = append(t.msgs, '}')
	return nil
}

func (t *translator) toolResult(i int, m fields) *Error {
	id := m.get("tool_call_id")
	if !isString(id) || id.Str == "" {
		return badRequest(fmt.Sprintf("messages[%d].tool_call_id", i), CodeMissingRequired, "Missing required parameter: 'messages[%d].tool_call_id'.", i)
	}
	var b []byte
	b = append(b, `{"type":"tool_result","tool_use_id":`...)
	b = append(b, id.Raw...)
	content := m.get("content")
	switch {
	case isString(content):
		if content.Str != "" {
			b = append(b, `,"content":`...)
			b = append(b, content.Raw...)
		}
	case content.IsArray():
		n, j := 0, 0
		var err *Error
		content.ForEach(func(_, part gjson.Result) bool {
			at := loc{msg: i, list: "content", idx: j}
			j++
			var skip bool
			mark := len(b)
			if n == 0 {
				b = append(b, `,"content":[`...)
			} else {
				b = append(b, ',')
			}
			b, skip, err = appendPart(b, at, part)
			if err != nil {
				return false
			}
			if skip {
				b = b[:mark]
			} else {
				n++
			}
			return true
		})
		if err != nil {
			return err
		}
		if n > 0 {
			b = append(b, ']')
		}
	case present(content):
		return badRequest(fmt.Sprintf("messages[%d].content", i), CodeInvalidType, "Invalid 'messages[%d].content': expected a string or an array of content parts.", i)
	}
	b = append(b, '}')
	t.startBlock("user")
	t.msgs = append(t.msgs, b...)
	return nil
}

// loc names a content part or tool call for error messages
// ("messages[2].content[1]"); the string is built only when an error is.
type loc struct {
	msg    int
	list   string // "content" or "tool_calls"
	idx    int
	suffix string
}

func (l loc) String() string {
	return fmt.Sprintf("messages[%d].%s[%d]%s", l.msg, l.list, l.idx, l.suffix)
}

// sub is the parameter name of a field under l.
func (l loc) sub(field string) string { return l.String() + field }

// with is l narrowed to a field under it.
func (l loc) with(field string) loc {
	l.suffix += field
	return l
}
