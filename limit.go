package aiproxy

import "time"

// LimitKind is how a Limit counts.
type LimitKind uint8

// Limit kinds.
const (
	// LimitWindow admits while the costs reserved in the last Window (a
	// sliding window of 60 slots of Window/60 each) stay within Max: RPM
	// (cost 1) and TPM (cost: tokens).
	LimitWindow LimitKind = iota
	// LimitConcurrent admits while fewer than Max reservations are open;
	// settling one closes it. An open reservation lapses after Window
	// (its holder died), so a crashed replica leaks nothing for long.
	LimitConcurrent
	// LimitBudget admits while the counter (what was spent, starting at
	// Base when the limiter first sees the key) plus the cost stays
	// within Max, and the counter is below Max: a quota or a balance.
	// Settling adds the difference between the actual and the reserved
	// cost. The counter is kept Window after its last use.
	LimitBudget
)

// Limit is one limit a request is admitted against.
type Limit struct {
	Kind LimitKind
	// Name says what it limits, for errors and headers: "rpm", "tpm",
	// "token_rpm", "token_tpm", "concurrency", "quota", "period_quota",
	// "balance".
	Name string
	// Key identifies the counter, shared by every replica.
	Key    string
	Max    int64
	Cost   int64 // reserved at admission
	Window time.Duration
	Base   int64 // LimitBudget: the counter's value when the key is new
}

// LimitState is a limit as it stood after an admission.
type LimitState struct {
	Remaining int64         // Max less what the window, slots or budget hold now
	Reset     time.Duration // until the window has fully room again (LimitWindow)
}

// Reservation is the answer to an admission: whether the request was
// admitted against every limit (all or none), and what to settle.
type Reservation struct {
	Limits []Limit
	// OK is set when the request was admitted; otherwise nothing is
	// reserved, Denied is the index of the limit that refused it and
	// RetryAfter when to try again (0: not by waiting, for a budget).
	OK         bool
	Denied     int
	RetryAfter time.Duration
	// States are the limits' states, in the order of Limits.
	States []LimitState
	// At and ID identify the reservation for settling: the time its
	// window costs were counted at, and its concurrency slot's id.
	At time.Time
	ID string
}
