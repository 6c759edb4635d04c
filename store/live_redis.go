package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aiproxy/aiproxy"
)

// liveRedis carries a LiveHub's events and gauges to and from the other
// replicas: one goroutine publishes batches and gauges, another receives.
type liveRedis struct {
	hub     *LiveHub
	r       *Redis
	channel string
	origin  string
	out     chan *aiproxy.Log // events waiting to be published

	mu     sync.Mutex
	remote map[string]remoteGauges // by origin

	failures atomic.Int64
	warned   atomic.Int64 // unix nanos of the last warning
	cancel   context.CancelFunc
	stopPub  chan struct{}
	done     sync.WaitGroup
}

type remoteGauges struct {
	at     time.Time // when they arrived
	gauges []LiveGauge
}

// liveMessage is a batch of events or a replica's gauges on the wire.
type liveMessage struct {
	Origin string       `json:"o"`
	Events []liveWire   `json:"e,omitempty"`
	Gauges *[]LiveGauge `json:"g,omitempty"` // set (maybe empty) in a gauge message
}

// liveWire is an event on the wire.
type liveWire struct {
	RequestID         string               `json:"id"`
	CreatedAt         int64                `json:"at"` // unix nanos
	GroupID           string               `json:"g,omitempty"`
	TokenID           int64                `json:"t,omitempty"`
	TokenName         string               `json:"tn,omitempty"`
	ChannelID         int64                `json:"c,omitempty"`
	Model             string               `json:"m,omitempty"`
	UpstreamModel     string               `json:"um,omitempty"`
	Endpoint          string               `json:"ep,omitempty"`
	Mode              aiproxy.Mode         `json:"md,omitempty"`
	ClientProtocol    aiproxy.Protocol     `json:"cp,omitempty"`
	ChannelProtocol   aiproxy.Protocol     `json:"chp,omitempty"`
	Stream            bool                 `json:"s,omitempty"`
	StatusCode        int                  `json:"st"`
	Usage             [12]int64            `json:"u"`
	UsageCounted      bool                 `json:"uc,omitempty"`
	Cost              aiproxy.Cost         `json:"co"`
	Amount            aiproxy.Amount       `json:"a,omitempty"`
	Unpriced          bool                 `json:"up,omitempty"`
	ServiceTier       string               `json:"tier,omitempty"`
	TTFB              time.Duration        `json:"ttfb,omitempty"`
	Latency           time.Duration        `json:"lat,omitempty"`
	ClientIP          string               `json:"ip,omitempty"`
	Error             string               `json:"err,omitempty"`
	UpstreamRequestID string               `json:"uid,omitempty"`
	User              string               `json:"usr,omitempty"`
	Attempts          []aiproxy.LogAttempt `json:"att,omitempty"`
}

func toWire(l *aiproxy.Log) liveWire {
	u := l.Usage
	return liveWire{
		RequestID: l.RequestID, CreatedAt: l.CreatedAt.UnixNano(), GroupID: l.GroupID,
		TokenID: l.TokenID, TokenName: l.TokenName, ChannelID: l.ChannelID, Model: l.Model,
		UpstreamModel: l.UpstreamModel, Endpoint: l.Endpoint, Mode: l.Mode,
		ClientProtocol: l.ClientProtocol, ChannelProtocol: l.ChannelProtocol, Stream: l.Stream,
		StatusCode: l.StatusCode,
		Usage: [12]int64{u.PromptTokens, u.CompletionTokens, u.CachedTokens, u.CacheCreationTokens,
			u.CacheCreation1hTokens, u.ImageInputTokens, u.AudioInputTokens, u.ReasoningTokens,
			u.ImageOutputTokens, u.AudioOutputTokens, u.TotalTokens, u.Requests},
		UsageCounted: l.UsageCounted, Cost: l.Cost, Amount: l.Amount, Unpriced: l.Unpriced,
		ServiceTier: l.ServiceTier, TTFB: l.TTFB, Latency: l.Latency, ClientIP: l.ClientIP,
		Error: l.Error, UpstreamRequestID: l.UpstreamRequestID, User: l.User, Attempts: l.Attempts,
	}
}

func (w *liveWire) log() *aiproxy.Log {
	u := w.Usage
	return &aiproxy.Log{
		RequestID: w.RequestID, CreatedAt: time.Unix(0, w.CreatedAt).UTC(), GroupID: w.GroupID,
		TokenID: w.TokenID, TokenName: w.TokenName, ChannelID: w.ChannelID, Model: w.Model,
		UpstreamModel: w.UpstreamModel, Endpoint: w.Endpoint, Mode: w.Mode,
		ClientProtocol: w.ClientProtocol, ChannelProtocol: w.ChannelProtocol, Stream: w.Stream,
		StatusCode: w.StatusCode,
		Usage: aiproxy.Usage{PromptTokens: u[0], CompletionTokens: u[1], CachedTokens: u[2], CacheCreationTokens: u[3],
			CacheCreation1hTokens: u[4], ImageInputTokens: u[5], AudioInputTokens: u[6], ReasoningTokens: u[7],
			ImageOutputTokens: u[8], AudioOutputTokens: u[9], TotalTokens: u[10], Requests: u[11]},
		UsageCounted: w.UsageCounted, Cost: w.Cost, Amount: w.Amount, Unpriced: w.Unpriced,
		ServiceTier: w.ServiceTier, TTFB: w.TTFB, Latency: w.Latency, ClientIP: w.ClientIP,
		Error: w.Error, UpstreamRequestID: w.UpstreamRequestID, User: w.User, Attempts: w.Attempts,
	}
}

func startLiveRedis(h *LiveHub, r *Redis) *liveRedis {
	var id [8]byte
	rand.Read(id[:])
	ctx, cancel := context.WithCancel(context.Background())
	lr := &liveRedis{
		hub:     h,
		r:       r,
		channel: r.Key("live"),
		origin:  hex.EncodeToString(id[:]),
		out:     make(chan *aiproxy.Log, h.opts.Queue),
		remote:  map[string]remoteGauges{},
		cancel:  cancel,
		stopPub: make(chan struct{}),
	}
	subscribed := make(chan struct{})
	lr.done.Add(2)
	go func() { defer lr.done.Done(); lr.publishLoop() }()
	go func() { defer lr.done.Done(); lr.receiveLoop(ctx, sync.OnceFunc(func() { close(subscribed) })) }()
	<-subscribed
	return lr
}

// close publishes what is queued, then stops both goroutines.
func (lr *liveRedis) close() {
	close(lr.stopPub)
	lr.cancel()
	lr.done.Wait()
}

// publishLoop publishes events in batches, at most FlushInterval after
// the first of a batch, and this replica's gauges every GaugeInterval.
func (lr *liveRedis) publishLoop() {
	opts := lr.hub.opts
	flush := time.NewTicker(opts.FlushInterval)
	defer flush.Stop()
	gauges := time.NewTicker(opts.GaugeInterval)
	defer gauges.Stop()
	batch := make([]liveWire, 0, opts.Batch)
	send := func() {
		if len(batch) > 0 {
			lr.publish(liveMessage{Origin: lr.origin, Events: batch}, int64(len(batch)))
			batch = batch[:0]
		}
	}
	for {
		select {
		case e := <-lr.out:
			batch = append(batch, toWire(e))
			if len(batch) >= opts.Batch {
				send()
			}
		case <-flush.C:
			send()
		case <-gauges.C:
			g := lr.hub.inflight.snapshot()
			if g == nil {
				g = []LiveGauge{}
			}
			lr.publish(liveMessage{Origin: lr.origin, Gauges: &g}, 0)
		case <-lr.stopPub:
			for n := len(lr.out); n > 0; n-- {
				batch = append(batch, toWire(<-lr.out))
				if len(batch) >= opts.Batch {
					send()
				}
			}
			send()
			return
		}
	}
}

// publish sends m; events is how many it carries, counted as dropped when
// it fails.
func (lr *liveRedis) publish(m liveMessage, events int64) {
	b, err := json.Marshal(m)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), busPublishTimeout)
		err = lr.r.Client.Publish(ctx, lr.channel, b).Err()
		cancel()
	}
	if err != nil {
		lr.hub.dropped.Add(events)
		lr.fail("publish", err)
	}
}

// fail counts a failure and logs it, at most every 10 seconds.
func (lr *liveRedis) fail(op string, err error) {
	n := lr.failures.Add(1)
	now := time.Now().UnixNano()
	if last := lr.warned.Load(); now-last > int64(10*time.Second) && lr.warned.CompareAndSwap(last, now) {
		slog.Warn("store: live hub: redis "+op+" failed", "channel", lr.channel, "failures", n, "err", err)
	}
}

// receiveLoop keeps a subscription open until ctx is done, retrying with
// backoff; subscribed is called once the first attempt ended.
func (lr *liveRedis) receiveLoop(ctx context.Context, subscribed func()) {
	defer subscribed()
	backoff := busMinBackoff
	for {
		err := lr.session(ctx, func() { backoff = busMinBackoff; subscribed() })
		if ctx.Err() != nil {
			return
		}
		lr.fail("subscribe", err)
		subscribed()
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, busMaxBackoff)
	}
}

func (lr *liveRedis) session(ctx context.Context, subscribed func()) error {
	ps := lr.r.Client.Subscribe(ctx, lr.channel)
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil { // the subscription's confirmation
		return err
	}
	subscribed()
	ch := ps.Channel(redis.WithChannelSize(1024), redis.WithChannelHealthCheckInterval(busPingInterval))
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m, ok := <-ch:
			if !ok {
				return redis.ErrClosed
			}
			lr.receive(m.Payload)
		}
	}
}

// receive delivers another replica's events or keeps its gauges.
func (lr *liveRedis) receive(payload string) {
	var m liveMessage
	if err := json.Unmarshal([]byte(payload), &m); err != nil {
		lr.fail("decode", err)
		return
	}
	if m.Origin == lr.origin {
		return
	}
	if m.Gauges != nil {
		lr.mu.Lock()
		lr.remote[m.Origin] = remoteGauges{at: time.Now(), gauges: *m.Gauges}
		lr.mu.Unlock()
	}
	now := time.Now().Unix()
	for i := range m.Events {
		l := m.Events[i].log()
		lr.hub.recent.add(l, now)
		lr.hub.deliver(l)
	}
}

// remoteInFlight sums the latest gauges of the other replicas heard from
// in the last three gauge intervals, forgetting the others.
func (lr *liveRedis) remoteInFlight(f LiveFilter) (requests, streams int64) {
	stale := time.Now().Add(-3 * lr.hub.opts.GaugeInterval)
	lr.mu.Lock()
	defer lr.mu.Unlock()
	for o, rg := range lr.remote {
		if rg.at.Before(stale) {
			delete(lr.remote, o)
			continue
		}
		for _, g := range rg.gauges {
			if g.match(f) {
				requests += g.Requests
				streams += g.Streams
			}
		}
	}
	return requests, streams
}
