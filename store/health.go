package store

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/aiproxy/aiproxy"
)

// Health tuning shared by MemoryHealth and RedisHealth.
const (
	// healthBuckets is how many time buckets a policy's window is cut
	// into: the window slides by a tenth of itself.
	healthBuckets = 10
	// probeTimeout is how long a claimed probe holds the claim when its
	// outcome is never reported.
	probeTimeout = 30 * time.Second
	// cooldownJitter is the ± share of random jitter on cool-downs.
	cooldownJitter = 0.2
)

// MemoryHealth keeps the health of every channel × model in process
// memory (see relay.Health). Each channel × model has a sliding window of
// its policy's Window, cut into 10 time buckets, counting requests and
// failures; its ErrorRate is failures/requests once the window holds
// MinRequests, 0 before.
//
// Its breaker opens after a Report when the error rate reaches the
// policy's Threshold, or at once on a Fatal outcome, for a cool-down of
// Cooldown ±20%. Once the cool-down has passed Check says
// aiproxy.BreakerHalfOpen and Probe lets exactly one caller through (the
// claim lapses after 30 s if its outcome is never reported). The probe's
// success closes the breaker and clears the window and the cool-down; its
// failure reopens the breaker with the cool-down doubled, up to
// MaxCooldown (±20%). A breaker is never open for good. An outcome with a
// RetryAfter parks the channel × model until At + RetryAfter; the later
// of two parks is kept.
//
// Every method takes the time it acts at, so that the caller (and tests)
// drive the clock. The zero MemoryHealth is not ready for use; call
// NewMemoryHealth. It is safe for concurrent use.
type MemoryHealth struct {
	c healthCore
}

// NewMemoryHealth returns an empty MemoryHealth: every channel healthy.
func NewMemoryHealth() *MemoryHealth {
	return &MemoryHealth{c: healthCore{entries: map[healthKey]*healthEntry{}}}
}

// Check returns the state of channel ch with model at now; a channel ×
// model never reported is closed, unparked, with an error rate of 0.
func (h *MemoryHealth) Check(ch int64, model string, now time.Time) aiproxy.HealthState {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	return h.c.check(healthKey{ch, model}, now)
}

// Probe claims the one probe of a half-open breaker at now; it reports
// false when the breaker is not half-open or the claim is held.
func (h *MemoryHealth) Probe(ch int64, model string, now time.Time) bool {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	return h.c.probe(healthKey{ch, model}, now)
}

// Report records outcome o of one attempt on channel ch with model, under
// policy p (zero fields take the defaults).
func (h *MemoryHealth) Report(ch int64, model string, o aiproxy.Outcome, p aiproxy.BreakerPolicy) {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	h.c.report(healthKey{ch, model}, o, p)
}

// Snapshot returns the health of every channel × model reported so far,
// as of the current time, sorted by channel then model; nil when none.
func (h *MemoryHealth) Snapshot() []aiproxy.ChannelHealth {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	return h.c.snapshot(time.Now())
}

// Reset forgets everything about channel ch: its breakers close, its parks
// end and its windows empty.
func (h *MemoryHealth) Reset(ch int64) {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	h.c.reset(ch)
}

// healthKey names a channel × model.
type healthKey struct {
	ch    int64
	model string
}

// counts is the requests and failures of one time bucket.
type counts struct{ req, fail int64 }

// healthEntry is the state of one channel × model.
type healthEntry struct {
	policy aiproxy.BreakerPolicy // the last one reported with, defaults set
	width  time.Duration         // of a bucket: policy.Window / healthBuckets
	// buckets holds the counts by bucket index (unix nanoseconds / width)
	// as this process sees them.
	buckets map[int64]counts

	open       bool
	openUntil  time.Time
	cooldown   time.Duration // the un-jittered cool-down of the last opening; 0 while closed
	changedAt  time.Time     // of the last breaker transition
	reason     string
	probeUntil time.Time // the probe claim holds until then

	parkedUntil time.Time
	lastError   string
	lastErrorAt time.Time
}

// healthCore is the in-memory state both implementations steer by. Its
// methods must be called with mu held.
type healthCore struct {
	mu      sync.Mutex
	entries map[healthKey]*healthEntry
}

// entry returns the entry of k, created under policy p when missing.
func (c *healthCore) entry(k healthKey, p aiproxy.BreakerPolicy) *healthEntry {
	e := c.entries[k]
	if e == nil {
		e = &healthEntry{buckets: map[int64]counts{}}
		c.entries[k] = e
	}
	if e.policy != p {
		if w := p.Window / healthBuckets; w != e.width {
			clear(e.buckets) // indexes of another width mean nothing
			e.width = max(w, time.Millisecond)
		}
		e.policy = p
	}
	return e
}

// window returns the requests and failures of e's window ending at now.
func (e *healthEntry) window(now time.Time) (req, fail int64) {
	if e.width <= 0 {
		return 0, 0
	}
	cur := now.UnixNano() / int64(e.width)
	for i, n := range e.buckets {
		if i > cur-healthBuckets && i <= cur {
			req += n.req
			fail += n.fail
		}
	}
	return req, fail
}

// rate returns e's error rate at now, 0 below the policy's MinRequests.
func (e *healthEntry) rate(now time.Time) (rate float64, req int64) {
	req, fail := e.window(now)
	if req == 0 || req < int64(e.policy.MinRequests) {
		return 0, req
	}
	return float64(fail) / float64(req), req
}

// state returns e as routing sees it at now.
func (e *healthEntry) state(now time.Time) aiproxy.HealthState {
	st := aiproxy.HealthState{ParkedUntil: e.parkedUntil}
	if !st.ParkedUntil.After(now) {
		st.ParkedUntil = time.Time{}
	}
	st.ErrorRate, _ = e.rate(now)
	if e.open {
		st.Breaker, st.OpenUntil = aiproxy.BreakerOpen, e.openUntil
		if !now.Before(e.openUntil) {
			st.Breaker = aiproxy.BreakerHalfOpen
		}
	}
	return st
}

func (c *healthCore) check(k healthKey, now time.Time) aiproxy.HealthState {
	e := c.entries[k]
	if e == nil {
		return aiproxy.HealthState{}
	}
	return e.state(now)
}

// halfOpen reports whether k's breaker lets a probe go at now and nobody
// holds the claim.
func (c *healthCore) halfOpen(k healthKey, now time.Time) (*healthEntry, bool) {
	e := c.entries[k]
	if e == nil || !e.open || now.Before(e.openUntil) || now.Before(e.probeUntil) {
		return e, false
	}
	return e, true
}

func (c *healthCore) probe(k healthKey, now time.Time) bool {
	e, ok := c.halfOpen(k, now)
	if ok {
		e.probeUntil = now.Add(probeTimeout)
	}
	return ok
}

// healthChange says what a report changed beyond the counts.
type healthChange struct {
	bucket  int64 // the index counted in
	failed  bool
	counted bool // in the window (not a probe's outcome)
	breaker bool // opened, reopened or closed
	cleared bool // the window was cleared (the breaker closed)
}

func (c *healthCore) report(k healthKey, o aiproxy.Outcome, p aiproxy.BreakerPolicy) healthChange {
	p = p.WithDefaults()
	e := c.entry(k, p)
	failed := o.Failed || o.Fatal
	ch := healthChange{bucket: o.At.UnixNano() / int64(e.width), failed: failed}

	if failed {
		e.lastError, e.lastErrorAt = outcomeError(o), o.At
	}
	if o.RetryAfter > 0 {
		if until := o.At.Add(o.RetryAfter); until.After(e.parkedUntil) {
			e.parkedUntil = until
		}
	}

	if e.open && !o.At.Before(e.openUntil) { // the probe's outcome
		ch.breaker = true
		if !failed {
			e.open, e.cooldown, e.reason = false, 0, ""
			e.openUntil, e.probeUntil, e.changedAt = time.Time{}, time.Time{}, o.At
			clear(e.buckets)
			ch.cleared = true
			return ch
		}
		e.openFor(min(2*e.cooldown, p.MaxCooldown), o.At, "probe failed: "+outcomeReason(o))
		return ch
	}

	n := e.buckets[ch.bucket]
	n.req++
	if failed {
		n.fail++
	}
	e.buckets[ch.bucket] = n
	ch.counted = true
	for i := range e.buckets {
		if i <= ch.bucket-2*healthBuckets {
			delete(e.buckets, i)
		}
	}
	if e.open {
		return ch // in flight when the breaker opened
	}
	if o.Fatal {
		e.openFor(p.Cooldown, o.At, outcomeReason(o))
		ch.breaker = true
	} else if rate, req := e.rate(o.At); failed && req > 0 && req >= int64(p.MinRequests) && rate >= p.Threshold {
		e.openFor(p.Cooldown, o.At, fmt.Sprintf("error rate %.2f over %d requests", rate, req))
		ch.breaker = true
	}
	return ch
}

// openFor opens e's breaker at at for cool-down d ±20%.
func (e *healthEntry) openFor(d time.Duration, at time.Time, reason string) {
	e.open, e.cooldown, e.reason, e.changedAt = true, d, reason, at
	jittered := time.Duration(float64(d) * (1 - cooldownJitter + 2*cooldownJitter*rand.Float64()))
	e.openUntil = at.Add(jittered).Truncate(time.Millisecond)
	e.probeUntil = time.Time{}
}

func (c *healthCore) snapshot(now time.Time) []aiproxy.ChannelHealth {
	var out []aiproxy.ChannelHealth
	for k, e := range c.entries {
		req, fail := e.window(now)
		out = append(out, aiproxy.ChannelHealth{
			ChannelID:   k.ch,
			Model:       k.model,
			State:       e.state(now),
			Requests:    int(req),
			Failures:    int(fail),
			LastError:   e.lastError,
			LastErrorAt: e.lastErrorAt,
			OpenReason:  e.reason,
		})
	}
	slices.SortFunc(out, func(a, b aiproxy.ChannelHealth) int {
		return cmp.Or(cmp.Compare(a.ChannelID, b.ChannelID), cmp.Compare(a.Model, b.Model))
	})
	return out
}

func (c *healthCore) reset(ch int64) {
	for k := range c.entries {
		if k.ch == ch {
			delete(c.entries, k)
		}
	}
}

// outcomeReason says why an outcome opened a breaker, from its status and
// error (never a secret: Outcome.Error holds none).
func outcomeReason(o aiproxy.Outcome) string {
	switch o.Status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Sprintf("provider refused the credentials (%d)", o.Status)
	case http.StatusPaymentRequired:
		return fmt.Sprintf("provider balance exhausted (%d)", o.Status)
	}
	return outcomeError(o)
}

// outcomeError describes a failed outcome for the admin.
func outcomeError(o aiproxy.Outcome) string {
	msg := o.Error
	if len(msg) > 200 {
		msg = msg[:200]
	}
	switch {
	case msg != "" && o.Status != 0:
		return fmt.Sprintf("%s (%d)", msg, o.Status)
	case msg != "":
		return msg
	case o.Status != 0:
		return fmt.Sprintf("provider answered %d", o.Status)
	}
	return "failed"
}
