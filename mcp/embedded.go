package mcp

import (
	"context"
	"fmt"
	"net/http"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/mcp/embedded"
)

// EmbeddedBuilder builds the toolsets of EMBEDDED servers (package
// embedded) from their template and values. The zero value builds every
// template, the aiproxy one answering that its tools are unavailable.
type EmbeddedBuilder struct {
	// Deps are what the templates read of the gateway (the aiproxy
	// template's usage, models, quota and tokens); cmd/aiproxy wires the
	// store into them.
	Deps embedded.Deps
	// NewClient returns the HTTP client of outbound calls (the fetch
	// template), given the server's AllowPrivateNetwork and a timeout;
	// nil means relay.NewOutboundClient.
	NewClient func(allowPrivate bool, timeout time.Duration) *http.Client
}

var _ ToolsetBuilder = (*EmbeddedBuilder)(nil)

// Templates returns the templates Build knows, ordered by name.
func (b *EmbeddedBuilder) Templates() []aiproxy.MCPTemplate { return embedded.Templates() }

// Build builds the toolset of s, an EMBEDDED server, for the group whose
// values are values (nil: none, as when the admin lists its tools). It
// returns an EINVALID *aiproxy.Error naming "embedded.template" for a
// missing or unknown template, naming the field for a value that does not
// fit its template field. A required PerGroup field the group has not
// set fails no build: the toolset lists its tools, and each call is a
// tool error saying the group must set it.
func (b *EmbeddedBuilder) Build(_ context.Context, s *aiproxy.MCPServer, values *aiproxy.MCPGroupValues) (Toolset, error) {
	if s.Embedded == nil || s.Embedded.Template == "" {
		return nil, aiproxy.FieldErrorf("embedded.template", "an EMBEDDED server needs its template")
	}
	var gv map[string]string
	if values != nil {
		gv = values.Values
	}
	srv, err := embedded.Build(s.Embedded.Template, embedded.Config{
		Values:              s.Embedded.Values,
		GroupValues:         gv,
		AllowPrivateNetwork: s.AllowPrivateNetwork,
		NewClient:           b.NewClient,
		Deps:                b.Deps,
	})
	if err != nil {
		return nil, fmt.Errorf("mcp: build embedded server %s: %w", s.Name, err)
	}
	return embeddedToolset{srv}, nil
}

// embeddedToolset is the Toolset of an embedded server.
type embeddedToolset struct{ s *embedded.Server }

var _ Toolset = embeddedToolset{}

func (t embeddedToolset) Tools(context.Context) ([]mcpgo.Tool, error) { return t.s.Tools(), nil }

func (t embeddedToolset) Call(ctx context.Context, c Caller, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	return t.s.Call(ctx, embedded.Caller{GroupID: c.GroupID, Token: c.Token}, req)
}

func (t embeddedToolset) Close() error { return nil }
