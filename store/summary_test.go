package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/store/storetest"
)

// mixedLog is the i-th request of a mix of traffic: successes, streams
// with retries, 4xx, 429, 5xx and a stream cut after its 200, over three
// channels, two groups of two tokens each and two models.
func mixedLog(i int, at time.Time) *aiproxy.Log {
	l := &aiproxy.Log{
		RequestID: fmt.Sprintf("req-%d", i),
		CreatedAt: at,
		GroupID:   fmt.Sprintf("g%d", i%2),
		TokenID:   int64(10 + i%4),
		ChannelID: int64(1 + i%3),
		Model:     []string{"model-a", "model-b"}[i%5/3],
		Latency:   time.Duration(50+i%7*100) * time.Millisecond,
		TTFB:      time.Duration(10+i%3) * time.Millisecond,
		Usage: aiproxy.Usage{
			PromptTokens: int64(100 + i), CompletionTokens: int64(20 + i%9), CachedTokens: int64(i % 10),
			CacheCreationTokens: int64(i % 4), CacheCreation1hTokens: int64(i % 2), ImageInputTokens: int64(i % 3),
			AudioInputTokens: int64(i % 5), ReasoningTokens: int64(i % 6), ImageOutputTokens: int64(i % 7),
			AudioOutputTokens: int64(i % 8), TotalTokens: int64(120 + i + i%9), Requests: 1,
		},
		Cost: aiproxy.Cost{
			Input: aiproxy.Amount(1000 + i), CachedInput: 1, CacheWrite: 2, CacheWrite1h: 3, ImageInput: 4, AudioInput: 5,
			Output: aiproxy.Amount(2000 + i%11), Reasoning: 6, ImageOutput: 7, AudioOutput: 8, Request: 9,
		},
		StatusCode: 200,
		Attempts:   []aiproxy.LogAttempt{{ChannelID: int64(1 + i%3), Status: 200}},
	}
	switch i % 6 {
	case 1: // a stream that took three attempts
		l.Stream = true
		l.Attempts = []aiproxy.LogAttempt{{ChannelID: 9, Status: 502}, {ChannelID: 8, Status: 500}, l.Attempts[0]}
	case 2:
		l.StatusCode, l.Error, l.Usage, l.Cost = 400, "bad request", aiproxy.Usage{}, aiproxy.Cost{}
	case 3:
		l.StatusCode, l.Error, l.Usage, l.Cost = 429, "rate limited", aiproxy.Usage{}, aiproxy.Cost{}
		l.Attempts = append(l.Attempts, aiproxy.LogAttempt{ChannelID: 7, Status: 429})
	case 4:
		l.StatusCode, l.Error, l.Usage, l.Cost = 502, "upstream failed", aiproxy.Usage{}, aiproxy.Cost{}
	case 5: // a stream cut after its 200
		l.Stream, l.Error = true, "stream cut"
	}
	return l
}

// want sums logs as the summaries should.
func want(logs []*aiproxy.Log) aiproxy.UsageStats {
	var s aiproxy.UsageStats
	for _, l := range logs {
		s.Requests++
		if l.Error == "" {
			s.Successes++
		} else if l.StatusCode >= 500 {
			s.Errors5xx++
		} else if l.StatusCode >= 400 {
			s.Errors4xx++
			if l.StatusCode == 429 {
				s.Errors429++
			}
		}
		if len(l.Attempts) > 1 {
			s.Retries += int64(len(l.Attempts) - 1)
		}
		if l.Stream {
			s.Streams++
		}
		s.Usage.Add(l.Usage)
		s.Cost.Add(l.Cost)
		s.Latency += l.Latency.Truncate(time.Microsecond)
		s.TTFB += l.TTFB.Truncate(time.Microsecond)
		s.Histogram[aiproxy.LatencyBucket(l.Latency)]++
	}
	return s
}

func checkStats(tb testing.TB, what string, got, want aiproxy.UsageStats) {
	tb.Helper()
	if got != want {
		tb.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// Two replicas' Summarizers on one database, fed concurrently, one
// flushing every few milliseconds and one only on Close, add up to the
// exact counts of every request; the totals, the channels' stats and
// the rankings agree.
func TestSummarizerReplicasAddUp(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s1, s2 := storetest.Open(t, dsn), storetest.Open(t, dsn)
		z1 := store.NewSummarizer(s1, store.SummarizerOptions{FlushInterval: 5 * time.Millisecond})
		z2 := store.NewSummarizer(s2, store.SummarizerOptions{})
		now := time.Now().Truncate(time.Minute)
		base := now.Add(-90 * time.Minute)
		const n = 1200
		logs := make([]*aiproxy.Log, n)
		for i := range logs {
			logs[i] = mixedLog(i, base.Add(time.Duration(i)*4*time.Second)) // 80 minutes
		}
		var wg sync.WaitGroup
		for w := range 6 {
			wg.Go(func() {
				for i := w; i < n; i += 6 {
					if i%2 == 0 {
						z1.Record(logs[i])
					} else {
						z2.Record(logs[i])
					}
				}
			})
		}
		wg.Wait()
		for _, z := range []*store.Summarizer{z1, z2} {
			if err := z.Close(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if st := z1.Stats(); st.Logs != n/2 || st.Pending != 0 || st.Batches == 0 {
			t.Errorf("first replica's stats %+v", st)
		}
		if st := z2.Stats(); st.Logs != n/2 || st.Pending != 0 || st.Batches != 1 {
			t.Errorf("second replica's stats %+v (flushed once, on Close)", st)
		}

		all := aiproxy.AnalyticsFilter{From: base.Add(-time.Hour), To: now.Add(time.Hour)}
		got, err := s1.UsageTotals(ctx, all)
		if err != nil {
			t.Fatal(err)
		}
		checkStats(t, "totals", got, want(logs))

		// A range with ragged ends: minutes at both, hours between.
		from, to := base.Add(7*time.Minute+30*time.Second), base.Add(71*time.Minute)
		var in []*aiproxy.Log
		for _, l := range logs {
			if !l.CreatedAt.Before(from.Truncate(time.Minute)) && l.CreatedAt.Before(to) {
				in = append(in, l)
			}
		}
		got, err = s2.UsageTotals(ctx, aiproxy.AnalyticsFilter{From: from, To: to})
		if err != nil {
			t.Fatal(err)
		}
		checkStats(t, "totals of a ragged range", got, want(in))

		// Filters, on either table.
		pick := func(keep func(*aiproxy.Log) bool) []*aiproxy.Log {
			var out []*aiproxy.Log
			for _, l := range logs {
				if keep(l) {
					out = append(out, l)
				}
			}
			return out
		}
		for _, tc := range []struct {
			name string
			f    aiproxy.AnalyticsFilter
			keep func(*aiproxy.Log) bool
		}{
			{"group", aiproxy.AnalyticsFilter{GroupID: "g1"}, func(l *aiproxy.Log) bool { return l.GroupID == "g1" }},
			{"token and model", aiproxy.AnalyticsFilter{TokenID: 12, Model: "model-b"}, func(l *aiproxy.Log) bool { return l.TokenID == 12 && l.Model == "model-b" }},
			{"channel", aiproxy.AnalyticsFilter{ChannelID: 2}, func(l *aiproxy.Log) bool { return l.ChannelID == 2 }},
			{"channel and model", aiproxy.AnalyticsFilter{ChannelID: 3, Model: "model-a"}, func(l *aiproxy.Log) bool { return l.ChannelID == 3 && l.Model == "model-a" }},
		} {
			tc.f.From, tc.f.To = all.From, all.To
			got, err := s1.UsageTotals(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			checkStats(t, tc.name, got, want(pick(tc.keep)))
		}

		cs, err := s1.ChannelStats(ctx, all)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != 3 {
			t.Fatalf("channel stats of %d channels, want 3", len(cs))
		}
		for i, c := range cs {
			id := int64(i + 1)
			if c.ChannelID != id {
				t.Errorf("channel stats %d: channel %d", i, c.ChannelID)
			}
			checkStats(t, fmt.Sprintf("channel %d", id), c.Stats, want(pick(func(l *aiproxy.Log) bool { return l.ChannelID == id })))
		}

		// Rankings: per key, sums as the filters give them; ordered.
		for _, tc := range []struct {
			by    aiproxy.RankBy
			order aiproxy.RankOrder
			n     int
		}{
			{aiproxy.RankGroups, aiproxy.OrderCost, 2},
			{aiproxy.RankTokens, aiproxy.OrderRequests, 4},
			{aiproxy.RankModels, aiproxy.OrderErrors, 2},
			{aiproxy.RankChannels, aiproxy.OrderCost, 3},
		} {
			rank, err := s2.UsageRanking(ctx, all, tc.by, tc.order, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(rank) != tc.n {
				t.Fatalf("%s by %s: %d entries, want %d", tc.by, tc.order, len(rank), tc.n)
			}
			metric := func(s *aiproxy.UsageStats) int64 {
				switch tc.order {
				case aiproxy.OrderCost:
					return int64(s.Cost.Total())
				case aiproxy.OrderRequests:
					return s.Requests
				}
				return s.Errors()
			}
			for i, e := range rank {
				if i > 0 && metric(&rank[i-1].Stats) < metric(&e.Stats) {
					t.Errorf("%s by %s: entry %d (%d) above entry %d (%d)", tc.by, tc.order, i-1, metric(&rank[i-1].Stats), i, metric(&e.Stats))
				}
				checkStats(t, fmt.Sprintf("%s %+v", tc.by, e), e.Stats, want(pick(func(l *aiproxy.Log) bool {
					return (tc.by != aiproxy.RankGroups || l.GroupID == e.GroupID) && (tc.by != aiproxy.RankTokens || l.TokenID == e.TokenID && l.GroupID == e.GroupID) &&
						(tc.by != aiproxy.RankModels || l.Model == e.Model) && (tc.by != aiproxy.RankChannels || l.ChannelID == e.ChannelID)
				})))
			}
		}
		if top, err := s2.UsageRanking(ctx, all, aiproxy.RankTokens, aiproxy.OrderRequests, 1); err != nil || len(top) != 1 {
			t.Errorf("limit 1: %v, %v", top, err)
		}
	})
}

// A batch written again, as after a commit whose answer was lost, counts
// once.
func TestSummarizerBatchWrittenTwiceCountsOnce(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := storetest.Open(t, dsn)
		z := store.NewSummarizer(s, store.SummarizerOptions{FlushInterval: time.Hour})
		at := time.Now().Add(-time.Minute)
		var logs []*aiproxy.Log
		for i := range 30 {
			logs = append(logs, mixedLog(i, at))
			z.Record(logs[i])
		}
		if err := store.WriteSummaryBatchTwice(ctx, z); err != nil {
			t.Fatal(err)
		}
		if err := z.Close(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := s.UsageTotals(ctx, aiproxy.AnalyticsFilter{From: at.Add(-time.Hour), To: at.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		checkStats(t, "totals", got, want(logs))
		if st := z.Stats(); st.Batches != 1 {
			t.Errorf("%d batches counted, want 1", st.Batches)
		}
	})
}

// Close writes what a Summarizer holds, and a Summarizer that cannot
// write keeps it and says so when Close runs out of time.
func TestSummarizerCloseFlushes(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.SQLiteDSN(t)
	s := storetest.Open(t, dsn)
	z := store.NewSummarizer(s, store.SummarizerOptions{FlushInterval: time.Hour})
	at := time.Now()
	z.Record(mixedLog(0, at))
	if st := z.Stats(); st.Pending != 2 {
		t.Errorf("pending %d keys, want 2 (a channel's and a token's)", st.Pending)
	}
	if err := z.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.UsageTotals(ctx, aiproxy.AnalyticsFilter{From: at.Add(-time.Hour), To: at.Add(time.Hour)})
	if err != nil || got.Requests != 1 {
		t.Errorf("after Close: %+v, %v", got, err)
	}

	// A database gone: the batch stays pending.
	db := storetest.OpenDB(t, dsn)
	broken := store.New(db, db)
	z = store.NewSummarizer(broken, store.SummarizerOptions{FlushInterval: time.Hour})
	z.Record(mixedLog(1, at))
	db.Close()
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := z.Close(cctx); err == nil {
		t.Error("Close on a closed database succeeded")
	}
	if st := z.Stats(); st.Pending != 2 || st.Retries == 0 {
		t.Errorf("after a failed Close: %+v", st)
	}
}

// Day buckets begin at the zone's midnight, the hours of a day across a
// change of daylight saving time are 25 (or 23), and a zone whose offset
// is not whole hours is counted from the minute summaries.
func TestUsageSeriesTimeZones(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := storetest.Open(t, dsn)
		z := store.NewSummarizer(s, store.SummarizerOptions{FlushInterval: time.Hour})
		utc := func(v string) time.Time {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				panic(err)
			}
			return t
		}
		zone := func(name string) *time.Location {
			l, err := time.LoadLocation(name)
			if err != nil {
				t.Fatal(err)
			}
			return l
		}
		ny, shanghai, kolkata := zone("America/New_York"), zone("Asia/Shanghai"), zone("Asia/Kolkata")

		// New York leaves daylight saving time on 2026-11-01 at 02:00
		// EDT (06:00 UTC): that day has 25 hours.
		nyTimes := []string{"2026-11-01T03:30:00Z", "2026-11-01T04:10:00Z", "2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z", "2026-11-02T04:30:00Z", "2026-11-02T05:10:00Z"}
		// Shanghai's day ends at 16:00 UTC.
		shTimes := []string{"2026-10-20T15:59:00Z", "2026-10-20T16:01:00Z", "2026-10-20T16:30:00Z"}
		// Kolkata's midnight is at 18:30 UTC; recent, so minutes are kept.
		y, m, d := time.Now().Add(-24 * time.Hour).In(kolkata).Date()
		midnight := time.Date(y, m, d, 0, 0, 0, 0, kolkata)
		kTimes := []time.Time{midnight.Add(-10 * time.Minute), midnight.Add(10 * time.Minute), midnight.Add(20 * time.Minute)}
		i := 0
		for _, v := range append(nyTimes, shTimes...) {
			z.Record(mixedLog(i*6, utc(v))) // successes
			i++
		}
		for _, at := range kTimes {
			z.Record(mixedLog(i*6, at))
			i++
		}
		if err := z.Close(ctx); err != nil {
			t.Fatal(err)
		}
		type bucket struct {
			start    string
			hours    float64
			requests int64
		}
		check := func(name string, f aiproxy.AnalyticsFilter, g aiproxy.Granularity, loc *time.Location, want []bucket) {
			t.Helper()
			got, err := s.UsageSeries(ctx, f, g, loc)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%s: %d buckets, want %d: %+v", name, len(got), len(want), got)
			}
			for i, p := range got {
				w := want[i]
				if w.start != "" && p.Start.Format(time.RFC3339) != w.start || p.End.Sub(p.Start).Hours() != w.hours || p.Stats.Requests != w.requests {
					t.Errorf("%s: bucket %d = %s +%v: %d requests, want %+v", name, i, p.Start.Format(time.RFC3339), p.End.Sub(p.Start), p.Stats.Requests, w)
				}
			}
		}
		check("New York days", aiproxy.AnalyticsFilter{From: utc("2026-10-31T12:00:00Z"), To: utc("2026-11-02T12:00:00Z")}, aiproxy.GranularityDay, ny, []bucket{
			{"2026-10-31T00:00:00-04:00", 24, 1},
			{"2026-11-01T00:00:00-04:00", 25, 4},
			{"2026-11-02T00:00:00-05:00", 24, 1},
		})
		var hours []bucket
		for h := range 25 {
			var n int64
			switch h {
			case 0, 1, 2, 24: // 00:10 EDT, 01:30 EDT, 01:30 EST, 23:30 EST
				n = 1
			}
			hours = append(hours, bucket{"", 1, n})
		}
		hours[0].start, hours[24].start = "2026-11-01T00:00:00-04:00", "2026-11-01T23:00:00-05:00"
		check("New York hours", aiproxy.AnalyticsFilter{From: utc("2026-11-01T04:00:00Z"), To: utc("2026-11-02T05:00:00Z")}, aiproxy.GranularityHour, ny, hours)
		check("Shanghai days", aiproxy.AnalyticsFilter{From: utc("2026-10-20T00:00:00Z"), To: utc("2026-10-21T00:00:00Z")}, aiproxy.GranularityDay, shanghai, []bucket{
			{"2026-10-20T00:00:00+08:00", 24, 1},
			{"2026-10-21T00:00:00+08:00", 24, 2},
		})
		check("UTC day", aiproxy.AnalyticsFilter{From: utc("2026-10-20T00:00:00Z"), To: utc("2026-10-21T00:00:00Z")}, aiproxy.GranularityDay, nil, []bucket{
			{"2026-10-20T00:00:00Z", 24, 3},
		})
		check("Kolkata days", aiproxy.AnalyticsFilter{From: midnight.Add(-time.Hour), To: midnight.Add(time.Hour)}, aiproxy.GranularityDay, kolkata, []bucket{
			{midnight.AddDate(0, 0, -1).Format(time.RFC3339), 24, 1},
			{midnight.Format(time.RFC3339), 24, 2},
		})
		check("Kolkata minutes", aiproxy.AnalyticsFilter{From: midnight.Add(9 * time.Minute), To: midnight.Add(11*time.Minute + time.Second)}, aiproxy.GranularityMinute, kolkata, []bucket{
			{midnight.Add(9 * time.Minute).Format(time.RFC3339), 1.0 / 60, 0},
			{midnight.Add(10 * time.Minute).Format(time.RFC3339), 1.0 / 60, 1},
			{midnight.Add(11 * time.Minute).Format(time.RFC3339), 1.0 / 60, 0},
		})
	})
}

// Percentiles come from the histograms: interpolated within the bucket
// holding the rank.
func TestChannelStatsPercentiles(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := storetest.Open(t, dsn)
		z := store.NewSummarizer(s, store.SummarizerOptions{})
		at := time.Now().Add(-time.Minute)
		for i := range 100 {
			l := mixedLog(0, at)
			switch {
			case i < 50:
				l.Latency = 80 * time.Millisecond // (50ms, 100ms]
			case i < 95:
				l.Latency = 400 * time.Millisecond // (300ms, 500ms]
			default:
				l.Latency = 20 * time.Second // (15s, 20s]
			}
			if i%10 == 0 {
				l.Error, l.StatusCode = "failed", 503
			}
			z.Record(l)
		}
		if err := z.Close(ctx); err != nil {
			t.Fatal(err)
		}
		cs, err := s.ChannelStats(ctx, aiproxy.AnalyticsFilter{From: at.Add(-time.Hour), To: at.Add(time.Hour)})
		if err != nil || len(cs) != 1 {
			t.Fatalf("channel stats %+v, %v", cs, err)
		}
		st := cs[0].Stats
		for _, tc := range []struct {
			p    float64
			want time.Duration
		}{{0.5, 100 * time.Millisecond}, {0.95, 500 * time.Millisecond}, {0.99, 19 * time.Second}, {0.25, 75 * time.Millisecond}} {
			if got := st.Histogram.Percentile(tc.p); got != tc.want {
				t.Errorf("p%g = %v, want %v", tc.p*100, got, tc.want)
			}
		}
		if st.ErrorRate() != 0.1 || st.Errors5xx != 10 {
			t.Errorf("error rate %v, 5xx %d", st.ErrorRate(), st.Errors5xx)
		}
	})
}

// Malformed filters are EINVALID.
func TestAnalyticsInvalidFilters(t *testing.T) {
	ctx := context.Background()
	s := storetest.Open(t, storetest.SQLiteDSN(t))
	now := time.Now()
	r := aiproxy.AnalyticsFilter{From: now.Add(-time.Hour), To: now}
	withChannelAndGroup := r
	withChannelAndGroup.ChannelID, withChannelAndGroup.GroupID = 1, "g"
	withGroup := r
	withGroup.GroupID = "g"
	for name, call := range map[string]func() error{
		"no range": func() error { _, err := s.UsageTotals(ctx, aiproxy.AnalyticsFilter{}); return err },
		"to before from": func() error {
			_, err := s.UsageTotals(ctx, aiproxy.AnalyticsFilter{From: now, To: now.Add(-time.Hour)})
			return err
		},
		"channel and group":   func() error { _, err := s.UsageTotals(ctx, withChannelAndGroup); return err },
		"channels of a group": func() error { _, err := s.ChannelStats(ctx, withGroup); return err },
		"rank channels of a group": func() error {
			_, err := s.UsageRanking(ctx, withGroup, aiproxy.RankChannels, aiproxy.OrderCost, 5)
			return err
		},
		"limit 0": func() error { _, err := s.UsageRanking(ctx, r, aiproxy.RankModels, aiproxy.OrderCost, 0); return err },
		"a year of minutes": func() error {
			_, err := s.UsageSeries(ctx, aiproxy.AnalyticsFilter{From: now.AddDate(-1, 0, 0), To: now}, aiproxy.GranularityMinute, nil)
			return err
		},
	} {
		if code := aiproxy.ErrorCode(call()); code != aiproxy.EINVALID {
			t.Errorf("%s: code %q, want %s", name, code, aiproxy.EINVALID)
		}
	}
}

// Record on a key seen since the last flush allocates nothing.
func BenchmarkSummarizerRecord(b *testing.B) {
	s := storetest.Open(b, storetest.SQLiteDSN(b))
	z := store.NewSummarizer(s, store.SummarizerOptions{FlushInterval: time.Hour})
	defer z.Close(context.Background())
	l := mixedLog(1, time.Now())
	z.Record(l)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		z.Record(l)
	}
}
