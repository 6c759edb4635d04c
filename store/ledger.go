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
	"sync"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"

	"github.com/aiproxy/aiproxy"
)

var _ aiproxy.Charger = (*Ledger)(nil)

// LedgerOptions tunes a Ledger; zero fields take the defaults.
type LedgerOptions struct {
	FlushInterval time.Duration // how often charges are written; 0 means 1s
}

// LedgerStats counts what a Ledger did.
type LedgerStats struct {
	Charges int64 // charges taken
	Batches int64 // batches written
	Retries int64 // batch writes that failed and were tried again
	Pending int   // tokens and groups with charges not yet written
}

// Ledger keeps the used amounts and request counts of tokens and groups.
// Charge only adds to totals in memory; every FlushInterval one
// transaction adds them to the database, with increments (never a
// read-modify-write, so replicas and admin edits do not race it). A
// batch is recorded by a random id in ledger_batches in the same
// transaction: a batch whose commit was lost in transit and is written
// again is found there and not applied twice. A batch that fails is kept
// and written again, before newer charges, until it succeeds or Close
// runs out of time. Close writes everything still held.
type Ledger struct {
	db       *bun.DB
	interval time.Duration

	mu      sync.Mutex
	pending *ledgerBatch // charges not yet in a batch being written

	writeMu sync.Mutex   // one write at a time
	failed  *ledgerBatch // a batch that failed, written again first; under writeMu

	stop chan struct{}
	done chan struct{}
	once sync.Once

	charges, batches, retries atomic.Int64
}

// ledgerBatch is the charges of one flush, summed.
type ledgerBatch struct {
	id     string
	tokens map[tokenPeriod]*ledgerSum
	groups map[string]*ledgerSum
}

type tokenPeriod struct {
	id    int64
	start int64 // unix micros of the period's start; 0 when the token has none
}

// ledgerBatchRow records a batch written.
type ledgerBatchRow struct {
	bun.BaseModel `bun:"table:ledger_batches"`

	ID        string    `bun:"id,pk"`
	CreatedAt time.Time `bun:"created_at"`
}

type ledgerSum struct {
	amount   aiproxy.Amount
	requests int64
}

func newLedgerBatch() *ledgerBatch {
	var b [16]byte
	rand.Read(b[:])
	return &ledgerBatch{id: hex.EncodeToString(b[:]), tokens: map[tokenPeriod]*ledgerSum{}, groups: map[string]*ledgerSum{}}
}

func (b *ledgerBatch) empty() bool { return len(b.tokens) == 0 && len(b.groups) == 0 }

// NewLedger starts a Ledger writing to s's main database. Close it to
// write what it holds.
func NewLedger(s *Store, opts LedgerOptions) *Ledger {
	l := &Ledger{
		db:       s.db.rw,
		interval: cmp.Or(max(opts.FlushInterval, 0), time.Second),
		pending:  newLedgerBatch(),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go l.run()
	return l
}

// Charge adds c to the totals to write. It never waits for the database.
func (l *Ledger) Charge(c aiproxy.Charge) {
	l.charges.Add(1)
	var start int64
	if !c.PeriodStart.IsZero() {
		start = c.PeriodStart.UnixMicro()
	}
	l.mu.Lock()
	b := l.pending
	if c.TokenID != 0 {
		k := tokenPeriod{c.TokenID, start}
		sum := b.tokens[k]
		if sum == nil {
			sum = &ledgerSum{}
			b.tokens[k] = sum
		}
		sum.amount += c.Amount
		sum.requests += c.Requests
	}
	if c.GroupID != "" {
		sum := b.groups[c.GroupID]
		if sum == nil {
			sum = &ledgerSum{}
			b.groups[c.GroupID] = sum
		}
		sum.amount += c.Amount
		sum.requests += c.Requests
	}
	l.mu.Unlock()
}

// Stats returns the counters of l. Pending counts the charges not yet
// written, a failed batch's included.
func (l *Ledger) Stats() LedgerStats {
	l.mu.Lock()
	n := len(l.pending.tokens) + len(l.pending.groups)
	l.mu.Unlock()
	l.writeMu.Lock()
	if l.failed != nil {
		n += len(l.failed.tokens) + len(l.failed.groups)
	}
	l.writeMu.Unlock()
	return LedgerStats{Charges: l.charges.Load(), Batches: l.batches.Load(), Retries: l.retries.Load(), Pending: n}
}

func (l *Ledger) run() {
	defer close(l.done)
	flushEvery(l.stop, l.interval, "used amounts", l.Flush)
}

// flushEvery calls flush every interval until stop is closed. After a
// failure it backs off, doubling up to a minute's worth of ticks: the
// failed batch is written first next time, and what is recorded keeps
// adding up in memory meanwhile. what names the data in the warning.
func flushEvery(stop <-chan struct{}, interval time.Duration, what string, flush func(context.Context) error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var skip, backoff int // ticks to let pass, and the next backoff in ticks
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if skip > 0 {
				skip--
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), attemptTimeout)
			err := flush(ctx)
			cancel()
			if err == nil {
				backoff = 0
				continue
			}
			backoff = min(max(backoff*2, 1), max(int(time.Minute/interval), 1))
			skip = backoff - 1
			slog.Warn("store: write "+what+"; kept to write again", "err", err, "retry_in", time.Duration(backoff)*interval)
		}
	}
}

// Flush writes what l holds now: a batch that failed before, then the
// charges taken since. On failure the batch is kept for the next flush.
func (l *Ledger) Flush(ctx context.Context) error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if l.failed != nil {
		if err := l.write(ctx, l.failed); err != nil {
			l.retries.Add(1)
			return err
		}
		l.failed = nil
	}
	l.mu.Lock()
	b := l.pending
	l.pending = newLedgerBatch()
	l.mu.Unlock()
	if b.empty() {
		return nil
	}
	if err := l.write(ctx, b); err != nil {
		l.failed = b
		return err
	}
	return nil
}

// errApplied reports a batch found already written.
var errApplied = errors.New("batch applied before")

// write applies b in one transaction.
func (l *Ledger) write(ctx context.Context, b *ledgerBatch) error {
	err := l.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		// First, so that a batch written before (its commit lost in
		// transit) fails here as a duplicate and is applied once.
		if _, err := tx.NewInsert().Model(&ledgerBatchRow{ID: b.id, CreatedAt: now()}).Exec(ctx); err != nil {
			if violation(err) == violationUnique {
				return errApplied
			}
			return err
		}
		keys := make([]tokenPeriod, 0, len(b.tokens))
		for k := range b.tokens {
			keys = append(keys, k)
		}
		// In id order (so that replicas lock rows alike), the older period first.
		slices.SortFunc(keys, func(x, y tokenPeriod) int { return cmp.Or(cmp.Compare(x.id, y.id), cmp.Compare(x.start, y.start)) })
		for _, k := range keys {
			sum := b.tokens[k]
			q := tx.NewUpdate().Table("tokens").
				Set("used_amount = used_amount + ?", int64(sum.amount)).
				Set("request_count = request_count + ?", sum.requests).
				Where("id = ?", k.id)
			if k.start != 0 {
				start := time.UnixMicro(k.start).UTC()
				q = q.Set("period_used = CASE WHEN period_start = ? THEN period_used + ? ELSE ? END", start, int64(sum.amount), int64(sum.amount)).
					Set("period_start = ?", start)
			}
			if _, err := q.Exec(ctx); err != nil {
				return err
			}
		}
		groups := make([]string, 0, len(b.groups))
		for g := range b.groups {
			groups = append(groups, g)
		}
		slices.Sort(groups)
		for _, g := range groups {
			sum := b.groups[g]
			if _, err := tx.NewUpdate().Table("groups").
				Set("used_amount = used_amount + ?", int64(sum.amount)).
				Set("request_count = request_count + ?", sum.requests).
				Where("id = ?", g).Exec(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, errApplied) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: write used amounts: %w", err)
	}
	l.batches.Add(1)
	return nil
}

// Close stops the periodic flush and writes everything held, retrying
// with backoff until ctx ends. It returns an error saying how many
// tokens' and groups' charges could not be written.
func (l *Ledger) Close(ctx context.Context) error {
	l.once.Do(func() { close(l.stop) })
	<-l.done
	backoff := firstBackoff
	for {
		err := l.Flush(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			l.writeMu.Lock()
			n := 0
			if l.failed != nil {
				n = len(l.failed.tokens) + len(l.failed.groups)
			}
			l.writeMu.Unlock()
			return fmt.Errorf("store: close ledger: charges of %d tokens and groups not written: %w", n, err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}
