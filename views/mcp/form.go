package mcp

import (
	"errors"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/views/web"
)

// Prefixes of the form names of secrets and of the checkboxes that clear
// them: "credential.<scheme>", "header.<name>", "query.<name>",
// "value.<field>", each with "clear." before it.
const (
	credentialPrefix = "credential."
	headerPrefix     = "header."
	queryPrefix      = "query."
	valuePrefix      = "value."
	clearPrefix      = "clear."
)

// serverForm is the create or edit form of a server, as typed (secrets
// excepted: they are never shown back).
type serverForm struct {
	ID                int64 // 0 for a new server
	Kind              aiproxy.MCPKind
	Name, Description string
	Scope             aiproxy.MCPScope
	GroupID           string
	Enabled           bool
	AllowPrivate      bool
	CallPrice         string // a decimal amount
	ToolPrices        string // "tool=price" lines

	// OPENAPI: the spec's URL, its content (pasted or uploaded; on an
	// edit, empty keeps the stored one), the base URL, the limits.
	SpecURL, Spec, BaseURL string
	Timeout, MaxBytes      string
	HasSpec                bool // an edit's server has a stored spec
	Preview                *aiproxy.MCPOpenAPIPreview
	Schemes                []schemeInput

	// PROXY: the remote server, its stored headers and query parameters
	// (names only), and the names each group sets.
	ProxyURL, Transport      string
	Headers, Query           []secretRow
	GroupHeaders, GroupQuery string

	// EMBEDDED: the templates to choose from, the chosen one and its
	// fields' inputs.
	TemplateName string
	Templates    []aiproxy.MCPTemplate
	Template     *aiproxy.MCPTemplate
	Values       []templateInput

	Errors web.FieldErrors
	status int // the status of a failure other than refused values

	callPrice  aiproxy.Amount
	toolPrices map[string]aiproxy.Amount
	timeout    time.Duration
	maxBytes   int64
}

// schemeInput is a security scheme of a spec with its credential's
// input: Set when a credential is stored.
type schemeInput struct {
	aiproxy.MCPSecurityScheme
	Set bool
}

// secretRow is a stored secret value, by name, with whether it is set.
type secretRow struct {
	Name string
	Set  bool
}

// templateInput is a field of an embedded template with its input: the
// value of a field that is not secret, whether a secret one is set.
type templateInput struct {
	F     aiproxy.MCPTemplateField
	Value string
	Set   bool
}

// InputName returns the form name of the input.
func (t templateInput) InputName() string { return valuePrefix + t.F.Name }

// schemeInputs returns the inputs of schemes, marking those creds set.
func schemeInputs(schemes []aiproxy.MCPSecurityScheme, creds []aiproxy.MCPCredential) []schemeInput {
	out := make([]schemeInput, len(schemes))
	for i, s := range schemes {
		out[i] = schemeInput{MCPSecurityScheme: s, Set: slices.ContainsFunc(creds, func(c aiproxy.MCPCredential) bool { return c.Scheme == s.Name && c.Value != "" })}
	}
	return out
}

// templateInputs returns the inputs of t's admin fields (not PerGroup),
// with values (an edit's stored ones).
func templateInputs(t *aiproxy.MCPTemplate, values map[string]string) []templateInput {
	var out []templateInput
	for _, f := range t.Fields {
		if f.PerGroup {
			continue
		}
		in := templateInput{F: f, Set: values[f.Name] != ""}
		if !f.Secret {
			in.Value = values[f.Name]
		}
		out = append(out, in)
	}
	return out
}

// perGroupFields returns the fields of t each group sets.
func perGroupFields(t *aiproxy.MCPTemplate) []aiproxy.MCPTemplateField {
	if t == nil {
		return nil
	}
	var out []aiproxy.MCPTemplateField
	for _, f := range t.Fields {
		if f.PerGroup {
			out = append(out, f)
		}
	}
	return out
}

// formOf returns the edit form of s: its values, its secrets only as set.
func formOf(s *aiproxy.MCPServer) *serverForm {
	f := &serverForm{ID: s.ID, Kind: s.Kind, Name: s.Name, Description: s.Description, Scope: s.Scope, GroupID: s.GroupID,
		Enabled: s.Enabled, AllowPrivate: s.AllowPrivateNetwork, CallPrice: formatAmount(s.CallPrice), ToolPrices: formatPrices(s.ToolPrices)}
	if o := s.OpenAPI; o != nil {
		f.SpecURL, f.BaseURL, f.HasSpec = o.SpecURL, o.BaseURL, o.Spec != ""
		if o.Timeout > 0 {
			f.Timeout = strconv.FormatInt(int64(o.Timeout/time.Second), 10)
		}
		if o.MaxResponseBytes > 0 {
			f.MaxBytes = strconv.FormatInt(o.MaxResponseBytes, 10)
		}
	}
	if p := s.Proxy; p != nil {
		f.ProxyURL, f.Transport = p.URL, p.Transport
		f.Headers, f.Query = secretRows(p.Headers), secretRows(p.Query)
		f.GroupHeaders, f.GroupQuery = strings.Join(p.GroupHeaders, ", "), strings.Join(p.GroupQuery, ", ")
	}
	if e := s.Embedded; e != nil {
		f.TemplateName = e.Template
	}
	if f.Transport == "" {
		f.Transport = "streamable"
	}
	return f
}

func secretRows(m map[string]string) []secretRow {
	var out []secretRow
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, secretRow{Name: k, Set: m[k] != ""})
	}
	return out
}

// readForm reads the create form (s nil) or the edit form of s from r's
// parsed form, with the errors of values that do not parse. Secrets are
// not read here: apply reads them from the form.
func (h *handler) readForm(r *http.Request, s *aiproxy.MCPServer) (*serverForm, web.FieldErrors) {
	v := r.PostForm
	var f *serverForm
	if s != nil {
		f = h.editFormOf(s)
	} else {
		f = &serverForm{Kind: aiproxy.MCPKind(v.Get("kind")), Scope: aiproxy.MCPScope(v.Get("scope")), GroupID: strings.TrimSpace(v.Get("group"))}
		if !f.Kind.Valid() {
			f.Kind = aiproxy.MCPOpenAPI
		}
		f.TemplateName = v.Get("template")
		h.fillTemplate(f, f.TemplateName, nil)
	}
	errs := web.FieldErrors{}
	f.Name, f.Description = strings.TrimSpace(v.Get("name")), strings.TrimSpace(v.Get("description"))
	f.Enabled, f.AllowPrivate = v.Get("enabled") != "", v.Get("allowPrivateNetwork") != ""
	f.CallPrice, f.ToolPrices = strings.TrimSpace(v.Get("callPrice")), v.Get("toolPrices")
	var err error
	if f.callPrice, err = parseAmount(f.CallPrice); err != nil {
		errs["callPrice"] = "The price must be a decimal number, such as 0.002."
	}
	if f.toolPrices, err = parsePrices(f.ToolPrices); err != nil {
		errs["toolPrices"] = aiproxy.ErrorMessage(err)
	}
	switch f.Kind {
	case aiproxy.MCPOpenAPI:
		f.SpecURL, f.BaseURL = strings.TrimSpace(v.Get("specURL")), strings.TrimSpace(v.Get("baseURL"))
		f.Spec = v.Get("spec")
		if spec, err := uploaded(r, "specFile"); err != nil {
			errs["spec"] = aiproxy.ErrorMessage(err)
		} else if spec != "" {
			f.Spec = spec
		}
		f.Timeout, f.MaxBytes = strings.TrimSpace(v.Get("timeoutSeconds")), strings.TrimSpace(v.Get("maxResponseBytes"))
		if n, err := parseCount(f.Timeout); err != nil {
			errs["timeoutSeconds"] = "The timeout must be a whole number of seconds."
		} else {
			f.timeout = time.Duration(n) * time.Second
		}
		if f.maxBytes, err = parseCount(f.MaxBytes); err != nil {
			errs["maxResponseBytes"] = "The limit must be a whole number of bytes."
		}
	case aiproxy.MCPProxy:
		f.ProxyURL, f.Transport = strings.TrimSpace(v.Get("proxyURL")), v.Get("transport")
		f.GroupHeaders, f.GroupQuery = v.Get("groupHeaders"), v.Get("groupQuery")
	case aiproxy.MCPEmbedded:
		for i := range f.Values {
			if in := &f.Values[i]; !in.F.Secret {
				in.Value = strings.TrimSpace(v.Get(in.InputName()))
			}
		}
	}
	if len(errs) == 0 {
		errs = nil
	}
	return f, errs
}

// uploaded returns the content of the file uploaded as name, "" when
// none was.
func uploaded(r *http.Request, name string) (string, error) {
	if r.MultipartForm == nil {
		return "", nil
	}
	file, _, err := r.FormFile(name)
	if errors.Is(err, http.ErrMissingFile) {
		return "", nil
	} else if err != nil {
		return "", aiproxy.Errorf(aiproxy.EINVALID, "The uploaded file could not be read.")
	}
	defer file.Close()
	b, err := io.ReadAll(io.LimitReader(file, maxSpecBytes+1))
	switch {
	case err != nil:
		return "", aiproxy.Errorf(aiproxy.EINVALID, "The uploaded file could not be read.")
	case len(b) > maxSpecBytes:
		return "", aiproxy.Errorf(aiproxy.EINVALID, "The spec is over 8 MiB.")
	}
	return string(b), nil
}

// apply sets s (a new server of f's kind, or a copy of the stored one)
// from the form: f's values and the secrets of v, where an empty secret
// input keeps the stored value and its "clear." checkbox removes it.
// The scope and group are set on a new server only.
func (f *serverForm) apply(s *aiproxy.MCPServer, v url.Values) {
	s.Name, s.Description, s.Enabled, s.AllowPrivateNetwork = f.Name, f.Description, f.Enabled, f.AllowPrivate
	s.CallPrice, s.ToolPrices = f.callPrice, f.toolPrices
	if s.ID == 0 {
		s.Scope, s.GroupID = f.Scope, f.GroupID
		if s.Scope == aiproxy.MCPPublic {
			s.GroupID = ""
		}
	}
	switch s.Kind {
	case aiproxy.MCPOpenAPI:
		if s.OpenAPI == nil {
			s.OpenAPI = &aiproxy.MCPOpenAPIConfig{}
		}
		o := s.OpenAPI
		o.SpecURL, o.BaseURL, o.Timeout, o.MaxResponseBytes = f.SpecURL, f.BaseURL, f.timeout, f.maxBytes
		if f.Spec != "" {
			o.Spec = f.Spec
		}
		for _, name := range secretNames(v, credentialPrefix) {
			val := v.Get(credentialPrefix + name)
			if val == "" && v.Get(clearPrefix+credentialPrefix+name) == "" {
				continue // left empty: kept
			}
			o.Credentials = slices.DeleteFunc(o.Credentials, func(c aiproxy.MCPCredential) bool { return c.Scheme == name })
			if val != "" {
				o.Credentials = append(o.Credentials, aiproxy.MCPCredential{Scheme: name, Value: val})
			}
		}
	case aiproxy.MCPProxy:
		if s.Proxy == nil {
			s.Proxy = &aiproxy.MCPProxyConfig{}
		}
		p := s.Proxy
		p.URL, p.Transport = f.ProxyURL, f.Transport
		p.Headers = mergeSecrets(p.Headers, v, headerPrefix, "newHeaderName", "newHeaderValue")
		p.Query = mergeSecrets(p.Query, v, queryPrefix, "newQueryName", "newQueryValue")
		p.GroupHeaders, p.GroupQuery = splitNames(f.GroupHeaders), splitNames(f.GroupQuery)
	case aiproxy.MCPEmbedded:
		if s.Embedded == nil {
			s.Embedded = &aiproxy.MCPEmbeddedConfig{Template: f.TemplateName}
		}
		e := s.Embedded
		if e.Values == nil {
			e.Values = map[string]string{}
		}
		for _, in := range f.Values {
			name := in.F.Name
			switch val := strings.TrimSpace(v.Get(in.InputName())); {
			case val != "":
				e.Values[name] = val
			case !in.F.Secret || v.Get(clearPrefix+in.InputName()) != "":
				delete(e.Values, name)
			}
		}
	}
}

// secretNames returns the names of the inputs of v named prefix+name
// (and of their clear checkboxes), sorted.
func secretNames(v url.Values, prefix string) []string {
	set := map[string]bool{}
	for k := range v {
		k = strings.TrimPrefix(k, clearPrefix)
		if name, ok := strings.CutPrefix(k, prefix); ok && name != "" {
			set[name] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// mergeSecrets changes m (a copy) by v: an input prefix+name replaces
// the value of name when not empty, its clear checkbox removes it, and
// the rows of the names and values newName and newValue add values.
func mergeSecrets(m map[string]string, v url.Values, prefix, newName, newValue string) map[string]string {
	out := maps.Clone(m)
	if out == nil {
		out = map[string]string{}
	}
	for _, name := range secretNames(v, prefix) {
		if val := v.Get(prefix + name); val != "" {
			out[name] = val
		} else if v.Get(clearPrefix+prefix+name) != "" {
			delete(out, name)
		}
	}
	names, values := v[newName], v[newValue]
	for i, n := range names {
		if n = strings.TrimSpace(n); n != "" && i < len(values) && values[i] != "" {
			out[n] = values[i]
		}
	}
	return out
}

// splitNames splits a list of names separated by commas or white space.
func splitNames(s string) []string {
	var out []string
	for _, n := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' }) {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// errorsOf returns the errors to show for err, a refusal of the service,
// beside the form's inputs: a field the form has no input for is shown
// as the form's own error. It sets the form's status: 422 for refused
// values (EINVALID, ECONFLICT: the name is taken), the code's status
// otherwise.
func (f *serverForm) errorsOf(err error) web.FieldErrors {
	if code := aiproxy.ErrorCode(err); code == aiproxy.EINVALID || code == aiproxy.ECONFLICT {
		f.status = http.StatusUnprocessableEntity
		if code == aiproxy.ECONFLICT {
			return web.FieldErrors{"name": aiproxy.ErrorMessage(err)}
		}
	} else {
		f.status = relay.HTTPStatus(err)
	}
	out := web.FieldErrors{}
	for k, msg := range web.FieldErrorsOf(err) {
		k = f.errorKey(k)
		if !slices.Contains(f.inputs(), k) {
			k = ""
		}
		out[k] = msg
	}
	return out
}

// errorKey returns the input showing the service's error of field.
func (f *serverForm) errorKey(field string) string {
	switch field {
	case "openapi", "openapi.specURL":
		return "specURL"
	case "openapi.spec":
		return "spec"
	case "openapi.baseURL":
		return "baseURL"
	case "openapi.credentials":
		return "credentials"
	case "proxy.url":
		return "proxyURL"
	case "proxy.transport":
		return "transport"
	case "embedded.template":
		return "template"
	case "embedded.values":
		return "values"
	}
	for _, in := range f.Values {
		if in.F.Name == field {
			return in.InputName()
		}
	}
	return field
}

// inputs returns the names of the errors the form shows beside an input.
func (f *serverForm) inputs() []string {
	in := []string{"name", "description", "callPrice", "toolPrices"}
	if f.ID == 0 {
		in = append(in, "scope", "group")
	}
	switch f.Kind {
	case aiproxy.MCPOpenAPI:
		in = append(in, "specURL", "spec", "baseURL", "credentials", "timeoutSeconds", "maxResponseBytes")
	case aiproxy.MCPProxy:
		in = append(in, "proxyURL", "transport", "headers", "query", "groupHeaders", "groupQuery")
	case aiproxy.MCPEmbedded:
		in = append(in, "template", "values")
		for _, v := range f.Values {
			in = append(in, v.InputName())
		}
	}
	return in
}

// parseAmount reads a decimal amount; "" is 0.
func parseAmount(s string) (aiproxy.Amount, error) {
	if s == "" {
		return 0, nil
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, err
	}
	return aiproxy.AmountFromFloat(x), nil
}

// formatAmount writes a for an input; "" for 0.
func formatAmount(a aiproxy.Amount) string {
	if a == 0 {
		return ""
	}
	return strconv.FormatFloat(a.Float(), 'f', -1, 64)
}

// parsePrices reads "tool=price" lines; nil for none.
func parsePrices(s string) (map[string]aiproxy.Amount, error) {
	var out map[string]aiproxy.Amount
	for line := range strings.Lines(s) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		tool, price, ok := strings.Cut(line, "=")
		a, err := parseAmount(strings.TrimSpace(price))
		if tool = strings.TrimSpace(tool); !ok || tool == "" || err != nil {
			return nil, aiproxy.Errorf(aiproxy.EINVALID, "Write one tool=price per line, such as search=0.01.")
		}
		if out == nil {
			out = map[string]aiproxy.Amount{}
		}
		out[tool] = a
	}
	return out, nil
}

// formatPrices writes prices as parsePrices reads them, sorted by tool.
func formatPrices(prices map[string]aiproxy.Amount) string {
	var b strings.Builder
	for _, t := range slices.Sorted(maps.Keys(prices)) {
		b.WriteString(t + "=" + strconv.FormatFloat(prices[t].Float(), 'f', -1, 64) + "\n")
	}
	return b.String()
}

// parseCount reads a whole number that is not negative; "" is 0.
func parseCount(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, aiproxy.Errorf(aiproxy.EINVALID, "not a count")
	}
	return n, nil
}
