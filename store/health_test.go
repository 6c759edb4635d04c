package store_test

import (
	"context"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/store/storetest"
)

var (
	_ relay.Health = (*store.MemoryHealth)(nil)
	_ relay.Health = (*store.RedisHealth)(nil)
	_ health       = (*store.MemoryHealth)(nil)
	_ health       = (*store.RedisHealth)(nil)
)

// health is what both implementations offer.
type health interface {
	relay.Health
	Snapshot() []aiproxy.ChannelHealth
	Reset(ch int64)
}

func TestMemoryHealth(t *testing.T) {
	testHealth(t, func(t *testing.T) health { return store.NewMemoryHealth() })
}

func TestRedisHealth(t *testing.T) {
	testHealth(t, func(t *testing.T) health { return newRedisHealth(t, storetest.Redis(t)) })
}

func newRedisHealth(tb testing.TB, r *store.Redis) *store.RedisHealth {
	tb.Helper()
	h := store.NewRedisHealth(r)
	tb.Cleanup(h.Close)
	return h
}

// healthStart is a time of the tests' clock: now, to the millisecond, so that
// Snapshot (which reads the real clock) agrees with it.
func healthStart() time.Time { return time.Now().Truncate(time.Millisecond) }

var (
	success = aiproxy.Outcome{}
	failure = aiproxy.Outcome{Failed: true, Status: 503, Error: "upstream unavailable"}
)

// at returns o as ending at t.
func at(o aiproxy.Outcome, t time.Time) aiproxy.Outcome { o.At = t; return o }

// report reports outcomes o, one millisecond apart from t on.
func report(tb testing.TB, h health, ch int64, model string, t time.Time, p aiproxy.BreakerPolicy, outs ...aiproxy.Outcome) {
	tb.Helper()
	for i, o := range outs {
		h.Report(ch, model, at(o, t.Add(time.Duration(i)*time.Millisecond)), p)
	}
}

// wantOpenFor checks that st is open until between 80% and 120% of d after
// from.
func wantOpenFor(tb testing.TB, st aiproxy.HealthState, from time.Time, d time.Duration) {
	tb.Helper()
	if st.Breaker != aiproxy.BreakerOpen {
		tb.Fatalf("breaker %v, want open", st.Breaker)
	}
	got := st.OpenUntil.Sub(from)
	if lo, hi := d*8/10-time.Millisecond, d*12/10; got < lo || got > hi {
		tb.Fatalf("open for %v, want %v ±20%% (%v..%v)", got, d, lo, hi)
	}
}

func testHealth(t *testing.T, newHealth func(t *testing.T) health) {
	p := aiproxy.BreakerPolicy{Threshold: 0.5, MinRequests: 4, Window: 10 * time.Second, Cooldown: time.Second, MaxCooldown: 3 * time.Second}

	t.Run("rate", func(t *testing.T) {
		for _, tc := range []struct {
			name     string
			outcomes []aiproxy.Outcome
			rate     float64
			breaker  aiproxy.BreakerState
			reason   string
		}{
			{"none", nil, 0, aiproxy.BreakerClosed, ""},
			{"below min requests", []aiproxy.Outcome{failure, failure, failure}, 0, aiproxy.BreakerClosed, ""},
			{"below threshold", []aiproxy.Outcome{success, success, success, failure}, 0.25, aiproxy.BreakerClosed, ""},
			{"at threshold", []aiproxy.Outcome{success, success, failure, failure}, 0.5, aiproxy.BreakerOpen, "error rate 0.50 over 4 requests"},
			{"all failing", []aiproxy.Outcome{failure, failure, failure, failure}, 1, aiproxy.BreakerOpen, "error rate 1.00 over 4 requests"},
			{"successes only", []aiproxy.Outcome{success, success, success, success, success}, 0, aiproxy.BreakerClosed, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				h := newHealth(t)
				t0 := healthStart()
				report(t, h, 1, "m", t0, p, tc.outcomes...)
				now := t0.Add(10 * time.Millisecond)
				st := h.Check(1, "m", now)
				if st.ErrorRate != tc.rate || st.Breaker != tc.breaker {
					t.Fatalf("rate %v breaker %v, want %v %v", st.ErrorRate, st.Breaker, tc.rate, tc.breaker)
				}
				if tc.breaker == aiproxy.BreakerOpen {
					wantOpenFor(t, st, t0.Add(time.Duration(len(tc.outcomes)-1)*time.Millisecond), p.Cooldown)
				}
				snap := h.Snapshot()
				if len(tc.outcomes) == 0 {
					if len(snap) != 0 {
						t.Fatalf("snapshot %+v, want none", snap)
					}
					return
				}
				if len(snap) != 1 || snap[0].OpenReason != tc.reason || snap[0].Requests != len(tc.outcomes) {
					t.Fatalf("snapshot %+v, want reason %q and %d requests", snap, tc.reason, len(tc.outcomes))
				}
				if h.Check(1, "other", now) != (aiproxy.HealthState{}) || h.Check(2, "m", now) != (aiproxy.HealthState{}) {
					t.Fatal("another channel × model is affected")
				}
			})
		}
	})

	t.Run("window slides", func(t *testing.T) {
		h := newHealth(t)
		t0 := healthStart()
		report(t, h, 1, "m", t0, p, failure, failure, failure)
		if got := h.Check(1, "m", t0.Add(time.Second)).ErrorRate; got != 0 {
			t.Fatalf("rate %v, want 0 below min requests", got)
		}
		// The three failures have left the window by then.
		later := t0.Add(p.Window + 2*time.Second)
		report(t, h, 1, "m", later, p, success, success, success, failure)
		st := h.Check(1, "m", later.Add(time.Second))
		if st.Breaker != aiproxy.BreakerClosed || st.ErrorRate != 0.25 {
			t.Fatalf("got %+v, want closed at 0.25", st)
		}
	})

	t.Run("fatal", func(t *testing.T) {
		h := newHealth(t)
		t0 := healthStart()
		report(t, h, 1, "m", t0, p, success, success)
		h.Report(1, "m", aiproxy.Outcome{At: t0.Add(2 * time.Millisecond), Failed: true, Fatal: true, Status: 401, Error: "invalid api key"}, p)
		wantOpenFor(t, h.Check(1, "m", t0.Add(2*time.Millisecond)), t0.Add(2*time.Millisecond), p.Cooldown)
		snap := h.Snapshot()
		want := aiproxy.ChannelHealth{ChannelID: 1, Model: "m", Requests: 3, Failures: 1,
			LastError: "invalid api key (401)", LastErrorAt: t0.Add(2 * time.Millisecond), OpenReason: "provider refused the credentials (401)"}
		if len(snap) != 1 {
			t.Fatalf("snapshot %+v", snap)
		}
		snap[0].State = aiproxy.HealthState{}
		if snap[0] != want {
			t.Fatalf("snapshot\n%+v, want\n%+v", snap[0], want)
		}
	})

	t.Run("half-open after cool-down", func(t *testing.T) {
		h := newHealth(t)
		t0 := healthStart()
		report(t, h, 1, "m", t0, p, failure, failure, failure, failure)
		until := h.Check(1, "m", t0).OpenUntil
		if st := h.Check(1, "m", until.Add(-time.Millisecond)); st.Breaker != aiproxy.BreakerOpen {
			t.Fatalf("before the cool-down ends: %v", st.Breaker)
		}
		if h.Probe(1, "m", until.Add(-time.Millisecond)) {
			t.Fatal("probe claimed while open")
		}
		if st := h.Check(1, "m", until); st.Breaker != aiproxy.BreakerHalfOpen || !st.OpenUntil.Equal(until) {
			t.Fatalf("after the cool-down: %+v", st)
		}
		if h.Probe(1, "m-closed", until) {
			t.Fatal("probe claimed on a closed breaker")
		}
	})

	t.Run("one probe wins", func(t *testing.T) {
		h := newHealth(t)
		t0 := healthStart()
		report(t, h, 1, "m", t0, p, failure, failure, failure, failure)
		until := h.Check(1, "m", t0).OpenUntil
		var won atomic.Int32
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				if h.Probe(1, "m", until) {
					won.Add(1)
				}
			})
		}
		wg.Wait()
		if won.Load() != 1 {
			t.Fatalf("%d probes won, want 1", won.Load())
		}
		if h.Probe(1, "m", until.Add(time.Second)) {
			t.Fatal("a second probe won while the first is out")
		}
	})

	t.Run("probe success closes", func(t *testing.T) {
		h := newHealth(t)
		t0 := healthStart()
		report(t, h, 1, "m", t0, p, failure, failure, failure, failure)
		until := h.Check(1, "m", t0).OpenUntil
		if !h.Probe(1, "m", until) {
			t.Fatal("probe lost")
		}
		h.Report(1, "m", at(success, until.Add(100*time.Millisecond)), p)
		now := until.Add(200 * time.Millisecond)
		if st := h.Check(1, "m", now); st != (aiproxy.HealthState{}) {
			t.Fatalf("after the probe succeeded: %+v, want closed and clear", st)
		}
		snap := h.Snapshot()
		if len(snap) != 1 || snap[0].Requests != 0 || snap[0].OpenReason != "" {
			t.Fatalf("snapshot %+v, want an empty window", snap)
		}
		// The window starts anew: three failures do not open it again.
		report(t, h, 1, "m", now, p, failure, failure, failure)
		if st := h.Check(1, "m", now.Add(time.Second)); st.Breaker != aiproxy.BreakerClosed {
			t.Fatalf("breaker %v, want closed", st.Breaker)
		}
		h.Report(1, "m", at(failure, now.Add(time.Second)), p)
		wantOpenFor(t, h.Check(1, "m", now.Add(time.Second)), now.Add(time.Second), p.Cooldown)
	})

	t.Run("probe failure doubles the cool-down", func(t *testing.T) {
		h := newHealth(t)
		t0 := healthStart()
		report(t, h, 1, "m", t0, p, failure, failure, failure, failure)
		from := t0.Add(3 * time.Millisecond)
		for _, want := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second} {
			st := h.Check(1, "m", from)
			wantOpenFor(t, st, from, want)
			if !h.Probe(1, "m", st.OpenUntil) {
				t.Fatal("probe lost")
			}
			from = st.OpenUntil.Add(50 * time.Millisecond)
			h.Report(1, "m", at(failure, from), p)
		}
		snap := h.Snapshot()
		if len(snap) != 1 || snap[0].OpenReason != "probe failed: upstream unavailable (503)" {
			t.Fatalf("snapshot %+v", snap)
		}
		st := h.Check(1, "m", from)
		h.Report(1, "m", at(success, st.OpenUntil), p)
		report(t, h, 1, "m", st.OpenUntil.Add(time.Second), p, failure, failure, failure, failure)
		wantOpenFor(t, h.Check(1, "m", st.OpenUntil), st.OpenUntil.Add(time.Second+3*time.Millisecond), p.Cooldown)
	})

	t.Run("parking", func(t *testing.T) {
		h := newHealth(t)
		t0 := healthStart()
		park := func(after, retry time.Duration) {
			h.Report(1, "m", aiproxy.Outcome{At: t0.Add(after), Failed: true, Status: 429, RetryAfter: retry}, p)
		}
		for _, step := range []struct {
			after, retry, want time.Duration
		}{
			{0, 10 * time.Second, 10 * time.Second},
			{time.Second, 2 * time.Second, 10 * time.Second}, // the later deadline is kept
			{2 * time.Second, 30 * time.Second, 32 * time.Second},
		} {
			park(step.after, step.retry)
			if got := h.Check(1, "m", t0.Add(step.after)).ParkedUntil; !got.Equal(t0.Add(step.want)) {
				t.Fatalf("parked until +%v, want +%v", got.Sub(t0), step.want)
			}
		}
		if got := h.Check(1, "m", t0.Add(32*time.Second)).ParkedUntil; !got.IsZero() {
			t.Fatalf("still parked until %v when it ran out", got)
		}
		if got := h.Check(1, "n", t0).ParkedUntil; !got.IsZero() {
			t.Fatal("another model is parked")
		}
	})

	t.Run("reset", func(t *testing.T) {
		h := newHealth(t)
		t0 := healthStart()
		report(t, h, 1, "a", t0, p, failure, failure, failure, failure)
		h.Report(1, "b", aiproxy.Outcome{At: t0, Failed: true, RetryAfter: time.Minute}, p)
		report(t, h, 2, "a", t0, p, failure, failure, failure, failure)
		h.Reset(1)
		for _, m := range []string{"a", "b"} {
			if st := h.Check(1, m, t0.Add(time.Second)); st != (aiproxy.HealthState{}) {
				t.Fatalf("channel 1 %s after reset: %+v", m, st)
			}
		}
		if st := h.Check(2, "a", t0.Add(time.Millisecond)); st.Breaker != aiproxy.BreakerOpen {
			t.Fatalf("channel 2 %v after resetting 1, want open", st.Breaker)
		}
		snap := h.Snapshot()
		if len(snap) != 1 || snap[0].ChannelID != 2 {
			t.Fatalf("snapshot %+v, want channel 2 only", snap)
		}
		// A reset channel counts afresh.
		report(t, h, 1, "a", t0.Add(time.Second), p, failure, failure, failure)
		if st := h.Check(1, "a", t0.Add(2*time.Second)); st.Breaker != aiproxy.BreakerClosed {
			t.Fatalf("breaker %v, want closed", st.Breaker)
		}
	})

	t.Run("snapshot", func(t *testing.T) {
		h := newHealth(t)
		t0 := healthStart()
		report(t, h, 2, "b", t0, p, success, failure)
		report(t, h, 1, "z", t0, p, success)
		report(t, h, 1, "a", t0, p, failure, failure, failure, failure)
		snap := h.Snapshot()
		type row struct {
			ch          int64
			model       string
			req, fails  int
			breaker     aiproxy.BreakerState
			lastError   string
			lastErrorAt time.Time
		}
		var got []row
		for _, c := range snap {
			got = append(got, row{c.ChannelID, c.Model, c.Requests, c.Failures, c.State.Breaker, c.LastError, c.LastErrorAt})
		}
		want := []row{
			{1, "a", 4, 4, aiproxy.BreakerOpen, "upstream unavailable (503)", t0.Add(3 * time.Millisecond)},
			{1, "z", 1, 0, aiproxy.BreakerClosed, "", time.Time{}},
			{2, "b", 2, 1, aiproxy.BreakerClosed, "upstream unavailable (503)", t0.Add(time.Millisecond)},
		}
		if !slices.EqualFunc(got, want, func(a, b row) bool {
			return a.ch == b.ch && a.model == b.model && a.req == b.req && a.fails == b.fails &&
				a.breaker == b.breaker && a.lastError == b.lastError && a.lastErrorAt.Equal(b.lastErrorAt)
		}) {
			t.Fatalf("snapshot\n%+v, want\n%+v", got, want)
		}
	})

	t.Run("default budget", func(t *testing.T) {
		h := newHealth(t)
		var def aiproxy.BreakerPolicy // the defaults
		now := healthStart()
		// A channel failing every request, one every 100 ms.
		sent := 0
		for h.Check(1, "m", now).Breaker == aiproxy.BreakerClosed {
			if sent == 10 {
				t.Fatal("still closed after 10 failed requests")
			}
			h.Report(1, "m", at(failure, now), def)
			sent++
			now = now.Add(100 * time.Millisecond)
		}
		// It stays down for three minutes, then recovers; routing sends
		// only probes while the breaker is not closed.
		recovered := now.Add(3 * time.Minute)
		for h.Check(1, "m", now).Breaker != aiproxy.BreakerClosed {
			if now.Sub(recovered) > time.Minute {
				t.Fatalf("still not closed %v after recovery", now.Sub(recovered))
			}
			if h.Check(1, "m", now).Breaker == aiproxy.BreakerHalfOpen && h.Probe(1, "m", now) {
				o := success
				if now.Before(recovered) {
					o = failure
				}
				h.Report(1, "m", at(o, now.Add(50*time.Millisecond)), def)
			}
			now = now.Add(100 * time.Millisecond)
		}
		if now.Before(recovered) {
			t.Fatalf("closed %v before the channel recovered", recovered.Sub(now))
		}
	})
}

func TestMemoryHealthProbeLapses(t *testing.T) {
	h := store.NewMemoryHealth()
	t0 := healthStart()
	p := aiproxy.BreakerPolicy{Cooldown: time.Second}
	h.Report(1, "m", aiproxy.Outcome{At: t0, Failed: true, Fatal: true, Status: 402}, p)
	until := h.Check(1, "m", t0).OpenUntil
	if !h.Probe(1, "m", until) {
		t.Fatal("probe lost")
	}
	if h.Probe(1, "m", until.Add(29*time.Second)) {
		t.Fatal("probe won while the first is out")
	}
	if !h.Probe(1, "m", until.Add(30*time.Second)) {
		t.Fatal("the probe claim did not lapse after 30 s")
	}
	if got := h.Snapshot()[0].OpenReason; got != "provider balance exhausted (402)" {
		t.Fatalf("open reason %q", got)
	}
}

// eventually polls cond until it holds, failing after a second.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within 1 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRedisHealthReplicas(t *testing.T) {
	ra := storetest.Redis(t)
	rb, err := store.OpenRedis(context.Background(), os.Getenv("TEST_REDIS_URL"), ra.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rb.Close() })
	a, b := newRedisHealth(t, ra), newRedisHealth(t, rb)
	var def aiproxy.BreakerPolicy
	t0 := healthStart()

	// Failures on A open the breaker as B sees it.
	report(t, a, 1, "m", t0, def, failure, failure, failure, failure, failure)
	wantUntil := a.Check(1, "m", t0).OpenUntil
	eventually(t, "B sees A's breaker open", func() bool {
		st := b.Check(1, "m", t0.Add(10*time.Millisecond))
		return st.Breaker == aiproxy.BreakerOpen && st.OpenUntil.Equal(wantUntil)
	})
	if snap := b.Snapshot(); len(snap) != 1 || snap[0].OpenReason != "error rate 1.00 over 5 requests" || snap[0].Failures != 5 {
		t.Fatalf("B's snapshot %+v", snap)
	}

	// One probe across both replicas.
	if !a.Probe(1, "m", wantUntil) {
		t.Fatal("A lost the probe")
	}
	if b.Probe(1, "m", wantUntil) {
		t.Fatal("B won the probe A holds")
	}
	a.Report(1, "m", at(success, wantUntil.Add(time.Millisecond)), def)
	eventually(t, "B sees A's probe close the breaker", func() bool {
		return b.Check(1, "m", wantUntil.Add(time.Second)).Breaker == aiproxy.BreakerClosed
	})

	// Counts add up: 3 failures on A, 2 on B.
	report(t, a, 2, "m", t0, def, failure, failure, failure)
	eventually(t, "B counts A's requests", func() bool {
		for _, c := range b.Snapshot() {
			if c.ChannelID == 2 && c.Requests == 3 {
				return true
			}
		}
		return false
	})
	report(t, b, 2, "m", t0.Add(time.Second), def, failure, failure)
	if st := b.Check(2, "m", t0.Add(time.Second)); st.Breaker != aiproxy.BreakerOpen {
		t.Fatalf("B's breaker %v after 5 failures on A and B, want open", st.Breaker)
	}

	// A park on A is seen by B.
	a.Report(3, "m", aiproxy.Outcome{At: t0, Failed: true, Status: 429, RetryAfter: time.Minute}, def)
	eventually(t, "B sees A's park", func() bool {
		return b.Check(3, "m", t0).ParkedUntil.Equal(t0.Add(time.Minute))
	})

	// A reset on B clears A.
	b.Reset(2)
	b.Reset(3)
	eventually(t, "A sees B's reset", func() bool {
		return a.Check(2, "m", t0.Add(time.Second)) == aiproxy.HealthState{} &&
			a.Check(3, "m", t0) == aiproxy.HealthState{}
	})
	if snap := a.Snapshot(); len(snap) != 1 || snap[0].ChannelID != 1 {
		t.Fatalf("A's snapshot after the reset %+v, want channel 1 only", snap)
	}
	// And what A reports afterwards counts again.
	report(t, a, 2, "m", t0.Add(2*time.Second), def, failure, failure, failure, failure, failure)
	eventually(t, "B sees the reset channel open again", func() bool {
		return b.Check(2, "m", t0.Add(3*time.Second)).Breaker == aiproxy.BreakerOpen
	})
	if a.Failures() != 0 || b.Failures() != 0 {
		t.Fatalf("%d and %d Redis failures", a.Failures(), b.Failures())
	}
}

func TestRedisHealthUnavailable(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	h := store.NewRedisHealth(&store.Redis{Client: c, Prefix: "aiproxy_test_down:"})
	p := aiproxy.BreakerPolicy{Cooldown: time.Second}
	t0 := healthStart()

	began := time.Now()
	report(t, h, 1, "m", t0, p, failure, failure, failure, failure, failure)
	st := h.Check(1, "m", t0.Add(time.Second))
	if took := time.Since(began); took > 50*time.Millisecond {
		t.Fatalf("Report and Check took %v with Redis down", took)
	}
	if st.Breaker != aiproxy.BreakerHalfOpen && st.Breaker != aiproxy.BreakerOpen {
		t.Fatalf("breaker %v, want open", st.Breaker)
	}
	until := h.Check(1, "m", t0).OpenUntil
	if !h.Probe(1, "m", until) || h.Probe(1, "m", until) {
		t.Fatal("the local probe claim is not exactly one")
	}
	eventually(t, "failures counted", func() bool { return h.Failures() > 0 })
	h.Reset(1)
	if st := h.Check(1, "m", t0); st != (aiproxy.HealthState{}) {
		t.Fatalf("after reset: %+v", st)
	}
	began = time.Now()
	h.Close()
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("Close took %v", took)
	}
}

func TestRedisHealthResync(t *testing.T) {
	rb := storetest.Redis(t)
	opts, err := redis.ParseURL(os.Getenv("TEST_REDIS_URL"))
	if err != nil {
		t.Fatal(err)
	}
	px := storetest.StartProxy(t, opts.Addr)
	opts.Addr, opts.MaxRetries = px.Addr(), -1
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	a, b := newRedisHealth(t, &store.Redis{Client: c, Prefix: rb.Prefix}), newRedisHealth(t, rb)
	var def aiproxy.BreakerPolicy
	t0 := healthStart()

	px.SetDown(true)
	report(t, a, 1, "m", t0, def, failure, failure, failure, failure, failure)
	if st := a.Check(1, "m", t0); st.Breaker != aiproxy.BreakerOpen {
		t.Fatalf("A's breaker %v with Redis cut off, want open", st.Breaker)
	}
	eventually(t, "A counts failures", func() bool { return a.Failures() > 0 })
	if st := b.Check(1, "m", t0); st.Breaker != aiproxy.BreakerClosed {
		t.Fatalf("B's breaker %v while A is cut off, want closed", st.Breaker)
	}
	px.SetDown(false)
	eventually(t, "B sees A's breaker once A reaches Redis again", func() bool {
		return b.Check(1, "m", t0).Breaker == aiproxy.BreakerOpen
	})
	if snap := b.Snapshot(); len(snap) != 1 || snap[0].Failures != 5 {
		t.Fatalf("B's snapshot %+v, want the 5 failures", snap)
	}
}
