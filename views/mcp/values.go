package mcp

import (
	"maps"
	"net/http"
	"net/url"
	"strings"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/views/web"
)

// groupField is a value a server asks each group for: a proxied server's
// group header or query parameter (always secret), or a PerGroup field of
// an embedded template.
type groupField struct {
	F aiproxy.MCPTemplateField
	// Where says what the value is: "header", "query parameter" or
	// "field".
	Where string
	// Value is the value of a field that is not secret; Set whether the
	// group set it.
	Value string
	Set   bool
}

// InputName returns the form name of the field's input.
func (g groupField) InputName() string { return valuePrefix + g.F.Name }

// valuesPage is the form of one group's values for one server.
type valuesPage struct {
	V serverView
	// GroupID is the group chosen; "" shows only the chooser.
	GroupID string
	Fields  []groupField
	// Disabled is the group's choice to turn a PUBLIC server off.
	Disabled bool
	Saved    bool
	Errors   web.FieldErrors
}

// groupFields returns the fields s asks groups for, with what v set.
func (h *handler) groupFields(s *aiproxy.MCPServer, v *aiproxy.MCPGroupValues) []groupField {
	var out []groupField
	add := func(f aiproxy.MCPTemplateField, where string) {
		g := groupField{F: f, Where: where}
		if v != nil {
			g.Set = v.Values[f.Name] != ""
			if !f.Secret {
				g.Value = v.Values[f.Name]
			}
		}
		out = append(out, g)
	}
	switch {
	case s.Proxy != nil:
		for _, n := range s.Proxy.GroupHeaders {
			add(aiproxy.MCPTemplateField{Name: n, Secret: true}, "header")
		}
		for _, n := range s.Proxy.GroupQuery {
			add(aiproxy.MCPTemplateField{Name: n, Secret: true}, "query parameter")
		}
	case s.Embedded != nil:
		for _, f := range perGroupFields(h.template(s)) {
			add(f, "field")
		}
	}
	return out
}

// valuesGroup returns the group the values form is for: a GROUP server's
// own, else the one asked for.
func valuesGroup(s *aiproxy.MCPServer, asked string) string {
	if s.Scope == aiproxy.MCPGroup {
		return s.GroupID
	}
	return strings.TrimSpace(asked)
}

// valuesForm serves the per-group values of a server: a chooser of the
// group (?group=) and, once chosen, the form of its values.
func (h *handler) valuesForm(w http.ResponseWriter, r *http.Request) {
	s, err := h.server(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	p := &valuesPage{V: h.view(r, s), GroupID: valuesGroup(s, r.URL.Query().Get("group")), Saved: r.URL.Query().Get("saved") != ""}
	if p.GroupID != "" {
		v, err := h.d.MCP.MCPGroupValues(r.Context(), s.ID, p.GroupID)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		p.Fields, p.Disabled = h.groupFields(s, v), v != nil && v.Disabled
	}
	web.Page(w, r, pageData("Group values of "+s.Name, 0), valuesContent(p))
}

// setValues stores a group's values for a server: a secret left empty is
// kept, its clear checkbox removes it, a value that is not secret is
// replaced (emptied: removed).
func (h *handler) setValues(w http.ResponseWriter, r *http.Request) {
	s, err := h.server(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	if err := parseForm(w, r); err != nil {
		web.Fail(w, r, err)
		return
	}
	ctx := r.Context()
	group := valuesGroup(s, r.PostForm.Get("group"))
	p := &valuesPage{V: h.view(r, s), GroupID: group}
	if group == "" {
		p.Errors = web.FieldErrors{"group": "Choose the group."}
		web.Page(w, r, pageData("Group values of "+s.Name, http.StatusUnprocessableEntity), valuesContent(p))
		return
	}
	old, err := h.d.MCP.MCPGroupValues(ctx, s.ID, group)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	fields := h.groupFields(s, old)
	v := &aiproxy.MCPGroupValues{ServerID: s.ID, GroupID: group, Values: map[string]string{},
		Disabled: s.Scope == aiproxy.MCPPublic && r.PostForm.Get("disabled") != ""}
	if old != nil {
		v.Values = maps.Clone(old.Values)
		if v.Values == nil {
			v.Values = map[string]string{}
		}
	}
	applyGroupValues(v.Values, fields, r.PostForm)
	if err := h.d.MCP.SetMCPGroupValues(ctx, v); err != nil {
		status := http.StatusUnprocessableEntity
		if aiproxy.ErrorCode(err) != aiproxy.EINVALID {
			status = relay.HTTPStatus(err)
		}
		for i := range fields {
			if !fields[i].F.Secret {
				fields[i].Value = strings.TrimSpace(r.PostForm.Get(fields[i].InputName()))
			}
		}
		p.Fields, p.Disabled, p.Errors = fields, v.Disabled, valuesErrors(err, fields)
		web.Page(w, r, pageData("Group values of "+s.Name, status), valuesContent(p))
		return
	}
	web.Redirect(w, r, serverPath(s.ID)+"/values?group="+url.QueryEscape(group)+"&saved=1")
}

// applyGroupValues changes values by the form's inputs of fields.
func applyGroupValues(values map[string]string, fields []groupField, form url.Values) {
	for _, g := range fields {
		name := g.F.Name
		switch val := strings.TrimSpace(form.Get(g.InputName())); {
		case val != "":
			values[name] = val
		case !g.F.Secret || form.Get(clearPrefix+g.InputName()) != "":
			delete(values, name)
		}
	}
}

// valuesErrors returns the errors of the values form: a field's beside
// its input, "group" and "disabled" beside theirs, others the form's.
func valuesErrors(err error, fields []groupField) web.FieldErrors {
	out := web.FieldErrors{}
	for k, msg := range web.FieldErrorsOf(err) {
		switch k {
		case "group", "disabled":
		default:
			key := ""
			for _, g := range fields {
				if g.F.Name == k {
					key = g.InputName()
				}
			}
			k = key
		}
		out[k] = msg
	}
	return out
}
