package store

import (
	"context"
	"sync"
	"time"

	"github.com/aiproxy/aiproxy"
)

// mcpListenBuffer is how many messages a session's listener may have
// waiting before more are dropped.
const mcpListenBuffer = 256

// MemoryMCPSessions keeps the MCP gateway's sessions in memory, for a
// gateway of one instance (package mcp's SessionStore). States expire
// after their TTL; a listener receives what Deliver sends to its session.
// It is safe for concurrent use. The zero value is not usable: call
// NewMemoryMCPSessions.
type MemoryMCPSessions struct {
	mu        sync.Mutex
	states    map[string]memorySession
	listeners map[string]chan []byte
	puts      int
	now       func() time.Time
}

type memorySession struct {
	state   []byte
	expires time.Time
}

// NewMemoryMCPSessions returns an empty session store.
func NewMemoryMCPSessions() *MemoryMCPSessions {
	return &MemoryMCPSessions{states: map[string]memorySession{}, listeners: map[string]chan []byte{}, now: time.Now}
}

// PutSession stores state under id for ttl, replacing what was there.
func (m *MemoryMCPSessions) PutSession(ctx context.Context, id string, state []byte, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.sweep(now)
	m.states[id] = memorySession{state: append([]byte(nil), state...), expires: now.Add(ttl)}
	return nil
}

// TouchSession returns the state of id and makes it live ttl from now;
// ENOTFOUND when there is none (never stored, expired or deleted).
func (m *MemoryMCPSessions) TouchSession(ctx context.Context, id string, ttl time.Duration) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	s, ok := m.states[id]
	if !ok || !now.Before(s.expires) {
		delete(m.states, id)
		return nil, aiproxy.Errorf(aiproxy.ENOTFOUND, "store: mcp session not found")
	}
	s.expires = now.Add(ttl)
	m.states[id] = s
	return s.state, nil
}

// DeleteSession removes the state of id; deleting a missing one is not
// an error.
func (m *MemoryMCPSessions) DeleteSession(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.states, id)
	return nil
}

// Listen returns the messages Deliver sends to id until ctx is done, when
// the channel is closed. A session has one listener: a second Listen of
// the same id replaces the first, whose channel is closed.
func (m *MemoryMCPSessions) Listen(ctx context.Context, id string) (<-chan []byte, error) {
	ch := make(chan []byte, mcpListenBuffer)
	m.mu.Lock()
	if old, ok := m.listeners[id]; ok {
		close(old)
	}
	m.listeners[id] = ch
	m.mu.Unlock()
	go func() {
		<-ctx.Done()
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.listeners[id] == ch {
			delete(m.listeners, id)
			close(ch)
		}
	}()
	return ch, nil
}

// Deliver hands msg to the listener of id; ENOTFOUND when none listens,
// ERATELIMITED when its buffer is full.
func (m *MemoryMCPSessions) Deliver(ctx context.Context, id string, msg []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch, ok := m.listeners[id]
	if !ok {
		return aiproxy.Errorf(aiproxy.ENOTFOUND, "store: no listener for the mcp session")
	}
	select {
	case ch <- append([]byte(nil), msg...):
		return nil
	default:
		return aiproxy.Errorf(aiproxy.ERATELIMITED, "store: the mcp session's listener is full")
	}
}

// sweep drops expired states every 256 puts; m.mu is held.
func (m *MemoryMCPSessions) sweep(now time.Time) {
	if m.puts++; m.puts%256 != 0 {
		return
	}
	for id, s := range m.states {
		if !now.Before(s.expires) {
			delete(m.states, id)
		}
	}
}
