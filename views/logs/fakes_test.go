package logs_test

import (
	"context"
	"sync"

	"github.com/aiproxy/aiproxy"
)

// fakeLogs holds logs in memory, newest (highest id) first, and answers
// LogService queries with the store's rules (every filter field, the
// Before cursor, Limit 0 meaning 50, bodies only with Detail). It records
// every filter it is asked.
type fakeLogs struct {
	mu      sync.Mutex
	logs    []*aiproxy.Log
	filters []aiproxy.LogFilter
	err     error
}

var _ aiproxy.LogService = (*fakeLogs)(nil)

func (f *fakeLogs) Logs(_ context.Context, lf aiproxy.LogFilter) ([]*aiproxy.Log, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filters = append(f.filters, lf)
	if f.err != nil {
		return nil, false, f.err
	}
	limit := lf.Limit
	if limit <= 0 {
		limit = 50
	}
	var out []*aiproxy.Log
	for _, l := range f.logs {
		if !match(lf, l) {
			continue
		}
		if len(out) == limit {
			return out, true, nil
		}
		c := *l
		if !lf.Detail {
			c.RequestBody, c.ResponseBody = "", ""
			c.RequestBodyTruncated, c.ResponseBodyTruncated = false, false
		}
		out = append(out, &c)
	}
	return out, false, nil
}

func match(f aiproxy.LogFilter, l *aiproxy.Log) bool {
	return (f.GroupID == "" || f.GroupID == l.GroupID) &&
		(f.TokenID == 0 || f.TokenID == l.TokenID) &&
		(f.ChannelID == 0 || f.ChannelID == l.ChannelID) &&
		(f.Model == "" || f.Model == l.Model) &&
		(f.RequestID == "" || f.RequestID == l.RequestID) &&
		(f.From.IsZero() || !l.CreatedAt.Before(f.From)) &&
		(f.To.IsZero() || l.CreatedAt.Before(f.To)) &&
		(f.Failed == nil || *f.Failed == (l.Error != "")) &&
		(f.Before == 0 || l.ID < f.Before)
}

// recorded returns the filters asked so far and forgets them.
func (f *fakeLogs) recorded() []aiproxy.LogFilter {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.filters
	f.filters = nil
	return out
}
