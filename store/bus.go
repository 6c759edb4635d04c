package store

import (
	"context"
	"slices"
	"sync"
)

// ChangeKind says what kind of value a Change is about.
type ChangeKind string

// The kinds of Change.
const (
	// ChangeAll asks for a resync: everything may have changed. Its ID is
	// empty.
	ChangeAll ChangeKind = "all"
	// ChangeToken is about the token whose ID is the decimal token id.
	ChangeToken ChangeKind = "token"
	// ChangeGroup is about the group whose ID is the group id, and so
	// about its tokens too.
	ChangeGroup ChangeKind = "group"
	// ChangeChannel is about the channel whose ID is the decimal channel
	// id.
	ChangeChannel ChangeKind = "channel"
	// ChangeModelConfig is about the config whose ID is the model name.
	ChangeModelConfig ChangeKind = "model_config"
	// ChangeGroupModelConfig is about a group's override of a model; its
	// ID is "<group id>/<model>".
	ChangeGroupModelConfig ChangeKind = "group_model_config"
	// ChangeMCPServer is about the MCP server whose ID is the decimal
	// server id; when it was deleted, about every group's values for it
	// too.
	ChangeMCPServer ChangeKind = "mcp_server"
	// ChangeMCPGroupValues is about what one group set for one MCP
	// server; its ID is "<server id>/<group id>".
	ChangeMCPGroupValues ChangeKind = "mcp_group_values"
	// ChangeAlerts is about the alert sinks and settings (ID empty): the
	// notifiers reload them.
	ChangeAlerts ChangeKind = "alerts"
)

// Change says that a stored value was created, updated or deleted; the
// receiver reads the value again to learn which. The zero Change has no
// kind and is ignored by the Cache.
type Change struct {
	Kind ChangeKind
	ID   string
}

// Bus carries Changes from the Store that made them to every Cache that
// holds the changed values, on this replica and, depending on the
// implementation, on others. The Store publishes on it; caches subscribe.
type Bus interface {
	// Publish announces c. Subscribers of this Bus in this process have
	// handled c when Publish returns, whatever the error. An error means
	// other replicas may not learn of c (they catch up on their periodic
	// refresh, or on the resync that follows an outage).
	Publish(ctx context.Context, c Change) error
	// Subscribe calls fn with every Change published from now on, until
	// stop is called. fn may be called from several goroutines at once
	// (concurrent Publish calls run it in their own), must be safe for
	// that, and must not call Publish.
	Subscribe(fn func(Change)) (stop func())
}

var (
	_ Bus = (*MemoryBus)(nil)
	_ Bus = (*RedisBus)(nil)
)

// MemoryBus is a Bus within one process: Publish calls every subscriber in
// the caller's goroutine, synchronously, and never fails. The zero
// MemoryBus is ready to use. It is safe for concurrent use.
type MemoryBus struct {
	subs subscribers
}

// NewMemoryBus returns an empty MemoryBus.
func NewMemoryBus() *MemoryBus { return &MemoryBus{} }

// Publish calls every subscriber with c and returns nil once they have all
// returned.
func (b *MemoryBus) Publish(_ context.Context, c Change) error {
	b.subs.deliver(c)
	return nil
}

// Subscribe calls fn with every Change published from now on, until stop
// is called. Calling stop more than once is harmless.
func (b *MemoryBus) Subscribe(fn func(Change)) (stop func()) { return b.subs.add(fn) }

// subscribers is the list of functions a Bus delivers to in this process.
type subscribers struct {
	mu   sync.Mutex
	next int
	fns  map[int]func(Change)
}

func (s *subscribers) add(fn func(Change)) (stop func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fns == nil {
		s.fns = map[int]func(Change){}
	}
	id := s.next
	s.next++
	s.fns[id] = fn
	return sync.OnceFunc(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.fns, id)
	})
}

// deliver calls every subscriber with c, outside the lock, so that a
// subscriber may subscribe or stop.
func (s *subscribers) deliver(c Change) {
	s.mu.Lock()
	ids := make([]int, 0, len(s.fns))
	for id := range s.fns {
		ids = append(ids, id)
	}
	slices.Sort(ids) // in the order of subscription
	fns := make([]func(Change), len(ids))
	for i, id := range ids {
		fns[i] = s.fns[id]
	}
	s.mu.Unlock()
	for _, fn := range fns {
		fn(c)
	}
}
