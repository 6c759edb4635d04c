package groups

import (
	"net/url"
	"strings"

	"github.com/a-h/templ"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/views/web"
)

// groupsView is one page of the groups list.
type groupsView struct {
	Query string
	Pager pager
	Rows  []groupRow
}

// groupRow is a group as the list shows it.
type groupRow struct {
	Group  *aiproxy.Group
	Tokens int // how many tokens it has
}

// PageURL returns the URL of page n of the list, with the same search.
func (v groupsView) PageURL(n int) string {
	q := url.Values{}
	if v.Query != "" {
		q.Set("q", v.Query)
	}
	return pageURL(groupsPath, q, "page", n)
}

// groupView is a group's page.
type groupView struct {
	Group      *aiproxy.Group
	ReadOnly   bool // a group session's view: no forms
	Billing    bool // balance forms and audit trail are available
	Tokens     []tokenRow
	TokenPager pager
	// Entries are the audit trail rows shown, from entry EntriesFrom (0:
	// the newest); OlderEntries is the id to continue before (0: none).
	Entries      []*aiproxy.BalanceEntry
	EntriesFrom  int64
	OlderEntries int64
	Balance      *balanceForm
}

// TokenPageURL returns the URL of page n of the group's tokens.
func (v groupView) TokenPageURL(n int) string {
	return pageURL(groupURL(v.Group.ID), url.Values{}, "tokens", n) + "#tokens"
}

// OlderURL returns the URL of the audit trail's next (older) rows.
func (v groupView) OlderURL() string {
	return pageURL(groupURL(v.Group.ID), url.Values{}, "before", int(v.OlderEntries)) + "#balance"
}

// BalanceUsage returns a prepaid group's credit used, as a bar.
func (v groupView) BalanceUsage() usage {
	return usage{ID: "group-credit", Label: "Credit used", Used: v.Group.UsedAmount, Max: v.Group.Credit}
}

// LowBalance reports whether a prepaid group's balance is under its
// low-balance threshold.
func (v groupView) LowBalance() bool {
	g := v.Group
	return g.Prepaid && g.LowBalance > 0 && g.Balance() < g.LowBalance
}

// tokensView is one page of the list of every token.
type tokensView struct {
	Query string
	Pager pager
	Rows  []tokenRow
}

// PageURL returns the URL of page n of the list, with the same search.
func (v tokensView) PageURL(n int) string {
	q := url.Values{}
	if v.Query != "" {
		q.Set("q", v.Query)
	}
	return pageURL(tokensPath, q, "page", n)
}

// tokenView is a token's page.
type tokenView struct {
	Row      tokenRow
	ReadOnly bool
}

// field is one input of a form, as fieldInput renders it: its label, its
// value as typed and the error beside it.
type field struct {
	Name, Label, Hint string
	Type              string // the input's type; "textarea" for a textarea
	Value             string
	Error             string
	Required          bool
	Attrs             map[string]any // more attributes, such as step and min
}

// id returns the input's id.
func (f field) id() string { return "f-" + f.Name }

// describedBy returns the ids of the hint and error of the input.
func (f field) describedBy() string {
	var ids []string
	if f.Hint != "" {
		ids = append(ids, f.id()+"-hint")
	}
	if f.Error != "" {
		ids = append(ids, web.ErrorID(f.Name))
	}
	return strings.Join(ids, " ")
}

// errors returns the field's error as web.FieldError takes it: none when
// it has none.
func (f field) errors() web.FieldErrors {
	if f.Error == "" {
		return nil
	}
	return web.FieldErrors{f.Name: f.Error}
}

// attrs returns the input's extra attributes.
func (f field) attrs() templ.Attributes {
	a := templ.Attributes{}
	for k, v := range f.Attrs {
		a[k] = v
	}
	if d := f.describedBy(); d != "" {
		a["aria-describedby"] = d
	}
	if f.Error != "" {
		a["aria-invalid"] = "true"
	}
	if f.Required {
		a["required"] = true
	}
	return a
}

// fieldOf returns the field name of a form: its value and error.
func fieldOf(v url.Values, errs web.FieldErrors, name, label, typ, hint string) field {
	return field{Name: name, Label: label, Type: typ, Hint: hint, Value: v.Get(name), Error: errs[name]}
}

// with returns f with more attributes, given as names and values.
func (f field) with(kv ...string) field {
	f.Attrs = map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Attrs[kv[i]] = kv[i+1]
	}
	return f
}

// fields returns the fields of a group form, but its id and checkboxes.
func (f groupForm) fields() []field {
	v, e := f.Values, f.Errors
	return []field{
		fieldOf(v, e, "description", "Description", "text", ""),
		fieldOf(v, e, "availableSets", "Channel sets", "text", "Comma-separated; empty means the default set.").with("autocomplete", "off"),
		fieldOf(v, e, "rpmRatio", "RPM ratio", "number", "Multiplies the models' requests-per-minute limits; empty means 1.").with("step", "any", "min", "0"),
		fieldOf(v, e, "tpmRatio", "TPM ratio", "number", "Multiplies the models' tokens-per-minute limits; empty means 1.").with("step", "any", "min", "0"),
		fieldOf(v, e, "maxConcurrency", "Concurrency cap", "number", "Requests in flight at most; empty means no cap.").with("step", "1", "min", "0"),
		fieldOf(v, e, "lowBalanceThreshold", "Low-balance threshold", "number", "Warn when a prepaid balance falls under it; empty means never.").with("step", "any", "min", "0"),
	}
}

// fields returns the fields of a token form, but the period select.
func (f tokenForm) fields() []field {
	v, e := f.Values, f.Errors
	return []field{
		fieldOf(v, e, "models", "Models", "textarea", "One a line (or comma-separated); empty allows every model."),
		fieldOf(v, e, "mcpTools", "MCP tools", "textarea", "Servers (weather) or server/tool (weather/forecast), one a line; empty allows every server of the group."),
		fieldOf(v, e, "subnets", "Subnets", "textarea", "IP addresses or CIDR subnets clients may use it from, one a line; empty allows any."),
		fieldOf(v, e, "expiresAt", "Expires at (UTC)", "datetime-local", "Empty never expires."),
		fieldOf(v, e, "quota", "Quota", "number", "Total spend allowed; empty means no cap.").with("step", "any", "min", "0"),
		fieldOf(v, e, "periodQuota", "Period quota", "number", "Spend allowed each period; needs a period.").with("step", "any", "min", "0"),
		fieldOf(v, e, "rpm", "RPM", "number", "The token's requests per minute over every model; empty means none.").with("step", "1", "min", "0"),
		fieldOf(v, e, "tpm", "TPM", "number", "The token's tokens per minute over every model; empty means none.").with("step", "1", "min", "0"),
	}
}

// periods are the choices of a token's quota period.
var periods = []struct{ Value, Label string }{
	{"", "None"},
	{string(aiproxy.PeriodDaily), "Daily"},
	{string(aiproxy.PeriodWeekly), "Weekly"},
	{string(aiproxy.PeriodMonthly), "Monthly"},
}

// action returns where a token form posts.
func (f tokenForm) action() string {
	if f.TokenID != 0 {
		return tokenURL(f.TokenID)
	}
	return groupURL(f.GroupID) + "/tokens"
}

// action returns where a group form posts.
func (f groupForm) action() string {
	if f.New {
		return groupsPath
	}
	return groupURL(f.ID)
}

// cancel returns where a group form's cancel link goes.
func (f groupForm) cancel() string {
	if f.New {
		return groupsPath
	}
	return groupURL(f.ID)
}
