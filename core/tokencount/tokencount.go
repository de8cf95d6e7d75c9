// Package tokencount estimates the input tokens of an Anthropic Messages
// request locally, for count_tokens calls no upstream can answer (Bedrock's
// Messages API, models Bedrock's CountTokens does not serve).
//
// The estimate is biased upward on purpose. Claude Code compacts a
// conversation, and its Read tool sizes a file, from count_tokens: a count
// that is too low lets a request run into "prompt is too long" (LiteLLM
// #37102), while one somewhat too high only compacts a little early. So
// every rule here rounds toward more tokens: about 3.2 bytes of ASCII per
// token (Claude's tokenizers average over 4 on English and code), two bytes
// of other UTF-8 per token, fixed overheads per message, block and tool, and
// images at their pixel cost (the most a model charges when the size cannot
// be read). Tests hold it above real tokenizer counts of Claude Code's own
// requests with room for newer tokenizers (see tokencount_test.go).
package tokencount

import (
	"bytes"
	"encoding/base64"
	"image"
	_ "image/gif" // image.DecodeConfig reads these headers
	_ "image/jpeg"
	_ "image/png"
	"io"
	"strings"

	"github.com/tidwall/gjson"
)

// Overheads in tokens: the turn and block markers around content, the tool
// use system prompt the API adds when tools are present (346 tokens on
// current models, rounded up), and each tool's wrapper.
const (
	requestOverhead = 16
	messageOverhead = 8
	blockOverhead   = 4
	toolsPrompt     = 400
	toolOverhead    = 16
)

// Image costs: Anthropic prices an image at width*height/750 tokens; the
// largest images current models take cost about 4,800.
const (
	pixelsPerToken = 750
	maxImageTokens = 4800
	// pdfPageTokens bounds a PDF page (its text plus its page image).
	pdfPageTokens = 3000
)

// Estimate returns an upward-biased count of the input tokens of body, an
// Anthropic Messages or count_tokens request. A body that is not a JSON
// object is counted as text.
func Estimate(body []byte) int64 {
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return text(string(body))
	}
	n := int64(requestOverhead)
	if sys := root.Get("system"); sys.Type == gjson.String {
		n += raw(sys)
	} else {
		n += blocks(sys)
	}
	root.Get("messages").ForEach(func(_, m gjson.Result) bool {
		n += messageOverhead + content(m.Get("content"))
		return true
	})
	if tools := root.Get("tools"); tools.IsArray() && len(tools.Array()) > 0 {
		n += toolsPrompt
		tools.ForEach(func(_, t gjson.Result) bool {
			n += toolOverhead + text(t.Raw)
			return true
		})
	}
	return n
}

// content counts a message's content: a string or an array of blocks.
func content(c gjson.Result) int64 {
	if c.Type == gjson.String {
		return raw(c)
	}
	return blocks(c)
}

func blocks(arr gjson.Result) int64 {
	var n int64
	arr.ForEach(func(_, b gjson.Result) bool {
		n += blockOverhead + block(b)
		return true
	})
	return n
}

// block counts one content block by what the model reads of it.
func block(b gjson.Result) int64 {
	switch b.Get("type").Str {
	case "text":
		return raw(b.Get("text"))
	case "thinking":
		return raw(b.Get("thinking"))
	case "tool_use", "server_tool_use":
		return raw(b.Get("name")) + text(b.Get("input").Raw)
	case "tool_result":
		return content(b.Get("content"))
	case "image":
		return imageTokens(b.Get("source"))
	case "document":
		return documentTokens(b.Get("source"))
	}
	// Anything else (redacted thinking, search results, ...) as its JSON.
	return text(b.Raw)
}

// raw counts a JSON string by its encoded form (escapes count as the
// bytes they take, which only rounds up).
func raw(s gjson.Result) int64 { return text(s.Raw) }

// text counts b by the runs a byte-pair tokenizer splits text into, each
// rounded up: a word (lower-case letters, with one capital before them) is
// a token per four letters, capitals a token per two (acronyms, base64), a
// number a token per three digits, symbols a token per two ('":"' is one or
// two), each tab and newline a token, a run of spaces a token (a single
// space joins the word after it); other UTF-8 a token per two bytes, and
// three per four-byte rune (emoji). Hex, base64 and code, which split into
// short tokens, are then not under-counted as bytes/4 under-counts them.
func text(b string) int64 {
	var n, run, other int64
	var kind byte // 'a' word, 'A' capitals, '0' digits, '.' symbols, ' ' spaces, 0 none
	// glued: the letters follow digits or capitals with no boundary, as in
	// hex and base64, where tokens are short.
	glued := false
	flush := func() {
		switch {
		case kind == 'a' && glued:
			n += (run + 1) / 2
		case kind == 'a':
			n += (run + 3) / 4
		case kind == 'A' || kind == '.':
			n += (run + 1) / 2
		case kind == '0':
			n += (run + 2) / 3
		case kind == ' ' && run > 1:
			n++
		}
		glued = kind == '0' || kind == 'A' && run > 1
		run, kind = 0, 0
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		var k byte
		switch {
		case 'a' <= c && c <= 'z':
			k = 'a'
		case 'A' <= c && c <= 'Z':
			k = 'A'
		case '0' <= c && c <= '9':
			k = '0'
		case c == ' ':
			k = ' '
		case c == '\n' || c == '\t' || c == '\r':
			flush()
			n++
			continue
		case c < 0x80:
			k = '.'
		default:
			flush()
			size := utf8Len(c)
			if size == 4 {
				n += 3
			} else {
				other += int64(size)
			}
			i += size - 1
			continue
		}
		switch {
		case k == kind:
			run++
		case k == 'a' && kind == 'A' && run == 1: // a capitalised word
			kind, run = 'a', 2
		default:
			flush()
			kind, run = k, 1
		}
	}
	flush()
	return n + (other+1)/2
}

// utf8Len is the length of the UTF-8 sequence that starts with c (1 for a
// stray continuation byte).
func utf8Len(c byte) int {
	switch {
	case c >= 0xF0:
		return 4
	case c >= 0xE0:
		return 3
	case c >= 0xC0:
		return 2
	}
	return 1
}

// imageTokens prices an image from its header's size when the data is
// inline PNG, JPEG or GIF, else (a URL, WebP) at the most an image costs.
func imageTokens(src gjson.Result) int64 {
	if src.Get("type").Str != "base64" {
		return maxImageTokens
	}
	data := src.Get("data").Str
	cfg, _, err := image.DecodeConfig(base64.NewDecoder(base64.StdEncoding, strings.NewReader(data)))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
		return maxImageTokens
	}
	return min(int64(cfg.Width)*int64(cfg.Height)/pixelsPerToken+1, maxImageTokens)
}

// documentTokens prices a document: text as text, a PDF by its pages.
func documentTokens(src gjson.Result) int64 {
	switch src.Get("type").Str {
	case "text":
		return raw(src.Get("data"))
	case "content":
		return content(src.Get("content"))
	case "base64":
		pdf, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, strings.NewReader(src.Get("data").Str)))
		if err != nil {
			return text(src.Get("data").Raw)
		}
		if pages := pdfPages(pdf); pages > 0 {
			return int64(pages) * pdfPageTokens
		}
		return text(string(pdf))
	}
	return maxImageTokens
}

// pdfPages counts page objects ("/Type /Page", not "/Pages").
func pdfPages(pdf []byte) int {
	n := 0
	for _, marker := range [][]byte{[]byte("/Type /Page"), []byte("/Type/Page")} {
		for rest := pdf; ; {
			i := bytes.Index(rest, marker)
			if i < 0 {
				break
			}
			rest = rest[i+len(marker):]
			if len(rest) == 0 || rest[0] != 's' {
				n++
			}
		}
	}
	return n
}
