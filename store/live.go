package store

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aiproxy/aiproxy"
)

// Live hub defaults (LiveOptions).
const (
	liveDefaultBuffer        = 1024
	liveDefaultQueue         = 8192
	liveDefaultBatch         = 256
	liveDefaultFlush         = 100 * time.Millisecond
	liveDefaultGaugeInterval = time.Second
	liveMaxError             = 1024 // bytes of a log's error an event keeps
)

// Errors a LiveSubscription ends with (Err).
var (
	// ErrLiveDropped ends a subscription whose reader fell behind by more
	// than its buffer: it was dropped so that recording never waits.
	ErrLiveDropped = errors.New("store: live subscription dropped: the subscriber fell behind")
	// ErrLiveClosed ends the subscriptions of a closed hub.
	ErrLiveClosed = errors.New("store: live hub closed")
)

// LiveOptions tune a LiveHub; zero fields take the defaults.
type LiveOptions struct {
	// Queue is how many events wait for Redis; more are dropped (and
	// counted). 0 means 8192.
	Queue int
	// Batch is the most events in one Redis message; FlushInterval the
	// longest an event waits for its batch to fill. 0 means 256 and
	// 100ms.
	Batch         int
	FlushInterval time.Duration
	// GaugeInterval is how often a replica publishes its in-flight gauges;
	// a replica silent for three intervals is left out of the sums. 0
	// means 1s.
	GaugeInterval time.Duration
}

// LiveFilter selects live events and gauges; zero fields do not filter.
type LiveFilter struct {
	GroupID   string
	Model     string
	ChannelID int64 // gauges know no channel: InFlight ignores it
	Failed    *bool // true: only failed requests; false: only successful ones
}

func (f *LiveFilter) match(l *aiproxy.Log) bool {
	return (f.GroupID == "" || f.GroupID == l.GroupID) &&
		(f.Model == "" || f.Model == l.Model) &&
		(f.ChannelID == 0 || f.ChannelID == l.ChannelID) &&
		(f.Failed == nil || *f.Failed == (l.Error != ""))
}

// LiveGauge is what one (group, model) has in flight on one replica.
type LiveGauge struct {
	GroupID  string `json:"g"`
	Model    string `json:"m"`
	Requests int64  `json:"r"`
	Streams  int64  `json:"s"`
}

// LiveHub is the live view of the gateway's traffic: a LogRecorder that
// hands every finished log, as an event (the log without its bodies and
// metadata, its error cut at 1 KiB), to the subscribers of this replica
// and, when it has Redis, of every replica on the same key prefix; and
// the counter of requests in flight (relay.InFlight), summed across
// replicas. Record and Start never wait: a subscriber that falls behind is
// dropped, and events Redis cannot take fast enough are dropped and
// counted (Dropped). It is safe for concurrent use; call Close when done.
type LiveHub struct {
	opts LiveOptions
	subs atomic.Pointer[[]*LiveSubscription] // copied on write
	mu   sync.Mutex                          // serializes changes to subs
	inflight
	recent  liveWindow
	dropped atomic.Int64
	closed  atomic.Bool

	redis *liveRedis // nil: this replica only
}

// NewLiveHub returns a hub for this replica alone (r nil) or for every
// replica sharing r's key prefix, through Redis pub/sub on the channel
// r.Key("live"). r stays the caller's: Close does not close it.
func NewLiveHub(r *Redis, opts LiveOptions) *LiveHub {
	opts.Queue = cmpOr(opts.Queue, liveDefaultQueue)
	opts.Batch = cmpOr(opts.Batch, liveDefaultBatch)
	opts.FlushInterval = cmpOr(opts.FlushInterval, liveDefaultFlush)
	opts.GaugeInterval = cmpOr(opts.GaugeInterval, liveDefaultGaugeInterval)
	h := &LiveHub{opts: opts}
	h.inflight.m = map[gaugeKey]*gauge{}
	if r != nil {
		h.redis = startLiveRedis(h, r)
	}
	return h
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Record hands an event of l to the matching subscribers and to the other
// replicas. It only reads l and never waits.
func (h *LiveHub) Record(l *aiproxy.Log) {
	h.recent.add(l, time.Now().Unix())
	subs := h.subs.Load()
	if (subs == nil || len(*subs) == 0) && h.redis == nil {
		return
	}
	e := liveEvent(l)
	h.deliver(e)
	if h.redis != nil {
		select {
		case h.redis.out <- e:
		default:
			h.dropped.Add(1)
		}
	}
}

// liveEvent returns the copy of l an event carries.
func liveEvent(l *aiproxy.Log) *aiproxy.Log {
	e := *l
	e.RequestBody, e.ResponseBody, e.Metadata = "", "", ""
	e.RequestBodyTruncated, e.ResponseBodyTruncated = false, false
	if len(e.Error) > liveMaxError {
		e.Error = e.Error[:liveMaxError]
	}
	return &e
}

// deliver hands e to every matching subscriber that has room, and drops
// those that have none.
func (h *LiveHub) deliver(e *aiproxy.Log) {
	subs := h.subs.Load()
	if subs == nil {
		return
	}
	for _, s := range *subs {
		if !s.filter.match(e) {
			continue
		}
		select {
		case s.c <- e:
		default:
			s.end(ErrLiveDropped)
			h.dropped.Add(1)
		}
	}
}

// LiveSecond is the traffic of one second (Unix seconds).
type LiveSecond struct {
	Unix, Requests, Tokens int64
}

// Recent returns the traffic matching f, here and on the replicas heard
// from, of each of the last 60 seconds that had some, in no order. A new
// subscriber starts its per-minute rates from it.
func (h *LiveHub) Recent(f LiveFilter) []LiveSecond {
	return h.recent.sums(f, time.Now().Unix())
}

// Subscribers returns the number of subscriptions open on this hub.
func (h *LiveHub) Subscribers() int {
	if subs := h.subs.Load(); subs != nil {
		return len(*subs)
	}
	return 0
}

// Dropped returns the number of events dropped since NewLiveHub: those a
// lagging subscriber did not get and those Redis could not take.
func (h *LiveHub) Dropped() int64 { return h.dropped.Load() }

// Subscribe returns a subscription to the events matching f recorded from
// now on, here and on the other replicas, with room for buffer events
// (0 means 1024). On a closed hub it returns a subscription already ended.
func (h *LiveHub) Subscribe(f LiveFilter, buffer int) *LiveSubscription {
	s := &LiveSubscription{
		hub:    h,
		filter: f,
		c:      make(chan *aiproxy.Log, cmpOr(buffer, liveDefaultBuffer)),
		done:   make(chan struct{}),
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed.Load() {
		s.end(ErrLiveClosed)
		return s
	}
	var next []*LiveSubscription
	if cur := h.subs.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, s)
	h.subs.Store(&next)
	return s
}

func (h *LiveHub) remove(s *LiveSubscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cur := h.subs.Load()
	if cur == nil {
		return
	}
	next := make([]*LiveSubscription, 0, len(*cur))
	for _, o := range *cur {
		if o != s {
			next = append(next, o)
		}
	}
	h.subs.Store(&next)
}

// Close ends every subscription (ErrLiveClosed) and stops the Redis
// goroutines, publishing what is queued first. It returns nil.
func (h *LiveHub) Close() error {
	h.mu.Lock()
	h.closed.Store(true)
	cur := h.subs.Swap(nil)
	h.mu.Unlock()
	if cur != nil {
		for _, s := range *cur {
			s.end(ErrLiveClosed)
		}
	}
	if h.redis != nil {
		h.redis.close()
	}
	return nil
}

// InFlight returns the requests and, among them, the streams in flight
// that match f's group and model, on this replica and on every other one
// heard from in the last three gauge intervals.
func (h *LiveHub) InFlight(f LiveFilter) (requests, streams int64) {
	for _, g := range h.inflight.snapshot() {
		if g.match(f) {
			requests += g.Requests
			streams += g.Streams
		}
	}
	if h.redis != nil {
		r, s := h.redis.remoteInFlight(f)
		requests += r
		streams += s
	}
	return requests, streams
}

func (g *LiveGauge) match(f LiveFilter) bool {
	return (f.GroupID == "" || f.GroupID == g.GroupID) && (f.Model == "" || f.Model == g.Model)
}

// LiveSubscription is a subscriber's feed of live events (LiveHub.Subscribe).
type LiveSubscription struct {
	hub    *LiveHub
	filter LiveFilter
	c      chan *aiproxy.Log
	done   chan struct{}
	once   sync.Once
	err    error
}

// C delivers the events, shared and read-only. It is never closed: read
// it until Done.
func (s *LiveSubscription) C() <-chan *aiproxy.Log { return s.c }

// Done is closed when the subscription ends: stopped, dropped or its hub
// closed.
func (s *LiveSubscription) Done() <-chan struct{} { return s.done }

// Err returns why the subscription ended once Done is closed:
// ErrLiveDropped, ErrLiveClosed, or nil after Stop.
func (s *LiveSubscription) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Stop ends the subscription; calling it more than once is harmless.
func (s *LiveSubscription) Stop() {
	s.end(nil)
	s.hub.remove(s)
}

func (s *LiveSubscription) end(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.done)
	})
}

// inflight counts the requests in flight on this replica by group and
// model. Start takes a read lock and adds to atomics: it allocates only
// the first time it sees a (group, model).
type inflight struct {
	mu sync.RWMutex
	m  map[gaugeKey]*gauge
}

type gaugeKey struct{ group, model string }

type gauge struct {
	requests, streams     atomic.Int64
	endRequest, endStream func() // made once, so Start returns them without allocating
}

// Start counts a request of group for model (a stream when stream is
// true) in flight until the returned function is called, once.
func (f *inflight) Start(group, model string, stream bool) (end func()) {
	k := gaugeKey{group, model}
	f.mu.RLock()
	g := f.m[k]
	if g != nil {
		g.add(stream)
	}
	f.mu.RUnlock()
	if g == nil {
		f.mu.Lock()
		if g = f.m[k]; g == nil {
			n := &gauge{}
			n.endRequest = func() { n.requests.Add(-1) }
			n.endStream = func() { n.streams.Add(-1); n.requests.Add(-1) }
			f.m[k] = n
			g = n
		}
		g.add(stream)
		f.mu.Unlock()
	}
	if stream {
		return g.endStream
	}
	return g.endRequest
}

func (g *gauge) add(stream bool) {
	g.requests.Add(1)
	if stream {
		g.streams.Add(1)
	}
}

// snapshot returns the gauges in flight, forgetting (group, model)s with
// nothing in flight.
func (f *inflight) snapshot() []LiveGauge {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []LiveGauge
	for k, g := range f.m {
		r := g.requests.Load()
		if r == 0 {
			delete(f.m, k)
			continue
		}
		out = append(out, LiveGauge{GroupID: k.group, Model: k.model, Requests: r, Streams: g.streams.Load()})
	}
	return out
}

// liveWindow counts the requests and tokens of each of the last liveWindowSeconds
// seconds, by group, model, channel and failure.
type liveWindow struct {
	mu   sync.Mutex
	secs [liveWindowSeconds]struct {
		unix int64
		m    map[liveWindowKey]liveWindowCount
	}
}

const liveWindowSeconds = 60

type liveWindowKey struct {
	group, model string
	channel      int64
	failed       bool
}

type liveWindowCount struct{ requests, tokens int64 }

func (w *liveWindow) add(l *aiproxy.Log, now int64) {
	k := liveWindowKey{l.GroupID, l.Model, l.ChannelID, l.Error != ""}
	w.mu.Lock()
	defer w.mu.Unlock()
	b := &w.secs[now%liveWindowSeconds]
	if b.unix != now {
		b.unix = now
		if b.m == nil {
			b.m = map[liveWindowKey]liveWindowCount{}
		}
		clear(b.m)
	}
	c := b.m[k]
	c.requests++
	c.tokens += l.Usage.TotalTokens
	b.m[k] = c
}

func (w *liveWindow) sums(f LiveFilter, now int64) []LiveSecond {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []LiveSecond
	for i := range w.secs {
		b := &w.secs[i]
		if b.unix <= now-liveWindowSeconds || b.unix > now {
			continue
		}
		sec := LiveSecond{Unix: b.unix}
		for k, c := range b.m {
			if (f.GroupID == "" || f.GroupID == k.group) && (f.Model == "" || f.Model == k.model) &&
				(f.ChannelID == 0 || f.ChannelID == k.channel) && (f.Failed == nil || *f.Failed == k.failed) {
				sec.Requests += c.requests
				sec.Tokens += c.tokens
			}
		}
		if sec.Requests > 0 {
			out = append(out, sec)
		}
	}
	return out
}
