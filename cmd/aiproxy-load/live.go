package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// LiveResult is what the live subscriber (-live) received while the
// throughput scenario ran: one GraphQL liveMetrics and one logAdded
// subscription held over a WebSocket (graphql-transport-ws) against the
// gateway.
type LiveResult struct {
	// MetricsEvents counts the liveMetrics events, one per interval (1 s);
	// MetricsRequests sums their requests field, the requests the gateway
	// finished while the subscription was held.
	MetricsEvents   int64 `json:"metrics_events"`
	MetricsRequests int64 `json:"metrics_requests"`
	// LogEvents counts the logAdded events, one per request logged.
	LogEvents int64 `json:"log_events"`
	// GatewayRequests is the requests the throughput scenario sent the
	// gateway while the subscriptions were held (warm-up included).
	GatewayRequests int64    `json:"gateway_requests"`
	Held            Duration `json:"held"`
	// Ended says why a subscription ended before the scenario did (the
	// gateway drops a logAdded subscriber more than 1024 logs behind);
	// "" when both were held to the end.
	Ended string `json:"ended,omitempty"`
}

// liveQuery and logsQuery are the subscriptions the live subscriber holds.
const (
	liveQuery = `subscription { liveMetrics(interval: 1) { at requests errors rpm inFlight } }`
	logsQuery = `subscription { logAdded { requestId statusCode } }`
)

// wsMessage is a graphql-transport-ws message.
type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// liveSubscriber holds the two subscriptions and counts their events.
type liveSubscriber struct {
	conn    *websocket.Conn
	began   time.Time
	metrics atomic.Int64
	reqs    atomic.Int64
	logs    atomic.Int64
	done    chan struct{} // closed when the read loop ends
	closing atomic.Bool   // Close began: errors from now on are the close's

	mu    sync.Mutex
	ended string
}

// subscribeLive connects to the gateway's /graphql over a WebSocket,
// authenticates with the admin key in connection_init, starts the
// liveMetrics and logAdded subscriptions and waits for the first
// liveMetrics event, so that an error means no subscription is held: a
// refused connection, no connection_ack, or an error message for either
// subscription. The subscriptions are held until Close.
func subscribeLive(ctx context.Context, base, adminKey string) (*liveSubscriber, error) {
	u := "ws" + strings.TrimPrefix(base, "http") + "/graphql"
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, u, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		return nil, fmt.Errorf("live: dial %s: %w", u, err)
	}
	c.SetReadLimit(1 << 20)
	s := &liveSubscriber{conn: c, done: make(chan struct{})}
	fail := func(err error) (*liveSubscriber, error) {
		c.CloseNow()
		return nil, fmt.Errorf("live: %w", err)
	}
	init, _ := json.Marshal(map[string]string{"Authorization": "Bearer " + adminKey})
	if err := s.send(dctx, wsMessage{Type: "connection_init", Payload: init}); err != nil {
		return fail(err)
	}
	if m, err := s.read(dctx); err != nil {
		return fail(fmt.Errorf("no connection_ack: %w", err))
	} else if m.Type != "connection_ack" {
		return fail(fmt.Errorf("got %s %s, want connection_ack", m.Type, m.Payload))
	}
	for id, q := range map[string]string{"metrics": liveQuery, "logs": logsQuery} {
		p, _ := json.Marshal(map[string]string{"query": q})
		if err := s.send(dctx, wsMessage{ID: id, Type: "subscribe", Payload: p}); err != nil {
			return fail(err)
		}
	}
	// The first liveMetrics event, within its interval, says both
	// subscriptions were accepted (an invalid one is answered at once).
	for s.metrics.Load() == 0 {
		m, err := s.read(dctx)
		if err != nil {
			return fail(fmt.Errorf("no liveMetrics event: %w", err))
		}
		if err := s.count(m); err != nil {
			return fail(err)
		}
	}
	s.began = time.Now()
	go s.loop(context.WithoutCancel(ctx))
	return s, nil
}

// count counts one message received; it returns an error for an error
// message or a subscription that completed.
func (s *liveSubscriber) count(m wsMessage) error {
	switch m.Type {
	case "next":
		if m.ID == "logs" {
			s.logs.Add(1)
			return nil
		}
		var p struct {
			Data struct {
				LiveMetrics struct{ Requests int64 }
			}
			Errors []gqlError
		}
		if err := json.Unmarshal(m.Payload, &p); err != nil || len(p.Errors) > 0 {
			return fmt.Errorf("liveMetrics event %s", m.Payload)
		}
		s.metrics.Add(1)
		s.reqs.Add(p.Data.LiveMetrics.Requests)
		return nil
	case "ping":
		return s.send(context.Background(), wsMessage{Type: "pong"})
	case "pong":
		return nil
	case "complete":
		return fmt.Errorf("the gateway completed the %s subscription", m.ID)
	}
	return fmt.Errorf("%s message for %q: %s", m.Type, m.ID, m.Payload)
}

// loop reads until the connection closes, noting why a subscription
// ended early.
func (s *liveSubscriber) loop(ctx context.Context) {
	defer close(s.done)
	for {
		m, err := s.read(ctx)
		if err == nil {
			err = s.count(m)
		}
		if err != nil {
			s.mu.Lock()
			if s.ended == "" && !s.closing.Load() && websocket.CloseStatus(err) != websocket.StatusNormalClosure && !errors.Is(err, context.Canceled) {
				s.ended = err.Error()
			}
			s.mu.Unlock()
			if m.Type != "complete" {
				return
			}
		}
	}
}

func (s *liveSubscriber) send(ctx context.Context, m wsMessage) error {
	b, _ := json.Marshal(m)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return s.conn.Write(ctx, websocket.MessageText, b)
}

func (s *liveSubscriber) read(ctx context.Context) (wsMessage, error) {
	var m wsMessage
	_, b, err := s.conn.Read(ctx)
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("not a graphql-transport-ws message: %.200s", b)
	}
	return m, nil
}

// Close waits up to grace for the events of the last requests (the last
// interval's liveMetrics, the last logs), ends both subscriptions and
// returns what they received; sent is the requests sent to the gateway
// while they were held.
func (s *liveSubscriber) Close(grace time.Duration, sent int64) *LiveResult {
	held := time.Since(s.began)
	for deadline := time.Now().Add(grace); s.logs.Load() < sent && time.Now().Before(deadline); {
		select {
		case <-s.done:
			deadline = time.Now()
		case <-time.After(50 * time.Millisecond):
		}
	}
	time.Sleep(1100 * time.Millisecond) // one more liveMetrics interval
	s.closing.Store(true)
	s.conn.Close(websocket.StatusNormalClosure, "")
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		s.conn.CloseNow()
		<-s.done
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return &LiveResult{
		MetricsEvents:   s.metrics.Load(),
		MetricsRequests: s.reqs.Load(),
		LogEvents:       s.logs.Load(),
		GatewayRequests: sent,
		Held:            Duration(held),
		Ended:           s.ended,
	}
}
