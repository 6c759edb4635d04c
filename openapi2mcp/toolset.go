package openapi2mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/aiproxy/aiproxy"
)

// Defaults of Options.
const (
	DefaultTimeout          = 30 * time.Second
	DefaultMaxResponseBytes = 1 << 20
)

// maxToolName is the longest tool name MCP allows.
const maxToolName = 128

// Options configures a Toolset.
type Options struct {
	// BaseURL is where every call goes: an absolute http or https URL,
	// one of Spec.Servers or an override. "" means the spec's first
	// server (which must then be absolute). No argument can change its
	// scheme, host or port or leave its path.
	BaseURL string
	// Credentials are the values of the spec's security schemes, by
	// scheme name (see SchemeInfo.Format); a scheme without one is not
	// applied. They never appear in a tool's schema or in a result.
	Credentials map[string]string
	// Client sends the calls (and OAuth2 token requests). nil means
	// http.DefaultClient, which is fine for the command line but not for
	// the gateway: it must pass its outbound client, which refuses
	// private addresses. Redirects to another scheme, host or port are
	// not followed (the redirect itself is the answer).
	Client *http.Client
	// Timeout bounds one call, the answer read included (0: 30s);
	// MaxResponseBytes bounds the answer read (0: 1 MiB; more is cut off
	// and the result says so).
	Timeout          time.Duration
	MaxResponseBytes int64
	// Headers are sent with every call (the CLI's --header); their
	// values are treated as secrets, like Credentials.
	Headers http.Header
}

// Toolset is the tools of one spec bound to one base URL and set of
// credentials: one tool per operation. It is safe for concurrent use.
type Toolset struct {
	spec    *Spec
	base    *url.URL
	client  *http.Client
	timeout time.Duration
	max     int64
	headers http.Header
	creds   map[string]string
	schemes map[string]*openapi3.SecurityScheme
	secrets []string // credential and fixed header values, to redact
	tokens  *tokenCache

	ops   []*operation
	byKey map[string]*operation
}

// operation is one operation of the spec, as a tool.
type operation struct {
	tool     mcp.Tool
	schema   json.RawMessage
	method   string
	path     string // the path template of the spec
	params   []*param
	body     *body
	security openapi3.SecurityRequirements // the operation's own, else the document's
}

// param is one parameter of an operation and the argument it is read
// from.
type param struct {
	key string // the argument's name
	p   *openapi3.Parameter
	// schema is the parameter's schema, or that of its content; asJSON
	// says the value is sent as JSON (a parameter with JSON content).
	schema *openapi3.SchemaRef
	asJSON bool
}

// body is the request body of an operation: its media type and schema.
type body struct {
	mediaType string
	kind      bodyKind
	schema    *openapi3.SchemaRef
	required  bool
	encoding  openapi3.Encodings
}

type bodyKind int

const (
	bodyJSON bodyKind = iota
	bodyForm
	bodyMultipart
	bodyRaw
)

// bodyKey is the argument that carries the request body.
const bodyKey = "body"

// New builds the toolset of s for o. Errors: EINVALID for a base URL
// that is missing, relative or not http(s).
func New(s *Spec, o Options) (*Toolset, error) {
	if s == nil {
		return nil, invalidf("openapi2mcp: new toolset: no spec")
	}
	raw := o.BaseURL
	if raw == "" {
		if servers := s.Servers(); len(servers) > 0 {
			raw = servers[0]
		}
	}
	if raw == "" {
		return nil, &aiproxy.Error{Code: aiproxy.EINVALID, Field: "baseURL", Message: "openapi2mcp: new toolset: the spec has no server: a base URL is needed"}
	}
	base, err := url.Parse(raw)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" || base.User != nil || base.Fragment != "" {
		return nil, &aiproxy.Error{Code: aiproxy.EINVALID, Field: "baseURL", Message: fmt.Sprintf("openapi2mcp: new toolset: the base URL %q must be an absolute http or https URL without user or fragment", redactURL(raw))}
	}
	base.Path = strings.TrimRight(base.Path, "/")
	base.RawPath = strings.TrimRight(base.RawPath, "/")

	t := &Toolset{
		spec:    s,
		base:    base,
		timeout: o.Timeout,
		max:     o.MaxResponseBytes,
		headers: o.Headers.Clone(),
		creds:   map[string]string{},
		schemes: map[string]*openapi3.SecurityScheme{},
		tokens:  &tokenCache{tokens: map[string]cachedToken{}},
		byKey:   map[string]*operation{},
	}
	if t.timeout <= 0 {
		t.timeout = DefaultTimeout
	}
	if t.max <= 0 {
		t.max = DefaultMaxResponseBytes
	}
	for name, v := range o.Credentials {
		if v != "" {
			t.creds[name] = v
			t.secrets = append(t.secrets, v, basicSecret(v))
			if user, pass, ok := strings.Cut(v, ":"); ok {
				t.secrets = append(t.secrets, user, pass)
			}
		}
	}
	for _, vs := range t.headers {
		t.secrets = append(t.secrets, vs...)
	}
	t.client = guardRedirects(o.Client, base)
	if c := s.doc.Components; c != nil {
		for name, ref := range c.SecuritySchemes {
			if ref != nil && ref.Value != nil {
				t.schemes[name] = ref.Value
			}
		}
	}
	t.build()
	return t, nil
}

// guardRedirects returns a copy of c (http.DefaultClient when nil) that
// follows only the redirects that stay on base's scheme, host and port.
func guardRedirects(c *http.Client, base *url.URL) *http.Client {
	if c == nil {
		c = http.DefaultClient
	}
	cc := *c
	next := c.CheckRedirect
	cc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != base.Scheme || req.URL.Host != base.Host {
			return http.ErrUseLastResponse
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return http.ErrUseLastResponse
		}
		return nil
	}
	return &cc
}

// methods are the HTTP methods of a path item, in the order their tools
// are listed.
var methods = []string{"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "TRACE", "QUERY"}

func (t *Toolset) build() {
	doc := t.spec.doc
	paths := doc.Paths.Map()
	for _, path := range sortedKeys(paths) {
		item := paths[path]
		if item == nil {
			continue
		}
		ops := item.Operations()
		for _, m := range append(slices.Clone(methods), extraMethods(ops)...) {
			op := ops[m]
			if op == nil {
				continue
			}
			o := t.operation(path, m, item, op)
			o.tool.Name = t.uniqueName(toolName(op.OperationID, m, path))
			t.ops = append(t.ops, o)
			t.byKey[o.tool.Name] = o
		}
	}
}

// extraMethods returns the methods of ops outside methods, sorted.
func extraMethods(ops map[string]*openapi3.Operation) []string {
	var out []string
	for m := range ops {
		if !slices.Contains(methods, m) {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out
}

func (t *Toolset) uniqueName(name string) string {
	if _, taken := t.byKey[name]; !taken {
		return name
	}
	for i := 2; ; i++ {
		suffix := "_" + strconv.Itoa(i)
		n := name
		if len(n)+len(suffix) > maxToolName {
			n = n[:maxToolName-len(suffix)]
		}
		if _, taken := t.byKey[n+suffix]; !taken {
			return n + suffix
		}
	}
}

// toolName returns the sanitised operationId, else method_path: every
// character outside [A-Za-z0-9_.-] becomes '_', at most 128.
func toolName(operationID, method, path string) string {
	name := sanitize(operationID)
	if strings.Trim(name, "_") == "" {
		p := strings.NewReplacer("{", "", "}", "").Replace(path)
		name = sanitize(strings.ToLower(method) + "_" + p)
		for strings.Contains(name, "__") {
			name = strings.ReplaceAll(name, "__", "_")
		}
		name = strings.TrimRight(name, "_")
	}
	if len(name) > maxToolName {
		name = name[:maxToolName]
	}
	return name
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// locations orders the parameters in a tool's schema and their claim on
// a plain argument name.
var locations = []string{"path", "query", "header", "cookie"}

func (t *Toolset) operation(path, method string, item *openapi3.PathItem, op *openapi3.Operation) *operation {
	o := &operation{method: method, path: path, security: t.spec.doc.Security}
	if op.Security != nil {
		o.security = *op.Security
	}

	// Path-level parameters, overridden by name and location by the
	// operation's own.
	var merged []*openapi3.Parameter
	add := func(ps openapi3.Parameters) {
		for _, ref := range ps {
			if ref == nil || ref.Value == nil {
				continue
			}
			p := ref.Value
			i := slices.IndexFunc(merged, func(q *openapi3.Parameter) bool { return q.In == p.In && q.Name == p.Name })
			if i >= 0 {
				merged[i] = p
			} else {
				merged = append(merged, p)
			}
		}
	}
	add(item.Parameters)
	add(op.Parameters)

	taken := map[string]bool{bodyKey: true}
	props := map[string]any{}
	var required []string
	for _, in := range locations {
		for _, p := range merged {
			if p.In != in || t.ignoredParam(p) {
				continue
			}
			key := p.Name
			if taken[key] {
				key = in + "_" + p.Name
			}
			for i := 2; taken[key]; i++ {
				key = in + "_" + p.Name + "_" + strconv.Itoa(i)
			}
			taken[key] = true
			pp := &param{key: key, p: p, schema: p.Schema}
			if pp.schema == nil {
				for _, mt := range sortedKeys(p.Content) {
					if c := p.Content[mt]; c != nil && c.Schema != nil {
						pp.schema, pp.asJSON = c.Schema, isJSON(mt)
						break
					}
				}
			}
			o.params = append(o.params, pp)
			s := jsonSchema(pp.schema)
			if p.Description != "" {
				s["description"] = p.Description
			}
			if p.Deprecated {
				s["deprecated"] = true
			}
			props[key] = s
			if p.Required || p.In == "path" {
				required = append(required, key)
			}
		}
	}

	if op.RequestBody != nil && op.RequestBody.Value != nil {
		rb := op.RequestBody.Value
		if b := chooseBody(rb); b != nil {
			o.body = b
			s := jsonSchema(b.schema)
			if rb.Description != "" {
				if d, _ := s["description"].(string); d != "" && d != rb.Description {
					s["description"] = rb.Description + "\n\n" + d
				} else {
					s["description"] = rb.Description
				}
			}
			props[bodyKey] = s
			if b.required {
				required = append(required, bodyKey)
			}
		}
	}

	schema := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		schema["required"] = required
	}
	// A spec may quote a credential (as an example or a default): the
	// string values of the schema are redacted like results.
	o.schema, _ = json.Marshal(t.redactValues(schema))

	readOnly := method == "GET" || method == "HEAD"
	idempotent := readOnly || method == "PUT" || method == "DELETE" || method == "OPTIONS"
	o.tool = mcp.Tool{
		Description:    t.redact(description(op)),
		RawInputSchema: o.schema,
		Annotations: mcp.ToolAnnotation{
			Title:           t.redact(op.Summary),
			ReadOnlyHint:    mcp.ToBoolPtr(readOnly),
			DestructiveHint: mcp.ToBoolPtr(method == "DELETE"),
			IdempotentHint:  mcp.ToBoolPtr(idempotent),
			OpenWorldHint:   mcp.ToBoolPtr(true),
		},
	}
	return o
}

// redactValues returns v, a decoded JSON value, with the credentials
// redacted from its string values (not its keys). It copies what it
// changes: v shares enums, defaults and examples with the spec.
func (t *Toolset) redactValues(v any) any {
	if len(t.secrets) == 0 {
		return v
	}
	switch x := v.(type) {
	case string:
		return t.redact(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = t.redactValues(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = t.redactValues(e)
		}
		return out
	case []string:
		out := make([]string, len(x))
		for i, e := range x {
			out[i] = t.redact(e)
		}
		return out
	}
	return v
}

// ignoredParam reports whether p is not an argument: the header
// parameters OpenAPI says to ignore (Accept, Content-Type,
// Authorization) and the parameters that carry an apiKey credential.
func (t *Toolset) ignoredParam(p *openapi3.Parameter) bool {
	if p.In == "header" {
		switch http.CanonicalHeaderKey(p.Name) {
		case "Accept", "Content-Type", "Authorization", "Host", "Content-Length", "Transfer-Encoding", "Connection", "Cookie":
			return true
		}
	}
	for _, ss := range t.schemes {
		if ss.Type != "apiKey" || ss.In != p.In {
			continue
		}
		if ss.Name == p.Name || (p.In == "header" && strings.EqualFold(ss.Name, p.Name)) {
			return true
		}
	}
	return false
}

func description(op *openapi3.Operation) string {
	var parts []string
	if s := strings.TrimSpace(op.Summary); s != "" {
		parts = append(parts, s)
	}
	if d := strings.TrimSpace(op.Description); d != "" && d != strings.TrimSpace(op.Summary) {
		parts = append(parts, d)
	}
	if op.Deprecated {
		parts = append(parts, "Deprecated.")
	}
	return strings.Join(parts, "\n\n")
}

// chooseBody picks the media type of a request body: JSON first, then
// a URL-encoded form, a multipart form, and else the first other one
// (sent as a string).
func chooseBody(rb *openapi3.RequestBody) *body {
	var best *body
	rank := 99
	for _, mt := range sortedKeys(rb.Content) {
		c := rb.Content[mt]
		if c == nil {
			continue
		}
		base, _, err := mime.ParseMediaType(mt)
		if err != nil {
			base = strings.ToLower(mt)
		}
		b := &body{mediaType: base, schema: c.Schema, required: rb.Required, encoding: c.Encoding}
		r := 4
		switch {
		case base == "application/json":
			b.kind, r = bodyJSON, 0
		case isJSON(base):
			b.kind, r = bodyJSON, 1
		case base == "application/x-www-form-urlencoded":
			b.kind, r = bodyForm, 2
		case base == "multipart/form-data":
			b.kind, r = bodyMultipart, 3
		default:
			b.kind = bodyRaw
			if strings.Contains(base, "*") {
				b.mediaType = "application/octet-stream"
			}
			if b.schema == nil {
				b.schema = openapi3.NewStringSchema().NewRef()
			}
		}
		if r < rank {
			best, rank = b, r
		}
	}
	if best != nil && best.schema == nil {
		best.schema = &openapi3.SchemaRef{Value: &openapi3.Schema{}}
	}
	return best
}

func isJSON(mediaType string) bool {
	mt := strings.ToLower(mediaType)
	return mt == "application/json" || strings.HasSuffix(mt, "+json") || strings.HasSuffix(mt, "/json")
}

// Tools returns the tools, one per operation, sorted by path and method;
// each has its RawInputSchema set.
func (t *Toolset) Tools() []mcp.Tool {
	out := make([]mcp.Tool, len(t.ops))
	for i, o := range t.ops {
		out[i] = o.tool
	}
	return out
}

// AIProxyTools returns the tools as the root package describes them, for
// storage and previews.
func (t *Toolset) AIProxyTools() []aiproxy.MCPTool {
	out := make([]aiproxy.MCPTool, len(t.ops))
	for i, o := range t.ops {
		out[i] = aiproxy.MCPTool{
			Name:        o.tool.Name,
			Description: o.tool.Description,
			InputSchema: o.schema,
			ReadOnly:    *o.tool.Annotations.ReadOnlyHint,
			Destructive: *o.tool.Annotations.DestructiveHint,
		}
	}
	return out
}

// Register adds every tool to srv with a handler calling it; an error
// of Call other than ENOTFOUND (the API unreachable, a timeout) becomes
// a tool error with its message.
func (t *Toolset) Register(srv *server.MCPServer) {
	tools := make([]server.ServerTool, 0, len(t.ops))
	for _, o := range t.ops {
		name := o.tool.Name
		tools = append(tools, server.ServerTool{
			Tool: o.tool,
			Handler: func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				res, err := t.Call(ctx, name, req.GetArguments())
				if err != nil && aiproxy.ErrorCode(err) != aiproxy.ENOTFOUND {
					// The API unreachable or too slow: the model is told.
					return mcp.NewToolResultError(aiproxy.ErrorMessage(err)), nil
				}
				return res, err
			},
		})
	}
	srv.AddTools(tools...)
}
