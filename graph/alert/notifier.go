package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aiproxy/aiproxy"
)

var _ aiproxy.LogRecorder = (*Notifier)(nil)

// Throttle lets one event per key through per window (store's
// MemoryThrottle, or RedisThrottle across replicas).
type Throttle interface {
	Allow(ctx context.Context, key string, window time.Duration, now time.Time) (bool, error)
}

// Options configures a Notifier.
type Options struct {
	// Sinks receive every alert the throttle lets through, each in turn.
	Sinks []Sink
	// Throttle decides which alerts go; nil sends every one.
	Throttle Throttle
	// Window is how long an alert key stays quiet after it alerted
	// (ALERT_THROTTLE); 0 means 10 minutes.
	Window time.Duration
	// History keeps every alert let through (store.Store); nil keeps
	// none.
	History aiproxy.AlertHistory
	// Logger receives delivery failures; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock of the hourly request counts; nil means time.Now.
	Now func() time.Time
	// Config holds the sinks and settings administered over the admin
	// API (store.Store); Reload reads them. Nil: only Sinks and Window.
	Config Config
	// Client returns the HTTP client of an administered sink; nil means
	// NewClient.
	Client func(allowPrivate bool) *http.Client
}

// Config is where the administered sinks and settings are kept
// (store.Store).
type Config interface {
	AlertSinks(ctx context.Context) ([]*aiproxy.AlertSink, error)
	AlertSettings(ctx context.Context) (*aiproxy.AlertSettings, error)
}

// config is what Reload read.
type config struct {
	sinks    []Sink // Options.Sinks, then the administered ones
	settings aiproxy.AlertSettings
}

// DefaultWindow is the default throttle window.
const DefaultWindow = 10 * time.Minute

// queueSize is how many alerts wait for delivery at most; more are
// dropped (Dropped), so that a burst never blocks the caller.
const queueSize = 256

// Notifier delivers alerts to its sinks from a goroutine of its own:
// Alert only queues. As an aiproxy.LogRecorder it alerts on what the logs
// show: a provider refusing a channel's credentials or balance (401, 402,
// 403) and a model used without a price. The zero Notifier is not ready
// for use; call NewNotifier, and Close when done. It is safe for
// concurrent use.
type Notifier struct {
	opts   Options
	queue  chan aiproxy.Alert
	done   chan struct{}
	once   sync.Once
	sent   atomic.Int64
	held   atomic.Int64
	failed atomic.Int64
	drops  atomic.Int64

	cfg atomic.Pointer[config]

	// seen dedupes what Record alerts on before anything is built, so a
	// channel failing every request costs a map lookup per request.
	mu   sync.Mutex
	seen map[seenKey]time.Time

	// hours counts the requests Record saw by hour (unix hours), in a
	// ring of the last spikeHours+1, for the usage spike check.
	hours [spikeHours + 1]hourCount
}

// hourCount is the requests of one hour.
type hourCount struct {
	hour, n atomic.Int64
}

// spikeHours is how many past hours the current one is compared with.
const spikeHours = 24

// seenKey is one condition Record alerts on.
type seenKey struct {
	kind    aiproxy.AlertKind
	channel int64
	model   string
}

// recordQuiet is how long Record stays quiet about one condition before
// handing it to the throttle again.
const recordQuiet = time.Minute

// NewNotifier starts a Notifier.
func NewNotifier(opts Options) *Notifier {
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	n := &Notifier{opts: opts, queue: make(chan aiproxy.Alert, queueSize), done: make(chan struct{}), seen: map[seenKey]time.Time{}}
	n.cfg.Store(&config{sinks: opts.Sinks})
	go n.run()
	return n
}

// Reload reads the administered sinks and settings from Options.Config
// (which every write through the admin API announces, so that each
// replica reloads). On an error the notifier keeps what it had.
func (n *Notifier) Reload(ctx context.Context) error {
	if n.opts.Config == nil {
		return nil
	}
	stored, err := n.opts.Config.AlertSinks(ctx)
	if err != nil {
		return fmt.Errorf("alert: reload sinks: %w", err)
	}
	settings, err := n.opts.Config.AlertSettings(ctx)
	if err != nil {
		return fmt.Errorf("alert: reload settings: %w", err)
	}
	c := &config{sinks: append([]Sink(nil), n.opts.Sinks...), settings: *settings}
	for _, s := range stored {
		if s.Enabled {
			c.sinks = append(c.sinks, n.SinkFor(s))
		}
	}
	n.cfg.Store(c)
	return nil
}

// SinkNames names the sinks alerts go to now (Sink.Name), the
// administered ones as "<kind>:<name>".
func (n *Notifier) SinkNames() []string {
	sinks := n.cfg.Load().sinks
	out := make([]string, len(sinks))
	for i, s := range sinks {
		out[i] = s.Name()
	}
	return out
}

// Settings returns the administered settings as last reloaded (zero
// fields: the server's).
func (n *Notifier) Settings() aiproxy.AlertSettings { return n.cfg.Load().settings }

// SinkFor returns the sink that delivers to s, taking only the alerts s
// wants (AlertSink.Wants).
func (n *Notifier) SinkFor(s *aiproxy.AlertSink) Sink {
	newClient := NewClient
	if n.opts.Client != nil {
		newClient = n.opts.Client
	}
	hc := newClient(s.AllowPrivateNetwork)
	var inner Sink
	switch s.Kind {
	case aiproxy.SinkSlack:
		inner = &Slack{URL: s.URL, Client: hc}
	case aiproxy.SinkFeishu:
		inner = &Feishu{URL: s.URL, Secret: s.Secret, Client: hc}
	default:
		inner = &Webhook{URL: s.URL, Client: hc}
	}
	return &filtered{Sink: inner, sink: s}
}

// Test sends a test alert to s at once, past the throttle and the
// history, and returns what the sink answered. The error never holds the
// sink's URL or secret.
func (n *Notifier) Test(ctx context.Context, s *aiproxy.AlertSink) error {
	a := &aiproxy.Alert{Kind: "test", Severity: aiproxy.SeverityInfo, Key: "test", Title: "Test alert from aiproxy",
		Text: "The sink " + s.Name + " receives aiproxy's alerts.", At: time.Now()}
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	err := n.SinkFor(s).(*filtered).Sink.Send(ctx, a)
	if err != nil {
		return scrub(err, s.URL, s.Secret)
	}
	return nil
}

// filtered is an administered sink: it takes the alerts its AlertSink
// wants.
type filtered struct {
	Sink
	sink *aiproxy.AlertSink
}

// Send delivers a when the sink wants it.
func (f *filtered) Send(ctx context.Context, a *aiproxy.Alert) error {
	if !f.sink.Wants(a) {
		return errUnwanted
	}
	return f.Sink.Send(ctx, a)
}

// Name names the sink by its kind and administered name.
func (f *filtered) Name() string { return f.Sink.Name() + ":" + f.sink.Name }

// errUnwanted is a sink declining an alert it does not want: neither a
// delivery nor a failure.
var errUnwanted = errors.New("alert: not wanted by this sink")

// scrub replaces the secrets in err's message by "[redacted]".
func scrub(err error, secrets ...string) error {
	msg := err.Error()
	for _, s := range secrets {
		if len(s) >= 4 {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	return errors.New(msg)
}

// Close delivers the queued alerts and stops. Alerts after Close are
// dropped. It is safe to call more than once.
func (n *Notifier) Close() {
	n.once.Do(func() {
		close(n.queue)
		<-n.done
	})
}

// Stats returns how many alerts were sent (to at least one sink), held
// back by the throttle, failed on every sink, and dropped (queue full).
func (n *Notifier) Stats() (sent, throttled, failed, dropped int64) {
	return n.sent.Load(), n.held.Load(), n.failed.Load(), n.drops.Load()
}

// Alert queues a for delivery and returns at once; a zero At is set to
// now. When the queue is full a is dropped.
func (n *Notifier) Alert(a aiproxy.Alert) {
	if a.At.IsZero() {
		a.At = time.Now()
	}
	defer func() {
		if recover() != nil { // closed
			n.drops.Add(1)
		}
	}()
	select {
	case n.queue <- a:
	default:
		n.drops.Add(1)
	}
}

func (n *Notifier) run() {
	defer close(n.done)
	for a := range n.queue {
		n.deliver(&a)
	}
}

// deliver sends a to every sink unless the throttle holds it back. When
// the throttle fails (Redis away) the alert goes: a repeat beats silence.
func (n *Notifier) deliver(a *aiproxy.Alert) {
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	defer cancel()
	cfg := n.cfg.Load()
	window := n.opts.Window
	if cfg.settings.Throttle > 0 {
		window = cfg.settings.Throttle
	}
	if t := n.opts.Throttle; t != nil {
		ok, err := t.Allow(ctx, "alert:"+a.ThrottleKey(), window, time.Now())
		if err != nil {
			n.opts.Logger.Warn("alert: throttle unavailable; sending", "key", a.ThrottleKey(), "err", err)
		} else if !ok {
			n.held.Add(1)
			return
		}
	}
	delivered := len(cfg.sinks) == 0
	for _, s := range cfg.sinks {
		if err := s.Send(ctx, a); err != nil {
			if err != errUnwanted {
				if f, ok := s.(*filtered); ok {
					err = scrub(err, f.sink.URL, f.sink.Secret)
				}
				n.opts.Logger.Warn("alert: delivery failed", "sink", s.Name(), "kind", a.Kind, "err", err)
			}
			continue
		}
		delivered = true
	}
	if delivered {
		n.sent.Add(1)
	} else {
		n.failed.Add(1)
	}
	if h := n.opts.History; h != nil {
		if err := h.RecordAlert(ctx, &aiproxy.AlertRecord{Alert: *a, Delivered: delivered}); err != nil {
			n.opts.Logger.Warn("alert: keep in the history", "kind", a.Kind, "err", err)
		}
	}
}

// Record alerts on the provider refusals (401, 402, 403) among l's
// attempts and on a request of a model without a price.
func (n *Notifier) Record(l *aiproxy.Log) {
	n.count(n.now())
	for i := range l.Attempts {
		at := &l.Attempts[i]
		if at.Status != 401 && at.Status != 402 && at.Status != 403 {
			continue
		}
		if n.fresh(seenKey{aiproxy.AlertProviderAuth, at.ChannelID, ""}) {
			what := "refused the channel's credentials"
			if at.Status == 402 {
				what = "says the channel's balance is exhausted"
			}
			n.Alert(aiproxy.Alert{
				Kind: aiproxy.AlertProviderAuth, Severity: aiproxy.SeverityCritical,
				Key:   fmt.Sprintf("provider_auth:%d", at.ChannelID),
				Title: fmt.Sprintf("Channel %d: the provider %s (%d)", at.ChannelID, what, at.Status),
				Text:  fmt.Sprintf("Model %s, request %s. Check the channel's key and balance.", l.Model, l.RequestID), ChannelID: at.ChannelID, Model: l.Model,
			})
		}
	}
	if l.Unpriced && l.Usage.Requests > 0 && n.fresh(seenKey{aiproxy.AlertUnpricedModel, 0, l.Model}) {
		n.Alert(aiproxy.Alert{
			Kind: aiproxy.AlertUnpricedModel, Severity: aiproxy.SeverityWarning, Key: "unpriced:" + l.Model,
			Title: "Model " + l.Model + " is used without a price",
			Text:  "Its requests are not billed. Add a model config with prices, or a catalogue entry.", Model: l.Model, GroupID: l.GroupID,
		})
	}
}

// fresh reports whether Record has not alerted on k in the last minute,
// and notes that it now does.
func (n *Notifier) fresh(k seenKey) bool {
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	if last, ok := n.seen[k]; ok && now.Sub(last) < recordQuiet {
		return false
	}
	if len(n.seen) > 10000 {
		clear(n.seen)
	}
	n.seen[k] = now
	return true
}

func (n *Notifier) now() time.Time {
	if n.opts.Now != nil {
		return n.opts.Now()
	}
	return time.Now()
}

// count adds a request at t to its hour.
func (n *Notifier) count(t time.Time) {
	h := t.Unix() / 3600
	c := &n.hours[h%int64(len(n.hours))]
	if old := c.hour.Load(); old != h && c.hour.CompareAndSwap(old, h) {
		c.n.Store(0)
	}
	c.n.Add(1)
}

// hourly returns the requests counted in the current hour, and the
// average of the past hours with any, of which there were past.
func (n *Notifier) hourly() (current int64, avg float64, past int) {
	h := n.now().Unix() / 3600
	var sum int64
	for i := int64(0); i <= spikeHours; i++ {
		c := &n.hours[(h-i)%int64(len(n.hours))]
		if c.hour.Load() != h-i {
			continue
		}
		if i == 0 {
			current = c.n.Load()
			continue
		}
		sum += c.n.Load()
		past++
	}
	if past > 0 {
		avg = float64(sum) / float64(past)
	}
	return current, avg, past
}
