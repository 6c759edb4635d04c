package openapi2mcp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/openapi2mcp"
)

func TestOpenAPIParseErrors(t *testing.T) {
	tests := []struct {
		name string
		data string
		want string
	}{
		{"empty", "  \n", "empty"},
		{"not JSON or YAML", "{nope", "parse spec"},
		{"unknown version", `{"openapi": "4.0.0", "info": {"title": "t", "version": "1"}, "paths": {"/a": {}}}`, "unsupported version"},
		{"no version", `{"info": {"title": "t", "version": "1"}, "paths": {"/a": {}}}`, "unsupported version"},
		{"no paths", `{"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {}}`, "no paths"},
		{"external ref", `{"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {"/a": {"get": {"responses": {"200": {"$ref": "http://169.254.169.254/latest/meta-data"}}}}}}`, "parse spec"},
		{"file ref", `{"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {"/a": {"get": {"responses": {"200": {"$ref": "/etc/passwd"}}}}}}`, "parse spec"},
		{"invalid", `{"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {"/a": {"get": {"parameters": [{"name": "x", "in": "body"}], "responses": {"200": {"description": "ok"}}}}}}`, "invalid spec"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := openapi2mcp.Parse([]byte(tt.data))
			if aiproxy.ErrorCode(err) != aiproxy.EINVALID || !strings.Contains(aiproxy.ErrorMessage(err), tt.want) {
				t.Errorf("error %v, want EINVALID mentioning %q", err, tt.want)
			}
		})
	}
}

func TestOpenAPIVersions(t *testing.T) {
	tests := []struct {
		spec, version string
	}{
		{"petstore.json", "3.0.3"},
		{"swagger2.json", "2.0"},
		{"yaml.yaml", "3.0.1"},
		{"openapi31.json", "3.1.0"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			if v := loadSpec(t, tt.spec).Version(); v != tt.version {
				t.Errorf("version %q, want %q", v, tt.version)
			}
		})
	}
}

func TestOpenAPIServers(t *testing.T) {
	tests := []struct {
		spec string
		want []string
	}{
		{"servers.json", []string{"https://eu.api.example.com:8443/v2", "https://backup.example.com/v2", "/relative/v2"}},
		{"swagger2.json", []string{"https://store.example.com/api"}},
		{"petstore.json", []string{"https://petstore.example.com/v1"}},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			if got := loadSpec(t, tt.spec).Servers(); !slices.Equal(got, tt.want) {
				t.Errorf("servers %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("default base URL", func(t *testing.T) {
		api := newFakeAPI(t)
		spec, err := openapi2mcp.Parse(fmt.Appendf(nil, `{"openapi": "3.0.3", "info": {"title": "t", "version": "1"},
			"servers": [{"url": "%s/{v}", "variables": {"v": {"default": "v9"}}}],
			"paths": {"/ping": {"get": {"responses": {"200": {"description": "ok"}}}}}}`, api.URL))
		if err != nil {
			t.Fatal(err)
		}
		ts, err := openapi2mcp.New(spec, openapi2mcp.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ts.Call(context.Background(), "get_ping", nil); err != nil {
			t.Fatal(err)
		}
		expect(t, "path", api.last(t).Path, "/v9/ping")
	})
}

func TestOpenAPINewErrors(t *testing.T) {
	tests := []struct {
		name, spec, base string
	}{
		{"relative first server", "servers.json", "/relative"},
		{"no scheme", "petstore.json", "api.example.com"},
		{"ftp", "petstore.json", "ftp://api.example.com"},
		{"userinfo", "petstore.json", "https://u:p@api.example.com"},
		{"fragment", "petstore.json", "https://api.example.com/#x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := openapi2mcp.New(loadSpec(t, tt.spec), openapi2mcp.Options{BaseURL: tt.base})
			if aiproxy.ErrorCode(err) != aiproxy.EINVALID || aiproxy.ErrorField(err) != "baseURL" {
				t.Errorf("error %v, want EINVALID naming baseURL", err)
			}
			if strings.Contains(fmt.Sprint(err), "u:p") {
				t.Errorf("error shows the user information: %v", err)
			}
		})
	}
	t.Run("no servers", func(t *testing.T) {
		spec, err := openapi2mcp.Parse([]byte(`{"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {"/a": {"get": {"responses": {"200": {"description": "ok"}}}}}}`))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := openapi2mcp.New(spec, openapi2mcp.Options{}); aiproxy.ErrorCode(err) != aiproxy.EINVALID {
			t.Errorf("error %v, want EINVALID", err)
		}
	})
}

func TestOpenAPISecuritySchemeInfo(t *testing.T) {
	got := loadSpec(t, "security.json").SecuritySchemes()
	want := []openapi2mcp.SchemeInfo{
		{Name: "basic", Type: "http", HTTPScheme: "basic", Supported: true, Format: "user:password"},
		{Name: "bearer", Type: "http", HTTPScheme: "bearer", Supported: true, Format: "token"},
		{Name: "cookieKey", Type: "apiKey", In: "cookie", Param: "sid", Supported: true, Format: "key"},
		{Name: "headerKey", Type: "apiKey", In: "header", Param: "X-API-Key", Supported: true, Format: "key"},
		{Name: "oauth", Type: "oauth2", TokenURL: "/oauth/token", Supported: true, Format: "client_id:client_secret"},
		{Name: "openid", Type: "openIdConnect"},
		{Name: "queryKey", Type: "apiKey", In: "query", Param: "api_key", Supported: true, Format: "key"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("schemes\n%+v\nwant\n%+v", got, want)
	}
}

func TestOpenAPIFetch(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testdata, "yaml.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	relative := strings.Replace(string(data), "https://yaml.example.com/api", "/api", 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/specs/openapi.yaml":
			_, _ = w.Write([]byte(relative))
		case "/moved":
			http.Redirect(w, r, "/specs/openapi.yaml", http.StatusFound)
		case "/huge":
			_, _ = w.Write(make([]byte, openapi2mcp.MaxSpecBytes+10))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	t.Run("relative servers", func(t *testing.T) {
		spec, raw, err := openapi2mcp.Fetch(context.Background(), srv.Client(), srv.URL+"/moved")
		if err != nil {
			t.Fatal(err)
		}
		if string(raw) != relative {
			t.Error("Fetch did not return the bytes read")
		}
		expect(t, "servers", strings.Join(spec.Servers(), " "), srv.URL+"/api")
	})
	tests := []struct {
		name string
		c    *http.Client
		url  string
		code string
	}{
		{"no client", nil, srv.URL + "/specs/openapi.yaml", aiproxy.EINTERNAL},
		{"not found", srv.Client(), srv.URL + "/nope", aiproxy.EUPSTREAM},
		{"too large", srv.Client(), srv.URL + "/huge", aiproxy.EINVALID},
		{"file URL", srv.Client(), "file:///etc/passwd", aiproxy.EINVALID},
		{"relative URL", srv.Client(), "/specs/openapi.yaml", aiproxy.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := openapi2mcp.Fetch(context.Background(), tt.c, tt.url)
			if aiproxy.ErrorCode(err) != tt.code {
				t.Errorf("error %v, want %s", err, tt.code)
			}
		})
	}
}

func TestOpenAPIToolNames(t *testing.T) {
	long := strings.Repeat("x", 200)
	spec, err := openapi2mcp.Parse(fmt.Appendf(nil, `{"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {
		"/a": {"get": {"operationId": "a b", "responses": {"200": {"description": "ok"}}},
		       "post": {"operationId": "a_b", "responses": {"200": {"description": "ok"}}},
		       "put": {"operationId": "a/b", "responses": {"200": {"description": "ok"}}}},
		"/b/{id}/c.json": {"get": {"parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}], "responses": {"200": {"description": "ok"}}}},
		"/long": {"get": {"operationId": "%s", "responses": {"200": {"description": "ok"}}},
		          "post": {"operationId": "%s_", "responses": {"200": {"description": "ok"}}}},
		"/ünï": {"delete": {"operationId": "löschen", "responses": {"200": {"description": "ok"}}}}
	}}`, long, long))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := openapi2mcp.New(spec, openapi2mcp.Options{BaseURL: "https://x.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range ts.Tools() {
		names = append(names, tool.Name)
	}
	want := []string{"a_b", "a_b_2", "a_b_3", "get_b_id_c.json", strings.Repeat("x", 128), strings.Repeat("x", 126) + "_2", "l_schen"}
	if !slices.Equal(names, want) {
		t.Errorf("names\n%q\nwant\n%q", names, want)
	}
	for _, n := range names {
		if len(n) > 128 || strings.Trim(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != "" {
			t.Errorf("name %q is not a valid MCP tool name", n)
		}
	}
}

// TestOpenAPIRegister serves a toolset with mcp-go and calls it with
// mcp-go's in-process client.
func TestOpenAPIRegister(t *testing.T) {
	api := newFakeAPI(t)
	ts := newToolset(t, "petstore.json", openapi2mcp.Options{BaseURL: api.URL})
	srv := server.NewMCPServer("test", "1")
	ts.Register(srv)
	c, err := client.NewInProcessClient(srv)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "t", Version: "1"}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	list, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil || len(list.Tools) != 5 {
		t.Fatalf("tools %v, %v", list, err)
	}
	var schema map[string]any
	for _, tool := range list.Tools {
		if tool.Name == "showPetById" {
			data, _ := json.Marshal(tool)
			var m struct{ InputSchema map[string]any }
			_ = json.Unmarshal(data, &m)
			schema = m.InputSchema
		}
	}
	if p, _ := schema["properties"].(map[string]any)["petId"].(map[string]any); p["type"] != "integer" {
		t.Errorf("showPetById schema %v", schema)
	}
	req := mcp.CallToolRequest{}
	req.Params.Name = "showPetById"
	req.Params.Arguments = map[string]any{"petId": 3}
	res, err := c.CallTool(ctx, req)
	if err != nil || res.IsError {
		t.Fatalf("call %v, %v", res, err)
	}
	expect(t, "path", api.last(t).Path, "/pets/3")
}

// TestOpenAPIConcurrentCalls runs calls, OAuth2 included, in parallel
// (for -race): one token is fetched.
func TestOpenAPIConcurrentCalls(t *testing.T) {
	api := newFakeAPI(t)
	ts := newToolset(t, "security.json", openapi2mcp.Options{BaseURL: api.URL, Credentials: secrets})
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tool := []string{"usesOAuth2", "usesBearer", "usesQueryKey", "public"}[i%4]
			res, err := ts.Call(context.Background(), tool, nil)
			if err != nil || res.IsError {
				t.Errorf("%s: %v %v", tool, res, err)
			}
		}()
	}
	wg.Wait()
	if n := api.tokens.Load(); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}
