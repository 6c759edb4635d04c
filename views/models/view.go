package models

import (
	"net/url"
	"strconv"

	"github.com/aiproxy/aiproxy"
)

// row is one model of the table.
type row struct {
	Model string
	// Config is the model's config; nil for a served model without one.
	Config *aiproxy.ModelConfig
	// Catalogue is the built-in catalogue's entry of the model, if any.
	Catalogue *aiproxy.CatalogueEntry
	// Served says an enabled channel lists the model.
	Served bool
	// Overrides counts the groups overriding the model's config.
	Overrides int
}

// pricing returns the price in effect for the model and where it comes
// from ("model" or "catalogue"); nil when it is unpriced.
func (r *row) pricing() (*aiproxy.Pricing, string) {
	if r.Config != nil && r.Config.Pricing.Priced() {
		return &r.Config.Pricing, aiproxy.SourceModel
	}
	if r.Catalogue != nil && r.Catalogue.Pricing.Priced() {
		return &r.Catalogue.Pricing, aiproxy.SourceCatalogue
	}
	return nil, ""
}

// unpriced reports whether requests for the model would be logged as
// unpriced: neither its config nor the catalogue prices it.
func (r *row) unpriced() bool { p, _ := r.pricing(); return p == nil }

// overridesCatalogue reports whether the config's own price replaces a
// catalogue entry's.
func (r *row) overridesCatalogue() bool {
	return r.Config != nil && r.Config.Pricing.Priced() && r.Catalogue != nil
}

// mode returns the model's type: its config's, else the catalogue's.
func (r *row) mode() string {
	switch {
	case r.Config != nil:
		return string(r.Config.Mode)
	case r.Catalogue != nil:
		return string(r.Catalogue.Mode)
	}
	return ""
}

// listPage is one page of the table.
type listPage struct {
	Query listQuery
	Rows  []*row
	// Total counts the rows matching the query, All every model, Unpriced
	// the unpriced ones among them.
	Total, All, Unpriced int
	Pages                int
	Catalogue            *aiproxy.Catalogue
}

// modelPage is the page of one model: its config form, its catalogue
// entry, its overrides and the override form.
type modelPage struct {
	Model    string // "" for the create form of a model to name
	Config   *aiproxy.ModelConfig
	Form     configForm
	Currency string
	// Catalogue is the built-in catalogue's entry of the model, if any.
	Catalogue          *aiproxy.CatalogueEntry
	OverridesAvailable bool
	Overrides          []*aiproxy.GroupModelConfig
	OverridesError     string
	// Override is the override form's values (empty: a new one).
	Override overrideForm
}

// priceCell returns a price component of p for a cell: "–" for nil or
// 0 (a part falling back to its whole shows the whole's).
func priceCell(p *aiproxy.Pricing, name string) string {
	if p == nil {
		return "–"
	}
	fb := p.Prices.Fallback()
	var a aiproxy.Amount
	for _, pf := range priceFields {
		if pf.Name != name {
			continue
		}
		if pf.PerRequest {
			a = fb.PerRequest
		} else {
			a = aiproxy.Amount(*pf.get(&fb))
		}
	}
	if a == 0 {
		if p.Free {
			return "0"
		}
		return "–"
	}
	return units(a)
}

// limit shows an RPM or TPM: "–" for none.
func limit(n int64) string {
	if n == 0 {
		return "–"
	}
	return strconv.FormatInt(n, 10)
}

// optInt64 shows an override's value: "model's" when it keeps the model
// config's.
func optInt64(p *int64) string {
	if p == nil {
		return "model's"
	}
	return strconv.FormatInt(*p, 10)
}

// overridePrice describes an override's price.
func overridePrice(o *aiproxy.GroupModelConfig) string {
	if o.Pricing == nil {
		return "model's"
	}
	f := o.Pricing.Prices.Fallback()
	return "in " + units(aiproxy.Amount(f.Input)) + " / out " + units(aiproxy.Amount(f.Output)) + " / cached " + units(aiproxy.Amount(f.CachedInput))
}

// modes are the model types offered.
var modes = aiproxy.Modes

func itoa(n int) string { return strconv.Itoa(n) }

// priceLabel is the label of a price's input.
func priceLabel(pf priceField) string {
	if pf.PerRequest {
		return pf.Label + " (each request)"
	}
	return pf.Label
}

func queryEscape(s string) string { return url.QueryEscape(s) }

func boolString(b bool) string { return strconv.FormatBool(b) }
