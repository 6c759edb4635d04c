package graph

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/graph/model"
	"github.com/aiproxy/aiproxy/store"
)

// Subscription transports' timings and limits.
const (
	wsInitTimeout  = 10 * time.Second // for connection_init, after the upgrade
	wsPingInterval = 25 * time.Second
	maxInterval    = 3600 // seconds, of liveMetrics
	rpmWindow      = 60   // seconds, of rpm and tpm
)

// tokenRecheck is how often a group token holding a subscription is
// checked again (a variable for tests).
var tokenRecheck = 15 * time.Second

// WebSocket close codes of a refused connection_init (graphql-transport-ws).
const (
	closeUnauthorized = 4401
	closeForbidden    = 4403
	closeInternal     = 4500
)

// LiveFeed is the live traffic the subscriptions read (store.LiveHub).
type LiveFeed interface {
	// Subscribe returns a feed of the logs matching f recorded from now
	// on, with room for buffer of them (0: the feed's default).
	Subscribe(f store.LiveFilter, buffer int) *store.LiveSubscription
	// InFlight returns the requests and streams in flight matching f's
	// group and model.
	InFlight(f store.LiveFilter) (requests, streams int64)
	// Recent returns the traffic matching f of each of the last 60
	// seconds, for rpm and tpm from a subscription's start.
	Recent(f store.LiveFilter) []store.LiveSecond
}

type peerKey struct{}

// withPeer keeps the address a WebSocket came from, for initWebsocket.
func withPeer(ctx context.Context, addr netip.Addr) context.Context {
	return context.WithValue(ctx, peerKey{}, addr)
}

// subscriptionContext returns ctx, also cancelled when the API's life
// ends, so that subscriptions end and WebSockets close on shutdown.
func (s *server) subscriptionContext(ctx context.Context) context.Context {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.life, cancel)
	context.AfterFunc(ctx, func() { stop() })
	return ctx
}

// initWebsocket authenticates a WebSocket's connection_init payload, which
// carries the headers a browser cannot set: {"Authorization": "Bearer
// <key>"} or {"X-Api-Key": "<key>"}, the names in any case. A refused
// connection is closed with 4401 (no valid key), 4403 (a token refused
// now) or 4500.
func (s *server) initWebsocket(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	key := requestKey(func(name string) string {
		for k, v := range payload {
			if s, ok := v.(string); ok && strings.EqualFold(k, name) {
				return s
			}
		}
		return ""
	})
	addr, _ := ctx.Value(peerKey{}).(netip.Addr)
	c, err := s.authenticate(ctx, key, addr)
	if err != nil {
		code := closeUnauthorized
		switch aiproxy.ErrorCode(err) {
		case aiproxy.EUNAUTHORIZED:
		case aiproxy.EFORBIDDEN:
			code = closeForbidden
		default:
			s.logger.ErrorContext(ctx, "graph: token lookup", "err", err)
			code, err = closeInternal, aiproxy.Errorf(aiproxy.EINTERNAL, "internal error")
		}
		reason := err.Error()
		if e, ok := err.(*aiproxy.Error); ok {
			reason = e.Message
		}
		if len(reason) > 120 { // a close frame's reason is at most 123 bytes
			reason = reason[:120]
		}
		return transport.WithWebsocketCloseCode(transport.AppendCloseReason(ctx, reason), code), nil, err
	}
	return s.watchToken(withCaller(ctx, c), c, key, addr), nil, nil
}

// watchToken returns ctx, cancelled too once c, a group caller, is no
// longer admitted (its token disabled, expired or deleted, its group
// disabled): a subscription lives longer than the request that
// authenticated it. The admin is returned ctx as it is.
func (s *server) watchToken(ctx context.Context, c *caller, key string, addr netip.Addr) context.Context {
	if c.token == nil {
		return ctx
	}
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		defer cancel()
		t := time.NewTicker(s.recheck)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if _, err := s.authenticate(ctx, key, addr); err != nil && ctx.Err() == nil {
				if code := aiproxy.ErrorCode(err); code == aiproxy.EUNAUTHORIZED || code == aiproxy.EFORBIDDEN {
					return
				}
			}
		}
	}()
	return ctx
}

// liveFilter translates a subscription's filter. A group caller's filter
// is its own group: naming another one is EFORBIDDEN. A malformed
// channelId is EINVALID.
func liveFilter(ctx context.Context, group, mdl, channelID *string, failed *bool) (store.LiveFilter, error) {
	f := store.LiveFilter{Model: deref(mdl), Failed: failed}
	if c, ok := groupCaller(ctx); ok {
		if err := ownGroup(c, group); err != nil {
			return f, err
		}
	}
	f.GroupID = scopeGroup(ctx, group)
	if channelID != nil {
		id, err := model.ParseID("channelId", *channelID)
		if err != nil {
			return f, err
		}
		f.ChannelID = id
	}
	return f, nil
}

// liveLog is the Log node of a live event: no bodies, and the request id
// for an id (the row's is assigned when the writer inserts it).
func liveLog(l *aiproxy.Log) *model.Log {
	n := logNode(l)
	n.ID = l.RequestID
	n.RequestBody, n.ResponseBody = nil, nil
	return n
}

// streamLogs sends sub's logs to out until ctx ends or sub does, then
// stops sub and closes out.
func streamLogs(ctx context.Context, sub *store.LiveSubscription, out chan<- *model.Log) {
	defer close(out)
	defer sub.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sub.Done():
			return
		case l := <-sub.C():
			select {
			case out <- liveLog(l):
			case <-ctx.Done():
				return
			case <-sub.Done():
				return
			}
		}
	}
}

// meter adds up a subscription's traffic: per interval, and per second
// over the last rpmWindow seconds.
type meter struct {
	cur    model.LiveMetrics
	cost   aiproxy.Amount
	window [rpmWindow]struct{ sec, requests, tokens int64 }
}

func (m *meter) add(l *aiproxy.Log, now time.Time) {
	m.cur.Requests++
	if l.Error != "" {
		m.cur.Errors++
	}
	m.cur.InputTokens += int(l.Usage.PromptTokens)
	m.cur.OutputTokens += int(l.Usage.CompletionTokens)
	m.cur.TotalTokens += int(l.Usage.TotalTokens)
	m.cost += l.Amount
	sec := now.Unix()
	b := &m.window[sec%rpmWindow]
	if b.sec != sec {
		b.sec, b.requests, b.tokens = sec, 0, 0
	}
	b.requests++
	b.tokens += l.Usage.TotalTokens
}

// take returns the interval's metrics at now and starts the next one.
func (m *meter) take(now time.Time, interval int) *model.LiveMetrics {
	out := m.cur
	out.At, out.IntervalSeconds, out.Cost = now.UTC(), interval, m.cost.Float()
	for _, b := range m.window {
		if b.sec > now.Unix()-rpmWindow {
			out.Rpm += int(b.requests)
			out.Tpm += int(b.tokens)
		}
	}
	m.cur, m.cost = model.LiveMetrics{}, 0
	return &out
}

// streamMetrics sends the metrics of sub's logs to out every interval
// until ctx ends or sub does, then stops sub and closes out. While out is
// full the latest metrics replace the unsent ones.
func streamMetrics(ctx context.Context, live LiveFeed, f store.LiveFilter, sub *store.LiveSubscription, interval int, out chan<- *model.LiveMetrics) {
	defer close(out)
	defer sub.Stop()
	t := time.NewTicker(time.Duration(interval) * time.Second)
	defer t.Stop()
	var m meter
	for _, s := range live.Recent(f) { // what came before the subscription
		b := &m.window[s.Unix%rpmWindow]
		b.sec, b.requests, b.tokens = s.Unix, s.Requests, s.Tokens
	}
	var pending *model.LiveMetrics
	var send chan<- *model.LiveMetrics // out while pending is set
	for {
		select {
		case <-ctx.Done():
			return
		case <-sub.Done():
			return
		case l := <-sub.C():
			m.add(l, time.Now())
		case now := <-t.C:
			pending, send = m.take(now, interval), out
			if f.ChannelID == 0 {
				r, s := live.InFlight(f)
				ri, si := int(r), int(s)
				pending.InFlight, pending.Streams = &ri, &si
			}
		case send <- pending:
			pending, send = nil, nil
		}
	}
}
