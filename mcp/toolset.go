// Package mcp hosts MCP servers for the gateway's groups: the tools of
// each aiproxy.MCPServer (an OpenAPI spec's operations, a proxied remote
// server, an embedded server) are served over Streamable HTTP and legacy
// HTTP+SSE, authenticated with group tokens, logged and billed like model
// usage. mcp-go's packages are imported as mcpgo (types) and mcpserver.
package mcp

import (
	"context"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/aiproxy/aiproxy"
)

// Caller is who calls a tool: the group and token that authenticated the
// MCP client.
type Caller struct {
	GroupID string
	Token   *aiproxy.Token
}

// Toolset is the tools of one hosted server, as one group sees them.
// Implementations are safe for concurrent use.
type Toolset interface {
	// Tools lists the tools.
	Tools(ctx context.Context) ([]mcpgo.Tool, error)
	// Call calls one tool. A tool that ran and failed (bad arguments, a
	// non-2xx answer) is a result with IsError set and a nil error; an
	// error is for what is not the tool's answer (an unknown tool:
	// ENOTFOUND; the remote server unreachable: EUPSTREAM).
	Call(ctx context.Context, c Caller, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error)
	// Close releases what the toolset holds (a proxied server's
	// connection); the toolset is not used after.
	Close() error
}

// ToolsetBuilder builds the toolset of a server kind, for one group's
// values (nil when the group set none). Builders are chosen by
// aiproxy.MCPKind.
type ToolsetBuilder interface {
	Build(ctx context.Context, s *aiproxy.MCPServer, values *aiproxy.MCPGroupValues) (Toolset, error)
}
