package main

import (
	"context"
	"slices"
	"sync/atomic"
	"time"
)

// bench is one run's setup: the client, the processes and the targets.
type bench struct {
	cfg      *config
	c        *client
	admin    *admin // the gateway's admin API, for scenarios that add channels
	provider *proc
	procs    []*proc // every serving process, for settle

	direct, proxy, proxyDefault, gw *target

	// gwSent counts the requests the throughput scenario sent the
	// gateway, warm-up included (for -live).
	gwSent atomic.Int64
}

// targets returns the targets cfg.Targets selects, in order; proxy-default
// only with withDefault: it differs from proxy only in its connection
// pool, which matters only for throughput.
func (b *bench) targets(withDefault bool) []*target {
	var ts []*target
	for _, t := range []*target{b.direct, b.proxy, b.proxyDefault, b.gw} {
		if b.cfg.hasTarget(t.name) && (withDefault || t != b.proxyDefault) {
			ts = append(ts, t)
		}
	}
	return ts
}

// settle waits until the serving processes are idle, so that work left
// over from one measurement (a gateway still writing logs, a garbage
// collection) does not slow down the next. It gives up after 5s and
// returns how long it waited.
func (b *bench) settle(ctx context.Context) time.Duration {
	start := time.Now()
	const window = 250 * time.Millisecond
	for time.Since(start) < 5*time.Second && ctx.Err() == nil {
		before := cpuTicks(b.procs)
		time.Sleep(window)
		if cpuTicks(b.procs)-before <= 2 { // at most 8% of one CPU
			break
		}
	}
	return time.Since(start)
}

// cpuTime returns the CPU time p has used so far.
func cpuTime(p *proc) time.Duration {
	return time.Duration(cpuTicks([]*proc{p})) * clockTick
}

// perRequest returns d divided among n requests, 0 for none.
func perRequest(d time.Duration, n int) Duration {
	if n <= 0 {
		return 0
	}
	return Duration(d / time.Duration(n))
}

// median returns the median of xs (the mean of the middle two for an even
// count), 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
