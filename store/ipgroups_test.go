package store_test

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/store/storetest"
)

var (
	_ relay.IPGroups = (*store.MemoryIPGroups)(nil)
	_ relay.IPGroups = (*store.RedisIPGroups)(nil)
)

// eachIPGroups runs fn against the memory state (a and b the same) and the
// Redis one (a and b two instances on one Redis, as two replicas have).
func eachIPGroups(t *testing.T, fn func(t *testing.T, a, b relay.IPGroups)) {
	t.Run("memory", func(t *testing.T) {
		m := store.NewMemoryIPGroups()
		fn(t, m, m)
	})
	t.Run("redis", func(t *testing.T) {
		r := storetest.Redis(t)
		fn(t, store.NewRedisIPGroups(r), store.NewRedisIPGroups(r))
	})
}

func TestIPGroupsObserve(t *testing.T) {
	eachIPGroups(t, func(t *testing.T, a, b relay.IPGroups) {
		ctx := context.Background()
		ip1, ip2 := netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("2001:db8::1")
		t0 := time.UnixMilli(time.Now().UnixMilli())
		observe := func(s relay.IPGroups, seen map[netip.Addr][]string, now time.Time) map[netip.Addr][]string {
			t.Helper()
			got, err := s.Observe(ctx, seen, now)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}

		got := observe(a, map[netip.Addr][]string{ip1: {"g2", "g1"}, ip2: {"g1"}}, t0)
		if !slices.Equal(got[ip1], []string{"g1", "g2"}) || !slices.Equal(got[ip2], []string{"g1"}) || len(got) != 2 {
			t.Fatalf("first observation: %v", got)
		}
		// Another replica's groups add up; a group seen again counts once;
		// only the addresses asked about are answered.
		got = observe(b, map[netip.Addr][]string{ip1: {"g3", "g1"}}, t0.Add(10*time.Minute))
		if !slices.Equal(got[ip1], []string{"g1", "g2", "g3"}) || len(got) != 1 {
			t.Fatalf("second replica: %v", got)
		}
		// An hour after its last use, a group no longer counts: g2 was last
		// seen at t0, g1 and g3 at t0+10m.
		got = observe(a, map[netip.Addr][]string{ip1: {"g4"}}, t0.Add(time.Hour))
		if !slices.Equal(got[ip1], []string{"g1", "g3", "g4"}) {
			t.Errorf("an hour later: %v, want g2 gone", got[ip1])
		}
		got = observe(b, map[netip.Addr][]string{ip1: nil, ip2: nil}, t0.Add(time.Hour+10*time.Minute))
		if !slices.Equal(got[ip1], []string{"g4"}) || len(got[ip2]) != 0 {
			t.Errorf("an hour after g1 and g3: %v", got)
		}
		// A replica whose clock is behind does not make a use older.
		observe(a, map[netip.Addr][]string{ip2: {"g5"}}, t0.Add(2*time.Hour))
		observe(b, map[netip.Addr][]string{ip2: {"g5"}}, t0.Add(2*time.Hour-30*time.Minute))
		got = observe(a, map[netip.Addr][]string{ip2: nil}, t0.Add(2*time.Hour+45*time.Minute))
		if !slices.Equal(got[ip2], []string{"g5"}) {
			t.Errorf("a use recorded late made older: %v", got[ip2])
		}
	})
}

func TestIPGroupsBans(t *testing.T) {
	eachIPGroups(t, func(t *testing.T, a, b relay.IPGroups) {
		ctx := context.Background()
		ip1, ip2 := netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("2001:db8::2")
		t0 := time.UnixMilli(time.Now().UnixMilli())
		bans, err := b.Bans(ctx, t0)
		if err != nil || len(bans) != 0 {
			t.Fatalf("no bans yet: %v %v", bans, err)
		}
		if err := a.Ban(ctx, ip1, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := a.Ban(ctx, ip2, t0.Add(10*time.Minute)); err != nil {
			t.Fatal(err)
		}
		// A shorter ban leaves a longer one in force.
		if err := b.Ban(ctx, ip1, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		bans, err = b.Bans(ctx, t0)
		if err != nil || len(bans) != 2 || !bans[ip1].Equal(t0.Add(time.Hour)) || !bans[ip2].Equal(t0.Add(10*time.Minute)) {
			t.Fatalf("bans: %v %v", bans, err)
		}
		bans, _ = a.Bans(ctx, t0.Add(10*time.Minute))
		if len(bans) != 1 || !bans[ip1].Equal(t0.Add(time.Hour)) {
			t.Errorf("when ip2's ban ends: %v, want ip1's only", bans)
		}
		// An ended ban is gone; a new one can be made.
		if err := b.Ban(ctx, ip2, t0.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		bans, _ = a.Bans(ctx, t0.Add(time.Hour))
		if len(bans) != 1 || !bans[ip2].Equal(t0.Add(2*time.Hour)) {
			t.Errorf("after ip1's ban: %v, want ip2's new one", bans)
		}
	})
}

func TestIPGuardReplicas(t *testing.T) {
	eachIPGroups(t, func(t *testing.T, a, b relay.IPGroups) {
		ctx := context.Background()
		quiet := slog.New(slog.DiscardHandler)
		ga := relay.NewIPGuard(a, 2, 3, time.Hour, quiet)
		gb := relay.NewIPGuard(b, 2, 3, time.Hour, quiet)
		var alerts []relay.IPAlert
		ga.OnAlert = func(al relay.IPAlert) { alerts = append(alerts, al) }
		gb.OnAlert = func(al relay.IPAlert) { alerts = append(alerts, al) }
		ip := netip.MustParseAddr("198.51.100.77")
		t0 := time.UnixMilli(time.Now().UnixMilli())

		ga.Seen(ip, "g1")
		ga.Sync(ctx, t0)
		gb.Seen(ip, "g2")
		gb.Sync(ctx, t0.Add(time.Second))
		if len(alerts) != 1 || !slices.Equal(alerts[0].Groups, []string{"g1", "g2"}) || alerts[0].Banned {
			t.Fatalf("groups of two replicas do not add up: %+v", alerts)
		}
		ga.Seen(ip, "g3")
		ga.Sync(ctx, t0.Add(2*time.Second))
		if len(alerts) != 2 || !alerts[1].Banned || !slices.Equal(alerts[1].Groups, []string{"g1", "g2", "g3"}) {
			t.Fatalf("no ban at three groups on two replicas: %+v", alerts)
		}
		if !ga.Banned(ip, t0.Add(2*time.Second)) {
			t.Error("the banning replica does not refuse at once")
		}
		if gb.Banned(ip, t0.Add(2*time.Second)) {
			t.Fatal("the other replica learnt of the ban before syncing")
		}
		gb.Sync(ctx, t0.Add(3*time.Second))
		if !gb.Banned(ip, t0.Add(3*time.Second)) || gb.Banned(ip, t0.Add(2*time.Second+time.Hour)) {
			t.Error("the other replica does not refuse for the ban's length after syncing")
		}
	})
}
