package graph

import (
	"context"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/graph/model"
)

// analytics returns the analytics service and the domain filter of in; a
// group caller's filter is forced to its own group (naming another is
// FORBIDDEN).
func (r *Resolver) analytics(ctx context.Context, in model.AnalyticsFilter) (aiproxy.AnalyticsService, aiproxy.AnalyticsFilter, error) {
	f := aiproxy.AnalyticsFilter{Model: deref(in.Model), From: in.From, To: in.To}
	if r.AnalyticsService == nil {
		return nil, f, aiproxy.Errorf(aiproxy.EINTERNAL, "graph: no analytics service")
	}
	if c, ok := groupCaller(ctx); ok {
		if err := ownGroup(c, in.Group); err != nil {
			return nil, f, err
		}
	}
	f.GroupID = scopeGroup(ctx, in.Group)
	var err error
	if in.TokenID != nil {
		if f.TokenID, err = model.ParseID("tokenId", *in.TokenID); err != nil {
			return nil, f, err
		}
	}
	if in.ChannelID != nil {
		if f.ChannelID, err = model.ParseID("channelId", *in.ChannelID); err != nil {
			return nil, f, err
		}
	}
	return r.AnalyticsService, f, nil
}

// usageStats is the API's view of s.
func usageStats(s *aiproxy.UsageStats) *model.UsageStats {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	mean := func(d time.Duration) float64 {
		if s.Requests == 0 {
			return 0
		}
		return ms(d) / float64(s.Requests)
	}
	return &model.UsageStats{
		Requests:            int(s.Requests),
		Successes:           int(s.Successes),
		Errors:              int(s.Errors()),
		Errors4xx:           int(s.Errors4xx),
		Errors5xx:           int(s.Errors5xx),
		Errors429:           int(s.Errors429),
		Retries:             int(s.Retries),
		Streams:             int(s.Streams),
		PromptTokens:        int(s.Usage.PromptTokens),
		CompletionTokens:    int(s.Usage.CompletionTokens),
		CachedTokens:        int(s.Usage.CachedTokens),
		CacheCreationTokens: int(s.Usage.CacheCreationTokens),
		ReasoningTokens:     int(s.Usage.ReasoningTokens),
		TotalTokens:         int(s.Usage.TotalTokens),
		Cost:                s.Cost.Total().Float(),
		ErrorRate:           s.ErrorRate(),
		MeanLatencyMs:       mean(s.Latency),
		MeanTtfbMs:          mean(s.TTFB),
		P50LatencyMs:        ms(s.Histogram.Percentile(0.50)),
		P95LatencyMs:        ms(s.Histogram.Percentile(0.95)),
		P99LatencyMs:        ms(s.Histogram.Percentile(0.99)),
	}
}
