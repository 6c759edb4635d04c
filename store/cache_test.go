package store_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

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
		queries := store.CountQueries(db, "key_hash")
		s := store.New(db, db)
		s.NegativeTTL = time.Second
		start(t, s)
		c := s.Cache()
		createGroup(t, s, "acme")
		tok, key := createToken(t, s, "acme", "t")

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
			if n := lookups(t, 50, key, ""); n < 1 || n > 5 {
				t.Errorf("50 concurrent first lookups made %d queries", n)
			}
			if n := lookups(t, 100, key, ""); n != 0 {
				t.Errorf("cached lookups made %d queries", n)
			}
		})

		t.Run("unknown", func(t *testing.T) {
			bad := aiproxy.NewTokenKey()
			if n := lookups(t, 50, bad, aiproxy.EUNAUTHORIZED); n < 1 || n > 5 {
				t.Errorf("50 concurrent first lookups made %d queries", n)
			}
			if n := lookups(t, 100, bad, aiproxy.EUNAUTHORIZED); n != 0 {
				t.Errorf("repeated bad key made %d queries", n)
			}
			_, _, err := c.TokenByKey(ctx, bad)
			if aiproxy.ErrorMessage(err) != "invalid API key" {
				t.Errorf("message %q", aiproxy.ErrorMessage(err))
			}
			for _, k := range []string{"", "Bearer x", "sk-" + strings.Repeat("x", 300)} {
				if n := lookups(t, 1, k, aiproxy.EUNAUTHORIZED); n != 0 {
					t.Errorf("malformed key %q made %d queries", k, n)
				}
			}
		})

		t.Run("unknown for a while", func(t *testing.T) {
			// A key unknown when first seen stays unknown for NegativeTTL,
			// even if its token appears (as when another replica creates it).
			hidden, hiddenKey := createToken(t, s, "acme", "hidden")
			setKeyHash := func(hash string) {
				t.Helper()
				if _, err := store.Bun(db).NewRaw("UPDATE tokens SET key_hash = ? WHERE id = ?", hash, hidden.ID).Exec(ctx); err != nil {
					t.Fatal(err)
				}
			}
			setKeyHash("elsewhere")
			lookups(t, 1, hiddenKey, aiproxy.EUNAUTHORIZED)
			setKeyHash(hidden.KeyHash)
			lookups(t, 1, hiddenKey, aiproxy.EUNAUTHORIZED)
			time.Sleep(s.NegativeTTL)
			lookups(t, 1, hiddenKey, "")
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
		})
	})
}

// TestCacheReplicas checks that a Store sees the writes of another one
// (another replica) within its refresh interval and TTL.
func TestCacheReplicas(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		b, _ := open(t, dsn)
		a := store.New(storetest.OpenDB(t, dsn), nil)
		a.RefreshInterval = 50 * time.Millisecond
		a.TokenTTL = 100 * time.Millisecond
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
		if _, _, err := a.Cache().TokenByKey(ctx, key); err != nil {
			t.Fatal(err)
		}
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
