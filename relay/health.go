package relay

import (
	"time"

	"github.com/aiproxy/aiproxy"
)

// Health is what routing knows of how each channel fares with each model:
// recent error rates, circuit breakers and parking (a provider's
// Retry-After). The relay reads it for every request and reports every
// attempt to it; store implements it in memory, or shared through Redis so
// that every replica steers alike. Check and Report run on the hot path:
// an implementation answers Check from memory and never blocks Report on
// the network (Redis traffic is batched or asynchronous). It is safe for
// concurrent use.
type Health interface {
	// Check returns the state of channel ch with model now.
	Check(ch int64, model string, now time.Time) aiproxy.HealthState
	// Probe claims the one trial request a half-open breaker lets
	// through; it reports false when another request (on any replica)
	// holds the claim. It is called only when Check said
	// aiproxy.BreakerHalfOpen.
	Probe(ch int64, model string, now time.Time) bool
	// Report records the outcome of one attempt on channel ch with model.
	// p is the channel's breaker policy (see aiproxy.BreakerPolicy; its
	// zero fields take the defaults).
	Report(ch int64, model string, o aiproxy.Outcome, p aiproxy.BreakerPolicy)
}
