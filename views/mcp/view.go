package mcp

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/views/web"
)

// The helpers of the templates.

// inputID returns the id of the input named name.
func inputID(name string) string { return "f-" + strings.ReplaceAll(name, " ", "_") }

// hintID returns the id of the hint of input name.
func hintID(name string) string { return inputID(name) + "-hint" }

// inputAttrs are the attributes every input of a form has: its id and
// name, aria-invalid, aria-describedby naming its hint (when it has one)
// and its error, and data-testid "input-<name>". errKey is the error it
// shows ("" for name).
func inputAttrs(name, errKey string, hint bool, errs web.FieldErrors) templ.Attributes {
	if errKey == "" {
		errKey = name
	}
	a := templ.Attributes{"id": inputID(name), "name": name, "aria-invalid": errs.Invalid(errKey), "data-testid": "input-" + name}
	var by []string
	if hint {
		by = append(by, hintID(name))
	}
	if d := errs.DescribedBy(errKey); d != "" {
		by = append(by, d)
	}
	if len(by) > 0 {
		a["aria-describedby"] = strings.Join(by, " ")
	}
	return a
}

func i64(n int64) string { return strconv.FormatInt(n, 10) }

func itoa(n int) string { return strconv.Itoa(n) }

// kindLabel names a kind for people.
func kindLabel(k aiproxy.MCPKind) string {
	switch k {
	case aiproxy.MCPOpenAPI:
		return "OpenAPI"
	case aiproxy.MCPProxy:
		return "Remote MCP"
	case aiproxy.MCPEmbedded:
		return "Embedded"
	}
	return string(k)
}

// scopeLabel describes who may use s.
func scopeLabel(s *aiproxy.MCPServer) string {
	if s.Scope == aiproxy.MCPGroup {
		return "group " + s.GroupID
	}
	return "public"
}

// scopeSentence says who may use a server of scope and group.
func scopeSentence(scope aiproxy.MCPScope, group string) string {
	if scope == aiproxy.MCPGroup {
		return "Used by group " + group + " only."
	}
	return "Used by every group that did not turn it off."
}

// secretHint is the hint of a secret that is set, followed by hint.
func secretHint(hint string) string {
	if hint == "" {
		return "Set — leave empty to keep."
	}
	return "Set — leave empty to keep. " + hint
}

// latency writes d in milliseconds.
func latency(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) + " ms"
}

// schemeHint describes what a scheme's credential looks like.
func schemeHint(s schemeInput) string {
	h := s.Type
	if s.In != "" {
		h += " (" + s.In + ")"
	}
	if s.Format != "" {
		h += ": " + s.Format
	}
	if s.Description != "" {
		h += ". " + s.Description
	}
	if !s.Supported {
		h += ". The gateway cannot apply this scheme."
	}
	return h
}

// templateHint is the hint of a template field's input.
func templateHint(f aiproxy.MCPTemplateField) string {
	h := f.Description
	if f.Example != "" && f.Secret {
		h += " Example: " + f.Example + "."
	}
	return strings.TrimSpace(h)
}

// placeholder returns a field's example as a placeholder; none for a
// secret (it would look like a value).
func placeholder(f aiproxy.MCPTemplateField) string {
	if f.Secret {
		return ""
	}
	return f.Example
}

// selectedTemplate reports whether t is the form's template.
func (f *serverForm) selectedTemplate(t aiproxy.MCPTemplate) bool {
	return f.Template != nil && f.Template.Name == t.Name
}

// action returns where the form posts.
func (f *serverForm) action() string {
	if f.ID != 0 {
		return serverPath(f.ID)
	}
	return basePath
}

// newPath returns the create form of kind.
func newPath(k aiproxy.MCPKind) string { return basePath + "/new?kind=" + string(k) }

// templatePath returns the create form of template name.
func templatePath(name string) string {
	return basePath + "/new?kind=embedded&template=" + url.QueryEscape(name)
}

// argAttrs are the attributes of an argument's input (whose id is id):
// aria-invalid, aria-describedby naming its hint and error, and
// data-testid "input-arg.<name>".
func argAttrs(f argField, id string, errs web.FieldErrors) templ.Attributes {
	key := f.InputName()
	a := templ.Attributes{"aria-invalid": errs.Invalid(key), "data-testid": "input-" + key}
	var by []string
	if f.Description != "" {
		by = append(by, id+"-hint")
	}
	if d := errs.DescribedBy(key); d != "" {
		by = append(by, d)
	}
	if len(by) > 0 {
		a["aria-describedby"] = strings.Join(by, " ")
	}
	return a
}

// argKind names the control of an argument, for tests and styles.
func argKind(f argField) string {
	switch f.Kind {
	case inputSelect:
		return "select"
	case inputNumber:
		return "number"
	case inputCheckbox:
		return "checkbox"
	case inputJSON:
		return "json"
	}
	return "text"
}
