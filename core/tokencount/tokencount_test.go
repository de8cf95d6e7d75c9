package tokencount

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Real token counts: testdata/claude-tokenizer-*.json were made with
// Anthropic's published tokenizer (npm @anthropic-ai/tokenizer 0.0.4) by
// testdata/measure-fixtures.js (Claude Code's captured requests in
// ../shared/claude-code-requests: system, messages and tools as JSON) and
// testdata/measure-samples.js (text that tokenizes densely: CJK, code,
// emoji, hex, base64). Re-run them with node after changing the samples.

// Claude's current models tokenize up to ~1.35x more densely than that
// tokenizer (Anthropic's note on Opus 4.7's tokenizer): the estimate of a
// Claude Code request must clear that, so it never under-counts there,
// and stay within 1.75x, so Claude Code does not compact far too early.
const (
	fixtureFloor   = 1.35
	fixtureCeiling = 1.75
)

func TestEstimateAboveRealCountsOfClaudeCodeRequests(t *testing.T) {
	raw, err := os.ReadFile("testdata/claude-tokenizer-counts.json")
	if err != nil {
		t.Fatal(err)
	}
	var counts map[string]struct {
		JSONTokens int64 `json:"json_tokens"`
	}
	if err := json.Unmarshal(raw, &counts); err != nil {
		t.Fatal(err)
	}
	if len(counts) < 8 {
		t.Fatalf("only %d measured fixtures", len(counts))
	}
	for name, c := range counts {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("../../../shared/claude-code-requests", name))
			if err != nil {
				t.Skipf("SKIP: fixtures not here: %v", err)
			}
			var f struct{ Body json.RawMessage }
			if err := json.Unmarshal(b, &f); err != nil {
				t.Fatal(err)
			}
			est := Estimate(f.Body)
			ratio := float64(est) / float64(c.JSONTokens)
			t.Logf("estimate %d, tokenizer %d (%.2fx)", est, c.JSONTokens, ratio)
			// Small requests are mostly fixed overheads: only the floor applies.
			if ratio < fixtureFloor || ratio > fixtureCeiling && c.JSONTokens >= 1000 {
				t.Errorf("estimate %d is %.2fx the tokenizer's %d, want %.2f-%.2fx", est, ratio, c.JSONTokens, fixtureFloor, fixtureCeiling)
			}
		})
	}
}

// Dense text: the per-run rules never count fewer tokens than the tokenizer.
func TestTextNeverBelowTokenizer(t *testing.T) {
	raw, err := os.ReadFile("testdata/claude-tokenizer-samples.json")
	if err != nil {
		t.Fatal(err)
	}
	var samples map[string]struct {
		Text   string
		Tokens int64
	}
	if err := json.Unmarshal(raw, &samples); err != nil {
		t.Fatal(err)
	}
	for name, s := range samples {
		if got := text(s.Text); got < s.Tokens {
			t.Errorf("%s: estimate %d < tokenizer %d", name, got, s.Tokens)
		}
		// bytes/4, the estimate this replaced, under-counts most of them.
		t.Logf("%s: estimate %d, tokenizer %d, bytes/4 %d", name, text(s.Text), s.Tokens, len(s.Text)/4)
	}
}

func pngBase64(t *testing.T, w, h int) string {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

func TestEstimateBlocks(t *testing.T) {
	pdf := base64.StdEncoding.EncodeToString([]byte("%PDF-1.7\n1 0 obj <</Type /Pages /Count 3>>\n2 0 obj <</Type /Page>>\n3 0 obj <</Type/Page>>\n4 0 obj <</Type /Page /Parent 1 0 R>>\n"))
	msg := func(content string) string {
		return `{"model":"m","messages":[{"role":"user","content":` + content + `}]}`
	}
	base := Estimate([]byte(msg(`[]`)))
	tests := []struct {
		name     string
		body     string
		min, max int64 // over the empty request
	}{
		{"png priced by its size", msg(`[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"` + pngBase64(t, 1000, 750) + `"}}]`), 1000, 1010},
		{"image by url at the most an image costs", msg(`[{"type":"image","source":{"type":"url","url":"https://example.com/a.png"}}]`), maxImageTokens, maxImageTokens + blockOverhead},
		{"unreadable image at the most", msg(`[{"type":"image","source":{"type":"base64","media_type":"image/webp","data":"UklGRg=="}}]`), maxImageTokens, maxImageTokens + blockOverhead},
		{"pdf by its pages, not its bytes", msg(`[{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"` + pdf + `"}}]`), 3 * pdfPageTokens, 3*pdfPageTokens + blockOverhead},
		{"tools add the tool prompt", `{"model":"m","messages":[],"tools":[{"name":"Bash","input_schema":{"type":"object"}}]}`, toolsPrompt, toolsPrompt + 60},
		{"string content", msg(`"hello there"`), 2, 6},
		{"tool_result text", msg(`[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"ok"}]}]`), 2, 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Estimate([]byte(tt.body))
			if tt.name == "tools add the tool prompt" {
				got += messageOverhead // that body has no message
			}
			if d := got - base; d < tt.min || d > tt.max {
				t.Errorf("estimate %d over the empty request, want %d..%d", d, tt.min, tt.max)
			}
		})
	}
	// A big image's bytes never count as text: a screenshot is not 300k tokens.
	big := msg(`[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"` + pngBase64(t, 1920, 1080) + strings.Repeat("A", 1<<20) + `"}}]`)
	if got := Estimate([]byte(big)); got > base+maxImageTokens+blockOverhead {
		t.Errorf("1 MB image estimated at %d tokens", got)
	}
	if got := Estimate([]byte("not json at all")); got <= 0 {
		t.Errorf("non-JSON body: %d", got)
	}
}

// A count_tokens request of Claude Code's size (~50 KB) costs well under
// a millisecond to estimate.
func BenchmarkEstimate(b *testing.B) {
	raw, err := os.ReadFile("../../../shared/claude-code-requests/cc-print-text.json")
	if err != nil {
		b.Skip(err)
	}
	var f struct{ Body json.RawMessage }
	_ = json.Unmarshal(raw, &f)
	b.SetBytes(int64(len(f.Body)))
	for b.Loop() {
		Estimate(f.Body)
	}
}
