package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/aiproxy/aiproxy"
)

// proxyUpstream is a real mcp-go server on httptest, the remote server
// of the proxy tests, recording the requests it gets.
type proxyUpstream struct {
	srv *httptest.Server
	url string // the MCP endpoint

	mu      sync.Mutex
	headers []http.Header
	queries []url.Values
	methods []string // JSON-RPC methods posted
	bodies  []string

	expireNext atomic.Bool // answer the next tools/* POST with 404, as for a forgotten session
	fail500    atomic.Bool // answer every tools/* POST with a 500 echoing the request's credentials
}

func (u *proxyUpstream) count(method string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, m := range u.methods {
		if m == method {
			n++
		}
	}
	return n
}

// inits counts the connections initialized (server/discover or
// initialize, whichever era the client settled on).
func (u *proxyUpstream) inits() int {
	return max(u.count("initialize"), u.count(string(mcpgo.MethodServerDiscover)))
}

// newProxyUpstream starts a remote server of kind "streamable" (which
// speaks every protocol version), "legacy" (Streamable HTTP with sessions,
// refusing the 2026-07-28 server/discover) or "sse".
func newProxyUpstream(tb testing.TB, kind string) *proxyUpstream {
	tb.Helper()
	s := mcpserver.NewMCPServer("remote", "1.0")
	s.AddTool(mcpgo.NewTool("echo", mcpgo.WithString("msg")), func(_ context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
		return mcpgo.NewToolResultText("echo: " + req.GetString("msg", "")), nil
	})
	s.AddTool(mcpgo.NewTool("fail"), func(context.Context, mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
		return mcpgo.NewToolResultError("remote says no"), nil
	})
	s.AddTool(mcpgo.NewTool("boom"), func(_ context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
		return nil, errors.New("database exploded for key " + req.Header.Get("X-Admin-Key"))
	})
	u := &proxyUpstream{}
	sse := kind == "sse"
	var h http.Handler
	switch kind {
	case "sse":
		h = mcpserver.NewSSEServer(s)
	case "legacy":
		h = mcpserver.NewStreamableHTTPServer(s, mcpserver.WithStateful(true))
	default:
		h = mcpserver.NewStreamableHTTPServer(s)
	}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var method string
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			var m struct {
				ID     json.RawMessage
				Method string
			}
			json.Unmarshal(body, &m)
			method = m.Method
			if kind == "legacy" && method == string(mcpgo.MethodServerDiscover) {
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"jsonrpc":"2.0","id":` + string(m.ID) + `,"error":{"code":-32601,"message":"method not found"}}`))
				return
			}
		}
		u.mu.Lock()
		u.headers = append(u.headers, r.Header.Clone())
		u.queries = append(u.queries, r.URL.Query())
		if method != "" {
			u.methods = append(u.methods, method)
		}
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			u.bodies = append(u.bodies, string(body))
		}
		u.mu.Unlock()
		if strings.HasPrefix(method, "tools/") {
			if u.fail500.Load() {
				http.Error(w, "bad credentials "+r.Header.Get("X-Admin-Key")+" "+r.URL.Query().Get("gkey"), http.StatusInternalServerError)
				return
			}
			if !sse && u.expireNext.CompareAndSwap(true, false) {
				if kind == "legacy" && r.Header.Get("Mcp-Session-Id") == "" {
					tb.Errorf("a %s request without a session", method)
				}
				http.Error(w, "session not found", http.StatusNotFound)
				return
			}
		}
		h.ServeHTTP(w, r)
	}))
	tb.Cleanup(u.srv.Close)
	u.url = u.srv.URL + "/mcp"
	if sse {
		u.url = u.srv.URL + "/sse"
	}
	return u
}

// proxyTestServer returns a PROXY server relaying u, with admin and group
// credentials.
func proxyTestServer(u *proxyUpstream, sse bool) *aiproxy.MCPServer {
	s := &aiproxy.MCPServer{ID: 7, Name: "remote", Kind: aiproxy.MCPProxy, Enabled: true, AllowPrivateNetwork: true,
		UpdatedAt: time.Unix(1000, 0),
		Proxy: &aiproxy.MCPProxyConfig{URL: u.url,
			Headers: map[string]string{"X-Admin-Key": "admin-secret-1"}, Query: map[string]string{"akey": "admin-query-secret"},
			GroupHeaders: []string{"X-Group-Key"}, GroupQuery: []string{"gkey"}}}
	if sse {
		s.Proxy.Transport = "sse"
	}
	return s
}

var proxyTestValues = &aiproxy.MCPGroupValues{ServerID: 7, GroupID: "acme",
	Values: map[string]string{"X-Group-Key": "group-secret-1", "gkey": "group-query-secret"}}

// proxyCall calls tool through ts as the gateway's MCP server would pass
// the request on: with the MCP client's own headers, credential included.
func proxyCall(ts Toolset, tool string, args map[string]any) (*mcpgo.CallToolResult, error) {
	var req mcpgo.CallToolRequest
	req.Params.Name, req.Params.Arguments = tool, args
	req.Header = http.Header{"Authorization": {"Bearer sk-gateway-credential"}, "X-Api-Key": {"sk-gateway-credential"}}
	req.Params.Meta = &mcpgo.Meta{AdditionalFields: map[string]any{"gatewayToken": "sk-gateway-credential"}}
	return ts.Call(context.Background(), Caller{GroupID: "acme", Token: &aiproxy.Token{ID: 1, GroupID: "acme"}}, req)
}

func proxyText(res *mcpgo.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if t, ok := c.(mcpgo.TextContent); ok {
			b.WriteString(t.Text)
		}
	}
	return b.String()
}

func TestProxyRelay(t *testing.T) {
	for _, tr := range []struct {
		name string
		sse  bool
	}{{"streamable", false}, {"legacy", false}, {"sse", true}} {
		t.Run(tr.name, func(t *testing.T) {
			u := newProxyUpstream(t, tr.name)
			b := &ProxyBuilder{}
			defer b.Close()
			ts, err := b.Build(context.Background(), proxyTestServer(u, tr.sse), proxyTestValues)
			if err != nil {
				t.Fatal(err)
			}
			defer ts.Close()

			tools, err := ts.Tools(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tl := range tools {
				names = append(names, tl.Name)
			}
			slices.Sort(names)
			if strings.Join(names, ",") != "boom,echo,fail" {
				t.Fatalf("tools %v", names)
			}

			tests := []struct {
				tool    string
				args    map[string]any
				want    string // the result's text
				isError bool
				code    string // of the call's error
				msg     string // in it
			}{
				{tool: "echo", args: map[string]any{"msg": "hi"}, want: "echo: hi"},
				{tool: "fail", want: "remote says no", isError: true},
				{tool: "boom", code: aiproxy.EUPSTREAM, msg: "database exploded for key [redacted]"},
				{tool: "nope", code: aiproxy.ENOTFOUND, msg: `no tool "nope"`},
			}
			for _, tt := range tests {
				res, err := proxyCall(ts, tt.tool, tt.args)
				if tt.code != "" {
					if aiproxy.ErrorCode(err) != tt.code || !strings.Contains(aiproxy.ErrorMessage(err), tt.msg) {
						t.Errorf("%s: got %v, want %s with %q", tt.tool, err, tt.code, tt.msg)
					}
					if strings.Contains(aiproxy.ErrorMessage(err), "admin-secret-1") {
						t.Errorf("%s: the error holds a secret: %v", tt.tool, err)
					}
					continue
				}
				if err != nil {
					t.Errorf("%s: %v", tt.tool, err)
					continue
				}
				if got := proxyText(res); got != tt.want || res.IsError != tt.isError {
					t.Errorf("%s: got %q (isError %v), want %q (isError %v)", tt.tool, got, res.IsError, tt.want, tt.isError)
				}
			}

			if got := u.inits(); got != 1 {
				t.Errorf("%d initializations for one connection, want 1", got)
			}
			u.mu.Lock()
			defer u.mu.Unlock()
			if len(u.headers) == 0 {
				t.Fatal("the remote server got no request")
			}
			for i, h := range u.headers {
				q := u.queries[i]
				if h.Get("X-Admin-Key") != "admin-secret-1" || h.Get("X-Group-Key") != "group-secret-1" ||
					q.Get("akey") != "admin-query-secret" || q.Get("gkey") != "group-query-secret" {
					t.Errorf("request %d lacks the configured credentials: %v %v", i, h, q)
				}
				for k, vs := range h {
					for _, v := range vs {
						if strings.Contains(v, "sk-gateway") {
							t.Errorf("request %d carries the gateway credential in %s", i, k)
						}
					}
				}
			}
			for _, body := range u.bodies {
				if strings.Contains(body, "sk-gateway") {
					t.Errorf("a request body carries the gateway credential: %s", body)
				}
			}
		})
	}
}

func TestProxySessionExpiry(t *testing.T) {
	for _, kind := range []string{"streamable", "legacy"} {
		t.Run(kind, func(t *testing.T) {
			u := newProxyUpstream(t, kind)
			b := &ProxyBuilder{}
			defer b.Close()
			ts, err := b.Build(context.Background(), proxyTestServer(u, false), proxyTestValues)
			if err != nil {
				t.Fatal(err)
			}
			defer ts.Close()
			for i := range 3 {
				res, err := proxyCall(ts, "echo", map[string]any{"msg": "a"})
				if err != nil || proxyText(res) != "echo: a" {
					t.Fatalf("call %d: %v %v", i, res, err)
				}
			}
			if got := u.inits(); got != 1 {
				t.Fatalf("%d initializations before expiry, want 1", got)
			}
			u.expireNext.Store(true)
			res, err := proxyCall(ts, "echo", map[string]any{"msg": "b"})
			if err != nil || proxyText(res) != "echo: b" {
				t.Fatalf("call after expiry: %v %v", res, err)
			}
			if got := u.inits(); got != 2 {
				t.Fatalf("%d initializations after expiry, want 2", got)
			}
			if kind == "legacy" && u.count("initialize") != 2 {
				t.Fatalf("%d legacy initializations, want 2", u.count("initialize"))
			}
		})
	}
}

func TestProxyPool(t *testing.T) {
	u := newProxyUpstream(t, "streamable")
	b := &ProxyBuilder{}
	defer b.Close()
	srv := proxyTestServer(u, false)
	build := func(s *aiproxy.MCPServer, v *aiproxy.MCPGroupValues) Toolset {
		t.Helper()
		ts, err := b.Build(context.Background(), s, v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := proxyCall(ts, "echo", nil); err != nil {
			t.Fatal(err)
		}
		return ts
	}
	a1 := build(srv, proxyTestValues)
	a2 := build(srv, proxyTestValues)
	if got := u.inits(); got != 1 {
		t.Fatalf("two toolsets of one group: %d initializations, want 1", got)
	}
	other := &aiproxy.MCPGroupValues{GroupID: "other", Values: proxyTestValues.Values}
	o := build(srv, other)
	changed := *srv
	changed.UpdatedAt = srv.UpdatedAt.Add(time.Second)
	c := build(&changed, proxyTestValues)
	if got := u.inits(); got != 3 {
		t.Fatalf("another group and a changed server: %d initializations, want 3", got)
	}
	poolSize := func() int {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.pool)
	}
	if n := poolSize(); n != 3 {
		t.Fatalf("pool of %d, want 3", n)
	}
	a1.Close()
	a1.Close() // twice is once
	if n := poolSize(); n != 3 {
		t.Fatalf("pool of %d after closing one of two toolsets, want 3", n)
	}
	if _, err := proxyCall(a2, "echo", nil); err != nil {
		t.Fatalf("the other toolset of the connection: %v", err)
	}
	a2.Close()
	o.Close()
	c.Close()
	if n := poolSize(); n != 0 {
		t.Fatalf("pool of %d after closing every toolset, want 0", n)
	}
}

func TestProxyToolsCache(t *testing.T) {
	tests := []struct {
		name  string
		ttl   time.Duration
		lists int
	}{
		{name: "cached", ttl: 0, lists: 1},
		{name: "not cached", ttl: -1, lists: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newProxyUpstream(t, "streamable")
			b := &ProxyBuilder{ToolsTTL: tt.ttl}
			defer b.Close()
			ts, err := b.Build(context.Background(), proxyTestServer(u, false), proxyTestValues)
			if err != nil {
				t.Fatal(err)
			}
			defer ts.Close()
			for range 3 {
				if _, err := ts.Tools(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if got := u.count("tools/list"); got != tt.lists {
				t.Fatalf("%d tools/list, want %d", got, tt.lists)
			}
		})
	}
}

func TestProxyErrors(t *testing.T) {
	u := newProxyUpstream(t, "streamable")
	tests := []struct {
		name   string
		server func(*aiproxy.MCPServer)
		values *aiproxy.MCPGroupValues
		setup  func()
		field  string // of an EINVALID Build error
		code   string // of the Tools error
		msg    string // in it, and in Call's tool error for missing values
		secret []string
	}{
		{name: "bad url", server: func(s *aiproxy.MCPServer) { s.Proxy.URL = "ftp://x" }, field: "proxy.url"},
		{name: "bad transport", server: func(s *aiproxy.MCPServer) { s.Proxy.Transport = "ws" }, field: "proxy.transport"},
		{name: "group values missing", values: nil, code: aiproxy.EINVALID,
			msg: "needs your group to set its header X-Group-Key, query parameter gkey"},
		{name: "private address refused", server: func(s *aiproxy.MCPServer) { s.AllowPrivateNetwork = false }, values: proxyTestValues,
			code: aiproxy.EUPSTREAM, msg: "refused: the address is loopback"},
		{name: "secrets scrubbed", values: proxyTestValues, setup: func() { u.fail500.Store(true) },
			code: aiproxy.EUPSTREAM, msg: "bad credentials [redacted] [redacted]", secret: []string{"admin-secret-1", "group-query-secret"}},
		{name: "unreachable", server: func(s *aiproxy.MCPServer) { s.Proxy.URL = "http://127.0.0.1:1/mcp?akey=x" }, values: proxyTestValues,
			code: aiproxy.EUPSTREAM, msg: "connecting to the remote MCP server remote", secret: []string{"admin-query-secret", "group-query-secret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u.fail500.Store(false)
			if tt.setup != nil {
				tt.setup()
			}
			s := proxyTestServer(u, false)
			if tt.server != nil {
				tt.server(s)
			}
			b := &ProxyBuilder{ConnectTimeout: 5 * time.Second}
			defer b.Close()
			ts, err := b.Build(context.Background(), s, tt.values)
			if tt.field != "" {
				if aiproxy.ErrorCode(err) != aiproxy.EINVALID || aiproxy.ErrorField(err) != tt.field {
					t.Fatalf("got %v, want EINVALID naming %s", err, tt.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer ts.Close()
			_, err = ts.Tools(context.Background())
			if aiproxy.ErrorCode(err) != tt.code || !strings.Contains(aiproxy.ErrorMessage(err), tt.msg) {
				t.Fatalf("tools: got %v, want %s with %q", err, tt.code, tt.msg)
			}
			for _, sec := range tt.secret {
				if strings.Contains(aiproxy.ErrorMessage(err), sec) {
					t.Fatalf("the error holds the secret %s: %v", sec, err)
				}
			}
			res, err := proxyCall(ts, "echo", nil)
			if tt.code == aiproxy.EINVALID {
				if err != nil || !res.IsError || !strings.Contains(proxyText(res), tt.msg) {
					t.Fatalf("call: got %v %v, want a tool error with %q", res, err, tt.msg)
				}
				return
			}
			if aiproxy.ErrorCode(err) != tt.code {
				t.Fatalf("call: got %v, want %s", err, tt.code)
			}
		})
	}
}

// TestProxyCloseLeaksNothing checks that closing the builder ends the
// goroutines of its connections (the SSE stream's reader included).
func TestProxyCloseLeaksNothing(t *testing.T) {
	for _, kind := range []string{"streamable", "sse"} {
		t.Run(kind, func(t *testing.T) {
			u := newProxyUpstream(t, kind)
			before := runtime.NumGoroutine()
			b := &ProxyBuilder{}
			ts, err := b.Build(context.Background(), proxyTestServer(u, kind == "sse"), proxyTestValues)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := proxyCall(ts, "echo", nil); err != nil {
				t.Fatal(err)
			}
			ts.Close()
			b.Close()
			u.srv.CloseClientConnections()
			deadline := time.Now().Add(5 * time.Second)
			for runtime.NumGoroutine() > before {
				if time.Now().After(deadline) {
					buf := make([]byte, 1<<16)
					t.Fatalf("%d goroutines after closing, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
