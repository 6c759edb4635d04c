package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aiproxy/aiproxy"
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
