package mcp_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/mcp"
	"github.com/aiproxy/aiproxy/mcp/mcptest"
	"github.com/aiproxy/aiproxy/relay/relaytest"
	"github.com/aiproxy/aiproxy/store"
)

// Keys of the test tokens.
const (
	keyGood     = "sk-good"
	keyLimited  = "sk-limited" // MCPTools: weather/forecast and notes
	keyDisabled = "sk-disabled"
	keyExpired  = "sk-expired"
	keySubnet   = "sk-subnet" // 10.0.0.0/8 only
	keyGroupOff = "sk-groupoff"
	keyOther    = "sk-other" // group g2
	keyRPM      = "sk-rpm"   // RPM 2
)

// What cmd/aiproxy wires into a Gateway satisfies its interfaces.
var (
	_ mcp.Servers      = (*store.Cache)(nil)
	_ mcp.SessionStore = (*store.MemoryMCPSessions)(nil)
	_ mcp.SessionStore = (*store.RedisMCPSessions)(nil)
)

// env is a gateway mounted on a chi router in httptest, with fake
// servers, toolsets, keys, logs and charges.
type env struct {
	g       *mcp.Gateway
	srv     *httptest.Server
	mem     *relaytest.Memory
	servers *mcptest.Servers
	builder *mcptest.Builder
	// transport, when set, carries the test clients' requests.
	transport http.RoundTripper
}

func (e *env) url(path string) string { return e.srv.URL + path }

// testServers are the hosted servers: 1 weather and 2 notes (public), 3
// private (g1's), 4 other (g2's), 5 off (public, disabled by g1), 6
// disabled (public, not enabled), 7 a__b (public, with "__" in its name).
func testServers() []*aiproxy.MCPServer {
	now := time.Now()
	pub := func(id int64, name string) *aiproxy.MCPServer {
		return &aiproxy.MCPServer{ID: id, Name: name, Kind: aiproxy.MCPEmbedded, Scope: aiproxy.MCPPublic, Enabled: true, UpdatedAt: now}
	}
	weather := pub(1, "weather")
	weather.ToolPrices = map[string]aiproxy.Amount{"forecast": 1500}
	private := pub(3, "private")
	private.Scope, private.GroupID = aiproxy.MCPGroup, "g1"
	other := pub(4, "other")
	other.Scope, other.GroupID = aiproxy.MCPGroup, "g2"
	disabled := pub(6, "disabled")
	disabled.Enabled = false
	return []*aiproxy.MCPServer{weather, pub(2, "notes"), private, other, pub(5, "off"), disabled, pub(7, "a__b")}
}

// toolsetOf is the fake toolset of each test server.
func toolsetOf(s *aiproxy.MCPServer, _ *aiproxy.MCPGroupValues) (*mcptest.Toolset, error) {
	echo := func(ctx context.Context, c mcp.Caller, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
		return mcpgo.NewToolResultText(fmt.Sprintf("%s/%s by %s: %v", s.Name, req.Params.Name, c.GroupID, req.GetArguments()["city"])), nil
	}
	tool := func(name string, f func(context.Context, mcp.Caller, mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error)) mcptest.Tool {
		return mcptest.Tool{Tool: mcpgo.NewTool(name, mcpgo.WithDescription("the "+name+" tool"), mcpgo.WithString("city")), Func: f}
	}
	switch s.Name {
	case "weather":
		return &mcptest.Toolset{List: []mcptest.Tool{
			tool("forecast", echo),
			tool("fail", func(context.Context, mcp.Caller, mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
				return mcpgo.NewToolResultError("boom: no such city"), nil
			}),
			tool("down", func(context.Context, mcp.Caller, mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
				return nil, aiproxy.Errorf(aiproxy.EUPSTREAM, "the weather API is unreachable")
			}),
		}}, nil
	case "notes":
		return &mcptest.Toolset{List: []mcptest.Tool{tool("add", echo), tool("list", echo)}}, nil
	}
	return &mcptest.Toolset{List: []mcptest.Tool{tool("secret", echo), tool("c", echo)}}, nil
}

// newEnv returns a gateway on memory sessions; opts change it before it
// serves.
func newEnv(tb testing.TB, opts ...func(*mcp.Gateway)) *env {
	tb.Helper()
	return newEnvOn(tb, store.NewMemoryMCPSessions(), opts...)
}

func newEnvOn(tb testing.TB, sessions mcp.SessionStore, opts ...func(*mcp.Gateway)) *env {
	tb.Helper()
	e := &env{mem: relaytest.NewMemory(), servers: &mcptest.Servers{}, builder: &mcptest.Builder{Func: toolsetOf}}
	for _, s := range testServers() {
		e.servers.Put(s)
	}
	e.servers.SetValues(&aiproxy.MCPGroupValues{ServerID: 5, GroupID: "g1", Disabled: true})
	g1 := &aiproxy.Group{ID: "g1", Enabled: true}
	past := time.Now().Add(-time.Hour)
	tokens := []struct {
		key string
		t   aiproxy.Token
		g   *aiproxy.Group
	}{
		{keyGood, aiproxy.Token{ID: 1, Name: "good"}, g1},
		{keyLimited, aiproxy.Token{ID: 2, Name: "limited", MCPTools: []string{"weather/forecast", "notes"}}, g1},
		{keyDisabled, aiproxy.Token{ID: 3, Name: "disabled"}, g1},
		{keyExpired, aiproxy.Token{ID: 4, Name: "expired", ExpiresAt: &past}, g1},
		{keySubnet, aiproxy.Token{ID: 5, Name: "subnet", Subnets: []string{"10.0.0.0/8"}}, g1},
		{keyGroupOff, aiproxy.Token{ID: 6, Name: "groupoff"}, &aiproxy.Group{ID: "g3", Enabled: false}},
		{keyOther, aiproxy.Token{ID: 7, Name: "other"}, &aiproxy.Group{ID: "g2", Enabled: true}},
		{keyRPM, aiproxy.Token{ID: 8, Name: "rpm", RPM: 2}, g1},
	}
	for _, tk := range tokens {
		t := tk.t
		t.GroupID, t.Enabled = tk.g.ID, tk.key != keyDisabled
		e.mem.AddToken(tk.key, &t, tk.g)
	}
	e.g = &mcp.Gateway{
		Servers:  e.servers,
		Keys:     e.mem,
		Builders: map[aiproxy.MCPKind]mcp.ToolsetBuilder{aiproxy.MCPEmbedded: e.builder},
		Sessions: sessions,
		Logs:     e.mem,
		Charger:  e.mem,
		Limiter:  store.NewMemoryLimiter(),
		Origins:  []string{"https://allowed.example"},
	}
	for _, o := range opts {
		o(e.g)
	}
	r := chi.NewRouter()
	e.g.Mount(r)
	e.srv = httptest.NewServer(r)
	tb.Cleanup(func() {
		e.srv.Close()
		e.g.Close()
	})
	return e
}

// session is an initialized MCP client session, of either SDK.
type session interface {
	version() string
	tools(ctx context.Context) ([]string, error)
	// call calls a tool: its text, whether it is an error result, or
	// the JSON-RPC error.
	call(ctx context.Context, name string, args map[string]any) (text string, isError bool, err error)
	close()
}

// clientKind is an SDK and a transport.
type clientKind struct {
	name    string
	connect func(tb testing.TB, e *env, path, key, version string) (session, error)
}

var clientKinds = []clientKind{
	{"mcp-go/streamable", connectMCPGo(false)},
	{"mcp-go/sse", connectMCPGo(true)},
	{"go-sdk/streamable", connectSDK(false)},
	{"go-sdk/sse", connectSDK(true)},
}

// mcpgoSession is a session of mcp-go's client.
type mcpgoSession struct{ c *mcpclient.Client }

func connectMCPGo(sse bool) func(tb testing.TB, e *env, path, key, version string) (session, error) {
	return func(tb testing.TB, e *env, path, key, version string) (session, error) {
		tb.Helper()
		h := map[string]string{"Authorization": "Bearer " + key}
		hc := e.httpClient(nil)
		var tr transport.Interface
		var err error
		if sse {
			tr, err = transport.NewSSE(e.url(path+"/sse"), transport.WithHeaders(h), transport.WithHTTPClient(hc))
		} else {
			tr, err = transport.NewStreamableHTTP(e.url(path), transport.WithHTTPHeaders(h), transport.WithHTTPBasicClient(hc))
		}
		if err != nil {
			return nil, err
		}
		var opts []mcpclient.ClientOption
		if version != "" {
			opts = append(opts, mcpclient.WithProtocolVersion(version))
		}
		c := mcpclient.NewClient(tr, opts...)
		ctx := context.Background()
		if err := c.Start(ctx); err != nil {
			return nil, err
		}
		req := mcpgo.InitializeRequest{}
		req.Params.ClientInfo = mcpgo.Implementation{Name: "mcp-go-test", Version: "1"}
		req.Params.ProtocolVersion = version
		if _, err := c.Initialize(ctx, req); err != nil {
			c.Close()
			return nil, err
		}
		return &mcpgoSession{c: c}, nil
	}
}

func (s *mcpgoSession) version() string { return s.c.ProtocolVersion() }

func (s *mcpgoSession) tools(ctx context.Context) ([]string, error) {
	res, err := s.c.ListTools(ctx, mcpgo.ListToolsRequest{})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, t := range res.Tools {
		names = append(names, t.Name)
	}
	return names, nil
}

func (s *mcpgoSession) call(ctx context.Context, name string, args map[string]any) (string, bool, error) {
	req := mcpgo.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = name, args
	res, err := s.c.CallTool(ctx, req)
	if err != nil {
		return "", false, err
	}
	var text string
	for _, c := range res.Content {
		if t, ok := c.(mcpgo.TextContent); ok {
			text += t.Text
		}
	}
	return text, res.IsError, nil
}

func (s *mcpgoSession) close() { s.c.Close() }

// sdkSession is a session of the official go-sdk's client.
type sdkSession struct{ cs *sdk.ClientSession }

// headerTransport adds headers to every request.
type headerTransport struct {
	h    http.Header
	base http.RoundTripper
}

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.h {
		r.Header[k] = v
	}
	return t.base.RoundTrip(r)
}

func (e *env) httpClient(h http.Header) *http.Client {
	base := e.transport
	if base == nil {
		base = http.DefaultTransport
	}
	return &http.Client{Transport: headerTransport{h: h, base: base}}
}

func connectSDK(sse bool) func(tb testing.TB, e *env, path, key, version string) (session, error) {
	return func(tb testing.TB, e *env, path, key, version string) (session, error) {
		tb.Helper()
		hc := e.httpClient(http.Header{"X-Api-Key": {key}})
		var tr sdk.Transport
		if sse {
			tr = &sdk.SSEClientTransport{Endpoint: e.url(path + "/sse"), HTTPClient: hc}
		} else {
			tr = &sdk.StreamableClientTransport{Endpoint: e.url(path), HTTPClient: hc, MaxRetries: -1}
		}
		c := sdk.NewClient(&sdk.Implementation{Name: "go-sdk-test", Version: "1"}, nil)
		cs, err := c.Connect(context.Background(), tr, &sdk.ClientSessionOptions{ProtocolVersion: version})
		if err != nil {
			return nil, err
		}
		return &sdkSession{cs: cs}, nil
	}
}

func (s *sdkSession) version() string { return s.cs.InitializeResult().ProtocolVersion }

func (s *sdkSession) tools(ctx context.Context) ([]string, error) {
	res, err := s.cs.ListTools(ctx, &sdk.ListToolsParams{})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, t := range res.Tools {
		names = append(names, t.Name)
	}
	return names, nil
}

func (s *sdkSession) call(ctx context.Context, name string, args map[string]any) (string, bool, error) {
	res, err := s.cs.CallTool(ctx, &sdk.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		return "", false, err
	}
	var text string
	for _, c := range res.Content {
		if t, ok := c.(*sdk.TextContent); ok {
			text += t.Text
		}
	}
	return text, res.IsError, nil
}

func (s *sdkSession) close() { s.cs.Close() }

func mustConnect(tb testing.TB, k clientKind, e *env, path, key, version string) session {
	tb.Helper()
	s, err := k.connect(tb, e, path, key, version)
	if err != nil {
		tb.Fatalf("%s: connect to %s (version %q): %v", k.name, path, version, err)
	}
	tb.Cleanup(s.close)
	return s
}

// versionsOf are the revisions each client is tested with: "" is the
// client's default (the 2026-07-28 stateless core over Streamable HTTP;
// over SSE, which has no server/discover, the newest initialize
// negotiates).
func versionsOf(k clientKind) []struct{ ask, want string } {
	all := []struct{ ask, want string }{
		{"", mcpgo.LATEST_PROTOCOL_VERSION},
		{mcpgo.ProtocolVersion20251125, mcpgo.ProtocolVersion20251125},
		{mcpgo.ProtocolVersion20250618, mcpgo.ProtocolVersion20250618},
		{mcpgo.ProtocolVersion20250326, mcpgo.ProtocolVersion20250326},
	}
	if strings.HasSuffix(k.name, "/sse") {
		all[0].want = mcpgo.ProtocolVersion20251125
		all = append(all, struct{ ask, want string }{mcpgo.ProtocolVersion20241105, mcpgo.ProtocolVersion20241105})
	}
	return all
}

// TestGatewayClients runs each client, transport and revision through
// initialize, list, call, an isError result, an upstream failure and an
// unknown tool, on a public server's endpoint and on the aggregate one.
func TestGatewayClients(t *testing.T) {
	e := newEnv(t)
	endpoints := []struct {
		path            string
		tools           []string
		forecast, fail  string
		down, unknown   string
		wantForecastOut string
	}{
		{"/mcp/public/1", []string{"forecast", "fail", "down"}, "forecast", "fail", "down", "nope", "weather/forecast by g1: Paris"},
		{"/mcp", []string{"weather__forecast", "weather__fail", "weather__down", "notes__add", "notes__list", "private__secret", "private__c", "a__b__secret", "a__b__c"},
			"weather__forecast", "weather__fail", "weather__down", "weather__nope", "weather/forecast by g1: Paris"},
	}
	for _, k := range clientKinds {
		for _, v := range versionsOf(k) {
			for _, ep := range endpoints {
				t.Run(fmt.Sprintf("%s/%s%s", k.name, cmpName(v.ask), ep.path), func(t *testing.T) {
					ctx := context.Background()
					s := mustConnect(t, k, e, ep.path, keyGood, v.ask)
					if got := s.version(); got != v.want {
						t.Errorf("negotiated %q, want %q", got, v.want)
					}
					names, err := s.tools(ctx)
					if err != nil {
						t.Fatalf("list: %v", err)
					}
					if !sameSet(names, ep.tools) {
						t.Errorf("tools = %v, want %v", names, ep.tools)
					}
					text, isErr, err := s.call(ctx, ep.forecast, map[string]any{"city": "Paris"})
					if err != nil || isErr || text != ep.wantForecastOut {
						t.Errorf("call = %q, %v, %v; want %q", text, isErr, err, ep.wantForecastOut)
					}
					text, isErr, err = s.call(ctx, ep.fail, nil)
					if err != nil || !isErr || !strings.Contains(text, "boom") {
						t.Errorf("failing tool = %q, %v, %v; want an isError result", text, isErr, err)
					}
					text, isErr, err = s.call(ctx, ep.down, nil)
					if err != nil || !isErr || !strings.Contains(text, "unreachable") {
						t.Errorf("upstream down = %q, %v, %v; want an isError result", text, isErr, err)
					}
					if _, _, err := s.call(ctx, ep.unknown, nil); err == nil || !strings.Contains(strings.ToLower(err.Error()), "unknown tool") {
						t.Errorf("unknown tool: err = %v, want a JSON-RPC error", err)
					}
				})
			}
		}
	}
}

func cmpName(v string) string {
	if v == "" {
		return "default"
	}
	return v
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestGatewayAllowList: a token's MCPTools filter the lists and refuse
// the calls of the tools left out, on both kinds of endpoint.
func TestGatewayAllowList(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		path      string
		want      []string
		refused   string
		allowed   string
		forbidden bool // the endpoint itself is refused
	}{
		{path: "/mcp/public/1", want: []string{"forecast"}, refused: "fail", allowed: "forecast"},
		{path: "/mcp", want: []string{"weather__forecast", "notes__add", "notes__list"}, refused: "weather__fail", allowed: "notes__add"},
		{path: "/mcp/group/3", forbidden: true},
	}
	for _, k := range clientKinds {
		for _, tt := range tests {
			t.Run(k.name+tt.path, func(t *testing.T) {
				ctx := context.Background()
				s, err := k.connect(t, e, tt.path, keyLimited, "")
				if tt.forbidden {
					if err == nil {
						s.close()
						t.Fatal("connected to a server the key may not use")
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				defer s.close()
				names, err := s.tools(ctx)
				if err != nil || !sameSet(names, tt.want) {
					t.Fatalf("tools = %v, %v; want %v", names, err, tt.want)
				}
				if _, _, err := s.call(ctx, tt.refused, nil); err == nil {
					t.Errorf("called %s, which the key may not", tt.refused)
				}
				if _, isErr, err := s.call(ctx, tt.allowed, nil); err != nil || isErr {
					t.Errorf("call %s: %v, %v", tt.allowed, isErr, err)
				}
			})
		}
	}
}

// TestGatewayAuth: the answers to keys that are missing, unknown or
// refused by the token's rules, and to foreign origins, on every
// transport's endpoints.
func TestGatewayAuth(t *testing.T) {
	e := newEnv(t)
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","gatewayCapabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
	tests := []struct {
		name, header, value string
		query               string
		origin              string
		path                string
		want                int
		challenge           bool
	}{
		{name: "no key", path: "/mcp", want: 401, challenge: true},
		{name: "bad key", header: "Authorization", value: "Bearer sk-wrong", path: "/mcp", want: 401, challenge: true},
		{name: "disabled token", header: "Authorization", value: "Bearer " + keyDisabled, path: "/mcp", want: 401, challenge: true},
		{name: "expired token", header: "X-Api-Key", value: keyExpired, path: "/mcp/public/1", want: 401, challenge: true},
		{name: "wrong subnet", header: "Authorization", value: "Bearer " + keySubnet, path: "/mcp", want: 403},
		{name: "group disabled", header: "Authorization", value: "Bearer " + keyGroupOff, path: "/mcp", want: 403},
		{name: "good bearer", header: "Authorization", value: "Bearer " + keyGood, path: "/mcp", want: 200},
		{name: "good x-api-key", header: "X-Api-Key", value: keyGood, path: "/mcp/public/1", want: 200},
		{name: "good query key", query: "?key=" + keyGood, path: "/mcp/group/3", want: 200},
		{name: "foreign origin", header: "Authorization", value: "Bearer " + keyGood, origin: "https://evil.example", path: "/mcp", want: 403},
		{name: "allowed origin", header: "Authorization", value: "Bearer " + keyGood, origin: "https://allowed.example", path: "/mcp", want: 200},
		{name: "same-host origin", header: "Authorization", value: "Bearer " + keyGood, origin: "self", path: "/mcp", want: 200},
		{name: "null origin", header: "Authorization", value: "Bearer " + keyGood, origin: "null", path: "/mcp", want: 403},
		{name: "group server by public path", header: "Authorization", value: "Bearer " + keyGood, path: "/mcp/public/3", want: 404},
		{name: "another group's server", header: "Authorization", value: "Bearer " + keyGood, path: "/mcp/group/4", want: 404},
		{name: "public server by group path", header: "Authorization", value: "Bearer " + keyGood, path: "/mcp/group/1", want: 404},
		{name: "server disabled by the group", header: "Authorization", value: "Bearer " + keyGood, path: "/mcp/public/5", want: 404},
		{name: "server not enabled", header: "Authorization", value: "Bearer " + keyGood, path: "/mcp/public/6", want: 404},
		{name: "no such server", header: "Authorization", value: "Bearer " + keyGood, path: "/mcp/public/99", want: 404},
		{name: "malformed id", header: "Authorization", value: "Bearer " + keyGood, path: "/mcp/public/x", want: 404},
		{name: "other group's own server", header: "Authorization", value: "Bearer " + keyOther, path: "/mcp/group/4", want: 200},
	}
	for _, tt := range tests {
		for _, sse := range []bool{false, true} {
			name := tt.name
			if sse {
				name += "/sse"
			}
			t.Run(name, func(t *testing.T) {
				path := tt.path
				method, body := http.MethodPost, init
				if sse {
					path, method, body = path+"/sse", http.MethodGet, ""
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				req, _ := http.NewRequestWithContext(ctx, method, e.url(path+tt.query), strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				if tt.header != "" {
					req.Header.Set(tt.header, tt.value)
				}
				switch tt.origin {
				case "":
				case "self":
					req.Header.Set("Origin", e.srv.URL)
				default:
					req.Header.Set("Origin", tt.origin)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if resp.StatusCode != tt.want {
					t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
				}
				if got := resp.Header.Get("WWW-Authenticate"); tt.challenge != (got != "") {
					t.Errorf("WWW-Authenticate = %q", got)
				}
				if tt.want >= 400 && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
					t.Errorf("error Content-Type %q", resp.Header.Get("Content-Type"))
				}
			})
		}
	}
	t.Run("sdk clients refused", func(t *testing.T) {
		for _, k := range clientKinds {
			for _, key := range []string{"", "sk-wrong", keyDisabled, keyExpired, keySubnet} {
				if s, err := k.connect(t, e, "/mcp", key, mcpgo.ProtocolVersion20250618); err == nil {
					s.close()
					t.Errorf("%s connected with key %q", k.name, key)
				}
			}
		}
	})
}

// TestGatewayLogsAndBilling: every call is logged with its fields and
// status, and a priced one charged once.
func TestGatewayLogsAndBilling(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	s := mustConnect(t, clientKinds[2], e, "/mcp", keyGood, mcpgo.ProtocolVersion20250618)
	calls := []struct {
		tool       string
		model      string
		status     int
		amount     aiproxy.Amount
		errContain string
	}{
		{"weather__forecast", "mcp/weather/forecast", 200, 1500, ""},
		{"notes__add", "mcp/notes/add", 200, 0, ""},
		{"weather__fail", "mcp/weather/fail", 400, 0, "boom"},
		{"weather__down", "mcp/weather/down", 502, 0, "unreachable"},
		{"weather__nope", "mcp/weather/nope", 404, 0, "unknown tool"},
		{"nothing", "mcp/nothing", 404, 0, "unknown tool"},
	}
	for _, c := range calls {
		s.call(ctx, c.tool, map[string]any{"city": "Oslo"})
	}
	logs := e.mem.Logs()
	if len(logs) != len(calls) {
		t.Fatalf("%d logs, want %d", len(logs), len(calls))
	}
	ids := map[string]bool{}
	for i, c := range calls {
		l := logs[i]
		t.Run(c.tool, func(t *testing.T) {
			if l.Mode != aiproxy.ModeMCP || l.Model != c.model || l.Endpoint != "/mcp" || l.StatusCode != c.status {
				t.Errorf("log mode %q model %q endpoint %q status %d; want %q %d", l.Mode, l.Model, l.Endpoint, l.StatusCode, c.model, c.status)
			}
			if l.GroupID != "g1" || l.TokenID != 1 || l.TokenName != "good" || l.ClientIP != "127.0.0.1" {
				t.Errorf("log caller %q %d %q %q", l.GroupID, l.TokenID, l.TokenName, l.ClientIP)
			}
			if l.Amount != c.amount || l.Latency <= 0 || l.CreatedAt.IsZero() {
				t.Errorf("log amount %v latency %v created %v", l.Amount, l.Latency, l.CreatedAt)
			}
			if !strings.Contains(l.Error, c.errContain) || (c.errContain == "") != (l.Error == "") {
				t.Errorf("log error %q, want %q", l.Error, c.errContain)
			}
			if strings.Contains(l.Error, keyGood) {
				t.Error("the key is in the log")
			}
			if l.RequestID == "" || ids[l.RequestID] {
				t.Errorf("request id %q not unique", l.RequestID)
			}
			ids[l.RequestID] = true
		})
	}
	charges := e.mem.Charges()
	if len(charges) != 1 || charges[0].Amount != 1500 || charges[0].TokenID != 1 || charges[0].GroupID != "g1" || charges[0].Requests != 1 {
		t.Errorf("charges = %+v, want one of 1500 for token 1", charges)
	}
	p := mustConnect(t, clientKinds[0], e, "/mcp/public/1", keyGood, "")
	p.call(ctx, "forecast", nil)
	if l := e.mem.Logs()[len(calls)]; l.Endpoint != "/mcp/public/1" || l.Model != "mcp/weather/forecast" {
		t.Errorf("per-server log: endpoint %q model %q", l.Endpoint, l.Model)
	}
	if n := len(e.mem.Charges()); n != 2 {
		t.Errorf("%d charges after a second priced call, want 2", n)
	}
}

// TestGatewayLimits: a token's RPM refuses calls over it as tool errors,
// logged with 429 and not charged; a quota the price exceeds refuses too.
func TestGatewayLimits(t *testing.T) {
	e := newEnv(t, func(g *mcp.Gateway) { g.Billing = true })
	e.mem.AddToken("sk-quota", &aiproxy.Token{ID: 9, GroupID: "g1", Name: "quota", Enabled: true, Quota: 1000}, &aiproxy.Group{ID: "g1", Enabled: true})
	ctx := context.Background()
	s := mustConnect(t, clientKinds[0], e, "/mcp/public/1", keyRPM, mcpgo.ProtocolVersion20251125)
	for i, want := range []bool{false, false, true} {
		text, isErr, err := s.call(ctx, "forecast", nil)
		if err != nil || isErr != want {
			t.Fatalf("call %d: %q %v %v; want isError %v", i, text, isErr, err, want)
		}
		if want && !strings.Contains(text, "Rate limit") {
			t.Errorf("callRefusal text %q", text)
		}
	}
	if l := e.mem.Logs()[2]; l.StatusCode != 429 || l.Amount != 0 {
		t.Errorf("refused call logged %d, amount %v", l.StatusCode, l.Amount)
	}
	if n := len(e.mem.Charges()); n != 2 {
		t.Errorf("%d charges, want 2", n)
	}
	q := mustConnect(t, clientKinds[0], e, "/mcp/public/1", "sk-quota", mcpgo.ProtocolVersion20251125)
	if text, isErr, _ := q.call(ctx, "forecast", nil); !isErr || !strings.Contains(text, "quota") {
		t.Errorf("over quota: %q %v", text, isErr)
	}
	if _, isErr, _ := q.call(ctx, "fail", nil); !isErr {
		t.Error("the free failing tool is an error result")
	}
}

// TestGatewayConcurrentSessions: 20 sessions of each SDK at once, each
// listing and calling.
func TestGatewayConcurrentSessions(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make(chan error, 40)
	for i := range 40 {
		k := clientKinds[(i%2)*2+(i/20)%2] // both SDKs, both transports
		go func() {
			s, err := k.connect(t, e, "/mcp", keyGood, "")
			if err != nil {
				errs <- fmt.Errorf("%s: %w", k.name, err)
				return
			}
			defer s.close()
			if _, err := s.tools(ctx); err != nil {
				errs <- err
				return
			}
			city := fmt.Sprint("c", i)
			text, isErr, err := s.call(ctx, "weather__forecast", map[string]any{"city": city})
			if err == nil && (isErr || !strings.HasSuffix(text, city)) {
				err = fmt.Errorf("%s: got %q", k.name, text)
			}
			errs <- err
		}()
	}
	for range 40 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestGatewayToolsetCache: a toolset is built once per server and group,
// and rebuilt, the old one closed, when the server changes.
func TestGatewayToolsetCache(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	s := mustConnect(t, clientKinds[0], e, "/mcp/public/2", keyGood, "")
	for range 3 {
		s.call(ctx, "add", nil)
	}
	if n := len(e.builder.Built()); n != 1 {
		t.Fatalf("%d builds, want 1", n)
	}
	changed := *testServers()[1]
	changed.UpdatedAt = time.Now().Add(time.Second)
	e.servers.Put(&changed)
	s.call(ctx, "add", nil)
	built := e.builder.Built()
	if len(built) != 2 {
		t.Fatalf("%d builds after the change, want 2", len(built))
	}
	deadline := time.Now().Add(5 * time.Second)
	for built[0].Closed() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if built[0].Closed() != 1 || built[1].Closed() != 0 {
		t.Errorf("closed: old %d, new %d", built[0].Closed(), built[1].Closed())
	}
}

// TestGatewaySessionDelete: DELETE ends a Streamable HTTP session; its
// next request is 404.
func TestGatewaySessionDelete(t *testing.T) {
	e := newEnv(t)
	r := rawClient{t: t, e: e, path: "/mcp/public/1", key: keyGood}
	sid, _ := r.initialize(mcpgo.ProtocolVersion20250618)
	if st, _ := r.post(sid, mcpgo.ProtocolVersion20250618, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`); st != 200 {
		t.Fatalf("list before delete: %d", st)
	}
	other := rawClient{t: t, e: e, path: "/mcp/public/1", key: keyLimited}
	if st, _ := other.post(sid, mcpgo.ProtocolVersion20250618, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`); st != 404 {
		t.Errorf("another token's use of the session: %d, want 404", st)
	}
	if st := r.do(http.MethodDelete, sid, "", ""); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	if st, _ := r.post(sid, mcpgo.ProtocolVersion20250618, `{"jsonrpc":"2.0","id":3,"method":"tools/list"}`); st != 404 {
		t.Errorf("after delete: %d, want 404", st)
	}
	if st, _ := r.post("", mcpgo.ProtocolVersion20250618, `{"jsonrpc":"2.0","id":3,"method":"tools/list"}`); st != 400 {
		t.Errorf("without a session: %d, want 400", st)
	}
}
