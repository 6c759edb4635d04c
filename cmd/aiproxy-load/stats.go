package main

import (
	"slices"
	"strconv"
	"time"
)

// Dist summarizes a set of durations. Percentiles are nearest-rank: the
// smallest sample with at least p% of the samples at or below it. A Dist
// of no samples is all zero.
type Dist struct {
	N    int      `json:"n"`
	Mean Duration `json:"mean"`
	P50  Duration `json:"p50"`
	P90  Duration `json:"p90"`
	P99  Duration `json:"p99"`
	Max  Duration `json:"max"`
}

// summarize returns the Dist of samples. It sorts samples in place.
func summarize(samples []time.Duration) Dist {
	if len(samples) == 0 {
		return Dist{}
	}
	slices.Sort(samples)
	var sum time.Duration
	for _, s := range samples {
		sum += s
	}
	return Dist{
		N:    len(samples),
		Mean: Duration(sum / time.Duration(len(samples))),
		P50:  Duration(percentile(samples, 50)),
		P90:  Duration(percentile(samples, 90)),
		P99:  Duration(percentile(samples, 99)),
		Max:  Duration(samples[len(samples)-1]),
	}
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted, which must not be empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(p/100*float64(len(sorted)) + 0.999999999)
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}

// Duration is a time.Duration that reads well in tables and JSON
// (milliseconds with a fractional part).
type Duration time.Duration

// MarshalJSON writes d as a number of milliseconds.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(formatMS(time.Duration(d))), nil
}

// String formats d as milliseconds, e.g. "0.84ms", "12.3ms", "1520ms".
func (d Duration) String() string { return formatMS(time.Duration(d)) + "ms" }

// formatMS formats d in milliseconds with about three significant digits.
func formatMS(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	prec := 0
	switch {
	case ms < 10:
		prec = 2
	case ms < 100:
		prec = 1
	}
	return strconv.FormatFloat(ms, 'f', prec, 64)
}
