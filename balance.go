package aiproxy

import "time"

// Balance is a channel's remaining prepaid credit at its provider, as the
// provider reported it.
type Balance struct {
	Amount    float64 // in Currency
	Currency  string  // ISO 4217, e.g. "USD", "CNY"; "" when the provider says none
	CheckedAt time.Time
}
