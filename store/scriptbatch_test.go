package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/store/storetest"
)

// TestScriptBatcher runs scripts from many goroutines at once through one
// batcher: each gets its own script's answer (the first from a script
// Redis has not cached yet), and the increments add up exactly.
func TestScriptBatcher(t *testing.T) {
	r := storetest.Redis(t)
	run := store.BatchScripts(r)
	ctx := context.Background()
	// A body of its own, so that Redis does not know it yet.
	echo := redis.NewScript(fmt.Sprintf("-- %d\nredis.call('INCR', KEYS[1])\nreturn ARGV[1]", time.Now().UnixNano()))
	key := r.Key("batch", fmt.Sprint(time.Now().UnixNano()))
	t.Cleanup(func() { r.Client.Del(context.Background(), key) })
	const goroutines, each = 64, 50
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				want := fmt.Sprintf("%d-%d", g, i)
				got, err := run(ctx, echo, []string{key}, want).Text()
				if err != nil || got != want {
					t.Errorf("script of %s answered %q, %v", want, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n, err := r.Client.Get(ctx, key).Int(); err != nil || n != goroutines*each {
		t.Errorf("the scripts ran %d times (%v), want %d", n, err, goroutines*each)
	}
}
