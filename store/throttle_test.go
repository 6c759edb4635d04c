package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/store/storetest"
)

type throttle interface {
	Allow(ctx context.Context, key string, window time.Duration, now time.Time) (bool, error)
}

// TestThrottle runs one suite against the memory and Redis throttles; the
// Redis one twice over one server stands for two replicas.
func TestThrottle(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(t *testing.T) (a, b throttle)
	}{
		{"memory", func(t *testing.T) (throttle, throttle) { m := &store.MemoryThrottle{}; return m, m }},
		{"redis", func(t *testing.T) (throttle, throttle) {
			r := storetest.Redis(t)
			return store.NewRedisThrottle(r), store.NewRedisThrottle(r)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := tc.make(t)
			ctx := context.Background()
			const window = 300 * time.Millisecond
			allow := func(th throttle, key string) bool {
				t.Helper()
				ok, err := th.Allow(ctx, key, window, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				return ok
			}
			if !allow(a, "breaker:1") {
				t.Fatal("first event held back")
			}
			if allow(a, "breaker:1") || allow(b, "breaker:1") {
				t.Error("second event within the window went through")
			}
			if !allow(b, "breaker:2") {
				t.Error("another key held back")
			}
			time.Sleep(window + 100*time.Millisecond)
			if !allow(b, "breaker:1") {
				t.Error("event after the window held back")
			}
			if allow(a, "breaker:1") {
				t.Error("the window did not start again")
			}
		})
	}
}
