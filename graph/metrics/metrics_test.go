package metrics_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/graph/metrics"
	"github.com/aiproxy/aiproxy/store"
)

func chatLog(model, group string, status int) *aiproxy.Log {
	return &aiproxy.Log{
		Mode: aiproxy.ModeChat, Model: model, GroupID: group, ChannelID: 7, StatusCode: status,
		ClientProtocol: aiproxy.ProtocolOpenAI, Latency: 300 * time.Millisecond, TTFB: 100 * time.Millisecond,
		Usage:    aiproxy.Usage{PromptTokens: 10, CompletionTokens: 5, CachedTokens: 4, ReasoningTokens: 2, TotalTokens: 15, Requests: 1},
		Amount:   aiproxy.AmountUnit / 4,
		Attempts: []aiproxy.LogAttempt{{ChannelID: 7, Status: status}},
	}
}

func TestRecord(t *testing.T) {
	c := metrics.New(metrics.Options{})
	c.Record(chatLog("gpt-4o", "acme", 200))
	c.Record(chatLog("gpt-4o", "acme", 200))
	c.Record(chatLog("gpt-4o", "acme", 502))
	limited := &aiproxy.Log{Mode: aiproxy.ModeChat, Model: "gpt-4o", GroupID: "acme", StatusCode: 429, ClientProtocol: aiproxy.ProtocolAnthropic}
	c.Record(limited)
	c.Refused("rpm")
	c.Refused("rpm")
	c.Refused("balance")

	reg := c.Registry()
	for _, tc := range []struct {
		name   string
		metric string
		labels map[string]string
		want   float64
	}{
		{"2xx requests", "aiproxy_requests_total", map[string]string{"channel": "7", "group": "acme", "mode": "chat", "model": "gpt-4o", "protocol": "openai", "status": "2xx"}, 2},
		{"5xx requests", "aiproxy_requests_total", map[string]string{"channel": "7", "status": "5xx"}, 1},
		{"refused request", "aiproxy_requests_total", map[string]string{"channel": "0", "protocol": "anthropic", "status": "4xx"}, 1},
		{"rpm refusals", "aiproxy_rate_limit_rejections_total", map[string]string{"limit": "rpm"}, 2},
		{"balance refusals", "aiproxy_rate_limit_rejections_total", map[string]string{"limit": "balance"}, 1},
		{"no tpm refusals", "aiproxy_rate_limit_rejections_total", map[string]string{"limit": "tpm"}, 0},
		{"attempts", "aiproxy_upstream_attempts_total", map[string]string{"channel": "7"}, 3},
		{"input tokens", "aiproxy_tokens_total", map[string]string{"kind": "input", "model": "gpt-4o"}, 30},
		{"output tokens", "aiproxy_tokens_total", map[string]string{"kind": "output", "model": "gpt-4o"}, 15},
		{"cached tokens", "aiproxy_tokens_total", map[string]string{"kind": "cached", "model": "gpt-4o"}, 12},
		{"reasoning tokens", "aiproxy_tokens_total", map[string]string{"kind": "reasoning", "model": "gpt-4o"}, 6},
		{"cost", "aiproxy_cost_total", map[string]string{"model": "gpt-4o", "group": "acme"}, 0.75},
		{"5xx errors", "aiproxy_upstream_errors_total", map[string]string{"channel": "7", "status": "5xx"}, 1},
		{"no 2xx errors", "aiproxy_upstream_errors_total", map[string]string{"channel": "7", "status": "2xx"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := value(t, reg, tc.metric, tc.labels); got != tc.want {
				t.Errorf("%s%v = %v, want %v", tc.metric, tc.labels, got, tc.want)
			}
		})
	}
	if n := histogramCount(t, reg, "aiproxy_request_duration_seconds", map[string]string{"mode": "chat", "channel": "7"}); n != 3 {
		t.Errorf("latency observations on channel 7 = %d, want 3", n)
	}
	if n := histogramCount(t, reg, "aiproxy_request_ttfb_seconds", map[string]string{"mode": "chat", "channel": "0"}); n != 0 {
		t.Errorf("ttfb observations without a channel = %d, want 0 (no TTFB)", n)
	}
}

func TestLabelCap(t *testing.T) {
	c := metrics.New(metrics.Options{MaxModels: 2, MaxGroups: 1})
	for _, m := range []string{"a", "b", "c", "d", "a"} {
		c.Record(chatLog(m, "g-"+m, 200))
	}
	models := map[string]float64{}
	groups := map[string]float64{}
	mfs, err := c.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "aiproxy_requests_total" {
			continue
		}
		for _, m := range mf.Metric {
			for _, lp := range m.Label {
				switch lp.GetName() {
				case "model":
					models[lp.GetValue()] += m.Counter.GetValue()
				case "group":
					groups[lp.GetValue()] += m.Counter.GetValue()
				}
			}
		}
	}
	if len(models) != 3 || models["a"] != 2 || models["b"] != 1 || models[metrics.Other] != 2 {
		t.Errorf("models = %v, want a:2 b:1 other:2", models)
	}
	if len(groups) != 2 || groups["g-a"] != 2 || groups[metrics.Other] != 3 {
		t.Errorf("groups = %v, want g-a:2 other:3", groups)
	}
}

func TestRecordAllocatesNothing(t *testing.T) {
	c := metrics.New(metrics.Options{})
	l := chatLog("gpt-4o", "acme", 200)
	c.Record(l)
	if n := testing.AllocsPerRun(1000, func() { c.Record(l) }); n != 0 {
		t.Errorf("Record allocates %v times on a known label set, want 0", n)
	}
}

func BenchmarkRecord(b *testing.B) {
	c := metrics.New(metrics.Options{})
	l := chatLog("gpt-4o", "acme", 200)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Record(l)
		}
	})
}

type fakeHealth []aiproxy.ChannelHealth

func (h fakeHealth) Snapshot() []aiproxy.ChannelHealth { return h }

type fakeLogs store.LogWriterStats

func (l fakeLogs) Stats() store.LogWriterStats { return store.LogWriterStats(l) }

func TestScrapeTime(t *testing.T) {
	var pings atomic.Int32
	c := metrics.New(metrics.Options{
		Health: fakeHealth{
			{ChannelID: 1, Model: "a", State: aiproxy.HealthState{Breaker: aiproxy.BreakerOpen}},
			{ChannelID: 1, Model: "b"},
			{ChannelID: 2, Model: "a", State: aiproxy.HealthState{Breaker: aiproxy.BreakerHalfOpen}},
		},
		Logs: fakeLogs{Written: 10, Failed: 1, Spilled: 3, Replayed: 2, Dropped: 4, Queued: 5, QueueBytes: 700},
		DB:   func(context.Context) error { pings.Add(1); return nil },
		Redis: func(ctx context.Context) error {
			return errors.New("connection refused")
		},
		PingTTL: time.Hour,
	})
	reg := c.Registry()
	for _, tc := range []struct {
		metric string
		labels map[string]string
		want   float64
	}{
		{"aiproxy_channel_breaker_state", map[string]string{"channel": "1", "state": "open"}, 1},
		{"aiproxy_channel_breaker_state", map[string]string{"channel": "1", "state": "closed"}, 1},
		{"aiproxy_channel_breaker_state", map[string]string{"channel": "2", "state": "half_open"}, 1},
		{"aiproxy_channel_breaker_state", map[string]string{"channel": "2", "state": "closed"}, 0},
		{"aiproxy_log_queue_depth", nil, 5},
		{"aiproxy_log_queue_bytes", nil, 700},
		{"aiproxy_logs_written_total", nil, 10},
		{"aiproxy_logs_failed_total", nil, 1},
		{"aiproxy_logs_spilled_total", nil, 3},
		{"aiproxy_logs_replayed_total", nil, 2},
		{"aiproxy_logs_dropped_total", nil, 4},
		{"aiproxy_database_up", nil, 1},
		{"aiproxy_redis_up", nil, 0},
	} {
		if got := value(t, reg, tc.metric, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.metric, tc.labels, got, tc.want)
		}
	}
	if n := pings.Load(); n != 1 {
		t.Errorf("database pinged %d times over several scrapes within the TTL, want 1", n)
	}
}

func TestHandlerAuth(t *testing.T) {
	c := metrics.New(metrics.Options{})
	c.Record(chatLog("gpt-4o", "acme", 200))
	sum := sha256.Sum256([]byte("generated-admin-key"))
	for _, tc := range []struct {
		name   string
		auth   metrics.Auth
		header string
		want   int
	}{
		{"admin key", metrics.Auth{AdminKey: "admin", Token: "scrape"}, "Bearer admin", 200},
		{"scrape token", metrics.Auth{AdminKey: "admin", Token: "scrape"}, "Bearer scrape", 200},
		{"scheme in any case", metrics.Auth{AdminKey: "admin"}, "bearer admin", 200},
		{"hashed admin key", metrics.Auth{AdminKeySHA256: hex.EncodeToString(sum[:])}, "Bearer generated-admin-key", 200},
		{"no key", metrics.Auth{AdminKey: "admin", Token: "scrape"}, "", 401},
		{"wrong key", metrics.Auth{AdminKey: "admin", Token: "scrape"}, "Bearer admin2", 401},
		{"not bearer", metrics.Auth{AdminKey: "admin"}, "Basic admin", 401},
		{"empty token admits nobody", metrics.Auth{AdminKey: "admin"}, "Bearer ", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			w := httptest.NewRecorder()
			c.Handler(tc.auth).ServeHTTP(w, req)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d", w.Code, tc.want)
			}
			body, _ := io.ReadAll(w.Body)
			if has := strings.Contains(string(body), "aiproxy_requests_total{"); has != (tc.want == 200) {
				t.Errorf("body has the metrics: %v, want %v", has, tc.want == 200)
			}
		})
	}
}
