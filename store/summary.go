package store

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"

	"github.com/aiproxy/aiproxy"
)

var _ aiproxy.LogRecorder = (*Summarizer)(nil)

// Summary spans, the widths of the buckets kept, in seconds.
const (
	spanMinute = 60
	spanHour   = 3600
)

// MinuteSummaryRetention is how long per-minute summaries are kept; the
// hourly ones are kept for good. Older ranges are read to the hour.
const MinuteSummaryRetention = 7 * 24 * time.Hour

// summaryBatchRetention is how long the ids of applied batches are kept:
// far longer than any batch is retried.
const summaryBatchRetention = 7 * 24 * time.Hour

// summaryColumns are the counters of a summary row, in the order of
// summaryCounts: requests and outcomes, usage, cost (nanos), latency and
// TTFB totals (µs), and the latency histogram (aiproxy.LatencyBuckets).
var summaryColumns = [...]string{
	"requests", "successes", "errors_4xx", "errors_5xx", "errors_429", "retries", "streams",
	"prompt_tokens", "completion_tokens", "cached_tokens", "cache_creation_tokens", "cache_creation_1h_tokens",
	"image_input_tokens", "audio_input_tokens", "reasoning_tokens", "image_output_tokens", "audio_output_tokens",
	"total_tokens", "billable_requests",
	"cost_input", "cost_cached_input", "cost_cache_write", "cost_cache_write_1h", "cost_image_input", "cost_audio_input",
	"cost_output", "cost_reasoning", "cost_image_output", "cost_audio_output", "cost_request",
	"latency_us", "ttfb_us",
	"latency_b00", "latency_b01", "latency_b02", "latency_b03", "latency_b04", "latency_b05", "latency_b06",
	"latency_b07", "latency_b08", "latency_b09", "latency_b10", "latency_b11", "latency_b12", "latency_b13",
	"latency_b14", "latency_b15", "latency_b16", "latency_b17", "latency_b18", "latency_b19", "latency_b20",
}

// Indexes into summaryCounts.
const (
	sumRequests = iota
	sumSuccesses
	sum4xx
	sum5xx
	sum429
	sumRetries
	sumStreams
	sumPrompt
	sumCompletion
	sumCached
	sumCacheCreation
	sumCacheCreation1h
	sumImageInput
	sumAudioInput
	sumReasoning
	sumImageOutput
	sumAudioOutput
	sumTotal
	sumBillable
	sumCostInput
	sumCostCachedInput
	sumCostCacheWrite
	sumCostCacheWrite1h
	sumCostImageInput
	sumCostAudioInput
	sumCostOutput
	sumCostReasoning
	sumCostImageOutput
	sumCostAudioOutput
	sumCostRequest
	sumLatency
	sumTTFB
	sumHistogram // the first of the histogram's buckets
)

const numSummaryColumns = sumHistogram + len(aiproxy.LatencyHistogram{})

// The columns must be as many as the counters.
var _ [numSummaryColumns]struct{} = [len(summaryColumns)]struct{}{}

// summaryCounts are the counters of one summary key.
type summaryCounts [numSummaryColumns]int64

func (c *summaryCounts) add(d *summaryCounts) {
	for i, v := range d {
		c[i] += v
	}
}

// countsOf sets c to the counts of one request.
func countsOf(l *aiproxy.Log, c *summaryCounts) {
	c[sumRequests] = 1
	if l.Error == "" {
		c[sumSuccesses] = 1
	} else {
		switch {
		case l.StatusCode >= 500:
			c[sum5xx] = 1
		case l.StatusCode >= 400:
			c[sum4xx] = 1
			if l.StatusCode == 429 {
				c[sum429] = 1
			}
		}
	}
	if len(l.Attempts) > 1 {
		c[sumRetries] = int64(len(l.Attempts) - 1)
	}
	if l.Stream {
		c[sumStreams] = 1
	}
	u := &l.Usage
	c[sumPrompt], c[sumCompletion], c[sumCached] = u.PromptTokens, u.CompletionTokens, u.CachedTokens
	c[sumCacheCreation], c[sumCacheCreation1h] = u.CacheCreationTokens, u.CacheCreation1hTokens
	c[sumImageInput], c[sumAudioInput], c[sumReasoning] = u.ImageInputTokens, u.AudioInputTokens, u.ReasoningTokens
	c[sumImageOutput], c[sumAudioOutput] = u.ImageOutputTokens, u.AudioOutputTokens
	c[sumTotal], c[sumBillable] = u.TotalTokens, u.Requests
	k := &l.Cost
	c[sumCostInput], c[sumCostCachedInput] = int64(k.Input), int64(k.CachedInput)
	c[sumCostCacheWrite], c[sumCostCacheWrite1h] = int64(k.CacheWrite), int64(k.CacheWrite1h)
	c[sumCostImageInput], c[sumCostAudioInput] = int64(k.ImageInput), int64(k.AudioInput)
	c[sumCostOutput], c[sumCostReasoning] = int64(k.Output), int64(k.Reasoning)
	c[sumCostImageOutput], c[sumCostAudioOutput], c[sumCostRequest] = int64(k.ImageOutput), int64(k.AudioOutput), int64(k.Request)
	c[sumLatency], c[sumTTFB] = l.Latency.Microseconds(), l.TTFB.Microseconds()
	c[sumHistogram+aiproxy.LatencyBucket(l.Latency)] = 1
}

// stats converts counts to the domain's.
func (c *summaryCounts) stats() aiproxy.UsageStats {
	s := aiproxy.UsageStats{
		Requests: c[sumRequests], Successes: c[sumSuccesses],
		Errors4xx: c[sum4xx], Errors5xx: c[sum5xx], Errors429: c[sum429],
		Retries: c[sumRetries], Streams: c[sumStreams],
		Usage: aiproxy.Usage{
			PromptTokens: c[sumPrompt], CompletionTokens: c[sumCompletion], CachedTokens: c[sumCached],
			CacheCreationTokens: c[sumCacheCreation], CacheCreation1hTokens: c[sumCacheCreation1h],
			ImageInputTokens: c[sumImageInput], AudioInputTokens: c[sumAudioInput], ReasoningTokens: c[sumReasoning],
			ImageOutputTokens: c[sumImageOutput], AudioOutputTokens: c[sumAudioOutput],
			TotalTokens: c[sumTotal], Requests: c[sumBillable],
		},
		Cost: aiproxy.Cost{
			Input: aiproxy.Amount(c[sumCostInput]), CachedInput: aiproxy.Amount(c[sumCostCachedInput]),
			CacheWrite: aiproxy.Amount(c[sumCostCacheWrite]), CacheWrite1h: aiproxy.Amount(c[sumCostCacheWrite1h]),
			ImageInput: aiproxy.Amount(c[sumCostImageInput]), AudioInput: aiproxy.Amount(c[sumCostAudioInput]),
			Output: aiproxy.Amount(c[sumCostOutput]), Reasoning: aiproxy.Amount(c[sumCostReasoning]),
			ImageOutput: aiproxy.Amount(c[sumCostImageOutput]), AudioOutput: aiproxy.Amount(c[sumCostAudioOutput]),
			Request: aiproxy.Amount(c[sumCostRequest]),
		},
		Latency: time.Duration(c[sumLatency]) * time.Microsecond,
		TTFB:    time.Duration(c[sumTTFB]) * time.Microsecond,
	}
	copy(s.Histogram[:], c[sumHistogram:])
	return s
}

// channelKey and tokenKey are the keys of the summaries, at the start of
// their bucket (unix seconds).
type channelKey struct {
	bucket  int64
	channel int64
	model   string
}

type tokenKey struct {
	bucket int64
	group  string
	token  int64
	model  string
}

// summaryBatch is the minute summaries of one flush; the hourly ones are
// rolled up from them when the batch is written.
type summaryBatch struct {
	id       string
	channels map[channelKey]*summaryCounts
	tokens   map[tokenKey]*summaryCounts
}

func newSummaryBatch() *summaryBatch {
	var b [16]byte
	rand.Read(b[:])
	return &summaryBatch{id: hex.EncodeToString(b[:]), channels: map[channelKey]*summaryCounts{}, tokens: map[tokenKey]*summaryCounts{}}
}

func (b *summaryBatch) keys() int { return len(b.channels) + len(b.tokens) }

// SummarizerOptions tunes a Summarizer; zero fields take the defaults.
type SummarizerOptions struct {
	FlushInterval time.Duration // how often summaries are written; 0 means 10s
}

// SummarizerStats counts what a Summarizer did.
type SummarizerStats struct {
	Logs    int64 // logs summarized
	Batches int64 // batches written
	Retries int64 // batch writes that failed and were tried again
	Pending int   // summary keys not yet written
}

// Summarizer is the LogRecorder of the usage summaries that dashboards
// read (AnalyticsService): for each minute and hour, by channel × model
// and by group × token × model, the requests and their outcomes, usage,
// cost, latency and TTFB totals and a latency histogram. Record adds a
// log to the minute's counters in memory; every FlushInterval one
// transaction adds them, and the hours they roll up to, to the log
// database with upserts that increment, so that replicas add up. Like
// the Ledger's, a batch is recorded by a random id (summary_batches) in
// its transaction, so a batch written again after a lost commit counts
// once; a batch that fails is written again, first, with backoff, until
// it succeeds or Close runs out of time. Close writes everything held.
type Summarizer struct {
	db       *bun.DB
	dialect  string
	interval time.Duration

	mu      sync.Mutex
	pending *summaryBatch

	writeMu sync.Mutex    // one write at a time
	failed  *summaryBatch // under writeMu
	cleaned time.Time     // when old batch ids and minutes were last deleted; under writeMu

	stop chan struct{}
	done chan struct{}
	once sync.Once

	logs, batches, retries atomic.Int64
}

// NewSummarizer starts a Summarizer writing to s's log database. Close it
// to write what it holds.
func NewSummarizer(s *Store, opts SummarizerOptions) *Summarizer {
	z := &Summarizer{
		db:       s.logDB.rw,
		dialect:  s.logDB.dialect,
		interval: cmp.Or(max(opts.FlushInterval, 0), 10*time.Second),
		pending:  newSummaryBatch(),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go z.run()
	return z
}

// Record adds l to the summaries of the minute it arrived in (now, when
// l has no time). It does no database work and allocates only for a key
// new since the last flush.
func (z *Summarizer) Record(l *aiproxy.Log) {
	var d summaryCounts
	countsOf(l, &d)
	at := l.CreatedAt.Unix()
	if l.CreatedAt.IsZero() {
		at = time.Now().Unix()
	}
	bucket := at - mod(at, spanMinute)
	model, group := text(l.Model, 256), text(l.GroupID, 64)
	z.logs.Add(1)
	z.mu.Lock()
	b := z.pending
	ck := channelKey{bucket, l.ChannelID, model}
	c := b.channels[ck]
	if c == nil {
		c = new(summaryCounts)
		b.channels[ck] = c
	}
	c.add(&d)
	tk := tokenKey{bucket, group, l.TokenID, model}
	t := b.tokens[tk]
	if t == nil {
		t = new(summaryCounts)
		b.tokens[tk] = t
	}
	t.add(&d)
	z.mu.Unlock()
}

// mod is the remainder of a by n, never negative.
func mod(a, n int64) int64 { return (a%n + n) % n }

// Stats returns the counters of z.
func (z *Summarizer) Stats() SummarizerStats {
	z.mu.Lock()
	n := z.pending.keys()
	z.mu.Unlock()
	z.writeMu.Lock()
	if z.failed != nil {
		n += z.failed.keys()
	}
	z.writeMu.Unlock()
	return SummarizerStats{Logs: z.logs.Load(), Batches: z.batches.Load(), Retries: z.retries.Load(), Pending: n}
}

func (z *Summarizer) run() {
	defer close(z.done)
	flushEvery(z.stop, z.interval, "usage summaries", func(ctx context.Context) error {
		err := z.Flush(ctx)
		if err == nil {
			z.clean(ctx)
		}
		return err
	})
}

// Flush writes what z holds now: a batch that failed before, then the
// logs recorded since. On failure the batch is kept for the next flush.
func (z *Summarizer) Flush(ctx context.Context) error {
	z.writeMu.Lock()
	defer z.writeMu.Unlock()
	if z.failed != nil {
		if err := z.write(ctx, z.failed); err != nil {
			z.retries.Add(1)
			return err
		}
		z.failed = nil
	}
	z.mu.Lock()
	b := z.pending
	z.pending = newSummaryBatch()
	z.mu.Unlock()
	if b.keys() == 0 {
		return nil
	}
	if err := z.write(ctx, b); err != nil {
		z.failed = b
		return err
	}
	return nil
}

// summaryRow is one row to upsert: its key values, then its counters.
type summaryRow struct {
	key    []any
	counts *summaryCounts
}

// write applies b, minutes and the hours they roll up to, in one
// transaction.
func (z *Summarizer) write(ctx context.Context, b *summaryBatch) error {
	channels := make([]summaryRow, 0, 2*len(b.channels))
	hours := map[channelKey]*summaryCounts{}
	for k, c := range b.channels {
		channels = append(channels, summaryRow{[]any{spanMinute, k.bucket, k.channel, k.model}, c})
		hk := k
		hk.bucket -= mod(k.bucket, spanHour)
		if h := hours[hk]; h != nil {
			h.add(c)
		} else {
			h := *c
			hours[hk] = &h
		}
	}
	for k, c := range hours {
		channels = append(channels, summaryRow{[]any{spanHour, k.bucket, k.channel, k.model}, c})
	}
	tokens := make([]summaryRow, 0, 2*len(b.tokens))
	tokenHours := map[tokenKey]*summaryCounts{}
	for k, c := range b.tokens {
		tokens = append(tokens, summaryRow{[]any{spanMinute, k.bucket, k.group, k.token, k.model}, c})
		hk := k
		hk.bucket -= mod(k.bucket, spanHour)
		if h := tokenHours[hk]; h != nil {
			h.add(c)
		} else {
			h := *c
			tokenHours[hk] = &h
		}
	}
	for k, c := range tokenHours {
		tokens = append(tokens, summaryRow{[]any{spanHour, k.bucket, k.group, k.token, k.model}, c})
	}
	// In key order, so that replicas lock rows alike.
	for _, rows := range [][]summaryRow{channels, tokens} {
		slices.SortFunc(rows, func(x, y summaryRow) int { return compareKeys(x.key, y.key) })
	}
	err := z.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		// First, so that a batch written before fails here as a duplicate.
		if _, err := tx.ExecContext(ctx, `INSERT INTO summary_batches (id, created_at) VALUES (?, ?)`, b.id, time.Now().Unix()); err != nil {
			if violation(err) == violationUnique {
				return errApplied
			}
			return err
		}
		if err := z.upsert(ctx, tx, "summary_channels", []string{"span", "bucket", "channel_id", "model"}, channels); err != nil {
			return err
		}
		return z.upsert(ctx, tx, "summary_tokens", []string{"span", "bucket", "group_id", "token_id", "model"}, tokens)
	})
	if errors.Is(err, errApplied) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: write usage summaries: %w", err)
	}
	z.batches.Add(1)
	return nil
}

func compareKeys(x, y []any) int {
	for i := range x {
		var c int
		switch a := x[i].(type) {
		case int:
			c = cmp.Compare(a, y[i].(int))
		case int64:
			c = cmp.Compare(a, y[i].(int64))
		case string:
			c = cmp.Compare(a, y[i].(string))
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// summaryRowsPerStatement bounds the rows of one upsert: with 58 values
// a row, far below every engine's limits.
const summaryRowsPerStatement = 100

// upsert adds rows to table, whose primary key is keyCols: a new key is
// inserted, an existing one has the counters added
// (x = x + excluded.x, MySQL's x = x + VALUES(x)).
func (z *Summarizer) upsert(ctx context.Context, tx bun.Tx, table string, keyCols []string, rows []summaryRow) error {
	q := func(s string) string {
		if z.dialect == MySQL {
			return "`" + s + "`"
		}
		return `"` + s + `"`
	}
	var head, tail strings.Builder
	head.WriteString("INSERT INTO " + q(table) + " (")
	for i, c := range keyCols {
		if i > 0 {
			head.WriteString(", ")
		}
		head.WriteString(q(c))
	}
	for _, c := range summaryColumns {
		head.WriteString(", " + q(c))
	}
	head.WriteString(") VALUES ")
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(keyCols)+len(summaryColumns)), ", ") + ")"
	if z.dialect == MySQL {
		tail.WriteString(" ON DUPLICATE KEY UPDATE ")
		for i, c := range summaryColumns {
			if i > 0 {
				tail.WriteString(", ")
			}
			fmt.Fprintf(&tail, "%s = %s + VALUES(%s)", q(c), q(c), q(c))
		}
	} else {
		tail.WriteString(" ON CONFLICT (")
		for i, c := range keyCols {
			if i > 0 {
				tail.WriteString(", ")
			}
			tail.WriteString(q(c))
		}
		tail.WriteString(") DO UPDATE SET ")
		for i, c := range summaryColumns {
			if i > 0 {
				tail.WriteString(", ")
			}
			fmt.Fprintf(&tail, "%s = %s.%s + excluded.%s", q(c), q(table), q(c), q(c))
		}
	}
	for len(rows) > 0 {
		n := min(len(rows), summaryRowsPerStatement)
		var stmt strings.Builder
		stmt.WriteString(head.String())
		args := make([]any, 0, n*(len(keyCols)+len(summaryColumns)))
		for i, r := range rows[:n] {
			if i > 0 {
				stmt.WriteString(", ")
			}
			stmt.WriteString(one)
			args = append(args, r.key...)
			for _, v := range r.counts {
				args = append(args, v)
			}
		}
		stmt.WriteString(tail.String())
		if _, err := tx.ExecContext(ctx, stmt.String(), args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// clean deletes, at most once an hour, the ids of batches too old to be
// retried and the minute summaries past MinuteSummaryRetention. Failures
// are logged: the next hour tries again.
func (z *Summarizer) clean(ctx context.Context) {
	z.writeMu.Lock()
	defer z.writeMu.Unlock()
	if time.Since(z.cleaned) < time.Hour {
		return
	}
	z.cleaned = time.Now()
	now := time.Now()
	if _, err := z.db.ExecContext(ctx, `DELETE FROM summary_batches WHERE created_at < ?`, now.Add(-summaryBatchRetention).Unix()); err != nil {
		slog.Warn("store: delete old summary batch ids", "err", err)
	}
	for _, table := range []string{"summary_channels", "summary_tokens"} {
		if _, err := z.db.ExecContext(ctx, `DELETE FROM `+table+` WHERE span = ? AND bucket < ?`, spanMinute, now.Add(-MinuteSummaryRetention).Unix()); err != nil {
			slog.Warn("store: delete old minute summaries", "table", table, "err", err)
		}
	}
}

// Close stops the periodic flush and writes everything held, retrying
// with backoff until ctx ends. It returns an error saying how many
// summary keys could not be written. Logs recorded after Close are not
// written.
func (z *Summarizer) Close(ctx context.Context) error {
	z.once.Do(func() { close(z.stop) })
	<-z.done
	backoff := firstBackoff
	for {
		err := z.Flush(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			z.writeMu.Lock()
			n := 0
			if z.failed != nil {
				n = z.failed.keys()
			}
			z.writeMu.Unlock()
			return fmt.Errorf("store: close summarizer: %d summary keys not written: %w", n, err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}
