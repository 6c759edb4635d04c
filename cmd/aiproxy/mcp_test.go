package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/aiproxy/aiproxy/relay/relaytest"
)

// weatherSpec is an OpenAPI spec of a fake weather API with a bearer
// scheme.
const weatherSpec = `openapi: 3.0.3
info: {title: Weather, version: "1"}
servers: [{url: "https://weather.example.com"}]
components:
  securitySchemes:
    bearer: {type: http, scheme: bearer}
security: [{bearer: []}]
paths:
  /forecast/{city}:
    get:
      operationId: forecast
      summary: The forecast of a city
      parameters:
        - {name: city, in: path, required: true, schema: {type: string}}
        - {name: days, in: query, schema: {type: integer, minimum: 1, maximum: 7, default: 3}}
      responses: {"200": {description: ok}}
`

// TestMCPEndToEnd is the walk-through of the README: an admin uploads an
// OpenAPI spec over GraphQL, a group's token connects two MCP clients
// (mcp-go over Streamable HTTP, the official SDK over legacy SSE), lists
// and calls the tool; the fake API gets the admin's credential and never
// the client's key; every call is logged and billed.
func TestMCPEndToEnd(t *testing.T) {
	const upstreamToken = "weather-upstream-token-0123456789"
	var mu sync.Mutex
	var got []*http.Request
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Clone(context.Background()))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"city": "`+strings.TrimPrefix(r.URL.Path, "/forecast/")+`", "days": `+r.URL.Query().Get("days")+`, "sky": "clear"}`)
	}))
	defer api.Close()
	_, up := relaytest.Start(t)
	g := startGateway(t, testConfig(t, ""))
	key := setup(t, g.srv.URL, up.URL)

	var created struct {
		CreateMCPServer struct {
			ID        string
			Endpoints struct{ StreamableHTTP, Sse string }
		}
	}
	admin(t, g.srv.URL, `mutation($spec: String!, $base: String!, $tok: String!) { createMCPServer(input: {name: "weather", kind: OPENAPI, scope: PUBLIC,
		allowPrivateNetwork: true, callPrice: 0.002, openapi: {spec: $spec, baseURL: $base, credentials: [{scheme: "bearer", value: $tok}]}}) {
		id endpoints { streamableHTTP sse } } }`, map[string]any{"spec": weatherSpec, "base": api.URL, "tok": upstreamToken}, &created)
	ep := created.CreateMCPServer.Endpoints
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// mcp-go over Streamable HTTP.
	tr, err := transport.NewStreamableHTTP(g.srv.URL+ep.StreamableHTTP, transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + key}))
	if err != nil {
		t.Fatal(err)
	}
	c := mcpclient.NewClient(tr)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	init := mcpgo.InitializeRequest{}
	init.Params.ClientInfo = mcpgo.Implementation{Name: "e2e", Version: "1"}
	init.Params.ProtocolVersion = mcpgo.LATEST_PROTOCOL_VERSION
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	tools, err := c.ListTools(ctx, mcpgo.ListToolsRequest{})
	if err != nil || len(tools.Tools) != 1 || tools.Tools[0].Name != "forecast" {
		t.Fatalf("tools %+v, %v", tools, err)
	}
	b, _ := json.Marshal(tools)
	if strings.Contains(string(b), upstreamToken) {
		t.Fatalf("the tool list holds the credential: %s", b)
	}
	call := mcpgo.CallToolRequest{}
	call.Params.Name, call.Params.Arguments = "forecast", map[string]any{"city": "Oslo", "days": 2}
	res, err := c.CallTool(ctx, call)
	if err != nil || res.IsError || !strings.Contains(mcpgo.GetTextFromContent(res.Content[0]), `"sky": "clear"`) {
		t.Fatalf("call %+v, %v", res, err)
	}
	call.Params.Arguments = map[string]any{"city": "Oslo", "days": 30}
	if res, err := c.CallTool(ctx, call); err != nil || !res.IsError {
		t.Errorf("days 30 (over the maximum): %+v, %v", res, err)
	}

	// The official SDK over the legacy SSE transport.
	hc := &http.Client{Transport: bearer{key: key}}
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "sdk-e2e", Version: "1"}, nil).Connect(ctx, &sdk.SSEClientTransport{Endpoint: g.srv.URL + ep.Sse, HTTPClient: hc}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sres, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "forecast", Arguments: map[string]any{"city": "Bergen"}})
	if err != nil || sres.IsError {
		t.Fatalf("sdk call %+v, %v", sres, err)
	}
	cs.Close()

	// Without a key: 401.
	resp, err := http.Post(g.srv.URL+ep.StreamableHTTP, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no key: %d, want 401", resp.StatusCode)
	}

	mu.Lock()
	if len(got) != 2 {
		t.Fatalf("the API got %d requests, want 2 (the invalid call never left)", len(got))
	}
	for _, r := range got {
		if r.Header.Get("Authorization") != "Bearer "+upstreamToken || strings.Contains(strings.Join(r.Header.Values("Authorization"), " "), key) {
			t.Errorf("the API got Authorization %q", r.Header.Get("Authorization"))
		}
	}
	if got[0].URL.Path != "/forecast/Oslo" || got[0].URL.Query().Get("days") != "2" || got[1].URL.Path != "/forecast/Bergen" {
		t.Errorf("paths %s?%s, %s", got[0].URL.Path, got[0].URL.RawQuery, got[1].URL.Path)
	}
	mu.Unlock()

	logs := waitLogs(t, g.srv.URL, 3)
	var billed float64
	failed := 0
	for _, l := range logs {
		if l.Model != "mcp/weather/forecast" || l.Group != "acme" || l.TokenName != "backend" {
			t.Errorf("log %+v", l)
		}
		if l.StatusCode != 200 {
			failed++
			if l.Amount != 0 || l.Error == nil || !strings.Contains(*l.Error, "days") {
				t.Errorf("the failed call's log %+v", l)
			}
		}
		billed += l.Amount
	}
	if failed != 1 || billed < 0.00399 || billed > 0.00401 {
		t.Errorf("%d failed, billed %v; want 1 failed and 0.004 billed (two calls that succeeded)", failed, billed)
	}
}

// bearer adds a bearer key to every request.
type bearer struct{ key string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.key)
	return http.DefaultTransport.RoundTrip(r)
}
