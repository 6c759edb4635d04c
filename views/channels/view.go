package channels

import (
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/views/web"
)

// listPage is what the list shows.
type listPage struct {
	Query listQuery
	Rows  []*row // the page's
	// Total is the number of channels matching the search, All of all.
	Total, All  int
	Page, Pages int
	// StatsError says why error rates are missing; "" when they were read.
	StatsError string
}

// formPage is the create or edit form.
type formPage struct {
	// ID is the edited channel's, 0 on the create form.
	ID    int64
	Form  channelForm
	Types []*relay.Provider // every type, by name
	// Channel is the edited channel as stored (nil on the create form),
	// and Health its health by model.
	Channel *aiproxy.Channel
	Health  []aiproxy.ChannelHealth
	// Errors are the form's validation errors (web.FieldErrors: by input
	// name, "" for the form's own).
	Errors web.FieldErrors
}

// testView is the result of testing a channel with a model.
type testView struct {
	ID    int64
	Name  string // the channel's
	Model string
	Res   *relay.ChannelTest
	// Error says why the test could not be sent; "" when Res is set.
	Error string
}

// editing reports whether the page edits an existing channel.
func (p *formPage) editing() bool { return p.ID != 0 }

// action returns the URL the form posts to (and is shown at).
func (p *formPage) action() string {
	if p.editing() {
		return channelPath(p.ID)
	}
	return basePath
}

// provider returns the provider of the type chosen, nil for an unknown one.
func (p *formPage) provider() *relay.Provider {
	for _, t := range p.Types {
		if string(t.Type) == p.Form.Type {
			return t
		}
	}
	return nil
}

// channelPath returns the path of channel id's pages and actions.
func channelPath(id int64) string { return basePath + "/" + strconv.FormatInt(id, 10) }

// inputID returns the id of the input named name: its name, dots
// replaced, so that it needs no escaping in CSS selectors.
func inputID(name string) string { return "channel-" + strings.ReplaceAll(name, ".", "-") }

// inputAttrs returns the attributes of the input named name: its id,
// name and test id, and, when it has a hint or an error, the
// aria-describedby naming them and aria-invalid.
func inputAttrs(name string, hint bool, errs web.FieldErrors) templ.Attributes {
	id := inputID(name)
	a := templ.Attributes{"id": id, "name": name, "data-testid": "input-" + name}
	var described []string
	if hint {
		described = append(described, id+"-hint")
	}
	if errs.Has(name) {
		described = append(described, web.ErrorID(name))
		a["aria-invalid"] = "true"
	}
	if len(described) > 0 {
		a["aria-describedby"] = strings.Join(described, " ")
	}
	return a
}

// modelsSummary returns the first few of models and the number left out.
func modelsSummary(models []string) (string, int) {
	const shown = 3
	if len(models) <= shown {
		return strings.Join(models, ", "), 0
	}
	return strings.Join(models[:shown], ", "), len(models) - shown
}

// percent formats a share as a percentage with one decimal.
func percent(v float64) string { return strconv.FormatFloat(v*100, 'f', 1, 64) + "%" }

// amount formats a balance.
func amount(b aiproxy.Balance) string {
	s := strconv.FormatFloat(b.Amount, 'f', 2, 64)
	if b.Currency != "" {
		s += " " + b.Currency
	}
	return s
}

// lowBalance reports whether r's balance is under its channel's alert
// threshold.
func (r *row) lowBalance() bool {
	return r.HasBalance && r.Ch.LowBalance > 0 && r.Balance.Amount < r.Ch.LowBalance
}

// breakerLabel returns the text and the badge class of r's breaker.
func (r *row) breakerLabel() (string, string) {
	switch r.Breaker {
	case rankOpen:
		return "open " + strconv.Itoa(r.Open) + "/" + strconv.Itoa(r.Models), "badge badge-open"
	case rankHalfOpen:
		return "half open " + strconv.Itoa(r.Open) + "/" + strconv.Itoa(r.Models), "badge badge-half-open"
	case rankClosed:
		return "closed", "badge badge-closed"
	}
	return "no traffic", "badge"
}

// maxSuggested is how many of a channel's models its row's test input
// suggests.
const maxSuggested = 20

// suggested returns the models a row's test input suggests.
func suggested(c *aiproxy.Channel) []string { return c.Models[:min(len(c.Models), maxSuggested)] }

// breakerOf returns the text and badge class of one model's breaker.
func breakerOf(h *aiproxy.ChannelHealth) (string, string) {
	switch h.State.Breaker {
	case aiproxy.BreakerOpen:
		return "open", "badge badge-open"
	case aiproxy.BreakerHalfOpen:
		return "half open", "badge badge-half-open"
	}
	return "closed", "badge badge-closed"
}

// firstModel returns the model a test defaults to.
func firstModel(c *aiproxy.Channel) string {
	if len(c.Models) == 0 {
		return ""
	}
	return c.Models[0]
}

// latency formats a test's latency in milliseconds.
func latency(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + " ms" }

func itoa(n int) string  { return strconv.Itoa(n) }
func i64(n int64) string { return strconv.FormatInt(n, 10) }
func typeName(p *relay.Provider) string {
	if p.Title == "" {
		return string(p.Type)
	}
	return p.Title + " (" + string(p.Type) + ")"
}
