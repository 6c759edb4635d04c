package store

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// MemoryThrottle lets one event per key through per window, in process
// memory (see RedisThrottle for every replica at once). The zero value is
// ready for use; it is safe for concurrent use.
type MemoryThrottle struct {
	mu    sync.Mutex
	until map[string]time.Time
}

// Allow reports whether an event of key at now may go: the first one does,
// and then none until window has passed. It never fails.
func (t *MemoryThrottle) Allow(_ context.Context, key string, window time.Duration, now time.Time) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.until == nil {
		t.until = map[string]time.Time{}
	}
	if u, ok := t.until[key]; ok && now.Before(u) {
		return false, nil
	}
	if len(t.until) > 10000 {
		for k, u := range t.until {
			if !now.Before(u) {
				delete(t.until, k)
			}
		}
	}
	t.until[key] = now.Add(window)
	return true, nil
}

// RedisThrottle is MemoryThrottle shared by every replica on the same Redis
// server and key prefix: the first replica to claim a key (SET NX PX)
// lets its event go. Its windows are Redis's clock, not now's.
type RedisThrottle struct{ r *Redis }

// NewRedisThrottle returns the throttle on r. It does not take ownership
// of r.
func NewRedisThrottle(r *Redis) *RedisThrottle { return &RedisThrottle{r: r} }

// Allow reports whether an event of key may go, on any replica, within
// window. It fails when Redis does not answer.
func (t *RedisThrottle) Allow(ctx context.Context, key string, window time.Duration, _ time.Time) (bool, error) {
	ok, err := t.r.Client.SetNX(ctx, t.r.Key("throttle", key), "1", window).Result()
	if err != nil {
		return false, fmt.Errorf("store: throttle: %w", err)
	}
	return ok, nil
}
