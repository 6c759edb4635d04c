package relay

import (
	"io"
	"net/http"
	"strconv"
	"time"
)

// RetryAfter returns how long a provider's answer asks to wait before the
// next request: Retry-After-Ms (milliseconds, which OpenAI and Anthropic
// send, and their SDKs prefer for its precision), else Retry-After (whole
// seconds, or an HTTP date). It returns 0 when h holds neither, or no
// usable one: malformed, not positive, a date in the past, or more than
// 1e12 milliseconds. A nil h holds nothing.
func RetryAfter(h http.Header) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 && ms < 1e12 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// ReadBody reads a provider's answer, in one allocation when its
// Content-Length is known.
func ReadBody(resp *http.Response) ([]byte, error) {
	if n := resp.ContentLength; n > 0 && n < 1<<30 {
		b := make([]byte, n)
		_, err := io.ReadFull(resp.Body, b)
		return b, err
	}
	return io.ReadAll(resp.Body)
}
