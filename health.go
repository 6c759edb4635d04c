package aiproxy

import "time"

// HealthState is a channel × model as routing sees it at one moment.
type HealthState struct {
	// Breaker is BreakerClosed (use it), BreakerOpen (skip it until
	// OpenUntil) or BreakerHalfOpen (one probe may go: see relay.Health.Probe).
	Breaker   BreakerState
	OpenUntil time.Time
	// ParkedUntil is when a Retry-After the provider sent runs out; the
	// channel is skipped until then. Zero when not parked.
	ParkedUntil time.Time
	// ErrorRate is the share of failed requests in the recent window, 0
	// while fewer than the policy's MinRequests were seen.
	ErrorRate float64
}

// BreakerState is the state of a circuit breaker.
type BreakerState uint8

// Breaker states.
const (
	BreakerClosed BreakerState = iota
	BreakerOpen
	BreakerHalfOpen
)

// String returns "closed", "open" or "half_open".
func (b BreakerState) String() string {
	switch b {
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half_open"
	}
	return "closed"
}

// Outcome is the result of one attempt, as health counts it.
type Outcome struct {
	// At is when the attempt ended.
	At time.Time
	// Failed says the channel failed (a transport error, a timeout, 429,
	// 5xx, or a refusal meaning it cannot serve). A request the client
	// got wrong, or left, is not reported at all.
	Failed bool
	// Fatal opens the breaker at once: the provider refused the channel's
	// credentials (401, 403) or its balance is exhausted (402,
	// insufficient_quota).
	Fatal bool
	// RetryAfter, when positive, parks the channel × model until At +
	// RetryAfter.
	RetryAfter time.Duration
	// Status is the provider's HTTP status, 0 for none; Error says why
	// the attempt failed, for the admin (never a secret).
	Status int
	Error  string
}

// BreakerPolicy configures a breaker; its zero fields take the defaults
// below, which need no tuning: a channel failing every request is opened
// after MinRequests of them (at most 10), and one that recovered gets
// traffic again within a minute (the cool-down is capped below it).
type BreakerPolicy struct {
	// Threshold is the error rate at or above which the breaker opens.
	// 0 means 0.5.
	Threshold float64
	// MinRequests is how many requests the window must hold before its
	// error rate counts. 0 means 5.
	MinRequests int
	// Window is the span error rates are counted over. 0 means 1 minute.
	Window time.Duration
	// Cooldown is how long the breaker first stays open; each failed
	// probe doubles it, up to MaxCooldown; both get ±20% jitter. 0 means
	// 5 seconds and 40 seconds.
	Cooldown, MaxCooldown time.Duration
}

// Default breaker policy.
const (
	DefaultBreakerThreshold   = 0.5
	DefaultBreakerMinRequests = 5
	DefaultBreakerWindow      = time.Minute
	DefaultBreakerCooldown    = 5 * time.Second
	DefaultBreakerMaxCooldown = 40 * time.Second
)

// WithDefaults returns p with its zero fields set to the defaults.
func (p BreakerPolicy) WithDefaults() BreakerPolicy {
	if p.Threshold <= 0 {
		p.Threshold = DefaultBreakerThreshold
	}
	if p.MinRequests <= 0 {
		p.MinRequests = DefaultBreakerMinRequests
	}
	if p.Window <= 0 {
		p.Window = DefaultBreakerWindow
	}
	if p.Cooldown <= 0 {
		p.Cooldown = DefaultBreakerCooldown
	}
	if p.MaxCooldown <= 0 {
		p.MaxCooldown = DefaultBreakerMaxCooldown
	}
	p.MaxCooldown = max(p.MaxCooldown, p.Cooldown)
	return p
}

// ChannelHealth is the health of one channel × model, for the admin.
type ChannelHealth struct {
	ChannelID   int64
	Model       string
	State       HealthState
	Requests    int // in the window
	Failures    int // in the window
	LastError   string
	LastErrorAt time.Time
	// OpenReason says why the breaker opened ("" while closed).
	OpenReason string
}
