// Package mcptest has fakes for testing package mcp's gateway: servers
// kept in memory, and toolsets of tools that are Go functions.
package mcptest

import (
	"context"
	"sync"
	"sync/atomic"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/mcp"
)

// Servers keeps MCP servers and group values in memory (the gateway's
// mcp.Servers). It is safe for concurrent use; the zero value is empty
// and ready.
type Servers struct {
	mu      sync.Mutex
	servers map[int64]*aiproxy.MCPServer
	values  map[valuesKey]*aiproxy.MCPGroupValues
}

type valuesKey struct {
	server int64
	group  string
}

var _ mcp.Servers = (*Servers)(nil)

// Put stores s, replacing the server of the same ID.
func (m *Servers) Put(s *aiproxy.MCPServer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.servers == nil {
		m.servers = map[int64]*aiproxy.MCPServer{}
	}
	m.servers[s.ID] = s
}

// SetValues stores what v.GroupID set for v.ServerID.
func (m *Servers) SetValues(v *aiproxy.MCPGroupValues) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.values == nil {
		m.values = map[valuesKey]*aiproxy.MCPGroupValues{}
	}
	m.values[valuesKey{v.ServerID, v.GroupID}] = v
}

// MCPServer returns server id, or ENOTFOUND.
func (m *Servers) MCPServer(ctx context.Context, id int64) (*aiproxy.MCPServer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.servers[id]; ok {
		return s, nil
	}
	return nil, aiproxy.Errorf(aiproxy.ENOTFOUND, "mcptest: server %d not found", id)
}

// MCPServers returns the servers f selects, by ID.
func (m *Servers) MCPServers(ctx context.Context, f aiproxy.MCPServerFilter) ([]*aiproxy.MCPServer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*aiproxy.MCPServer
	for _, s := range m.servers {
		if f.GroupID != "" && s.Scope == aiproxy.MCPGroup && s.GroupID != f.GroupID {
			continue
		}
		if (f.Kind != "" && s.Kind != f.Kind) || (f.Scope != "" && s.Scope != f.Scope) {
			continue
		}
		out = append(out, s)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].ID < out[j-1].ID; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, nil
}

// MCPGroupValues returns what group set for server, an empty value when
// nothing.
func (m *Servers) MCPGroupValues(ctx context.Context, server int64, group string) (*aiproxy.MCPGroupValues, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.values[valuesKey{server, group}]; ok {
		return v, nil
	}
	return &aiproxy.MCPGroupValues{ServerID: server, GroupID: group}, nil
}

// Tool is a tool of a Toolset: its definition and what a call does. A
// nil Func answers with the text "ok".
type Tool struct {
	Tool mcpgo.Tool
	Func func(ctx context.Context, c mcp.Caller, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error)
}

// Toolset is a toolset of Go functions.
type Toolset struct {
	List   []Tool // the tools, in order
	closed atomic.Int32
	calls  atomic.Int64
}

var _ mcp.Toolset = (*Toolset)(nil)

// Tools lists the tools.
func (t *Toolset) Tools(ctx context.Context) ([]mcpgo.Tool, error) {
	out := make([]mcpgo.Tool, len(t.List))
	for i, tl := range t.List {
		out[i] = tl.Tool
	}
	return out, nil
}

// Call calls the tool named by req; ENOTFOUND for an unknown one.
func (t *Toolset) Call(ctx context.Context, c mcp.Caller, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	t.calls.Add(1)
	for _, tl := range t.List {
		if tl.Tool.Name == req.Params.Name {
			if tl.Func == nil {
				return mcpgo.NewToolResultText("ok"), nil
			}
			return tl.Func(ctx, c, req)
		}
	}
	return nil, aiproxy.Errorf(aiproxy.ENOTFOUND, "mcptest: unknown tool %s", req.Params.Name)
}

// Close marks the toolset closed.
func (t *Toolset) Close() error {
	t.closed.Add(1)
	return nil
}

// Closed reports how many times Close was called.
func (t *Toolset) Closed() int { return int(t.closed.Load()) }

// Calls reports how many calls the toolset served.
func (t *Toolset) Calls() int64 { return t.calls.Load() }

// Builder builds toolsets with a function, counting them.
type Builder struct {
	Func   func(s *aiproxy.MCPServer, v *aiproxy.MCPGroupValues) (*Toolset, error)
	mu     sync.Mutex
	builds []*Toolset
}

var _ mcp.ToolsetBuilder = (*Builder)(nil)

// Build returns Func's toolset.
func (b *Builder) Build(ctx context.Context, s *aiproxy.MCPServer, v *aiproxy.MCPGroupValues) (mcp.Toolset, error) {
	ts, err := b.Func(s, v)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.builds = append(b.builds, ts)
	b.mu.Unlock()
	return ts, nil
}

// Built returns the toolsets built so far, in order.
func (b *Builder) Built() []*Toolset {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*Toolset(nil), b.builds...)
}
