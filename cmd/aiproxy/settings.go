package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/views/settings"
)

// adminSettings returns the configuration the admin UI's Settings page
// lists. Secrets (keys, DSNs and Redis URLs, which may hold passwords,
// the metrics token, the alert sinks' URLs and secret) are marked Secret:
// the page only says whether they are set.
func (c *Config) adminSettings() []settings.Setting {
	type s = settings.Setting
	dur := func(d time.Duration) string { return d.String() }
	num := func(n int64) string { return strconv.FormatInt(n, 10) }
	flt := func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
	list := func(v []string) string { return strings.Join(v, ", ") }
	// set keeps no secret in the page's data: only whether it is set.
	set := func(v string) string {
		if v == "" {
			return ""
		}
		return "set"
	}
	database := "SQLite at " + c.SQLitePath
	if c.SQLDSN != "" {
		database = "SQL_DSN"
	}
	var proxies []string
	for _, p := range c.TrustedProxies {
		proxies = append(proxies, p.String())
	}
	var timeouts []string
	for _, m := range aiproxy.Modes {
		if d, ok := c.Timeouts[m]; ok {
			timeouts = append(timeouts, string(m)+" "+d.String())
		}
	}
	server, relay, limits := settings.SectionServer, settings.SectionRelay, settings.SectionLimits
	logs, mon, mcp := settings.SectionLogs, settings.SectionMonitoring, settings.SectionMCP
	return []s{
		{Section: server, Name: "LISTEN", Value: c.Listen, Description: "The address the gateway listens on."},
		{Section: server, Name: "ADMIN_KEY", Value: set(c.AdminKey), Secret: true, Description: "The admin key (generated at the first start when unset)."},
		{Section: server, Name: "Database", Value: database, Description: "Where channels, groups, tokens and configs are kept."},
		{Section: server, Name: "SQL_DSN", Value: set(c.SQLDSN), Secret: true, Description: "The main database's DSN; empty means SQLite at SQLITE_PATH."},
		{Section: server, Name: "LOG_SQL_DSN", Value: set(c.LogSQLDSN), Secret: true, Description: "The log database's DSN; empty means the main database."},
		{Section: server, Name: "REDIS", Value: set(c.Redis), Secret: true, Description: "Redis, shared by the replicas; empty means none."},
		{Section: server, Name: "REDIS_PREFIX", Value: c.RedisPrefix, Description: "The prefix of the Redis keys; empty means aiproxy:."},
		{Section: server, Name: "TRUSTED_PROXIES", Value: list(proxies), Description: "Networks whose X-Forwarded-For is believed."},
		{Section: server, Name: "GRAPHQL_ORIGINS", Value: list(c.GraphQLOrigins), Description: "Other web pages' hosts that may open the admin API's WebSockets."},
		{Section: server, Name: "SHUTDOWN_TIMEOUT", Value: dur(c.ShutdownTimeout), Description: "How long a shutdown waits for requests in flight."},
		{Section: relay, Name: "MAX_ATTEMPTS", Value: strconv.Itoa(c.MaxAttempts), Description: "Channels one request may try."},
		{Section: relay, Name: "MAX_REQUEST_BODY_MB", Value: flt(float64(c.MaxBodyBytes) / (1 << 20)), Description: "The largest request body, in MiB."},
		{Section: relay, Name: "UPSTREAM_DIAL_TIMEOUT", Value: dur(c.DialTimeout), Description: "Connecting to a provider."},
		{Section: relay, Name: "UPSTREAM_HEADER_TIMEOUT", Value: dur(c.HeaderTimeout), Description: "Waiting for a provider's response headers."},
		{Section: relay, Name: "STREAM_IDLE_TIMEOUT", Value: dur(c.StreamIdleTimeout), Description: "The longest silence within a stream."},
		{Section: relay, Name: "STREAM_FIRST_EVENT_TIMEOUT", Value: dur(c.FirstEventTimeout), Description: "Waiting for a stream's first event."},
		{Section: relay, Name: "TIMEOUT_<TYPE>", Value: list(timeouts), Description: "A non-streaming attempt's limit per model type."},
		{Section: relay, Name: "BREAKER_THRESHOLD", Value: flt(c.Breaker.Threshold), Description: "The error rate that opens a channel's breaker."},
		{Section: relay, Name: "BREAKER_MIN_REQUESTS", Value: strconv.Itoa(c.Breaker.MinRequests), Description: "Requests in the window before its error rate counts."},
		{Section: relay, Name: "BREAKER_WINDOW", Value: dur(c.Breaker.Window), Description: "The span error rates are counted over."},
		{Section: relay, Name: "BREAKER_COOLDOWN", Value: dur(c.Breaker.Cooldown) + " to " + dur(c.Breaker.MaxCooldown), Description: "How long an open breaker waits (BREAKER_MAX_COOLDOWN the longest)."},
		{Section: relay, Name: "BALANCE_REFRESH_INTERVAL", Value: dur(c.BalanceRefresh), Description: "How often channels' balances are read."},
		{Section: limits, Name: "BILLING_ENABLED", Value: strconv.FormatBool(c.Billing), Description: "Refuse requests a quota or a prepaid balance does not cover."},
		{Section: limits, Name: "RESERVE_OUTPUT_TOKENS", Value: num(c.ReserveOutput), Description: "The output reserved for a request naming no maximum."},
		{Section: limits, Name: "GROUP_MAX_TOKEN_NUM", Value: strconv.Itoa(c.MaxTokensPerGroup), Description: "Tokens one group may have; 0: no cap."},
		{Section: limits, Name: "QUOTA_TIME_ZONE", Value: c.QuotaLocation.String(), Description: "Where quota periods begin."},
		{Section: limits, Name: "IP_GROUPS_THRESHOLD", Value: strconv.Itoa(c.IPGroupsWarn), Description: "Groups one address may use before an alert; 0: never."},
		{Section: limits, Name: "IP_GROUPS_BAN_THRESHOLD", Value: strconv.Itoa(c.IPGroupsBan), Description: "Groups one address may use before it is banned; 0: never."},
		{Section: limits, Name: "IP_GROUPS_BAN_DURATION", Value: dur(c.IPGroupsBanFor), Description: "How long such a ban lasts."},
		{Section: logs, Name: "SAVE_ALL_LOG_DETAIL", Value: strconv.FormatBool(c.SaveAllLogDetail), Description: "Keep every request's and response's body."},
		{Section: logs, Name: "LOG_DETAIL_MAX_BYTES", Value: strconv.Itoa(c.LogDetailMaxBytes), Description: "The most kept of each body."},
		{Section: logs, Name: "LOG_STORAGE_HOURS", Value: flt(c.LogStorageHours), Description: "How long logs are kept; 0: forever."},
		{Section: logs, Name: "LOG_DETAIL_STORAGE_HOURS", Value: flt(c.LogDetailStorageHours), Description: "How long bodies are kept."},
		{Section: logs, Name: "CLEAN_LOG_BATCH_SIZE", Value: strconv.Itoa(c.CleanLogBatchSize), Description: "Rows one cleaning DELETE removes."},
		{Section: logs, Name: "LOG_SPILL_DIR", Value: c.spillDir(), Description: "Where logs wait while the log database is away."},
		{Section: logs, Name: "SUMMARY_FLUSH_INTERVAL", Value: dur(c.SummaryFlushInterval), Description: "How often usage summaries are written."},
		{Section: mon, Name: "METRICS_ENABLED", Value: strconv.FormatBool(c.MetricsEnabled), Description: "Serve Prometheus metrics at /metrics."},
		{Section: mon, Name: "METRICS_TOKEN", Value: set(c.MetricsToken), Secret: true, Description: "A token that reads /metrics besides the admin key."},
		{Section: mon, Name: "METRICS_MAX_MODELS", Value: strconv.Itoa(c.MetricsMaxModels), Description: "Distinct model labels before \"other\"."},
		{Section: mon, Name: "METRICS_MAX_GROUPS", Value: strconv.Itoa(c.MetricsMaxGroups), Description: "Distinct group labels before \"other\"."},
		{Section: mon, Name: "ALERT_WEBHOOK_URL", Value: set(c.AlertWebhookURL), Secret: true, Description: "A JSON webhook alerts are posted to."},
		{Section: mon, Name: "ALERT_SLACK_URL", Value: set(c.AlertSlackURL), Secret: true, Description: "A Slack-compatible webhook for alerts."},
		{Section: mon, Name: "ALERT_FEISHU_URL", Value: set(c.AlertFeishuURL), Secret: true, Description: "A Feishu/Lark bot for alerts."},
		{Section: mon, Name: "ALERT_FEISHU_SECRET", Value: set(c.AlertFeishuSecret), Secret: true, Description: "The Feishu bot's signing secret."},
		{Section: mon, Name: "ALERT_ALLOW_PRIVATE_NETWORK", Value: strconv.FormatBool(c.AlertAllowPrivateNetwork), Description: "Let these sinks reach internal addresses."},
		{Section: mon, Name: "ALERT_CHECK_INTERVAL", Value: dur(c.AlertCheckInterval), Description: "How often breakers, logs, usage, the database and Redis are checked."},
		{Section: mon, Name: "ALERT_THROTTLE", Value: dur(c.AlertThrottle), Description: "The server's throttle (the Alerts page may override it)."},
		{Section: mon, Name: "ALERT_ERROR_RATE", Value: flt(c.AlertErrorRate), Description: "The server's channel error rate that warns (the Alerts page may override it)."},
		{Section: mon, Name: "ALERT_SPIKE_FACTOR", Value: flt(c.AlertSpikeFactor), Description: "The server's usage spike factor (the Alerts page may override it)."},
		{Section: mcp, Name: "MCP_ORIGINS", Value: list(c.MCPOrigins), Description: "Browser origins allowed to call the MCP endpoints."},
		{Section: mcp, Name: "MCP_SESSION_TTL", Value: dur(c.MCPSessionTTL), Description: "How long an MCP session lives after its last request."},
		{Section: mcp, Name: "MCP_TOOL_RPM", Value: num(c.MCPToolRPM), Description: "Each group's calls of each tool per minute; 0: no cap."},
	}
}
