package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// loopResult is what a load loop measured.
type loopResult struct {
	OK       int
	Errors   int
	Skipped  int // open loop only: requests not sent because too many were in flight
	Elapsed  time.Duration
	Lat      []time.Duration // of successful requests
	FirstErr string
}

// merge adds the counts and latencies of o to r.
func (r *loopResult) merge(o loopResult) {
	r.OK += o.OK
	r.Errors += o.Errors
	r.Skipped += o.Skipped
	r.Elapsed += o.Elapsed
	r.Lat = append(r.Lat, o.Lat...)
	if r.FirstErr == "" {
		r.FirstErr = o.FirstErr
	}
}

// rate returns successful requests per second.
func (r *loopResult) rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

// closedLoop runs workers that send requests back to back until d has
// passed (or ctx is done); requests in flight at the deadline finish.
// Elapsed is the time until the last one did.
func closedLoop(ctx context.Context, workers int, d time.Duration, send func(context.Context) error) loopResult {
	start := time.Now()
	deadline := start.Add(d)
	results := make([]loopResult, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func(res *loopResult) {
			defer wg.Done()
			res.Lat = make([]time.Duration, 0, 4096)
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(deadline) {
					return
				}
				if err := send(ctx); err != nil {
					res.Errors++
					if res.FirstErr == "" {
						res.FirstErr = err.Error()
					}
					continue
				}
				res.OK++
				res.Lat = append(res.Lat, time.Since(t0))
			}
		}(&results[i])
	}
	wg.Wait()
	var total loopResult
	for _, r := range results {
		total.merge(r)
	}
	total.Elapsed = time.Since(start)
	return total
}

// openLoop sends requests at a fixed rate for d, whatever the answers
// take, each from its own goroutine. A request's latency counts from the
// moment it was due, so a sender or server falling behind shows up in
// the latencies instead of silently lowering the rate (no coordinated
// omission). When maxInFlight requests are outstanding, a due request is
// skipped and counted.
func openLoop(ctx context.Context, rate float64, d time.Duration, maxInFlight int, send func(context.Context) error) loopResult {
	interval := time.Duration(float64(time.Second) / rate)
	n := int(d / interval)
	var (
		mu       sync.Mutex
		res      loopResult
		wg       sync.WaitGroup
		inFlight atomic.Int64
	)
	res.Lat = make([]time.Duration, 0, n)
	start := time.Now()
	for i := 0; i < n && ctx.Err() == nil; i++ {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		if inFlight.Load() >= int64(maxInFlight) {
			mu.Lock()
			res.Skipped++
			mu.Unlock()
			continue
		}
		inFlight.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer inFlight.Add(-1)
			err := send(ctx)
			lat := time.Since(due)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Errors++
				if res.FirstErr == "" {
					res.FirstErr = err.Error()
				}
				return
			}
			res.OK++
			res.Lat = append(res.Lat, lat)
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	return res
}

// streamLoop runs n streamed requests from workers concurrent workers,
// and stops early when limit has passed or ctx is done.
func streamLoop(ctx context.Context, workers, n int, limit time.Duration, stream func(context.Context) streamResult) []streamResult {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var next atomic.Int64
	results := make([]streamResult, n)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				results[i] = stream(ctx)
			}
		}()
	}
	wg.Wait()
	done := min(int(next.Load()), n)
	return results[:done]
}
