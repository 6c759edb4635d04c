package aiproxy

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"time"
)

// ModeMCP is the mode of a logged MCP tool call (Log.Mode): its Model is
// "mcp/<server>/<tool>", its Endpoint the MCP path, its Amount the call's
// price (MCPServer.CallPrice).
const ModeMCP Mode = "mcp"

// MCPKind says where an MCP server's tools come from.
type MCPKind string

// MCP server kinds.
const (
	MCPOpenAPI  MCPKind = "openapi"  // the operations of an OpenAPI spec (package openapi2mcp)
	MCPProxy    MCPKind = "proxy"    // a remote MCP server, relayed
	MCPEmbedded MCPKind = "embedded" // a server built into the binary, from a template
)

// Valid reports whether k is a known kind.
func (k MCPKind) Valid() bool { return k == MCPOpenAPI || k == MCPProxy || k == MCPEmbedded }

// MCPScope says which groups may use an MCP server.
type MCPScope string

// MCP server scopes.
const (
	MCPPublic MCPScope = "public" // every group (each may disable it: MCPGroupValues.Disabled)
	MCPGroup  MCPScope = "group"  // one group only (MCPServer.GroupID)
)

// Valid reports whether s is a known scope.
func (s MCPScope) Valid() bool { return s == MCPPublic || s == MCPGroup }

// MCPServer is an MCP server the gateway hosts: its tools are served at
// /mcp/public/{id} or /mcp/group/{id} (Streamable HTTP, and legacy SSE
// under .../sse) and, namespaced by Name, at the aggregate /mcp.
//
// Secrets (OpenAPI credentials, proxy header and query values, embedded
// fields marked Secret) are write-only: the admin API shows whether each
// is set, never its value.
type MCPServer struct {
	ID          int64
	Name        string // unique; letters, digits, '_' and '-', at most 48: the tools' namespace in /mcp
	Description string
	Kind        MCPKind
	Scope       MCPScope
	GroupID     string // the group of a GROUP server; "" for a PUBLIC one
	Enabled     bool
	// AllowPrivateNetwork lets the server's outbound calls (OpenAPI
	// operations, the proxied server, fetch) reach loopback, private,
	// link-local and metadata addresses; off, they are refused at connect
	// time.
	AllowPrivateNetwork bool
	// CallPrice is what one tool call costs by default; ToolPrices
	// overrides it per tool name. Calls are billed to the group and its
	// token like model usage.
	CallPrice  Amount
	ToolPrices map[string]Amount

	OpenAPI  *MCPOpenAPIConfig  // set for MCPOpenAPI
	Proxy    *MCPProxyConfig    // set for MCPProxy
	Embedded *MCPEmbeddedConfig // set for MCPEmbedded

	// Tools are the server's tools as last generated (OpenAPI), listed
	// (proxy) or built (embedded); kept so that listing them needs no
	// outbound call.
	Tools []MCPTool

	CreatedAt time.Time
	UpdatedAt time.Time
}

// MCPOpenAPIConfig is the spec an OPENAPI server turns into tools.
type MCPOpenAPIConfig struct {
	// SpecURL is where the spec was fetched from ("" when uploaded); Spec
	// the content (JSON or YAML; OpenAPI 3.0, 3.1 or Swagger 2.0), kept
	// so the spec is parsed once and refetched only on refresh.
	SpecURL string
	Spec    string
	// BaseURL is where calls go: one of the spec's servers with its
	// variables filled, or an override; "" means the spec's first
	// server. No tool argument can change its scheme, host or port.
	BaseURL string
	// Credentials are the values of the spec's security schemes, by
	// scheme name; secret.
	Credentials []MCPCredential
	// Timeout bounds one call (0: 30s); MaxResponseBytes the answer read
	// (0: 1 MiB).
	Timeout          time.Duration
	MaxResponseBytes int64
}

// MCPCredential is the value of one security scheme of a spec, named as
// in its components.securitySchemes (or Swagger's securityDefinitions):
// the key of an apiKey scheme, the token of an HTTP bearer one,
// "user:password" for HTTP basic, "client_id:client_secret" for OAuth2
// client credentials.
type MCPCredential struct {
	Scheme string
	Value  string // secret
}

// MCPProxyConfig is the remote MCP server a PROXY server relays.
type MCPProxyConfig struct {
	URL string
	// Transport is "streamable" (Streamable HTTP, the default) or "sse"
	// (the legacy HTTP+SSE transport).
	Transport string
	// Headers and Query are sent with every request to URL; their values
	// are secret.
	Headers map[string]string
	Query   map[string]string
	// GroupHeaders and GroupQuery name the headers and query parameters
	// each group sets for itself (MCPGroupValues.Values), such as each
	// group's own API key for that server.
	GroupHeaders []string
	GroupQuery   []string
}

// MCPEmbeddedConfig configures an EMBEDDED server: the template it is
// built from and the values of the template's admin fields.
type MCPEmbeddedConfig struct {
	Template string
	Values   map[string]string
}

// MCPTemplate is a kind of embedded server (such as "time", "fetch",
// "aiproxy") and the fields it needs.
type MCPTemplate struct {
	Name        string
	Description string
	Fields      []MCPTemplateField
}

// MCPTemplateField is one value an embedded server needs.
type MCPTemplateField struct {
	Name        string
	Description string
	Example     string
	Required    bool
	Secret      bool   // write-only, like a credential
	PerGroup    bool   // set by each group (MCPGroupValues) rather than once by the admin
	Pattern     string // a regular expression the value must match, "" for any
}

// Validate checks value against f, returning an EINVALID *Error naming
// the field.
func (f *MCPTemplateField) Validate(value string) error {
	if value == "" {
		if f.Required {
			return FieldErrorf(f.Name, "%s is required", f.Name)
		}
		return nil
	}
	if f.Pattern != "" {
		re, err := regexp.Compile("^(?:" + f.Pattern + ")$")
		if err != nil || !re.MatchString(value) {
			return FieldErrorf(f.Name, "%s does not match %s", f.Name, f.Pattern)
		}
	}
	return nil
}

// MCPTool is one tool of a server, as MCP lists it.
type MCPTool struct {
	Name        string
	Description string
	InputSchema json.RawMessage // a JSON Schema object
	ReadOnly    bool            // annotations.readOnlyHint
	Destructive bool            // annotations.destructiveHint
}

// MCPGroupValues is what one group set for one server: the values of its
// per-group fields (proxy GroupHeaders/GroupQuery, embedded PerGroup
// fields; secret) and, for a PUBLIC server, whether the group turned it
// off.
type MCPGroupValues struct {
	ServerID  int64
	GroupID   string
	Values    map[string]string
	Disabled  bool
	UpdatedAt time.Time
}

var mcpNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,48}$`)

// Validate checks s and normalizes it; it returns an EINVALID *Error
// naming the field.
func (s *MCPServer) Validate() error {
	s.Name = strings.TrimSpace(s.Name)
	switch {
	case !mcpNameRE.MatchString(s.Name):
		return FieldErrorf("name", "name must be 1 to 48 letters, digits, '_' or '-'")
	case !s.Kind.Valid():
		return FieldErrorf("kind", "kind must be OPENAPI, PROXY or EMBEDDED")
	case !s.Scope.Valid():
		return FieldErrorf("scope", "scope must be PUBLIC or GROUP")
	case s.Scope == MCPGroup && s.GroupID == "":
		return FieldErrorf("group", "a GROUP server needs its group")
	case s.Scope == MCPPublic && s.GroupID != "":
		return FieldErrorf("group", "a PUBLIC server has no group")
	case s.CallPrice < 0:
		return FieldErrorf("callPrice", "callPrice must not be negative")
	}
	for name, p := range s.ToolPrices {
		if p < 0 {
			return FieldErrorf("toolPrices", "the price of %s must not be negative", name)
		}
	}
	switch s.Kind {
	case MCPOpenAPI:
		if s.OpenAPI == nil || (s.OpenAPI.SpecURL == "" && s.OpenAPI.Spec == "") {
			return FieldErrorf("openapi", "an OPENAPI server needs a specURL or a spec")
		}
	case MCPProxy:
		if s.Proxy == nil || s.Proxy.URL == "" {
			return FieldErrorf("proxy.url", "a PROXY server needs the URL of the remote MCP server")
		}
		if t := s.Proxy.Transport; t != "" && t != "streamable" && t != "sse" {
			return FieldErrorf("proxy.transport", "transport must be streamable or sse")
		}
	case MCPEmbedded:
		if s.Embedded == nil || s.Embedded.Template == "" {
			return FieldErrorf("embedded.template", "an EMBEDDED server needs its template")
		}
	}
	return nil
}

// Price returns what a call of tool costs: its ToolPrices entry, else
// CallPrice.
func (s *MCPServer) Price(tool string) Amount {
	if p, ok := s.ToolPrices[tool]; ok {
		return p
	}
	return s.CallPrice
}

// UsableBy reports whether group may use s (ignoring a group's own
// Disabled choice): every group for a PUBLIC server, its own for a GROUP
// one.
func (s *MCPServer) UsableBy(group string) bool {
	return s.Enabled && (s.Scope == MCPPublic || s.GroupID == group)
}

// MCPServerFilter selects MCP servers. Zero fields do not filter.
type MCPServerFilter struct {
	// GroupID keeps the servers that group may use: PUBLIC ones and its
	// own GROUP ones.
	GroupID string
	Kind    MCPKind
	Scope   MCPScope
}

// MCPService stores MCP servers and groups' values for them. Errors:
// ENOTFOUND for an unknown id, ECONFLICT for a name taken, EINVALID from
// Validate.
type MCPService interface {
	CreateMCPServer(ctx context.Context, s *MCPServer) error
	// UpdateMCPServer replaces the stored server s.ID with s (secrets
	// included: the caller merges the ones left unchanged).
	UpdateMCPServer(ctx context.Context, s *MCPServer) error
	DeleteMCPServer(ctx context.Context, id int64) error
	MCPServer(ctx context.Context, id int64) (*MCPServer, error)
	MCPServerByName(ctx context.Context, name string) (*MCPServer, error)
	MCPServers(ctx context.Context, f MCPServerFilter) ([]*MCPServer, error)
	// SetMCPGroupValues stores v (replacing what the group set before);
	// MCPGroupValues returns what group set for server (an empty value,
	// not an error, when it set nothing).
	SetMCPGroupValues(ctx context.Context, v *MCPGroupValues) error
	MCPGroupValues(ctx context.Context, server int64, group string) (*MCPGroupValues, error)
}

// MCPSecurityScheme is one security scheme of an OpenAPI spec, for the
// admin to give its credential. It holds no secret.
type MCPSecurityScheme struct {
	Name string // its key in components.securitySchemes (Swagger: securityDefinitions)
	Type string // "apiKey", "http", "oauth2" or "openIdConnect"
	// In is where an apiKey goes ("header", "query", "cookie") or an http
	// scheme's kind ("bearer", "basic").
	In          string
	Description string
	// Format says what the credential looks like ("key", "token",
	// "user:password", "client_id:client_secret"); Supported whether the
	// gateway can apply the scheme.
	Format    string
	Supported bool
}

// MCPOpenAPIPreview is what an OpenAPI spec gives, without saving it.
type MCPOpenAPIPreview struct {
	Version string // "openapi 3.0", "openapi 3.1" or "swagger 2.0", as detected
	Title   string
	Servers []string // with their variables filled with their defaults
	Schemes []MCPSecurityScheme
	Tools   []MCPTool
}

// MCPCallResult is the answer of a tool call made to try it.
type MCPCallResult struct {
	IsError bool
	Text    []string        // the text of each content item (others described)
	Raw     json.RawMessage // the CallToolResult as MCP sends it
	Latency time.Duration
}

// MCPAdmin administers the hosted MCP servers (package mcp's Admin): the
// service the GraphQL API and the admin pages share. Errors: those of
// MCPService, EINVALID naming the field at fault (a spec that cannot be
// fetched or parsed, a value that does not fit), EUPSTREAM when a remote
// server cannot be reached.
type MCPAdmin interface {
	// CreateMCPServer prepares s's tools and stores it, setting its ID.
	CreateMCPServer(ctx context.Context, s *MCPServer) error
	// UpdateMCPServer applies change to a copy of server id, prepares its
	// tools again and stores it.
	UpdateMCPServer(ctx context.Context, id int64, change func(*MCPServer)) (*MCPServer, error)
	DeleteMCPServer(ctx context.Context, id int64) error
	// RefreshMCPServer refetches an OpenAPI spec from its URL, or relists
	// a proxied server's tools.
	RefreshMCPServer(ctx context.Context, id int64) (*MCPServer, error)
	MCPServer(ctx context.Context, id int64) (*MCPServer, error)
	MCPServers(ctx context.Context, f MCPServerFilter) ([]*MCPServer, error)
	MCPTemplates() []MCPTemplate
	// PreviewOpenAPI fetches (specURL) or takes (spec) a spec and returns
	// what it gives.
	PreviewOpenAPI(ctx context.Context, specURL, spec string, allowPrivate bool) (*MCPOpenAPIPreview, error)
	// OpenAPIInfo returns the servers and security schemes of s's stored
	// spec (nil for another kind).
	OpenAPIInfo(s *MCPServer) (servers []string, schemes []MCPSecurityScheme)
	// SetMCPGroupValues checks v against what the server asks of groups
	// and stores it.
	SetMCPGroupValues(ctx context.Context, v *MCPGroupValues) error
	MCPGroupValues(ctx context.Context, server int64, group string) (*MCPGroupValues, error)
	// CallMCPTool calls a tool once as group would, to try it.
	CallMCPTool(ctx context.Context, server int64, tool string, args map[string]any, group string) (*MCPCallResult, error)
}
