package mcp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
)

// Defaults of ProxyBuilder.
const (
	defaultProxyToolsTTL       = 30 * time.Second
	defaultProxyConnectTimeout = 30 * time.Second
)

// ProxyBuilder builds the toolsets of PROXY servers: each relays the
// tools of a remote MCP server (aiproxy.MCPProxyConfig) over Streamable
// HTTP or the legacy HTTP+SSE transport. Connections are pooled by
// server, server version (UpdatedAt), group and the group's values, so
// the toolsets built for one group share one initialized connection,
// closed when the last of them is closed. The zero value is ready to
// use; a ProxyBuilder is safe for concurrent use and must not be copied.
type ProxyBuilder struct {
	// NewClient returns the HTTP client to the remote server, given the
	// server's AllowPrivateNetwork and a timeout of 0 (calls are bounded
	// by their context); nil means relay.NewOutboundClient.
	NewClient func(allowPrivate bool, timeout time.Duration) *http.Client
	// ToolsTTL is how long a remote server's tools/list answer is reused;
	// 0 means 30 seconds, a negative value not at all.
	ToolsTTL time.Duration
	// ConnectTimeout bounds connecting to and initializing the remote
	// server; 0 means 30 seconds.
	ConnectTimeout time.Duration

	mu   sync.Mutex
	pool map[proxyKey]*proxyRemote
}

var _ ToolsetBuilder = (*ProxyBuilder)(nil)

// proxyKey identifies a pooled connection.
type proxyKey struct {
	server  int64
	updated int64 // the server's UpdatedAt, in Unix nanoseconds
	group   string
	values  string // a digest of what the group's values add to requests
}

// Build returns the toolset of s, a PROXY server, for the group whose
// values are values (nil: a group that set none). It connects lazily, on
// the first listing or call. It returns an EINVALID *aiproxy.Error naming
// "proxy.url" or "proxy.transport" for a malformed configuration. A
// GroupHeaders or GroupQuery value the group has not set is no error of
// Build: the toolset's Tools returns an EINVALID error saying the group
// must set it, and its Call a tool error.
func (b *ProxyBuilder) Build(_ context.Context, s *aiproxy.MCPServer, values *aiproxy.MCPGroupValues) (Toolset, error) {
	p := s.Proxy
	if p == nil || p.URL == "" {
		return nil, aiproxy.FieldErrorf("proxy.url", "a PROXY server needs the URL of the remote MCP server")
	}
	u, err := url.Parse(p.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, aiproxy.FieldErrorf("proxy.url", "proxy.url must be an absolute http or https URL")
	}
	if p.Transport != "" && p.Transport != "streamable" && p.Transport != "sse" {
		return nil, aiproxy.FieldErrorf("proxy.transport", "transport must be streamable or sse")
	}

	var gv map[string]string
	key := proxyKey{server: s.ID, updated: s.UpdatedAt.UnixNano()}
	if values != nil {
		gv, key.group = values.Values, values.GroupID
	}
	headers := make(map[string]string, len(p.Headers)+len(p.GroupHeaders))
	query := url.Values{}
	var secrets, missing []string
	for k, v := range p.Headers {
		headers[http.CanonicalHeaderKey(k)] = v
		secrets = append(secrets, v)
	}
	for k, v := range p.Query {
		query.Set(k, v)
		secrets = append(secrets, v)
	}
	digest := sha256.New()
	for _, group := range []struct {
		names []string
		set   func(k, v string)
		kind  string
	}{
		{p.GroupHeaders, func(k, v string) { headers[http.CanonicalHeaderKey(k)] = v }, "header"},
		{p.GroupQuery, query.Set, "query parameter"},
	} {
		for _, name := range group.names {
			v := gv[name]
			if v == "" {
				missing = append(missing, group.kind+" "+name)
				continue
			}
			group.set(name, v)
			secrets = append(secrets, v)
			digest.Write([]byte(group.kind + "\x00" + name + "\x00" + v + "\x00"))
		}
	}
	t := &proxyToolset{b: b, name: s.Name, missing: missing}
	if len(missing) > 0 {
		return t, nil
	}
	key.values = hex.EncodeToString(digest.Sum(nil))

	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.pool[key]
	if r == nil {
		r = b.newRemote(s, u, headers, query, secrets)
		r.key = key
		if b.pool == nil {
			b.pool = map[proxyKey]*proxyRemote{}
		}
		b.pool[key] = r
	}
	r.refs++
	t.r = r
	return t, nil
}

// Close closes every pooled connection; the toolsets built before are
// not used after.
func (b *ProxyBuilder) Close() error {
	b.mu.Lock()
	pool := b.pool
	b.pool = nil
	b.mu.Unlock()
	for _, r := range pool {
		r.close()
	}
	return nil
}

// release drops a toolset's hold on r, closing r with the last.
func (b *ProxyBuilder) release(r *proxyRemote) {
	b.mu.Lock()
	r.refs--
	last := r.refs == 0
	if last && b.pool[r.key] == r {
		delete(b.pool, r.key)
	}
	b.mu.Unlock()
	if last {
		r.close()
	}
}

func (b *ProxyBuilder) newRemote(s *aiproxy.MCPServer, u *url.URL, headers map[string]string, query url.Values, secrets []string) *proxyRemote {
	newClient := b.NewClient
	if newClient == nil {
		newClient = relay.NewOutboundClient
	}
	hc := *newClient(s.AllowPrivateNetwork, 0) // a copy, to wrap its transport
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hc.Transport = &proxyCredentials{next: next, scheme: u.Scheme, host: u.Host, headers: headers, query: query}

	// Longer secrets first, so that one holding another is scrubbed whole;
	// their URL-encoded forms too, as URLs appear in errors.
	var scrub []string
	for _, v := range secrets {
		if len(v) >= 3 {
			scrub = append(scrub, v, url.QueryEscape(v), url.PathEscape(v))
		}
	}
	sort.Slice(scrub, func(i, j int) bool { return len(scrub[i]) > len(scrub[j]) })

	r := &proxyRemote{name: s.Name, url: u.String(), sse: s.Proxy.Transport == "sse", hc: &hc, secrets: scrub,
		ttl: b.ToolsTTL, connectTimeout: b.ConnectTimeout}
	if r.ttl == 0 {
		r.ttl = defaultProxyToolsTTL
	}
	if r.connectTimeout <= 0 {
		r.connectTimeout = defaultProxyConnectTimeout
	}
	return r
}

// proxyCredentials sends the configured headers and query parameters
// with every request to the remote server's origin (scheme and host),
// and only to it: never to another origin a redirect or an SSE endpoint
// event points at.
type proxyCredentials struct {
	next         http.RoundTripper
	scheme, host string
	headers      map[string]string
	query        url.Values
}

func (c *proxyCredentials) RoundTrip(req *http.Request) (*http.Response, error) {
	if !strings.EqualFold(req.URL.Scheme, c.scheme) || !strings.EqualFold(req.URL.Host, c.host) {
		return c.next.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	if len(c.query) > 0 {
		q := req.URL.Query()
		for k, vs := range c.query {
			q[k] = vs
		}
		req.URL.RawQuery = q.Encode()
	}
	return c.next.RoundTrip(req)
}

// proxyRemote is one pooled connection to a remote MCP server.
type proxyRemote struct {
	key            proxyKey
	refs           int // guarded by the builder's mu
	name           string
	url            string
	sse            bool
	hc             *http.Client
	secrets        []string
	ttl            time.Duration
	connectTimeout time.Duration

	// toolsChanged is set by the remote server's tools/list_changed
	// notification. Notification handlers take no lock: they run on the
	// transport's goroutines, which closing a client may wait for.
	toolsChanged atomic.Bool

	mu      sync.Mutex // guards what follows, held while connecting
	c       *proxyConn
	closed  bool
	tools   []mcpgo.Tool
	toolsAt time.Time
}

// proxyConn is one initialized client of a remote server.
type proxyConn struct {
	cl     *mcpclient.Client
	cancel context.CancelFunc // ends the client's lifetime context
	lost   atomic.Bool        // the connection was lost: the next use reconnects
}

// conn returns the initialized client, connecting first if need be.
// Concurrent callers wait for one connection.
func (r *proxyRemote) conn(ctx context.Context) (*proxyConn, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, aiproxy.Errorf(aiproxy.EUNAVAILABLE, "the MCP server %s was reconfigured or removed", r.name)
	}
	if r.c != nil && !r.c.lost.Load() {
		return r.c, nil
	}
	r.dropLocked()

	var tr transport.Interface
	var err error
	if r.sse {
		tr, err = transport.NewSSE(r.url, transport.WithHTTPClient(r.hc), transport.WithResponseTimeout(time.Hour))
	} else {
		tr, err = transport.NewStreamableHTTP(r.url, transport.WithHTTPBasicClient(r.hc))
	}
	if err != nil {
		return nil, err
	}
	cl := mcpclient.NewClient(proxyTransport{tr})
	// The client lives until closed, not with the request that opened it
	// (the SSE transport's stream is bound to Start's context); the
	// request's context only bounds connecting.
	life, cancel := context.WithCancel(context.Background())
	initCtx, stopInit := context.WithTimeout(ctx, r.connectTimeout)
	defer stopInit()
	stop := context.AfterFunc(initCtx, cancel)
	err = cl.Start(life)
	if err == nil {
		_, err = cl.Initialize(initCtx, mcpgo.InitializeRequest{Params: mcpgo.InitializeParams{
			ClientInfo: mcpgo.Implementation{Name: "aiproxy", Version: "1"},
		}})
	}
	if !stop() || err != nil {
		cancel()
		cl.Close()
		if err == nil {
			err = initCtx.Err()
		}
		return nil, err
	}
	pc := &proxyConn{cl: cl, cancel: cancel}
	cl.OnConnectionLost(func(error) { pc.lost.Store(true) })
	cl.OnNotification(func(n mcpgo.JSONRPCNotification) {
		if n.Method == string(mcpgo.MethodNotificationToolsListChanged) {
			r.toolsChanged.Store(true)
		}
	})
	r.c = pc
	return pc, nil
}

// reset drops pc, when it is still the connection, so that the next use
// reconnects and initializes again.
func (r *proxyRemote) reset(pc *proxyConn) {
	r.mu.Lock()
	if r.c == pc {
		r.dropLocked()
	}
	r.mu.Unlock()
}

func (r *proxyRemote) dropLocked() {
	if r.c != nil {
		r.c.cl.Close()
		r.c.cancel()
	}
	r.c, r.tools = nil, nil
}

func (r *proxyRemote) close() {
	r.mu.Lock()
	r.closed = true
	r.dropLocked()
	r.mu.Unlock()
}

// expired reports whether err says the remote server forgot the session
// (a 404 on it, the SSE stream gone), which a new one cures.
func (r *proxyRemote) expired(err error) bool {
	if errors.Is(err, transport.ErrSessionTerminated) || errors.Is(err, transport.ErrTransportClosed) {
		return true
	}
	msg := err.Error()
	return r.sse && (strings.Contains(msg, "Invalid session ID") || strings.Contains(msg, "connection has been closed") ||
		strings.Contains(msg, "status 404"))
}

// proxyDo runs f with the client, once more on a new session when the remote
// server forgot the first.
func proxyDo[T any](ctx context.Context, r *proxyRemote, f func(*mcpclient.Client) (T, error)) (T, error) {
	rpcErr := &proxyRPCError{}
	ctx = context.WithValue(ctx, proxyRPCErrorKey{}, rpcErr)
	for attempt := 0; ; attempt++ {
		pc, err := r.conn(ctx)
		if err != nil {
			var zero T
			return zero, r.upstream("connect", err)
		}
		rpcErr.set = false // not an error of the connection's initialization
		v, err := f(pc.cl)
		if err == nil {
			return v, nil
		}
		if attempt == 0 && ctx.Err() == nil && r.expired(err) {
			r.reset(pc)
			continue
		}
		if rpcErr.set {
			return v, aiproxy.Errorf(aiproxy.EUPSTREAM, "the remote MCP server %s answered error %d: %s",
				r.name, rpcErr.code, r.scrub(rpcErr.message))
		}
		return v, r.upstream("", err)
	}
}

// proxyRPCError is the JSON-RPC error a remote server answered, which
// mcp-go's client turns into a bare sentinel error for the standard
// codes: proxyTransport keeps its message for proxyDo, through
// the request's context.
type proxyRPCError struct {
	set     bool
	code    int
	message string
}

type proxyRPCErrorKey struct{}

// proxyTransport is a client transport that records the JSON-RPC errors
// of the remote server (proxyRPCError). It has every optional method the
// client looks for, each passed on when the transport has it and a no-op
// (the client's behaviour without it) when not.
type proxyTransport struct{ transport.Interface }

func (t proxyTransport) SendRequest(ctx context.Context, req transport.JSONRPCRequest) (*transport.JSONRPCResponse, error) {
	resp, err := t.Interface.SendRequest(ctx, req)
	if err == nil && resp != nil && resp.Error != nil {
		if e, ok := ctx.Value(proxyRPCErrorKey{}).(*proxyRPCError); ok {
			e.set, e.code, e.message = true, resp.Error.Code, resp.Error.Message
		}
	}
	return resp, err
}

func (t proxyTransport) SetRequestHandler(h transport.RequestHandler) {
	if b, ok := t.Interface.(transport.BidirectionalInterface); ok {
		b.SetRequestHandler(h)
	}
}

func (t proxyTransport) SetProtocolVersion(v string) {
	if c, ok := t.Interface.(transport.HTTPConnection); ok {
		c.SetProtocolVersion(v)
	}
}

func (t proxyTransport) SetConnectionLostHandler(h func(error)) {
	if s, ok := t.Interface.(interface{ SetConnectionLostHandler(func(error)) }); ok {
		s.SetConnectionLostHandler(h)
	}
}

func (t proxyTransport) RequiresLegacyProtocol() bool {
	l, ok := t.Interface.(interface{ RequiresLegacyProtocol() bool })
	return ok && l.RequiresLegacyProtocol()
}

// listTools returns the remote server's tools, from the cache when fresh.
func (r *proxyRemote) listTools(ctx context.Context) ([]mcpgo.Tool, error) {
	changed := r.toolsChanged.Swap(false)
	r.mu.Lock()
	if !changed && r.tools != nil && r.ttl > 0 && time.Since(r.toolsAt) < r.ttl {
		tools := r.tools
		r.mu.Unlock()
		return tools, nil
	}
	r.mu.Unlock()
	res, err := proxyDo(ctx, r, func(cl *mcpclient.Client) (*mcpgo.ListToolsResult, error) {
		return cl.ListTools(ctx, mcpgo.ListToolsRequest{})
	})
	if err != nil {
		return nil, err
	}
	tools := res.Tools
	if tools == nil {
		tools = []mcpgo.Tool{}
	}
	r.mu.Lock()
	r.tools, r.toolsAt = tools, time.Now()
	r.mu.Unlock()
	return tools, nil
}

// forgetTools drops the cached listing.
func (r *proxyRemote) forgetTools() {
	r.mu.Lock()
	r.tools = nil
	r.mu.Unlock()
}

// upstream turns an error of the remote server or of reaching it into an
// *aiproxy.Error (EUPSTREAM, ETIMEOUT), the configured secrets scrubbed
// from its message.
func (r *proxyRemote) upstream(step string, err error) error {
	var e *aiproxy.Error
	if errors.As(err, &e) {
		return err
	}
	what := "the remote MCP server " + r.name
	if step == "connect" {
		what = "connecting to the remote MCP server " + r.name
	}
	switch {
	case errors.Is(err, relay.ErrPrivateAddress):
		return aiproxy.ReasonErrorf(aiproxy.EUPSTREAM, "private_address", "%s: refused: %v", what, relay.ErrPrivateAddress)
	case errors.Is(err, context.DeadlineExceeded):
		return aiproxy.Errorf(aiproxy.ETIMEOUT, "%s: no answer in time", what)
	}
	return aiproxy.Errorf(aiproxy.EUPSTREAM, "%s: %s", what, r.scrub(err.Error()))
}

// scrub replaces the configured secret values in s.
func (r *proxyRemote) scrub(s string) string {
	for _, v := range r.secrets {
		s = strings.ReplaceAll(s, v, "[redacted]")
	}
	return s
}

// proxyToolset is the Toolset of a PROXY server for one group.
type proxyToolset struct {
	b       *ProxyBuilder
	r       *proxyRemote // nil when values are missing
	name    string
	missing []string // the group values the server needs and the group has not set
	once    sync.Once
}

var _ Toolset = (*proxyToolset)(nil)

// needs says which values the group must set first.
func (t *proxyToolset) needs() string {
	return "the MCP server " + t.name + " needs your group to set its " + strings.Join(t.missing, ", ") +
		" (the group's values for this server) first"
}

// Tools lists the remote server's tools, reusing a listing for ToolsTTL.
// It returns EINVALID when the group has not set a value the server
// needs, EUPSTREAM or ETIMEOUT when the remote server fails.
func (t *proxyToolset) Tools(ctx context.Context) ([]mcpgo.Tool, error) {
	if t.r == nil {
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "%s", t.needs())
	}
	tools, err := t.r.listTools(ctx)
	if err != nil {
		return nil, err
	}
	return append([]mcpgo.Tool(nil), tools...), nil
}

// Call relays a call to the remote server: only the tool's name and
// arguments go, never the caller's request headers or metadata (so never
// the gateway credential of the MCP client). The remote result is
// returned as is, IsError included. It returns ENOTFOUND for a tool the
// remote server does not list, EUPSTREAM (with the remote message, the
// configured secrets scrubbed) or ETIMEOUT when the remote server fails.
func (t *proxyToolset) Call(ctx context.Context, _ Caller, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	if t.r == nil {
		return mcpgo.NewToolResultError(t.needs()), nil
	}
	name := req.Params.Name
	if tools, err := t.r.listTools(ctx); err == nil && !proxyHasTool(tools, name) {
		t.r.forgetTools() // a tool added since the listing was cached?
		if tools, err := t.r.listTools(ctx); err == nil && !proxyHasTool(tools, name) {
			return nil, aiproxy.Errorf(aiproxy.ENOTFOUND, "the MCP server %s has no tool %q", t.name, name)
		}
	}
	var args any = req.Params.Arguments
	if len(req.Params.RawArguments) > 0 {
		args = json.RawMessage(req.Params.RawArguments) // big integers kept exact
	}
	return proxyDo(ctx, t.r, func(cl *mcpclient.Client) (*mcpgo.CallToolResult, error) {
		return cl.CallTool(ctx, mcpgo.CallToolRequest{Params: mcpgo.CallToolParams{Name: name, Arguments: args}})
	})
}

func proxyHasTool(tools []mcpgo.Tool, name string) bool {
	for i := range tools {
		if tools[i].Name == name {
			return true
		}
	}
	return false
}

// Close releases the toolset's hold on the pooled connection; the last
// toolset of a connection closes it.
func (t *proxyToolset) Close() error {
	t.once.Do(func() {
		if t.r != nil {
			t.b.release(t.r)
		}
	})
	return nil
}
