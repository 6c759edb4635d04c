package openapi2mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/aiproxy/aiproxy"
)

// Call calls the tool name with args. A call that ran and failed (an
// argument missing or not matching its schema, a non-2xx answer) is a
// result with IsError set and a nil error; the errors are ENOTFOUND for
// an unknown tool, EUPSTREAM when the API could not be reached (its
// message says why: a private address refused, a DNS failure...) and
// ETIMEOUT when it did not answer within the time limit. No result or
// error holds a credential.
func (t *Toolset) Call(ctx context.Context, name string, args map[string]any) (*mcp.CallToolResult, error) {
	o := t.byKey[name]
	if o == nil {
		return nil, aiproxy.Errorf(aiproxy.ENOTFOUND, "openapi2mcp: no tool %q", name)
	}
	opts := visitOptions
	if t.spec.doc.IsOpenAPI31OrLater() {
		opts = visitOptions31
	}
	if err := o.validate(args, opts); err != nil {
		return mcp.NewToolResultError(t.redact(err.Error())), nil
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	req, err := t.request(ctx, o, args)
	if err != nil {
		return mcp.NewToolResultError(t.redact(err.Error())), nil
	}
	if err := t.authorize(ctx, o, req); err != nil {
		return nil, err
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, t.transportError(ctx, name, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, t.max+1))
	if err != nil {
		return nil, t.transportError(ctx, name, err)
	}
	truncated := int64(len(data)) > t.max
	if truncated {
		data = data[:t.max]
	}
	text := t.redact(formatAnswer(resp, data, truncated, t.max))
	return &mcp.CallToolResult{
		Content: []mcp.Content{mcp.NewTextContent(text)},
		IsError: resp.StatusCode < 200 || resp.StatusCode > 299,
	}, nil
}

func (t *Toolset) transportError(ctx context.Context, tool string, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return aiproxy.Errorf(aiproxy.ETIMEOUT, "openapi2mcp: call %s: the API did not answer within %s", tool, t.timeout)
	}
	return aiproxy.Errorf(aiproxy.EUPSTREAM, "openapi2mcp: call %s: the API could not be reached: %s", tool, t.redact(transportMessage(err)))
}

// transportMessage returns err's message without the URL the client
// wraps it in (it may hold a credential in its query).
func transportMessage(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// redact replaces every credential and fixed header value in s.
func (t *Toolset) redact(s string) string {
	for _, v := range append(slices.Clone(t.secrets), t.tokens.values()...) {
		if len(v) < 3 {
			continue // too short to tell from ordinary text, and to guess
		}
		for _, form := range []string{v, url.QueryEscape(v), url.PathEscape(v)} {
			s = strings.ReplaceAll(s, form, "[REDACTED]")
		}
	}
	return s
}

// redactURL returns raw without its user information and query.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	u.User, u.RawQuery = nil, ""
	return u.String()
}

// argError is a tool argument that is missing or does not match its
// schema.
type argError struct {
	arg string
	msg string
}

func (e *argError) Error() string { return fmt.Sprintf("invalid argument %q: %s", e.arg, e.msg) }

// visitOptions validate arguments as a request's, without the schema or
// value in messages; OpenAPI 3.1 documents use the JSON Schema 2020-12
// validator (for const, prefixItems and the like), whose messages
// cannot leave the value out: it is the caller's own argument.
var (
	visitOptions   = []openapi3.SchemaValidationOption{openapi3.VisitAsRequest(), openapi3.DisableSchemaErrorDetails()}
	visitOptions31 = []openapi3.SchemaValidationOption{openapi3.VisitAsRequest(), openapi3.EnableJSONSchema2020()}
)

// validate checks args against the operation's parameter and body
// schemas, naming the first argument at fault.
func (o *operation) validate(args map[string]any, opts []openapi3.SchemaValidationOption) error {
	known := map[string]bool{}
	for _, p := range o.params {
		known[p.key] = true
		v, ok := args[p.key]
		if !ok || v == nil {
			if p.p.Required || p.p.In == "path" {
				return &argError{p.key, fmt.Sprintf("the %s parameter %q is required", p.p.In, p.p.Name)}
			}
			continue
		}
		if err := visit(p.key, p.schema, v, opts); err != nil {
			return err
		}
	}
	if o.body != nil {
		known[bodyKey] = true
		v, ok := args[bodyKey]
		if !ok || v == nil {
			if o.body.required {
				return &argError{bodyKey, "the request body is required"}
			}
		} else if err := visit(bodyKey, o.body.schema, v, opts); err != nil {
			return err
		}
	}
	for _, k := range sortedKeys(args) {
		if !known[k] {
			return &argError{k, "unknown argument"}
		}
	}
	return nil
}

// locationPrefix is how the JSON Schema 2020-12 validator starts its
// messages; the argument's name says it already.
var locationPrefix = regexp.MustCompile(`^(?:error at "[^"]*": )?(?:at '[^']*': )?`)

func visit(key string, ref *openapi3.SchemaRef, v any, opts []openapi3.SchemaValidationOption) error {
	if ref == nil || ref.Value == nil {
		return nil
	}
	err := ref.Value.VisitJSON(v, opts...)
	if err == nil {
		return nil
	}
	var me openapi3.MultiError
	if errors.As(err, &me) && len(me) > 0 {
		err = me[0]
	}
	var se *openapi3.SchemaError
	if !errors.As(err, &se) {
		return &argError{key, err.Error()}
	}
	arg := key
	for _, p := range se.JSONPointer() {
		arg += "." + p
	}
	msg := locationPrefix.ReplaceAllString(se.Reason, "")
	if msg == "" {
		msg = "does not match the schema"
	}
	return &argError{arg, msg}
}

// request builds the HTTP request of a call from its arguments only.
func (t *Toolset) request(ctx context.Context, o *operation, args map[string]any) (*http.Request, error) {
	path := o.path
	query := t.base.Query()
	header := http.Header{}
	var cookies []*http.Cookie
	for _, p := range o.params {
		v, ok := args[p.key]
		if !ok || v == nil {
			continue
		}
		switch p.p.In {
		case "path":
			seg, err := pathValue(p, v)
			if err != nil {
				return nil, err
			}
			path = strings.ReplaceAll(path, "{"+p.p.Name+"}", seg)
		case "query":
			if err := queryValue(query, p, v); err != nil {
				return nil, err
			}
		case "header":
			s, err := simpleValue(p, v)
			if err != nil {
				return nil, err
			}
			if err := checkHeaderValue(p.key, s); err != nil {
				return nil, err
			}
			header.Set(p.p.Name, s)
		case "cookie":
			s, err := simpleValue(p, v)
			if err != nil {
				return nil, err
			}
			if strings.ContainsAny(s, "\r\n\x00;\",\\ ") {
				return nil, &argError{p.key, "a cookie value must not contain spaces, quotes, commas, semicolons, backslashes or line breaks"}
			}
			cookies = append(cookies, &http.Cookie{Name: p.p.Name, Value: s})
		}
	}

	u, err := t.target(path)
	if err != nil {
		return nil, err
	}
	u.RawQuery = query.Encode()

	var rd io.Reader
	contentType := ""
	if o.body != nil {
		if v, ok := args[bodyKey]; ok && v != nil {
			data, ct, err := encodeBody(o.body, v)
			if err != nil {
				return nil, err
			}
			rd, contentType = bytes.NewReader(data), ct
		}
	}
	req, err := http.NewRequestWithContext(ctx, o.method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("openapi2mcp: build request: %w", err)
	}
	for k, vs := range t.headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json, */*;q=0.8")
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return req, nil
}

// target returns the URL of an expanded path (its parameters escaped)
// and checks it stayed on the base URL's scheme, host, port and path.
func (t *Toolset) target(path string) (*url.URL, error) {
	escaped := t.base.EscapedPath() + path
	unescaped, err := url.PathUnescape(escaped)
	if err != nil {
		return nil, fmt.Errorf("openapi2mcp: build request: bad path: %w", err)
	}
	u := &url.URL{Scheme: t.base.Scheme, Host: t.base.Host, Path: unescaped, RawPath: escaped}
	// Read it back as the client will send it.
	back, err := url.Parse(u.String())
	if err != nil || back.Scheme != t.base.Scheme || back.Host != t.base.Host || back.User != nil ||
		!strings.HasPrefix(back.EscapedPath(), t.base.EscapedPath()+"/") && back.EscapedPath() != t.base.EscapedPath() {
		return nil, errors.New("openapi2mcp: build request: the arguments would leave the API's base URL")
	}
	return back, nil
}

// pathValue returns the escaped value of a path parameter (style
// simple): a segment that cannot leave its place in the path.
func pathValue(p *param, v any) (string, error) {
	parts, err := scalars(p, v)
	if err != nil {
		return "", err
	}
	s := strings.Join(parts, ",")
	switch s {
	case "":
		return "", &argError{p.key, "a path parameter must not be empty"}
	case ".", "..":
		return "", &argError{p.key, "a path parameter must not be . or .."}
	}
	return url.PathEscape(s), nil
}

// queryValue adds a query parameter to q following its style (form by
// default, exploded; spaceDelimited, pipeDelimited, deepObject).
func queryValue(q url.Values, p *param, v any) error {
	explode := p.p.Explode == nil || *p.p.Explode
	if p.p.Style == "spaceDelimited" || p.p.Style == "pipeDelimited" {
		explode = p.p.Explode != nil && *p.p.Explode
	}
	if p.asJSON {
		data, err := json.Marshal(v)
		if err != nil {
			return &argError{p.key, err.Error()}
		}
		q.Add(p.p.Name, string(data))
		return nil
	}
	switch x := v.(type) {
	case []any:
		parts, err := scalars(p, x)
		if err != nil {
			return err
		}
		sep := ","
		switch p.p.Style {
		case "spaceDelimited":
			sep = " "
		case "pipeDelimited":
			sep = "|"
		}
		if explode {
			for _, s := range parts {
				q.Add(p.p.Name, s)
			}
		} else {
			q.Add(p.p.Name, strings.Join(parts, sep))
		}
	case map[string]any:
		keys := sortedKeys(x)
		switch {
		case p.p.Style == "deepObject":
			for _, k := range keys {
				s, err := scalar(p.key+"."+k, x[k])
				if err != nil {
					return err
				}
				q.Add(p.p.Name+"["+k+"]", s)
			}
		case explode:
			for _, k := range keys {
				s, err := scalar(p.key+"."+k, x[k])
				if err != nil {
					return err
				}
				q.Add(k, s)
			}
		default:
			parts, err := scalars(p, x)
			if err != nil {
				return err
			}
			q.Add(p.p.Name, strings.Join(parts, ","))
		}
	default:
		s, err := scalar(p.key, v)
		if err != nil {
			return err
		}
		q.Add(p.p.Name, s)
	}
	return nil
}

// simpleValue is a header or cookie value (style simple or form, not
// exploded): arrays and objects comma-separated.
func simpleValue(p *param, v any) (string, error) {
	if p.asJSON {
		data, err := json.Marshal(v)
		if err != nil {
			return "", &argError{p.key, err.Error()}
		}
		return string(data), nil
	}
	parts, err := scalars(p, v)
	return strings.Join(parts, ","), err
}

// scalars flattens v: a scalar, an array of scalars, or an object of
// scalars (as key,value pairs).
func scalars(p *param, v any) ([]string, error) {
	if p.asJSON {
		data, err := json.Marshal(v)
		if err != nil {
			return nil, &argError{p.key, err.Error()}
		}
		return []string{string(data)}, nil
	}
	switch x := v.(type) {
	case []any:
		out := make([]string, 0, len(x))
		for i, e := range x {
			s, err := scalar(p.key+"."+strconv.Itoa(i), e)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	case map[string]any:
		var out []string
		for _, k := range sortedKeys(x) {
			s, err := scalar(p.key+"."+k, x[k])
			if err != nil {
				return nil, err
			}
			out = append(out, k, s)
		}
		return out, nil
	}
	s, err := scalar(p.key, v)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

func scalar(key string, v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case json.Number:
		return x.String(), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case nil:
		return "", nil
	}
	return "", &argError{key, "a nested object or array cannot be serialized here"}
}

func checkHeaderValue(key, s string) error {
	if strings.ContainsAny(s, "\r\n\x00") {
		return &argError{key, "a header value must not contain line breaks or NUL"}
	}
	return nil
}

// encodeBody encodes the body argument in the operation's media type.
func encodeBody(b *body, v any) ([]byte, string, error) {
	switch b.kind {
	case bodyJSON:
		data, err := json.Marshal(v)
		if err != nil {
			return nil, "", &argError{bodyKey, err.Error()}
		}
		return data, b.mediaType, nil
	case bodyRaw:
		s, ok := v.(string)
		if !ok {
			data, err := json.Marshal(v)
			if err != nil {
				return nil, "", &argError{bodyKey, err.Error()}
			}
			s = string(data)
		}
		return []byte(s), b.mediaType, nil
	}
	fields, ok := v.(map[string]any)
	if !ok {
		return nil, "", &argError{bodyKey, "a form body must be an object"}
	}
	if b.kind == bodyForm {
		form := url.Values{}
		for _, k := range sortedKeys(fields) {
			vals, err := formValues(bodyKey+"."+k, fields[k])
			if err != nil {
				return nil, "", err
			}
			form[k] = vals
		}
		return []byte(form.Encode()), b.mediaType, nil
	}
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, k := range sortedKeys(fields) {
		vals, err := formValues(bodyKey+"."+k, fields[k])
		if err != nil {
			return nil, "", err
		}
		file := b.isFile(k)
		ct := ""
		if e := b.encoding[k]; e != nil && e.ContentType != "" {
			ct = strings.TrimSpace(strings.Split(e.ContentType, ",")[0])
		}
		for _, val := range vals {
			if !file && ct == "" {
				if err := w.WriteField(k, val); err != nil {
					return nil, "", fmt.Errorf("openapi2mcp: encode multipart body: %w", err)
				}
				continue
			}
			h := make(map[string][]string)
			disp := mime.FormatMediaType("form-data", map[string]string{"name": k})
			if file {
				disp = mime.FormatMediaType("form-data", map[string]string{"name": k, "filename": k})
				if ct == "" {
					ct = "application/octet-stream"
				}
			}
			h["Content-Disposition"] = []string{disp}
			h["Content-Type"] = []string{ct}
			pw, err := w.CreatePart(h)
			if err != nil {
				return nil, "", fmt.Errorf("openapi2mcp: encode multipart body: %w", err)
			}
			if _, err := io.WriteString(pw, val); err != nil {
				return nil, "", fmt.Errorf("openapi2mcp: encode multipart body: %w", err)
			}
		}
	}
	if err := w.Close(); err != nil {
		return nil, "", fmt.Errorf("openapi2mcp: encode multipart body: %w", err)
	}
	return buf.Bytes(), w.FormDataContentType(), nil
}

// isFile reports whether the multipart field name is a file: a string of
// format binary or base64, or with a contentMediaType.
func (b *body) isFile(name string) bool {
	if b.schema == nil || b.schema.Value == nil {
		return false
	}
	p := b.schema.Value.Properties[name]
	if p == nil || p.Value == nil {
		return false
	}
	s := p.Value
	if s.Items != nil && s.Type.Is("array") {
		s = s.Items.Value
	}
	return s != nil && (s.Format == "binary" || s.Format == "base64" || s.ContentMediaType != "")
}

// formValues are the values of one form field: an array gives one value
// per element, an object its JSON text.
func formValues(key string, v any) ([]string, error) {
	switch x := v.(type) {
	case []any:
		out := make([]string, 0, len(x))
		for i, e := range x {
			if _, nested := e.(map[string]any); nested {
				data, _ := json.Marshal(e)
				out = append(out, string(data))
				continue
			}
			s, err := scalar(key+"."+strconv.Itoa(i), e)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	case map[string]any:
		data, err := json.Marshal(x)
		if err != nil {
			return nil, &argError{key, err.Error()}
		}
		return []string{string(data)}, nil
	}
	s, err := scalar(key, v)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

// formatAnswer writes the status line and the body: JSON pretty-printed,
// other text as is, anything else described by its type and size.
func formatAnswer(resp *http.Response, data []byte, truncated bool, max int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %s\n", resp.Status)
	ct := resp.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	if len(data) > 0 {
		b.WriteByte('\n')
		switch {
		case isJSON(mt) && !truncated && json.Valid(data):
			var out bytes.Buffer
			_ = json.Indent(&out, data, "", "  ")
			b.Write(out.Bytes())
		case isText(mt, data):
			b.Write(bytes.ToValidUTF8(data, []byte("\uFFFD")))
		default:
			if mt == "" {
				mt = "application/octet-stream"
			}
			size := strconv.Itoa(len(data))
			if truncated {
				size = "more than " + size
			}
			fmt.Fprintf(&b, "(binary content: %s, %s bytes)", mt, size)
			truncated = false
		}
	}
	if truncated {
		fmt.Fprintf(&b, "\n\n[the answer was truncated at %d bytes]", max)
	}
	return b.String()
}

var textTypes = []string{"application/xml", "application/javascript", "application/x-www-form-urlencoded", "application/yaml", "application/x-yaml", "application/graphql", "application/x-ndjson"}

func isText(mt string, data []byte) bool {
	switch {
	case strings.HasPrefix(mt, "text/"), isJSON(mt), strings.HasSuffix(mt, "+xml"), slices.Contains(textTypes, mt):
		return true
	case mt == "":
		return utf8.Valid(data) && !bytes.ContainsRune(data, 0)
	}
	return false
}
