package alert

import (
	"context"
	"fmt"
	"time"

	"github.com/aiproxy/aiproxy"
)

// LogCounts is what the watcher reads of the log writer
// (store.LogWriterStats).
type LogCounts struct {
	Queued           int
	Spilled, Dropped int64
	Failed           int64
}

// Watch is what a Watcher checks; every field may be nil (not checked).
type Watch struct {
	// Health lists every channel × model's health (store's MemoryHealth
	// and RedisHealth): breakers opening and closing, error rates.
	Health interface {
		Snapshot() []aiproxy.ChannelHealth
	}
	// ErrorRate is the error rate at or above which a channel whose
	// breaker is closed is warned about (ALERT_ERROR_RATE); 0 means never.
	ErrorRate float64
	// Logs returns the log writer's counters; growing Spilled, Dropped or
	// Failed, or a queue over QueueWarn (0 means 1000), alerts.
	Logs      func() LogCounts
	QueueWarn int
	// DB and Redis ping the database and Redis (with a timeout of 5s).
	DB, Redis func(ctx context.Context) error
	// Spike alerts when the current hour's requests (as this replica's
	// Notifier.Record counted them) pass Spike times the average of the
	// past hours (up to 24, at least 3 of them with traffic) and SpikeMin
	// (0 means 100). Spike 0 means never (ALERT_SPIKE_FACTOR).
	Spike    float64
	SpikeMin int64
	// Hourly returns the requests of the current hour and the average of
	// the past hours with any, of which there were past, as every replica
	// together served them (HourlyFromSummaries); nil counts what this
	// replica's Notifier.Record saw.
	Hourly func(ctx context.Context) (current int64, avg float64, past int, err error)
	// Channels lists the channels and Balance their last balance read
	// (relay.Balances); a channel whose LowBalance is above its balance
	// alerts. Either nil: not checked.
	Channels func(ctx context.Context) ([]*aiproxy.Channel, error)
	Balance  func(id int64) (aiproxy.Balance, bool)
	// Reload rereads the administered sinks and settings
	// (Notifier.Reload) on every check, in case an announcement of a
	// change was lost; nil does not.
	Reload func(ctx context.Context) error
}

// settings returns the thresholds in effect: the administered settings
// (Notifier.Settings) over Watch's, field by field (aiproxy.AlertSettings.Over:
// a zero setting keeps Watch's, a negative ErrorRate or SpikeFactor
// switches that check off).
func (w *Watcher) settings() aiproxy.AlertSettings {
	return w.n.Settings().Over(aiproxy.AlertSettings{ErrorRate: w.w.ErrorRate, SpikeFactor: w.w.Spike, SpikeMin: w.w.SpikeMin, LogQueueWarn: w.w.QueueWarn})
}

// Watcher checks, every interval, what no single request shows.
type Watcher struct {
	n *Notifier
	w Watch

	open     map[breakerKey]bool
	lastLogs LogCounts
	dbDown   bool
	redisDwn bool
}

type breakerKey struct {
	ch    int64
	model string
}

// NewWatcher returns a watcher alerting through n.
func NewWatcher(n *Notifier, w Watch) *Watcher {
	if w.QueueWarn <= 0 {
		w.QueueWarn = 1000
	}
	if w.SpikeMin <= 0 {
		w.SpikeMin = 100
	}
	return &Watcher{n: n, w: w, open: map[breakerKey]bool{}}
}

// Run checks at once and then every interval until ctx is done.
func (w *Watcher) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		w.Check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Check runs every check once.
func (w *Watcher) Check(ctx context.Context) {
	if w.w.Reload != nil {
		if err := w.w.Reload(ctx); err != nil {
			w.n.opts.Logger.Warn("alert: reload", "err", err)
		}
	}
	w.health()
	w.balances(ctx)
	w.logs()
	w.spike(ctx)
	w.ping(ctx, w.w.DB, &w.dbDown, aiproxy.AlertDatabaseDown, "The database")
	w.ping(ctx, w.w.Redis, &w.redisDwn, aiproxy.AlertRedisDown, "Redis")
}

func (w *Watcher) health() {
	if w.w.Health == nil {
		return
	}
	seen := map[breakerKey]bool{}
	errorRate := w.settings().ErrorRate
	for _, h := range w.w.Health.Snapshot() {
		k := breakerKey{h.ChannelID, h.Model}
		seen[k] = true
		open := h.State.Breaker != aiproxy.BreakerClosed
		switch {
		case open && !w.open[k]:
			w.n.Alert(aiproxy.Alert{
				Kind: aiproxy.AlertBreakerOpen, Severity: aiproxy.SeverityWarning, Key: fmt.Sprintf("breaker:%d:%s", k.ch, k.model),
				Title: fmt.Sprintf("Channel %d: breaker open for %s", k.ch, k.model), Text: "Reason: " + h.OpenReason + ". Requests go to other channels until a probe succeeds.",
				ChannelID: k.ch, Model: k.model,
			})
		case !open && w.open[k]:
			w.n.Alert(aiproxy.Alert{
				Kind: aiproxy.AlertBreakerClosed, Severity: aiproxy.SeverityInfo, Key: fmt.Sprintf("breaker_closed:%d:%s", k.ch, k.model),
				Title: fmt.Sprintf("Channel %d: breaker closed for %s", k.ch, k.model), Text: "The channel serves the model again.",
				ChannelID: k.ch, Model: k.model,
			})
		case !open && errorRate > 0 && h.State.ErrorRate >= errorRate:
			w.n.Alert(aiproxy.Alert{
				Kind: aiproxy.AlertErrorRate, Severity: aiproxy.SeverityWarning, Key: fmt.Sprintf("error_rate:%d:%s", k.ch, k.model),
				Title: fmt.Sprintf("Channel %d: %.0f%% of %s requests fail", k.ch, 100*h.State.ErrorRate, k.model),
				Text:  fmt.Sprintf("%d of %d requests in the window failed; last error: %s", h.Failures, h.Requests, h.LastError), ChannelID: k.ch, Model: k.model,
			})
		}
		w.open[k] = open
	}
	for k := range w.open {
		if !seen[k] { // reset by the admin
			delete(w.open, k)
		}
	}
}

// balances alerts on every channel whose last balance read is below its
// LowBalance threshold.
func (w *Watcher) balances(ctx context.Context) {
	if w.w.Channels == nil || w.w.Balance == nil {
		return
	}
	chs, err := w.w.Channels(ctx)
	if err != nil {
		return // the database check alerts on that
	}
	for _, ch := range chs {
		if ch.LowBalance <= 0 {
			continue
		}
		b, ok := w.w.Balance(ch.ID)
		if !ok || b.Amount >= ch.LowBalance {
			continue
		}
		w.n.Alert(aiproxy.Alert{
			Kind: aiproxy.AlertChannelBalance, Severity: aiproxy.SeverityWarning, Key: fmt.Sprintf("channel_balance:%d", ch.ID),
			Title: fmt.Sprintf("Channel %d (%s): balance %.2f %s is below %.2f", ch.ID, ch.Name, b.Amount, b.Currency, ch.LowBalance),
			Text:  "Top up the account at the provider, or the channel stops serving when it runs out.", ChannelID: ch.ID,
		})
	}
}

func (w *Watcher) spike(ctx context.Context) {
	st := w.settings()
	factor, spikeMin := st.SpikeFactor, st.SpikeMin
	if factor <= 0 {
		return
	}
	cur, avg, past := w.n.hourly()
	if w.w.Hourly != nil {
		var err error
		if cur, avg, past, err = w.w.Hourly(ctx); err != nil {
			return // the database check alerts on that
		}
	}
	if past < 3 || cur < spikeMin || float64(cur) <= factor*avg {
		return
	}
	w.n.Alert(aiproxy.Alert{Kind: aiproxy.AlertUsageSpike, Severity: aiproxy.SeverityWarning, Key: "usage_spike",
		Title: "Usage spike",
		Text:  fmt.Sprintf("%d requests this hour, over %.1f times the average of %.0f over the past %d hours.", cur, factor, avg, past)})
}

func (w *Watcher) logs() {
	if w.w.Logs == nil {
		return
	}
	c, last := w.w.Logs(), w.lastLogs
	w.lastLogs = c
	switch {
	case c.Dropped > last.Dropped || c.Failed > last.Failed:
		w.n.Alert(aiproxy.Alert{Kind: aiproxy.AlertLogs, Severity: aiproxy.SeverityCritical, Key: "logs:lost",
			Title: "Request logs are being lost",
			Text:  fmt.Sprintf("%d dropped and %d failed since the last check (%d queued).", c.Dropped-last.Dropped, c.Failed-last.Failed, c.Queued)})
	case c.Spilled > last.Spilled:
		w.n.Alert(aiproxy.Alert{Kind: aiproxy.AlertLogs, Severity: aiproxy.SeverityWarning, Key: "logs:spill",
			Title: "Request logs spill to disk",
			Text:  fmt.Sprintf("%d logs spilled since the last check: the log database is slow or away; they are replayed when it answers.", c.Spilled-last.Spilled)})
	case c.Queued >= w.settings().LogQueueWarn:
		w.n.Alert(aiproxy.Alert{Kind: aiproxy.AlertLogs, Severity: aiproxy.SeverityWarning, Key: "logs:queue",
			Title: "Request logs are queueing", Text: fmt.Sprintf("%d logs wait to be written.", c.Queued)})
	}
}

func (w *Watcher) ping(ctx context.Context, fn func(context.Context) error, down *bool, kind aiproxy.AlertKind, what string) {
	if fn == nil {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := fn(pctx)
	cancel()
	switch {
	case err != nil && !*down:
		*down = true
		w.n.Alert(aiproxy.Alert{Kind: kind, Severity: aiproxy.SeverityCritical, Key: string(kind),
			Title: what + " is unreachable", Text: err.Error()})
	case err == nil && *down:
		*down = false
		w.n.Alert(aiproxy.Alert{Kind: kind, Severity: aiproxy.SeverityInfo, Key: string(kind) + ":recovered",
			Title: what + " answers again"})
	}
}

// HourlyFromSummaries returns a Watch.Hourly reading the usage summaries
// (store.Store), which add up every replica's requests: the current hour
// and the spikeHours before it.
func HourlyFromSummaries(a aiproxy.AnalyticsService, now func() time.Time) func(ctx context.Context) (int64, float64, int, error) {
	if now == nil {
		now = time.Now
	}
	return func(ctx context.Context) (int64, float64, int, error) {
		t := now().UTC()
		hour := t.Truncate(time.Hour)
		pts, err := a.UsageSeries(ctx, aiproxy.AnalyticsFilter{From: hour.Add(-spikeHours * time.Hour), To: t.Truncate(time.Minute).Add(time.Minute)},
			aiproxy.GranularityHour, time.UTC)
		if err != nil {
			return 0, 0, 0, err
		}
		var cur, sum int64
		past := 0
		for _, p := range pts {
			switch {
			case !p.Start.Before(hour):
				cur += p.Stats.Requests
			case p.Stats.Requests > 0:
				sum += p.Stats.Requests
				past++
			}
		}
		avg := 0.0
		if past > 0 {
			avg = float64(sum) / float64(past)
		}
		return cur, avg, past, nil
	}
}
