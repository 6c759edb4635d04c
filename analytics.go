package aiproxy

import (
	"context"
	"time"
)

// LatencyBuckets are the upper bounds of the latency histogram that
// summaries keep: a request whose Latency is at most LatencyBuckets[i]
// (and above the bound before) counts in bucket i, one slower than the
// last bound in the final, open bucket (index len(LatencyBuckets)). The
// bounds are fixed, since summaries of every replica and every release
// add up bucket by bucket; they run from 25ms, for embeddings and cached
// answers, to 5 minutes, for long generations.
var LatencyBuckets = [...]time.Duration{
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond,
	300 * time.Millisecond, 500 * time.Millisecond, 750 * time.Millisecond, time.Second,
	1500 * time.Millisecond, 2 * time.Second, 3 * time.Second, 5 * time.Second,
	7500 * time.Millisecond, 10 * time.Second, 15 * time.Second, 20 * time.Second,
	30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute,
}

// LatencyHistogram counts requests by latency, in the buckets of
// LatencyBuckets and one more, open bucket for the slower ones.
type LatencyHistogram [len(LatencyBuckets) + 1]int64

// LatencyBucket returns the index in a LatencyHistogram of latency d.
func LatencyBucket(d time.Duration) int {
	// A linear scan: most requests fall in the first dozen buckets, and it
	// is as fast as a binary search over 20 bounds.
	for i, b := range LatencyBuckets {
		if d <= b {
			return i
		}
	}
	return len(LatencyBuckets)
}

// Count returns the requests counted.
func (h *LatencyHistogram) Count() int64 {
	var n int64
	for _, c := range h {
		n += c
	}
	return n
}

// Percentile returns an estimate of the latency under which a share p
// (0 to 1) of the requests counted fall: the bucket holding that rank,
// interpolated linearly between its bounds (the first bucket's lower
// bound is 0). A rank in the open bucket returns the last bound, the
// most the histogram can say. It returns 0 when h counts nothing.
func (h *LatencyHistogram) Percentile(p float64) time.Duration {
	n := h.Count()
	if n == 0 {
		return 0
	}
	p = min(max(p, 0), 1)
	rank := p * float64(n)
	var seen int64
	for i, c := range h {
		if c == 0 || float64(seen+c) < rank {
			seen += c
			continue
		}
		if i == len(LatencyBuckets) {
			return LatencyBuckets[len(LatencyBuckets)-1]
		}
		var lo time.Duration
		if i > 0 {
			lo = LatencyBuckets[i-1]
		}
		hi := LatencyBuckets[i]
		frac := (rank - float64(seen)) / float64(c)
		return lo + time.Duration(frac*float64(hi-lo))
	}
	return LatencyBuckets[len(LatencyBuckets)-1]
}

// UsageStats are the summed counts of a set of requests, as summaries
// keep them.
type UsageStats struct {
	Requests  int64
	Successes int64 // requests without an error
	// Errors4xx are the failed requests answered with a 4xx status, 429s
	// included; Errors429 the 429s among them; Errors5xx those answered
	// with a 5xx. A request that failed otherwise (a stream cut after a
	// 200) is an error of neither kind: Errors counts every one.
	Errors4xx int64
	Errors5xx int64
	Errors429 int64
	Retries   int64 // attempts beyond the first
	Streams   int64 // streamed requests
	Usage     Usage
	Cost      Cost
	// Latency and TTFB are totals over the requests (divide by Requests
	// for a mean).
	Latency   time.Duration
	TTFB      time.Duration
	Histogram LatencyHistogram
}

// Errors returns the failed requests.
func (s *UsageStats) Errors() int64 { return s.Requests - s.Successes }

// ErrorRate returns the share of failed requests, 0 when there were none.
func (s *UsageStats) ErrorRate() float64 {
	if s.Requests == 0 {
		return 0
	}
	return float64(s.Errors()) / float64(s.Requests)
}

// Add adds o's counts to s.
func (s *UsageStats) Add(o *UsageStats) {
	s.Requests += o.Requests
	s.Successes += o.Successes
	s.Errors4xx += o.Errors4xx
	s.Errors5xx += o.Errors5xx
	s.Errors429 += o.Errors429
	s.Retries += o.Retries
	s.Streams += o.Streams
	s.Usage.Add(o.Usage)
	s.Cost.Add(o.Cost)
	s.Latency += o.Latency
	s.TTFB += o.TTFB
	for i, c := range o.Histogram {
		s.Histogram[i] += c
	}
}

// Granularity is the width of the buckets of a usage series.
type Granularity string

const (
	GranularityMinute Granularity = "minute"
	GranularityHour   Granularity = "hour"
	GranularityDay    Granularity = "day" // from one midnight to the next in the series' time zone
)

// AnalyticsFilter selects the summarized requests. Zero fields do not
// filter, except From and To: the range [From, To) is required, to the
// minute (summaries are kept per minute and per hour). Summaries are
// kept by channel × model and by group × token × model, so a filter names
// a channel, or a group and token, not both.
type AnalyticsFilter struct {
	GroupID   string
	TokenID   int64
	ChannelID int64
	Model     string
	From, To  time.Time
}

// UsagePoint is one bucket of a usage series: the requests that arrived
// in [Start, End).
type UsagePoint struct {
	Start, End time.Time
	Stats      UsageStats
}

// RankBy is what a usage ranking ranks.
type RankBy string

const (
	RankGroups   RankBy = "group"
	RankTokens   RankBy = "token"
	RankModels   RankBy = "model"
	RankChannels RankBy = "channel"
)

// RankOrder is what a usage ranking ranks by, highest first.
type RankOrder string

const (
	OrderCost     RankOrder = "cost"
	OrderRequests RankOrder = "requests"
	OrderErrors   RankOrder = "errors"
)

// RankEntry is one line of a usage ranking: the group, token (with its
// group), model or channel ranked, the others zero.
type RankEntry struct {
	GroupID   string
	TokenID   int64
	ChannelID int64
	Model     string
	Stats     UsageStats
}

// ChannelStats are the summarized requests of one channel (ChannelID 0:
// the requests that reached none).
type ChannelStats struct {
	ChannelID int64
	Stats     UsageStats
}

// AnalyticsService reads the usage summaries. Each method returns an
// EINVALID *Error for a malformed filter (no range, To not after From, a
// channel with a group or token, a range too long for the granularity)
// or argument.
type AnalyticsService interface {
	// UsageSeries returns the buckets of granularity g in time zone loc
	// (nil: UTC) from the one holding f.From to the one holding the
	// minute before f.To, empty buckets included, oldest first.
	UsageSeries(ctx context.Context, f AnalyticsFilter, g Granularity, loc *time.Location) ([]UsagePoint, error)
	// UsageTotals returns the sums over f.
	UsageTotals(ctx context.Context, f AnalyticsFilter) (UsageStats, error)
	// UsageRanking returns the limit (1 to 1000) first groups, tokens,
	// models or channels of f by order, highest first, ties by key.
	UsageRanking(ctx context.Context, f AnalyticsFilter, by RankBy, order RankOrder, limit int) ([]RankEntry, error)
	// ChannelStats returns the sums of each channel with requests in f,
	// by channel id; f names no group or token.
	ChannelStats(ctx context.Context, f AnalyticsFilter) ([]ChannelStats, error)
}
