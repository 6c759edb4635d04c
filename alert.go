package aiproxy

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"time"
)

// AlertSeverity says how urgent an Alert is.
type AlertSeverity string

// Alert severities.
const (
	SeverityInfo     AlertSeverity = "info"     // something recovered
	SeverityWarning  AlertSeverity = "warning"  // worth a look
	SeverityCritical AlertSeverity = "critical" // traffic or data is being lost
)

// AlertKind names what an Alert is about.
type AlertKind string

// Alert kinds.
const (
	AlertBreakerOpen   AlertKind = "breaker_open"   // a channel's breaker opened
	AlertBreakerClosed AlertKind = "breaker_closed" // it closed again
	AlertErrorRate     AlertKind = "channel_error_rate"
	AlertProviderAuth  AlertKind = "provider_auth" // a provider answered 401, 402 or 403
	AlertGroupBalance  AlertKind = "group_balance_low"
	AlertIPShared      AlertKind = "ip_shared"      // one address used by many groups
	AlertUnpricedModel AlertKind = "unpriced_model" // a model without a price was used
	AlertLogs          AlertKind = "logs"           // logs queueing, spilling or dropped
	AlertUsageSpike    AlertKind = "usage_spike"    // an hour far above the recent average
	AlertDatabaseDown  AlertKind = "database_down"
	AlertRedisDown     AlertKind = "redis_down"
)

// Alert is one thing an operator should hear of. Key identifies the
// condition for throttling: alerts with the same Key within the throttle
// window are sent once (a channel's breaker flapping alerts once). Text
// never holds a secret.
type Alert struct {
	Kind     AlertKind
	Severity AlertSeverity
	Key      string // "" means Kind
	Title    string
	Text     string
	// ChannelID, GroupID and Model say what the alert is about, when it is
	// about one (zero otherwise).
	ChannelID int64
	GroupID   string
	Model     string
	At        time.Time // zero means when it is sent
}

// ThrottleKey returns the key alerts are throttled by: Key, else Kind.
func (a *Alert) ThrottleKey() string {
	if a.Key != "" {
		return a.Key
	}
	return string(a.Kind)
}

// AlertRecord is an alert the notifier let through, as the history keeps
// it.
type AlertRecord struct {
	ID int64
	Alert
	// Delivered says a sink took it; false when every sink failed.
	Delivered bool
}

// AlertFilter selects alert records. Zero fields do not filter.
type AlertFilter struct {
	Kind      AlertKind
	ChannelID int64
	Before    int64 // only records with ID < Before (the pagination cursor)
	Limit     int   // at most this many; 0 means 50
}

// AlertHistory keeps the alerts sent.
type AlertHistory interface {
	// RecordAlert stores r, setting its ID.
	RecordAlert(ctx context.Context, r *AlertRecord) error
	// Alerts returns the records matching f, newest first, and whether
	// more follow.
	Alerts(ctx context.Context, f AlertFilter) (records []*AlertRecord, more bool, err error)
}

// AlertChannelBalance is the kind of the alert sent when a channel's
// balance at its provider falls below the channel's LowBalance.
const AlertChannelBalance AlertKind = "channel_balance_low"

// AlertSinkKind says where an AlertSink delivers.
type AlertSinkKind string

// Alert sink kinds.
const (
	SinkWebhook AlertSinkKind = "webhook" // a JSON object posted to URL
	SinkSlack   AlertSinkKind = "slack"   // a Slack-compatible incoming webhook
	SinkFeishu  AlertSinkKind = "feishu"  // a Feishu/Lark custom bot, signed with Secret when set
)

// Valid reports whether k is a known sink kind.
func (k AlertSinkKind) Valid() bool { return k == SinkWebhook || k == SinkSlack || k == SinkFeishu }

// AlertSink is a destination of alerts administered over the admin API
// (besides those of the ALERT_* settings). URL and Secret are secrets (a
// chat webhook's URL is its credential): once stored, the admin API shows
// the URL's host only and whether a secret is set.
type AlertSink struct {
	ID     int64
	Name   string
	Kind   AlertSinkKind
	URL    string
	Secret string // Feishu's signature secret; "" for none
	// AllowPrivateNetwork lets the sink reach loopback, private and
	// link-local addresses (an in-cluster receiver).
	AllowPrivateNetwork bool
	Enabled             bool
	// Kinds are the alert kinds the sink receives; empty means every kind.
	Kinds []AlertKind
	// MinSeverity is the least severity the sink receives; "" means every
	// alert (info included).
	MinSeverity AlertSeverity
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// AlertSinkUpdate changes the fields of an AlertSink that are not nil.
type AlertSinkUpdate struct {
	Name                *string
	URL                 *string
	Secret              *string // "" removes it
	AllowPrivateNetwork *bool
	Enabled             *bool
	Kinds               *[]AlertKind
	MinSeverity         *AlertSeverity
}

// Apply changes s by u.
func (u AlertSinkUpdate) Apply(s *AlertSink) {
	if u.Name != nil {
		s.Name = *u.Name
	}
	if u.URL != nil {
		s.URL = *u.URL
	}
	if u.Secret != nil {
		s.Secret = *u.Secret
	}
	if u.AllowPrivateNetwork != nil {
		s.AllowPrivateNetwork = *u.AllowPrivateNetwork
	}
	if u.Enabled != nil {
		s.Enabled = *u.Enabled
	}
	if u.Kinds != nil {
		s.Kinds = *u.Kinds
	}
	if u.MinSeverity != nil {
		s.MinSeverity = *u.MinSeverity
	}
}

// SeverityRank orders severities: info 0, warning 1, critical 2; -1 for an
// unknown one.
func SeverityRank(s AlertSeverity) int {
	switch s {
	case SeverityInfo:
		return 0
	case SeverityWarning:
		return 1
	case SeverityCritical:
		return 2
	}
	return -1
}

// Wants reports whether the sink takes a.
func (s *AlertSink) Wants(a *Alert) bool {
	if !s.Enabled || SeverityRank(a.Severity) < SeverityRank(s.MinSeverity) {
		return false
	}
	if len(s.Kinds) == 0 {
		return true
	}
	for _, k := range s.Kinds {
		if k == a.Kind {
			return true
		}
	}
	return false
}

// Validate checks s and normalizes it; it returns an EINVALID *Error
// naming the field.
func (s *AlertSink) Validate() error {
	s.Name = strings.TrimSpace(s.Name)
	switch {
	case s.Name == "" || len(s.Name) > 128:
		return FieldErrorf("name", "name is required, at most 128 characters")
	case !s.Kind.Valid():
		return FieldErrorf("kind", "kind must be WEBHOOK, SLACK or FEISHU")
	case s.MinSeverity != "" && SeverityRank(s.MinSeverity) < 0:
		return FieldErrorf("minSeverity", "minSeverity must be info, warning or critical")
	case s.Secret != "" && s.Kind != SinkFeishu:
		return FieldErrorf("secret", "only a FEISHU sink has a secret")
	}
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return FieldErrorf("url", "url must be an absolute http or https URL")
	}
	for _, k := range s.Kinds {
		if !slices.Contains(AlertKinds, k) {
			return FieldErrorf("kinds", "%q is not an alert kind", k)
		}
	}
	return nil
}

// AlertKinds lists every alert kind.
var AlertKinds = []AlertKind{AlertBreakerOpen, AlertBreakerClosed, AlertErrorRate, AlertProviderAuth, AlertGroupBalance,
	AlertChannelBalance, AlertIPShared, AlertUnpricedModel, AlertLogs, AlertUsageSpike, AlertDatabaseDown, AlertRedisDown}

// AlertSettings are the thresholds and throttle of the alerts, shared by
// every replica. A zero field means the server's setting (ALERT_*); a
// negative ErrorRate or SpikeFactor switches that trigger off.
type AlertSettings struct {
	// Throttle is how long an alert key stays quiet after it alerted.
	Throttle time.Duration
	// ErrorRate is the error rate (0 to 1) at or above which a channel is
	// warned about.
	ErrorRate float64
	// SpikeFactor alerts when an hour's requests pass this many times the
	// recent average, and at least SpikeMin requests.
	SpikeFactor float64
	SpikeMin    int64
	// LogQueueWarn is the log queue length that alerts.
	LogQueueWarn int
	UpdatedAt    time.Time
}

// Validate checks s, returning an EINVALID *Error naming the field.
func (s *AlertSettings) Validate() error {
	switch {
	case s.Throttle < 0:
		return FieldErrorf("throttleSeconds", "throttleSeconds must not be negative")
	case s.ErrorRate > 1:
		return FieldErrorf("errorRate", "errorRate must be at most 1")
	case s.SpikeMin < 0:
		return FieldErrorf("spikeMin", "spikeMin must not be negative")
	case s.LogQueueWarn < 0:
		return FieldErrorf("logQueueWarn", "logQueueWarn must not be negative")
	}
	return nil
}

// Over returns the settings in effect: each of s's fields that is set
// over d's (the server's), a negative ErrorRate or SpikeFactor, switched
// off, as 0; UpdatedAt is s's.
func (s AlertSettings) Over(d AlertSettings) AlertSettings {
	pick := func(set, base float64) float64 {
		switch {
		case set < 0:
			return 0
		case set > 0:
			return set
		}
		return base
	}
	out := AlertSettings{Throttle: d.Throttle, ErrorRate: pick(s.ErrorRate, d.ErrorRate), SpikeFactor: pick(s.SpikeFactor, d.SpikeFactor),
		SpikeMin: d.SpikeMin, LogQueueWarn: d.LogQueueWarn, UpdatedAt: s.UpdatedAt}
	if s.Throttle > 0 {
		out.Throttle = s.Throttle
	}
	if s.SpikeMin > 0 {
		out.SpikeMin = s.SpikeMin
	}
	if s.LogQueueWarn > 0 {
		out.LogQueueWarn = s.LogQueueWarn
	}
	return out
}

// AlertService administers the alert sinks and settings. Errors: ENOTFOUND
// for an unknown sink, EINVALID from Validate.
type AlertService interface {
	AlertSinks(ctx context.Context) ([]*AlertSink, error)
	AlertSink(ctx context.Context, id int64) (*AlertSink, error)
	CreateAlertSink(ctx context.Context, s *AlertSink) error
	// UpdateAlertSink applies upd to sink id and returns it as stored.
	UpdateAlertSink(ctx context.Context, id int64, upd AlertSinkUpdate) (*AlertSink, error)
	DeleteAlertSink(ctx context.Context, id int64) error
	// AlertSettings returns the stored settings (zero when none were set).
	AlertSettings(ctx context.Context) (*AlertSettings, error)
	SetAlertSettings(ctx context.Context, s *AlertSettings) error
}
