package embedded

import (
	"io"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// htmlToText converts the HTML document read from r to readable markdown
// (md) or plain text: headings, paragraphs, links and images (resolved
// against base, nil for none), lists, quotes, code and tables are kept
// roughly; scripts, styles, forms' controls and the head are dropped.
func htmlToText(r io.Reader, base *url.URL, md bool) (string, error) {
	doc, err := html.Parse(r)
	if err != nil {
		return "", err
	}
	c := &converter{md: md, base: base}
	c.walk(doc)
	return strings.TrimSpace(c.b.String()), nil
}

// converter writes the text of a document. Line breaks and spaces between
// pieces of text are owed (nl, space) and written only before the next
// piece, so that empty elements leave no blank lines.
type converter struct {
	md      bool
	base    *url.URL
	b       strings.Builder
	started bool     // something was written
	nl      int      // line breaks owed: 1 ends a line, 2 leaves a blank one
	space   bool     // a space owed
	prefix  []string // what starts each line: "> " in quotes, indentation in list items
	marker  string   // a list item's marker, owed at its first line in place of its indentation
}

// skipped are the elements whose content is not text to read.
var skipped = map[atom.Atom]bool{
	atom.Head: true, atom.Script: true, atom.Style: true, atom.Noscript: true, atom.Template: true,
	atom.Svg: true, atom.Math: true, atom.Iframe: true, atom.Object: true, atom.Embed: true, atom.Canvas: true,
	atom.Select: true, atom.Input: true, atom.Textarea: true, atom.Button: true, atom.Audio: true, atom.Video: true,
}

// blocks are the elements that stand apart from their neighbours, with
// the line breaks around them.
var blocks = map[atom.Atom]int{
	atom.P: 2, atom.Section: 2, atom.Article: 2, atom.Main: 2, atom.Header: 2, atom.Footer: 2, atom.Nav: 2,
	atom.Aside: 2, atom.Figure: 2, atom.Address: 2, atom.Details: 2, atom.Form: 2, atom.Fieldset: 2, atom.Dl: 2,
	atom.Div: 1, atom.Figcaption: 1, atom.Summary: 1, atom.Dt: 1, atom.Dd: 1, atom.Caption: 1, atom.Legend: 1, atom.Label: 1,
}

// block owes n line breaks (unless nothing was written yet).
func (c *converter) block(n int) {
	if c.started {
		c.nl = max(c.nl, n)
	}
	c.space = false
}

// startLine writes what starts a line: the prefixes, the owed marker in
// place of the last one.
func (c *converter) startLine() {
	for i, p := range c.prefix {
		if i == len(c.prefix)-1 && c.marker != "" {
			p, c.marker = c.marker, ""
		}
		c.b.WriteString(p)
	}
}

// write writes s, a piece of text, after what is owed.
func (c *converter) write(s string) {
	if s != "" {
		c.flush()
		c.b.WriteString(s)
	}
}

// line writes s, possibly empty, on a line of its own.
func (c *converter) line(s string) {
	if c.started {
		c.nl = max(c.nl, 1)
	}
	c.space = false
	c.flush()
	c.b.WriteString(s)
}

// flush writes what is owed before a piece of text: the line breaks and
// the start of the new line, or a space.
func (c *converter) flush() {
	switch {
	case !c.started:
		c.startLine()
	case c.nl > 0:
		quote := strings.TrimRight(strings.Join(c.prefix, ""), " ")
		for i := range c.nl {
			c.b.WriteByte('\n')
			if i < c.nl-1 {
				c.b.WriteString(quote)
			}
		}
		c.startLine()
	case c.space:
		c.b.WriteByte(' ')
	}
	c.started, c.nl, c.space = true, 0, false
}

// text writes the text of a text node, its runs of white space made one
// space.
func (c *converter) text(s string) {
	words := strings.Fields(s)
	if len(words) == 0 {
		if s != "" {
			c.space = true
		}
		return
	}
	if startsSpace(s) {
		c.space = true
	}
	c.write(strings.Join(words, " "))
	c.space = endsSpace(s)
}

func startsSpace(s string) bool { return s != "" && strings.ContainsAny(s[:1], " \t\r\n\f") }
func endsSpace(s string) bool   { return s != "" && strings.ContainsAny(s[len(s)-1:], " \t\r\n\f") }

// inline returns the text of n's children on one line.
func (c *converter) inline(n *html.Node) string {
	sub := &converter{md: c.md, base: c.base}
	sub.children(n)
	return strings.Join(strings.Fields(sub.b.String()), " ")
}

// wrap writes the inline text of n between left and right (markdown
// emphasis, code, links), keeping the spaces around it.
func (c *converter) wrap(n *html.Node, left, right string) {
	raw := textContent(n)
	s := c.inline(n)
	if s == "" {
		if raw != "" {
			c.space = true
		}
		return
	}
	if startsSpace(raw) {
		c.space = true
	}
	c.write(left + s + right)
	c.space = endsSpace(raw)
}

// textContent returns the text of n and its descendants, as is.
func textContent(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		if n.Type == html.ElementNode && skipped[n.DataAtom] {
			return
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch)
		}
	}
	walk(n)
	return b.String()
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == key {
			return a.Val
		}
	}
	return ""
}

// resolve returns ref resolved against the base, "" for what a reader
// cannot follow (a script, inline data).
func (c *converter) resolve(ref string) string {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return ""
	}
	u, err := url.Parse(ref)
	if err != nil {
		return ""
	}
	if c.base != nil {
		u = c.base.ResolveReference(u)
	}
	switch strings.ToLower(u.Scheme) {
	case "javascript", "data", "vbscript":
		return ""
	}
	return u.String()
}

func (c *converter) children(n *html.Node) {
	for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
		c.walk(ch)
	}
}

func (c *converter) walk(n *html.Node) {
	switch n.Type {
	case html.TextNode:
		c.text(n.Data)
		return
	case html.DocumentNode:
		c.children(n)
		return
	case html.ElementNode:
	default:
		return
	}
	if skipped[n.DataAtom] {
		return
	}
	switch a := n.DataAtom; a {
	case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
		c.block(2)
		if s := c.inline(n); s != "" {
			if c.md {
				s = strings.Repeat("#", int(a.String()[1]-'0')) + " " + s
			}
			c.write(s)
		}
		c.block(2)
	case atom.Br:
		c.block(1)
	case atom.Hr:
		c.block(2)
		if c.md {
			c.write("---")
		}
		c.block(2)
	case atom.A:
		href := c.resolve(attr(n, "href"))
		if !c.md || href == "" || strings.HasPrefix(attr(n, "href"), "#") {
			c.children(n)
			return
		}
		c.wrap(n, "[", "]("+href+")")
	case atom.Img:
		alt := strings.Join(strings.Fields(attr(n, "alt")), " ")
		if src := c.resolve(attr(n, "src")); c.md && src != "" {
			c.write("![" + alt + "](" + src + ")")
		} else if alt != "" {
			c.write(alt)
		}
	case atom.Strong, atom.B:
		c.emphasis(n, "**")
	case atom.Em, atom.I:
		c.emphasis(n, "*")
	case atom.Code, atom.Kbd, atom.Samp, atom.Tt:
		c.emphasis(n, "`")
	case atom.Pre:
		c.pre(n)
	case atom.Ul, atom.Ol:
		c.list(n)
	case atom.Li: // outside a list
		c.item(n, "- ")
	case atom.Blockquote:
		c.block(2)
		p := "  "
		if c.md {
			p = "> "
		}
		c.prefix = append(c.prefix, p)
		c.children(n)
		c.prefix = c.prefix[:len(c.prefix)-1]
		c.block(2)
	case atom.Table:
		c.table(n)
	default:
		if nl, ok := blocks[a]; ok {
			c.block(nl)
			c.children(n)
			c.block(nl)
			return
		}
		c.children(n)
	}
}

// emphasis writes n between mark, in markdown; its text alone otherwise.
func (c *converter) emphasis(n *html.Node, mark string) {
	if !c.md {
		c.children(n)
		return
	}
	c.wrap(n, mark, mark)
}

func (c *converter) pre(n *html.Node) {
	c.block(2)
	body := strings.Trim(strings.ReplaceAll(textContent(n), "\r\n", "\n"), "\n")
	if c.md {
		lang := ""
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			if ch.DataAtom == atom.Code {
				for _, class := range strings.Fields(attr(ch, "class")) {
					if l, ok := strings.CutPrefix(class, "language-"); ok {
						lang = l
					}
				}
			}
		}
		c.line("```" + lang)
	}
	for _, l := range strings.Split(body, "\n") {
		c.line(strings.TrimRight(l, " \t"))
	}
	if c.md {
		c.line("```")
	}
	c.block(2)
}

func (c *converter) list(n *html.Node) {
	nested := len(c.prefix) > 0 && c.prefix[len(c.prefix)-1] != "> "
	if nested {
		c.block(1)
	} else {
		c.block(2)
	}
	i := 1
	if s, err := strconv.Atoi(attr(n, "start")); err == nil {
		i = s
	}
	for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
		if ch.Type != html.ElementNode || ch.DataAtom != atom.Li {
			c.walk(ch)
			continue
		}
		marker := "- "
		if n.DataAtom == atom.Ol {
			marker = strconv.Itoa(i) + ". "
			i++
		}
		c.item(ch, marker)
	}
	if nested {
		c.block(1)
	} else {
		c.block(2)
	}
}

// item writes a list item: marker on its first line, its other lines
// indented under the text.
func (c *converter) item(n *html.Node, marker string) {
	c.block(1)
	c.prefix = append(c.prefix, strings.Repeat(" ", len(marker)))
	c.marker = marker
	c.children(n)
	c.marker = ""
	c.prefix = c.prefix[:len(c.prefix)-1]
	c.block(1)
}

// table writes a table's rows, one line each: in markdown, a pipe table
// whose first row is the header.
func (c *converter) table(n *html.Node) {
	var rows [][]string
	var collect func(*html.Node)
	collect = func(n *html.Node) {
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			if ch.Type != html.ElementNode {
				continue
			}
			switch ch.DataAtom {
			case atom.Tr:
				var cells []string
				for cell := ch.FirstChild; cell != nil; cell = cell.NextSibling {
					if cell.Type == html.ElementNode && (cell.DataAtom == atom.Td || cell.DataAtom == atom.Th) {
						s := c.inline(cell)
						if c.md {
							s = strings.ReplaceAll(s, "|", `\|`)
						}
						cells = append(cells, s)
					}
				}
				if len(cells) > 0 {
					rows = append(rows, cells)
				}
			case atom.Thead, atom.Tbody, atom.Tfoot:
				collect(ch)
			case atom.Caption:
				if s := c.inline(ch); s != "" {
					c.block(2)
					c.write(s)
				}
			}
		}
	}
	collect(n)
	if len(rows) == 0 {
		return
	}
	c.block(2)
	width := 0
	for _, r := range rows {
		width = max(width, len(r))
	}
	for i, r := range rows {
		for len(r) < width {
			r = append(r, "")
		}
		if c.md {
			c.line("| " + strings.Join(r, " | ") + " |")
			if i == 0 {
				c.line("|" + strings.Repeat(" --- |", width))
			}
		} else {
			c.line(strings.Join(r, " | "))
		}
	}
	c.block(2)
}
