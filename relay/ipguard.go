package relay

import (
	"context"
	"log/slog"
	"maps"
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
	Groups []string // the groups that used it within the hour, sorted
	Banned bool
	Until  time.Time // the ban's end, when Banned
}

// Settings of the IP guard.
const (
	// ipWarnEvery is how often one address is warned about at most.
	ipWarnEvery = time.Hour
	// ipSyncEvery is how often Run syncs with the shared state.
	ipSyncEvery = time.Second
	// ipSyncTimeout bounds one sync's calls to the shared state.
	ipSyncTimeout = 5 * time.Second
	// ipMaxPending is how many addresses wait for the next sync at most,
	// when the shared state cannot be reached; more are not recorded.
	ipMaxPending = 100_000
)

// IPGuard detects client addresses used by many groups within an hour
// (a shared or leaked key, or one client reselling several groups'
// access): at warn groups it reports the address (at most once an hour),
// at ban it refuses it for banFor on every replica. Its request-path
// methods, Banned and Seen, work from memory only; Run syncs with the
// shared state every second. A nil *IPGuard is off: it bans nothing and
// records nothing.
type IPGuard struct {
	// OnAlert, when set before Run, is called with every alert (the
	// monitoring's sinks), from Run's goroutine; the server log gets each
	// one regardless. Nil means the log only.
	OnAlert func(IPAlert)

	shared    IPGroups
	warn, ban int
	banFor    time.Duration
	logger    *slog.Logger

	mu      sync.Mutex
	pending map[netip.Addr][]string // seen since the last sync, deduplicated

	bans atomic.Pointer[map[netip.Addr]time.Time] // immutable once stored

	syncMu  sync.Mutex // serialises Sync; guards the fields below
	warned  map[netip.Addr]time.Time
	failing bool
}

// NewIPGuard returns a guard on shared: warn and ban are the numbers of
// distinct groups within an hour that raise a warning and a ban (0: that
// step is off), banFor the length of a ban (0: an hour), logger where
// alerts and sync failures go (nil: slog.Default()). It returns nil, the
// guard that is off, when both warn and ban are 0 or shared is nil.
func NewIPGuard(shared IPGroups, warn, ban int, banFor time.Duration, logger *slog.Logger) *IPGuard {
	if shared == nil || (warn <= 0 && ban <= 0) {
		return nil
	}
	if logger == nil {
		logger = slog.Default()
	}
	if banFor <= 0 {
		banFor = time.Hour
	}
	g := &IPGuard{shared: shared, warn: max(warn, 0), ban: max(ban, 0), banFor: banFor, logger: logger,
		pending: map[netip.Addr][]string{}, warned: map[netip.Addr]time.Time{}}
	g.bans.Store(&map[netip.Addr]time.Time{})
	return g
}

// Banned reports whether ip is refused at now, as this replica last
// learnt it (within about a second of any replica's ban).
func (g *IPGuard) Banned(ip netip.Addr, now time.Time) bool {
	if g == nil || !ip.IsValid() {
		return false
	}
	until, ok := (*g.bans.Load())[ip.Unmap()]
	return ok && now.Before(until)
}

// Seen records that group used ip, for the next sync. An invalid ip or
// an empty group is ignored.
func (g *IPGuard) Seen(ip netip.Addr, group string) {
	if g == nil || !ip.IsValid() || group == "" {
		return
	}
	ip = ip.Unmap()
	g.mu.Lock()
	gs, ok := g.pending[ip]
	if (ok || len(g.pending) < ipMaxPending) && !slices.Contains(gs, group) {
		g.pending[ip] = append(gs, group)
	}
	g.mu.Unlock()
}

// Run syncs with the shared state at once and then every second, until
// ctx is done; it returns then, leaving no goroutine behind.
func (g *IPGuard) Run(ctx context.Context) {
	if g == nil {
		return
	}
	t := time.NewTicker(ipSyncEvery)
	defer t.Stop()
	g.Sync(ctx, time.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			g.Sync(ctx, now)
		}
	}
}

// Sync does one round of Run at now: it sends what was seen since the
// last round to the shared state, raises the warnings and bans the
// answer calls for, and refreshes the local bans from the shared ones.
// When the shared state cannot be reached, what was seen is kept for the
// next round and the local bans stay as they were; the failure is logged
// once, and so is the recovery.
func (g *IPGuard) Sync(ctx context.Context, now time.Time) {
	if g == nil {
		return
	}
	g.syncMu.Lock()
	defer g.syncMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, ipSyncTimeout)
	defer cancel()

	g.mu.Lock()
	seen := g.pending
	if len(seen) > 0 {
		g.pending = map[netip.Addr][]string{}
	}
	g.mu.Unlock()

	ok := true
	if len(seen) > 0 {
		groups, err := g.shared.Observe(ctx, seen, now)
		if err != nil {
			ok = false
			g.failed("record addresses", err)
			g.requeue(seen)
		}
		for ip, gs := range groups {
			g.check(ctx, ip, gs, now)
		}
	}
	for ip, at := range g.warned {
		if now.Sub(at) >= ipWarnEvery {
			delete(g.warned, ip)
		}
	}
	bans, err := g.shared.Bans(ctx, now)
	if err != nil {
		g.failed("read bans", err)
		return
	}
	// Bans this replica made may not be readable yet; keep them.
	for ip, until := range *g.bans.Load() {
		if until.After(bans[ip]) && now.Before(until) {
			if bans == nil {
				bans = map[netip.Addr]time.Time{}
			}
			bans[ip] = until
		}
	}
	g.bans.Store(&bans)
	if ok && g.failing {
		g.failing = false
		g.logger.Info("relay: IP guard: shared state reachable again")
	}
}

// requeue puts seen back into the pending addresses; g.syncMu is held.
func (g *IPGuard) requeue(seen map[netip.Addr][]string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for ip, gs := range g.pending {
		for _, gr := range gs {
			if !slices.Contains(seen[ip], gr) {
				seen[ip] = append(seen[ip], gr)
			}
		}
	}
	g.pending = seen
}

// failed logs the first of a series of failures; g.syncMu is held.
func (g *IPGuard) failed(what string, err error) {
	if g.failing {
		return
	}
	g.failing = true
	g.logger.Warn("relay: IP guard: "+what, "err", err)
}

// check raises the warning or the ban that the groups of ip call for;
// g.syncMu is held.
func (g *IPGuard) check(ctx context.Context, ip netip.Addr, groups []string, now time.Time) {
	n := len(groups)
	if g.Banned(ip, now) {
		return // refused already: banned here or by another replica
	}
	if g.ban > 0 && n >= g.ban {
		until := now.Add(g.banFor)
		if err := g.shared.Ban(ctx, ip, until); err != nil {
			g.failed("ban", err)
		}
		nb := maps.Clone(*g.bans.Load())
		if nb == nil {
			nb = map[netip.Addr]time.Time{}
		}
		nb[ip] = until
		g.bans.Store(&nb)
		g.warned[ip] = now
		g.logger.Warn("relay: IP shared by groups: banned", "ip", ip, "groups", groups, "until", until)
		g.alert(IPAlert{IP: ip, Groups: groups, Banned: true, Until: until})
		return
	}
	if g.warn > 0 && n >= g.warn {
		if at, ok := g.warned[ip]; ok && now.Sub(at) < ipWarnEvery {
			return
		}
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
