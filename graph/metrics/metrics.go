// Package metrics exposes the gateway's Prometheus metrics at /metrics,
// on a registry of its own. Request metrics come from the finished logs
// (Collector is an aiproxy.LogRecorder, one more of aiproxy.Recorders);
// channel breakers, the log writer's queue and the health of the database
// and Redis are read when Prometheus scrapes.
//
// Label cardinality is bounded: no label holds a token, a request id, a
// user or an address. Channels are the admin's (few); modes, status
// classes and protocols are fixed sets; models and groups are capped at
// Options.MaxModels and Options.MaxGroups distinct values each, in the
// order they are first seen, and every later value is counted as
// "other".
package metrics

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/store"
)

var (
	_ aiproxy.LogRecorder = (*Collector)(nil)
	_ relay.Refusals      = (*Collector)(nil)
)

// Defaults of Options.
const (
	DefaultMaxModels = 100
	DefaultMaxGroups = 100
	defaultPingTTL   = 5 * time.Second
	pingTimeout      = time.Second
	// maxSeries bounds the cache of label children by raw label values;
	// past it, a new combination is looked up in the vectors each time.
	maxSeries = 20000
)

// Other is the label value of a model or group past the cap.
const Other = "other"

// HealthSnapshot reads the channels' health (store's MemoryHealth and
// RedisHealth).
type HealthSnapshot interface {
	Snapshot() []aiproxy.ChannelHealth
}

// LogStats reads the log writer's counters (store.LogWriter).
type LogStats interface {
	Stats() store.LogWriterStats
}

// Options configures a Collector; every field may be zero.
type Options struct {
	// MaxModels and MaxGroups cap the distinct model and group label
	// values (METRICS_MAX_MODELS, METRICS_MAX_GROUPS); 0 means 100.
	MaxModels, MaxGroups int
	// Health is read at scrape time for aiproxy_channel_breaker_state;
	// nil exports no breaker states.
	Health HealthSnapshot
	// Logs is read at scrape time for the aiproxy_log_* metrics; nil
	// exports none.
	Logs LogStats
	// DB and Redis check that the database and Redis answer, for
	// aiproxy_database_up and aiproxy_redis_up; each is called at most
	// once per PingTTL (0 means 5s) with a 1s timeout. Nil exports no
	// such metric.
	DB, Redis func(ctx context.Context) error
	PingTTL   time.Duration
}

// Status classes, the status label.
const (
	class2xx = "2xx"
	class4xx = "4xx"
	class5xx = "5xx"
)

// limitNames are the limits relay.Refusals names, whose children are made
// up front.
var limitNames = [...]string{"rpm", "tpm", "token_rpm", "token_tpm", "concurrency", "quota", "period_quota", "balance"}

// tokenKinds are the kind label values of aiproxy_tokens_total.
var tokenKinds = [...]string{"input", "output", "cached", "cache_write", "reasoning", "image_input", "audio_input", "image_output", "audio_output"}

// Collector turns finished request logs into metrics. Record is cheap:
// a map lookup under a read lock finds the label children made for the
// log's label values, which are then incremented; nothing is allocated
// for a combination seen before. It is safe for concurrent use.
type Collector struct {
	reg *prometheus.Registry

	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	ttfb      *prometheus.HistogramVec
	tokens    *prometheus.CounterVec
	cost      *prometheus.CounterVec
	attempts  *prometheus.CounterVec
	upErrors  *prometheus.CounterVec
	refused   *prometheus.CounterVec
	refusedBy map[string]prometheus.Counter // by limit name, read-only after New
	unpriced  *prometheus.CounterVec
	maxModels int
	maxGroups int

	mu       sync.RWMutex
	series   map[seriesKey]*series
	models   map[string]struct{} // the model label values taken
	groups   map[string]struct{}
	channels map[int64]*channelSeries
}

// seriesKey is the raw label values of one log.
type seriesKey struct {
	mode     aiproxy.Mode
	model    string
	channel  int64
	group    string
	status   string
	protocol aiproxy.Protocol
}

// series is the label children one seriesKey updates.
type series struct {
	requests prometheus.Counter
	latency  prometheus.Observer
	ttfb     prometheus.Observer
	tokens   [len(tokenKinds)]prometheus.Counter
	cost     prometheus.Counter
	unpriced prometheus.Counter
}

// channelSeries is the label children of one channel's attempts.
type channelSeries struct {
	attempts prometheus.Counter
	errors   map[string]prometheus.Counter // by status class ("other": none came)
}

// New returns a Collector with its own registry, which also holds the Go
// runtime and process collectors.
func New(opts Options) *Collector {
	c := &Collector{
		reg:       prometheus.NewRegistry(),
		maxModels: opts.MaxModels,
		maxGroups: opts.MaxGroups,
		series:    map[seriesKey]*series{},
		models:    map[string]struct{}{},
		groups:    map[string]struct{}{},
		channels:  map[int64]*channelSeries{},
	}
	if c.maxModels <= 0 {
		c.maxModels = DefaultMaxModels
	}
	if c.maxGroups <= 0 {
		c.maxGroups = DefaultMaxGroups
	}
	buckets := []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300}
	c.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aiproxy_requests_total",
		Help: "Relayed requests, by mode, model, channel (0: none reached), group, status class (2xx, 4xx, 5xx) and client protocol.",
	}, []string{"mode", "model", "channel", "group", "status", "protocol"})
	c.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "aiproxy_request_duration_seconds", Help: "Time until the answer was complete, by mode and channel.", Buckets: buckets,
	}, []string{"mode", "channel"})
	c.ttfb = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "aiproxy_request_ttfb_seconds", Help: "Time to the first byte of the upstream answer, by mode and channel (requests a channel answered).", Buckets: buckets,
	}, []string{"mode", "channel"})
	c.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aiproxy_tokens_total",
		Help: "Tokens, by kind (input, output, and the parts of them: cached, cache_write, reasoning, image_input, audio_input, image_output, audio_output) and model.",
	}, []string{"kind", "model"})
	c.cost = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aiproxy_cost_total",
		Help: "What requests cost, in currency units of the price list (USD unless prices say otherwise), by model and group.",
	}, []string{"model", "group"})
	c.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aiproxy_upstream_attempts_total", Help: "Attempts sent to a channel.",
	}, []string{"channel"})
	c.upErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aiproxy_upstream_errors_total", Help: "Failed attempts, by channel and the provider's status class (none: no answer came).",
	}, []string{"channel", "status"})
	c.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aiproxy_rate_limit_rejections_total",
		Help: "Requests a limit refused before any provider was asked, by limit (rpm, tpm, token_rpm, token_tpm, concurrency, quota, period_quota, balance).",
	}, []string{"limit"})
	c.refusedBy = map[string]prometheus.Counter{}
	for _, n := range limitNames {
		c.refusedBy[n] = c.refused.WithLabelValues(n)
	}
	c.unpriced = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aiproxy_unpriced_requests_total", Help: "Requests of a model without a price, by model.",
	}, []string{"model"})
	c.reg.MustRegister(c.requests, c.latency, c.ttfb, c.tokens, c.cost, c.attempts, c.upErrors, c.refused, c.unpriced,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&scrapeCollector{opts: opts, ttl: opts.PingTTL})
	return c
}

// Registry returns the registry the metrics are in.
func (c *Collector) Registry() *prometheus.Registry { return c.reg }

// Record counts the finished request l.
func (c *Collector) Record(l *aiproxy.Log) {
	k := seriesKey{mode: l.Mode, model: l.Model, channel: l.ChannelID, group: l.GroupID, status: statusClass(l.StatusCode), protocol: l.ClientProtocol}
	c.mu.RLock()
	s := c.series[k]
	c.mu.RUnlock()
	if s == nil {
		s = c.newSeries(k)
	}
	s.requests.Inc()
	s.latency.Observe(l.Latency.Seconds())
	if l.TTFB > 0 {
		s.ttfb.Observe(l.TTFB.Seconds())
	}
	u := &l.Usage
	for i, n := range [len(tokenKinds)]int64{u.PromptTokens, u.CompletionTokens, u.CachedTokens, u.CacheCreationTokens, u.ReasoningTokens,
		u.ImageInputTokens, u.AudioInputTokens, u.ImageOutputTokens, u.AudioOutputTokens} {
		if n > 0 {
			s.tokens[i].Add(float64(n))
		}
	}
	if l.Amount > 0 {
		s.cost.Add(l.Amount.Float())
	}
	if l.Unpriced && l.Usage.Requests > 0 {
		s.unpriced.Inc()
	}
	for i := range l.Attempts {
		a := &l.Attempts[i]
		ch := c.channel(a.ChannelID)
		ch.attempts.Inc()
		if a.Error != "" || a.Status >= 400 {
			cls := "none"
			if a.Status > 0 {
				cls = statusClass(a.Status)
			}
			ch.errors[cls].Inc()
		}
	}
}

// Refused counts a request the limit named limit refused.
func (c *Collector) Refused(limit string) {
	if r := c.refusedBy[limit]; r != nil {
		r.Inc()
		return
	}
	c.refused.WithLabelValues(limit).Inc()
}

// newSeries makes (and, while the cache has room, keeps) the children of
// k, with its model and group capped.
func (c *Collector) newSeries(k seriesKey) *series {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.series[k]; s != nil {
		return s
	}
	model := capped(c.models, c.maxModels, k.model)
	group := capped(c.groups, c.maxGroups, k.group)
	mode, channel := string(k.mode), strconv.FormatInt(k.channel, 10)
	s := &series{
		requests: c.requests.WithLabelValues(mode, model, channel, group, k.status, string(k.protocol)),
		latency:  c.latency.WithLabelValues(mode, channel),
		ttfb:     c.ttfb.WithLabelValues(mode, channel),
		cost:     c.cost.WithLabelValues(model, group),
		unpriced: c.unpriced.WithLabelValues(model),
	}
	for i, kind := range tokenKinds {
		s.tokens[i] = c.tokens.WithLabelValues(kind, model)
	}
	if len(c.series) < maxSeries {
		c.series[k] = s
	}
	return s
}

// channel returns the attempt children of channel id.
func (c *Collector) channel(id int64) *channelSeries {
	c.mu.RLock()
	ch := c.channels[id]
	c.mu.RUnlock()
	if ch != nil {
		return ch
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch = c.channels[id]; ch != nil {
		return ch
	}
	label := strconv.FormatInt(id, 10)
	ch = &channelSeries{attempts: c.attempts.WithLabelValues(label), errors: map[string]prometheus.Counter{}}
	for _, cls := range []string{"none", class2xx, class4xx, class5xx, "1xx", "3xx"} {
		ch.errors[cls] = c.upErrors.WithLabelValues(label, cls)
	}
	c.channels[id] = ch
	return ch
}

// capped returns v when it is one of the label values taken, or there is
// room for it (it is then taken), else Other. c.mu must be held.
func capped(taken map[string]struct{}, limit int, v string) string {
	if _, ok := taken[v]; ok {
		return v
	}
	if len(taken) >= limit {
		return Other
	}
	taken[v] = struct{}{}
	return v
}

// statusClass returns "2xx", "4xx", "5xx" (and "1xx", "3xx") for an HTTP
// status; anything out of range, such as 0, is "5xx".
func statusClass(code int) string {
	switch code / 100 {
	case 1:
		return "1xx"
	case 2:
		return class2xx
	case 3:
		return "3xx"
	case 4:
		return class4xx
	}
	return class5xx
}
