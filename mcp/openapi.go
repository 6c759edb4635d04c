package mcp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/openapi2mcp"
	"github.com/aiproxy/aiproxy/relay"
)

// OpenAPIBuilder builds the toolsets of OPENAPI servers: one tool per
// operation of the server's spec (package openapi2mcp), called on the
// spec's base URL with the server's credentials. A spec is parsed once
// per server version (ID and UpdatedAt) and the parsed form reused. The
// zero value is ready to use; an OpenAPIBuilder is safe for concurrent
// use and must not be copied.
type OpenAPIBuilder struct {
	// Client returns the HTTP client of the operations' calls (and of
	// OAuth2 token requests), given the server's AllowPrivateNetwork;
	// calls are bounded by their context. nil means
	// relay.NewOutboundClient(allowPrivate, 0), which refuses loopback,
	// private, link-local and metadata addresses unless allowPrivate.
	Client func(allowPrivate bool) *http.Client

	mu      sync.Mutex
	specs   map[int64]*parsedSpec
	clients [2]*http.Client                         // the default clients, by allowPrivate
	parse   func([]byte) (*openapi2mcp.Spec, error) // nil: openapi2mcp.Parse; set by tests
}

var _ ToolsetBuilder = (*OpenAPIBuilder)(nil)

// parsedSpec is the parsed spec of one server version (or why it does
// not parse).
type parsedSpec struct {
	updated time.Time
	once    sync.Once
	spec    *openapi2mcp.Spec
	err     error
}

// Build returns the toolset of s, an OPENAPI server; values are ignored
// (an OpenAPI server has no per-group values). It returns an EINVALID
// *aiproxy.Error naming "openapi" when s has no spec content (a SpecURL
// not fetched yet included), "openapi.spec" for a spec that does not
// parse and "baseURL" for a missing or malformed base URL.
func (b *OpenAPIBuilder) Build(_ context.Context, s *aiproxy.MCPServer, _ *aiproxy.MCPGroupValues) (Toolset, error) {
	cfg := s.OpenAPI
	if cfg == nil || cfg.Spec == "" {
		return nil, aiproxy.FieldErrorf("openapi", "an OPENAPI server needs the content of its spec (fetch its specURL first)")
	}
	spec, err := b.spec(s)
	if err != nil {
		var e *aiproxy.Error
		if errors.As(err, &e) && e.Field == "" {
			e2 := *e
			e2.Field = "openapi.spec"
			err = &e2
		}
		return nil, fmt.Errorf("mcp: build openapi server %s: %w", s.Name, err)
	}
	ts, err := openapi2mcp.New(spec, openAPIOptions(cfg, b.client(s.AllowPrivateNetwork)))
	if err != nil {
		return nil, fmt.Errorf("mcp: build openapi server %s: %w", s.Name, err)
	}
	return openAPIToolset{ts}, nil
}

// spec returns the parsed spec of s, parsing it when s is new or was
// updated since. Concurrent builds of one version wait for one parse;
// builds of other servers do not wait for it.
func (b *OpenAPIBuilder) spec(s *aiproxy.MCPServer) (*openapi2mcp.Spec, error) {
	parse := b.parse
	if parse == nil {
		parse = openapi2mcp.Parse
	}
	if s.ID == 0 {
		return parse([]byte(s.OpenAPI.Spec))
	}
	b.mu.Lock()
	e := b.specs[s.ID]
	if e == nil || !e.updated.Equal(s.UpdatedAt) {
		e = &parsedSpec{updated: s.UpdatedAt}
		if b.specs == nil {
			b.specs = map[int64]*parsedSpec{}
		}
		b.specs[s.ID] = e
	}
	b.mu.Unlock()
	e.once.Do(func() { e.spec, e.err = parse([]byte(s.OpenAPI.Spec)) })
	return e.spec, e.err
}

// client returns the client of a server's calls.
func (b *OpenAPIBuilder) client(allowPrivate bool) *http.Client {
	if b.Client != nil {
		return b.Client(allowPrivate)
	}
	i := 0
	if allowPrivate {
		i = 1
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.clients[i] == nil {
		b.clients[i] = relay.NewOutboundClient(allowPrivate, 0)
	}
	return b.clients[i]
}

// openAPIToolset is the Toolset of an OPENAPI server: the same for
// every caller.
type openAPIToolset struct {
	ts *openapi2mcp.Toolset
}

var _ Toolset = openAPIToolset{}

// Tools lists one tool per operation.
func (t openAPIToolset) Tools(context.Context) ([]mcpgo.Tool, error) { return t.ts.Tools(), nil }

// Call calls the operation req names with req's arguments; the caller
// does not matter.
func (t openAPIToolset) Call(ctx context.Context, _ Caller, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	return t.ts.Call(ctx, req.Params.Name, req.GetArguments())
}

// Close releases nothing: the toolset holds no connection of its own.
func (openAPIToolset) Close() error { return nil }
