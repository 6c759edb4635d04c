package relay

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name     string
		h        http.Header
		min, max time.Duration
	}{
		{"none", http.Header{}, 0, 0},
		{"nil", nil, 0, 0},
		{"seconds", http.Header{"Retry-After": {"3"}}, 3 * time.Second, 3 * time.Second},
		{"zero seconds", http.Header{"Retry-After": {"0"}}, 0, 0},
		{"negative seconds", http.Header{"Retry-After": {"-1"}}, 0, 0},
		{"HTTP date", http.Header{"Retry-After": {time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}}, 59 * time.Minute, time.Hour},
		{"past date", http.Header{"Retry-After": {time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)}}, 0, 0},
		{"malformed", http.Header{"Retry-After": {"soon"}}, 0, 0},
		{"milliseconds first", http.Header{"Retry-After-Ms": {"125"}, "Retry-After": {"3"}}, 125 * time.Millisecond, 125 * time.Millisecond},
		{"fractional milliseconds", http.Header{"Retry-After-Ms": {"1.5"}}, 1500 * time.Microsecond, 1500 * time.Microsecond},
		{"bad milliseconds", http.Header{"Retry-After-Ms": {"x"}, "Retry-After": {"2"}}, 2 * time.Second, 2 * time.Second},
		{"zero milliseconds", http.Header{"Retry-After-Ms": {"0"}, "Retry-After": {"2"}}, 2 * time.Second, 2 * time.Second},
		{"huge milliseconds", http.Header{"Retry-After-Ms": {"1e13"}}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := RetryAfter(tt.h); d < tt.min || d > tt.max {
				t.Errorf("RetryAfter = %v, want %v to %v", d, tt.min, tt.max)
			}
		})
	}
}
