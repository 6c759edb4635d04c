package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/store/storetest"
)

// base is the time of the first test log: not UTC, with nanoseconds.
var base = time.Date(2030, 1, 2, 3, 4, 5, 123_456_789, time.FixedZone("X", -7*3600))

// testLog returns a log with every field set from i.
func testLog(i int) *aiproxy.Log {
	l := &aiproxy.Log{
		RequestID:         fmt.Sprintf("r%d", i),
		CreatedAt:         base.Add(time.Duration(i) * time.Minute),
		GroupID:           fmt.Sprintf("g%d", i%2),
		TokenID:           int64(i%3 + 1),
		TokenName:         "token ✓",
		ChannelID:         int64(i % 4),
		Model:             fmt.Sprintf("m%d", i%5),
		UpstreamModel:     "upstream-model",
		Endpoint:          "/v1/chat/completions",
		Mode:              aiproxy.ModeChat,
		Stream:            i%2 == 0,
		StatusCode:        200,
		Usage:             aiproxy.Usage{PromptTokens: int64(i), CompletionTokens: 2 * int64(i), CachedTokens: 1, CacheCreationTokens: 2, ReasoningTokens: 1, TotalTokens: 3 * int64(i)},
		ClientProtocol:    aiproxy.ProtocolAnthropic,
		ChannelProtocol:   aiproxy.ProtocolOpenAI,
		UsageCounted:      i%5 == 0,
		Amount:            aiproxy.Amount(i) * 1_000_000_007,
		Unpriced:          i%7 == 0,
		TTFB:              time.Duration(i)*time.Millisecond + 1234*time.Nanosecond,
		Latency:           time.Duration(i)*time.Second + 5678*time.Nanosecond,
		ClientIP:          "2001:db8::1",
		RequestBody:       `{"messages":[{"role":"user","content":"it's \"quoted\" \\ and 🦊"}]}`,
		UpstreamRequestID: fmt.Sprintf("chatcmpl-%d", i),
		User:              "user ✓",
		Metadata:          `{"team":"search","n":1}`,
		ResponseBody:      `{"choices":[]}`,
	}
	if i%3 == 0 {
		l.StatusCode = 502
		l.Error = "upstream said: it's broken \\ 🔥"
		l.Attempts = []aiproxy.LogAttempt{
			{ChannelID: 1, Status: 500, Error: "upstream: 🔥 \"down\"", Latency: 1500 * time.Microsecond},
			{ChannelID: 2, Latency: 3 * time.Second},
		}
	} else if i%2 == 0 {
		l.Attempts = []aiproxy.LogAttempt{{ChannelID: l.ChannelID, Status: 200, Latency: 40 * time.Millisecond}}
	}
	return l
}

// stored returns l as the store gives it back: times in UTC to the
// microsecond, durations to the microsecond.
func stored(l *aiproxy.Log, id int64) *aiproxy.Log {
	c := *l
	c.ID = id
	c.CreatedAt = l.CreatedAt.UTC().Truncate(time.Microsecond)
	c.TTFB = l.TTFB.Truncate(time.Microsecond)
	c.Latency = l.Latency.Truncate(time.Microsecond)
	return &c
}

// writeLogs stores logs through a LogWriter, in order.
func writeLogs(tb testing.TB, s *store.Store, logs ...*aiproxy.Log) {
	tb.Helper()
	w := store.NewLogWriter(s, store.LogWriterOptions{})
	for _, l := range logs {
		w.Record(l)
	}
	if err := w.Close(context.Background()); err != nil {
		tb.Fatal(err)
	}
}

func findLog(tb testing.TB, s *store.Store, requestID string) *aiproxy.Log {
	tb.Helper()
	logs, _, err := s.Logs(context.Background(), aiproxy.LogFilter{RequestID: requestID, Detail: true})
	if err != nil {
		tb.Fatal(err)
	}
	if len(logs) != 1 {
		tb.Fatalf("%d logs with request id %q", len(logs), requestID)
	}
	return logs[0]
}

func TestLogWriter(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s, db := open(t, dsn)
		w := store.NewLogWriter(s, store.LogWriterOptions{})
		const goroutines, each = 50, 100
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := range each {
					w.Record(testLog(g*each + i))
				}
			})
		}
		wg.Wait()
		if err := w.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if st := w.Stats(); st.Written != goroutines*each || st.Failed != 0 || st.Queued != 0 {
			t.Fatalf("Stats() = %+v", st)
		}
		if n := count(t, db, "logs"); n != goroutines*each {
			t.Fatalf("%d rows, want %d", n, goroutines*each)
		}

		for _, i := range []int{0, 42, 4999} {
			got := findLog(t, s, fmt.Sprintf("r%d", i))
			wantEqual(t, got, stored(testLog(i), got.ID))
		}

		for _, tt := range []struct{ limit, want int }{{0, 50}, {7, 7}, {500, 500}, {1000, 500}} {
			logs, more, err := s.Logs(ctx, aiproxy.LogFilter{Limit: tt.limit})
			if err != nil || len(logs) != tt.want || !more {
				t.Errorf("Limit %d: %d logs, more %v, %v; want %d, true", tt.limit, len(logs), more, err, tt.want)
			}
		}
	})
}

func TestLogText(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, dsn string) {
		s, _ := open(t, dsn)
		big := strings.Repeat("0123456789abcdef", 3<<16) // 3 MiB: statements are split
		for _, tt := range []struct {
			name   string
			change func(*aiproxy.Log)
			want   func(*aiproxy.Log)
		}{
			{"quotes and escapes", func(l *aiproxy.Log) { l.Error = `'; DROP TABLE logs; -- \' \\ " ` + "`" }, nil},
			{"NUL bytes", func(l *aiproxy.Log) { l.Error = "a\x00b" }, func(l *aiproxy.Log) { l.Error = "ab" }},
			{"invalid UTF-8", func(l *aiproxy.Log) { l.ResponseBody = "ok \xff\xfe end" }, func(l *aiproxy.Log) { l.ResponseBody = "ok \uFFFD end" }},
			{"long model", func(l *aiproxy.Log) { l.Model = strings.Repeat("é", 200) }, func(l *aiproxy.Log) { l.Model = strings.Repeat("é", 128) }},
			{"long request id", func(l *aiproxy.Log) { l.RequestID += strings.Repeat("x", 200) }, func(l *aiproxy.Log) { l.RequestID = l.RequestID[:128] }},
			{"big bodies", func(l *aiproxy.Log) { l.RequestBody, l.ResponseBody = big, big }, nil},
			{"zero values", func(l *aiproxy.Log) { *l = aiproxy.Log{RequestID: l.RequestID, CreatedAt: l.CreatedAt} }, nil},
		} {
			t.Run(tt.name, func(t *testing.T) {
				in, want := testLog(1), testLog(1)
				in.RequestID = tt.name
				tt.change(in)
				*want = *in
				if tt.want != nil {
					tt.want(want)
				}
				writeLogs(t, s, in)
				got := findLog(t, s, want.RequestID)
				wantEqual(t, got, stored(want, got.ID))
			})
		}

		t.Run("several statements", func(t *testing.T) {
			var logs []*aiproxy.Log
			for i := range 10 {
				l := testLog(i)
				l.RequestID = fmt.Sprintf("split %d", i)
				l.RequestBody = big[:300<<10]
				logs = append(logs, l)
			}
			writeLogs(t, s, logs...)
			for _, l := range logs {
				got := findLog(t, s, l.RequestID)
				wantEqual(t, got, stored(l, got.ID))
			}
		})

		t.Run("no time", func(t *testing.T) {
			before := time.Now()
			writeLogs(t, s, &aiproxy.Log{RequestID: "no time"})
			got := findLog(t, s, "no time")
			if got.CreatedAt.Before(before.Truncate(time.Microsecond)) || got.CreatedAt.After(time.Now()) {
				t.Fatalf("CreatedAt %v, recorded at %v", got.CreatedAt, before)
			}
		})
	})
}

func TestLogs(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s, _ := open(t, dsn)
		const n = 40
		var logs []*aiproxy.Log
		for i := range n {
			logs = append(logs, testLog(i))
		}
		writeLogs(t, s, logs...)
		id := make(map[string]int64, n) // request id → log id
		all, _, err := s.Logs(ctx, aiproxy.LogFilter{Limit: n})
		if err != nil || len(all) != n {
			t.Fatalf("%d logs, %v", len(all), err)
		}
		for _, l := range all {
			id[l.RequestID] = l.ID
		}

		for _, tt := range []struct {
			name   string
			filter aiproxy.LogFilter
			match  func(i int) bool
		}{
			{"all", aiproxy.LogFilter{}, func(int) bool { return true }},
			{"group", aiproxy.LogFilter{GroupID: "g1"}, func(i int) bool { return i%2 == 1 }},
			{"token", aiproxy.LogFilter{TokenID: 2}, func(i int) bool { return i%3 == 1 }},
			{"channel", aiproxy.LogFilter{ChannelID: 3}, func(i int) bool { return i%4 == 3 }},
			{"model", aiproxy.LogFilter{Model: "m4"}, func(i int) bool { return i%5 == 4 }},
			{"request", aiproxy.LogFilter{RequestID: "r7"}, func(i int) bool { return i == 7 }},
			{"from", aiproxy.LogFilter{From: base.Add(30 * time.Minute)}, func(i int) bool { return i >= 30 }},
			{"to", aiproxy.LogFilter{To: base.Add(5 * time.Minute)}, func(i int) bool { return i < 5 }},
			{"from to", aiproxy.LogFilter{From: base.Add(10*time.Minute - time.Second).UTC(), To: base.Add(20 * time.Minute)}, func(i int) bool { return i >= 10 && i < 20 }},
			{"failed", aiproxy.LogFilter{Failed: ptr(true)}, func(i int) bool { return i%3 == 0 }},
			{"succeeded", aiproxy.LogFilter{Failed: ptr(false)}, func(i int) bool { return i%3 != 0 }},
			{"before", aiproxy.LogFilter{Before: id["r10"]}, func(i int) bool { return i < 10 }},
			{"combined", aiproxy.LogFilter{GroupID: "g0", Model: "m0", Failed: ptr(true)}, func(i int) bool { return i%2 == 0 && i%5 == 0 && i%3 == 0 }},
			{"nothing", aiproxy.LogFilter{GroupID: "nope"}, func(int) bool { return false }},
		} {
			t.Run(tt.name, func(t *testing.T) {
				var want []string
				for i := n - 1; i >= 0; i-- {
					if tt.match(i) {
						want = append(want, fmt.Sprintf("r%d", i))
					}
				}
				got, more, err := s.Logs(ctx, tt.filter)
				if err != nil || more {
					t.Fatalf("more %v, %v", more, err)
				}
				var ids []string
				for _, l := range got {
					ids = append(ids, l.RequestID)
				}
				wantEqual(t, ids, want)
			})
		}

		t.Run("pages", func(t *testing.T) {
			var got []int64
			f := aiproxy.LogFilter{Limit: 7}
			for pages := 1; ; pages++ {
				page, more, err := s.Logs(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				for _, l := range page {
					got = append(got, l.ID)
				}
				if !more {
					if pages != 6 || len(page) != 5 {
						t.Errorf("%d pages, the last with %d logs; want 6 and 5", pages, len(page))
					}
					break
				}
				f.Before = page[len(page)-1].ID
			}
			var want []int64
			for i := n - 1; i >= 0; i-- {
				want = append(want, id[fmt.Sprintf("r%d", i)])
			}
			wantEqual(t, got, want)
		})
	})
}

// TestLogsSeparateDB keeps logs in their own database (LOG_SQL_DSN), here
// SQLite beside each kind of main database.
func TestLogsSeparateDB(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, dsn string) {
		db := storetest.OpenDB(t, dsn)
		logDB := storetest.OpenDB(t, storetest.SQLiteDSN(t))
		s := store.New(db, logDB)
		start(t, s)
		writeLogs(t, s, testLog(1), testLog(2))
		if n := count(t, logDB, "logs"); n != 2 {
			t.Errorf("log database has %d logs, want 2", n)
		}
		if n := count(t, db, "logs"); n != 0 {
			t.Errorf("main database has %d logs, want 0", n)
		}
		findLog(t, s, "r2")
	})
}
