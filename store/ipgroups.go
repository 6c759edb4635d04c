package store

import (
	"context"
	"net/netip"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ipWindow is how long a group's use of an address counts.
const ipWindow = time.Hour

// MemoryIPGroups is the IP-sharing state of one process (relay.IPGroups).
type MemoryIPGroups struct {
	mu   sync.Mutex
	seen map[netip.Addr]map[string]time.Time
	bans map[netip.Addr]time.Time
}

// NewMemoryIPGroups returns an empty MemoryIPGroups.
func NewMemoryIPGroups() *MemoryIPGroups {
	return &MemoryIPGroups{seen: map[netip.Addr]map[string]time.Time{}, bans: map[netip.Addr]time.Time{}}
}

// Observe implements relay.IPGroups.
func (m *MemoryIPGroups) Observe(_ context.Context, seen map[netip.Addr][]string, now time.Time) (map[netip.Addr][]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[netip.Addr][]string, len(seen))
	for ip, gs := range seen {
		by := m.seen[ip]
		if by == nil {
			by = map[string]time.Time{}
			m.seen[ip] = by
		}
		for _, g := range gs {
			by[g] = now
		}
		var list []string
		for g, at := range by {
			if now.Sub(at) > ipWindow {
				delete(by, g)
				continue
			}
			list = append(list, g)
		}
		sort.Strings(list)
		out[ip] = list
	}
	for ip, by := range m.seen {
		if len(by) == 0 {
			delete(m.seen, ip)
		}
	}
	return out, nil
}

// Ban implements relay.IPGroups.
func (m *MemoryIPGroups) Ban(_ context.Context, ip netip.Addr, until time.Time) error {
	m.mu.Lock()
	m.bans[ip] = until
	m.mu.Unlock()
	return nil
}

// Bans implements relay.IPGroups.
func (m *MemoryIPGroups) Bans(_ context.Context, now time.Time) (map[netip.Addr]time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[netip.Addr]time.Time{}
	for ip, until := range m.bans {
		if now.Before(until) {
			out[ip] = until
		} else {
			delete(m.bans, ip)
		}
	}
	return out, nil
}

// RedisIPGroups is the IP-sharing state shared through Redis: a sorted
// set per address (member: group, score: last use in ms) and one hash of
// bans (field: address, value: end in ms).
type RedisIPGroups struct{ r *Redis }

// NewRedisIPGroups returns the state on r.
func NewRedisIPGroups(r *Redis) *RedisIPGroups { return &RedisIPGroups{r: r} }

// Observe implements relay.IPGroups, in one pipeline.
func (s *RedisIPGroups) Observe(ctx context.Context, seen map[netip.Addr][]string, now time.Time) (map[netip.Addr][]string, error) {
	ms := now.UnixMilli()
	ips := make([]netip.Addr, 0, len(seen))
	cmds := make([]*redis.StringSliceCmd, 0, len(seen))
	_, err := s.r.Client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for ip, gs := range seen {
			key := s.r.Key("ipgroups", ip.String())
			for _, g := range gs {
				p.ZAdd(ctx, key, redis.Z{Score: float64(ms), Member: g})
			}
			p.ZRemRangeByScore(ctx, key, "-inf", strconv.FormatInt(ms-ipWindow.Milliseconds(), 10))
			p.PExpire(ctx, key, ipWindow)
			ips = append(ips, ip)
			cmds = append(cmds, p.ZRange(ctx, key, 0, -1))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make(map[netip.Addr][]string, len(ips))
	for i, ip := range ips {
		out[ip] = cmds[i].Val()
	}
	return out, nil
}

// Ban implements relay.IPGroups.
func (s *RedisIPGroups) Ban(ctx context.Context, ip netip.Addr, until time.Time) error {
	return s.r.Client.HSet(ctx, s.r.Key("ipbans"), ip.String(), until.UnixMilli()).Err()
}

// Bans implements relay.IPGroups; it drops the bans that ended.
func (s *RedisIPGroups) Bans(ctx context.Context, now time.Time) (map[netip.Addr]time.Time, error) {
	all, err := s.r.Client.HGetAll(ctx, s.r.Key("ipbans")).Result()
	if err != nil {
		return nil, err
	}
	out := map[netip.Addr]time.Time{}
	for k, v := range all {
		ip, err1 := netip.ParseAddr(k)
		ms, err2 := strconv.ParseInt(v, 10, 64)
		if err1 != nil || err2 != nil || ms <= now.UnixMilli() {
			s.r.Client.HDel(ctx, s.r.Key("ipbans"), k)
			continue
		}
		out[ip] = time.UnixMilli(ms)
	}
	return out, nil
}
