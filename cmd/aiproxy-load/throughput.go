package main

import (
	"context"
	"time"
)

// ThroughputRow is scenario 1 for one target: non-streaming chat
// completions from a fixed number of workers sending back to back.
type ThroughputRow struct {
	Target    string    `json:"target"`
	ReqPerSec float64   `json:"req_per_sec"` // median of the rounds
	Rounds    []float64 `json:"rounds_req_per_sec"`
	OK        int       `json:"ok"`
	Errors    int       `json:"errors"`
	Latency   Dist      `json:"latency"`
	// CPUPerReq is the CPU time the serving process spent per request,
	// work left behind after a round included (for direct, the provider's).
	CPUPerReq Duration `json:"cpu_per_request"`
	// Settle is the longest wait, after a round, until every process was
	// idle again: work the target left behind (such as logs to write).
	Settle   Duration `json:"settle"`
	FirstErr string   `json:"first_error,omitempty"`
}

// runThroughput warms every target up, then measures them in rounds,
// rotating their order each round so that none always runs first or
// last, and reports the median round of each.
func (b *bench) runThroughput(ctx context.Context, targets []*target) []ThroughputRow {
	cfg, c := b.cfg, b.c
	body := chatBody(modelFast, false)
	send := func(t *target) func(context.Context) error {
		return func(ctx context.Context) error {
			if t.gateway {
				b.gwSent.Add(1)
			}
			return c.chat(ctx, t, body)
		}
	}
	for _, t := range targets {
		closedLoop(ctx, cfg.Workers, cfg.Warmup, send(t))
	}
	total := make([]loopResult, len(targets))
	rounds := make([][]float64, len(targets))
	settled := make([]time.Duration, len(targets))
	cpu := make([]time.Duration, len(targets))
	b.settle(ctx)
	for r := range cfg.Rounds {
		for k := range targets {
			i := (k + r) % len(targets)
			t := targets[i]
			before := cpuTime(t.proc)
			res := closedLoop(ctx, cfg.Workers, cfg.Duration, send(t))
			rounds[i] = append(rounds[i], res.rate())
			total[i].merge(res)
			settled[i] = max(settled[i], b.settle(ctx))
			cpu[i] += cpuTime(t.proc) - before
		}
	}
	rows := make([]ThroughputRow, len(targets))
	for i, t := range targets {
		rows[i] = ThroughputRow{
			Target:    t.name,
			ReqPerSec: median(rounds[i]),
			Rounds:    rounds[i],
			OK:        total[i].OK,
			Errors:    total[i].Errors,
			Latency:   summarize(total[i].Lat),
			CPUPerReq: perRequest(cpu[i], total[i].OK+total[i].Errors),
			Settle:    Duration(settled[i]),
			FirstErr:  total[i].FirstErr,
		}
	}
	return rows
}

// LatencyRow is scenario 2 for one target: non-streaming chat completions
// sent at a fixed rate.
type LatencyRow struct {
	Target   string  `json:"target"`
	Rate     float64 `json:"rate"`
	Achieved float64 `json:"achieved_req_per_sec"`
	OK       int     `json:"ok"`
	Errors   int     `json:"errors"`
	Skipped  int     `json:"skipped"`
	Latency  Dist    `json:"latency"`
	// CPUPerReq is the CPU time the serving process spent per request,
	// work left behind included (for direct, the provider's).
	CPUPerReq Duration `json:"cpu_per_request"`
	FirstErr  string   `json:"first_error,omitempty"`
}

// maxInFlight bounds the open loop: more outstanding requests than this
// means the target cannot keep up with the rate.
const maxInFlight = 1000

// runLatency measures each target at cfg.Rate after a short warm-up at
// the same rate.
func (b *bench) runLatency(ctx context.Context, targets []*target) []LatencyRow {
	cfg, c := b.cfg, b.c
	body := chatBody(modelFast, false)
	var rows []LatencyRow
	for _, t := range targets {
		send := func(ctx context.Context) error { return c.chat(ctx, t, body) }
		openLoop(ctx, cfg.Rate, time.Second, maxInFlight, send)
		b.settle(ctx)
		before := cpuTime(t.proc)
		res := openLoop(ctx, cfg.Rate, cfg.RateDuration, maxInFlight, send)
		b.settle(ctx)
		rows = append(rows, LatencyRow{
			CPUPerReq: perRequest(cpuTime(t.proc)-before, res.OK+res.Errors),
			Target:    t.name,
			Rate:      cfg.Rate,
			Achieved:  res.rate(),
			OK:        res.OK,
			Errors:    res.Errors,
			Skipped:   res.Skipped,
			Latency:   summarize(res.Lat),
			FirstErr:  res.FirstErr,
		})
	}
	return rows
}
