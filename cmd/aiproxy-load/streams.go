package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// TTFBRow is scenario 3 for one target: streamed chat completions of a
// fixed number of chunks.
type TTFBRow struct {
	Target   string `json:"target"`
	Streams  int    `json:"streams"`
	Complete int    `json:"complete"`
	TTFB     Dist   `json:"ttfb"`
	Total    Dist   `json:"total"`
	Problem  string `json:"first_problem,omitempty"`
}

// slowEvents is how many data events a slow stream with usage carries
// before [DONE]: the role chunk, the content chunks, the finish chunk and
// the usage chunk.
func slowEvents(chunks int) int { return chunks + 3 }

// runTTFB streams cfg.StreamCount completions through each target from
// cfg.StreamWorkers workers.
func (b *bench) runTTFB(ctx context.Context, targets []*target) []TTFBRow {
	cfg, c := b.cfg, b.c
	body := chatBody(modelSlow, true)
	want := slowEvents(cfg.Chunks)
	var rows []TTFBRow
	for _, t := range targets {
		stream := func(ctx context.Context) streamResult { return c.stream(ctx, t, routeSlow, body) }
		streamLoop(ctx, cfg.StreamWorkers, cfg.StreamWorkers, time.Minute, stream) // warm-up
		b.settle(ctx)
		res := streamLoop(ctx, cfg.StreamWorkers, cfg.StreamCount, 2*time.Minute, stream)
		row := TTFBRow{Target: t.name, Streams: len(res)}
		var ttfb, total []time.Duration
		for _, r := range res {
			if !r.complete(want) {
				if row.Problem == "" {
					row.Problem = r.describe(want)
				}
				continue
			}
			row.Complete++
			ttfb = append(ttfb, r.TTFB)
			total = append(total, r.Total)
		}
		row.TTFB, row.Total = summarize(ttfb), summarize(total)
		rows = append(rows, row)
	}
	return rows
}

// StreamsRow is scenario 4 for one target: many streams held open by the
// provider, then all their clients gone at once.
type StreamsRow struct {
	Target     string   `json:"target"`
	Want       int      `json:"want"`
	Opened     int      `json:"opened"`
	RSSBefore  int64    `json:"rss_before_bytes"`
	RSSOpen    int64    `json:"rss_open_bytes"` // the most seen while all were open
	PeakRSS    int64    `json:"peak_rss_bytes"` // VmHWM: the most ever, for the process's life so far
	CancelTime Duration `json:"cancel_all"`     // from the disconnect until the provider held none
	Cancelled  int64    `json:"cancelled"`      // as counted by the provider
	Remaining  int      `json:"remaining"`      // held by the provider when the wait gave up
	FirstErr   string   `json:"first_error,omitempty"`
}

// cancelLimit is how long the wait for the provider to see every stream
// cancelled lasts before it gives up.
const cancelLimit = 10 * time.Second

// runOpenStreams opens cfg.Streams held streams through t, records the
// serving process's memory while they are open (for cfg.Hold), then
// cancels every client at once and measures until the provider holds no
// stream any more.
func (b *bench) runOpenStreams(ctx context.Context, t *target) StreamsRow {
	c, provider, n := b.c, b.provider, b.cfg.Streams
	b.settle(ctx)
	row := StreamsRow{Target: t.name, Want: n}
	sc := &http.Client{Transport: newTransport(), Timeout: 5 * time.Second}
	defer sc.CloseIdleConnections()
	defer c.hc.CloseIdleConnections()
	if t.proc != nil {
		row.RSSBefore, _, _ = t.proc.memory()
	}
	before, err := fastStats(ctx, sc, provider)
	if err != nil {
		row.FirstErr = err.Error()
		return row
	}

	hctx, disconnect := context.WithCancel(ctx)
	defer disconnect()
	body := chatBody(modelHold, true)
	var (
		opened, failed atomic.Int64
		firstErr       atomic.Pointer[string]
		wg             sync.WaitGroup
	)
	sem := make(chan struct{}, 128) // streams being opened at once
	openBy := time.Now().Add(time.Minute)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		select {
		case sem <- struct{}{}:
		case <-time.After(time.Until(openBy)):
		}
		if !time.Now().Before(openBy) {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var once sync.Once
			release := func() { once.Do(func() { <-sem }) }
			defer release()
			err := c.hold(hctx, t, body, func() { opened.Add(1); release() })
			if err != nil && hctx.Err() == nil {
				failed.Add(1)
				msg := err.Error()
				firstErr.CompareAndSwap(nil, &msg)
			}
		}()
	}
	for opened.Load()+failed.Load() < int64(n) && time.Now().Before(openBy) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	row.Opened = int(opened.Load())
	if msg := firstErr.Load(); msg != nil {
		row.FirstErr = *msg
	}

	// Every opened stream must be held by the provider now.
	heldBy := time.Now().Add(10 * time.Second)
	for time.Now().Before(heldBy) {
		st, err := fastStats(ctx, sc, provider)
		if err == nil && st.Active >= row.Opened {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for holdEnd := time.Now().Add(b.cfg.Hold); ctx.Err() == nil; {
		if t.proc != nil {
			if rss, peak, err := t.proc.memory(); err == nil {
				row.RSSOpen, row.PeakRSS = max(row.RSSOpen, rss), peak
			}
		}
		if !time.Now().Before(holdEnd) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	start := time.Now()
	disconnect()
	for {
		st, err := fastStats(ctx, sc, provider)
		if err == nil && st.Active == 0 {
			row.CancelTime = Duration(time.Since(start))
			row.Cancelled = st.Cancelled - before.Cancelled
			break
		}
		if time.Since(start) > cancelLimit || ctx.Err() != nil {
			row.CancelTime = Duration(time.Since(start))
			row.Remaining = st.Active
			row.Cancelled = st.Cancelled - before.Cancelled
			break
		}
		time.Sleep(time.Millisecond)
	}
	waitGroup(&wg, 10*time.Second)
	return row
}

// fastStats returns the fast provider's counters.
func fastStats(ctx context.Context, hc *http.Client, provider *proc) (stat struct {
	Active    int
	Cancelled int64
}, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, provider.url()+"/__stats", nil)
	if err != nil {
		return stat, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return stat, err
	}
	defer resp.Body.Close()
	var st providerStats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return stat, fmt.Errorf("provider stats: %w", err)
	}
	stat.Active, stat.Cancelled = st["fast"].Active, st["fast"].Cancelled
	return stat, nil
}

// waitGroup waits for wg, at most limit.
func waitGroup(wg *sync.WaitGroup, limit time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(limit):
		return false
	}
}

// EarlyRow is scenario 5 for one target: streams answered by the
// provider before it reads the request body, for bodies of several sizes.
type EarlyRow struct {
	Target string      `json:"target"`
	Sizes  []EarlySize `json:"sizes"`
}

// EarlySize is the result for one body size.
type EarlySize struct {
	BodyBytes int    `json:"body_bytes"` // nominal: the body is up to 30 bytes longer
	Runs      int    `json:"runs"`
	Intact    int    `json:"intact"`
	Problem   string `json:"first_problem,omitempty"`
}

// totals returns the runs and intact streams over every size.
func (r *EarlyRow) totals() (runs, intact int) {
	for _, s := range r.Sizes {
		runs += s.Runs
		intact += s.Intact
	}
	return runs, intact
}

// earlyEvents is how many data events an early answer carries before
// [DONE]: the role chunk, the content chunks and the finish chunk.
const earlyEvents = earlyChunks + 2

// runEarly sends cfg.EarlyRuns streaming requests of each size in
// cfg.EarlySizes to each target, one at a time, and checks that each
// answer arrives whole.
func (b *bench) runEarly(ctx context.Context, targets []*target) []EarlyRow {
	cfg, c := b.cfg, b.c
	var rows []EarlyRow
	for _, t := range targets {
		row := EarlyRow{Target: t.name}
		for _, size := range cfg.EarlySizes {
			body := bigChatBody(modelEarly, size)
			es := EarlySize{BodyBytes: size} // the body is a few bytes longer
			for i := 0; i < cfg.EarlyRuns && ctx.Err() == nil; i++ {
				res := c.stream(ctx, t, routeEarly, body)
				es.Runs++
				if res.complete(earlyEvents) {
					es.Intact++
				} else if es.Problem == "" {
					es.Problem = res.describe(earlyEvents)
				}
			}
			row.Sizes = append(row.Sizes, es)
		}
		c.hc.CloseIdleConnections()
		rows = append(rows, row)
	}
	return rows
}
