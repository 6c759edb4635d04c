package alert

import (
	"context"
	"fmt"
	"log/slog"
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
	go n.run()
	return n
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
	if t := n.opts.Throttle; t != nil {
		ok, err := t.Allow(ctx, "alert:"+a.ThrottleKey(), n.opts.Window, time.Now())
		if err != nil {
			n.opts.Logger.Warn("alert: throttle unavailable; sending", "key", a.ThrottleKey(), "err", err)
		} else if !ok {
			n.held.Add(1)
			return
		}
	}
	delivered := len(n.opts.Sinks) == 0
	for _, s := range n.opts.Sinks {
		if err := s.Send(ctx, a); err != nil {
			n.opts.Logger.Warn("alert: delivery failed", "sink", s.Name(), "kind", a.Kind, "err", err)
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
