package relay

import (
	"math/rand/v2"
	"time"

	"github.com/aiproxy/aiproxy"
)

// picker chooses the channels one request tries, in turn.
//
// Channels come sorted by priority, highest first. The highest tier that
// has a healthy channel left wins: a channel is healthy unless its
// breaker is open, the provider parked it (Retry-After), or it was tried
// already for this request; a half-open breaker lets its channel be drawn
// as the one probe (Health.Probe), and the draw is redone when another
// request holds the probe. Within the tier a channel is drawn with
// probability proportional to its effective weight
//
//	w × (1 − r)²
//
// where w is the channel's weight (0 counts as 1) and r its recent error
// rate with the model (Health; 0 below the breaker's minimum of
// requests). Squaring steers away early: at 10 % errors a channel keeps
// 81 % of its share, at 30 % 49 %, and at the default threshold of 50 %,
// where the breaker opens, 25 %. TestPickDistribution checks the split
// with a chi-square test.
type picker struct {
	chs    []*aiproxy.Channel
	model  string
	health Health     // nil: every channel healthy
	rnd    *rand.Rand // nil: the global source
	tried  []int64    // tried for this request, or excluded (a probe held elsewhere)

	// Why channels were skipped, for the failure when none is left: the
	// soonest a parked one, and an open one, frees up.
	parkedUntil, openUntil time.Time
}

// next returns the channel to try next, or nil when none is left.
func (p *picker) next(now time.Time) *aiproxy.Channel {
	var buf [16]float64
	for i := 0; i < len(p.chs); {
		j := i + 1
		for j < len(p.chs) && p.chs[j].Priority == p.chs[i].Priority {
			j++
		}
		tier := p.chs[i:j]
		w := buf[:0]
		if len(tier) > len(buf) {
			w = make([]float64, 0, len(tier))
		}
		for {
			w = w[:0]
			total := 0.0
			var halfOpen uint64 // bit k: tier[k] is half-open (first 64)
			for k, c := range tier {
				x := p.weight(c, now)
				if x < 0 { // half-open: drawn as the probe, with the plain weight
					x = float64(weight(c))
					if k < 64 {
						halfOpen |= 1 << k
					}
				}
				w = append(w, x)
				total += x
			}
			if total == 0 {
				break
			}
			k := p.draw(w, total)
			c := tier[k]
			if k < 64 && halfOpen&(1<<k) != 0 && !p.health.Probe(c.ID, p.model, now) {
				p.tried = append(p.tried, c.ID) // another request probes it
				continue
			}
			return c
		}
		i = j
	}
	return nil
}

// weight returns c's effective weight now: 0 when it cannot be tried, -1
// when its breaker is half-open (it may be drawn as the probe).
func (p *picker) weight(c *aiproxy.Channel, now time.Time) float64 {
	if contains(p.tried, c.ID) {
		return 0
	}
	w := float64(weight(c))
	if p.health == nil {
		return w
	}
	st := p.health.Check(c.ID, p.model, now)
	if st.ParkedUntil.After(now) {
		if p.parkedUntil.IsZero() || st.ParkedUntil.Before(p.parkedUntil) {
			p.parkedUntil = st.ParkedUntil
		}
		return 0
	}
	switch st.Breaker {
	case aiproxy.BreakerOpen:
		if p.openUntil.IsZero() || st.OpenUntil.Before(p.openUntil) {
			p.openUntil = st.OpenUntil
		}
		return 0
	case aiproxy.BreakerHalfOpen:
		return -1
	}
	r := min(max(st.ErrorRate, 0), 1)
	return w * (1 - r) * (1 - r)
}

// draw returns the index of a weight drawn with probability proportional
// to it.
func (p *picker) draw(w []float64, total float64) int {
	var x float64
	if p.rnd != nil {
		x = p.rnd.Float64() * total
	} else {
		x = rand.Float64() * total
	}
	last := 0
	for k, v := range w {
		if v <= 0 {
			continue
		}
		if x -= v; x < 0 {
			return k
		}
		last = k
	}
	return last // rounding
}

func weight(c *aiproxy.Channel) int {
	if c.Weight <= 0 {
		return 1
	}
	return c.Weight
}

func contains(ids []int64, id int64) bool {
	for _, v := range ids {
		if v == id {
			return true
		}
	}
	return false
}
