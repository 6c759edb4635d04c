package mcp_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/go-chi/chi/v5"

	"github.com/aiproxy/aiproxy"
	mcpview "github.com/aiproxy/aiproxy/views/mcp"
	"github.com/aiproxy/aiproxy/views/web/webtest"
)

const base = "https://gw.example"

// env is the MCP area mounted as cmd/aiproxy mounts it (the session and
// CSRF middleware in front) on a fakeMCP, with an admin and a group
// session of "team-a".
type env struct {
	t       testing.TB
	fake    *fakeMCP
	handler http.Handler
	admin   session
	group   session
}

// session is a signed-in user: the cookie and the CSRF token.
type session struct {
	cookie *http.Cookie
	csrf   string
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	tokens := webtest.NewTokens()
	_, key := tokens.Add(&aiproxy.Group{ID: "team-a", Enabled: true}, "ci")
	auth := webtest.NewAuth(tokens)
	e := &env{t: tb, fake: newFakeMCP()}
	r := chi.NewRouter()
	r.Use(auth.Session, auth.CSRF)
	mcpview.Mount(r, mcpview.Deps{MCP: e.fake, BaseURL: func(*http.Request) string { return base + "/" }})
	e.handler = r
	c, s := webtest.SignIn(tb, auth, webtest.AdminKey)
	e.admin = session{c, s.CSRF}
	c, s = webtest.SignIn(tb, auth, key)
	e.group = session{c, s.CSRF}
	return e
}

// response is an answer, its body read.
type response struct {
	status int
	header http.Header
	body   string
}

func (r response) doc(tb testing.TB) *goquery.Document {
	tb.Helper()
	d, err := goquery.NewDocumentFromReader(strings.NewReader(r.body))
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func (e *env) serve(req *http.Request, s session) response {
	e.t.Helper()
	if s.cookie != nil {
		req.AddCookie(s.cookie)
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Result().Body)
	return response{rec.Code, rec.Header(), string(body)}
}

func (e *env) get(target string, s session) response {
	return e.serve(httptest.NewRequest(http.MethodGet, target, nil), s)
}

// post sends form, url-encoded, with s's CSRF token.
func (e *env) post(target string, form url.Values, s session) response {
	e.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", s.csrf)
	req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return e.serve(req, s)
}

// postMultipart sends form and the files (by field name) as
// multipart/form-data, with s's CSRF token.
func (e *env) postMultipart(target string, form url.Values, files map[string]string, s session) response {
	e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("csrf", s.csrf)
	for k, vs := range form {
		for _, v := range vs {
			mw.WriteField(k, v)
		}
	}
	for field, content := range files {
		fw, _ := mw.CreateFormFile(field, "spec.yaml")
		io.WriteString(fw, content)
	}
	mw.Close()
	req := httptest.NewRequest(http.MethodPost, target, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return e.serve(req, s)
}

func mustStatus(tb testing.TB, r response, want int) {
	tb.Helper()
	if r.status != want {
		tb.Fatalf("status %d, want %d; body:\n%.2000s", r.status, want, r.body)
	}
}

func weatherTools() []aiproxy.MCPTool {
	return []aiproxy.MCPTool{
		{Name: "forecast", Description: "The forecast of a city.", InputSchema: json.RawMessage(`{"type":"object"}`)},
		{Name: "alerts", Description: "Weather alerts.", InputSchema: json.RawMessage(`{"type":"object"}`)},
	}
}

// TestList: the admin sees every server with its kind, scope, status,
// tools and endpoints, and the aggregate endpoint's snippet to copy.
func TestList(t *testing.T) {
	e := newEnv(t)
	e.fake.add(&aiproxy.MCPServer{Name: "weather", Kind: aiproxy.MCPOpenAPI, Scope: aiproxy.MCPPublic, Enabled: true, Tools: weatherTools(),
		OpenAPI: &aiproxy.MCPOpenAPIConfig{Spec: "x"}})
	e.fake.add(&aiproxy.MCPServer{Name: "clock", Kind: aiproxy.MCPEmbedded, Scope: aiproxy.MCPGroup, GroupID: "team-b",
		Embedded: &aiproxy.MCPEmbeddedConfig{Template: "time"}})
	r := e.get("/admin/mcp", e.admin)
	mustStatus(t, r, http.StatusOK)
	doc := r.doc(t)
	type row struct{ name, kind, scope, status, tools, endpoint string }
	var got []row
	doc.Find(`[data-testid="server-row"]`).Each(func(_ int, s *goquery.Selection) {
		got = append(got, row{
			s.Find(`[data-testid="open"]`).Text(), s.Find(`[data-testid="cell-kind"]`).Text(), s.Find(`[data-testid="cell-scope"]`).Text(),
			strings.TrimSpace(s.Find(`[data-testid="cell-status"]`).Text()), s.Find(`[data-testid="cell-tools"]`).Text(), s.Find(`[data-testid="endpoint"]`).Text(),
		})
	})
	want := []row{
		{"clock", "Embedded", "group team-b", "disabled", "0", "/mcp/group/2"},
		{"weather", "OpenAPI", "public", "enabled", "2", "/mcp/public/1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rows\n%v\nwant\n%v", got, want)
	}
	for _, id := range []string{"new-openapi", "new-proxy", "new-embedded"} {
		if doc.Find(`[data-testid="`+id+`"]`).Length() != 1 {
			t.Errorf("no %s link", id)
		}
	}
	if doc.Find(`[data-testid="server-row"] [data-testid="delete-form"][data-confirm]`).Length() != 2 {
		t.Error("delete is not confirmed")
	}
	checkSnippet(t, doc, "snippet-aggregate", "aiproxy", base+"/mcp")
}

// checkSnippet checks the client configuration of block id: JSON naming
// server at url with a bearer token, and a copy button.
func checkSnippet(tb testing.TB, doc *goquery.Document, id, server, url string) {
	tb.Helper()
	var cfg struct {
		MCPServers map[string]struct {
			Type    string            `json:"type"`
			URL     string            `json:"url"`
			Headers map[string]string `json:"headers"`
		} `json:"mcpServers"`
	}
	text := doc.Find(`pre#` + id).Text()
	if err := json.Unmarshal([]byte(text), &cfg); err != nil {
		tb.Fatalf("snippet %s: %v\n%s", id, err, text)
	}
	s := cfg.MCPServers[server]
	if s.Type != "http" || s.URL != url || s.Headers["Authorization"] != "Bearer <your token>" {
		tb.Errorf("snippet %s: %+v", id, cfg)
	}
	if doc.Find(`button[data-copy="`+id+`"]`).Length() != 1 {
		tb.Errorf("no copy button for %s", id)
	}
}

const petSpec = `openapi: 3.0.0
info: {title: Pets, version: "1"}
paths: {}
`

func petPreview() *aiproxy.MCPOpenAPIPreview {
	return &aiproxy.MCPOpenAPIPreview{Version: "openapi 3.0", Title: "Pets", Servers: []string{"https://pets.example"},
		Schemes: []aiproxy.MCPSecurityScheme{{Name: "apiKey", Type: "apiKey", In: "header", Format: "key", Supported: true}},
		Tools: []aiproxy.MCPTool{
			{Name: "listPets", Description: "List the <pets>."},
			{Name: "getPet", Description: "Find a pet by id."},
		}}
}

// TestPreview: "Preview" shows the tools of a pasted or uploaded spec,
// and an input for each security scheme's credential, without saving;
// the spec content is kept in the form for "Create".
func TestPreview(t *testing.T) {
	tests := []struct {
		name  string
		form  url.Values
		files map[string]string
	}{
		{"pasted", url.Values{"spec": {petSpec}}, nil},
		{"uploaded", url.Values{"spec": {""}}, map[string]string{"specFile": petSpec}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.fake.preview = petPreview()
			form := url.Values{"kind": {"openapi"}, "action": {"preview"}, "name": {"pets"}, "scope": {"public"}}
			for k, v := range tt.form {
				form[k] = v
			}
			r := e.postMultipart("/admin/mcp", form, tt.files, e.admin)
			mustStatus(t, r, http.StatusOK)
			if got := e.fake.called(); !reflect.DeepEqual(got, []string{"PreviewOpenAPI"}) {
				t.Fatalf("calls %v, want only a preview", got)
			}
			if got := e.fake.previews[0].spec; got != petSpec {
				t.Errorf("previewed %q", got)
			}
			doc := r.doc(t)
			var tools []string
			doc.Find(`[data-testid="preview-tool"]`).Each(func(_ int, s *goquery.Selection) { tools = append(tools, strings.Join(strings.Fields(s.Text()), " ")) })
			if want := []string{"listPets List the <pets>.", "getPet Find a pet by id."}; !reflect.DeepEqual(tools, want) {
				t.Errorf("tools %q, want %q", tools, want)
			}
			cred := doc.Find(`[data-testid="input-credential.apiKey"]`)
			if cred.AttrOr("type", "") != "password" || doc.Find(`label[for="`+cred.AttrOr("id", "-")+`"]`).Length() != 1 {
				t.Error("no labelled password input for the apiKey credential")
			}
			if got := doc.Find(`[data-testid="input-spec"]`).Text(); got != petSpec {
				t.Errorf("the spec is not kept in the form: %q", got)
			}
			if doc.Find(`[data-testid="submit"][value="create"]`).Length() != 1 {
				t.Error("no Create button after the preview")
			}
			if doc.Find(`[data-testid="server-form"][enctype="multipart/form-data"] input[name="csrf"]`).Length() != 1 {
				t.Error("the form is not multipart with its csrf field")
			}
		})
	}
}

// TestCreateOpenAPI: a server created with a credential is stored with
// it, the browser is redirected (303) to its page, and the credential is
// in no page afterwards: only "set" is shown.
func TestCreateOpenAPI(t *testing.T) {
	const secret = "sk-live-SECRET-4242"
	e := newEnv(t)
	e.fake.preview = petPreview()
	e.fake.schemes = petPreview().Schemes
	r := e.postMultipart("/admin/mcp", url.Values{"kind": {"openapi"}, "action": {"create"}, "name": {"pets"}, "scope": {"public"},
		"enabled": {"on"}, "spec": {petSpec}, "credential.apiKey": {secret}, "callPrice": {"0.01"}, "toolPrices": {"getPet=0.5\n"}}, nil, e.admin)
	mustStatus(t, r, http.StatusSeeOther)
	if loc := r.header.Get("Location"); loc != "/admin/mcp/1" {
		t.Errorf("Location %q", loc)
	}
	s := e.fake.stored(1)
	if s == nil || s.OpenAPI == nil || s.OpenAPI.Spec != petSpec || !s.Enabled || s.CallPrice != aiproxy.AmountFromFloat(0.01) ||
		s.ToolPrices["getPet"] != aiproxy.AmountFromFloat(0.5) {
		t.Fatalf("stored %+v", s)
	}
	if want := []aiproxy.MCPCredential{{Scheme: "apiKey", Value: secret}}; !reflect.DeepEqual(s.OpenAPI.Credentials, want) {
		t.Errorf("credentials %v", s.OpenAPI.Credentials)
	}
	for _, page := range []string{"/admin/mcp", "/admin/mcp/1", "/admin/mcp/1/edit", "/admin/mcp/1/values?group=team-a", "/admin/mcp/1/try?tool=getPet"} {
		r := e.get(page, e.admin)
		mustStatus(t, r, http.StatusOK)
		if strings.Contains(r.body, secret) {
			t.Errorf("%s shows the credential", page)
		}
	}
	edit := e.get("/admin/mcp/1/edit", e.admin).doc(t)
	if edit.Find(`[data-testid="secret-set-credential.apiKey"]`).Length() != 1 {
		t.Error("the edit form does not say the credential is set")
	}
	if got := e.get("/admin/mcp/1", e.admin).doc(t).Find(`[data-testid="credential-apiKey"]`).Text(); strings.TrimSpace(got) != "set" {
		t.Errorf("credential shown as %q", got)
	}

	// An edit leaving the credential empty keeps it; clearing removes it.
	r = e.postMultipart("/admin/mcp/1", url.Values{"kind": {"openapi"}, "name": {"pets2"}, "enabled": {"on"}, "credential.apiKey": {""}}, nil, e.admin)
	mustStatus(t, r, http.StatusSeeOther)
	if s := e.fake.stored(1); s.Name != "pets2" || len(s.OpenAPI.Credentials) != 1 || s.OpenAPI.Credentials[0].Value != secret || s.OpenAPI.Spec != petSpec {
		t.Errorf("after an edit: %+v", s.OpenAPI)
	}
	r = e.postMultipart("/admin/mcp/1", url.Values{"kind": {"openapi"}, "name": {"pets2"}, "credential.apiKey": {""}, "clear.credential.apiKey": {"on"}}, nil, e.admin)
	mustStatus(t, r, http.StatusSeeOther)
	if s := e.fake.stored(1); len(s.OpenAPI.Credentials) != 0 || s.Enabled {
		t.Errorf("after clearing: %+v, enabled %v", s.OpenAPI.Credentials, s.Enabled)
	}
}

// TestValidation: a refused form comes back with a 422 and the error
// beside its field, the input marked invalid.
func TestValidation(t *testing.T) {
	tests := []struct {
		name    string
		form    url.Values
		field   string
		created bool // the service was asked
	}{
		{"bad name", url.Values{"kind": {"proxy"}, "name": {"no spaces"}, "scope": {"public"}, "proxyURL": {"https://r.example/mcp"}}, "name", true},
		{"no URL", url.Values{"kind": {"proxy"}, "name": {"remote"}, "scope": {"public"}}, "proxyURL", true},
		{"group scope without group", url.Values{"kind": {"proxy"}, "name": {"remote"}, "scope": {"group"}, "proxyURL": {"https://r.example/mcp"}}, "group", true},
		{"name taken", url.Values{"kind": {"proxy"}, "name": {"taken"}, "scope": {"public"}, "proxyURL": {"https://r.example/mcp"}}, "name", true},
		{"price not a number", url.Values{"kind": {"proxy"}, "name": {"remote"}, "scope": {"public"}, "callPrice": {"abc"}}, "callPrice", false},
		{"bad tool prices", url.Values{"kind": {"proxy"}, "name": {"remote"}, "scope": {"public"}, "toolPrices": {"x"}}, "toolPrices", false},
		{"template value", url.Values{"kind": {"embedded"}, "template": {"weather"}, "name": {"w"}, "scope": {"public"}}, "value.region", true},
		{"spec that does not parse", url.Values{"kind": {"openapi"}, "action": {"preview"}, "name": {"p"}, "spec": {"not a spec"}}, "spec", false},
		{"no spec to preview", url.Values{"kind": {"openapi"}, "action": {"preview"}, "name": {"p"}}, "specURL", false},
		{"no spec to create", url.Values{"kind": {"openapi"}, "action": {"create"}, "name": {"p"}, "scope": {"public"}}, "specURL", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.fake.templates = weatherTemplates()
			e.fake.add(&aiproxy.MCPServer{Name: "taken", Kind: aiproxy.MCPProxy, Scope: aiproxy.MCPPublic, Proxy: &aiproxy.MCPProxyConfig{URL: "https://x"}})
			e.fake.addValidation()
			r := e.post("/admin/mcp", tt.form, e.admin)
			mustStatus(t, r, http.StatusUnprocessableEntity)
			doc := r.doc(t)
			msg := doc.Find(`[data-testid="error-` + tt.field + `"]`)
			if msg.Length() != 1 || strings.TrimSpace(msg.Text()) == "" {
				t.Fatalf("no error beside %s; errors: %q", tt.field, doc.Find(`.field-error`).Text())
			}
			in := doc.Find(`[data-testid="input-` + tt.field + `"]`)
			if in.AttrOr("aria-invalid", "") != "true" || !strings.Contains(in.AttrOr("aria-describedby", ""), "error-"+tt.field) {
				t.Errorf("input %s not marked invalid: %v", tt.field, in.Nodes)
			}
			if asked := slices.Contains(e.fake.called(), "CreateMCPServer"); asked != tt.created {
				t.Errorf("service asked: %v, want %v", asked, tt.created)
			}
			if got := doc.Find(`[data-testid="input-name"]`).AttrOr("value", ""); got != tt.form.Get("name") {
				t.Errorf("name not kept: %q", got)
			}
		})
	}
}

// addValidation makes the fake check embedded values against their
// template, as the real service does.
func (f *fakeMCP) addValidation() { f.validateTemplates = true }

func weatherTemplates() []aiproxy.MCPTemplate {
	return []aiproxy.MCPTemplate{{Name: "weather", Description: "The weather of a region.", Fields: []aiproxy.MCPTemplateField{
		{Name: "region", Description: "The region served.", Example: "eu-1", Required: true, Pattern: `[a-z]+-[0-9]`},
		{Name: "api_key", Description: "The provider's key.", Secret: true},
		{Name: "units", Description: "Metric or imperial.", Example: "metric"},
		{Name: "user_token", Description: "Each group's own token.", PerGroup: true, Secret: true},
	}}}
}

// TestTemplateForm: an embedded template's fields become the form:
// labels, descriptions, examples as placeholders, required, patterns,
// secrets as password inputs; per-group fields are only noted.
func TestTemplateForm(t *testing.T) {
	e := newEnv(t)
	e.fake.templates = weatherTemplates()
	chooser := e.get("/admin/mcp/new?kind=embedded", e.admin).doc(t)
	if href := chooser.Find(`[data-testid="template-weather"]`).AttrOr("href", ""); href != "/admin/mcp/new?kind=embedded&template=weather" {
		t.Errorf("template link %q", href)
	}
	r := e.get("/admin/mcp/new?kind=embedded&template=weather", e.admin)
	mustStatus(t, r, http.StatusOK)
	doc := r.doc(t)
	tests := []struct {
		input                           string
		typ, placeholder, pattern, hint string
		required                        bool
	}{
		{"value.region", "text", "eu-1", `[a-z]+-[0-9]`, "The region served.", true},
		{"value.api_key", "password", "", "", "The provider's key.", false},
		{"value.units", "text", "metric", "", "Metric or imperial.", false},
	}
	for _, tt := range tests {
		t.Run(tt.input, func(t *testing.T) {
			in := doc.Find(`[data-testid="input-` + tt.input + `"]`)
			if in.Length() != 1 {
				t.Fatal("no input")
			}
			_, required := in.Attr("required")
			if in.AttrOr("type", "") != tt.typ || in.AttrOr("placeholder", "") != tt.placeholder || in.AttrOr("pattern", "") != tt.pattern || required != tt.required {
				t.Errorf("attributes %v", in.Nodes[0].Attr)
			}
			if doc.Find(`label[for="`+in.AttrOr("id", "-")+`"]`).Length() != 1 {
				t.Error("no label")
			}
			if hint := doc.Find(`[id="` + in.AttrOr("aria-describedby", "-") + `"]`).Text(); !strings.Contains(hint, tt.hint) {
				t.Errorf("hint %q", hint)
			}
		})
	}
	if doc.Find(`[data-testid="input-value.user_token"]`).Length() != 0 || doc.Find(`[data-testid="per-group-field"][data-name="user_token"]`).Length() != 1 {
		t.Error("the per-group field is not only noted")
	}

	r = e.post("/admin/mcp", url.Values{"kind": {"embedded"}, "template": {"weather"}, "name": {"w"}, "scope": {"public"},
		"value.region": {"eu-1"}, "value.api_key": {"k-123"}, "value.units": {""}}, e.admin)
	mustStatus(t, r, http.StatusSeeOther)
	s := e.fake.stored(1)
	if want := map[string]string{"region": "eu-1", "api_key": "k-123"}; s.Embedded == nil || s.Embedded.Template != "weather" || !reflect.DeepEqual(s.Embedded.Values, want) {
		t.Errorf("stored %+v", s.Embedded)
	}
	edit := e.get("/admin/mcp/1/edit", e.admin)
	if strings.Contains(edit.body, "k-123") {
		t.Error("the edit form shows the secret field")
	}
	ed := edit.doc(t)
	if ed.Find(`[data-testid="secret-set-value.api_key"]`).Length() != 1 || ed.Find(`[data-testid="input-value.region"]`).AttrOr("value", "") != "eu-1" {
		t.Error("the edit form does not show the stored values")
	}
	r = e.post("/admin/mcp/1", url.Values{"name": {"w"}, "value.region": {"us-2"}, "value.api_key": {""}, "value.units": {"imperial"}}, e.admin)
	mustStatus(t, r, http.StatusSeeOther)
	if want := map[string]string{"region": "us-2", "api_key": "k-123", "units": "imperial"}; !reflect.DeepEqual(e.fake.stored(1).Embedded.Values, want) {
		t.Errorf("after the edit %v", e.fake.stored(1).Embedded.Values)
	}
}

// TestTry: the try-a-tool form is generated from the tool's schema, the
// submitted strings reach the tool as the schema's JSON types, and the
// answer is shown inline, escaped, with its error badge and latency.
func TestTry(t *testing.T) {
	e := newEnv(t)
	schema := `{"type":"object","properties":{
		"city":{"type":"string","description":"The city."},
		"days":{"type":"integer","minimum":1,"maximum":14,"default":3},
		"unit":{"type":"string","enum":["c","f"]},
		"hourly":{"type":"boolean"},
		"filter":{"type":"object","properties":{"tag":{"type":"string"}}}},
		"required":["city"]}`
	e.fake.add(&aiproxy.MCPServer{Name: "weather", Kind: aiproxy.MCPProxy, Scope: aiproxy.MCPPublic, Enabled: true,
		Proxy: &aiproxy.MCPProxyConfig{URL: "https://r.example"}, Tools: []aiproxy.MCPTool{{Name: "forecast", InputSchema: json.RawMessage(schema)}}})
	e.fake.result = &aiproxy.MCPCallResult{IsError: true, Text: []string{"<b>no such city</b>"}, Raw: json.RawMessage(`{"isError":true}`), Latency: 1500 * time.Microsecond}

	doc := e.get("/admin/mcp/1/try?tool=forecast", e.admin).doc(t)
	kinds := map[string]string{}
	doc.Find(`[data-testid="try-form"] [data-testid^="arg-"]`).Each(func(_ int, s *goquery.Selection) {
		kinds[strings.TrimPrefix(s.AttrOr("data-testid", ""), "arg-")] = s.AttrOr("data-kind", "")
	})
	if want := map[string]string{"city": "text", "days": "number", "unit": "select", "hourly": "checkbox", "filter": "json"}; !reflect.DeepEqual(kinds, want) {
		t.Errorf("controls %v, want %v", kinds, want)
	}
	days := doc.Find(`[data-testid="input-arg.days"]`)
	if days.AttrOr("value", "") != "3" || days.AttrOr("min", "") != "1" || days.AttrOr("max", "") != "14" || days.AttrOr("step", "") != "1" {
		t.Errorf("days %v", days.Nodes[0].Attr)
	}
	if _, ok := doc.Find(`[data-testid="input-arg.city"]`).Attr("required"); !ok {
		t.Error("city is not required")
	}
	if doc.Find(`[data-testid="input-arg.unit"] option`).Length() != 3 {
		t.Error("unit's options")
	}
	doc.Find(`[data-testid="try-form"] input:not([type=hidden]), [data-testid="try-form"] select, [data-testid="try-form"] textarea`).Each(func(_ int, s *goquery.Selection) {
		if doc.Find(`label[for="`+s.AttrOr("id", "-")+`"]`).Length() != 1 {
			t.Errorf("input %s has no label", s.AttrOr("name", ""))
		}
	})

	r := e.post("/admin/mcp/1/try?tool=forecast", url.Values{"arg.city": {"Paris"}, "arg.days": {"5"}, "arg.unit": {"f"},
		"arg.hourly": {"true"}, "arg.filter": {`{"tag":"rain"}`}, "group": {"team-a"}}, e.admin)
	mustStatus(t, r, http.StatusOK)
	if len(e.fake.toolCalls) != 1 {
		t.Fatalf("%d calls", len(e.fake.toolCalls))
	}
	c := e.fake.toolCalls[0]
	want := map[string]any{"city": "Paris", "days": int64(5), "unit": "f", "hourly": true, "filter": map[string]any{"tag": "rain"}}
	if c.server != 1 || c.tool != "forecast" || c.group != "team-a" || !reflect.DeepEqual(c.args, want) {
		t.Errorf("call %+v", c)
	}
	doc = r.doc(t)
	if doc.Find(`[data-testid="result-error"]`).Length() != 1 || doc.Find(`[data-testid="result-text"] b`).Length() != 0 ||
		doc.Find(`[data-testid="result-text"]`).Text() != "<b>no such city</b>" {
		t.Errorf("result: %s", doc.Find(`[data-testid="result"]`).Text())
	}
	if got := doc.Find(`[data-testid="latency"]`).Text(); got != "1.5 ms" {
		t.Errorf("latency %q", got)
	}
	if got := doc.Find(`[data-testid="input-arg.days"]`).AttrOr("value", ""); got != "5" {
		t.Errorf("the submitted values are not kept: days %q", got)
	}

	r = e.post("/admin/mcp/1/try?tool=forecast", url.Values{"arg.city": {"Paris"}, "arg.days": {"2.5"}}, e.admin)
	mustStatus(t, r, http.StatusUnprocessableEntity)
	if r.doc(t).Find(`[data-testid="error-arg.days"]`).Length() != 1 || len(e.fake.toolCalls) != 1 {
		t.Error("a bad integer is not refused beside its input")
	}

	e.fake.callErr = aiproxy.Errorf(aiproxy.EUPSTREAM, "the remote server is down")
	r = e.post("/admin/mcp/1/try?tool=forecast", url.Values{"arg.city": {"Paris"}}, e.admin)
	mustStatus(t, r, http.StatusBadGateway)
	if got := r.doc(t).Find(`[data-testid="call-error"]`).Text(); got != "the remote server is down" {
		t.Errorf("call error %q", got)
	}
	mustStatus(t, e.get("/admin/mcp/1/try?tool=nope", e.admin), http.StatusNotFound)
}

// groupServers stores the servers of TestGroupSession: 1 and 3 are
// team-a's to use.
func groupServers(f *fakeMCP) {
	f.add(&aiproxy.MCPServer{ID: 1, Name: "public-on", Kind: aiproxy.MCPProxy, Scope: aiproxy.MCPPublic, Enabled: true, Proxy: &aiproxy.MCPProxyConfig{URL: "https://a"}})
	f.add(&aiproxy.MCPServer{ID: 2, Name: "public-off-for-a", Kind: aiproxy.MCPProxy, Scope: aiproxy.MCPPublic, Enabled: true, Proxy: &aiproxy.MCPProxyConfig{URL: "https://b"}})
	f.add(&aiproxy.MCPServer{ID: 3, Name: "team-a-own", Kind: aiproxy.MCPProxy, Scope: aiproxy.MCPGroup, GroupID: "team-a", Enabled: true, Proxy: &aiproxy.MCPProxyConfig{URL: "https://c"}})
	f.add(&aiproxy.MCPServer{ID: 4, Name: "team-b-own", Kind: aiproxy.MCPProxy, Scope: aiproxy.MCPGroup, GroupID: "team-b", Enabled: true, Proxy: &aiproxy.MCPProxyConfig{URL: "https://d"}})
	f.add(&aiproxy.MCPServer{ID: 5, Name: "public-disabled", Kind: aiproxy.MCPProxy, Scope: aiproxy.MCPPublic, Proxy: &aiproxy.MCPProxyConfig{URL: "https://e"}})
	f.values[valuesKey(2, "team-a")] = &aiproxy.MCPGroupValues{ServerID: 2, GroupID: "team-a", Disabled: true}
}

// TestGroupSession: a group sees the servers it may use, with their
// endpoints and snippets and no admin action; another group's server is
// not found; every change is refused.
func TestGroupSession(t *testing.T) {
	e := newEnv(t)
	groupServers(e.fake)
	r := e.get("/admin/mcp", e.group)
	mustStatus(t, r, http.StatusOK)
	doc := r.doc(t)
	var names []string
	doc.Find(`[data-testid="server-row"]`).Each(func(_ int, s *goquery.Selection) { names = append(names, s.AttrOr("data-name", "")) })
	if want := []string{"public-on", "team-a-own"}; !reflect.DeepEqual(names, want) {
		t.Errorf("servers %v, want %v", names, want)
	}
	if n := doc.Find(`[data-testid="mcp"] form[method="post"], [data-testid^="new-"]`).Length(); n != 0 {
		t.Errorf("%d admin actions", n)
	}
	checkSnippet(t, doc, "snippet-aggregate", "aiproxy", base+"/mcp")

	page := e.get("/admin/mcp/3", e.group)
	mustStatus(t, page, http.StatusOK)
	pd := page.doc(t)
	checkSnippet(t, pd, "snippet-server", "team-a-own", base+"/mcp/group/3")
	if got := pd.Find(`[data-testid="sse-url"]`).Text(); got != base+"/mcp/group/3/sse" {
		t.Errorf("SSE URL %q", got)
	}
	if n := pd.Find(`[data-testid="edit"], [data-testid="try"], form[method="post"][action^="/admin/mcp"]`).Length(); n != 0 {
		t.Errorf("%d admin actions on the server's page", n)
	}
	if strings.Contains(page.body, "https://c") {
		t.Error("the group sees the remote server's URL")
	}

	tests := []struct {
		name   string
		method string
		target string
		want   int
	}{
		{"another group's server", http.MethodGet, "/admin/mcp/4", http.StatusNotFound},
		{"a server it turned off", http.MethodGet, "/admin/mcp/2", http.StatusNotFound},
		{"a disabled server", http.MethodGet, "/admin/mcp/5", http.StatusNotFound},
		{"an unknown server", http.MethodGet, "/admin/mcp/99", http.StatusNotFound},
		{"the create form", http.MethodGet, "/admin/mcp/new", http.StatusForbidden},
		{"the edit form", http.MethodGet, "/admin/mcp/3/edit", http.StatusForbidden},
		{"the try form", http.MethodGet, "/admin/mcp/3/try?tool=x", http.StatusForbidden},
		{"create", http.MethodPost, "/admin/mcp", http.StatusForbidden},
		{"update", http.MethodPost, "/admin/mcp/3", http.StatusForbidden},
		{"disable", http.MethodPost, "/admin/mcp/3/disable", http.StatusForbidden},
		{"delete", http.MethodPost, "/admin/mcp/3/delete", http.StatusForbidden},
		{"refresh", http.MethodPost, "/admin/mcp/1/refresh", http.StatusForbidden},
		{"group values", http.MethodPost, "/admin/mcp/1/values", http.StatusForbidden},
		{"try", http.MethodPost, "/admin/mcp/3/try?tool=x", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r response
			if tt.method == http.MethodPost {
				r = e.post(tt.target, url.Values{"group": {"team-a"}, "name": {"x"}}, e.group)
			} else {
				r = e.get(tt.target, e.group)
			}
			mustStatus(t, r, tt.want)
		})
	}
	if got := e.fake.called(); len(got) != 0 {
		t.Errorf("the group changed something: %v", got)
	}
}

// TestCSRF: a change without the session's CSRF token is refused (403)
// before it reaches the service.
func TestCSRF(t *testing.T) {
	tests := []struct {
		name  string
		token string
	}{
		{"none", ""},
		{"wrong", "not-the-token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			groupServers(e.fake)
			for _, target := range []string{"/admin/mcp", "/admin/mcp/1/delete", "/admin/mcp/1/values", "/admin/mcp/1/try?tool=x"} {
				form := url.Values{"kind": {"proxy"}, "name": {"x"}}
				if tt.token != "" {
					form.Set("csrf", tt.token)
				}
				req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				mustStatus(t, e.serve(req, e.admin), http.StatusForbidden)
			}
			if got := e.fake.called(); len(got) != 0 {
				t.Errorf("calls %v", got)
			}
		})
	}
}

// TestActions: enable, disable, refresh and delete redirect (303) where
// the form says, or, for htmx, answer with HX-Location.
func TestActions(t *testing.T) {
	tests := []struct {
		action, back, location, call string
		check                        func(*aiproxy.MCPServer) bool
	}{
		{"disable", "list", "/admin/mcp", "UpdateMCPServer", func(s *aiproxy.MCPServer) bool { return s != nil && !s.Enabled }},
		{"enable", "", "/admin/mcp/5", "UpdateMCPServer", func(s *aiproxy.MCPServer) bool { return s != nil && s.Enabled }},
		{"refresh", "", "/admin/mcp/5", "RefreshMCPServer", func(s *aiproxy.MCPServer) bool { return s != nil }},
		{"delete", "", "/admin/mcp", "DeleteMCPServer", func(s *aiproxy.MCPServer) bool { return s == nil }},
	}
	for _, tt := range tests {
		t.Run(tt.action, func(t *testing.T) {
			e := newEnv(t)
			e.fake.add(&aiproxy.MCPServer{ID: 5, Name: "x", Kind: aiproxy.MCPProxy, Scope: aiproxy.MCPPublic, Enabled: tt.action != "enable", Proxy: &aiproxy.MCPProxyConfig{URL: "https://x"}})
			r := e.post("/admin/mcp/5/"+tt.action, url.Values{"back": {tt.back}}, e.admin)
			mustStatus(t, r, http.StatusSeeOther)
			if loc := r.header.Get("Location"); loc != tt.location {
				t.Errorf("Location %q, want %q", loc, tt.location)
			}
			if got := e.fake.called(); !reflect.DeepEqual(got, []string{tt.call}) {
				t.Errorf("calls %v", got)
			}
			if !tt.check(e.fake.stored(5)) {
				t.Errorf("stored %+v", e.fake.stored(5))
			}
		})
	}
	e := newEnv(t)
	e.fake.add(&aiproxy.MCPServer{ID: 5, Name: "x", Kind: aiproxy.MCPProxy, Scope: aiproxy.MCPPublic, Proxy: &aiproxy.MCPProxyConfig{URL: "https://x"}})
	form := url.Values{"csrf": {e.admin.csrf}}
	req := httptest.NewRequest(http.MethodPost, "/admin/mcp/5/enable", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	r := e.serve(req, e.admin)
	if r.status != http.StatusOK || !strings.Contains(r.header.Get("HX-Location"), `"/admin/mcp/5"`) {
		t.Errorf("htmx: %d, HX-Location %q", r.status, r.header.Get("HX-Location"))
	}
}

// TestGroupValues: a group's values of a PUBLIC proxied server are
// stored (secrets write-only: kept when left empty), with its "disabled
// for this group" choice; the form shows only whether a secret is set.
func TestGroupValues(t *testing.T) {
	const secret = "group-SECRET-77"
	e := newEnv(t)
	e.fake.add(&aiproxy.MCPServer{ID: 1, Name: "remote", Kind: aiproxy.MCPProxy, Scope: aiproxy.MCPPublic, Enabled: true,
		Proxy: &aiproxy.MCPProxyConfig{URL: "https://r", GroupHeaders: []string{"X-Key"}, GroupQuery: []string{"team"}}})
	doc := e.get("/admin/mcp/1/values", e.admin).doc(t)
	if doc.Find(`[data-testid="group-chooser"]`).Length() != 1 || doc.Find(`[data-testid="values-form"]`).Length() != 0 {
		t.Error("no group chooser first")
	}
	r := e.post("/admin/mcp/1/values", url.Values{"group": {"team-a"}, "value.X-Key": {secret}, "value.team": {"blue"}, "disabled": {"on"}}, e.admin)
	mustStatus(t, r, http.StatusSeeOther)
	if loc := r.header.Get("Location"); loc != "/admin/mcp/1/values?group=team-a&saved=1" {
		t.Errorf("Location %q", loc)
	}
	v := e.fake.values[valuesKey(1, "team-a")]
	if v == nil || !v.Disabled || !reflect.DeepEqual(v.Values, map[string]string{"X-Key": secret, "team": "blue"}) {
		t.Fatalf("stored %+v", v)
	}
	page := e.get("/admin/mcp/1/values?group=team-a&saved=1", e.admin)
	if strings.Contains(page.body, secret) || strings.Contains(page.body, "blue") {
		t.Error("the form shows a secret")
	}
	doc = page.doc(t)
	if _, ok := doc.Find(`[data-testid="input-disabled"]`).Attr("checked"); !ok {
		t.Error("disabled is not checked")
	}
	if doc.Find(`[data-testid="secret-set-value.X-Key"]`).Length() != 1 || doc.Find(`[data-testid="saved"]`).Length() != 1 {
		t.Error("the secret is not shown as set")
	}

	r = e.post("/admin/mcp/1/values", url.Values{"group": {"team-a"}, "value.X-Key": {""}, "value.team": {""}, "clear.value.team": {"on"}}, e.admin)
	mustStatus(t, r, http.StatusSeeOther)
	if v := e.fake.values[valuesKey(1, "team-a")]; v.Disabled || !reflect.DeepEqual(v.Values, map[string]string{"X-Key": secret}) {
		t.Errorf("after keeping one and clearing the other: %+v", v)
	}

	r = e.post("/admin/mcp/1/values", url.Values{"group": {"team-a"}, "value.team": {"bad"}}, e.admin)
	mustStatus(t, r, http.StatusUnprocessableEntity)
	if r.doc(t).Find(`[data-testid="error-value.team"]`).Length() != 1 {
		t.Error("no error beside the value")
	}
}

// TestProxy: a PROXY server's headers and query parameters are stored
// from the form's rows, shown afterwards by name only, kept when left
// empty, replaced when typed and removed when cleared.
func TestProxy(t *testing.T) {
	e := newEnv(t)
	r := e.post("/admin/mcp", url.Values{"kind": {"proxy"}, "action": {"create"}, "name": {"remote"}, "scope": {"group"}, "group": {"team-a"},
		"proxyURL": {"https://r.example/mcp"}, "transport": {"sse"}, "groupHeaders": {"X-A, X-B X-A"}, "groupQuery": {""},
		"newHeaderName": {"Authorization", ""}, "newHeaderValue": {"Bearer hdr-SECRET", ""},
		"newQueryName": {"key", "region"}, "newQueryValue": {"q-SECRET", "eu"}}, e.admin)
	mustStatus(t, r, http.StatusSeeOther)
	s := e.fake.stored(1)
	want := &aiproxy.MCPProxyConfig{URL: "https://r.example/mcp", Transport: "sse", Headers: map[string]string{"Authorization": "Bearer hdr-SECRET"},
		Query: map[string]string{"key": "q-SECRET", "region": "eu"}, GroupHeaders: []string{"X-A", "X-B"}}
	if s.Scope != aiproxy.MCPGroup || s.GroupID != "team-a" || !reflect.DeepEqual(s.Proxy, want) {
		t.Fatalf("stored %+v %+v", s, s.Proxy)
	}
	edit := e.get("/admin/mcp/1/edit", e.admin)
	if strings.Contains(edit.body, "SECRET") {
		t.Error("the edit form shows a secret")
	}
	doc := edit.doc(t)
	for _, id := range []string{"secret-set-header.Authorization", "secret-set-query.key", "clear-query.region"} {
		if doc.Find(`[data-testid="`+id+`"]`).Length() != 1 {
			t.Errorf("no %s", id)
		}
	}
	if got := doc.Find(`[data-testid="input-transport"] option[selected]`).AttrOr("value", ""); got != "sse" {
		t.Errorf("transport %q", got)
	}
	r = e.post("/admin/mcp/1", url.Values{"kind": {"proxy"}, "name": {"remote"}, "enabled": {"on"}, "proxyURL": {"https://r.example/mcp"},
		"transport": {"streamable"}, "groupHeaders": {"X-A"}, "header.Authorization": {""}, "query.key": {"q-NEW"},
		"query.region": {""}, "clear.query.region": {"on"}, "scope": {"public"}}, e.admin)
	mustStatus(t, r, http.StatusSeeOther)
	s = e.fake.stored(1)
	want = &aiproxy.MCPProxyConfig{URL: "https://r.example/mcp", Transport: "streamable", Headers: map[string]string{"Authorization": "Bearer hdr-SECRET"},
		Query: map[string]string{"key": "q-NEW"}, GroupHeaders: []string{"X-A"}}
	if s.Scope != aiproxy.MCPGroup || !s.Enabled || !reflect.DeepEqual(s.Proxy, want) {
		t.Errorf("after the edit %+v %+v", s, s.Proxy)
	}
}

// TestPages: every page of the area has a label for each input, no
// inline script or style (the CSP forbids them), a csrf field in each
// form that posts, and renders as an HTMX fragment too.
func TestPages(t *testing.T) {
	e := newEnv(t)
	e.fake.templates = weatherTemplates()
	e.fake.preview = petPreview()
	e.fake.schemes = petPreview().Schemes
	e.fake.add(&aiproxy.MCPServer{ID: 1, Name: "pets", Kind: aiproxy.MCPOpenAPI, Scope: aiproxy.MCPPublic, Enabled: true,
		OpenAPI: &aiproxy.MCPOpenAPIConfig{Spec: petSpec, Credentials: []aiproxy.MCPCredential{{Scheme: "apiKey", Value: "k"}}},
		Tools:   []aiproxy.MCPTool{{Name: "getPet", InputSchema: json.RawMessage(`{"type":"object","properties":{"id":{"type":"integer"},"tags":{"type":"array"}}}`)}}})
	e.fake.add(&aiproxy.MCPServer{ID: 2, Name: "remote", Kind: aiproxy.MCPProxy, Scope: aiproxy.MCPPublic, Enabled: true,
		Proxy: &aiproxy.MCPProxyConfig{URL: "https://r", Headers: map[string]string{"A": "b"}, GroupHeaders: []string{"X-Key"}}})
	e.fake.add(&aiproxy.MCPServer{ID: 3, Name: "w", Kind: aiproxy.MCPEmbedded, Scope: aiproxy.MCPGroup, GroupID: "team-a", Enabled: true,
		Embedded: &aiproxy.MCPEmbeddedConfig{Template: "weather", Values: map[string]string{"region": "eu-1", "api_key": "k"}}})
	pages := []struct {
		name   string
		target string
		s      session
		testID string
	}{
		{"list", "/admin/mcp", e.admin, "mcp"},
		{"group list", "/admin/mcp", e.group, "mcp"},
		{"server", "/admin/mcp/1", e.admin, "mcp-server"},
		{"group's server", "/admin/mcp/3", e.group, "mcp-server"},
		{"new openapi", "/admin/mcp/new", e.admin, "mcp-form"},
		{"new proxy", "/admin/mcp/new?kind=proxy", e.admin, "mcp-form"},
		{"new embedded", "/admin/mcp/new?kind=embedded", e.admin, "templates"},
		{"new from a template", "/admin/mcp/new?kind=embedded&template=weather", e.admin, "mcp-form"},
		{"edit openapi", "/admin/mcp/1/edit", e.admin, "mcp-form"},
		{"edit proxy", "/admin/mcp/2/edit", e.admin, "mcp-form"},
		{"edit embedded", "/admin/mcp/3/edit", e.admin, "mcp-form"},
		{"group values", "/admin/mcp/2/values?group=team-a", e.admin, "values-form"},
		{"group values of a group's server", "/admin/mcp/3/values", e.admin, "values-form"},
		{"try", "/admin/mcp/1/try?tool=getPet", e.admin, "try-form"},
	}
	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			r := e.get(p.target, p.s)
			mustStatus(t, r, http.StatusOK)
			doc := r.doc(t)
			if doc.Find(`[data-testid="`+p.testID+`"]`).Length() == 0 {
				t.Errorf("no %s", p.testID)
			}
			if n := doc.Find("script:not([src]), style, [style]").Length(); n != 0 {
				t.Errorf("%d inline scripts or styles", n)
			}
			doc.Find(`main input:not([type=hidden]):not([type=submit]), main select, main textarea`).Each(func(_ int, s *goquery.Selection) {
				id := s.AttrOr("id", "")
				if _, ok := s.Attr("aria-label"); !ok && (id == "" || doc.Find(`label[for="`+id+`"]`).Length() != 1) {
					t.Errorf("input %q (id %q) has no label", s.AttrOr("name", ""), id)
				}
			})
			doc.Find(`main form[method="post"]`).Each(func(_ int, s *goquery.Selection) {
				if s.Find(`input[name="csrf"]`).AttrOr("value", "") != p.s.csrf {
					t.Errorf("form %s has no csrf field", s.AttrOr("action", ""))
				}
			})
			req := httptest.NewRequest(http.MethodGet, p.target, nil)
			req.Header.Set("HX-Request", "true")
			frag := e.serve(req, p.s)
			if frag.status != http.StatusOK || strings.Contains(frag.body, "<head>") || !strings.Contains(frag.body, `data-testid="`+p.testID+`"`) {
				t.Errorf("htmx: %d, not a fragment with the content", frag.status)
			}
		})
	}
}

// BenchmarkList renders the admin's list of 1,000 servers.
func BenchmarkList(b *testing.B) {
	e := newEnv(b)
	for i := range 1000 {
		e.fake.add(&aiproxy.MCPServer{Name: fmt.Sprintf("server-%04d", i), Kind: aiproxy.MCPProxy, Scope: aiproxy.MCPPublic, Enabled: true,
			Proxy: &aiproxy.MCPProxyConfig{URL: "https://r"}, Tools: weatherTools()})
	}
	for b.Loop() {
		if r := e.get("/admin/mcp", e.admin); r.status != http.StatusOK {
			b.Fatal(r.status)
		}
	}
}
