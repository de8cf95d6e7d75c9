package sso

import (
	"strings"
	"testing"
)

// TestRenderPageEscapes: every value reaches the page HTML-escaped, in text
// and in attribute values alike.
func TestRenderPageEscapes(t *testing.T) {
	var b strings.Builder
	err := renderPage(&b, pageData{Title: "<b>t</b>", Error: "e&<", Message: "m>", Action: "/a\"b",
		CSRF: `x" onclick="y`, UserCode: "<script>", Form: true})
	if err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, bad := range []string{"<b>", "<script>", `x" onclick`, `/a"b`, "e&<"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains unescaped %q", bad)
		}
	}
	for _, want := range []string{"&lt;b&gt;t&lt;/b&gt;", `value="x&#34; onclick=&#34;y"`, "&lt;script&gt;", `<p class="err">e&amp;&lt;</p>`, "<p>m&gt;</p>", "<form"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	b.Reset()
	renderPage(&b, pageData{Title: "done"})
	if strings.Contains(b.String(), "<form") || strings.Contains(b.String(), `class="err"`) {
		t.Errorf("a page without Form or Error shows them:\n%s", b.String())
	}
}
