package alerts

import (
	"slices"
	"strconv"
	"time"

	"github.com/aiproxy/aiproxy"
)

// alertsPage is the area's page.
type alertsPage struct {
	Sinks []*aiproxy.AlertSink
	// Settings is the thresholds form; Effective the values in effect,
	// Defaults the server's.
	Settings  settingsForm
	Effective aiproxy.AlertSettings
	Defaults  aiproxy.AlertSettings
	History   historyView
}

// historyView is one page of the alert history.
type historyView struct {
	Kind    aiproxy.AlertKind // "" for every kind
	Before  int64             // the cursor the page starts below; 0 for the newest
	Records []*aiproxy.AlertRecord
	Next    int64 // the cursor of the next (older) page; 0 when none
}

// olderURL returns the URL of the next page of the history.
func (v historyView) olderURL() string {
	return basePath + "?kind=" + string(v.Kind) + "&before=" + strconv.FormatInt(v.Next, 10) + "#history"
}

// newestURL returns the URL of the first page of the history, of the
// same kind.
func (v historyView) newestURL() string {
	if v.Kind == "" {
		return basePath + "#history"
	}
	return basePath + "?kind=" + string(v.Kind) + "#history"
}

// testView is the result of a test alert.
type testView struct {
	ID         int64
	Name, Host string
	OK         bool
	Error      string
}

// isKind reports whether k is an alert kind.
func isKind(k aiproxy.AlertKind) bool { return slices.Contains(aiproxy.AlertKinds, k) }

// sinkKinds are the sink kinds offered, with their labels.
var sinkKinds = []struct{ Value, Label string }{
	{string(aiproxy.SinkWebhook), "Webhook (JSON)"},
	{string(aiproxy.SinkSlack), "Slack-compatible webhook"},
	{string(aiproxy.SinkFeishu), "Feishu / Lark bot"},
}

// kindLabel returns the label of sink kind k.
func kindLabel(k string) string {
	for _, sk := range sinkKinds {
		if sk.Value == k {
			return sk.Label
		}
	}
	return k
}

// severities are the minimum severities offered; "" is every alert.
var severities = []struct{ Value, Label string }{
	{"", "Every alert"},
	{string(aiproxy.SeverityInfo), "Info and above"},
	{string(aiproxy.SeverityWarning), "Warning and above"},
	{string(aiproxy.SeverityCritical), "Critical only"},
}

// kindsText describes a sink's kinds.
func kindsText(ks []aiproxy.AlertKind) string {
	if len(ks) == 0 {
		return "every kind"
	}
	s := ""
	for i, k := range ks {
		if i > 0 {
			s += ", "
		}
		s += string(k)
	}
	return s
}

// severityText describes a sink's minimum severity.
func severityText(s aiproxy.AlertSeverity) string {
	if s == "" {
		return "every alert"
	}
	return string(s) + " and above"
}

// rateText shows an error rate or spike factor in effect, 0 as off.
func rateText(v float64) string {
	if v == 0 {
		return "off"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

func secondsText(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) + " s" }

func i64(n int64) string { return strconv.FormatInt(n, 10) }

func itoa(n int) string { return strconv.Itoa(n) }

func boolString(b bool) string { return strconv.FormatBool(b) }
