package embedded

import (
	"net/url"
	"strings"
	"testing"
)

func TestFetchHTMLConvert(t *testing.T) {
	base, _ := url.Parse("https://example.com/docs/page.html")
	tests := []struct {
		name, html string
		markdown   string
		text       string
	}{
		{
			name:     "headings and paragraphs",
			html:     "<h1>Title</h1><p>First  paragraph\n with <b>bold</b>, <em>em</em> and <code>x := 1</code>.</p><h3>Sub</h3><p>Second.</p>",
			markdown: "# Title\n\nFirst paragraph with **bold**, *em* and `x := 1`.\n\n### Sub\n\nSecond.",
			text:     "Title\n\nFirst paragraph with bold, em and x := 1.\n\nSub\n\nSecond.",
		},
		{
			name:     "links and images",
			html:     `<p>See <a href="../guide/">the guide</a>, <a href="https://go.dev">Go</a> and <a href="javascript:alert(1)">this</a>.<img src="/a.png" alt="A pic"></p>`,
			markdown: "See [the guide](https://example.com/guide/), [Go](https://go.dev) and this.![A pic](https://example.com/a.png)",
			text:     "See the guide, Go and this.A pic",
		},
		{
			name:     "scripts, styles and head dropped",
			html:     "<html><head><title>T</title><style>p{color:red}</style></head><body><script>alert(1)</script><p>Kept</p><noscript>no</noscript></body></html>",
			markdown: "Kept",
			text:     "Kept",
		},
		{
			name:     "lists",
			html:     "<ul><li>One</li><li>Two<ul><li>Two a</li></ul></li></ul><ol start=3><li>Three</li><li>Four</li></ol>",
			markdown: "- One\n- Two\n  - Two a\n\n3. Three\n4. Four",
			text:     "- One\n- Two\n  - Two a\n\n3. Three\n4. Four",
		},
		{
			name:     "pre",
			html:     "<p>Run:</p><pre><code class=\"language-go\">func main() {\n\tprintln(1)\n}\n</code></pre><p>Done.</p>",
			markdown: "Run:\n\n```go\nfunc main() {\n\tprintln(1)\n}\n```\n\nDone.",
			text:     "Run:\n\nfunc main() {\n\tprintln(1)\n}\n\nDone.",
		},
		{
			name:     "table",
			html:     "<table><thead><tr><th>Name</th><th>Price</th></tr></thead><tbody><tr><td>a|b</td><td>1</td></tr><tr><td>c</td></tr></tbody></table>",
			markdown: "| Name | Price |\n| --- | --- |\n| a\\|b | 1 |\n| c |  |",
			text:     "Name | Price\na|b | 1\nc |",
		},
		{
			name:     "blockquote and rule",
			html:     "<blockquote><p>Quoted</p><p>Twice</p></blockquote><hr><div>After</div>",
			markdown: "> Quoted\n>\n> Twice\n\n---\n\nAfter",
			text:     "Quoted\n\n  Twice\n\nAfter",
		},
		{
			name:     "line breaks",
			html:     "<p>a<br>b</p><div>c</div><div>d</div>",
			markdown: "a\nb\n\nc\nd",
			text:     "a\nb\n\nc\nd",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, md := range []bool{true, false} {
				got, err := htmlToText(strings.NewReader(tt.html), base, md)
				if err != nil {
					t.Fatal(err)
				}
				want := tt.text
				if md {
					want = tt.markdown
				}
				if got != want {
					t.Errorf("markdown=%v:\ngot  %q\nwant %q", md, got, want)
				}
			}
		})
	}
}
