package store_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/store/storetest"
)

func channelIDs(cs []*aiproxy.Channel) []int64 {
	var ids []int64
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	return ids
}

func TestCacheChannels(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := storetest.Open(t, dsn)
		c := s.Cache()
		if c.Channels("a") != nil || len(c.Models()) != 0 {
			t.Fatal("empty database, non-empty cache")
		}

		low := newChannel("low", 1, true, "a", "b")
		high := newChannel("high", 5, true, "a")
		off := newChannel("off", 9, false, "a", "c")
		high2 := newChannel("high2", 5, true, "a")
		for _, ch := range []*aiproxy.Channel{low, high, off, high2} {
			if err := s.CreateChannel(ctx, ch); err != nil {
				t.Fatal(err)
			}
		}
		check := func(t *testing.T, wantA []int64, wantModels ...string) {
			t.Helper()
			wantEqual(t, channelIDs(c.Channels("a")), wantA)
			wantEqual(t, c.Models(), wantModels)
		}

		// Writes show at once.
		check(t, []int64{high.ID, high2.ID, low.ID}, "a", "b")
		wantEqual(t, channelIDs(c.Channels("b")), []int64{low.ID})
		if c.Channels("c") != nil {
			t.Fatal("a disabled channel is served")
		}
		if got := c.Channels("a")[0]; got.Key != high.Key || got.Name != "high" {
			t.Fatalf("cached channel: %+v", got)
		}

		if _, err := s.UpdateChannel(ctx, high.ID, aiproxy.ChannelUpdate{Enabled: ptr(false)}); err != nil {
			t.Fatal(err)
		}
		check(t, []int64{high2.ID, low.ID}, "a", "b")
		if _, err := s.UpdateChannel(ctx, off.ID, aiproxy.ChannelUpdate{Enabled: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		check(t, []int64{off.ID, high2.ID, low.ID}, "a", "b", "c")
		if err := s.DeleteChannel(ctx, off.ID); err != nil {
			t.Fatal(err)
		}
		check(t, []int64{high2.ID, low.ID}, "a", "b")
	})
}

func TestCacheTokens(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db := storetest.OpenDB(t, dsn)
		s := store.New(db, db)
		s.RefreshInterval = time.Hour // no periodic load during the counts
		start(t, s)
		c := s.Cache()
		createGroup(t, s, "acme")
		tok, key := createToken(t, s, "acme", "t")
		queries := store.CountQueries(db, "") // every query from now on

		// lookups runs n concurrent lookups of key and returns the number of
		// queries they made.
		lookups := func(t *testing.T, n int, key, wantCode string) int64 {
			t.Helper()
			before := queries.Load()
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() {
					_, _, err := c.TokenByKey(ctx, key)
					if code := aiproxy.ErrorCode(err); code != wantCode {
						t.Errorf("TokenByKey: %v, want code %q", err, wantCode)
					}
				})
			}
			wg.Wait()
			return queries.Load() - before
		}

		t.Run("found", func(t *testing.T) {
			if n := lookups(t, 100, key, ""); n != 0 {
				t.Errorf("lookups made %d queries", n)
			}
			got, g, err := c.TokenByKey(ctx, key)
			if err != nil || got.ID != tok.ID || got.Name != "t" || g.ID != "acme" {
				t.Fatalf("TokenByKey = %+v, %+v, %v", got, g, err)
			}
		})

		t.Run("unknown", func(t *testing.T) {
			for _, k := range []string{aiproxy.NewTokenKey(), aiproxy.NewTokenKey(), "", "Bearer x", "sk-" + strings.Repeat("x", 300)} {
				if n := lookups(t, 50, k, aiproxy.EUNAUTHORIZED); n != 0 {
					t.Errorf("unknown key %.10q made %d queries", k, n)
				}
			}
			_, _, err := c.TokenByKey(ctx, aiproxy.NewTokenKey())
			if aiproxy.ErrorMessage(err) != "invalid API key" {
				t.Errorf("message %q", aiproxy.ErrorMessage(err))
			}
		})

		t.Run("changes show at once", func(t *testing.T) {
			if _, err := s.UpdateToken(ctx, tok.ID, aiproxy.TokenUpdate{Name: ptr("renamed"), Enabled: ptr(false)}); err != nil {
				t.Fatal(err)
			}
			got, _, err := c.TokenByKey(ctx, key)
			if err != nil || got.Name != "renamed" || got.Enabled {
				t.Fatalf("TokenByKey = %+v, %v", got, err)
			}
			if _, err := s.UpdateGroup(ctx, "acme", aiproxy.GroupUpdate{Enabled: ptr(false)}); err != nil {
				t.Fatal(err)
			}
			_, g, err := c.TokenByKey(ctx, key)
			if err != nil || g.Enabled {
				t.Fatalf("TokenByKey group = %+v, %v", g, err)
			}
			if err := s.DeleteToken(ctx, tok.ID); err != nil {
				t.Fatal(err)
			}
			lookups(t, 1, key, aiproxy.EUNAUTHORIZED)

			createGroup(t, s, "other")
			_, key2 := createToken(t, s, "other", "t2")
			lookups(t, 1, key2, "")
			if err := s.DeleteGroup(ctx, "other"); err != nil {
				t.Fatal(err)
			}
			lookups(t, 1, key2, aiproxy.EUNAUTHORIZED)
		})
	})
}

// TestCacheReplicas checks that a Store sees the writes of another one
// (another replica) within its refresh interval, without a shared Bus.
func TestCacheReplicas(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		b, _ := open(t, dsn)
		a := store.New(storetest.OpenDB(t, dsn), nil)
		a.RefreshInterval = 50 * time.Millisecond
		start(t, a)

		eventually := func(t *testing.T, what string, ok func() bool) {
			t.Helper()
			for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("replica never saw %s", what)
				}
			}
		}

		ch := newChannel("remote", 0, true, "m")
		if err := b.CreateChannel(ctx, ch); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the new channel", func() bool { return len(a.Cache().Channels("m")) == 1 })

		createGroup(t, b, "g")
		tok, key := createToken(t, b, "g", "t")
		eventually(t, "the new token", func() bool {
			_, _, err := a.Cache().TokenByKey(ctx, key)
			return err == nil
		})
		if _, err := b.UpdateToken(ctx, tok.ID, aiproxy.TokenUpdate{Enabled: ptr(false)}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the disabled token", func() bool {
			got, _, err := a.Cache().TokenByKey(ctx, key)
			return err == nil && !got.Enabled
		})
		if err := b.DeleteGroup(ctx, "g"); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the deleted token", func() bool {
			_, _, err := a.Cache().TokenByKey(ctx, key)
			return aiproxy.ErrorCode(err) == aiproxy.EUNAUTHORIZED
		})
	})
}

// TestCacheReplicasBus checks that two Stores on one database, with Redis
// buses on one prefix, see each other's writes within a second, with no
// periodic refresh to help.
func TestCacheReplicasBus(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.PostgresDSN(t)
	busA, busB := redisBusPair(t)
	replica := func(bus store.Bus) *store.Store {
		s := store.New(storetest.OpenDB(t, dsn), nil)
		s.RefreshInterval = time.Hour
		s.Bus = bus
		start(t, s)
		return s
	}
	a, b := replica(busA), replica(busB)

	// within polls ok until it holds, failing after a second; it returns
	// how long it took.
	within := func(t *testing.T, what string, ok func() bool) time.Duration {
		t.Helper()
		began := time.Now()
		for !ok() {
			if time.Since(began) > time.Second {
				t.Fatalf("replica B did not see %s within 1s", what)
			}
			time.Sleep(2 * time.Millisecond)
		}
		d := time.Since(began)
		t.Logf("replica B saw %s after %v", what, d)
		return d
	}
	lookup := func(key string) (*aiproxy.Token, *aiproxy.Group, error) { return b.Cache().TokenByKey(ctx, key) }

	createGroup(t, a, "g")
	tok, key := createToken(t, a, "g", "t")
	within(t, "the new token", func() bool { _, _, err := lookup(key); return err == nil })
	if _, err := a.UpdateToken(ctx, tok.ID, aiproxy.TokenUpdate{Enabled: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	within(t, "the disabled token", func() bool {
		got, _, err := lookup(key)
		return err == nil && !got.Enabled
	})
	if _, err := a.UpdateGroup(ctx, "g", aiproxy.GroupUpdate{Enabled: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	within(t, "the disabled group", func() bool {
		_, g, err := lookup(key)
		return err == nil && !g.Enabled
	})
	if err := a.DeleteGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	within(t, "the deleted group's token", func() bool {
		_, _, err := lookup(key)
		return aiproxy.ErrorCode(err) == aiproxy.EUNAUTHORIZED
	})

	ch := newChannel("shared", 0, true, "m")
	if err := a.CreateChannel(ctx, ch); err != nil {
		t.Fatal(err)
	}
	within(t, "the new channel", func() bool { return len(b.Cache().Channels("m")) == 1 })
	if _, err := a.UpdateChannel(ctx, ch.ID, aiproxy.ChannelUpdate{Enabled: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	within(t, "the disabled channel", func() bool { return b.Cache().Channels("m") == nil })
	if err := a.CreateModelConfig(ctx, &aiproxy.ModelConfig{Model: "m", Pricing: aiproxy.Pricing{Prices: aiproxy.Prices{Input: 1}}}); err != nil {
		t.Fatal(err)
	}
	within(t, "the new model config", func() bool { _, ok := b.Cache().ModelConfig("m"); return ok })
}

// TestCacheRedisDown checks a Store whose Redis bus never reaches Redis:
// writes succeed and show at once on this replica.
func TestCacheRedisDown(t *testing.T) {
	ctx := context.Background()
	r := &store.Redis{Client: redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1}), Prefix: "nowhere:"}
	defer r.Close()
	bus := newRedisBus(t, r)
	db := storetest.OpenDB(t, storetest.SQLiteDSN(t))
	s := store.New(db, db)
	s.Bus = bus
	start(t, s)
	before := bus.Failures()

	createGroup(t, s, "g")
	tok, key := createToken(t, s, "g", "t")
	if _, _, err := s.Cache().TokenByKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateToken(ctx, tok.ID, aiproxy.TokenUpdate{Enabled: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	if got, _, err := s.Cache().TokenByKey(ctx, key); err != nil || got.Enabled {
		t.Fatalf("TokenByKey = %+v, %v", got, err)
	}
	if err := s.CreateChannel(ctx, newChannel("c", 0, true, "m")); err != nil {
		t.Fatal(err)
	}
	if len(s.Cache().Channels("m")) != 1 {
		t.Fatal("the new channel is not served")
	}
	if n := bus.Failures() - before; n < 4 {
		t.Errorf("%d publish failures counted, want at least 4", n)
	}
}
