package groups

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aiproxy/aiproxy"
)

// number formats a float in its shortest form, empty for 0.
func number(f float64) string {
	if f == 0 {
		return ""
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// whole formats an integer.
func whole(n int64) string { return strconv.FormatInt(n, 10) }

// wholeOrEmpty formats an integer, empty for 0.
func wholeOrEmpty(n int64) string {
	if n == 0 {
		return ""
	}
	return whole(n)
}

// money formats an amount in currency units with at least two decimals
// and at most nine, exactly (no float rounding).
func money(a aiproxy.Amount) string { return a.String() }

// amountOrEmpty formats an amount for a form field, empty for 0.
func amountOrEmpty(a aiproxy.Amount) string {
	if a == 0 {
		return ""
	}
	return money(a)
}

// ratio formats a limit ratio, whose 0 means 1.
func ratio(f float64) string {
	if f <= 0 {
		f = 1
	}
	return "×" + strconv.FormatFloat(f, 'f', -1, 64)
}

// limit formats a per-minute limit, whose 0 means none.
func limit(n int64) string {
	if n == 0 {
		return "none"
	}
	return whole(n)
}

// when formats a time in UTC.
func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// stamp formats a time for a <time datetime> attribute.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// usage is a used amount against a cap, as a usage bar shows it.
type usage struct {
	ID    string // the meter's id, for its label
	Label string
	Used  aiproxy.Amount
	Max   aiproxy.Amount // 0: no cap, no bar
	Note  string         // said after the figures, such as the period
}

// Capped reports whether there is a cap to draw a bar against.
func (u usage) Capped() bool { return u.Max > 0 }

// Value returns the bar's value, clamped to [0, Max].
func (u usage) Value() string { return money(min(max(u.Used, 0), u.Max)) }

// Percent returns the part of the cap used, in whole percents.
func (u usage) Percent() string {
	if u.Max <= 0 {
		return "0"
	}
	return strconv.FormatInt(int64(float64(u.Used)/float64(u.Max)*100), 10)
}

// Text says the usage in words, for the bar's readers and for everyone.
func (u usage) Text() string {
	s := money(u.Used) + " used"
	if u.Capped() {
		s += " of " + money(u.Max) + " (" + u.Percent() + "%)"
	} else {
		s += ", no cap"
	}
	if u.Note != "" {
		s += ", " + u.Note
	}
	return s
}

// kindName names a balance entry kind.
func kindName(kind string) string {
	switch kind {
	case aiproxy.BalanceTopUp:
		return "Top-up"
	case aiproxy.BalanceAdjustment:
		return "Adjustment"
	}
	return kind
}

// periodName names a quota period.
func periodName(p aiproxy.QuotaPeriod) string {
	switch p {
	case aiproxy.PeriodDaily:
		return "daily"
	case aiproxy.PeriodWeekly:
		return "weekly"
	case aiproxy.PeriodMonthly:
		return "monthly"
	}
	return "none"
}

// orAll lists names, or says "all" for none.
func orAll(names []string, all string) string {
	if len(names) == 0 {
		return all
	}
	return strings.Join(names, ", ")
}

// pageURL returns path with its query set to q, page and key=n.
func pageURL(path string, q url.Values, key string, n int) string {
	v := url.Values{}
	for k, vs := range q {
		v[k] = vs
	}
	v.Set(key, strconv.Itoa(n))
	return path + "?" + v.Encode()
}

// enabledName names a group's status.
func enabledName(enabled bool) string {
	if enabled {
		return "enabled"
	}
	return "disabled"
}

// badgeClass returns the class of a status badge: enabled, disabled, or
// the warning colour (an expired token).
func badgeClass(status string) string {
	switch status {
	case "enabled", "disabled":
		return "badge-" + status
	}
	return "badge-warn"
}
