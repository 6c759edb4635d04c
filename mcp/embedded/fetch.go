package embedded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"golang.org/x/net/html/charset"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
)

// Defaults and bounds of the fetch template.
const (
	defaultFetchUserAgent = "aiproxy-fetch/1.0 (+https://github.com/aiproxy/aiproxy)"
	defaultFetchMaxBytes  = 5 << 20
	defaultFetchTimeout   = 20 * time.Second
	maxFetchRedirects     = 5
	defaultFetchLength    = 5000
	maxFetchLength        = 1_000_000
)

var (
	errTooManyRedirects = errors.New("embedded: fetch: more than 5 redirects")
	errRedirectScheme   = errors.New("embedded: fetch: a redirect to a scheme other than http or https")
)

func fetchTemplate() template {
	return template{
		MCPTemplate: aiproxy.MCPTemplate{
			Name: "fetch",
			Description: "Fetches a web page over HTTP(S) and returns it as markdown, plain text or raw, " +
				"page by page for long ones. Internal addresses are refused unless the server allows private networks.",
			Fields: []aiproxy.MCPTemplateField{
				{Name: "user_agent", Description: "The User-Agent header of requests.", Example: defaultFetchUserAgent},
				{Name: "max_bytes", Description: "The most bytes of a response read (default 5242880, 5 MiB); a larger page is refused.",
					Example: "5242880", Pattern: `[1-9][0-9]{0,9}`},
				{Name: "timeout_seconds", Description: "How long a fetch may take, redirects included (default 20).",
					Example: "20", Pattern: `[1-9][0-9]{0,3}`},
			},
		},
		build: buildFetch,
	}
}

// fetcher is the fetch server's tool.
type fetcher struct {
	client    *http.Client
	userAgent string
	maxBytes  int64
	timeout   time.Duration
}

func buildFetch(values map[string]string, cfg *Config) (*Server, error) {
	f := &fetcher{userAgent: defaultFetchUserAgent, maxBytes: defaultFetchMaxBytes, timeout: defaultFetchTimeout}
	if v := values["user_agent"]; v != "" {
		f.userAgent = v
	}
	if v := values["max_bytes"]; v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return nil, aiproxy.FieldErrorf("max_bytes", "max_bytes must be a positive number of bytes")
		}
		f.maxBytes = n
	}
	if v := values["timeout_seconds"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return nil, aiproxy.FieldErrorf("timeout_seconds", "timeout_seconds must be a positive number of seconds")
		}
		f.timeout = time.Duration(n) * time.Second
	}
	newClient := cfg.NewClient
	if newClient == nil {
		newClient = relay.NewOutboundClient
	}
	c := *newClient(cfg.AllowPrivateNetwork, f.timeout) // a copy, to set its redirect policy
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > maxFetchRedirects {
			return errTooManyRedirects
		}
		if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
			return errRedirectScheme
		}
		return nil // the dialer checks the address of each
	}
	f.client = &c

	s := newServer()
	s.add(mcpgo.NewTool("fetch",
		mcpgo.WithDescription("Fetches a URL from the internet and returns its content, HTML made readable as markdown (or plain text). "+
			"Long content comes in pages: call again with start_index to read on."),
		mcpgo.WithString("url", mcpgo.Required(), mcpgo.Description("The http or https URL to fetch.")),
		mcpgo.WithString("format", mcpgo.Enum("markdown", "text", "raw"), mcpgo.DefaultString("markdown"),
			mcpgo.Description("markdown: HTML converted to markdown; text: to plain text; raw: the content as received.")),
		mcpgo.WithNumber("max_length", mcpgo.DefaultNumber(defaultFetchLength), mcpgo.Min(1), mcpgo.Max(maxFetchLength),
			mcpgo.Description("The most characters to return.")),
		mcpgo.WithNumber("start_index", mcpgo.DefaultNumber(0), mcpgo.Min(0),
			mcpgo.Description("The character to start at, to read on from where a previous call stopped.")),
		readOnly(true),
	), f.fetch)
	return s, nil
}

func (f *fetcher) fetch(ctx context.Context, _ Caller, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	raw := strings.TrimSpace(req.GetString("url", ""))
	u, err := url.Parse(raw)
	if raw == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return toolError("url must be an absolute http or https URL"), nil
	}
	format := req.GetString("format", "markdown")
	if format != "markdown" && format != "text" && format != "raw" {
		return toolError("format must be markdown, text or raw"), nil
	}
	maxLen, start := req.GetInt("max_length", defaultFetchLength), req.GetInt("start_index", 0)
	if maxLen < 1 || maxLen > maxFetchLength {
		return toolError("max_length must be between 1 and %d", maxFetchLength), nil
	}
	if start < 0 {
		return toolError("start_index must not be negative"), nil
	}

	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return toolError("url must be an absolute http or https URL"), nil
	}
	hreq.Header.Set("User-Agent", f.userAgent)
	hreq.Header.Set("Accept", "text/html,application/xhtml+xml,text/plain;q=0.9,application/json;q=0.8,*/*;q=0.5")
	resp, err := f.client.Do(hreq)
	if err != nil {
		return toolError("%s", f.describe(u, err)), nil
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return toolError("fetch %s: the server answered %s", u.Redacted(), resp.Status), nil
	}
	if resp.ContentLength > f.maxBytes {
		return toolError("fetch %s: the content (%d bytes) is larger than the limit of %d bytes", u.Redacted(), resp.ContentLength, f.maxBytes), nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.maxBytes+1))
	if err != nil {
		return toolError("%s", f.describe(u, err)), nil
	}
	if int64(len(body)) > f.maxBytes {
		return toolError("fetch %s: the content is larger than the limit of %d bytes", u.Redacted(), f.maxBytes), nil
	}
	ctype := resp.Header.Get("Content-Type")
	if ctype == "" {
		ctype = http.DetectContentType(body)
	}
	kind := contentKind(ctype)
	if kind == "" {
		return toolError("fetch %s: the content is %s, not text", u.Redacted(), ctype), nil
	}
	text, err := decode(body, ctype)
	if err != nil {
		return toolError("fetch %s: cannot decode the content: %v", u.Redacted(), err), nil
	}
	if kind == "html" && format != "raw" {
		text, err = htmlToText(strings.NewReader(text), resp.Request.URL, format == "markdown")
		if err != nil {
			return toolError("fetch %s: cannot read the HTML: %v", u.Redacted(), err), nil
		}
	}
	return page(text, start, maxLen), nil
}

// describe says why fetching u failed, for the caller.
func (f *fetcher) describe(u *url.URL, err error) string {
	var nerr net.Error
	switch {
	case errors.Is(err, relay.ErrPrivateAddress):
		return fmt.Sprintf("fetch %s: refused: %v", u.Redacted(), relay.ErrPrivateAddress)
	case errors.Is(err, errTooManyRedirects):
		return fmt.Sprintf("fetch %s: refused: more than %d redirects", u.Redacted(), maxFetchRedirects)
	case errors.Is(err, errRedirectScheme):
		return fmt.Sprintf("fetch %s: refused: a redirect to a scheme other than http or https", u.Redacted())
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &nerr) && nerr.Timeout():
		return fmt.Sprintf("fetch %s: no answer within %s", u.Redacted(), f.timeout)
	case errors.Is(err, context.Canceled):
		return fmt.Sprintf("fetch %s: cancelled", u.Redacted())
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	return fmt.Sprintf("fetch %s: %v", u.Redacted(), err)
}

// contentKind returns "html" or "text" for a textual media type, "" for
// anything else.
func contentKind(ctype string) string {
	mt, _, err := mime.ParseMediaType(ctype)
	if err != nil {
		return ""
	}
	switch {
	case mt == "text/html" || mt == "application/xhtml+xml":
		return "html"
	case strings.HasPrefix(mt, "text/"), strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"):
		return "text"
	}
	switch mt {
	case "application/json", "application/xml", "application/javascript", "application/ecmascript",
		"application/x-javascript", "application/yaml", "application/x-yaml", "application/toml",
		"application/x-ndjson", "application/sql", "application/graphql":
		return "text"
	}
	return ""
}

// decode returns body as UTF-8, from the charset its content type or its
// content declares.
func decode(body []byte, ctype string) (string, error) {
	if utf8.Valid(body) && !strings.Contains(strings.ToLower(ctype), "charset=") {
		return string(body), nil
	}
	r, err := charset.NewReader(bytes.NewReader(body), ctype)
	if err != nil {
		return strings.ToValidUTF8(string(body), "\uFFFD"), nil
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	return strings.ToValidUTF8(string(b), "\uFFFD"), nil
}

// page returns the n characters of text from start, saying how to read
// on when more is left.
func page(text string, start, n int) *mcpgo.CallToolResult {
	rs := []rune(text)
	total := len(rs)
	if total == 0 {
		return mcpgo.NewToolResultText("(the page has no text content)")
	}
	if start >= total {
		return toolError("start_index %d is past the end of the content (%d characters)", start, total)
	}
	end := min(start+n, total)
	out := string(rs[start:end])
	if end < total {
		out += fmt.Sprintf("\n\n[Content truncated: characters %d to %d of %d shown. Call fetch again with start_index=%d to read on.]",
			start, end, total, end)
	}
	return mcpgo.NewToolResultText(out)
}
