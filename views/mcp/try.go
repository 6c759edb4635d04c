package mcp

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/views/web"
)

// tryPage is the form that calls one tool of a server, and its answer.
type tryPage struct {
	V    serverView
	Tool aiproxy.MCPTool
	// Fields are the inputs generated from the tool's input schema;
	// SchemaError says why the schema gave none.
	Fields      []argField
	SchemaError string
	// Values are the inputs as submitted, by input name (nil: the
	// defaults).
	Values url.Values
	// GroupID is the group whose values the call uses ("" for none; a
	// GROUP server's own).
	GroupID string
	Errors  web.FieldErrors
	// Result is the call's answer; CallError why it failed to run.
	Result    *aiproxy.MCPCallResult
	CallError string
	// Raw is the result as MCP sends it, indented.
	Raw string
}

// Value returns the text input name starts with: as submitted, else f's
// default.
func (p *tryPage) Value(f argField) string {
	if p.Values != nil {
		return p.Values.Get(f.InputName())
	}
	return f.Default
}

// Checked reports whether f's checkbox is checked: as submitted, else by
// its default.
func (p *tryPage) Checked(f argField) bool {
	if p.Values != nil {
		return p.Values.Get(f.InputName()) != ""
	}
	return f.Checked
}

// tryPath returns the try-a-tool page of tool of server id.
func tryPath(id int64, tool string) string {
	return serverPath(id) + "/try?tool=" + url.QueryEscape(tool)
}

// tryPageOf returns the form of the request's server and ?tool=;
// ENOTFOUND for a server (see handler.server) or a tool there is not.
func (h *handler) tryPageOf(r *http.Request) (*tryPage, error) {
	s, err := h.server(r)
	if err != nil {
		return nil, err
	}
	name := r.URL.Query().Get("tool")
	for _, t := range s.Tools {
		if t.Name == name {
			p := &tryPage{V: h.view(r, s), Tool: t}
			if s.Scope == aiproxy.MCPGroup {
				p.GroupID = s.GroupID
			}
			fields, err := argFields(t.InputSchema)
			if err != nil {
				p.SchemaError = err.Error()
			}
			p.Fields = fields
			return p, nil
		}
	}
	return nil, aiproxy.Errorf(aiproxy.ENOTFOUND, "The server %s has no tool %q.", s.Name, name)
}

// tryForm serves the try-a-tool form, its inputs pre-filled with the
// schema's defaults.
func (h *handler) tryForm(w http.ResponseWriter, r *http.Request) {
	p, err := h.tryPageOf(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.Page(w, r, pageData("Try "+p.Tool.Name, 0), tryContent(p))
}

// try calls the tool with the form's arguments, converted to the types
// of its schema, and shows the answer below the form (not a redirect:
// the answer is shown once). Arguments that do not fit are shown beside
// their inputs with a 422; a call that could not run, with the status of
// its error.
func (h *handler) try(w http.ResponseWriter, r *http.Request) {
	p, err := h.tryPageOf(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	s := p.V.S
	if err := parseForm(w, r); err != nil {
		web.Fail(w, r, err)
		return
	}
	p.Values = r.PostForm
	if s.Scope != aiproxy.MCPGroup {
		p.GroupID = strings.TrimSpace(r.PostForm.Get("group"))
	}
	title := "Try " + p.Tool.Name
	args, errs := parseArgs(p.Fields, r.PostForm)
	if errs != nil {
		p.Errors = errs
		web.Page(w, r, pageData(title, http.StatusUnprocessableEntity), tryContent(p))
		return
	}
	res, err := h.d.MCP.CallMCPTool(r.Context(), s.ID, p.Tool.Name, args, p.GroupID)
	if err != nil {
		p.CallError = aiproxy.ErrorMessage(err)
		web.Page(w, r, pageData(title, relay.HTTPStatus(err)), tryContent(p))
		return
	}
	p.Result = res
	var buf bytes.Buffer
	if json.Indent(&buf, res.Raw, "", "  ") == nil {
		p.Raw = buf.String()
	}
	web.Page(w, r, pageData(title, 0), tryContent(p))
}
