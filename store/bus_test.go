package store_test

import (
	"context"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/store/storetest"
)

// eachBus runs fn as the subtests "memory" and "redis", with two buses
// that share their changes, as two replicas' would: for memory the same
// bus twice (one process), for Redis two clients on one key prefix.
func eachBus(t *testing.T, fn func(t *testing.T, a, b store.Bus)) {
	t.Helper()
	t.Run("memory", func(t *testing.T) {
		bus := store.NewMemoryBus()
		fn(t, bus, bus)
	})
	t.Run("redis", func(t *testing.T) {
		a, b := redisBusPair(t)
		fn(t, a, b)
	})
}

// redisBusPair returns two Redis buses on one fresh key prefix, each with
// a client of its own; the test's cleanup closes them.
func redisBusPair(tb testing.TB) (a, b *store.RedisBus) {
	tb.Helper()
	first := storetest.Redis(tb)
	second, err := store.OpenRedis(context.Background(), os.Getenv("TEST_REDIS_URL"), first.Prefix)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { second.Close() })
	return newRedisBus(tb, first), newRedisBus(tb, second)
}

func newRedisBus(tb testing.TB, r *store.Redis) *store.RedisBus {
	tb.Helper()
	b := store.NewRedisBus(r)
	tb.Cleanup(func() { b.Close() })
	return b
}

// recorder records the changes a bus delivers.
type recorder struct {
	mu      sync.Mutex
	changes []store.Change
}

func (r *recorder) add(c store.Change) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, c)
}

func (r *recorder) got() []store.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.changes)
}

// wait waits up to 2s until the recorder has n changes and returns them.
func (r *recorder) wait(tb testing.TB, n int) []store.Change {
	tb.Helper()
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if got := r.got(); len(got) >= n || time.Now().After(deadline) {
			return got
		}
	}
}

func TestBus(t *testing.T) {
	ctx := context.Background()
	tok := store.Change{Kind: store.ChangeToken, ID: "7"}
	grp := store.Change{Kind: store.ChangeGroup, ID: "acme:prod|x"}
	eachBus(t, func(t *testing.T, a, b store.Bus) {
		var local, remote, stopped recorder
		defer a.Subscribe(local.add)()
		defer b.Subscribe(remote.add)()
		stop := b.Subscribe(stopped.add)

		if err := a.Publish(ctx, tok); err != nil {
			t.Fatal(err)
		}
		// The publisher's own subscribers have it when Publish returns.
		wantEqual(t, local.got(), []store.Change{tok})
		wantEqual(t, remote.wait(t, 1), []store.Change{tok})
		wantEqual(t, stopped.wait(t, 1), []store.Change{tok})

		stop()
		stop() // harmless
		if err := a.Publish(ctx, grp); err != nil {
			t.Fatal(err)
		}
		wantEqual(t, remote.wait(t, 2), []store.Change{tok, grp})
		time.Sleep(50 * time.Millisecond) // time for a wrong delivery to arrive
		wantEqual(t, local.got(), []store.Change{tok, grp})
		wantEqual(t, stopped.got(), []store.Change{tok})
	})
}

// TestRedisBusBurst checks that a burst of changes is delivered once each
// to the other replica, in any order.
func TestRedisBusBurst(t *testing.T) {
	ctx := context.Background()
	a, b := redisBusPair(t)
	var got recorder
	defer b.Subscribe(func(c store.Change) {
		time.Sleep(time.Millisecond) // a slow subscriber lets the burst pile up
		got.add(c)
	})()
	want := map[store.Change]bool{}
	for i := range 200 {
		c := store.Change{Kind: store.ChangeChannel, ID: string(rune('a' + i%20))}
		want[c] = true
		if err := a.Publish(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		seen := map[store.Change]bool{}
		for _, c := range got.got() {
			seen[c] = true
		}
		if len(seen) == len(want) || time.Now().After(deadline) {
			wantEqual(t, seen, want)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(got.got()); n >= 200 {
		t.Errorf("%d deliveries of 20 distinct changes: bursts are not coalesced", n)
	}
}

// TestRedisBusUnreachable checks a bus whose Redis never answers: Publish
// fails, and counts, but still delivers to the local subscribers.
func TestRedisBusUnreachable(t *testing.T) {
	r := &store.Redis{Client: redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1}), Prefix: "nowhere:"}
	defer r.Close()
	bus := newRedisBus(t, r)
	var local recorder
	defer bus.Subscribe(local.add)()
	c := store.Change{Kind: store.ChangeToken, ID: "1"}
	if err := bus.Publish(context.Background(), c); err == nil {
		t.Fatal("Publish to an unreachable Redis succeeded")
	}
	wantEqual(t, local.got(), []store.Change{c})
	if bus.Failures() < 2 { // the first subscription and the publish
		t.Errorf("%d failures counted", bus.Failures())
	}
}

// TestRedisBusOutage cuts one bus's connections to Redis and restores
// them: during the outage its Publish fails; afterwards it resyncs its
// subscribers and tells the other bus to resync too.
func TestRedisBusOutage(t *testing.T) {
	ctx := context.Background()
	first := storetest.Redis(t)
	p := storetest.StartProxy(t, first.Client.Options().Addr)
	opts := *first.Client.Options()
	opts.Addr = p.Addr()
	opts.MaxRetries = -1
	cut := &store.Redis{Client: redis.NewClient(&opts), Prefix: first.Prefix}
	defer cut.Close()
	a, b := newRedisBus(t, cut), newRedisBus(t, first)
	var onA, onB recorder
	defer a.Subscribe(onA.add)()
	defer b.Subscribe(onB.add)()

	before := a.Failures()
	p.SetDown(true)
	lost := store.Change{Kind: store.ChangeToken, ID: "1"}
	if err := a.Publish(ctx, lost); err == nil {
		t.Fatal("Publish during the outage succeeded")
	}
	if a.Failures() <= before {
		t.Error("the failure was not counted")
	}
	time.Sleep(300 * time.Millisecond) // the subscription retries meanwhile
	p.SetDown(false)

	all := store.Change{Kind: store.ChangeAll}
	wantEqual(t, onA.wait(t, 2), []store.Change{lost, all})
	wantEqual(t, onB.wait(t, 1), []store.Change{all})

	// And the bus works again.
	next := store.Change{Kind: store.ChangeGroup, ID: "g"}
	if err := a.Publish(ctx, next); err != nil {
		t.Fatal(err)
	}
	wantEqual(t, onB.wait(t, 2), []store.Change{all, next})
}
