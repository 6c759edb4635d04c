package graph_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/99designs/gqlgen/client"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/graph"
	"github.com/aiproxy/aiproxy/mcp"
)

// petAPI is a fake API recording the requests it gets.
type petAPI struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
	spec string // served at /openapi.json
}

func newPetAPI(t *testing.T, spec string) *petAPI {
	p := &petAPI{spec: spec}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/openapi.json" {
			p.mu.Lock()
			io.WriteString(w, p.spec)
			p.mu.Unlock()
			return
		}
		p.mu.Lock()
		p.reqs = append(p.reqs, r.Clone(r.Context()))
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id": 7, "name": "Rex"}`)
	}))
	t.Cleanup(p.Close)
	return p
}

const petSpec = `{
  "openapi": "3.0.3",
  "info": {"title": "Pets", "version": "1"},
  "servers": [{"url": "https://pets.example.com/v1"}],
  "components": {"securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "X-Pet-Key"}}},
  "security": [{"key": []}],
  "paths": {
    "/pets/{petId}": {
      "get": {"operationId": "getPet", "summary": "Find a pet",
        "parameters": [{"name": "petId", "in": "path", "required": true, "schema": {"type": "integer"}}],
        "responses": {"200": {"description": "ok"}}}
    }
  }
}`

// newMCPAPI is the admin API with the MCP service on its store.
func newMCPAPI(t *testing.T) *api {
	t.Helper()
	admin := &mcp.Admin{Builders: map[aiproxy.MCPKind]mcp.ToolsetBuilder{
		aiproxy.MCPOpenAPI:  &mcp.OpenAPIBuilder{},
		aiproxy.MCPEmbedded: &mcp.EmbeddedBuilder{},
		aiproxy.MCPProxy:    &mcp.ProxyBuilder{},
	}}
	a := newAPIWith(t, func(r *graph.Resolver) { r.MCPAdmin = admin })
	admin.Store = a.svc
	return a
}

// TestMCPServerAdmin creates an OPENAPI server from an uploaded spec,
// tries a tool, refreshes one fetched from a URL, and checks that the
// credential never comes back.
func TestMCPServerAdmin(t *testing.T) {
	a := newMCPAPI(t)
	a.createGroup(t, `id: "acme"`)
	a.createGroup(t, `id: "beta"`)
	pets := newPetAPI(t, petSpec)
	const secret = "pet-key-very-secret-0123"
	type server struct {
		ID, Name, Kind, Scope string
		Tools                 []struct {
			Name, Description string
			InputSchema       map[string]any
			ReadOnly          bool
		}
		Openapi struct {
			BaseURL         string
			Servers         []string
			SecuritySchemes []struct {
				Name, Type    string
				In            *string
				CredentialSet bool
				Supported     bool
			}
		}
		Endpoints struct{ StreamableHTTP, Sse string }
	}
	const fields = `id name kind scope tools { name description inputSchema readOnly }
		openapi { baseURL servers securitySchemes { name type in credentialSet supported } } endpoints { streamableHTTP sse }`
	var created struct{ CreateMCPServer server }
	var raw map[string]any
	a.mustPost(t, `mutation($spec: String!, $base: String!, $cred: String!) { createMCPServer(input: {name: "pets", kind: OPENAPI, scope: PUBLIC,
		allowPrivateNetwork: true, callPrice: 0.01, openapi: {spec: $spec, baseURL: $base, credentials: [{scheme: "key", value: $cred}]}}) { `+fields+` } }`,
		&raw, client.Var("spec", petSpec), client.Var("base", pets.URL+"/v1"), client.Var("cred", secret))
	b, _ := json.Marshal(raw)
	if strings.Contains(string(b), secret) {
		t.Fatalf("the answer holds the credential: %s", b)
	}
	json.Unmarshal(b, &created)
	s := created.CreateMCPServer
	if s.Kind != "OPENAPI" || s.Scope != "PUBLIC" || len(s.Tools) != 1 || s.Tools[0].Name != "getPet" || !s.Tools[0].ReadOnly ||
		s.Openapi.BaseURL != pets.URL+"/v1" || len(s.Openapi.Servers) != 1 || len(s.Openapi.SecuritySchemes) != 1 ||
		!s.Openapi.SecuritySchemes[0].CredentialSet || !s.Openapi.SecuritySchemes[0].Supported || s.Endpoints.StreamableHTTP != "/mcp/public/"+s.ID {
		t.Fatalf("created %+v", s)
	}
	props, _ := s.Tools[0].InputSchema["properties"].(map[string]any)
	if pid, _ := props["petId"].(map[string]any); pid["type"] != "integer" {
		t.Errorf("input schema %v", s.Tools[0].InputSchema)
	}

	var called struct {
		CallMCPTool struct {
			IsError bool
			Text    []string
			Raw     map[string]any
		}
	}
	a.mustPost(t, `mutation($id: ID!) { callMCPTool(server: $id, tool: "getPet", arguments: {petId: 7}) { isError text raw } }`, &called, client.Var("id", s.ID))
	if called.CallMCPTool.IsError || len(called.CallMCPTool.Text) != 1 || !strings.Contains(called.CallMCPTool.Text[0], `"Rex"`) {
		t.Errorf("call %+v", called.CallMCPTool)
	}
	pets.mu.Lock()
	if len(pets.reqs) != 1 || pets.reqs[0].URL.Path != "/v1/pets/7" || pets.reqs[0].Header.Get("X-Pet-Key") != secret {
		t.Errorf("the API got %d requests: %v", len(pets.reqs), pets.reqs)
	}
	pets.mu.Unlock()
	a.mustPost(t, `mutation($id: ID!) { callMCPTool(server: $id, tool: "getPet", arguments: {petId: "seven"}) { isError text } }`, &called, client.Var("id", s.ID))
	if !called.CallMCPTool.IsError || !strings.Contains(strings.Join(called.CallMCPTool.Text, " "), "petId") {
		t.Errorf("a mistyped argument: %+v", called.CallMCPTool)
	}
	wantError(t, a.post(t, `mutation($id: ID!) { callMCPTool(server: $id, tool: "nope") { isError } }`, nil, client.Var("id", s.ID)), "NOT_FOUND", "")

	// A credential for a scheme the spec lacks, and a spec that does not
	// parse, name their field.
	wantError(t, a.post(t, `mutation($spec: String!) { createMCPServer(input: {name: "bad", kind: OPENAPI, scope: PUBLIC,
		openapi: {spec: $spec, credentials: [{scheme: "nope", value: "x"}]}}) { id } }`, nil, client.Var("spec", petSpec)), "INVALID", "openapi.credentials")
	wantError(t, a.post(t, `mutation { createMCPServer(input: {name: "bad", kind: OPENAPI, scope: PUBLIC, openapi: {spec: "{not a spec"}}) { id } }`, nil), "INVALID", "openapi.spec")
	wantError(t, a.post(t, `mutation($spec: String!) { createMCPServer(input: {name: "pets", kind: OPENAPI, scope: PUBLIC, openapi: {spec: $spec}}) { id } }`, nil,
		client.Var("spec", petSpec)), "CONFLICT", "name")

	// From a URL: fetched once, refetched on refresh. The outbound guard
	// refuses the loopback URL unless the server allows private networks.
	wantError(t, a.post(t, `mutation($u: String!) { createMCPServer(input: {name: "guarded", kind: OPENAPI, scope: PUBLIC, openapi: {specURL: $u}}) { id } }`, nil,
		client.Var("u", pets.URL+"/openapi.json")), "INVALID", "openapi.specURL")
	var fetched struct{ CreateMCPServer server }
	a.mustPost(t, `mutation($u: String!, $base: String!) { createMCPServer(input: {name: "fetched", kind: OPENAPI, scope: GROUP, group: "acme",
		allowPrivateNetwork: true, openapi: {specURL: $u, baseURL: $base}}) { `+fields+` } }`, &fetched,
		client.Var("u", pets.URL+"/openapi.json"), client.Var("base", pets.URL+"/v1"))
	if len(fetched.CreateMCPServer.Tools) != 1 || fetched.CreateMCPServer.Endpoints.Sse != "/mcp/group/"+fetched.CreateMCPServer.ID+"/sse" {
		t.Fatalf("fetched %+v", fetched.CreateMCPServer)
	}
	pets.mu.Lock()
	pets.spec = strings.Replace(petSpec, `"get": {"operationId": "getPet"`, `"delete": {"operationId": "deletePet"`, 1)
	pets.mu.Unlock()
	var refreshed struct{ RefreshMCPServer server }
	a.mustPost(t, `mutation($id: ID!) { refreshMCPServer(id: $id) { `+fields+` } }`, &refreshed, client.Var("id", fetched.CreateMCPServer.ID))
	if len(refreshed.RefreshMCPServer.Tools) != 1 || refreshed.RefreshMCPServer.Tools[0].Name != "deletePet" {
		t.Errorf("refreshed tools %+v", refreshed.RefreshMCPServer.Tools)
	}

	var preview struct {
		PreviewOpenAPI struct {
			Version string
			Title   string
			Tools   []struct{ Name string }
		}
	}
	a.mustPost(t, `query($spec: String!) { previewOpenAPI(spec: $spec) { version title tools { name } } }`, &preview, client.Var("spec", petSpec))
	if preview.PreviewOpenAPI.Title != "Pets" || len(preview.PreviewOpenAPI.Tools) != 1 || !strings.Contains(preview.PreviewOpenAPI.Version, "3.0") {
		t.Errorf("preview %+v", preview.PreviewOpenAPI)
	}
	wantError(t, a.post(t, `query($u: String!) { previewOpenAPI(specURL: $u) { title } }`, nil, client.Var("u", pets.URL+"/openapi.json")), "INVALID", "specURL")

	// Updating keeps the credential unless given; the list filters by
	// group.
	var updated struct{ UpdateMCPServer server }
	a.mustPost(t, `mutation($id: ID!) { updateMCPServer(id: $id, input: {description: "the pets"}) { `+fields+` } }`, &updated, client.Var("id", s.ID))
	if !updated.UpdateMCPServer.Openapi.SecuritySchemes[0].CredentialSet {
		t.Error("an update without credentials dropped the stored one")
	}
	var list struct{ McpServers []struct{ Name string } }
	a.mustPost(t, `{ mcpServers(group: "beta") { name } }`, &list)
	if len(list.McpServers) != 1 || list.McpServers[0].Name != "pets" {
		t.Errorf("beta's servers %+v", list.McpServers)
	}
	a.mustPost(t, `{ mcpServers(group: "acme") { name } }`, &list)
	if len(list.McpServers) != 2 {
		t.Errorf("acme's servers %+v", list.McpServers)
	}
	var del struct{ DeleteMCPServer bool }
	a.mustPost(t, `mutation($id: ID!) { deleteMCPServer(id: $id) }`, &del, client.Var("id", fetched.CreateMCPServer.ID))
	wantError(t, a.post(t, `mutation($id: ID!) { deleteMCPServer(id: $id) }`, nil, client.Var("id", fetched.CreateMCPServer.ID)), "NOT_FOUND", "server")
}

// TestMCPEmbeddedAndGroupValues creates an embedded server from a
// template, calls it, and sets a group's values; a group token sees
// public servers and its own, and may change nothing.
func TestMCPEmbeddedAndGroupValues(t *testing.T) {
	a := newMCPAPI(t)
	var tpls struct {
		McpTemplates []struct {
			Name   string
			Fields []struct {
				Name             string
				Secret, PerGroup bool
				Required         bool
			}
		}
	}
	a.mustPost(t, `{ mcpTemplates { name fields { name secret perGroup required } } }`, &tpls)
	names := map[string]bool{}
	for _, tp := range tpls.McpTemplates {
		names[tp.Name] = true
	}
	if !names["time"] || !names["fetch"] || !names["aiproxy"] {
		t.Fatalf("templates %+v", tpls.McpTemplates)
	}
	var created struct {
		CreateMCPServer struct {
			ID    string
			Tools []struct{ Name string }
		}
	}
	a.mustPost(t, `mutation { createMCPServer(input: {name: "clock", kind: EMBEDDED, scope: PUBLIC, embedded: {template: "time"}}) { id tools { name } } }`, &created)
	if len(created.CreateMCPServer.Tools) < 2 {
		t.Fatalf("time tools %+v", created.CreateMCPServer.Tools)
	}
	id := created.CreateMCPServer.ID
	var called struct {
		CallMCPTool struct {
			IsError bool
			Text    []string
		}
	}
	a.mustPost(t, `mutation($id: ID!) { callMCPTool(server: $id, tool: "current_time", arguments: {timezone: "Asia/Tokyo"}) { isError text } }`, &called, client.Var("id", id))
	if called.CallMCPTool.IsError || !strings.Contains(strings.Join(called.CallMCPTool.Text, ""), "Asia/Tokyo") {
		t.Errorf("current_time %+v", called.CallMCPTool)
	}
	wantError(t, a.post(t, `mutation { createMCPServer(input: {name: "x", kind: EMBEDDED, scope: PUBLIC, embedded: {template: "nope"}}) { id } }`, nil), "INVALID", "embedded.template")

	a.createGroup(t, `id: "acme"`)
	a.createGroup(t, `id: "beta"`)
	var gv struct {
		SetGroupMCPValues struct {
			Group    string
			Disabled bool
		}
	}
	a.mustPost(t, `mutation($id: ID!) { setGroupMCPValues(server: $id, group: "acme", values: [], disabled: true) { group disabled } }`, &gv, client.Var("id", id))
	if !gv.SetGroupMCPValues.Disabled {
		t.Errorf("group values %+v", gv.SetGroupMCPValues)
	}
	wantError(t, a.post(t, `mutation($id: ID!) { setGroupMCPValues(server: $id, group: "acme", values: [{name: "nope", value: "x"}]) { group } }`, nil, client.Var("id", id)), "INVALID", "values")

	// A group token: the public server and its own; no mutation.
	a.mustPost(t, `mutation { createMCPServer(input: {name: "beta-only", kind: EMBEDDED, scope: GROUP, group: "beta", embedded: {template: "time"}}) { id } }`, nil)
	_, key := a.createToken(t, `group: "acme", name: "agent"`)
	header := map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + key}
	w := a.do(http.MethodPost, "/graphql", gqlBody(t, `{ mcpServers { name } }`), header)
	if !strings.Contains(w.Body.String(), `"clock"`) || strings.Contains(w.Body.String(), "beta-only") {
		t.Errorf("group token's servers: %s", w.Body)
	}
	w = a.do(http.MethodPost, "/graphql", gqlBody(t, `mutation { deleteMCPServer(id: "1") }`), header)
	if !strings.Contains(w.Body.String(), "FORBIDDEN") {
		t.Errorf("group token deleting: %s", w.Body)
	}
}

// TestTokenMCPTools sets and clears a token's MCP tool allow-list.
func TestTokenMCPTools(t *testing.T) {
	a := newAPI(t)
	a.createGroup(t, `id: "acme"`)
	var c struct {
		CreateToken struct {
			Token struct {
				ID       string
				MCPTools []string `json:"mcpTools"`
			}
		}
	}
	a.mustPost(t, `mutation { createToken(input: {group: "acme", name: "agent", mcpTools: ["weather", "pets/getPet", "weather"]}) { token { id mcpTools } } }`, &c)
	if got := c.CreateToken.Token.MCPTools; len(got) != 2 || got[0] != "weather" || got[1] != "pets/getPet" {
		t.Errorf("created with %v", got)
	}
	var u struct {
		UpdateToken struct {
			MCPTools []string `json:"mcpTools"`
		}
	}
	a.mustPost(t, `mutation($id: ID!) { updateToken(id: $id, input: {mcpTools: []}) { mcpTools } }`, &u, client.Var("id", c.CreateToken.Token.ID))
	if u.UpdateToken.MCPTools == nil || len(u.UpdateToken.MCPTools) != 0 {
		t.Errorf("updated to %v", u.UpdateToken.MCPTools)
	}
}
