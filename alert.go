package aiproxy

import (
	"context"
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
