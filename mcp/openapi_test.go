package mcp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/openapi2mcp"
)

// openAPISpec is a spec whose one operation needs a bearer token, served
// at base.
func openAPISpec(base string) string {
	return `{
  "openapi": "3.0.3",
  "info": {"title": "t", "version": "1"},
  "servers": [{"url": "` + base + `"}],
  "security": [{"bearer": []}],
  "paths": {"/things/{id}": {"get": {"operationId": "getThing",
    "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
    "responses": {"200": {"description": "ok"}}}}},
  "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}}
}`
}

// fakeThings is an API on 127.0.0.1 that counts its requests and
// answers with the path and Authorization header it got.
func fakeThings(tb testing.TB) (*httptest.Server, *atomic.Int32) {
	tb.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"path": r.URL.Path, "bearer": strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")})
	}))
	tb.Cleanup(srv.Close)
	return srv, &hits
}

func openAPIServer(id int64, spec string, allowPrivate bool) *aiproxy.MCPServer {
	return &aiproxy.MCPServer{
		ID: id, Name: "things", Kind: aiproxy.MCPOpenAPI, Scope: aiproxy.MCPPublic, Enabled: true,
		AllowPrivateNetwork: allowPrivate,
		OpenAPI: &aiproxy.MCPOpenAPIConfig{
			Spec:        spec,
			Credentials: []aiproxy.MCPCredential{{Scheme: "bearer", Value: "secret-token-1"}},
			Timeout:     5 * time.Second,
		},
		UpdatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func callThing(tb testing.TB, ts Toolset) (*mcpgo.CallToolResult, error) {
	tb.Helper()
	req := mcpgo.CallToolRequest{}
	req.Params.Name = "getThing"
	req.Params.Arguments = map[string]any{"id": float64(42)}
	return ts.Call(context.Background(), Caller{GroupID: "g1"}, req)
}

func TestOpenAPIBuilderPrivateNetwork(t *testing.T) {
	api, hits := fakeThings(t)
	tests := []struct {
		name         string
		allowPrivate bool
	}{
		{"refused", false},
		{"allowed", true},
	}
	var b OpenAPIBuilder // Client nil: relay.NewOutboundClient
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := hits.Load()
			ts, err := b.Build(context.Background(), openAPIServer(int64(i+1), openAPISpec(api.URL), tt.allowPrivate), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ts.Close()
			tools, err := ts.Tools(context.Background())
			if err != nil || len(tools) != 1 || tools[0].Name != "getThing" {
				t.Fatalf("tools %v, %v", tools, err)
			}
			res, err := callThing(t, ts)
			if !tt.allowPrivate {
				if aiproxy.ErrorCode(err) != aiproxy.EUPSTREAM || !strings.Contains(aiproxy.ErrorMessage(err), "private networks are not allowed") {
					t.Fatalf("result %v, error %v: want EUPSTREAM about private networks", res, err)
				}
				if hits.Load() != before {
					t.Error("the refused call reached the API")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			text := res.Content[0].(mcpgo.TextContent).Text
			if res.IsError || !strings.Contains(text, `"path": "/things/42"`) {
				t.Errorf("result %s", text)
			}
			if strings.Contains(text, "secret-token-1") {
				t.Errorf("the result holds the credential: %s", text)
			}
			if hits.Load() != before+1 {
				t.Errorf("the API got %d requests, want 1", hits.Load()-before)
			}
		})
	}
}

func TestOpenAPIBuilderParsesOncePerVersion(t *testing.T) {
	var parses atomic.Int32
	b := &OpenAPIBuilder{
		Client: func(bool) *http.Client { return http.DefaultClient },
		parse: func(data []byte) (*openapi2mcp.Spec, error) {
			parses.Add(1)
			return openapi2mcp.Parse(data)
		},
	}
	s := openAPIServer(7, openAPISpec("https://things.example.com"), false)
	newer := *s
	newer.UpdatedAt = s.UpdatedAt.Add(time.Second)
	other := *s
	other.ID = 8
	tests := []struct {
		name string
		s    *aiproxy.MCPServer
		want int32 // parses so far
	}{
		{"first", s, 1},
		{"same version", s, 1},
		{"same version again", s, 1},
		{"updated", &newer, 2},
		{"updated again", &newer, 2},
		{"another server", &other, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := b.Build(context.Background(), tt.s, nil); err != nil {
				t.Fatal(err)
			}
			if n := parses.Load(); n != tt.want {
				t.Errorf("%d parses, want %d", n, tt.want)
			}
		})
	}
}

func TestOpenAPIBuilderParsesOnceConcurrently(t *testing.T) {
	var parses atomic.Int32
	b := &OpenAPIBuilder{parse: func(data []byte) (*openapi2mcp.Spec, error) {
		parses.Add(1)
		time.Sleep(20 * time.Millisecond)
		return openapi2mcp.Parse(data)
	}}
	s := openAPIServer(9, openAPISpec("https://things.example.com"), false)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := b.Build(context.Background(), s, nil); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := parses.Load(); n != 1 {
		t.Errorf("%d parses, want 1", n)
	}
}

func TestOpenAPIBuilderErrors(t *testing.T) {
	var b OpenAPIBuilder
	relative := openAPISpec("/relative")
	tests := []struct {
		name  string
		cfg   *aiproxy.MCPOpenAPIConfig
		field string
	}{
		{"no config", nil, "openapi"},
		{"spec not fetched", &aiproxy.MCPOpenAPIConfig{SpecURL: "https://x.example.com/openapi.json"}, "openapi"},
		{"bad spec", &aiproxy.MCPOpenAPIConfig{Spec: "{not a spec"}, "openapi.spec"},
		{"relative server", &aiproxy.MCPOpenAPIConfig{Spec: relative}, "baseURL"},
		{"bad base URL", &aiproxy.MCPOpenAPIConfig{Spec: openAPISpec("https://ok.example.com"), BaseURL: "ftp://x"}, "baseURL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openAPIServer(0, "", false)
			s.OpenAPI = tt.cfg
			_, err := b.Build(context.Background(), s, nil)
			if aiproxy.ErrorCode(err) != aiproxy.EINVALID || aiproxy.ErrorField(err) != tt.field {
				t.Errorf("error %v (field %q), want EINVALID naming %q", err, aiproxy.ErrorField(err), tt.field)
			}
		})
	}
}
