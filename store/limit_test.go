package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/store/storetest"
)

var (
	_ relay.Limiter = (*store.MemoryLimiter)(nil)
	_ relay.Limiter = (*store.RedisLimiter)(nil)
)

// eachLimit runs fn against the memory limiter (a and b the same) and
// the Redis one (a and b two instances on one Redis, as two replicas
// have).
func eachLimit(t *testing.T, fn func(t *testing.T, a, b relay.Limiter)) {
	t.Run("memory", func(t *testing.T) {
		m := store.NewMemoryLimiter()
		fn(t, m, m)
	})
	t.Run("redis", func(t *testing.T) {
		r := storetest.Redis(t)
		fn(t, store.NewRedisLimiter(r), store.NewRedisLimiter(r))
	})
}

// reserve reserves lims on l at now, failing the test on an error.
func reserve(tb testing.TB, l relay.Limiter, now time.Time, lims ...aiproxy.Limit) *aiproxy.Reservation {
	tb.Helper()
	r, err := l.Reserve(context.Background(), lims, now)
	if err != nil {
		tb.Fatal(err)
	}
	if len(r.States) != len(lims) || len(r.Limits) != len(lims) || !r.At.Equal(now) {
		tb.Fatalf("reservation of %d limits at %v: %+v", len(lims), now, r)
	}
	if r.OK != (r.Denied < 0) {
		tb.Fatalf("OK %v with Denied %d", r.OK, r.Denied)
	}
	return r
}

// minuteStart is a time on a slot boundary of a minute window.
func minuteStart() time.Time { return time.UnixMilli(time.Now().UnixMilli() / 1000 * 1000) }

func TestLimitWindowRetryAfter(t *testing.T) {
	eachLimit(t, func(t *testing.T, a, b relay.Limiter) {
		t0 := minuteStart()
		tpm := func(cost int64) aiproxy.Limit {
			return aiproxy.Limit{Kind: aiproxy.LimitWindow, Name: "tpm", Key: "tpm:retry", Max: 100, Cost: cost, Window: time.Minute}
		}
		for i, c := range []int64{50, 30, 20} {
			if r := reserve(t, a, t0.Add(time.Duration(i)*10*time.Second), tpm(c)); !r.OK {
				t.Fatalf("reservation %d refused: %+v", i, r)
			}
		}
		for _, tt := range []struct {
			name  string
			at    time.Duration
			cost  int64
			retry time.Duration
		}{
			{"the oldest slot frees enough", 30 * time.Second, 40, 30 * time.Second},
			{"the oldest slot frees exactly enough", 30 * time.Second, 50, 30 * time.Second},
			{"two slots must leave", 30 * time.Second, 60, 40 * time.Second},
			{"every slot must leave", 30 * time.Second, 100, 50 * time.Second},
			{"in the middle of a slot", 30*time.Second + 250*time.Millisecond, 40, 29*time.Second + 750*time.Millisecond},
			{"more than the limit: never", 30 * time.Second, 101, 0},
		} {
			t.Run(tt.name, func(t *testing.T) {
				now := t0.Add(tt.at)
				r := reserve(t, b, now, tpm(tt.cost))
				if r.OK || r.Denied != 0 || r.RetryAfter != tt.retry {
					t.Errorf("ok %v denied %d retry after %v; want refused, retry after %v", r.OK, r.Denied, r.RetryAfter, tt.retry)
				}
				if r.States[0].Remaining != 0 || r.States[0].Reset != t0.Add(time.Minute).Sub(now) {
					t.Errorf("state %+v; want 0 remaining, reset when the oldest slot leaves", r.States[0])
				}
			})
		}
		// Room comes back slot by slot, at the times Retry-After said.
		if r := reserve(t, a, t0.Add(time.Minute-time.Millisecond), tpm(1)); r.OK {
			t.Fatal("admitted before the oldest slot left")
		}
		r := reserve(t, b, t0.Add(time.Minute), tpm(50))
		if !r.OK || r.States[0].Remaining != 0 || r.States[0].Reset != 10*time.Second {
			t.Fatalf("once the oldest slot left: %+v", r)
		}
		if r := reserve(t, a, t0.Add(70*time.Second), tpm(31)); r.OK || r.RetryAfter != 10*time.Second {
			t.Fatalf("31 when 30 come back: %+v, want refused for 10s more", r)
		}
		if r := reserve(t, a, t0.Add(70*time.Second), tpm(30)); !r.OK || r.States[0].Remaining != 0 {
			t.Fatalf("30 when 30 came back: %+v", r)
		}
	})
}

func TestLimitRemaining(t *testing.T) {
	eachLimit(t, func(t *testing.T, a, b relay.Limiter) {
		t0 := minuteStart()
		rpm := aiproxy.Limit{Kind: aiproxy.LimitWindow, Name: "rpm", Key: "rpm:remaining", Max: 3, Cost: 1, Window: time.Minute}
		conc := aiproxy.Limit{Kind: aiproxy.LimitConcurrent, Name: "concurrency", Key: "conc:remaining", Max: 3, Cost: 1, Window: time.Minute}
		quota := aiproxy.Limit{Kind: aiproxy.LimitBudget, Name: "quota", Key: "quota:remaining", Max: 1000, Cost: 100, Base: 500, Window: time.Hour}
		var held []*aiproxy.Reservation
		for i := range 3 {
			l := a
			if i == 1 {
				l = b
			}
			r := reserve(t, l, t0.Add(time.Duration(i)*time.Second), rpm, conc, quota)
			if !r.OK {
				t.Fatalf("reservation %d: %+v", i, r)
			}
			held = append(held, r)
			want := []int64{int64(2 - i), int64(2 - i), int64(400 - 100*i)}
			for j, s := range r.States {
				if s.Remaining != want[j] {
					t.Errorf("reservation %d, %s: remaining %d, want %d", i, r.Limits[j].Name, s.Remaining, want[j])
				}
			}
			if r.ID == "" {
				t.Errorf("reservation %d of a concurrency slot has no ID", i)
			}
		}
		if held[0].ID == held[1].ID {
			t.Error("two reservations share an ID")
		}
		// The first refusing limit is named; the others are untouched.
		r := reserve(t, b, t0.Add(3*time.Second), rpm, conc, quota)
		if r.OK || r.Denied != 0 || r.RetryAfter != 57*time.Second {
			t.Fatalf("fourth: %+v, want refused by rpm for 57s", r)
		}
		for _, l := range held {
			if err := a.Settle(context.Background(), l, []int64{1, 1, 100}); err != nil {
				t.Fatal(err)
			}
		}
		r = reserve(t, a, t0.Add(3*time.Second), conc, quota)
		if !r.OK || r.States[0].Remaining != 2 || r.States[1].Remaining != 100 {
			t.Fatalf("after settling: %+v, want 2 slots and 100 left", r)
		}
	})
}

func TestLimitConcurrencyRefusal(t *testing.T) {
	eachLimit(t, func(t *testing.T, a, b relay.Limiter) {
		now := time.UnixMilli(time.Now().UnixMilli())
		rpm := aiproxy.Limit{Kind: aiproxy.LimitWindow, Name: "rpm", Key: "rpm:conc", Max: 10, Cost: 1, Window: time.Minute}
		conc := aiproxy.Limit{Kind: aiproxy.LimitConcurrent, Name: "concurrency", Key: "conc:refusal", Max: 1, Cost: 1, Window: 10 * time.Minute}
		first := reserve(t, a, now, conc)
		r := reserve(t, b, now, rpm, conc)
		if r.OK || r.Denied != 1 || r.RetryAfter != time.Second || r.States[1].Remaining != 0 {
			t.Fatalf("second slot: %+v, want refused by concurrency, retry after 1s", r)
		}
		if err := b.Settle(context.Background(), r, []int64{1, 1}); err != nil {
			t.Fatal(err) // settling a refused reservation does nothing
		}
		if r := reserve(t, a, now, rpm); !r.OK || r.States[0].Remaining != 9 {
			t.Errorf("a refusal took rpm room: %+v", r)
		}
		// A slot lapses Window after it was taken, whoever holds it.
		if r := reserve(t, b, now.Add(10*time.Minute-time.Millisecond), conc); r.OK {
			t.Error("a slot lapsed early")
		}
		if r := reserve(t, b, now.Add(10*time.Minute), conc); !r.OK {
			t.Error("a slot did not lapse after its window")
		}
		// Settling the lapsed slot frees nobody else's.
		if err := a.Settle(context.Background(), first, nil); err != nil {
			t.Fatal(err)
		}
		if r := reserve(t, a, now.Add(10*time.Minute), conc); r.OK {
			t.Error("settling a lapsed slot freed another")
		}
	})
}

func TestLimitSettleWindow(t *testing.T) {
	eachLimit(t, func(t *testing.T, a, b relay.Limiter) {
		ctx, t0 := context.Background(), minuteStart()
		tpm := func(cost int64) aiproxy.Limit {
			return aiproxy.Limit{Kind: aiproxy.LimitWindow, Name: "tpm", Key: "tpm:correct", Max: 100, Cost: cost, Window: time.Minute}
		}
		// More than reserved takes more room.
		r := reserve(t, a, t0, tpm(10))
		if err := b.Settle(ctx, r, []int64{60}); err != nil {
			t.Fatal(err)
		}
		if r := reserve(t, b, t0.Add(time.Second), tpm(41)); r.OK || r.States[0].Remaining != 40 {
			t.Fatalf("after settling 10 to 60: %+v, want 40 left", r)
		}
		// A correction of a slot that left the window changes nothing.
		r2 := reserve(t, a, t0.Add(time.Minute), tpm(100))
		if !r2.OK {
			t.Fatalf("a minute later: %+v", r2)
		}
		if err := a.Settle(ctx, r, []int64{0}); err != nil {
			t.Fatal(err)
		}
		if r := reserve(t, b, t0.Add(time.Minute), tpm(1)); r.OK {
			t.Error("correcting a slot that left the window made room in the new one")
		}
		// Settling to less than reserved gives the room back.
		if err := b.Settle(ctx, r2, []int64{30}); err != nil {
			t.Fatal(err)
		}
		if r := reserve(t, a, t0.Add(time.Minute+time.Second), tpm(70)); !r.OK || r.States[0].Remaining != 0 {
			t.Errorf("after settling 100 to 30: %+v, want room for 70 exactly", r)
		}
	})
}

func TestLimitBudgetLapses(t *testing.T) {
	eachLimit(t, func(t *testing.T, a, b relay.Limiter) {
		ctx := context.Background()
		q := aiproxy.Limit{Kind: aiproxy.LimitBudget, Name: "balance", Key: "balance:lapse", Max: 100, Cost: 10, Base: 0, Window: 300 * time.Millisecond}
		now := time.Now()
		r := reserve(t, a, now, q)
		if !r.OK || r.States[0].Remaining != 90 || r.RetryAfter != 0 {
			t.Fatalf("first: %+v", r)
		}
		if err := a.Settle(ctx, r, []int64{20}); err != nil {
			t.Fatal(err)
		}
		q.Base = 50 // the database's value, ignored while the counter lives
		if r := reserve(t, b, now, q); !r.OK || r.States[0].Remaining != 70 {
			t.Fatalf("second: %+v, want 70 left", r)
		}
		// Unused for longer than its window, the counter starts again from
		// the database's value.
		time.Sleep(400 * time.Millisecond)
		later := time.Now().Add(2 * time.Minute)
		if r := reserve(t, b, later, q); !r.OK || r.States[0].Remaining != 40 {
			t.Errorf("after the window: %+v, want 40 left (base 50, cost 10)", r)
		}
		// A budget refuses with no retry-after: waiting does not help.
		q.Cost = 41
		if r := reserve(t, a, later, q); r.OK || r.RetryAfter != 0 || r.States[0].Remaining != 40 {
			t.Errorf("over the budget: %+v", r)
		}
	})
}

func TestLimitReset(t *testing.T) {
	eachLimit(t, func(t *testing.T, a, b relay.Limiter) {
		now := minuteStart().Add(250 * time.Millisecond)
		rpm := aiproxy.Limit{Kind: aiproxy.LimitWindow, Name: "rpm", Key: "rpm:reset", Max: 10, Cost: 1, Window: time.Minute}
		if r := reserve(t, a, now, rpm); !r.OK || r.States[0].Remaining != 9 {
			t.Fatalf("%+v", r)
		}
		// The first request counts in the slot it fell in, which leaves
		// the window 59.75 s after it; the window is empty again then.
		for _, tt := range []struct {
			at    time.Duration
			reset time.Duration
		}{
			{time.Second, 58*time.Second + 750*time.Millisecond},
			{30 * time.Second, 29*time.Second + 750*time.Millisecond},
			{59 * time.Second, 750 * time.Millisecond},
		} {
			r := reserve(t, b, now.Add(tt.at), rpm)
			if !r.OK || r.States[0].Reset != tt.reset {
				t.Errorf("at %v: reset %v, want %v", tt.at, r.States[0].Reset, tt.reset)
			}
		}
	})
}
