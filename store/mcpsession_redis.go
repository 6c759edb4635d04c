package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aiproxy/aiproxy"
)

// mcpSubscribeTimeout bounds the wait for Redis to confirm a Listen's
// subscription.
const mcpSubscribeTimeout = 5 * time.Second

// RedisMCPSessions keeps the MCP gateway's sessions in Redis, shared by
// every replica on the same key prefix (package mcp's SessionStore).
//
// A state is the key r.Key("mcp", "session", id), expiring after its TTL
// (refreshed by TouchSession with GETEX). Messages for a session's
// listener go through Redis pub/sub on the channel
// r.Key("mcp", "sse", id): every replica has one subscription connection,
// to which Listen adds the channels of the sessions it holds, so Deliver
// reaches the listener on whichever replica it is, and knows from the
// number of receivers whether any was. A message published while the
// subscription is reconnecting is lost (the client's request times out).
//
// It is safe for concurrent use. The zero value is not usable: call
// NewRedisMCPSessions, and Close when done.
type RedisMCPSessions struct {
	r  *Redis
	ps *redis.PubSub

	mu        sync.Mutex
	listeners map[string]chan []byte     // by channel
	waiters   map[string][]chan struct{} // by channel: Listens awaiting the subscription's confirmation
	done      chan struct{}              // closed when the dispatcher returns
}

// NewRedisMCPSessions returns a session store on r and opens its
// subscription connection. r stays the caller's: Close does not close it.
func NewRedisMCPSessions(ctx context.Context, r *Redis) (*RedisMCPSessions, error) {
	ps := r.Client.Subscribe(ctx, r.Key("mcp", "sse"))
	if _, err := ps.Receive(ctx); err != nil {
		ps.Close()
		return nil, fmt.Errorf("store: subscribe to mcp sessions: %w", err)
	}
	s := &RedisMCPSessions{r: r, ps: ps, listeners: map[string]chan []byte{}, waiters: map[string][]chan struct{}{}, done: make(chan struct{})}
	go s.dispatch(ps.ChannelWithSubscriptions(redis.WithChannelSize(1024)))
	return s, nil
}

// Close ends the subscription; the listeners' channels are closed.
func (s *RedisMCPSessions) Close() error {
	err := s.ps.Close()
	<-s.done
	return err
}

func (s *RedisMCPSessions) key(id string) string     { return s.r.Key("mcp", "session", id) }
func (s *RedisMCPSessions) channel(id string) string { return s.r.Key("mcp", "sse", id) }

// PutSession stores state under id for ttl, replacing what was there.
func (s *RedisMCPSessions) PutSession(ctx context.Context, id string, state []byte, ttl time.Duration) error {
	if err := s.r.Client.Set(ctx, s.key(id), state, ttl).Err(); err != nil {
		return fmt.Errorf("store: put mcp session: %w", err)
	}
	return nil
}

// TouchSession returns the state of id and makes it live ttl from now;
// ENOTFOUND when there is none (never stored, expired or deleted).
func (s *RedisMCPSessions) TouchSession(ctx context.Context, id string, ttl time.Duration) ([]byte, error) {
	b, err := s.r.Client.GetEx(ctx, s.key(id), ttl).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, aiproxy.Errorf(aiproxy.ENOTFOUND, "store: mcp session not found")
	} else if err != nil {
		return nil, fmt.Errorf("store: touch mcp session: %w", err)
	}
	return b, nil
}

// DeleteSession removes the state of id; deleting a missing one is not
// an error.
func (s *RedisMCPSessions) DeleteSession(ctx context.Context, id string) error {
	if err := s.r.Client.Del(ctx, s.key(id)).Err(); err != nil {
		return fmt.Errorf("store: delete mcp session: %w", err)
	}
	return nil
}

// Listen returns the messages Deliver sends to id, from any replica,
// until ctx is done, when the channel is closed. It returns once Redis
// has confirmed the subscription, so a Deliver that follows reaches it.
// A second Listen of the same id on this replica replaces the first.
func (s *RedisMCPSessions) Listen(ctx context.Context, id string) (<-chan []byte, error) {
	name := s.channel(id)
	ch := make(chan []byte, mcpListenBuffer)
	ready := make(chan struct{})
	s.mu.Lock()
	if old, ok := s.listeners[name]; ok {
		close(old)
	}
	s.listeners[name] = ch
	s.waiters[name] = append(s.waiters[name], ready)
	s.mu.Unlock()
	stop := func() {
		s.mu.Lock()
		mine := s.listeners[name] == ch
		if mine {
			delete(s.listeners, name)
			close(ch)
		}
		s.mu.Unlock()
		if mine {
			uctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			s.ps.Unsubscribe(uctx, name)
		}
	}
	if err := s.ps.Subscribe(ctx, name); err != nil {
		stop()
		return nil, fmt.Errorf("store: listen to mcp session: %w", err)
	}
	t := time.NewTimer(mcpSubscribeTimeout)
	defer t.Stop()
	select {
	case <-ready:
	case <-ctx.Done():
		stop()
		return nil, fmt.Errorf("store: listen to mcp session: %w", ctx.Err())
	case <-t.C:
		stop()
		return nil, errors.New("store: listen to mcp session: redis did not confirm the subscription")
	case <-s.done:
		stop()
		return nil, errors.New("store: listen to mcp session: closed")
	}
	go func() {
		select {
		case <-ctx.Done():
		case <-s.done:
		}
		stop()
	}()
	return ch, nil
}

// Deliver publishes msg to the listener of id; ENOTFOUND when no replica
// listens to it.
func (s *RedisMCPSessions) Deliver(ctx context.Context, id string, msg []byte) error {
	n, err := s.r.Client.Publish(ctx, s.channel(id), msg).Result()
	if err != nil {
		return fmt.Errorf("store: deliver to mcp session: %w", err)
	}
	if n == 0 {
		return aiproxy.Errorf(aiproxy.ENOTFOUND, "store: no listener for the mcp session")
	}
	return nil
}

// dispatch hands the subscription's messages to the listeners, and its
// confirmations to the Listens waiting for them. A listener whose buffer
// is full loses the message rather than hold up the others.
func (s *RedisMCPSessions) dispatch(in <-chan any) {
	defer close(s.done)
	for m := range in {
		switch m := m.(type) {
		case *redis.Subscription:
			if m.Kind != "subscribe" {
				continue
			}
			s.mu.Lock()
			for _, w := range s.waiters[m.Channel] {
				close(w)
			}
			delete(s.waiters, m.Channel)
			s.mu.Unlock()
		case *redis.Message:
			s.mu.Lock()
			if ch, ok := s.listeners[m.Channel]; ok {
				select {
				case ch <- []byte(m.Payload):
				default:
				}
			}
			s.mu.Unlock()
		}
	}
}
