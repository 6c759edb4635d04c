package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
)

func aiproxyFilter(before int64) aiproxy.LogFilter {
	return aiproxy.LogFilter{Before: before, Limit: 500}
}

func TestLoadConfig(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := loadConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":3000" || c.DSN() != filepath.Join("data", "aiproxy.db") || c.MaxBodyBytes != 32<<20 ||
		c.HeaderTimeout != 5*time.Minute || c.SaveAllLogDetail || c.AdminKey != "" {
		t.Errorf("defaults: %+v", c)
	}
	c, err = loadConfig(env(map[string]string{"SQL_DSN": "postgres://x/y", "MAX_REQUEST_BODY_MB": "0.5", "SAVE_ALL_LOG_DETAIL": "true", "STREAM_IDLE_TIMEOUT": "90s"}))
	if err != nil || c.DSN() != "postgres://x/y" || c.MaxBodyBytes != 512<<10 || !c.SaveAllLogDetail || c.StreamIdleTimeout != 90*time.Second {
		t.Errorf("set: %+v %v", c, err)
	}
	_, err = loadConfig(env(map[string]string{"MAX_REQUEST_BODY_MB": "lots", "UPSTREAM_HEADER_TIMEOUT": "-1s", "SAVE_ALL_LOG_DETAIL": "maybe", "REDIS": "localhost"}))
	for _, name := range []string{"MAX_REQUEST_BODY_MB", "UPSTREAM_HEADER_TIMEOUT", "SAVE_ALL_LOG_DETAIL", "REDIS"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("bad %s not reported: %v", name, err)
		}
	}

	// Routing: retries, timeouts per model type, the breaker.
	c, _ = loadConfig(env(nil))
	if c.MaxAttempts != 3 || c.Timeouts[aiproxy.ModeChat] != 5*time.Minute || c.Timeouts[aiproxy.ModeEmbeddings] != time.Minute ||
		c.FirstEventTimeout != 2*time.Minute || c.Breaker.WithDefaults() != (aiproxy.BreakerPolicy{}).WithDefaults() {
		t.Errorf("routing defaults: attempts %d timeouts %v first %v breaker %+v", c.MaxAttempts, c.Timeouts, c.FirstEventTimeout, c.Breaker)
	}
	c, err = loadConfig(env(map[string]string{"MAX_ATTEMPTS": "5", "TIMEOUT_EMBEDDINGS": "10s", "BREAKER_THRESHOLD": "0.3", "BREAKER_COOLDOWN": "2s"}))
	if err != nil || c.MaxAttempts != 5 || c.Timeouts[aiproxy.ModeEmbeddings] != 10*time.Second || c.Breaker.Threshold != 0.3 || c.Breaker.Cooldown != 2*time.Second {
		t.Errorf("routing set: %+v %v", c, err)
	}
	_, err = loadConfig(env(map[string]string{"MAX_ATTEMPTS": "0", "BREAKER_THRESHOLD": "2", "TIMEOUT_CHAT": "soon"}))
	for _, name := range []string{"MAX_ATTEMPTS", "BREAKER_THRESHOLD", "TIMEOUT_CHAT"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("bad %s not reported: %v", name, err)
		}
	}
}

func TestLoadDotEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".env")
	os.WriteFile(path, []byte("# comment\nexport AIPROXY_T_A=1\nAIPROXY_T_B=\"two words\"\nAIPROXY_T_C=3 # trailing\nAIPROXY_T_SET=from-file\n"), 0o600)
	t.Setenv("AIPROXY_T_SET", "from-env")
	for _, k := range []string{"AIPROXY_T_A", "AIPROXY_T_B", "AIPROXY_T_C"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	if err := loadDotEnv(path); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"AIPROXY_T_A": "1", "AIPROXY_T_B": "two words", "AIPROXY_T_C": "3", "AIPROXY_T_SET": "from-env"} {
		if got := os.Getenv(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if err := loadDotEnv(filepath.Join(t.TempDir(), "missing")); err != nil {
		t.Errorf("missing .env: %v", err)
	}
}

// TestLogStorageConfig: the log storage settings, their defaults and
// where logs spill.
func TestLogStorageConfig(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := loadConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	ls := c.logStorage()
	if c.LogDetailMaxBytes != 64<<10 || ls.LogRetention != 0 || ls.DetailRetention != 72*time.Hour || ls.BatchSize != 5000 {
		t.Errorf("defaults: %d bytes, %+v", c.LogDetailMaxBytes, ls)
	}
	if got := c.spillDir(); got != filepath.Join("data", "log-spill") {
		t.Errorf("SQLite spill directory %q", got)
	}
	pg, err := loadConfig(env(map[string]string{"SQL_DSN": "postgres://a/b", "LOG_STORAGE_HOURS": "720", "LOG_DETAIL_STORAGE_HOURS": "0.5", "CLEAN_LOG_BATCH_SIZE": "100", "LOG_DETAIL_MAX_BYTES": "1024"}))
	if err != nil {
		t.Fatal(err)
	}
	ls = pg.logStorage()
	if pg.LogDetailMaxBytes != 1024 || ls.LogRetention != 720*time.Hour || ls.DetailRetention != 30*time.Minute || ls.BatchSize != 100 {
		t.Errorf("set: %d bytes, %+v", pg.LogDetailMaxBytes, ls)
	}
	other, _ := loadConfig(env(map[string]string{"SQL_DSN": "postgres://a/c"}))
	if d := pg.spillDir(); !strings.HasPrefix(d, filepath.Join(os.TempDir(), "aiproxy-spill")) || d == other.spillDir() {
		t.Errorf("spill directories %q and %q: want one per database under the temporary directory", d, other.spillDir())
	}
	if d, _ := loadConfig(env(map[string]string{"LOG_SPILL_DIR": "/var/spool/aiproxy"})); d.spillDir() != "/var/spool/aiproxy" {
		t.Errorf("LOG_SPILL_DIR ignored: %q", d.spillDir())
	}
	if _, err := loadConfig(env(map[string]string{"CLEAN_LOG_BATCH_SIZE": "0"})); err == nil || !strings.Contains(err.Error(), "CLEAN_LOG_BATCH_SIZE") {
		t.Errorf("CLEAN_LOG_BATCH_SIZE=0: %v", err)
	}
}
