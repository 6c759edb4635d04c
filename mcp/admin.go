package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/mcp/embedded"
	"github.com/aiproxy/aiproxy/openapi2mcp"
	"github.com/aiproxy/aiproxy/relay"
)

// Admin administers the hosted MCP servers: it is the service layer the
// GraphQL resolvers and the admin pages share. Creating or changing a
// server turns its OpenAPI spec into tools (fetching it once from its
// URL), builds an embedded server's tools and lists a proxied server's,
// so that the stored server carries its tools; it checks what groups
// set against the fields the server asks of them.
//
// Store and Builders are required; the other fields have working zero
// values.
type Admin struct {
	Store    aiproxy.MCPService
	Builders map[aiproxy.MCPKind]ToolsetBuilder
	// Client returns the HTTP client that fetches specs from their URL,
	// given the server's AllowPrivateNetwork; nil means
	// relay.NewOutboundClient(allowPrivate, 30s).
	Client func(allowPrivate bool) *http.Client
	// Logs takes the log entry of every test call (callMCPTool), as the
	// gateway logs the groups' calls; nil logs none.
	Logs aiproxy.LogRecorder
	// ListTimeout bounds listing a proxied server's tools on a change; 0
	// means 15 seconds.
	ListTimeout time.Duration
}

// MaxSpecBytes is the largest spec Admin accepts, fetched or uploaded.
const MaxSpecBytes = 8 << 20

var _ aiproxy.MCPAdmin = (*Admin)(nil)

// MCPTemplates returns the embedded server templates, by name.
func (a *Admin) MCPTemplates() []aiproxy.MCPTemplate { return embedded.Templates() }

// MCPServer returns server id.
func (a *Admin) MCPServer(ctx context.Context, id int64) (*aiproxy.MCPServer, error) {
	return a.Store.MCPServer(ctx, id)
}

// MCPServers returns the servers f selects.
func (a *Admin) MCPServers(ctx context.Context, f aiproxy.MCPServerFilter) ([]*aiproxy.MCPServer, error) {
	return a.Store.MCPServers(ctx, f)
}

// MCPGroupValues returns what group set for server.
func (a *Admin) MCPGroupValues(ctx context.Context, server int64, group string) (*aiproxy.MCPGroupValues, error) {
	return a.Store.MCPGroupValues(ctx, server, group)
}

// CreateMCPServer validates s, prepares its tools (see Admin) and stores it,
// setting its ID. Errors: EINVALID naming the field at fault (an OpenAPI
// spec that cannot be fetched or parsed, a credential for a scheme the
// spec lacks, a template value that does not fit), ECONFLICT for a taken
// name, EUPSTREAM when a proxied server cannot be listed.
func (a *Admin) CreateMCPServer(ctx context.Context, s *aiproxy.MCPServer) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if err := a.prepare(ctx, s); err != nil {
		return err
	}
	return a.Store.CreateMCPServer(ctx, s)
}

// UpdateMCPServer applies change to a copy of the stored server id, prepares its
// tools again and stores it. An OpenAPI spec is fetched again when change
// gave a new URL without new content (or emptied the content, as Refresh
// does); otherwise the stored content is parsed again.
func (a *Admin) UpdateMCPServer(ctx context.Context, id int64, change func(*aiproxy.MCPServer)) (*aiproxy.MCPServer, error) {
	s, err := a.Store.MCPServer(ctx, id)
	if err != nil {
		return nil, err
	}
	s = cloneServer(s)
	var before aiproxy.MCPOpenAPIConfig
	if s.OpenAPI != nil {
		before = *s.OpenAPI
	}
	change(s)
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if o := s.OpenAPI; o != nil && o.SpecURL != before.SpecURL && o.Spec == before.Spec {
		o.Spec = "" // a new URL and no new content: fetch it
	}
	if err := a.prepare(ctx, s); err != nil {
		return nil, err
	}
	if err := a.Store.UpdateMCPServer(ctx, s); err != nil {
		return nil, err
	}
	return a.Store.MCPServer(ctx, id)
}

// RefreshMCPServer refetches an OPENAPI server's spec from its URL and regenerates
// its tools, or relists a PROXY server's tools; an EMBEDDED server's are
// rebuilt. A spec uploaded without a URL is parsed again as stored.
func (a *Admin) RefreshMCPServer(ctx context.Context, id int64) (*aiproxy.MCPServer, error) {
	return a.UpdateMCPServer(ctx, id, func(s *aiproxy.MCPServer) {
		if s.OpenAPI != nil && s.OpenAPI.SpecURL != "" {
			s.OpenAPI.Spec = ""
		}
	})
}

// DeleteMCPServer removes server id.
func (a *Admin) DeleteMCPServer(ctx context.Context, id int64) error {
	return a.Store.DeleteMCPServer(ctx, id)
}

// prepare fills s's tools: fetch (an OpenAPI spec without content),
// parse and generate; build and list.
func (a *Admin) prepare(ctx context.Context, s *aiproxy.MCPServer) error {
	switch s.Kind {
	case aiproxy.MCPOpenAPI:
		o := s.OpenAPI
		if o.Spec == "" {
			if o.SpecURL == "" {
				return aiproxy.FieldErrorf("openapi.specURL", "an OPENAPI server needs a specURL or a spec")
			}
			_, data, err := openapi2mcp.Fetch(ctx, a.client(s.AllowPrivateNetwork), o.SpecURL)
			if err != nil {
				return fetchError("openapi.specURL", err)
			}
			o.Spec = string(data)
		}
		if len(o.Spec) > MaxSpecBytes {
			return aiproxy.FieldErrorf("openapi.spec", "the spec is over %d MiB", MaxSpecBytes>>20)
		}
		spec, err := openapi2mcp.Parse([]byte(o.Spec))
		if err != nil {
			return fieldError("openapi.spec", err)
		}
		if err := checkCredentials(spec, o.Credentials); err != nil {
			return err
		}
		ts, err := openapi2mcp.New(spec, openAPIOptions(o, nil))
		if err != nil {
			return fieldError("openapi.baseURL", err)
		}
		s.Tools = ts.AIProxyTools()
	case aiproxy.MCPEmbedded:
		t, ok := embedded.Template(s.Embedded.Template)
		if !ok {
			return aiproxy.FieldErrorf("embedded.template", "there is no template %q (see mcpTemplates)", s.Embedded.Template)
		}
		for name := range s.Embedded.Values {
			f := templateField(t, name)
			if f == nil || f.PerGroup {
				return aiproxy.FieldErrorf("embedded.values", "the template %s has no server field %q", t.Name, name)
			}
		}
		for _, f := range t.Fields {
			if !f.PerGroup {
				if err := f.Validate(s.Embedded.Values[f.Name]); err != nil {
					return err
				}
			}
		}
		tools, err := a.list(ctx, s)
		if err != nil {
			return err
		}
		s.Tools = tools
	case aiproxy.MCPProxy:
		tools, err := a.list(ctx, s)
		if err != nil {
			// A server whose groups set their own credentials may refuse
			// to be listed without them: its tools are listed per group.
			if len(s.Proxy.GroupHeaders)+len(s.Proxy.GroupQuery) == 0 {
				return err
			}
			tools = nil
		}
		s.Tools = tools
	}
	return nil
}

// list builds s's toolset (with no group's values) and lists its tools.
func (a *Admin) list(ctx context.Context, s *aiproxy.MCPServer) ([]aiproxy.MCPTool, error) {
	b := a.Builders[s.Kind]
	if b == nil {
		return nil, aiproxy.Errorf(aiproxy.EINTERNAL, "no builder for %s servers", s.Kind)
	}
	timeout := a.ListTimeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	probe := *s
	probe.ID = 0 // never the cached toolset of the stored version
	ts, err := b.Build(ctx, &probe, nil)
	if err != nil {
		return nil, err
	}
	defer ts.Close()
	tools, err := ts.Tools(ctx)
	if err != nil {
		if aiproxy.ErrorCode(err) == aiproxy.EINTERNAL {
			return nil, aiproxy.Errorf(aiproxy.EUPSTREAM, "listing the tools of %s failed: %s", s.Name, aiproxy.ErrorMessage(err))
		}
		return nil, err
	}
	return Tools(tools), nil
}

// Tools converts mcp-go tools to the root package's.
func Tools(in []mcpgo.Tool) []aiproxy.MCPTool {
	out := make([]aiproxy.MCPTool, len(in))
	for i, t := range in {
		schema := t.RawInputSchema
		if len(schema) == 0 {
			schema, _ = json.Marshal(t.InputSchema)
		}
		out[i] = aiproxy.MCPTool{Name: t.Name, Description: t.Description, InputSchema: schema,
			ReadOnly: t.Annotations.ReadOnlyHint != nil && *t.Annotations.ReadOnlyHint, Destructive: t.Annotations.DestructiveHint != nil && *t.Annotations.DestructiveHint}
	}
	return out
}

// PreviewOpenAPI fetches (from specURL, through the outbound guard unless
// allowPrivate) or takes spec, and returns the tools it would give.
// Errors: EINVALID naming specURL or spec.
func (a *Admin) PreviewOpenAPI(ctx context.Context, specURL, spec string, allowPrivate bool) (*aiproxy.MCPOpenAPIPreview, error) {
	var parsed *openapi2mcp.Spec
	var err error
	switch {
	case spec != "":
		if len(spec) > MaxSpecBytes {
			return nil, aiproxy.FieldErrorf("spec", "the spec is over %d MiB", MaxSpecBytes>>20)
		}
		if parsed, err = openapi2mcp.Parse([]byte(spec)); err != nil {
			return nil, fieldError("spec", err)
		}
	case specURL != "":
		if parsed, _, err = openapi2mcp.Fetch(ctx, a.client(allowPrivate), specURL); err != nil {
			return nil, fetchError("specURL", err)
		}
	default:
		return nil, aiproxy.FieldErrorf("specURL", "give a specURL or a spec")
	}
	p := &aiproxy.MCPOpenAPIPreview{Version: parsed.Version(), Title: parsed.Title(), Servers: parsed.Servers(), Schemes: schemes(parsed)}
	base := ""
	if len(p.Servers) == 0 || !absoluteHTTP(p.Servers[0]) {
		base = "https://api.invalid" // the tools do not depend on it
	}
	ts, err := openapi2mcp.New(parsed, openapi2mcp.Options{BaseURL: base})
	if err != nil {
		return nil, fieldError("spec", err)
	}
	p.Tools = ts.AIProxyTools()
	return p, nil
}

// OpenAPIInfo returns the servers and security schemes of s's stored
// spec, for display; nil for another kind or a spec that does not parse.
func (a *Admin) OpenAPIInfo(s *aiproxy.MCPServer) ([]string, []aiproxy.MCPSecurityScheme) {
	if s.OpenAPI == nil || s.OpenAPI.Spec == "" {
		return nil, nil
	}
	spec, err := openapi2mcp.Parse([]byte(s.OpenAPI.Spec))
	if err != nil {
		return nil, nil
	}
	return spec.Servers(), schemes(spec)
}

// schemes returns the security schemes of spec.
func schemes(spec *openapi2mcp.Spec) []aiproxy.MCPSecurityScheme {
	in := spec.SecuritySchemes()
	out := make([]aiproxy.MCPSecurityScheme, len(in))
	for i, s := range in {
		where := s.In
		if s.Type == "http" {
			where = s.HTTPScheme
		}
		out[i] = aiproxy.MCPSecurityScheme{Name: s.Name, Type: s.Type, In: where, Description: s.Description, Format: s.Format, Supported: s.Supported}
	}
	return out
}

// SetMCPGroupValues checks v against the fields server v.ServerID asks of
// groups (a proxy's GroupHeaders and GroupQuery, an embedded template's
// PerGroup fields) and stores it. Errors: ENOTFOUND, EINVALID naming the
// value; a GROUP server takes only its own group's values.
func (a *Admin) SetMCPGroupValues(ctx context.Context, v *aiproxy.MCPGroupValues) error {
	s, err := a.Store.MCPServer(ctx, v.ServerID)
	if err != nil {
		return err
	}
	if s.Scope == aiproxy.MCPGroup && s.GroupID != v.GroupID {
		return aiproxy.FieldErrorf("group", "server %s belongs to group %s", s.Name, s.GroupID)
	}
	if v.Disabled && s.Scope != aiproxy.MCPPublic {
		return aiproxy.FieldErrorf("disabled", "only a PUBLIC server is turned off per group; disable the server itself")
	}
	known := map[string]*aiproxy.MCPTemplateField{}
	switch s.Kind {
	case aiproxy.MCPProxy:
		for _, n := range slices.Concat(s.Proxy.GroupHeaders, s.Proxy.GroupQuery) {
			known[n] = &aiproxy.MCPTemplateField{Name: n, Secret: true}
		}
	case aiproxy.MCPEmbedded:
		if t, ok := embedded.Template(s.Embedded.Template); ok {
			for i := range t.Fields {
				if t.Fields[i].PerGroup {
					known[t.Fields[i].Name] = &t.Fields[i]
				}
			}
		}
	}
	for name, val := range v.Values {
		f := known[name]
		if f == nil {
			return aiproxy.FieldErrorf("values", "server %s asks groups for no value %q", s.Name, name)
		}
		if err := f.Validate(val); err != nil {
			return err
		}
	}
	return a.Store.SetMCPGroupValues(ctx, v)
}

// CallMCPTool calls tool of server id once, as group would (with its values;
// "" for a GROUP server means its own group), to try it; the call is
// logged (not billed). A tool that ran and failed is a result with
// IsError; errors are ENOTFOUND (server or tool) and EUPSTREAM.
func (a *Admin) CallMCPTool(ctx context.Context, id int64, tool string, args map[string]any, group string) (*aiproxy.MCPCallResult, error) {
	s, err := a.Store.MCPServer(ctx, id)
	if err != nil {
		return nil, err
	}
	if group == "" && s.Scope == aiproxy.MCPGroup {
		group = s.GroupID
	}
	var values *aiproxy.MCPGroupValues
	if group != "" {
		if values, err = a.Store.MCPGroupValues(ctx, id, group); err != nil {
			return nil, err
		}
	}
	b := a.Builders[s.Kind]
	if b == nil {
		return nil, aiproxy.Errorf(aiproxy.EINTERNAL, "no builder for %s servers", s.Kind)
	}
	ts, err := b.Build(ctx, s, values)
	if err != nil {
		return nil, err
	}
	defer ts.Close()
	req := mcpgo.CallToolRequest{}
	req.Params.Name = tool
	req.Params.Arguments = args
	began := time.Now()
	res, err := ts.Call(ctx, Caller{GroupID: group}, req)
	lat := time.Since(began)
	a.logCall(s, tool, group, began, lat, res, err)
	if err != nil {
		return nil, err
	}
	if res == nil {
		res = &mcpgo.CallToolResult{Content: []mcpgo.Content{}}
	}
	raw, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("mcp: encode the result: %w", err)
	}
	out := &aiproxy.MCPCallResult{IsError: res.IsError, Raw: raw, Latency: lat}
	for _, c := range res.Content {
		switch c := c.(type) {
		case mcpgo.TextContent:
			out.Text = append(out.Text, c.Text)
		case *mcpgo.TextContent:
			out.Text = append(out.Text, c.Text)
		default:
			out.Text = append(out.Text, fmt.Sprintf("(%T content)", c))
		}
	}
	return out, nil
}

// logCall logs a test call as the gateway logs the groups' calls, with no
// token.
func (a *Admin) logCall(s *aiproxy.MCPServer, tool, group string, began time.Time, lat time.Duration, res *mcpgo.CallToolResult, err error) {
	if a.Logs == nil {
		return
	}
	l := &aiproxy.Log{RequestID: fmt.Sprintf("mcptest-%d-%d", s.ID, began.UnixNano()), CreatedAt: began, GroupID: group,
		Model: "mcp/" + s.Name + "/" + tool, Endpoint: "callMCPTool", Mode: aiproxy.ModeMCP, StatusCode: http.StatusOK, Latency: lat, TTFB: lat}
	switch {
	case err != nil:
		l.StatusCode, l.Error = relay.HTTPStatus(err), clipError(aiproxy.ErrorMessage(err))
	case res != nil && res.IsError:
		l.StatusCode, l.Error = http.StatusBadRequest, clipError(resultText(res))
	}
	a.Logs.Record(l)
}

func (a *Admin) client(allowPrivate bool) *http.Client {
	if a.Client != nil {
		return a.Client(allowPrivate)
	}
	return relay.NewOutboundClient(allowPrivate, 30*time.Second)
}

// openAPIOptions are the options of o's toolset.
func openAPIOptions(o *aiproxy.MCPOpenAPIConfig, c *http.Client) openapi2mcp.Options {
	creds := make(map[string]string, len(o.Credentials))
	for _, cr := range o.Credentials {
		creds[cr.Scheme] = cr.Value
	}
	return openapi2mcp.Options{BaseURL: o.BaseURL, Credentials: creds, Client: c, Timeout: o.Timeout, MaxResponseBytes: o.MaxResponseBytes}
}

// checkCredentials refuses a credential for a scheme spec does not have.
func checkCredentials(spec *openapi2mcp.Spec, creds []aiproxy.MCPCredential) error {
	schemes := spec.SecuritySchemes()
	for _, c := range creds {
		i := slices.IndexFunc(schemes, func(s openapi2mcp.SchemeInfo) bool { return s.Name == c.Scheme })
		if i < 0 {
			names := make([]string, len(schemes))
			for j, s := range schemes {
				names[j] = s.Name
			}
			return aiproxy.FieldErrorf("openapi.credentials", "the spec has no security scheme %q (it has %v)", c.Scheme, names)
		}
		if !schemes[i].Supported {
			return aiproxy.FieldErrorf("openapi.credentials", "the security scheme %q (%s) is not supported", c.Scheme, schemes[i].Type)
		}
	}
	return nil
}

func templateField(t aiproxy.MCPTemplate, name string) *aiproxy.MCPTemplateField {
	for i := range t.Fields {
		if t.Fields[i].Name == name {
			return &t.Fields[i]
		}
	}
	return nil
}

// fieldError makes err an EINVALID error naming field, keeping a domain
// error's message.
func fieldError(field string, err error) error {
	var e *aiproxy.Error
	if errors.As(err, &e) {
		if e.Code != aiproxy.EINVALID {
			return e
		}
		return aiproxy.FieldErrorf(field, "%s", e.Message)
	}
	return aiproxy.FieldErrorf(field, "%s", err.Error())
}

// fetchError is an EINVALID error naming field, the URL of a spec that
// could not be fetched (unreachable, refused by the outbound guard, not
// a spec).
func fetchError(field string, err error) error {
	return aiproxy.FieldErrorf(field, "the spec could not be fetched: %s", aiproxy.ErrorMessage(err))
}

func absoluteHTTP(u string) bool {
	return len(u) > 8 && (u[:7] == "http://" || u[:8] == "https://")
}

// cloneServer returns a copy of s whose maps, slices and configs can be
// changed without changing s (the store's cache shares its values).
func cloneServer(s *aiproxy.MCPServer) *aiproxy.MCPServer {
	c := *s
	c.ToolPrices = maps.Clone(s.ToolPrices)
	c.Tools = slices.Clone(s.Tools)
	if s.OpenAPI != nil {
		o := *s.OpenAPI
		o.Credentials = slices.Clone(o.Credentials)
		c.OpenAPI = &o
	}
	if s.Proxy != nil {
		p := *s.Proxy
		p.Headers, p.Query = maps.Clone(p.Headers), maps.Clone(p.Query)
		p.GroupHeaders, p.GroupQuery = slices.Clone(p.GroupHeaders), slices.Clone(p.GroupQuery)
		c.Proxy = &p
	}
	if s.Embedded != nil {
		e := *s.Embedded
		e.Values = maps.Clone(e.Values)
		c.Embedded = &e
	}
	return &c
}
