package store_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/store/storetest"
)

// liveOptions make gauges travel fast enough for tests.
var liveOptions = store.LiveOptions{GaugeInterval: 50 * time.Millisecond, FlushInterval: 20 * time.Millisecond}

// eachLive runs fn as the subtests "memory" and "redis", with two hubs
// that share their traffic, as two replicas' would: for memory the same
// hub twice, for Redis two hubs with clients of their own on one prefix.
func eachLive(t *testing.T, fn func(t *testing.T, a, b *store.LiveHub)) {
	t.Helper()
	t.Run("memory", func(t *testing.T) {
		h := store.NewLiveHub(nil, liveOptions)
		t.Cleanup(func() { h.Close() })
		fn(t, h, h)
	})
	t.Run("redis", func(t *testing.T) {
		a, b := redisLivePair(t, liveOptions)
		fn(t, a, b)
	})
}

// redisLivePair returns two Redis hubs on one fresh key prefix, each with
// a client of its own; the test's cleanup closes them.
func redisLivePair(tb testing.TB, opts store.LiveOptions) (a, b *store.LiveHub) {
	tb.Helper()
	first := storetest.Redis(tb)
	second, err := store.OpenRedis(context.Background(), os.Getenv("TEST_REDIS_URL"), first.Prefix)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { second.Close() })
	a, b = store.NewLiveHub(first, opts), store.NewLiveHub(second, opts)
	tb.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func liveLog(group, model string, failed bool) *aiproxy.Log {
	l := &aiproxy.Log{
		RequestID: fmt.Sprintf("req-%s-%d", group, time.Now().UnixNano()), CreatedAt: time.Now().UTC().Truncate(time.Microsecond),
		GroupID: group, TokenID: 7, TokenName: "tok", ChannelID: 3, Model: model, Endpoint: "/v1/chat/completions",
		Mode: aiproxy.ModeChat, ClientProtocol: aiproxy.ProtocolOpenAI, ChannelProtocol: aiproxy.ProtocolAnthropic,
		Stream: true, StatusCode: 200, Usage: aiproxy.Usage{PromptTokens: 10, CompletionTokens: 5, CachedTokens: 2, TotalTokens: 15, Requests: 1},
		Cost: aiproxy.Cost{Input: 100, Output: 50}, Amount: 150, TTFB: 30 * time.Millisecond, Latency: 90 * time.Millisecond,
		ClientIP: "10.0.0.1", RequestBody: "secret body", ResponseBody: "answer", Metadata: `{"k":"v"}`,
		Attempts: []aiproxy.LogAttempt{{ChannelID: 3, Status: 200, Latency: 80 * time.Millisecond}},
	}
	if failed {
		l.StatusCode, l.Error = 502, strings.Repeat("e", 5000)
	}
	return l
}

// next returns the next event of s, failing after 3s.
func next(tb testing.TB, s *store.LiveSubscription) *aiproxy.Log {
	tb.Helper()
	select {
	case l := <-s.C():
		return l
	case <-s.Done():
		tb.Fatalf("subscription ended: %v", s.Err())
	case <-time.After(3 * time.Second):
		tb.Fatal("no event within 3s")
	}
	return nil
}

func TestLiveEvents(t *testing.T) {
	eachLive(t, func(t *testing.T, a, b *store.LiveHub) {
		all := b.Subscribe(store.LiveFilter{}, 0)
		defer all.Stop()
		yes := true
		acmeFailed := b.Subscribe(store.LiveFilter{GroupID: "acme", Failed: &yes}, 0)
		defer acmeFailed.Stop()
		m2 := b.Subscribe(store.LiveFilter{Model: "m2", ChannelID: 3}, 0)
		defer m2.Stop()

		ok, failed, other := liveLog("acme", "m1", false), liveLog("acme", "m1", true), liveLog("beta", "m2", true)
		for _, l := range []*aiproxy.Log{ok, failed, other} {
			a.Record(l)
		}
		got := next(t, all)
		want := *ok
		want.RequestBody, want.ResponseBody, want.Metadata = "", "", ""
		if fmt.Sprint(*got) != fmt.Sprint(want) {
			t.Errorf("event\n got %+v\nwant %+v", *got, want)
		}
		if ok.RequestBody != "secret body" {
			t.Error("Record changed the log")
		}
		if got := next(t, all); got.RequestID != failed.RequestID || len(got.Error) != 1024 {
			t.Errorf("second event %s, error of %d bytes; want %s, 1024", got.RequestID, len(got.Error), failed.RequestID)
		}
		if got := next(t, all); got.RequestID != other.RequestID {
			t.Errorf("third event %s, want %s", got.RequestID, other.RequestID)
		}
		if got := next(t, acmeFailed); got.RequestID != failed.RequestID {
			t.Errorf("acme failed: %s, want %s", got.RequestID, failed.RequestID)
		}
		if got := next(t, m2); got.RequestID != other.RequestID {
			t.Errorf("m2: %s, want %s", got.RequestID, other.RequestID)
		}
		time.Sleep(100 * time.Millisecond)
		for name, s := range map[string]*store.LiveSubscription{"all": all, "acme failed": acmeFailed, "m2": m2} {
			if n := len(s.C()); n != 0 {
				t.Errorf("%s: %d more events, want none", name, n)
			}
		}
	})
}

func TestLiveInFlight(t *testing.T) {
	eachLive(t, func(t *testing.T, a, b *store.LiveHub) {
		endA := a.Start("acme", "m1", true)
		endB := b.Start("acme", "m1", false)
		endC := b.Start("beta", "m2", false)
		waitInFlight(t, b, store.LiveFilter{}, 3, 1)
		waitInFlight(t, b, store.LiveFilter{GroupID: "acme"}, 2, 1)
		waitInFlight(t, a, store.LiveFilter{Model: "m2"}, 1, 0)
		endA()
		endC()
		waitInFlight(t, b, store.LiveFilter{}, 1, 0)
		endB()
		waitInFlight(t, a, store.LiveFilter{}, 0, 0)
	})
}

// waitInFlight waits up to 2s for h's in-flight counts under f.
func waitInFlight(tb testing.TB, h *store.LiveHub, f store.LiveFilter, requests, streams int64) {
	tb.Helper()
	var r, s int64
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if r, s = h.InFlight(f); r == requests && s == streams {
			return
		}
	}
	tb.Fatalf("in flight %+v: %d requests, %d streams; want %d, %d", f, r, s, requests, streams)
}

func TestLiveSlowSubscriberDropped(t *testing.T) {
	eachLive(t, func(t *testing.T, a, b *store.LiveHub) {
		slow := b.Subscribe(store.LiveFilter{}, 4)
		defer slow.Stop()
		fast := b.Subscribe(store.LiveFilter{}, 1000)
		defer fast.Stop()
		start := time.Now()
		for range 100 {
			a.Record(liveLog("acme", "m1", false))
		}
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("100 Records took %v with a subscriber not reading", d)
		}
		select {
		case <-slow.Done():
		case <-time.After(3 * time.Second):
			t.Fatal("the slow subscriber was not dropped")
		}
		if slow.Err() != store.ErrLiveDropped {
			t.Errorf("Err = %v, want ErrLiveDropped", slow.Err())
		}
		for i := range 100 {
			if l := next(t, fast); l.GroupID != "acme" {
				t.Fatalf("event %d: %+v", i, l)
			}
		}
		if b.Dropped() == 0 {
			t.Error("Dropped() = 0")
		}
		slow.Stop()
		if n := b.Subscribers(); n != 1 {
			t.Errorf("%d subscribers after the slow one stopped, want 1", n)
		}
	})
}

func TestLiveClose(t *testing.T) {
	h := store.NewLiveHub(nil, store.LiveOptions{})
	s := h.Subscribe(store.LiveFilter{}, 0)
	h.Close()
	select {
	case <-s.Done():
	default:
		t.Fatal("Close left a subscription open")
	}
	if s.Err() != store.ErrLiveClosed {
		t.Errorf("Err = %v, want ErrLiveClosed", s.Err())
	}
	if s := h.Subscribe(store.LiveFilter{}, 0); s.Err() != store.ErrLiveClosed {
		t.Errorf("Subscribe after Close: Err = %v", s.Err())
	}
	h.Record(liveLog("acme", "m1", false)) // harmless
}

func TestLiveStartAllocates(t *testing.T) {
	h := store.NewLiveHub(nil, store.LiveOptions{})
	defer h.Close()
	group, model := "acme", "gpt-4o"
	h.Start(group, model, true)() // the first one makes the gauge
	if n := testing.AllocsPerRun(1000, func() { h.Start(group, model, true)(); h.Start(group, model, false)() }); n != 0 {
		t.Errorf("Start allocates %v times", n)
	}
	rec := store.NewLiveHub(nil, store.LiveOptions{})
	defer rec.Close()
	l := liveLog("acme", "m1", false)
	if n := testing.AllocsPerRun(1000, func() { rec.Record(l) }); n != 0 {
		t.Errorf("Record without subscribers allocates %v times", n)
	}
}

func BenchmarkLiveStart(b *testing.B) {
	h := store.NewLiveHub(nil, store.LiveOptions{})
	defer h.Close()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.Start("acme", "gpt-4o", false)()
		}
	})
}

func TestLiveRecent(t *testing.T) {
	eachLive(t, func(t *testing.T, a, b *store.LiveHub) {
		a.Record(liveLog("acme", "m1", false))
		a.Record(liveLog("acme", "m1", true))
		a.Record(liveLog("beta", "m2", false))
		yes := true
		for _, tc := range []struct {
			name             string
			f                store.LiveFilter
			requests, tokens int64
		}{
			{"all", store.LiveFilter{}, 3, 45},
			{"acme", store.LiveFilter{GroupID: "acme"}, 2, 30},
			{"failed m1", store.LiveFilter{Model: "m1", Failed: &yes}, 1, 15},
			{"channel 4", store.LiveFilter{ChannelID: 4}, 0, 0},
		} {
			var r, tk int64
			for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				r, tk = 0, 0
				for _, s := range b.Recent(tc.f) {
					if s.Unix > time.Now().Unix() || s.Unix <= time.Now().Unix()-60 {
						t.Errorf("%s: second %d is not in the last minute", tc.name, s.Unix)
					}
					r += s.Requests
					tk += s.Tokens
				}
				if (r == tc.requests && tk == tc.tokens) || time.Now().After(deadline) {
					break
				}
			}
			if r != tc.requests || tk != tc.tokens {
				t.Errorf("%s: %d requests, %d tokens; want %d, %d", tc.name, r, tk, tc.requests, tc.tokens)
			}
		}
	})
}
