package mcp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
)

// Servers is where the gateway finds the MCP servers it hosts and what
// groups set for them: the store's cached aiproxy.MCPService. It is asked
// on every request, so it must answer from memory. Errors: ENOTFOUND for
// an unknown server.
type Servers interface {
	MCPServer(ctx context.Context, id int64) (*aiproxy.MCPServer, error)
	MCPServers(ctx context.Context, f aiproxy.MCPServerFilter) ([]*aiproxy.MCPServer, error)
	// MCPGroupValues returns what group set for server: an empty value,
	// not an error, when it set nothing.
	MCPGroupValues(ctx context.Context, server int64, group string) (*aiproxy.MCPGroupValues, error)
}

// AggregateSeparator joins a server's name and a tool's in the tool names
// of the aggregate endpoint /mcp: "weather__forecast". Server names may
// themselves hold "__"; a call is routed to the server with the longest
// name that, followed by the separator, begins the tool's name. "__" was
// chosen over "." or "/" because model APIs accept tool names of
// letters, digits, '_' and '-' only.
const AggregateSeparator = "__"

// Gateway serves the tools of the hosted MCP servers to the groups'
// clients:
//
//	/mcp/public/{id}, /mcp/group/{id}  Streamable HTTP, one server
//	/mcp                               Streamable HTTP, every server the key may use, namespaced
//	.../sse and .../message            the legacy HTTP+SSE transport of each of them
//
// It speaks MCP's JSON-RPC itself rather than through mcp-go's
// server.StreamableHTTPServer and server.SSEServer: those keep their
// sessions (and the SSE streams' queues) in per-process maps, so a
// session opened on one replica would be unknown to the next. Here every
// request is served from the SessionStore and the request's own key, by
// whichever replica it reaches; only a legacy SSE stream lives on one
// replica, and answers reach it through SessionStore.Deliver. mcp-go's
// types (mcpgo.Tool, mcpgo.CallToolResult, ...) are the wire format.
//
// Keys, Servers, Builders, Sessions and Logs are required; every other
// field has a working zero value. Fields must not change once the
// Gateway served a request.
type Gateway struct {
	// Servers finds the hosted servers (the store's cache).
	Servers Servers
	// Keys resolves API keys to tokens, as for the relay.
	Keys relay.Keys
	// Builders build each server kind's toolset. Toolsets are cached per
	// server and group, and rebuilt (the old one closed) when the
	// server's or the group's values' UpdatedAt changes.
	Builders map[aiproxy.MCPKind]ToolsetBuilder
	// Sessions keeps the sessions, shared by the replicas.
	Sessions SessionStore
	// Logs takes the log entry of every tool call (aiproxy.ModeMCP).
	Logs aiproxy.LogRecorder

	// Limiter admits tool calls against the token's RPM, the group's
	// concurrency cap, ToolRPM and, with Billing, the token's quotas and
	// a prepaid group's balance (the same counters as model usage). Nil
	// admits everything.
	Limiter relay.Limiter
	// Charger is told what every priced tool call cost. Nil: nobody is.
	Charger aiproxy.Charger
	// Billing refuses priced calls the token's quota or the prepaid
	// group's balance does not cover, as the relay's Billing does.
	Billing bool
	// ToolRPM caps each group's calls of each tool per minute (the
	// counter of the model "mcp/<server>/<tool>"); 0 is no cap.
	ToolRPM int64
	// QuotaLocation is the time zone quota periods begin in; nil means UTC.
	QuotaLocation *time.Location

	// Origins are the browser origins allowed besides the gateway's own
	// host (such as "https://app.example.com"; "*" allows any). A request
	// with another Origin is refused with 403, as MCP requires against
	// DNS rebinding; requests without one (non-browser clients) pass.
	Origins []string
	// TrustedProxies are the networks whose X-Forwarded-For is believed,
	// as for the relay. Empty: the header is ignored.
	TrustedProxies []netip.Prefix
	// SessionTTL is how long a session lives after its last request (or
	// an SSE stream's last refresh); 0 means 30 minutes.
	SessionTTL time.Duration
	// KeepAlive is how often an idle SSE stream gets a comment, so that
	// proxies keep it open; 0 means 25 seconds.
	KeepAlive time.Duration
	// MaxBodyBytes caps a request body; 0 means 4 MiB.
	MaxBodyBytes int64
	// Logger receives internal failures. Nil means slog.Default().
	Logger *slog.Logger

	once     sync.Once
	router   chi.Router
	idPrefix string
	counter  atomic.Uint64

	mu       sync.Mutex
	toolsets map[toolsetKey]*toolsetEntry
	closed   chan struct{} // closed by Close: SSE streams end
	stopOnce sync.Once

	limiterWarned atomic.Int64
}

// ServeHTTP serves the routes of Mount.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.once.Do(func() {
		rt := chi.NewRouter()
		g.Mount(rt)
		g.router = rt
	})
	g.router.ServeHTTP(w, r)
}

// Mount registers the gateway's routes on r.
func (g *Gateway) Mount(r chi.Router) {
	g.setup()
	for _, k := range []endpointKind{endpointAggregate, endpointPublic, endpointGroup} {
		base := k.pattern()
		r.HandleFunc(base, g.streamable(k))
		r.HandleFunc(base+"/sse", g.sseStream(k))
		r.HandleFunc(base+"/message", g.sseMessage(k))
	}
}

func (g *Gateway) setup() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.toolsets != nil {
		return
	}
	var b [6]byte
	rand.Read(b[:])
	g.idPrefix = hex.EncodeToString(b[:])
	g.toolsets = map[toolsetKey]*toolsetEntry{}
	g.closed = make(chan struct{})
}

// Close ends the open SSE streams (their sessions with them) and closes
// every cached toolset, once the requests using them are done. The
// Gateway is not used after. On shutdown, call it when the HTTP server
// begins to shut down (http.Server.RegisterOnShutdown): SSE streams
// never go idle by themselves.
func (g *Gateway) Close() error {
	g.setup()
	g.stopOnce.Do(func() { close(g.closed) })
	g.mu.Lock()
	ts := g.toolsets
	g.toolsets = map[toolsetKey]*toolsetEntry{}
	g.mu.Unlock()
	for _, e := range ts {
		<-e.ready
		e.inUse.Wait()
		if e.ts != nil {
			e.ts.Close()
		}
	}
	return nil
}

// requestID returns a new log request id: a per-process random prefix
// and a counter.
func (g *Gateway) requestID() string {
	return "mcp_" + g.idPrefix + strconv.FormatUint(g.counter.Add(1), 36)
}

func (g *Gateway) logger() *slog.Logger {
	if g.Logger != nil {
		return g.Logger
	}
	return slog.Default()
}

// endpointKind is which of the gateway's endpoints a request is to.
type endpointKind uint8

const (
	endpointAggregate endpointKind = iota
	endpointPublic
	endpointGroup
)

func (k endpointKind) pattern() string {
	switch k {
	case endpointPublic:
		return "/mcp/public/{id}"
	case endpointGroup:
		return "/mcp/group/{id}"
	}
	return "/mcp"
}

// hosted is one server as a caller may use it: the server and what the
// caller's group set for it.
type hosted struct {
	srv    *aiproxy.MCPServer
	values *aiproxy.MCPGroupValues
}

// target is what one endpoint serves one caller: the endpoint's path (no
// /sse or /message) and its servers.
type target struct {
	kind    endpointKind
	path    string
	servers []hosted
}

// errNoServer is the answer for a server that does not exist or that the
// caller's group may not use: the same, so existence is not revealed.
func errNoServer() error {
	return aiproxy.ReasonErrorf(aiproxy.ENOTFOUND, "mcp_server_not_found", "The MCP server does not exist or you do not have access to it.")
}

// target resolves the endpoint of r for caller c: ENOTFOUND for a server
// that is not there for c's group, EFORBIDDEN for one its token may not
// use.
func (g *Gateway) target(ctx context.Context, r *http.Request, k endpointKind, c Caller) (*target, error) {
	t := &target{kind: k, path: "/mcp"}
	if k == endpointAggregate {
		list, err := g.Servers.MCPServers(ctx, aiproxy.MCPServerFilter{GroupID: c.GroupID})
		if err != nil {
			return nil, fmt.Errorf("mcp: list servers: %w", err)
		}
		for _, s := range list {
			if !s.UsableBy(c.GroupID) || !c.Token.AllowsMCPServer(s.Name) {
				continue
			}
			v, err := g.Servers.MCPGroupValues(ctx, s.ID, c.GroupID)
			if err != nil {
				return nil, fmt.Errorf("mcp: group values: %w", err)
			}
			if s.Scope == aiproxy.MCPPublic && v != nil && v.Disabled {
				continue
			}
			t.servers = append(t.servers, hosted{srv: s, values: v})
		}
		return t, nil
	}
	raw := chi.URLParam(r, "id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return nil, errNoServer()
	}
	s, err := g.Servers.MCPServer(ctx, id)
	if aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
		return nil, errNoServer()
	} else if err != nil {
		return nil, fmt.Errorf("mcp: find server: %w", err)
	}
	want := aiproxy.MCPPublic
	if k == endpointGroup {
		want = aiproxy.MCPGroup
	}
	if s.Scope != want || !s.UsableBy(c.GroupID) {
		return nil, errNoServer()
	}
	v, err := g.Servers.MCPGroupValues(ctx, s.ID, c.GroupID)
	if err != nil {
		return nil, fmt.Errorf("mcp: group values: %w", err)
	}
	if s.Scope == aiproxy.MCPPublic && v != nil && v.Disabled {
		return nil, errNoServer()
	}
	if !c.Token.AllowsMCPServer(s.Name) {
		return nil, aiproxy.ReasonErrorf(aiproxy.EFORBIDDEN, "mcp_server_not_allowed", "This API key is not allowed to use the MCP server `%s`.", s.Name)
	}
	t.path = "/mcp/" + string(want) + "/" + raw
	t.servers = []hosted{{srv: s, values: v}}
	return t, nil
}

// toolsetKey identifies a cached toolset: one server as one group sees it.
type toolsetKey struct {
	server int64
	group  string
}

// toolsetEntry is a cached toolset, built once by whoever asked first
// (the others wait for ready).
type toolsetEntry struct {
	version string
	ready   chan struct{}
	ts      Toolset
	err     error
	// inUse counts the requests using ts, so that a replaced toolset is
	// closed only once they are done. It is added to only while the entry
	// is in the cache, under Gateway.mu.
	inUse sync.WaitGroup
}

// toolset returns the toolset of h for group, from the cache when the
// server and the group's values are those it was built from; otherwise it
// builds one and closes the one it replaces once the requests using it
// are done. The caller calls release when it no longer uses the toolset
// (also on error).
func (g *Gateway) toolset(ctx context.Context, h hosted, group string) (ts Toolset, release func(), err error) {
	version := h.srv.UpdatedAt.UTC().Format(time.RFC3339Nano)
	if h.values != nil {
		version += "/" + h.values.UpdatedAt.UTC().Format(time.RFC3339Nano)
	}
	key := toolsetKey{server: h.srv.ID, group: group}
	g.mu.Lock()
	e := g.toolsets[key]
	if e != nil && e.version == version {
		e.inUse.Add(1)
		g.mu.Unlock()
		<-e.ready
		return e.ts, e.inUse.Done, e.err
	}
	old := e
	e = &toolsetEntry{version: version, ready: make(chan struct{})}
	e.inUse.Add(1)
	g.toolsets[key] = e
	g.mu.Unlock()

	b := g.Builders[h.srv.Kind]
	if b == nil {
		e.err = aiproxy.Errorf(aiproxy.EINTERNAL, "mcp: no toolset builder for kind %q", h.srv.Kind)
	} else {
		// The toolset outlives this request: it is built on a context
		// that is not cancelled with it.
		e.ts, e.err = b.Build(context.WithoutCancel(ctx), h.srv, h.values)
		if e.err != nil {
			e.err = fmt.Errorf("mcp: build toolset of %s: %w", h.srv.Name, e.err)
		}
	}
	close(e.ready)
	if e.err != nil {
		g.mu.Lock()
		if g.toolsets[key] == e {
			delete(g.toolsets, key) // not cached: the next request tries again
		}
		g.mu.Unlock()
	}
	if old != nil {
		go func() {
			<-old.ready
			old.inUse.Wait()
			if old.ts != nil {
				if err := old.ts.Close(); err != nil {
					g.logger().Warn("mcp: close a replaced toolset", "server", h.srv.Name, "err", err)
				}
			}
		}()
	}
	return e.ts, e.inUse.Done, e.err
}
