// Package embedded holds the MCP servers built into the gateway: each is
// a template (aiproxy.MCPTemplate) whose fields an admin fills once and,
// for the fields marked PerGroup, each group fills for itself. Build turns
// a template and those values into a Server, the tools package mcp hosts.
//
// The package imports the root package, relay (for the outbound guard),
// mcp-go's types and golang.org/x/net/html; what the "aiproxy" template
// reads of the gateway comes through the small interfaces of Deps, which
// cmd/aiproxy fills with the store.
package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
	_ "time/tzdata" // the time tools know every IANA zone, whatever the host has installed

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/aiproxy/aiproxy"
)

// Caller is who calls a tool: the group and the token that authenticated
// the MCP client (mcp.Caller, which this package cannot import). Tools
// that read the gateway's data read only GroupID's.
type Caller struct {
	GroupID string
	Token   *aiproxy.Token // nil when the call carries no token
}

// Config is what Build needs besides the template's name.
type Config struct {
	// Values are the admin's values of the template's fields, GroupValues
	// the calling group's values of its PerGroup fields; nil means none.
	Values      map[string]string
	GroupValues map[string]string
	// AllowPrivateNetwork lets outbound calls (fetch) reach internal
	// addresses (aiproxy.MCPServer.AllowPrivateNetwork).
	AllowPrivateNetwork bool
	// NewClient returns the HTTP client of outbound calls, guarded as
	// relay.NewOutboundClient guards them; nil means relay.NewOutboundClient.
	NewClient func(allowPrivate bool, timeout time.Duration) *http.Client
	// Deps are what the aiproxy template reads of the gateway.
	Deps Deps
}

// Server is the tools of one embedded server, for one group. It is safe
// for concurrent use.
type Server struct {
	tools   []mcpgo.Tool
	handler map[string]handler
	// missing are the required PerGroup fields the group has not set:
	// every call is then a tool error saying so.
	missing []string
}

// handler runs one tool. It returns a result with IsError set for a
// failure of the tool, an error only for what is not the tool's answer.
type handler func(ctx context.Context, c Caller, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error)

// add registers tool t with its handler h.
func (s *Server) add(t mcpgo.Tool, h handler) {
	s.tools = append(s.tools, t)
	s.handler[t.Name] = h
}

// Tools lists the server's tools.
func (s *Server) Tools() []mcpgo.Tool { return append([]mcpgo.Tool(nil), s.tools...) }

// Call calls the tool req names on behalf of c. It returns an ENOTFOUND
// *aiproxy.Error for an unknown tool, EUNAUTHORIZED when a tool reading
// the gateway's data is called with no group; a tool that ran and failed
// is a result with IsError set and a nil error.
func (s *Server) Call(ctx context.Context, c Caller, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	h, ok := s.handler[req.Params.Name]
	if !ok {
		return nil, aiproxy.Errorf(aiproxy.ENOTFOUND, "no tool %q", req.Params.Name)
	}
	if len(s.missing) > 0 {
		return toolError("this server needs your group to set %s (the group's values for this server) first",
			strings.Join(s.missing, ", ")), nil
	}
	return h(ctx, c, req)
}

// template is a template's description and its builder, which receives
// the validated values of its fields (admin and per-group together).
type template struct {
	aiproxy.MCPTemplate
	build func(values map[string]string, cfg *Config) (*Server, error)
}

// templates returns the built-in templates, by name.
func templates() []template {
	return []template{aiproxyTemplate(), fetchTemplate(), timeTemplate()}
}

// Templates returns the built-in templates, ordered by name.
func Templates() []aiproxy.MCPTemplate {
	ts := templates()
	out := make([]aiproxy.MCPTemplate, len(ts))
	for i, t := range ts {
		out[i] = t.MCPTemplate
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Template returns the built-in template name, if there is one.
func Template(name string) (aiproxy.MCPTemplate, bool) {
	for _, t := range templates() {
		if t.Name == name {
			return t.MCPTemplate, true
		}
	}
	return aiproxy.MCPTemplate{}, false
}

// Build builds the server of template name from cfg. Each field's value
// is the admin's (cfg.Values) or, for a PerGroup field, the group's
// (cfg.GroupValues), checked with MCPTemplateField.Validate. It returns an
// EINVALID *aiproxy.Error naming "embedded.template" for an unknown
// template, naming the field for a value that does not fit it. A required
// PerGroup field the group has not set is no error of Build (its tools
// can be listed without it): each call is a tool error saying the group
// must set it.
func Build(name string, cfg Config) (*Server, error) {
	for _, t := range templates() {
		if t.Name == name {
			values, missing, err := t.values(&cfg)
			if err != nil {
				return nil, err
			}
			s, err := t.build(values, &cfg)
			if err != nil {
				return nil, err
			}
			s.missing = missing
			return s, nil
		}
	}
	return nil, aiproxy.FieldErrorf("embedded.template", "unknown embedded template %q", name)
}

// values returns the value of each of t's fields, from cfg, validated,
// and the required PerGroup fields the group has not set.
func (t *template) values(cfg *Config) (values map[string]string, missing []string, err error) {
	values = make(map[string]string, len(t.Fields))
	for _, f := range t.Fields {
		v := cfg.Values[f.Name]
		if f.PerGroup {
			v = cfg.GroupValues[f.Name]
			if v == "" && f.Required {
				missing = append(missing, f.Name)
				continue
			}
		}
		if err := f.Validate(v); err != nil {
			return nil, nil, err
		}
		values[f.Name] = v
	}
	return values, missing, nil
}

// newServer returns an empty server.
func newServer() *Server { return &Server{handler: map[string]handler{}} }

// toolError returns a tool failure result with a formatted message.
func toolError(format string, args ...any) *mcpgo.CallToolResult {
	return mcpgo.NewToolResultError(fmt.Sprintf(format, args...))
}

// jsonResult returns v pretty-printed as the text of a result.
func jsonResult(v any) (*mcpgo.CallToolResult, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("embedded: encode result: %w", err)
	}
	return mcpgo.NewToolResultText(string(b)), nil
}

// readOnly are the annotations of a tool that changes nothing.
func readOnly(openWorld bool) mcpgo.ToolOption {
	return mcpgo.WithToolAnnotation(mcpgo.ToolAnnotation{
		ReadOnlyHint:    mcpgo.ToBoolPtr(true),
		DestructiveHint: mcpgo.ToBoolPtr(false),
		IdempotentHint:  mcpgo.ToBoolPtr(true),
		OpenWorldHint:   mcpgo.ToBoolPtr(openWorld),
	})
}
