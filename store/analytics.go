package store

import (
	"cmp"
	"context"
	"sort"
	"strings"
	"time"

	"github.com/aiproxy/aiproxy"
)

var _ aiproxy.AnalyticsService = (*Store)(nil)

// Analytics limits.
const (
	maxSeriesPoints = 10_000 // buckets of one series: a week of minutes, a year of hours
	maxRankLimit    = 1000
)

// summaryQuery is one read of the summaries: the table, the filter's
// conditions and the range condition, which picks hourly rows for the
// whole hours of the range and minute rows for its ragged ends.
type summaryQuery struct {
	table string
	where []string
	args  []any
}

// summaryTable returns the table f (and a ranking by by, "" for none)
// reads: the channels' when a channel is named or ranked, else the
// tokens'. Naming both a channel and a group or token is EINVALID.
func summaryTable(f *aiproxy.AnalyticsFilter, by aiproxy.RankBy) (string, error) {
	channel := f.ChannelID != 0 || by == aiproxy.RankChannels
	token := f.GroupID != "" || f.TokenID != 0 || by == aiproxy.RankGroups || by == aiproxy.RankTokens
	switch {
	case channel && token:
		return "", aiproxy.Errorf(aiproxy.EINVALID, "summaries are kept by channel and by group and token: a filter or ranking may use one or the other, not both")
	case channel:
		return "summary_channels", nil
	}
	return "summary_tokens", nil
}

// analyticsRange checks f's range and returns it in unix seconds, widened
// to whole minutes.
func analyticsRange(f *aiproxy.AnalyticsFilter) (from, to int64, err error) {
	if f.From.IsZero() || f.To.IsZero() {
		return 0, 0, aiproxy.FieldErrorf("from", "a range (from and to) is required")
	}
	if !f.To.After(f.From) {
		return 0, 0, aiproxy.FieldErrorf("to", "to must be after from")
	}
	from = f.From.Unix()
	from -= mod(from, spanMinute)
	to = f.To.Unix()
	if f.To.Nanosecond() > 0 {
		to++
	}
	if m := mod(to, spanMinute); m != 0 {
		to += spanMinute - m
	}
	return from, to, nil
}

// newSummaryQuery returns the query of f on table for [from, to): hourly
// rows for the whole hours, minute rows for the rest; the part of the
// range older than MinuteSummaryRetention (whose minutes are deleted) is
// read to the hour.
func newSummaryQuery(f *aiproxy.AnalyticsFilter, table string, from, to int64) *summaryQuery {
	q := &summaryQuery{table: table}
	h1, h2 := from+mod(-from, spanHour), to-mod(to, spanHour)
	cutoff := time.Now().Add(-MinuteSummaryRetention).Unix()
	if from < cutoff {
		h1 = from - mod(from, spanHour)
	}
	if to < cutoff {
		h2 = to + mod(-to, spanHour)
	}
	if h1 < h2 {
		q.where = append(q.where, "((span = ? AND bucket >= ? AND bucket < ?) OR (span = ? AND ((bucket >= ? AND bucket < ?) OR (bucket >= ? AND bucket < ?))))")
		q.args = append(q.args, spanHour, h1, h2, spanMinute, from, h1, h2, to)
	} else {
		q.where = append(q.where, "span = ? AND bucket >= ? AND bucket < ?")
		q.args = append(q.args, spanMinute, from, to)
	}
	q.filter(f)
	return q
}

// filter adds f's key conditions.
func (q *summaryQuery) filter(f *aiproxy.AnalyticsFilter) {
	if f.GroupID != "" {
		q.where = append(q.where, "group_id = ?")
		q.args = append(q.args, f.GroupID)
	}
	if f.TokenID != 0 {
		q.where = append(q.where, "token_id = ?")
		q.args = append(q.args, f.TokenID)
	}
	if f.ChannelID != 0 {
		q.where = append(q.where, "channel_id = ?")
		q.args = append(q.args, f.ChannelID)
	}
	if f.Model != "" {
		q.where = append(q.where, "model = ?")
		q.args = append(q.args, f.Model)
	}
}

// sums is the select list of every counter summed.
var sums = func() string {
	cols := make([]string, len(summaryColumns))
	for i, c := range summaryColumns {
		cols[i] = "COALESCE(SUM(" + c + "), 0)"
	}
	return strings.Join(cols, ", ")
}()

// costSum is the SQL of the summed cost of a group of rows.
var costSum = "SUM(" + strings.Join(summaryColumns[sumCostInput:sumCostRequest+1], " + ") + ")"

// run selects keys (SQL expressions, each scanned into the matching
// pointer of keyDest) and the summed counters, grouped by the keys and
// ordered by order, calling row after each row is scanned into counts.
func (s *Store) run(ctx context.Context, q *summaryQuery, keys []string, order string, limit int, keyDest []any, row func(counts *summaryCounts)) error {
	sel := s.logDB.ro.NewSelect().TableExpr(q.table)
	cols := sums
	if len(keys) > 0 {
		cols = strings.Join(keys, ", ") + ", " + sums
	}
	sel = sel.ColumnExpr(cols).Where(strings.Join(q.where, " AND "), q.args...)
	if len(keys) > 0 {
		sel = sel.GroupExpr(strings.Join(keys, ", "))
	}
	if order != "" {
		sel = sel.OrderExpr(order)
	}
	if limit > 0 {
		sel = sel.Limit(int64(limit))
	}
	rows, err := sel.Rows(ctx)
	if err != nil {
		return err
	}
	defer rows.Close()
	var counts summaryCounts
	dest := append([]any{}, keyDest...)
	for i := range counts {
		dest = append(dest, &counts[i])
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		row(&counts)
	}
	return rows.Err()
}

// UsageTotals implements aiproxy.AnalyticsService.
func (s *Store) UsageTotals(ctx context.Context, f aiproxy.AnalyticsFilter) (aiproxy.UsageStats, error) {
	table, err := summaryTable(&f, "")
	if err != nil {
		return aiproxy.UsageStats{}, err
	}
	from, to, err := analyticsRange(&f)
	if err != nil {
		return aiproxy.UsageStats{}, err
	}
	var st aiproxy.UsageStats
	err = s.run(ctx, newSummaryQuery(&f, table, from, to), nil, "", 0, nil, func(c *summaryCounts) { st = c.stats() })
	return st, wrap("usage totals", err)
}

// UsageRanking implements aiproxy.AnalyticsService.
func (s *Store) UsageRanking(ctx context.Context, f aiproxy.AnalyticsFilter, by aiproxy.RankBy, order aiproxy.RankOrder, limit int) ([]aiproxy.RankEntry, error) {
	if limit < 1 || limit > maxRankLimit {
		return nil, aiproxy.FieldErrorf("limit", "limit must be between 1 and %d", maxRankLimit)
	}
	table, err := summaryTable(&f, by)
	if err != nil {
		return nil, err
	}
	from, to, err := analyticsRange(&f)
	if err != nil {
		return nil, err
	}
	var e aiproxy.RankEntry
	var keys []string
	var dest []any
	switch by {
	case aiproxy.RankGroups:
		keys, dest = []string{"group_id"}, []any{&e.GroupID}
	case aiproxy.RankTokens:
		keys, dest = []string{"group_id", "token_id"}, []any{&e.GroupID, &e.TokenID}
	case aiproxy.RankModels:
		keys, dest = []string{"model"}, []any{&e.Model}
	case aiproxy.RankChannels:
		keys, dest = []string{"channel_id"}, []any{&e.ChannelID}
	default:
		return nil, aiproxy.FieldErrorf("by", "unknown ranking %q", by)
	}
	var metric string
	switch order {
	case aiproxy.OrderCost:
		metric = costSum
	case aiproxy.OrderRequests:
		metric = "SUM(requests)"
	case aiproxy.OrderErrors:
		metric = "SUM(requests) - SUM(successes)"
	default:
		return nil, aiproxy.FieldErrorf("order", "unknown order %q", order)
	}
	var out []aiproxy.RankEntry
	err = s.run(ctx, newSummaryQuery(&f, table, from, to), keys, metric+" DESC, "+strings.Join(keys, ", "), limit, dest, func(c *summaryCounts) {
		e.Stats = c.stats()
		out = append(out, e)
	})
	if err != nil {
		return nil, wrap("usage ranking", err)
	}
	return out, nil
}

// ChannelStats implements aiproxy.AnalyticsService.
func (s *Store) ChannelStats(ctx context.Context, f aiproxy.AnalyticsFilter) ([]aiproxy.ChannelStats, error) {
	table, err := summaryTable(&f, aiproxy.RankChannels)
	if err != nil {
		return nil, err
	}
	from, to, err := analyticsRange(&f)
	if err != nil {
		return nil, err
	}
	var cs aiproxy.ChannelStats
	var out []aiproxy.ChannelStats
	err = s.run(ctx, newSummaryQuery(&f, table, from, to), []string{"channel_id"}, "channel_id", 0, []any{&cs.ChannelID}, func(c *summaryCounts) {
		cs.Stats = c.stats()
		out = append(out, cs)
	})
	if err != nil {
		return nil, wrap("channel stats", err)
	}
	return out, nil
}

// UsageSeries implements aiproxy.AnalyticsService. Buckets of an hour or
// a day are read from the hourly summaries when every bucket starts on a
// whole hour (zones whose offset is whole hours), and from the minute
// ones otherwise (a zone such as Asia/Kolkata) while they are kept;
// beyond MinuteSummaryRetention such a zone's buckets count the hours
// starting in them.
func (s *Store) UsageSeries(ctx context.Context, f aiproxy.AnalyticsFilter, g aiproxy.Granularity, loc *time.Location) ([]aiproxy.UsagePoint, error) {
	table, err := summaryTable(&f, "")
	if err != nil {
		return nil, err
	}
	if _, _, err := analyticsRange(&f); err != nil {
		return nil, err
	}
	loc = cmp.Or(loc, time.UTC)
	var next func(time.Time) time.Time
	var start time.Time
	switch g {
	case aiproxy.GranularityMinute:
		start = f.From.Truncate(time.Minute)
		next = func(t time.Time) time.Time { return t.Add(time.Minute) }
	case aiproxy.GranularityHour:
		start = localHour(f.From, loc)
		next = func(t time.Time) time.Time { return localHour(t.Add(time.Hour), loc) }
	case aiproxy.GranularityDay:
		y, m, d := f.From.In(loc).Date()
		start = time.Date(y, m, d, 0, 0, 0, 0, loc)
		next = func(t time.Time) time.Time {
			y, m, d := t.In(loc).Date()
			return time.Date(y, m, d+1, 0, 0, 0, 0, loc)
		}
	default:
		return nil, aiproxy.FieldErrorf("granularity", "unknown granularity %q", g)
	}
	var points []aiproxy.UsagePoint
	aligned := true // every bucket starts on a whole hour
	for t := start; t.Before(f.To); {
		if len(points) == maxSeriesPoints {
			return nil, aiproxy.FieldErrorf("to", "the range holds over %d buckets of a %s: choose a coarser granularity or a shorter range", maxSeriesPoints, g)
		}
		end := next(t)
		points = append(points, aiproxy.UsagePoint{Start: t, End: end})
		aligned = aligned && t.Unix()%spanHour == 0
		t = end
	}
	from, to := points[0].Start.Unix(), points[len(points)-1].End.Unix()
	span := int64(spanMinute)
	if g != aiproxy.GranularityMinute && (aligned || from < time.Now().Add(-MinuteSummaryRetention).Unix()) {
		span = spanHour
	}
	q := &summaryQuery{table: table, where: []string{"span = ? AND bucket >= ? AND bucket < ?"}, args: []any{span, from - mod(from, span), to}}
	q.filter(&f)
	var bucket int64
	err = s.run(ctx, q, []string{"bucket"}, "bucket", 0, []any{&bucket}, func(c *summaryCounts) {
		// The last point starting at or before the bucket.
		i := sort.Search(len(points), func(i int) bool { return points[i].Start.Unix() > bucket }) - 1
		st := c.stats()
		points[max(i, 0)].Stats.Add(&st)
	})
	if err != nil {
		return nil, wrap("usage series", err)
	}
	return points, nil
}

// localHour returns the start of t's hour on loc's clocks.
func localHour(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return l.Add(-time.Duration(l.Minute())*time.Minute - time.Duration(l.Second())*time.Second - time.Duration(l.Nanosecond()))
}
