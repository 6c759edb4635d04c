package main

import (
	"bufio"
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/store"
)

// Config is the gateway's configuration, read from the environment (and a
// .env file in the working directory). The README documents every variable.
type Config struct {
	Listen            string        // LISTEN
	AdminKey          string        // ADMIN_KEY; generated when unset
	SQLDSN            string        // SQL_DSN; "" means SQLite at SQLitePath
	LogSQLDSN         string        // LOG_SQL_DSN; "" means the main database
	SQLitePath        string        // SQLITE_PATH
	Redis             string        // REDIS; "" means no Redis: each replica sees others' writes only on its periodic refresh
	SaveAllLogDetail  bool          // SAVE_ALL_LOG_DETAIL
	MaxBodyBytes      int64         // MAX_REQUEST_BODY_MB
	DialTimeout       time.Duration // UPSTREAM_DIAL_TIMEOUT
	HeaderTimeout     time.Duration // UPSTREAM_HEADER_TIMEOUT
	StreamIdleTimeout time.Duration // STREAM_IDLE_TIMEOUT
	ShutdownTimeout   time.Duration // SHUTDOWN_TIMEOUT
	// MaxAttempts is MAX_ATTEMPTS: channels one request may try.
	MaxAttempts int
	// Timeouts are TIMEOUT_<TYPE> (TIMEOUT_CHAT, TIMEOUT_EMBEDDINGS, ...):
	// a non-streaming attempt's limit per model type; FirstEventTimeout
	// is STREAM_FIRST_EVENT_TIMEOUT.
	Timeouts          map[aiproxy.Mode]time.Duration
	FirstEventTimeout time.Duration
	// BalanceRefresh is BALANCE_REFRESH_INTERVAL: how often channels'
	// balances are read from their providers.
	BalanceRefresh time.Duration
	// Breaker is BREAKER_THRESHOLD, BREAKER_MIN_REQUESTS, BREAKER_WINDOW,
	// BREAKER_COOLDOWN and BREAKER_MAX_COOLDOWN.
	Breaker aiproxy.BreakerPolicy

	RedisPrefix string // REDIS_PREFIX; "" means "aiproxy:"
	// GraphQLOrigins is GRAPHQL_ORIGINS: the hosts (patterns such as
	// *.example.com) of the web pages, besides the gateway's own, that may
	// open the admin API's WebSockets.
	GraphQLOrigins []string
	// MCPOrigins is MCP_ORIGINS: the browser origins (such as
	// https://app.example.com; * for any), besides the gateway's own
	// host, allowed to call the MCP endpoints.
	MCPOrigins []string
	// MCPSessionTTL is MCP_SESSION_TTL: how long an MCP session lives
	// after its last request.
	MCPSessionTTL time.Duration
	// MCPToolRPM is MCP_TOOL_RPM: each group's calls of each MCP tool per
	// minute (0: no cap beyond the token's RPM).
	MCPToolRPM int64

	// Billing is BILLING_ENABLED: refuse requests a token's quota or a
	// prepaid group's balance does not cover.
	Billing bool
	// MaxTokensPerGroup is GROUP_MAX_TOKEN_NUM (0: no cap).
	MaxTokensPerGroup int
	// TrustedProxies is TRUSTED_PROXIES: networks whose X-Forwarded-For
	// is believed.
	TrustedProxies []netip.Prefix
	// QuotaLocation is QUOTA_TIME_ZONE, where quota periods begin.
	QuotaLocation *time.Location
	// ReserveOutput is RESERVE_OUTPUT_TOKENS: the output reserved for a
	// request that names no maximum.
	ReserveOutput int64
	// IPGroupsWarn, IPGroupsBan and IPGroupsBanFor are IP_GROUPS_THRESHOLD,
	// IP_GROUPS_BAN_THRESHOLD and IP_GROUPS_BAN_DURATION.
	IPGroupsWarn, IPGroupsBan int
	IPGroupsBanFor            time.Duration

	// Log storage (issue 8): LOG_DETAIL_MAX_BYTES caps each kept body;
	// LOG_SPILL_DIR is where logs wait while the log database is away
	// ("" means beside the SQLite file, or aiproxy-spill in the temporary
	// directory); LOG_STORAGE_HOURS (0: forever), LOG_DETAIL_STORAGE_HOURS
	// and CLEAN_LOG_BATCH_SIZE are the retention of logs and their bodies
	// and the rows one DELETE removes.
	LogDetailMaxBytes     int
	LogSpillDir           string
	LogStorageHours       float64
	LogDetailStorageHours float64
	CleanLogBatchSize     int

	// SummaryFlushInterval is SUMMARY_FLUSH_INTERVAL (issue 8): how
	// often the usage summaries are written to the log database.
	SummaryFlushInterval time.Duration

	// Prometheus (issue 8): METRICS_ENABLED serves /metrics, readable
	// with the admin key or METRICS_TOKEN; METRICS_MAX_MODELS and
	// METRICS_MAX_GROUPS cap the distinct model and group label values
	// (later ones are counted as "other").
	MetricsEnabled                     bool
	MetricsToken                       string
	MetricsMaxModels, MetricsMaxGroups int

	// Alerts (issue 8): ALERT_WEBHOOK_URL (JSON), ALERT_SLACK_URL,
	// ALERT_FEISHU_URL with ALERT_FEISHU_SECRET (its signing secret) are
	// the sinks besides the server log; ALERT_ALLOW_PRIVATE_NETWORK lets
	// them reach internal addresses; ALERT_THROTTLE is how long one alert
	// key stays quiet after it alerted; ALERT_ERROR_RATE the error rate
	// that warns about a channel (0: never); ALERT_CHECK_INTERVAL how
	// often breakers, logs, usage, the database and Redis are checked.
	AlertWebhookURL, AlertSlackURL    string
	AlertFeishuURL, AlertFeishuSecret string
	AlertAllowPrivateNetwork          bool
	AlertThrottle, AlertCheckInterval time.Duration
	AlertErrorRate                    float64
	// AlertSpikeFactor is ALERT_SPIKE_FACTOR: an hour with that many
	// times the recent hourly average of requests alerts (0: never).
	AlertSpikeFactor float64
}

// loadConfig reads the configuration through getenv.
func loadConfig(getenv func(string) string) (Config, error) {
	env := func(k, def string) string {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
		return def
	}
	c := Config{
		Listen:      env("LISTEN", ":3000"),
		AdminKey:    env("ADMIN_KEY", ""),
		SQLDSN:      env("SQL_DSN", ""),
		LogSQLDSN:   env("LOG_SQL_DSN", ""),
		SQLitePath:  env("SQLITE_PATH", filepath.Join("data", "aiproxy.db")),
		Redis:       env("REDIS", ""),
		RedisPrefix: env("REDIS_PREFIX", ""),
	}
	var errs []error
	boolean := func(k string, def bool) bool {
		v, err := strconv.ParseBool(env(k, strconv.FormatBool(def)))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: want true or false", k))
		}
		return v
	}
	duration := func(k string, def time.Duration) time.Duration {
		v, err := time.ParseDuration(env(k, def.String()))
		if err != nil || v <= 0 {
			errs = append(errs, fmt.Errorf("%s: want a positive duration such as 30s or 5m", k))
		}
		return v
	}
	c.SaveAllLogDetail = boolean("SAVE_ALL_LOG_DETAIL", false)
	c.MetricsEnabled = boolean("METRICS_ENABLED", true)
	c.MetricsToken = env("METRICS_TOKEN", "")
	c.AlertWebhookURL = env("ALERT_WEBHOOK_URL", "")
	c.AlertSlackURL = env("ALERT_SLACK_URL", "")
	c.AlertFeishuURL = env("ALERT_FEISHU_URL", "")
	c.AlertFeishuSecret = env("ALERT_FEISHU_SECRET", "")
	c.AlertAllowPrivateNetwork = boolean("ALERT_ALLOW_PRIVATE_NETWORK", false)
	c.AlertThrottle = duration("ALERT_THROTTLE", 10*time.Minute)
	c.AlertCheckInterval = duration("ALERT_CHECK_INTERVAL", 15*time.Second)
	c.SummaryFlushInterval = duration("SUMMARY_FLUSH_INTERVAL", 10*time.Second)
	for k, u := range map[string]string{"ALERT_WEBHOOK_URL": c.AlertWebhookURL, "ALERT_SLACK_URL": c.AlertSlackURL, "ALERT_FEISHU_URL": c.AlertFeishuURL} {
		if u != "" && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
			errs = append(errs, fmt.Errorf("%s: want an http:// or https:// URL", k))
		}
	}
	c.LogSpillDir = env("LOG_SPILL_DIR", "")
	mb, err := strconv.ParseFloat(env("MAX_REQUEST_BODY_MB", "32"), 64)
	if err != nil || mb <= 0 {
		errs = append(errs, errors.New("MAX_REQUEST_BODY_MB: want a positive number of MiB"))
	}
	c.MaxBodyBytes = int64(mb * (1 << 20))
	c.DialTimeout = duration("UPSTREAM_DIAL_TIMEOUT", 10*time.Second)
	c.HeaderTimeout = duration("UPSTREAM_HEADER_TIMEOUT", 5*time.Minute)
	c.StreamIdleTimeout = duration("STREAM_IDLE_TIMEOUT", 5*time.Minute)
	c.ShutdownTimeout = duration("SHUTDOWN_TIMEOUT", 30*time.Second)
	number := func(k string, def, lo, hi float64) float64 {
		v, err := strconv.ParseFloat(env(k, strconv.FormatFloat(def, 'g', -1, 64)), 64)
		if err != nil || v < lo || v > hi {
			errs = append(errs, fmt.Errorf("%s: want a number from %g to %g", k, lo, hi))
		}
		return v
	}
	c.MaxAttempts = int(number("MAX_ATTEMPTS", 3, 1, 8))
	c.LogDetailMaxBytes = int(number("LOG_DETAIL_MAX_BYTES", 64<<10, 256, 64<<20))
	c.LogStorageHours = number("LOG_STORAGE_HOURS", 0, 0, 1e6)
	c.LogDetailStorageHours = number("LOG_DETAIL_STORAGE_HOURS", 72, 0, 1e6)
	c.CleanLogBatchSize = int(number("CLEAN_LOG_BATCH_SIZE", 5000, 1, 1e6))
	c.MetricsMaxModels = int(number("METRICS_MAX_MODELS", 100, 1, 1e5))
	c.MetricsMaxGroups = int(number("METRICS_MAX_GROUPS", 100, 1, 1e5))
	c.AlertErrorRate = number("ALERT_ERROR_RATE", 0.3, 0, 1)
	c.AlertSpikeFactor = number("ALERT_SPIKE_FACTOR", 3, 0, 1e6)
	c.Timeouts = map[aiproxy.Mode]time.Duration{}
	for mode, def := range map[aiproxy.Mode]time.Duration{
		aiproxy.ModeChat: 5 * time.Minute, aiproxy.ModeCompletions: 5 * time.Minute, aiproxy.ModeResponses: 10 * time.Minute,
		aiproxy.ModeEmbeddings: time.Minute, aiproxy.ModeModeration: time.Minute, aiproxy.ModeRerank: time.Minute,
		aiproxy.ModeImages: 5 * time.Minute, aiproxy.ModeAudio: 5 * time.Minute,
	} {
		c.Timeouts[mode] = duration("TIMEOUT_"+strings.ToUpper(string(mode)), def)
	}
	c.FirstEventTimeout = duration("STREAM_FIRST_EVENT_TIMEOUT", 2*time.Minute)
	c.BalanceRefresh = duration("BALANCE_REFRESH_INTERVAL", 15*time.Minute)
	c.Breaker = aiproxy.BreakerPolicy{
		Threshold:   number("BREAKER_THRESHOLD", aiproxy.DefaultBreakerThreshold, 0.01, 1),
		MinRequests: int(number("BREAKER_MIN_REQUESTS", aiproxy.DefaultBreakerMinRequests, 1, 1e6)),
		Window:      duration("BREAKER_WINDOW", aiproxy.DefaultBreakerWindow),
		Cooldown:    duration("BREAKER_COOLDOWN", aiproxy.DefaultBreakerCooldown),
		MaxCooldown: duration("BREAKER_MAX_COOLDOWN", aiproxy.DefaultBreakerMaxCooldown),
	}
	c.Billing = boolean("BILLING_ENABLED", false)
	c.MaxTokensPerGroup = int(number("GROUP_MAX_TOKEN_NUM", 0, 0, 1e9))
	for _, p := range strings.Split(env("TRUSTED_PROXIES", ""), ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		pre, err := netip.ParsePrefix(p)
		if !strings.Contains(p, "/") {
			var a netip.Addr
			if a, err = netip.ParseAddr(p); err == nil {
				pre = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("TRUSTED_PROXIES: %q is not an IP address or CIDR network", p))
			continue
		}
		c.TrustedProxies = append(c.TrustedProxies, pre.Masked())
	}
	for _, o := range strings.Split(env("GRAPHQL_ORIGINS", ""), ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		if _, err := path.Match(o, ""); err != nil {
			errs = append(errs, fmt.Errorf("GRAPHQL_ORIGINS: %q is not a host pattern", o))
			continue
		}
		c.GraphQLOrigins = append(c.GraphQLOrigins, o)
	}
	for _, o := range strings.Split(env("MCP_ORIGINS", ""), ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.MCPOrigins = append(c.MCPOrigins, o)
		}
	}
	c.MCPSessionTTL = duration("MCP_SESSION_TTL", 30*time.Minute)
	c.MCPToolRPM = int64(number("MCP_TOOL_RPM", 0, 0, 1e9))
	loc, err := time.LoadLocation(env("QUOTA_TIME_ZONE", "UTC"))
	if err != nil {
		errs = append(errs, fmt.Errorf("QUOTA_TIME_ZONE: want an IANA time zone such as UTC or Europe/Berlin"))
		loc = time.UTC
	}
	c.QuotaLocation = loc
	c.ReserveOutput = int64(number("RESERVE_OUTPUT_TOKENS", 1024, 1, 1e7))
	c.IPGroupsWarn = int(number("IP_GROUPS_THRESHOLD", 0, 0, 1e6))
	c.IPGroupsBan = int(number("IP_GROUPS_BAN_THRESHOLD", 0, 0, 1e6))
	c.IPGroupsBanFor = duration("IP_GROUPS_BAN_DURATION", time.Hour)
	if c.Redis != "" && !strings.HasPrefix(c.Redis, "redis://") && !strings.HasPrefix(c.Redis, "rediss://") && !strings.HasPrefix(c.Redis, "unix://") {
		errs = append(errs, errors.New("REDIS: want a URL such as redis://127.0.0.1:6379/0"))
	}
	return c, errors.Join(errs...)
}

// DSN returns the main database's DSN: SQL_DSN, or the SQLite path.
func (c Config) DSN() string {
	if c.SQLDSN != "" {
		return c.SQLDSN
	}
	return c.SQLitePath
}

// spillDir is where logs wait while the log database is away:
// LOG_SPILL_DIR, else beside the SQLite file the logs go to, else a
// directory of the log database's own (named by a hash of its DSN) under
// aiproxy-spill in the temporary directory.
func (c Config) spillDir() string {
	switch {
	case c.LogSpillDir != "":
		return c.LogSpillDir
	case c.SQLDSN == "" && c.LogSQLDSN == "":
		return filepath.Join(filepath.Dir(c.SQLitePath), "log-spill")
	}
	dsn := cmp.Or(c.LogSQLDSN, c.DSN())
	sum := sha256.Sum256([]byte(dsn))
	return filepath.Join(os.TempDir(), "aiproxy-spill", hex.EncodeToString(sum[:6]))
}

// logStorage is the retention of LOG_STORAGE_HOURS,
// LOG_DETAIL_STORAGE_HOURS and CLEAN_LOG_BATCH_SIZE.
func (c Config) logStorage() store.LogCleanerOptions {
	return store.LogCleanerOptions{
		LogRetention:    time.Duration(c.LogStorageHours * float64(time.Hour)),
		DetailRetention: time.Duration(c.LogDetailStorageHours * float64(time.Hour)),
		BatchSize:       c.CleanLogBatchSize,
	}
}

// adminKeyFile is where a generated admin key is kept: next to the
// SQLite database.
func (c Config) adminKeyFile() string {
	return filepath.Join(filepath.Dir(c.SQLitePath), "admin.key")
}

// newAdminKey returns a new random admin key.
func newAdminKey() string {
	var b [24]byte
	rand.Read(b[:])
	return "admin-" + hex.EncodeToString(b[:])
}

// ensureAdminKey fills c.AdminKey when ADMIN_KEY is unset and the
// database is the embedded SQLite one: from the key file, or with a new
// random key that is saved there (mode 0600). It reports whether the key
// was generated now, so the caller prints it once. With a shared database
// (SQL_DSN) it does nothing: newApp keeps a generated key's hash in the
// database instead, so that every replica accepts the same key.
func (c *Config) ensureAdminKey() (generated bool, err error) {
	if c.AdminKey != "" || c.SQLDSN != "" {
		return false, nil
	}
	path := c.adminKeyFile()
	if b, err := os.ReadFile(path); err == nil {
		if c.AdminKey = strings.TrimSpace(string(b)); c.AdminKey != "" {
			return false, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("read admin key: %w", err)
	}
	c.AdminKey = newAdminKey()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, fmt.Errorf("save admin key: %w", err)
	}
	if err := os.WriteFile(path, []byte(c.AdminKey+"\n"), 0o600); err != nil {
		return false, fmt.Errorf("save admin key: %w", err)
	}
	return true, nil
}

// loadDotEnv sets the variables of a .env file (KEY=VALUE lines, '#'
// comments, optional "export " and quotes) that are not already set in the
// environment. A missing file is not an error.
func loadDotEnv(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return fmt.Errorf("%s:%d: want KEY=VALUE", path, n)
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		} else if i := strings.Index(v, " #"); i >= 0 {
			v = strings.TrimSpace(v[:i])
		}
		if _, set := os.LookupEnv(k); !set {
			os.Setenv(k, v)
		}
	}
	return sc.Err()
}
