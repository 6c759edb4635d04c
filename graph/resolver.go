package graph

//go:generate go tool gqlgen generate

import (
	"context"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
)

// Resolver holds the services the admin API works on; the fields up to
// Providers are required, the others say what nil means. The fields are named after their interfaces because the
// resolvers embed Resolver and have methods such as Channels.
type Resolver struct {
	ChannelService     aiproxy.ChannelService
	GroupService       aiproxy.GroupService
	TokenService       aiproxy.TokenService
	ModelConfigService aiproxy.ModelConfigService
	LogService         aiproxy.LogService
	// Providers is the registry of channel types.
	Providers relay.Providers
	// Health is the channels' health routing reads, for channelHealth and
	// resetChannelHealth; nil answers with no health and resets nothing.
	Health HealthAdmin
	// Tester sends testChannel's request; nil refuses testChannel.
	Tester ChannelTester
	// Balances reads and keeps channels' balances; nil: none known.
	Balances BalanceService
	// GroupModelConfigService keeps per-group model overrides; nil answers
	// the groups' overrides with an INTERNAL error and computes effective
	// values without overrides.
	GroupModelConfigService aiproxy.GroupModelConfigService
	// BillingService changes balances and reads their audit trail; nil
	// refuses topUpBalance and adjustBalance (INTERNAL) and lists no
	// balance entries.
	BillingService aiproxy.BillingService
	// Effective answers effectiveModel as the relay sees it (store.Cache);
	// nil computes it from the services and Catalogue.
	Effective Effective
	// Catalogue is the price catalogue; nil means aiproxy.BuiltinCatalogue().
	Catalogue *aiproxy.Catalogue
	// QuotaLocation is the time zone token quota periods start in
	// (QUOTA_TIME_ZONE); nil means UTC.
	QuotaLocation *time.Location
	// Live is the live traffic of liveMetrics and logAdded; nil answers
	// them with an INTERNAL error.
	Live LiveFeed
	// AlertHistory is the alert history of alerts; nil answers it with
	// no records.
	AlertHistory aiproxy.AlertHistory
	// AlertService keeps the administered alert sinks and settings
	// (store.Store); nil answers their queries and mutations with an
	// INTERNAL error.
	AlertService aiproxy.AlertService
	// AlertAdmin tests sinks (alert.Notifier); nil refuses testAlertSink.
	AlertAdmin AlertAdmin
	// AlertDefaults are the server's alert settings (ALERT_*), in effect
	// where nothing is stored.
	AlertDefaults aiproxy.AlertSettings
	// MCPAdmin administers the hosted MCP servers (mcp.Admin); nil
	// answers the MCP queries and mutations with an INTERNAL error.
	MCPAdmin aiproxy.MCPAdmin
	// AnalyticsService reads the usage summaries (store.Store); nil
	// answers the analytics queries with an INTERNAL error.
	AnalyticsService aiproxy.AnalyticsService
}

// Effective returns what applies to a group's requests for a model
// (store.Cache.Effective).
type Effective interface {
	Effective(g *aiproxy.Group, model string) aiproxy.EffectiveModel
}

// BalanceService reads channels' balances from their providers
// (relay.Balances).
type BalanceService interface {
	Balance(id int64) (aiproxy.Balance, bool)
	Refresh(ctx context.Context, ch *aiproxy.Channel) (aiproxy.Balance, bool, error)
}

// HealthAdmin is what the admin API needs of channel health (store's
// MemoryHealth and RedisHealth).
type HealthAdmin interface {
	Snapshot() []aiproxy.ChannelHealth
	Reset(ch int64)
}

// ChannelTester tests a channel with a real request (relay.Server).
type ChannelTester interface {
	TestChannel(ctx context.Context, ch *aiproxy.Channel, model string) (*relay.ChannelTest, error)
}

// orNotFound turns ENOTFOUND into a null answer, for the lookups whose field
// is nullable: a missing entity is not an error there.
func orNotFound[T any](v *T, err error) (*T, error) {
	if aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
		return nil, nil
	}
	return v, err
}
