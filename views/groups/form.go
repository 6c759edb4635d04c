package groups

import (
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/views/web"
)

// The forms' fields are named as the domain's errors name them
// (aiproxy.Error.Field), so that a service error lands beside its field.

// groupForm is a group form as shown: its values as typed and the errors
// beside its fields ("" for the form's own).
type groupForm struct {
	New    bool   // a new group; else the edit form of ID
	ID     string // the group edited
	Values url.Values
	Errors web.FieldErrors
}

// tokenForm is a token form as shown.
type tokenForm struct {
	GroupID string // the group of the token
	TokenID int64  // 0 for a new token
	Values  url.Values
	Errors  web.FieldErrors
}

// balanceForm is the top-up and adjustment form of a group's page.
type balanceForm struct {
	Kind, Amount, Reason string
	Errors               web.FieldErrors
}

// formErrors collects the errors of parsing a form, one a field.
type formErrors map[string]string

// add records msg for field unless the field has an error already.
func (e formErrors) add(field, msg string) {
	if _, ok := e[field]; !ok {
		e[field] = msg
	}
}

// float parses an optional number (empty: 0).
func (e formErrors) float(v url.Values, field string) float64 {
	s := strings.TrimSpace(v.Get(field))
	if s == "" {
		return 0
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		e.add(field, field+" must be a number")
		return 0
	}
	return f
}

// int parses an optional whole number (empty: 0).
func (e formErrors) int(v url.Values, field string) int64 {
	s := strings.TrimSpace(v.Get(field))
	if s == "" {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		e.add(field, field+" must be a whole number")
		return 0
	}
	return n
}

// amount parses an optional amount of money in currency units (empty: 0).
func (e formErrors) amount(v url.Values, field string) aiproxy.Amount {
	f := e.float(v, field)
	if math.Abs(f*float64(aiproxy.AmountUnit)) >= math.MaxInt64 {
		e.add(field, field+" is too large")
		return 0
	}
	return aiproxy.AmountFromFloat(f)
}

// list splits a field into names, one a line or separated by commas.
func list(v url.Values, field string) []string {
	return aiproxy.CleanNames(strings.FieldsFunc(v.Get(field), func(r rune) bool {
		return r == ',' || r == '\n' || r == '\r'
	}))
}

// checked reports whether a checkbox field was sent.
func checked(v url.Values, field string) bool { return v.Get(field) != "" }

// parseGroup reads a new group from its form.
func parseGroup(v url.Values) (*aiproxy.Group, formErrors) {
	e := formErrors{}
	g := &aiproxy.Group{
		ID:             strings.TrimSpace(v.Get("id")),
		Description:    strings.TrimSpace(v.Get("description")),
		Enabled:        checked(v, "enabled"),
		AvailableSets:  list(v, "availableSets"),
		RPMRatio:       e.float(v, "rpmRatio"),
		TPMRatio:       e.float(v, "tpmRatio"),
		MaxConcurrency: e.int(v, "maxConcurrency"),
		Prepaid:        checked(v, "prepaid"),
		LowBalance:     e.amount(v, "lowBalanceThreshold"),
	}
	return g, e
}

// parseGroupUpdate reads the edit form of a group: every field it shows
// is set; Enabled, changed by its own buttons, is left.
func parseGroupUpdate(v url.Values) (aiproxy.GroupUpdate, formErrors) {
	g, e := parseGroup(v)
	return aiproxy.GroupUpdate{
		Description:    &g.Description,
		AvailableSets:  &g.AvailableSets,
		RPMRatio:       &g.RPMRatio,
		TPMRatio:       &g.TPMRatio,
		MaxConcurrency: &g.MaxConcurrency,
		Prepaid:        &g.Prepaid,
		LowBalance:     &g.LowBalance,
	}, e
}

// groupValues returns the form values showing g.
func groupValues(g *aiproxy.Group) url.Values {
	v := url.Values{
		"id":                  {g.ID},
		"description":         {g.Description},
		"availableSets":       {strings.Join(g.AvailableSets, ", ")},
		"rpmRatio":            {number(g.RPMRatio)},
		"tpmRatio":            {number(g.TPMRatio)},
		"maxConcurrency":      {wholeOrEmpty(g.MaxConcurrency)},
		"lowBalanceThreshold": {amountOrEmpty(g.LowBalance)},
	}
	if g.Enabled {
		v.Set("enabled", "on")
	}
	if g.Prepaid {
		v.Set("prepaid", "on")
	}
	return v
}

// expiryLayout is the value format of a datetime-local input.
const expiryLayout = "2006-01-02T15:04"

// parseToken reads a token from its form; the expiry is read in UTC.
func parseToken(v url.Values) (*aiproxy.Token, formErrors) {
	e := formErrors{}
	t := &aiproxy.Token{
		Name:        strings.TrimSpace(v.Get("name")),
		Models:      list(v, "models"),
		MCPTools:    list(v, "mcpTools"),
		Subnets:     list(v, "subnets"),
		Quota:       e.amount(v, "quota"),
		PeriodQuota: e.amount(v, "periodQuota"),
		Period:      aiproxy.QuotaPeriod(v.Get("period")),
		RPM:         e.int(v, "rpm"),
		TPM:         e.int(v, "tpm"),
	}
	if s := strings.TrimSpace(v.Get("expiresAt")); s != "" {
		at, err := time.ParseInLocation(expiryLayout, s, time.UTC)
		if err != nil {
			e.add("expiresAt", "expiresAt must be a date and time, such as 2030-01-31T18:00")
		} else {
			t.ExpiresAt = &at
		}
	}
	return t, e
}

// parseTokenUpdate reads the edit form of a token: every field it shows
// is set (an empty expiry clears it); Enabled, changed by its own
// buttons, is left.
func parseTokenUpdate(v url.Values) (aiproxy.TokenUpdate, formErrors) {
	t, e := parseToken(v)
	return aiproxy.TokenUpdate{
		Name:        &t.Name,
		Models:      &t.Models,
		MCPTools:    &t.MCPTools,
		Subnets:     &t.Subnets,
		ExpiresAt:   &t.ExpiresAt,
		Quota:       &t.Quota,
		PeriodQuota: &t.PeriodQuota,
		Period:      &t.Period,
		RPM:         &t.RPM,
		TPM:         &t.TPM,
	}, e
}

// tokenValues returns the form values showing t.
func tokenValues(t *aiproxy.Token) url.Values {
	v := url.Values{
		"name":        {t.Name},
		"models":      {strings.Join(t.Models, "\n")},
		"mcpTools":    {strings.Join(t.MCPTools, "\n")},
		"subnets":     {strings.Join(t.Subnets, "\n")},
		"quota":       {amountOrEmpty(t.Quota)},
		"periodQuota": {amountOrEmpty(t.PeriodQuota)},
		"period":      {string(t.Period)},
		"rpm":         {wholeOrEmpty(t.RPM)},
		"tpm":         {wholeOrEmpty(t.TPM)},
	}
	if t.ExpiresAt != nil {
		v.Set("expiresAt", t.ExpiresAt.UTC().Format(expiryLayout))
	}
	return v
}

// parseBalance reads the balance form: a kind, a non-zero amount and a
// reason, all required.
func parseBalance(v url.Values) (kind string, a aiproxy.Amount, reason string, e formErrors) {
	e = formErrors{}
	kind = v.Get("kind")
	if kind != aiproxy.BalanceTopUp && kind != aiproxy.BalanceAdjustment {
		e.add("kind", "choose a top-up or an adjustment")
	}
	if strings.TrimSpace(v.Get("amount")) == "" {
		e.add("amount", "amount is required")
	}
	a = e.amount(v, "amount")
	if _, bad := e["amount"]; !bad {
		switch {
		case a == 0:
			e.add("amount", "amount must not be zero")
		case kind == aiproxy.BalanceTopUp && a < 0:
			e.add("amount", "a top-up must be positive; use an adjustment to deduct")
		}
	}
	reason = strings.TrimSpace(v.Get("reason"))
	if reason == "" {
		e.add("reason", "reason is required")
	} else if len(reason) > 1024 {
		e.add("reason", "reason must be at most 1024 characters")
	}
	return kind, a, reason, e
}

// pageNumber parses a 1-based page number; anything else is 1.
func pageNumber(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// pager is one page of a list of N items.
type pager struct {
	Page, Pages, Total int
	from, to           int // the page's items are [from, to)
}

// paginate returns page (clamped to the last one) of total items, per a
// page.
func paginate(total, page, per int) pager {
	pages := max((total+per-1)/per, 1)
	page = min(max(page, 1), pages)
	from := (page - 1) * per
	return pager{Page: page, Pages: pages, Total: total, from: from, to: min(from+per, total)}
}
