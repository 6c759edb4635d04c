package store_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/store/storetest"
)

// mcpSessions is what package mcp asks of a session store (its
// SessionStore).
type mcpSessions interface {
	PutSession(ctx context.Context, id string, state []byte, ttl time.Duration) error
	TouchSession(ctx context.Context, id string, ttl time.Duration) ([]byte, error)
	DeleteSession(ctx context.Context, id string) error
	Listen(ctx context.Context, id string) (<-chan []byte, error)
	Deliver(ctx context.Context, id string, msg []byte) error
}

var (
	_ mcpSessions = (*store.MemoryMCPSessions)(nil)
	_ mcpSessions = (*store.RedisMCPSessions)(nil)
)

// eachMCPSessions runs fn as the subtests "memory" and "redis", with two
// stores that share their sessions, as two replicas' would: for memory
// the same store twice, for Redis two clients on one key prefix.
func eachMCPSessions(t *testing.T, fn func(t *testing.T, a, b mcpSessions)) {
	t.Helper()
	t.Run("memory", func(t *testing.T) {
		m := store.NewMemoryMCPSessions()
		fn(t, m, m)
	})
	t.Run("redis", func(t *testing.T) {
		first := storetest.Redis(t)
		second, err := store.OpenRedis(context.Background(), os.Getenv("TEST_REDIS_URL"), first.Prefix)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { second.Close() })
		fn(t, newRedisMCPSessions(t, first), newRedisMCPSessions(t, second))
	})
}

func newRedisMCPSessions(tb testing.TB, r *store.Redis) *store.RedisMCPSessions {
	tb.Helper()
	s, err := store.NewRedisMCPSessions(context.Background(), r)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestMCPSessionState(t *testing.T) {
	eachMCPSessions(t, func(t *testing.T, a, b mcpSessions) {
		ctx := context.Background()
		tests := []struct {
			name string
			run  func(t *testing.T)
		}{
			{"put on a, touch on b", func(t *testing.T) {
				if err := a.PutSession(ctx, "s1", []byte(`{"v":1}`), time.Minute); err != nil {
					t.Fatal(err)
				}
				got, err := b.TouchSession(ctx, "s1", time.Minute)
				if err != nil || string(got) != `{"v":1}` {
					t.Fatalf("TouchSession = %q, %v", got, err)
				}
			}},
			{"unknown", func(t *testing.T) {
				if _, err := b.TouchSession(ctx, "nope", time.Minute); aiproxy.ErrorCode(err) != aiproxy.ENOTFOUND {
					t.Fatalf("err = %v, want ENOTFOUND", err)
				}
			}},
			{"delete on b ends it on a", func(t *testing.T) {
				a.PutSession(ctx, "s2", []byte("x"), time.Minute)
				if err := b.DeleteSession(ctx, "s2"); err != nil {
					t.Fatal(err)
				}
				if _, err := a.TouchSession(ctx, "s2", time.Minute); aiproxy.ErrorCode(err) != aiproxy.ENOTFOUND {
					t.Fatalf("err = %v, want ENOTFOUND", err)
				}
				if err := b.DeleteSession(ctx, "s2"); err != nil {
					t.Fatalf("deleting twice: %v", err)
				}
			}},
			{"expires, touch refreshes", func(t *testing.T) {
				a.PutSession(ctx, "s3", []byte("x"), 300*time.Millisecond)
				a.PutSession(ctx, "s4", []byte("y"), 300*time.Millisecond)
				time.Sleep(200 * time.Millisecond)
				if _, err := b.TouchSession(ctx, "s3", time.Minute); err != nil {
					t.Fatalf("touch before expiry: %v", err)
				}
				time.Sleep(250 * time.Millisecond)
				if _, err := b.TouchSession(ctx, "s3", time.Minute); err != nil {
					t.Fatalf("touched session expired: %v", err)
				}
				if _, err := b.TouchSession(ctx, "s4", time.Minute); aiproxy.ErrorCode(err) != aiproxy.ENOTFOUND {
					t.Fatalf("untouched session: err = %v, want ENOTFOUND", err)
				}
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, tt.run)
		}
	})
}

func TestMCPSessionDeliver(t *testing.T) {
	eachMCPSessions(t, func(t *testing.T, a, b mcpSessions) {
		ctx := context.Background()
		if err := b.Deliver(ctx, "none", []byte("x")); aiproxy.ErrorCode(err) != aiproxy.ENOTFOUND {
			t.Fatalf("Deliver with no listener: %v, want ENOTFOUND", err)
		}
		lctx, cancel := context.WithCancel(ctx)
		ch, err := a.Listen(lctx, "s1")
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []string{"one", "two", "three"} {
			if err := b.Deliver(ctx, "s1", []byte(m)); err != nil {
				t.Fatalf("Deliver %s: %v", m, err)
			}
		}
		for _, want := range []string{"one", "two", "three"} {
			select {
			case got := <-ch:
				if string(got) != want {
					t.Fatalf("got %q, want %q", got, want)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("no message %q", want)
			}
		}
		cancel()
		select {
		case _, ok := <-ch:
			if ok {
				t.Fatal("a message after the listener's end")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the channel is not closed when the listener's context is")
		}
		deadline := time.Now().Add(5 * time.Second)
		for b.Deliver(ctx, "s1", []byte("late")) == nil {
			if time.Now().After(deadline) {
				t.Fatal("Deliver still succeeds after the listener left")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
