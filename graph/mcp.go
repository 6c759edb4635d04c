package graph

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/graph/model"
)

// mcpAdmin returns the MCP service, or an INTERNAL error when none is
// wired.
func (r *Resolver) mcpAdmin() (aiproxy.MCPAdmin, error) {
	if r.MCPAdmin == nil {
		return nil, aiproxy.Errorf(aiproxy.EINTERNAL, "MCP administration is not available")
	}
	return r.MCPAdmin, nil
}

// mcpServerNode is the GraphQL view of s: secrets only as set or not.
func (r *Resolver) mcpServerNode(s *aiproxy.MCPServer) *model.MCPServer {
	scope := "public"
	if s.Scope == aiproxy.MCPGroup {
		scope = "group"
	}
	base := "/mcp/" + scope + "/" + strconv.FormatInt(s.ID, 10)
	n := &model.MCPServer{
		ID: strconv.FormatInt(s.ID, 10), Name: s.Name, Description: s.Description, Kind: s.Kind, Scope: s.Scope,
		Group: optional(s.GroupID), Enabled: s.Enabled, AllowPrivateNetwork: s.AllowPrivateNetwork, CallPrice: s.CallPrice.Float(),
		ToolPrices: []*model.MCPToolPrice{}, Tools: mcpToolNodes(s.Tools),
		Endpoints: &model.MCPEndpoints{StreamableHTTP: base, Sse: base + "/sse"},
		CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
	}
	for _, t := range slices.Sorted(maps.Keys(s.ToolPrices)) {
		n.ToolPrices = append(n.ToolPrices, &model.MCPToolPrice{Tool: t, Price: s.ToolPrices[t].Float()})
	}
	if o := s.OpenAPI; o != nil {
		servers, schemes := r.MCPAdmin.OpenAPIInfo(s)
		set := map[string]bool{}
		for _, c := range o.Credentials {
			set[c.Scheme] = c.Value != ""
		}
		n.Openapi = &model.MCPOpenAPI{SpecURL: optional(o.SpecURL), BaseURL: o.BaseURL, Servers: nonNil(servers),
			SecuritySchemes: schemeNodes(schemes, set), TimeoutSeconds: int(o.Timeout / time.Second), MaxResponseBytes: int(o.MaxResponseBytes)}
		if n.Openapi.BaseURL == "" && len(servers) > 0 {
			n.Openapi.BaseURL = servers[0]
		}
	}
	if p := s.Proxy; p != nil {
		transport := p.Transport
		if transport == "" {
			transport = "streamable"
		}
		n.Proxy = &model.MCPProxy{URL: p.URL, Transport: transport, Headers: secretValues(p.Headers, nil), Query: secretValues(p.Query, nil),
			GroupHeaders: nonNil(p.GroupHeaders), GroupQuery: nonNil(p.GroupQuery)}
	}
	if e := s.Embedded; e != nil {
		n.Embedded = &model.MCPEmbedded{Template: e.Template, Values: secretValues(e.Values, r.secretFields(e.Template))}
	}
	return n
}

// secretFields reports which fields of an embedded template are secret;
// nil (every value secret) for an unknown template.
func (r *Resolver) secretFields(template string) func(string) bool {
	for _, t := range r.MCPAdmin.MCPTemplates() {
		if t.Name == template {
			return func(name string) bool {
				for _, f := range t.Fields {
					if f.Name == name {
						return f.Secret
					}
				}
				return true
			}
		}
	}
	return nil
}

// secretValues lists values by name, showing those secret (nil: every
// one) does not flag.
func secretValues(values map[string]string, secret func(string) bool) []*model.MCPSecretValue {
	out := []*model.MCPSecretValue{}
	for _, k := range slices.Sorted(maps.Keys(values)) {
		v := &model.MCPSecretValue{Name: k, Set: values[k] != ""}
		if secret != nil && !secret(k) {
			v.Value = optional(values[k])
		}
		out = append(out, v)
	}
	return out
}

func mcpToolNodes(tools []aiproxy.MCPTool) []*model.MCPTool {
	out := make([]*model.MCPTool, len(tools))
	for i, t := range tools {
		schema := t.InputSchema
		if len(schema) == 0 {
			schema = json.RawMessage(`{"type":"object"}`)
		}
		out[i] = &model.MCPTool{Name: t.Name, Description: t.Description, InputSchema: schema, ReadOnly: t.ReadOnly, Destructive: t.Destructive}
	}
	return out
}

func schemeNodes(schemes []aiproxy.MCPSecurityScheme, set map[string]bool) []*model.MCPSecurityScheme {
	out := make([]*model.MCPSecurityScheme, len(schemes))
	for i, s := range schemes {
		out[i] = &model.MCPSecurityScheme{Name: s.Name, Type: s.Type, In: optional(s.In), Description: optional(s.Description),
			Format: s.Format, Supported: s.Supported, CredentialSet: set[s.Name]}
	}
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// keyValues reads name/value inputs into m (created when nil): an empty
// value removes the name.
func keyValues(m map[string]string, in []*model.MCPKeyValueInput) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	for _, kv := range in {
		if kv.Value == "" {
			delete(m, kv.Name)
		} else {
			m[kv.Name] = kv.Value
		}
	}
	return m
}

func toolPrices(in []*model.MCPToolPriceInput) map[string]aiproxy.Amount {
	if in == nil {
		return nil
	}
	out := make(map[string]aiproxy.Amount, len(in))
	for _, p := range in {
		out[p.Tool] = aiproxy.AmountFromFloat(p.Price)
	}
	return out
}

// applyOpenAPI changes o by in: omitted fields keep their value, the
// credentials given replace those of their scheme (an empty value
// removes one).
func applyOpenAPI(o *aiproxy.MCPOpenAPIConfig, in *model.MCPOpenAPIInput) {
	if in.SpecURL != nil {
		o.SpecURL = *in.SpecURL
	}
	if in.Spec != nil {
		o.Spec = *in.Spec
	}
	if in.BaseURL != nil {
		o.BaseURL = *in.BaseURL
	}
	for _, c := range in.Credentials {
		o.Credentials = slices.DeleteFunc(o.Credentials, func(x aiproxy.MCPCredential) bool { return x.Scheme == c.Scheme })
		if c.Value != "" {
			o.Credentials = append(o.Credentials, aiproxy.MCPCredential{Scheme: c.Scheme, Value: c.Value})
		}
	}
	if in.TimeoutSeconds != nil {
		o.Timeout = time.Duration(*in.TimeoutSeconds) * time.Second
	}
	if in.MaxResponseBytes != nil {
		o.MaxResponseBytes = int64(*in.MaxResponseBytes)
	}
}

// applyProxy changes p by in, as applyOpenAPI does.
func applyProxy(p *aiproxy.MCPProxyConfig, in *model.MCPProxyInput) {
	p.URL = in.URL
	if in.Transport != nil {
		p.Transport = *in.Transport
	}
	p.Headers = keyValues(p.Headers, in.Headers)
	p.Query = keyValues(p.Query, in.Query)
	if in.GroupHeaders != nil {
		p.GroupHeaders = in.GroupHeaders
	}
	if in.GroupQuery != nil {
		p.GroupQuery = in.GroupQuery
	}
}

// applyEmbedded changes e by in, as applyOpenAPI does.
func applyEmbedded(e *aiproxy.MCPEmbeddedConfig, in *model.MCPEmbeddedInput) {
	e.Template = in.Template
	e.Values = keyValues(e.Values, in.Values)
}

// mcpGroupValuesNode is the GraphQL view of v on server s.
func (r *Resolver) mcpGroupValuesNode(s *aiproxy.MCPServer, v *aiproxy.MCPGroupValues) *model.MCPGroupValues {
	var secret func(string) bool // proxy values: every one secret
	if s.Embedded != nil {
		secret = r.secretFields(s.Embedded.Template)
	}
	return &model.MCPGroupValues{Server: strconv.FormatInt(s.ID, 10), Group: v.GroupID, Values: secretValues(v.Values, secret), Disabled: v.Disabled}
}

// visibleMCPServer returns server id as the caller may see it: ENOTFOUND
// for a group token and a server its group may not use.
func (r *Resolver) visibleMCPServer(c *caller, s *aiproxy.MCPServer) bool {
	return c == nil || c.token == nil || s.Scope == aiproxy.MCPPublic || s.GroupID == c.token.GroupID
}
