package chart

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// NiceTicks returns the ticks of an axis covering [lo, hi] with about n
// intervals: multiples of a step of 1, 2 or 5 × 10^k, the first at or
// below lo and the last at or above hi, so the axis ends on a labelled
// tick. A zero-width range is widened around its value ([0, 1] for 0); n
// below 1 counts as 1. It returns nil when lo or hi is not finite.
func NiceTicks(lo, hi float64, n int) []float64 {
	if math.IsNaN(lo) || math.IsNaN(hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return nil
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	if lo == hi {
		switch {
		case lo == 0:
			hi = 1
		case lo > 0:
			lo = 0
		default:
			hi = 0
		}
	}
	n = max(n, 1)
	step := niceStep((hi - lo) / float64(n))
	first := math.Floor(lo/step) * step
	last := math.Ceil(hi/step) * step
	count := int(math.Round((last-first)/step)) + 1
	ticks := make([]float64, count)
	for i := range ticks {
		// Multiplying, not adding, keeps 0.1+0.1+0.1 from drifting; the
		// rounding drops what is left of the binary fractions.
		ticks[i] = roundTo(first+float64(i)*step, step)
	}
	return ticks
}

// niceStep returns the smallest 1, 2 or 5 × 10^k at or above rough.
func niceStep(rough float64) float64 {
	mag := math.Pow(10, math.Floor(math.Log10(rough)))
	for _, m := range [...]float64{1, 2, 5, 10} {
		if m*mag >= rough*(1-1e-9) {
			return m * mag
		}
	}
	return 10 * mag
}

// roundTo rounds v to a tenth of step's decimal precision, removing the
// binary noise of float arithmetic (0.30000000000000004 becomes 0.3).
func roundTo(v, step float64) float64 {
	digits := max(0, -int(math.Floor(math.Log10(step)))+1)
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// timeSteps are the intervals a time axis may be ticked at, shortest
// first.
var timeSteps = [...]time.Duration{
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
	24 * time.Hour, 2 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 28 * 24 * time.Hour,
}

// TimeTick is one labelled tick of a time axis.
type TimeTick struct {
	At    time.Time
	Label string
}

// TimeTicks returns at most n (at least 2) ticks within [from, to], on
// the round times of loc's clocks (nil: UTC) of the shortest step that
// fits: whole minutes, hours of the day divisible by the step, or
// midnights. Labels are "15:04", except at midnight, and for steps of a
// day or more, where they are "Jan 2". It returns nil when to is before
// from.
func TimeTicks(from, to time.Time, loc *time.Location, n int) []TimeTick {
	if to.Before(from) {
		return nil
	}
	if loc == nil {
		loc = time.UTC
	}
	n = max(n, 2)
	span := to.Sub(from)
	step := timeSteps[len(timeSteps)-1]
	for _, s := range timeSteps {
		if span/s < time.Duration(n) {
			step = s
			break
		}
	}
	var ticks []TimeTick
	add := func(t time.Time) {
		if t.Before(from) || t.After(to) || len(ticks) == n {
			return
		}
		if len(ticks) > 0 && !t.After(ticks[len(ticks)-1].At) {
			return // a wall-clock time repeated or skipped by a DST change
		}
		ticks = append(ticks, TimeTick{At: t, Label: timeLabel(t.In(loc), step)})
	}
	l := from.In(loc)
	switch {
	case step < time.Hour:
		m := int(step / time.Minute)
		t := time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute()/m*m, 0, 0, loc)
		for ; !t.After(to); t = t.Add(step) {
			add(t)
		}
	case step < 24*time.Hour:
		h := int(step / time.Hour)
		for d := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc); !d.After(to); d = d.AddDate(0, 0, 1) {
			for hour := 0; hour < 24; hour += h {
				add(time.Date(d.Year(), d.Month(), d.Day(), hour, 0, 0, 0, loc))
			}
		}
	default:
		days := int(step / (24 * time.Hour))
		for d := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc); !d.After(to); d = d.AddDate(0, 0, days) {
			add(d)
		}
	}
	return ticks
}

// timeLabel is the label of tick t (on its zone's clocks) of an axis
// ticked every step.
func timeLabel(t time.Time, step time.Duration) string {
	if step >= 24*time.Hour || (t.Hour() == 0 && t.Minute() == 0) {
		return t.Format("Jan 2")
	}
	return t.Format("15:04")
}

// Compact formats v with at most three significant digits and an SI
// suffix from a thousand on: 950, 1.2k, 34.5M, 2.1G. Values below 1 keep
// up to three decimals (0.125); NaN is "–".
func Compact(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	for _, u := range [...]struct {
		div    float64
		suffix string
	}{{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if v >= u.div*(1-5e-4) {
			return sign + significant(v/u.div, 3) + u.suffix
		}
	}
	if v >= 1 {
		return sign + significant(v, 3)
	}
	return sign + trimZeros(strconv.FormatFloat(v, 'f', 3, 64))
}

// significant formats v (at least 1) with n significant digits, without
// trailing zeros, and never in exponent form.
func significant(v float64, n int) string {
	digits := int(math.Floor(math.Log10(v))) + 1
	return trimZeros(strconv.FormatFloat(v, 'f', max(0, n-digits), 64))
}

func trimZeros(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// Percent formats a share (0 to 1) as a percentage with up to one
// decimal: 0.0534 is "5.3%". NaN is "–".
func Percent(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	return trimZeros(strconv.FormatFloat(v*100, 'f', 1, 64)) + "%"
}

// Millis formats a duration given in milliseconds: "850 ms" below a
// second, "1.25 s" from there. NaN is "–".
func Millis(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	if v < 1000 {
		return strconv.FormatFloat(math.Round(v), 'f', 0, 64) + " ms"
	}
	return significant(v/1000, 3) + " s"
}
