package alert_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/graph/alert"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/store/storetest"
)

// TestAdministeredSinks: sinks stored through the admin API's store
// receive the alerts of their kinds and severities once the notifier
// reloads, and the stored throttle window replaces the server's.
func TestAdministeredSinks(t *testing.T) {
	st := storetest.Open(t, storetest.SQLiteDSN(t))
	ctx := context.Background()
	breakers, all := newHook(t), newHook(t)
	for _, s := range []*aiproxy.AlertSink{
		{Name: "breakers", Kind: aiproxy.SinkWebhook, URL: breakers.URL, AllowPrivateNetwork: true, Enabled: true,
			Kinds: []aiproxy.AlertKind{aiproxy.AlertBreakerOpen}, MinSeverity: aiproxy.SeverityWarning},
		{Name: "all", Kind: aiproxy.SinkSlack, URL: all.URL, AllowPrivateNetwork: true, Enabled: true},
		{Name: "off", Kind: aiproxy.SinkWebhook, URL: all.URL, AllowPrivateNetwork: true, Enabled: false},
	} {
		if err := st.CreateAlertSink(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SetAlertSettings(ctx, &aiproxy.AlertSettings{Throttle: time.Hour}); err != nil {
		t.Fatal(err)
	}
	th := &store.MemoryThrottle{}
	n := alert.NewNotifier(alert.Options{Config: st, Throttle: th, Window: time.Millisecond})
	if err := n.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	n.Alert(breaker)
	time.Sleep(5 * time.Millisecond) // past the server's window, within the stored one
	n.Alert(breaker)
	n.Alert(aiproxy.Alert{Kind: aiproxy.AlertBreakerClosed, Severity: aiproxy.SeverityInfo, Key: "closed", Title: "closed"})
	n.Alert(aiproxy.Alert{Kind: aiproxy.AlertLogs, Severity: aiproxy.SeverityCritical, Key: "logs", Title: "logs"})
	n.Close()
	if got := breakers.got(); len(got) != 1 || got[0]["kind"] != "breaker_open" {
		t.Errorf("breakers sink got %v, want the breaker alert once", got)
	}
	if got := all.got(); len(got) != 3 {
		t.Errorf("all sink got %d alerts %v, want 3 (the disabled sink none)", len(got), got)
	}
}

// TestWatcherSettingsAndBalance: the stored error rate replaces the
// server's (a negative one switches the check off), and a channel whose
// balance is below its threshold alerts.
func TestWatcherSettingsAndBalance(t *testing.T) {
	st := storetest.Open(t, storetest.SQLiteDSN(t))
	ctx := context.Background()
	s := &sink{}
	n := alert.NewNotifier(alert.Options{Sinks: []alert.Sink{s}, Config: st})
	defer n.Close()
	h := &health{hs: []aiproxy.ChannelHealth{{ChannelID: 1, Model: "m", State: aiproxy.HealthState{ErrorRate: 0.4}, Requests: 10, Failures: 4}}}
	chs := []*aiproxy.Channel{{ID: 1, Name: "low", LowBalance: 10}, {ID: 2, Name: "fine", LowBalance: 10}, {ID: 3, Name: "none"}}
	balances := map[int64]aiproxy.Balance{1: {Amount: 3.5, Currency: "USD"}, 2: {Amount: 50, Currency: "USD"}, 3: {Amount: 0}}
	w := alert.NewWatcher(n, alert.Watch{
		Health: h, ErrorRate: 0.5,
		Channels: func(context.Context) ([]*aiproxy.Channel, error) { return chs, nil },
		Balance:  func(id int64) (aiproxy.Balance, bool) { b, ok := balances[id]; return b, ok },
		Reload:   n.Reload,
	})
	kinds := func() map[aiproxy.AlertKind]int {
		time.Sleep(50 * time.Millisecond) // delivery is asynchronous
		m := map[aiproxy.AlertKind]int{}
		for _, a := range s.alerts() {
			m[a.Kind]++
		}
		return m
	}
	w.Check(ctx)
	if k := kinds(); k[aiproxy.AlertErrorRate] != 0 || k[aiproxy.AlertChannelBalance] != 1 {
		t.Fatalf("first check %v: want the balance alert only (0.4 < 0.5)", k)
	}
	if a := s.alerts()[0]; a.ChannelID != 1 {
		t.Errorf("balance alert %+v", a)
	}
	if err := st.SetAlertSettings(ctx, &aiproxy.AlertSettings{ErrorRate: 0.25}); err != nil {
		t.Fatal(err)
	}
	w.Check(ctx) // reloads
	if k := kinds(); k[aiproxy.AlertErrorRate] != 1 {
		t.Errorf("second check %v: want the error-rate alert at the stored 0.25", k)
	}
	if err := st.SetAlertSettings(ctx, &aiproxy.AlertSettings{ErrorRate: -1}); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	h.hs[0].Model = "other" // a new key, which the throttle would let through
	h.mu.Unlock()
	w.Check(ctx)
	if k := kinds(); k[aiproxy.AlertErrorRate] != 1 {
		t.Errorf("third check %v: a negative stored rate switches the check off", k)
	}
}

// TestTestSinkScrubsURL: a failing test delivery names the failure, never
// the sink's URL.
func TestTestSinkScrubsURL(t *testing.T) {
	h := newHook(t)
	h.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "nope", http.StatusForbidden) })
	n := alert.NewNotifier(alert.Options{})
	defer n.Close()
	url := h.URL + "/secret-token-path"
	err := n.Test(context.Background(), &aiproxy.AlertSink{Name: "x", Kind: aiproxy.SinkWebhook, URL: url, AllowPrivateNetwork: true, Enabled: true})
	if err == nil || !strings.Contains(err.Error(), "403") || strings.Contains(err.Error(), "secret-token-path") {
		t.Errorf("test error %v", err)
	}
}

// TestTestSinkRefusedScrubsURL: a sink the outbound guard refuses says so,
// without the URL the client's error would hold.
func TestTestSinkRefusedScrubsURL(t *testing.T) {
	h := newHook(t)
	n := alert.NewNotifier(alert.Options{})
	defer n.Close()
	err := n.Test(context.Background(), &aiproxy.AlertSink{Name: "x", Kind: aiproxy.SinkWebhook, URL: h.URL + "/secret-token-path", Enabled: true})
	if err == nil || !strings.Contains(err.Error(), "private") || strings.Contains(err.Error(), "secret-token-path") {
		t.Errorf("test error %v", err)
	}
	if len(h.got()) != 0 {
		t.Error("the refused sink was reached")
	}
}

// series is an AnalyticsService answering UsageSeries with fixed hourly
// request counts, oldest first.
type series struct {
	aiproxy.AnalyticsService
	counts []int64
	got    aiproxy.AnalyticsFilter
}

func (s *series) UsageSeries(_ context.Context, f aiproxy.AnalyticsFilter, g aiproxy.Granularity, _ *time.Location) ([]aiproxy.UsagePoint, error) {
	s.got = f
	out := make([]aiproxy.UsagePoint, len(s.counts))
	start := f.From
	for i, n := range s.counts {
		out[i] = aiproxy.UsagePoint{Start: start, End: start.Add(time.Hour), Stats: aiproxy.UsageStats{Requests: n}}
		start = start.Add(time.Hour)
	}
	return out, nil
}

// TestSpikeFromSummaries: the spike check reads the summaries (every
// replica's requests), not one replica's count.
func TestSpikeFromSummaries(t *testing.T) {
	now := time.Date(2026, 12, 3, 15, 30, 0, 0, time.UTC)
	counts := make([]int64, 25)
	counts[20], counts[21], counts[22], counts[23] = 100, 120, 80, 0 // three past hours with traffic, average 100
	counts[24] = 450                                                 // the current hour
	a := &series{counts: counts}
	s := &sink{}
	n := alert.NewNotifier(alert.Options{Sinks: []alert.Sink{s}})
	w := alert.NewWatcher(n, alert.Watch{Spike: 4, Hourly: alert.HourlyFromSummaries(a, func() time.Time { return now })})
	w.Check(context.Background())
	n.Close()
	if !a.got.From.Equal(now.Truncate(time.Hour).Add(-24*time.Hour)) || !a.got.To.Equal(now.Add(time.Minute)) {
		t.Errorf("range [%v, %v)", a.got.From, a.got.To)
	}
	if got := s.alerts(); len(got) != 1 || got[0].Kind != aiproxy.AlertUsageSpike || !strings.Contains(got[0].Text, "450 requests") {
		t.Errorf("alerts %+v, want one usage spike of 450 requests", got)
	}
}
