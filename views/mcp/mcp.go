// Package mcp is the MCP area of the admin UI: the hosted MCP servers
// (aiproxy.MCPServer) listed with their endpoints; created from an
// OpenAPI spec (a URL, an uploaded file or pasted content, its tools
// previewed before saving), from a remote MCP server's URL, or from an
// embedded template whose fields become the form; edited, enabled,
// disabled, refreshed and deleted; the values each group sets for a
// server; a form, generated from a tool's input schema, that calls the
// tool once and shows its answer; and the configuration snippet of
// desktop MCP clients.
//
// The admin may do everything. A group session sees the servers its
// group may use (the PUBLIC ones it did not turn off and its own) with
// their endpoints and snippets, and nothing else: another group's server
// is not found (404) and every change is refused (403).
//
// The handlers call aiproxy.MCPAdmin, the service the GraphQL API uses,
// with the same rules: secrets (OpenAPI credentials, proxy header and
// query values, secret template fields) are write-only, shown only as
// set or not, and left unchanged by an empty input. A plain form is
// answered with a 303 (post, redirect, get); a refused one is rendered
// again with a 422 and its errors beside the fields.
package mcp

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/views/layout"
	"github.com/aiproxy/aiproxy/views/web"
)

// basePath is where the area is mounted.
const basePath = "/admin/mcp"

// maxSpecBytes is the largest spec file read from an upload, as
// package mcp's Admin accepts (mcp.MaxSpecBytes).
const maxSpecBytes = 8 << 20

// Deps are what the area works on. MCP is required.
type Deps struct {
	// MCP administers the hosted servers (package mcp's *Admin).
	MCP aiproxy.MCPAdmin
	// BaseURL returns the scheme and host the browser reached the gateway
	// at ("https://gw.example.com", no trailing slash), which the client
	// snippets put before the MCP endpoints. Nil means "http://" (or
	// "https://" over TLS) followed by r.Host.
	BaseURL func(r *http.Request) string
}

// handler serves the area's routes.
type handler struct {
	d Deps
}

// Mount registers the area's routes on r, under /admin/mcp: the list and
// a server's page for every session (web.RequireSignedIn; a group sees
// only its servers), everything else the admin's (web.RequireAdmin). The
// caller wires the session and CSRF middleware (web.Auth's Session and
// CSRF) in front of r.
func Mount(r chi.Router, d Deps) {
	h := &handler{d: d}
	r.Group(func(r chi.Router) {
		r.Use(web.RequireSignedIn)
		r.Get(basePath, h.list)
		r.Get(basePath+"/{id}", h.show)
	})
	r.Group(func(r chi.Router) {
		r.Use(web.RequireAdmin)
		r.Get(basePath+"/new", h.newForm)
		r.Post(basePath, h.create)
		r.Get(basePath+"/{id}/edit", h.editForm)
		r.Post(basePath+"/{id}", h.update)
		r.Post(basePath+"/{id}/enable", h.setEnabled(true))
		r.Post(basePath+"/{id}/disable", h.setEnabled(false))
		r.Post(basePath+"/{id}/refresh", h.refresh)
		r.Post(basePath+"/{id}/delete", h.delete)
		r.Get(basePath+"/{id}/values", h.valuesForm)
		r.Post(basePath+"/{id}/values", h.setValues)
		r.Get(basePath+"/{id}/try", h.tryForm)
		r.Post(basePath+"/{id}/try", h.try)
	})
}

// pageData is the layout's description of a page of the area.
func pageData(title string, status int) web.PageData {
	return web.PageData{Title: title, Area: layout.AreaMCP, Status: status}
}

// serverPath returns the admin page of server id.
func serverPath(id int64) string { return basePath + "/" + strconv.FormatInt(id, 10) }

// baseURL returns the scheme and host of r as the browser used them.
func (h *handler) baseURL(r *http.Request) string {
	if h.d.BaseURL != nil {
		return strings.TrimSuffix(h.d.BaseURL(r), "/")
	}
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	return scheme + r.Host
}

// serverView is a server as the pages show it: with its endpoints and
// its client snippet. It holds no secret.
type serverView struct {
	S *aiproxy.MCPServer
	// Endpoint is its Streamable HTTP path (/mcp/public/{id} or
	// /mcp/group/{id}); URL the same with the base URL, SSE the legacy
	// transport's URL.
	Endpoint, URL, SSE string
	// Snippet is the JSON of a desktop MCP client's configuration; only
	// the server's page fills it.
	Snippet string
}

// endpoint returns the Streamable HTTP path of s.
func endpoint(s *aiproxy.MCPServer) string {
	scope := "public"
	if s.Scope == aiproxy.MCPGroup {
		scope = "group"
	}
	return "/mcp/" + scope + "/" + strconv.FormatInt(s.ID, 10)
}

// clientServer is a server in a desktop MCP client's configuration.
type clientServer struct {
	Type    string            `json:"type"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
}

// snippet returns the configuration of a desktop MCP client that uses
// the server name at url with the caller's token.
func snippet(name, url string) string {
	cfg := map[string]map[string]clientServer{"mcpServers": {name: {
		Type: "http", URL: url, Headers: map[string]string{"Authorization": "Bearer <your token>"},
	}}}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // shown as text: templ escapes it
	enc.SetIndent("", "  ")
	enc.Encode(cfg)
	return strings.TrimSpace(b.String())
}

// view returns s as the pages show it to r's browser.
func (h *handler) view(r *http.Request, s *aiproxy.MCPServer) serverView {
	ep := endpoint(s)
	url := h.baseURL(r) + ep
	return serverView{S: s, Endpoint: ep, URL: url, SSE: url + "/sse"}
}

// listPage is the list of servers.
type listPage struct {
	Admin   bool
	GroupID string // a group session's group
	Servers []serverView
	// AggregateURL and Aggregate are the endpoint serving every server
	// the caller's token may use, and its snippet.
	AggregateURL, Aggregate string
}

// list serves the list: every server for the admin, those its group may
// use for a group session.
func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	sess := web.FromContext(r.Context())
	servers, err := h.visibleServers(r, sess)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	agg := h.baseURL(r) + "/mcp"
	p := &listPage{Admin: sess.Admin, GroupID: sess.GroupID, AggregateURL: agg, Aggregate: snippet("aiproxy", agg)}
	for _, s := range servers {
		p.Servers = append(p.Servers, h.view(r, s))
	}
	web.Page(w, r, pageData("MCP servers", 0), listContent(p))
}

// visibleServers returns the servers sess may see, by name.
func (h *handler) visibleServers(r *http.Request, sess *web.Session) ([]*aiproxy.MCPServer, error) {
	ctx := r.Context()
	if sess.Admin {
		list, err := h.d.MCP.MCPServers(ctx, aiproxy.MCPServerFilter{})
		sortByName(list)
		return list, err
	}
	list, err := h.d.MCP.MCPServers(ctx, aiproxy.MCPServerFilter{GroupID: sess.GroupID})
	if err != nil {
		return nil, err
	}
	var out []*aiproxy.MCPServer
	for _, s := range list {
		ok, err := h.usable(r, sess.GroupID, s)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, s)
		}
	}
	sortByName(out)
	return out, nil
}

func sortByName(list []*aiproxy.MCPServer) {
	slices.SortFunc(list, func(a, b *aiproxy.MCPServer) int { return strings.Compare(a.Name, b.Name) })
}

// usable reports whether group may use s: enabled, PUBLIC and not turned
// off by the group, or the group's own.
func (h *handler) usable(r *http.Request, group string, s *aiproxy.MCPServer) (bool, error) {
	if !s.UsableBy(group) {
		return false, nil
	}
	if s.Scope != aiproxy.MCPPublic {
		return true, nil
	}
	v, err := h.d.MCP.MCPGroupValues(r.Context(), s.ID, group)
	if err != nil {
		return false, err
	}
	return v == nil || !v.Disabled, nil
}

// server returns the server of the request's {id}: ENOTFOUND for a
// malformed id, an unknown server, or (for a group session) one its
// group may not use.
func (h *handler) server(r *http.Request) (*aiproxy.MCPServer, error) {
	notFound := aiproxy.Errorf(aiproxy.ENOTFOUND, "There is no such MCP server.")
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, notFound
	}
	s, err := h.d.MCP.MCPServer(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if sess := web.FromContext(r.Context()); sess != nil && !sess.Admin {
		ok, err := h.usable(r, sess.GroupID, s)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, notFound
		}
	}
	return s, nil
}

// showPage is a server's page.
type showPage struct {
	Admin bool
	V     serverView
	// BaseURL is where an OPENAPI server's calls go (its override, else
	// the spec's first server); Schemes its spec's security schemes, each
	// marked when a credential is set.
	BaseURL string
	Schemes []schemeInput
	// Template is an EMBEDDED server's template, nil when unknown.
	Template *aiproxy.MCPTemplate
}

// show serves a server's page.
func (h *handler) show(w http.ResponseWriter, r *http.Request) {
	s, err := h.server(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	p := &showPage{Admin: web.FromContext(r.Context()).Admin, V: h.view(r, s), Template: h.template(s)}
	p.V.Snippet = snippet(s.Name, p.V.URL)
	if o := s.OpenAPI; o != nil {
		servers, schemes := h.d.MCP.OpenAPIInfo(s)
		p.BaseURL = o.BaseURL
		if p.BaseURL == "" && len(servers) > 0 {
			p.BaseURL = servers[0]
		}
		p.Schemes = schemeInputs(schemes, o.Credentials)
	}
	web.Page(w, r, pageData(s.Name, 0), showContent(p))
}

// template returns the template of an EMBEDDED server, nil for another
// kind or an unknown template.
func (h *handler) template(s *aiproxy.MCPServer) *aiproxy.MCPTemplate {
	if s.Embedded == nil {
		return nil
	}
	return h.findTemplate(s.Embedded.Template)
}

func (h *handler) findTemplate(name string) *aiproxy.MCPTemplate {
	for _, t := range h.d.MCP.MCPTemplates() {
		if t.Name == name {
			return &t
		}
	}
	return nil
}

// newForm serves the create form of the kind (and template) the query
// asks for: ?kind=openapi (the default), proxy or embedded&template=.
func (h *handler) newForm(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := &serverForm{Kind: aiproxy.MCPKind(q.Get("kind")), Scope: aiproxy.MCPPublic, Enabled: true, Transport: "streamable"}
	if !f.Kind.Valid() {
		f.Kind = aiproxy.MCPOpenAPI
	}
	h.fillTemplate(f, q.Get("template"), nil)
	web.Page(w, r, pageData("New MCP server", 0), formContent(f))
}

// fillTemplate sets an EMBEDDED form's templates and, when name is one,
// its template and its fields' inputs (with values, for an edit).
func (h *handler) fillTemplate(f *serverForm, name string, values map[string]string) {
	if f.Kind != aiproxy.MCPEmbedded {
		return
	}
	f.Templates = h.d.MCP.MCPTemplates()
	if f.Template = h.findTemplate(name); f.Template != nil {
		f.Values = templateInputs(f.Template, values)
	}
}

// create creates a server from the form, or, for the OpenAPI form's
// "Preview" button, shows the tools its spec gives, with an input for
// each of its security schemes' credentials, without saving.
func (h *handler) create(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		web.Fail(w, r, err)
		return
	}
	f, errs := h.readForm(r, nil)
	if f.Kind == aiproxy.MCPOpenAPI && r.PostForm.Get("action") == "preview" {
		if len(errs) == 0 {
			errs = h.preview(r, f)
		}
		h.renderForm(w, r, f, errs)
		return
	}
	if len(errs) == 0 {
		s := &aiproxy.MCPServer{Kind: f.Kind}
		f.apply(s, r.PostForm)
		err := h.d.MCP.CreateMCPServer(r.Context(), s)
		if err == nil {
			web.Redirect(w, r, serverPath(s.ID))
			return
		}
		errs = f.errorsOf(err)
	}
	if f.Kind == aiproxy.MCPOpenAPI && f.Spec != "" {
		status := f.status
		h.preview(r, f) // the tools and schemes again, from the content (no fetch); its errors are the create's
		f.status = status
	}
	h.renderForm(w, r, f, errs)
}

// preview fills an OPENAPI form's preview from its spec (the URL, the
// uploaded file or the pasted content) and returns its errors.
func (h *handler) preview(r *http.Request, f *serverForm) web.FieldErrors {
	if f.SpecURL == "" && f.Spec == "" {
		return web.FieldErrors{"specURL": "Give the spec's URL, upload it or paste it."}
	}
	p, err := h.d.MCP.PreviewOpenAPI(r.Context(), f.SpecURL, f.Spec, f.AllowPrivate)
	if err != nil {
		return f.errorsOf(err)
	}
	f.Preview = p
	f.Schemes = schemeInputs(p.Schemes, nil)
	return nil
}

// renderForm renders f again with errs: 422 for refused values, the
// status of the error's code for another failure.
func (h *handler) renderForm(w http.ResponseWriter, r *http.Request, f *serverForm, errs web.FieldErrors) {
	f.Errors = errs
	status := 0
	if len(errs) > 0 {
		status = f.status
		if status == 0 {
			status = http.StatusUnprocessableEntity
		}
	}
	title := "New MCP server"
	if f.ID != 0 {
		title = "Edit " + f.Name
	}
	web.Page(w, r, pageData(title, status), formContent(f))
}

// editForm serves a server's edit form.
func (h *handler) editForm(w http.ResponseWriter, r *http.Request) {
	s, err := h.server(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.Page(w, r, pageData("Edit "+s.Name, 0), formContent(h.editFormOf(s)))
}

// editFormOf returns the edit form of s.
func (h *handler) editFormOf(s *aiproxy.MCPServer) *serverForm {
	f := formOf(s)
	if s.OpenAPI != nil {
		_, schemes := h.d.MCP.OpenAPIInfo(s)
		f.Schemes = schemeInputs(schemes, s.OpenAPI.Credentials)
	}
	if s.Embedded != nil {
		h.fillTemplate(f, s.Embedded.Template, s.Embedded.Values)
	}
	return f
}

// update applies the edit form to its server: secrets left empty are
// kept.
func (h *handler) update(w http.ResponseWriter, r *http.Request) {
	s, err := h.server(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	if err := parseForm(w, r); err != nil {
		web.Fail(w, r, err)
		return
	}
	f, errs := h.readForm(r, s)
	if len(errs) == 0 {
		_, err := h.d.MCP.UpdateMCPServer(r.Context(), s.ID, func(c *aiproxy.MCPServer) { f.apply(c, r.PostForm) })
		if err == nil {
			web.Redirect(w, r, serverPath(s.ID))
			return
		}
		errs = f.errorsOf(err)
	}
	h.renderForm(w, r, f, errs)
}

// setEnabled enables or disables a server.
func (h *handler) setEnabled(on bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h.change(w, r, func(id int64) error {
			_, err := h.d.MCP.UpdateMCPServer(r.Context(), id, func(s *aiproxy.MCPServer) { s.Enabled = on })
			return err
		})
	}
}

// refresh refetches a server's spec or relists its tools.
func (h *handler) refresh(w http.ResponseWriter, r *http.Request) {
	h.change(w, r, func(id int64) error {
		_, err := h.d.MCP.RefreshMCPServer(r.Context(), id)
		return err
	})
}

// delete removes a server and returns to the list.
func (h *handler) delete(w http.ResponseWriter, r *http.Request) {
	s, err := h.server(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	if err := h.d.MCP.DeleteMCPServer(r.Context(), s.ID); err != nil {
		web.Fail(w, r, err)
		return
	}
	web.Redirect(w, r, basePath)
}

// change runs fn on the request's server and returns where the form
// says (back: the list or the server's page).
func (h *handler) change(w http.ResponseWriter, r *http.Request, fn func(id int64) error) {
	s, err := h.server(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	if err := fn(s.ID); err != nil {
		web.Fail(w, r, err)
		return
	}
	back := serverPath(s.ID)
	if r.PostFormValue("back") == "list" {
		back = basePath
	}
	web.Redirect(w, r, back)
}

// parseForm parses r's form, url-encoded or multipart (the CSRF
// middleware usually did already).
func parseForm(w http.ResponseWriter, r *http.Request) error {
	if r.PostForm != nil {
		return nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxSpecBytes*3)
	var err error
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		err = r.ParseMultipartForm(maxSpecBytes * 3)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		return aiproxy.Errorf(aiproxy.EINVALID, "The form could not be read: %v", err)
	}
	return nil
}
