package store

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// ipWindow is how long a group's use of an address counts.
const ipWindow = time.Hour

// MemoryIPGroups is the IP-sharing state of one process (relay.IPGroups):
// which groups used which client address within the last hour, and the
// bans in force. Addresses unused for an hour are dropped. The zero
// MemoryIPGroups is not ready for use; call NewMemoryIPGroups. It is safe
// for concurrent use and never returns an error.
type MemoryIPGroups struct {
	mu        sync.Mutex
	seen      map[netip.Addr]map[string]time.Time // group → last use
	bans      map[netip.Addr]time.Time
	nextSweep time.Time
}

// NewMemoryIPGroups returns an empty MemoryIPGroups.
func NewMemoryIPGroups() *MemoryIPGroups {
	return &MemoryIPGroups{seen: map[netip.Addr]map[string]time.Time{}, bans: map[netip.Addr]time.Time{}}
}

// Observe records that each group of seen[ip] used ip at now, and returns
// for each ip of seen the distinct groups that used it within the hour
// before now, sorted.
func (m *MemoryIPGroups) Observe(_ context.Context, seen map[netip.Addr][]string, now time.Time) (map[netip.Addr][]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[netip.Addr][]string, len(seen))
	for ip, gs := range seen {
		by := m.seen[ip]
		if by == nil {
			by = make(map[string]time.Time, len(gs))
			m.seen[ip] = by
		}
		for _, g := range gs {
			if now.After(by[g]) {
				by[g] = now
			}
		}
		list := make([]string, 0, len(by))
		for g, at := range by {
			if now.Sub(at) >= ipWindow {
				delete(by, g)
				continue
			}
			list = append(list, g)
		}
		slices.Sort(list)
		out[ip] = list
	}
	m.sweep(now)
	return out, nil
}

// sweep drops, at most once a minute, the uses older than the window and
// the addresses left with none; m.mu is held.
func (m *MemoryIPGroups) sweep(now time.Time) {
	if now.Before(m.nextSweep) {
		return
	}
	m.nextSweep = now.Add(time.Minute)
	for ip, by := range m.seen {
		for g, at := range by {
			if now.Sub(at) >= ipWindow {
				delete(by, g)
			}
		}
		if len(by) == 0 {
			delete(m.seen, ip)
		}
	}
}

// Ban refuses ip until until; a ban in force that ends later stays.
func (m *MemoryIPGroups) Ban(_ context.Context, ip netip.Addr, until time.Time) error {
	m.mu.Lock()
	if until.After(m.bans[ip]) {
		m.bans[ip] = until
	}
	m.mu.Unlock()
	return nil
}

// Bans returns the bans in force at now (a new map the caller may keep),
// and forgets those that ended.
func (m *MemoryIPGroups) Bans(_ context.Context, now time.Time) (map[netip.Addr]time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[netip.Addr]time.Time, len(m.bans))
	for ip, until := range m.bans {
		if now.Before(until) {
			out[ip] = until
		} else {
			delete(m.bans, ip)
		}
	}
	return out, nil
}
