package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aiproxy/aiproxy"
)

// slots is the number of slots of a sliding window.
const slots = 60

// MemoryLimiter keeps limits in this process's memory: the limiter of a
// gateway without Redis. It admits against every limit of a request
// atomically (one mutex), with the semantics aiproxy.LimitKind documents.
// It is safe for concurrent use; idle counters are dropped.
type MemoryLimiter struct {
	mu       sync.Mutex
	windows  map[string]*window
	slotsOf  map[string]map[string]time.Time // open concurrency reservations by key: id → lapse time
	budgets  map[string]*budget
	lastSwep time.Time
}

type window struct {
	at    [slots]int64 // slot number of each ring entry
	sum   [slots]int64
	until time.Time // dropped after this, when idle
}

type budget struct {
	used  int64
	until time.Time
}

// NewMemoryLimiter returns an empty MemoryLimiter.
func NewMemoryLimiter() *MemoryLimiter {
	return &MemoryLimiter{windows: map[string]*window{}, slotsOf: map[string]map[string]time.Time{}, budgets: map[string]*budget{}}
}

// slotWidth is the width of one slot of a window, at least 1ms.
func slotWidth(w time.Duration) time.Duration { return max(w/slots, time.Millisecond) }

// windowSum returns what w holds in the window ending in slot now, and
// the slot number of its oldest non-empty slot (-1 when empty).
func (w *window) windowSum(now int64) (sum, oldest int64) {
	oldest = -1
	for i := range w.at {
		if w.sum[i] != 0 && w.at[i] > now-slots && w.at[i] <= now {
			sum += w.sum[i]
			if oldest < 0 || w.at[i] < oldest {
				oldest = w.at[i]
			}
		}
	}
	return sum, oldest
}

// retryAfter returns how long until the window ending at slot now has
// room for cost: until enough of its oldest slots have left it.
func (w *window) retryAfter(now, sum, cost, max int64, width time.Duration, at time.Time) time.Duration {
	if cost > max {
		return 0
	}
	for s := now - slots + 1; s <= now; s++ {
		for i := range w.at {
			if w.at[i] == s {
				sum -= w.sum[i]
			}
		}
		if sum+cost <= max {
			free := time.UnixMilli(0).Add(time.Duration(s+slots) * width)
			return max64(free.Sub(at), time.Millisecond)
		}
	}
	return width
}

func max64(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

// Reserve implements relay.Limiter.
func (m *MemoryLimiter) Reserve(_ context.Context, lims []aiproxy.Limit, now time.Time) (*aiproxy.Reservation, error) {
	r := &aiproxy.Reservation{Limits: lims, Denied: -1, At: now, States: make([]aiproxy.LimitState, len(lims))}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(now)
	// Check every limit first: a refusal reserves nothing.
	for i := range lims {
		l := &lims[i]
		switch l.Kind {
		case aiproxy.LimitWindow:
			width := slotWidth(l.Window)
			slot := now.UnixMilli() / width.Milliseconds()
			w := m.windows[l.Key]
			var sum, oldest int64 = 0, -1
			if w != nil {
				sum, oldest = w.windowSum(slot)
			}
			r.States[i] = aiproxy.LimitState{Remaining: l.Max - sum, Reset: resetOf(oldest, slot, width, now)}
			if sum+l.Cost > l.Max && r.Denied < 0 {
				r.Denied = i
				if w != nil {
					r.RetryAfter = w.retryAfter(slot, sum, l.Cost, l.Max, width, now)
				} else {
					r.RetryAfter = 0
				}
			}
		case aiproxy.LimitConcurrent:
			open := 0
			for _, lapse := range m.slotsOf[l.Key] {
				if lapse.After(now) {
					open++
				}
			}
			r.States[i] = aiproxy.LimitState{Remaining: l.Max - int64(open)}
			if int64(open) >= l.Max && r.Denied < 0 {
				r.Denied, r.RetryAfter = i, time.Second
			}
		case aiproxy.LimitBudget:
			used := l.Base
			if b := m.budgets[l.Key]; b != nil {
				used = b.used
			}
			r.States[i] = aiproxy.LimitState{Remaining: l.Max - used}
			if (used >= l.Max || used+l.Cost > l.Max) && r.Denied < 0 {
				r.Denied, r.RetryAfter = i, 0
			}
		}
	}
	if r.Denied >= 0 {
		return r, nil
	}
	r.OK = true
	for i := range lims {
		l := &lims[i]
		switch l.Kind {
		case aiproxy.LimitWindow:
			width := slotWidth(l.Window)
			slot := now.UnixMilli() / width.Milliseconds()
			w := m.windows[l.Key]
			if w == nil {
				w = &window{}
				m.windows[l.Key] = w
			}
			j := int(slot % slots)
			if w.at[j] != slot {
				w.at[j], w.sum[j] = slot, 0
			}
			w.sum[j] += l.Cost
			w.until = now.Add(l.Window + width)
			r.States[i].Remaining -= l.Cost
			if r.States[i].Reset == 0 { // the window held nothing before: it is empty again when this slot leaves it
				r.States[i].Reset = resetOf(slot, slot, width, now)
			}
		case aiproxy.LimitConcurrent:
			if r.ID == "" {
				r.ID = newReservationID()
			}
			open := m.slotsOf[l.Key]
			if open == nil {
				open = map[string]time.Time{}
				m.slotsOf[l.Key] = open
			}
			open[r.ID] = now.Add(l.Window)
			r.States[i].Remaining--
		case aiproxy.LimitBudget:
			b := m.budgets[l.Key]
			if b == nil {
				b = &budget{used: l.Base}
				m.budgets[l.Key] = b
			}
			b.used += l.Cost
			b.until = now.Add(l.Window)
			r.States[i].Remaining -= l.Cost
		}
	}
	return r, nil
}

// resetOf is how long until a window whose oldest counted slot is oldest
// (-1: none) is empty again.
func resetOf(oldest, slot int64, width time.Duration, now time.Time) time.Duration {
	if oldest < 0 {
		return 0
	}
	end := time.UnixMilli(0).Add(time.Duration(oldest+slots) * width)
	return max64(end.Sub(now), 0)
}

// Settle implements relay.Limiter.
func (m *MemoryLimiter) Settle(_ context.Context, r *aiproxy.Reservation, costs []int64) error {
	if r == nil || !r.OK {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range r.Limits {
		l := &r.Limits[i]
		delta := int64(0)
		if i < len(costs) {
			delta = costs[i] - l.Cost
		}
		switch l.Kind {
		case aiproxy.LimitWindow:
			width := slotWidth(l.Window)
			slot := r.At.UnixMilli() / width.Milliseconds()
			if w := m.windows[l.Key]; w != nil && delta != 0 {
				if j := int(slot % slots); w.at[j] == slot {
					w.sum[j] += delta
				}
			}
		case aiproxy.LimitConcurrent:
			if open := m.slotsOf[l.Key]; open != nil {
				delete(open, r.ID)
			}
		case aiproxy.LimitBudget:
			if b := m.budgets[l.Key]; b != nil {
				b.used += delta
			}
		}
	}
	return nil
}

// sweep drops idle counters, at most once a minute.
func (m *MemoryLimiter) sweep(now time.Time) {
	if now.Sub(m.lastSwep) < time.Minute {
		return
	}
	m.lastSwep = now
	for k, w := range m.windows {
		if now.After(w.until) {
			delete(m.windows, k)
		}
	}
	for k, open := range m.slotsOf {
		for id, lapse := range open {
			if !lapse.After(now) {
				delete(open, id)
			}
		}
		if len(open) == 0 {
			delete(m.slotsOf, k)
		}
	}
	for k, b := range m.budgets {
		if now.After(b.until) {
			delete(m.budgets, k)
		}
	}
}

// reservationPrefix makes this process's reservation ids unique among
// replicas; reservationSeq among its own.
var (
	reservationPrefix = func() string {
		var b [8]byte
		rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}()
	reservationSeq atomic.Uint64
)

// newReservationID returns an id for a concurrency slot, unique across
// replicas, without a system call.
func newReservationID() string {
	return reservationPrefix + strconv.FormatUint(reservationSeq.Add(1), 36)
}
