package graph

import "time"

// SetTokenRecheck sets how often handlers made from now on check again a
// group token that holds a subscription, until the test ends.
func SetTokenRecheck(tb interface{ Cleanup(func()) }, d time.Duration) {
	old := tokenRecheck
	tokenRecheck = d
	tb.Cleanup(func() { tokenRecheck = old })
}
