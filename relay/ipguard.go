package relay

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// IPGroups is the state IP-sharing detection shares between replicas
// (store's MemoryIPGroups and RedisIPGroups).
type IPGroups interface {
	// Observe records that each group of seen[ip] used ip at now, and
	// returns for each ip of seen the distinct groups that used it within
	// the last hour.
	Observe(ctx context.Context, seen map[netip.Addr][]string, now time.Time) (map[netip.Addr][]string, error)
	// Ban refuses ip until until, on every replica.
	Ban(ctx context.Context, ip netip.Addr, until time.Time) error
	// Bans returns the bans in force at now.
	Bans(ctx context.Context, now time.Time) (map[netip.Addr]time.Time, error)
}

// IPAlert reports a client address used by many groups.
type IPAlert struct {
	IP     netip.Addr
	Groups []string
	Banned bool
	Until  time.Time // the ban's end, when Banned
}

// IPGuard detects client addresses used by many groups within an hour
// (a shared or leaked key, or one client reselling several groups'
// access): at Warn groups it reports the address, at Ban it refuses it
// for BanFor on every replica. Its request-path methods work from memory
// only; Run syncs with the shared state every second. A nil *IPGuard is
// off: it bans nothing and records nothing.
type IPGuard struct {
	shared    IPGroups
	warn, ban int
	banFor    time.Duration
	logger    *slog.Logger
	// OnAlert, when set before Run, is called with every alert (the
	// monitoring's sinks); the server log gets each one regardless.
	OnAlert func(IPAlert)

	mu      sync.Mutex
	pending map[netip.Addr][]string
	bans    atomic.Pointer[map[netip.Addr]time.Time]
	warned  map[netip.Addr]time.Time // last warning per address
}

// NewIPGuard returns a guard on shared: warn and ban are the group counts
// (0: off), banFor the length of a ban; logger nil means slog.Default().
func NewIPGuard(shared IPGroups, warn, ban int, banFor time.Duration, logger *slog.Logger) *IPGuard {
	if logger == nil {
		logger = slog.Default()
	}
	g := &IPGuard{shared: shared, warn: warn, ban: ban, banFor: banFor, logger: logger,
		pending: map[netip.Addr][]string{}, warned: map[netip.Addr]time.Time{}}
	g.bans.Store(&map[netip.Addr]time.Time{})
	return g
}

// Banned reports whether ip is refused at now.
func (g *IPGuard) Banned(ip netip.Addr, now time.Time) bool {
	if g == nil {
		return false
	}
	until, ok := (*g.bans.Load())[ip]
	return ok && now.Before(until)
}

// Seen records that group used ip, for the next sync.
func (g *IPGuard) Seen(ip netip.Addr, group string) {
	if g == nil || !ip.IsValid() {
		return
	}
	g.mu.Lock()
	if gs := g.pending[ip]; !slices.Contains(gs, group) {
		g.pending[ip] = append(gs, group)
	}
	g.mu.Unlock()
}

// Run syncs with the shared state every second until ctx is done.
func (g *IPGuard) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			g.Sync(ctx, now)
		}
	}
}

// Sync sends what was seen to the shared state, raises the alerts and
// bans it calls for, and refreshes the local bans.
func (g *IPGuard) Sync(ctx context.Context, now time.Time) {
	g.mu.Lock()
	seen := g.pending
	g.pending = map[netip.Addr][]string{}
	g.mu.Unlock()
	if len(seen) > 0 {
		groups, err := g.shared.Observe(ctx, seen, now)
		if err != nil {
			g.logger.Warn("relay: IP sharing: record addresses", "err", err)
		}
		for ip, gs := range groups {
			g.check(ctx, ip, gs, now)
		}
	}
	bans, err := g.shared.Bans(ctx, now)
	if err != nil {
		g.logger.Warn("relay: IP sharing: read bans", "err", err)
		return
	}
	g.bans.Store(&bans)
}

// check raises the alert or ban the groups of ip call for.
func (g *IPGuard) check(ctx context.Context, ip netip.Addr, groups []string, now time.Time) {
	n := len(groups)
	if g.ban > 0 && n >= g.ban && !g.Banned(ip, now) {
		until := now.Add(g.banFor)
		if err := g.shared.Ban(ctx, ip, until); err != nil {
			g.logger.Warn("relay: IP sharing: ban", "ip", ip, "err", err)
		}
		b := *g.bans.Load()
		nb := make(map[netip.Addr]time.Time, len(b)+1)
		for k, v := range b {
			nb[k] = v
		}
		nb[ip] = until
		g.bans.Store(&nb)
		g.logger.Warn("relay: IP shared by groups: banned", "ip", ip, "groups", groups, "until", until)
		g.alert(IPAlert{IP: ip, Groups: groups, Banned: true, Until: until})
		return
	}
	if g.warn > 0 && n >= g.warn && now.Sub(g.warned[ip]) >= time.Hour {
		g.warned[ip] = now
		g.logger.Warn("relay: IP shared by groups", "ip", ip, "groups", groups)
		g.alert(IPAlert{IP: ip, Groups: groups})
	}
}

func (g *IPGuard) alert(a IPAlert) {
	if g.OnAlert != nil {
		g.OnAlert(a)
	}
}
