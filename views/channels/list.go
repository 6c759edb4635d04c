package channels

import (
	"cmp"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/aiproxy/aiproxy"
)

// PageSize is the number of channels on one page of the list.
const PageSize = 50

// Columns the list sorts by, as the sort parameter names them.
const (
	sortID       = "id"
	sortName     = "name"
	sortType     = "type"
	sortStatus   = "status"
	sortPriority = "priority"
	sortWeight   = "weight"
	sortModels   = "models"
	sortErrors   = "errors"
	sortBreaker  = "breaker"
	sortBalance  = "balance"
)

var sortColumns = []string{sortID, sortName, sortType, sortStatus, sortPriority, sortWeight, sortModels, sortErrors, sortBreaker, sortBalance}

// listQuery is what the list shows: the search, the order and the page,
// as the URL's q, sort, dir and page parameters carry them.
type listQuery struct {
	Q    string // a substring of the name or of a model, any case; "" for all
	Sort string // one of sortColumns
	Desc bool   // dir=desc
	Page int    // from 1
}

// parseListQuery reads a listQuery from v, replacing what is missing or
// malformed by the defaults (every channel by id, page 1).
func parseListQuery(v url.Values) listQuery {
	q := listQuery{Q: strings.TrimSpace(v.Get("q")), Sort: v.Get("sort"), Desc: v.Get("dir") == "desc", Page: 1}
	if !slices.Contains(sortColumns, q.Sort) {
		q.Sort = sortID
	}
	if n, err := strconv.Atoi(v.Get("page")); err == nil && n > 1 {
		q.Page = n
	}
	return q
}

// values returns q as URL parameters, leaving out the defaults.
func (q listQuery) values() url.Values {
	v := url.Values{}
	if q.Q != "" {
		v.Set("q", q.Q)
	}
	if q.Sort != sortID {
		v.Set("sort", q.Sort)
	}
	if q.Desc {
		v.Set("dir", "desc")
	}
	if q.Page > 1 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	return v
}

// URL returns the list's URL showing q.
func (q listQuery) URL() string {
	if v := q.values().Encode(); v != "" {
		return basePath + "?" + v
	}
	return basePath
}

// Encoded returns q as a query string, for the hidden field that brings a
// POST's redirect back to the same view of the list.
func (q listQuery) Encoded() string { return q.values().Encode() }

// WithPage returns the URL of page n of the same view.
func (q listQuery) WithPage(n int) string {
	q.Page = n
	return q.URL()
}

// SortBy returns the URL ordering by column: ascending, or descending when
// column is already the ascending order. Sorting starts again at page 1.
func (q listQuery) SortBy(column string) string {
	q.Desc = q.Sort == column && !q.Desc
	q.Sort = column
	q.Page = 1
	return q.URL()
}

// AriaSort returns the aria-sort value of column's header.
func (q listQuery) AriaSort(column string) string {
	switch {
	case q.Sort != column:
		return "none"
	case q.Desc:
		return "descending"
	}
	return "ascending"
}

// breakerRank orders breaker states from the best to the worst; rankNone
// is a channel of which health knows nothing.
type breakerRank int

const (
	rankNone breakerRank = iota
	rankClosed
	rankHalfOpen
	rankOpen
)

// row is one channel of the list with what the page shows beside it.
type row struct {
	Ch *aiproxy.Channel
	// Requests and Failures are the channel's requests in the last hour
	// and how many of them failed; HasStats is false when it had none (or
	// they could not be read).
	Requests, Failures int64
	HasStats           bool
	// Breaker is the worst breaker state over the channel's models,
	// Open how many of Models (those health tracks) are open or half
	// open, and LastError the latest error health saw.
	Breaker      breakerRank
	Open, Models int
	LastError    string
	Balance      aiproxy.Balance
	HasBalance   bool
	// name is Ch.Name in lower case, for sorting.
	name string
}

// ErrorRate returns the share of the requests that failed.
func (r *row) ErrorRate() float64 {
	if r.Requests == 0 {
		return 0
	}
	return float64(r.Failures) / float64(r.Requests)
}

// matches reports whether c's name or one of its models contains needle,
// which is lower case.
func matches(c *aiproxy.Channel, needle string) bool {
	if needle == "" || strings.Contains(strings.ToLower(c.Name), needle) {
		return true
	}
	for _, m := range c.Models {
		if strings.Contains(strings.ToLower(m), needle) {
			return true
		}
	}
	return false
}

// compareRows orders a and b by column, descending when desc; ties are
// by id, ascending.
func compareRows(column string, desc bool, a, b *row) int {
	var c int
	switch column {
	case sortName:
		c = strings.Compare(a.name, b.name)
	case sortType:
		c = cmp.Compare(a.Ch.Type, b.Ch.Type)
	case sortStatus:
		c = cmp.Compare(boolRank(a.Ch.Enabled), boolRank(b.Ch.Enabled))
	case sortPriority:
		c = cmp.Compare(a.Ch.Priority, b.Ch.Priority)
	case sortWeight:
		c = cmp.Compare(a.Ch.Weight, b.Ch.Weight)
	case sortModels:
		c = cmp.Compare(len(a.Ch.Models), len(b.Ch.Models))
	case sortErrors:
		c = cmp.Compare(errorRate(a), errorRate(b))
	case sortBreaker:
		c = cmp.Compare(a.Breaker, b.Breaker)
	case sortBalance:
		c = cmp.Compare(balanceKey(a), balanceKey(b))
	}
	switch {
	case c != 0 && desc:
		return -c
	case c != 0:
		return c
	case column == sortID && desc:
		return cmp.Compare(b.Ch.ID, a.Ch.ID)
	}
	return cmp.Compare(a.Ch.ID, b.Ch.ID)
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// errorRate orders channels without requests before those with an error
// rate of 0.
func errorRate(r *row) float64 {
	if !r.HasStats {
		return -1
	}
	return r.ErrorRate()
}

// balanceKey orders channels with no known balance first.
func balanceKey(r *row) float64 {
	if !r.HasBalance {
		return -1e308
	}
	return r.Balance.Amount
}

// pageOf returns page n (from 1) of rows and the number of pages, at
// least 1; n past the end gives the last page.
func pageOf[T any](rows []T, n int) ([]T, int, int) {
	pages := max(1, (len(rows)+PageSize-1)/PageSize)
	n = min(max(n, 1), pages)
	from := (n - 1) * PageSize
	return rows[from:min(from+PageSize, len(rows))], n, pages
}

// pageLinks returns the page numbers to link from page cur of pages: the
// first, the last and those around cur, with 0 where numbers are skipped.
func pageLinks(cur, pages int) []int {
	var out []int
	for n := 1; n <= pages; n++ {
		if n == 1 || n == pages || (n >= cur-2 && n <= cur+2) {
			out = append(out, n)
		} else if len(out) > 0 && out[len(out)-1] != 0 {
			out = append(out, 0)
		}
	}
	return out
}
