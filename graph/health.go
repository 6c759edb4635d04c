package graph

import (
	"strconv"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/graph/model"
	"github.com/aiproxy/aiproxy/relay"
)

// parseID is model.ParseID, for resolvers whose arguments shadow the
// package name.
func parseID(field, id string) (int64, error) { return model.ParseID(field, id) }

// optionalTime returns nil for the zero time.
func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// healthNode is the GraphQL view of h at now.
func healthNode(h *aiproxy.ChannelHealth, now time.Time) *model.ChannelHealth {
	n := &model.ChannelHealth{
		ChannelID: strconv.FormatInt(h.ChannelID, 10),
		Model:     h.Model,
		Breaker:   model.BreakerStateClosed,
		ErrorRate: h.State.ErrorRate,
		Requests:  h.Requests,
		Failures:  h.Failures,
		LastError: optional(h.LastError),
	}
	switch h.State.Breaker {
	case aiproxy.BreakerOpen:
		n.Breaker = model.BreakerStateOpen
		n.OpenUntil = optionalTime(h.State.OpenUntil)
		n.OpenReason = optional(h.OpenReason)
	case aiproxy.BreakerHalfOpen:
		n.Breaker = model.BreakerStateHalfOpen
		n.OpenReason = optional(h.OpenReason)
	}
	if h.State.ParkedUntil.After(now) {
		n.ParkedUntil = optionalTime(h.State.ParkedUntil)
	}
	n.LastErrorAt = optionalTime(h.LastErrorAt)
	return n
}

func testResult(t *relay.ChannelTest) *model.ChannelTestResult {
	res := &model.ChannelTestResult{
		Ok:               t.OK,
		LatencyMs:        int(t.Latency / time.Millisecond),
		Answer:           optional(t.Answer),
		Error:            optional(t.Error),
		PromptTokens:     int(t.Usage.PromptTokens),
		CompletionTokens: int(t.Usage.CompletionTokens),
	}
	if t.Status != 0 {
		st := t.Status
		res.Status = &st
	}
	return res
}

// seconds returns a duration given in seconds, or EINVALID naming field
// when it is negative or not finite.
func seconds(field string, v float64) (time.Duration, error) {
	if v < 0 || v > 1e6 || v != v {
		return 0, aiproxy.FieldErrorf(field, "%s must be between 0 and 1000000", field)
	}
	return time.Duration(v * float64(time.Second)), nil
}
