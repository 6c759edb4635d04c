package store_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/store/storetest"
)

// limiter is what the relay asks of a limiter.
type limiter interface {
	Reserve(ctx context.Context, lims []aiproxy.Limit, now time.Time) (*aiproxy.Reservation, error)
	Settle(ctx context.Context, r *aiproxy.Reservation, costs []int64) error
}

// eachLimiter runs fn against the memory limiter and the Redis one (two
// instances on one Redis, as two replicas have).
func eachLimiter(t *testing.T, fn func(t *testing.T, a, b limiter)) {
	t.Run("memory", func(t *testing.T) {
		m := store.NewMemoryLimiter()
		fn(t, m, m)
	})
	t.Run("redis", func(t *testing.T) {
		r := storetest.Redis(t)
		fn(t, store.NewRedisLimiter(r), store.NewRedisLimiter(r))
	})
}

func TestLimiterBurstsAreExact(t *testing.T) {
	eachLimiter(t, func(t *testing.T, a, b limiter) {
		for _, l := range []aiproxy.Limit{
			{Kind: aiproxy.LimitWindow, Name: "rpm", Key: "rpm:burst", Max: 100, Cost: 1, Window: time.Minute},
			{Kind: aiproxy.LimitWindow, Name: "tpm", Key: "tpm:burst", Max: 1000, Cost: 10, Window: time.Minute},
			{Kind: aiproxy.LimitConcurrent, Name: "concurrency", Key: "conc:burst", Max: 100, Cost: 1, Window: time.Minute},
			{Kind: aiproxy.LimitBudget, Name: "quota", Key: "quota:burst", Max: 1000, Cost: 10, Base: 0, Window: time.Hour},
		} {
			var ok atomic.Int64
			var wg sync.WaitGroup
			now := time.Now()
			for i := 0; i < 1000; i++ {
				lim := a
				if i%2 == 1 {
					lim = b
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					r, err := lim.Reserve(context.Background(), []aiproxy.Limit{l}, now)
					if err != nil {
						t.Error(err)
						return
					}
					if r.OK {
						ok.Add(1)
					}
				}()
			}
			wg.Wait()
			if ok.Load() != 100 {
				t.Errorf("%s: %d of 1000 admitted, want exactly 100", l.Name, ok.Load())
			}
		}
	})
}

func TestLimiterAllOrNone(t *testing.T) {
	eachLimiter(t, func(t *testing.T, a, _ limiter) {
		ctx, now := context.Background(), time.Now()
		roomy := aiproxy.Limit{Kind: aiproxy.LimitWindow, Name: "rpm", Key: "rpm:roomy", Max: 10, Cost: 1, Window: time.Minute}
		full := aiproxy.Limit{Kind: aiproxy.LimitBudget, Name: "quota", Key: "quota:full", Max: 5, Cost: 1, Base: 5, Window: time.Hour}
		r, err := a.Reserve(ctx, []aiproxy.Limit{roomy, full}, now)
		if err != nil || r.OK || r.Denied != 1 || r.RetryAfter != 0 {
			t.Fatalf("reserve: %+v %v; want refused by the budget, no retry-after", r, err)
		}
		r, _ = a.Reserve(ctx, []aiproxy.Limit{roomy}, now)
		if !r.OK || r.States[0].Remaining != 9 {
			t.Errorf("the refused reservation took room: remaining %d, want 9", r.States[0].Remaining)
		}
	})
}

func TestLimiterWindowSlides(t *testing.T) {
	eachLimiter(t, func(t *testing.T, a, b limiter) {
		ctx := context.Background()
		start := time.UnixMilli(time.Now().UnixMilli() / 1000 * 1000) // on a slot boundary
		l := aiproxy.Limit{Kind: aiproxy.LimitWindow, Name: "rpm", Key: "rpm:slide", Max: 3, Cost: 1, Window: time.Minute}
		for i := 0; i < 3; i++ {
			r, err := a.Reserve(ctx, []aiproxy.Limit{l}, start.Add(time.Duration(i)*10*time.Second))
			if err != nil || !r.OK || r.States[0].Remaining != int64(2-i) {
				t.Fatalf("request %d: %+v %v", i, r, err)
			}
			if i == 0 && r.States[0].Reset != time.Minute { // on a slot boundary: a whole window
				t.Errorf("reset after the first request: %v, want 1m", r.States[0].Reset)
			}
		}
		at := start.Add(30 * time.Second)
		r, _ := b.Reserve(ctx, []aiproxy.Limit{l}, at)
		if r.OK || r.RetryAfter != 30*time.Second || r.States[0].Remaining != 0 {
			t.Fatalf("fourth request: ok=%v retry after %v remaining %d; want refused for 30s", r.OK, r.RetryAfter, r.States[0].Remaining)
		}
		// The first request's slot leaves the window a minute after it.
		if r, _ := b.Reserve(ctx, []aiproxy.Limit{l}, start.Add(time.Minute-time.Millisecond)); r.OK {
			t.Error("admitted before the oldest slot left the window")
		}
		if r, _ := b.Reserve(ctx, []aiproxy.Limit{l}, start.Add(time.Minute)); !r.OK {
			t.Error("refused after the oldest slot left the window")
		}
	})
}

func TestLimiterSettles(t *testing.T) {
	eachLimiter(t, func(t *testing.T, a, b limiter) {
		ctx, now := context.Background(), time.Now()
		tpm := aiproxy.Limit{Kind: aiproxy.LimitWindow, Name: "tpm", Key: "tpm:settle", Max: 100, Cost: 100, Window: time.Minute}
		r, err := a.Reserve(ctx, []aiproxy.Limit{tpm}, now)
		if err != nil || !r.OK {
			t.Fatal(r, err)
		}
		if err := b.Settle(ctx, r, []int64{10}); err != nil {
			t.Fatal(err)
		}
		tpm.Cost = 90
		if r, _ := b.Reserve(ctx, []aiproxy.Limit{tpm}, now); !r.OK || r.States[0].Remaining != 0 {
			t.Errorf("after settling 100 to 10: %+v, want room for 90", r)
		}

		// A budget starts from Base, and settles to the actual cost.
		q := aiproxy.Limit{Kind: aiproxy.LimitBudget, Name: "quota", Key: "quota:settle", Max: 100, Cost: 50, Base: 40, Window: time.Hour}
		r, _ = a.Reserve(ctx, []aiproxy.Limit{q}, now)
		if !r.OK || r.States[0].Remaining != 10 {
			t.Fatalf("budget: %+v", r)
		}
		b.Settle(ctx, r, []int64{5})
		q.Base, q.Cost = 0, 55 // Base matters only for a new counter: 45 used
		if r, _ := b.Reserve(ctx, []aiproxy.Limit{q}, now); !r.OK || r.States[0].Remaining != 0 {
			t.Errorf("budget after settling: %+v, want exactly room for 55", r)
		}
		if r, _ := a.Reserve(ctx, []aiproxy.Limit{{Kind: aiproxy.LimitBudget, Key: "quota:settle", Max: 100, Cost: 0, Window: time.Hour}}, now); r.OK {
			t.Error("a used-up budget admits even a free request")
		}

		// Settling a concurrency reservation frees its slot; a slot lapses.
		c := aiproxy.Limit{Kind: aiproxy.LimitConcurrent, Name: "concurrency", Key: "conc:settle", Max: 1, Cost: 1, Window: time.Minute}
		r1, _ := a.Reserve(ctx, []aiproxy.Limit{c}, now)
		if r2, _ := b.Reserve(ctx, []aiproxy.Limit{c}, now); !r1.OK || r2.OK || r2.RetryAfter <= 0 {
			t.Fatalf("concurrency: first %v second %v", r1.OK, r2.OK)
		}
		b.Settle(ctx, r1, nil)
		r3, _ := b.Reserve(ctx, []aiproxy.Limit{c}, now)
		if !r3.OK {
			t.Fatal("slot not freed by settling")
		}
		if r4, _ := a.Reserve(ctx, []aiproxy.Limit{c}, now.Add(time.Minute+time.Millisecond)); !r4.OK {
			t.Error("a slot never settled (its replica died) did not lapse")
		}
	})
}

func BenchmarkLimiter(b *testing.B) {
	lims := []aiproxy.Limit{
		{Kind: aiproxy.LimitWindow, Name: "rpm", Key: "rpm:bench", Max: 1 << 50, Cost: 1, Window: time.Minute},
		{Kind: aiproxy.LimitWindow, Name: "tpm", Key: "tpm:bench", Max: 1 << 50, Cost: 500, Window: time.Minute},
		{Kind: aiproxy.LimitConcurrent, Name: "concurrency", Key: "conc:bench", Max: 1 << 30, Cost: 1, Window: time.Hour},
		{Kind: aiproxy.LimitBudget, Name: "quota", Key: "quota:bench", Max: 1 << 50, Cost: 1000, Window: time.Hour},
	}
	run := func(b *testing.B, l limiter) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			costs := []int64{1, 400, 1, 900}
			for pb.Next() {
				r, err := l.Reserve(context.Background(), lims, time.Now())
				if err != nil || !r.OK {
					b.Fatal(r, err)
				}
				l.Settle(context.Background(), r, costs)
			}
		})
	}
	b.Run("memory", func(b *testing.B) { run(b, store.NewMemoryLimiter()) })
	b.Run("redis", func(b *testing.B) { run(b, store.NewRedisLimiter(storetest.Redis(b))) })
}

// TestLimiterWindowsAgree drives the memory limiter and the Redis one
// through the same long random walk of reservations and settlements
// (costs of zero included, settlements up and down, idle gaps longer than
// the window) and asks both to answer alike at every step: the Redis
// window keeps a running total that must never drift from the slots'.
func TestLimiterWindowsAgree(t *testing.T) {
	ctx := context.Background()
	mem, red := store.NewMemoryLimiter(), store.NewRedisLimiter(storetest.Redis(t))
	rng := rand.New(rand.NewPCG(7, 11))
	now := time.UnixMilli(time.Now().UnixMilli() / 1000 * 1000)
	type pending struct{ m, r *aiproxy.Reservation }
	var open []pending
	for step := range 3000 {
		switch d := rng.IntN(100); {
		case d < 2:
			now = now.Add(time.Duration(60+rng.IntN(120)) * time.Second) // idle past the window
		default:
			now = now.Add(time.Duration(rng.IntN(400)) * time.Millisecond)
		}
		l := aiproxy.Limit{Kind: aiproxy.LimitWindow, Name: "tpm", Key: "tpm:agree", Max: 2000, Cost: int64(rng.IntN(60)), Window: time.Minute}
		mr, err1 := mem.Reserve(ctx, []aiproxy.Limit{l}, now)
		rr, err2 := red.Reserve(ctx, []aiproxy.Limit{l}, now)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if mr.OK != rr.OK || mr.RetryAfter != rr.RetryAfter || mr.States[0] != rr.States[0] {
			t.Fatalf("step %d at %v: memory %+v %+v, redis %+v %+v", step, now, mr, mr.States[0], rr, rr.States[0])
		}
		if mr.OK {
			open = append(open, pending{mr, rr})
		}
		for len(open) > 0 && rng.IntN(3) > 0 { // settle some, oldest first
			p := open[0]
			open = open[1:]
			actual := []int64{max(p.m.Limits[0].Cost+int64(rng.IntN(41)-20), 0)}
			if err := mem.Settle(ctx, p.m, actual); err != nil {
				t.Fatal(err)
			}
			if err := red.Settle(ctx, p.r, actual); err != nil {
				t.Fatal(err)
			}
		}
	}
}
