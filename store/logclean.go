package store

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// LogCleanerOptions says how long logs are kept; zero fields take the
// defaults.
type LogCleanerOptions struct {
	// LogRetention is how long log rows are kept (LOG_STORAGE_HOURS); 0
	// keeps them forever.
	LogRetention time.Duration
	// DetailRetention is how long their bodies are kept
	// (LOG_DETAIL_STORAGE_HOURS); 0 keeps them forever.
	DetailRetention time.Duration
	// BatchSize is the rows one DELETE removes (CLEAN_LOG_BATCH_SIZE), so
	// that no statement holds its locks for long; 0 means 5000.
	BatchSize int
	// Interval is how often the cleaner runs; 0 means 10 minutes.
	Interval time.Duration
}

// LogCleaner deletes logs past their retention, in batches of BatchSize
// rows with a pause between them. On PostgreSQL, where the logs table is
// partitioned by day, it also creates the partitions of the next days
// (moving rows the default partition took for them) and drops whole
// partitions past the retention instead of deleting their rows.
type LogCleaner struct {
	db   *bun.DB
	opts LogCleanerOptions
	pg   bool

	stop context.CancelFunc
	done chan struct{}
	once sync.Once
}

// NewLogCleaner returns a cleaner of s's log database. Start runs it.
func NewLogCleaner(s *Store, opts LogCleanerOptions) *LogCleaner {
	opts.BatchSize = cmp.Or(max(opts.BatchSize, 0), 5000)
	opts.Interval = cmp.Or(max(opts.Interval, 0), 10*time.Minute)
	return &LogCleaner{db: s.logDB.rw, opts: opts, pg: s.logDB.dialect == Postgres}
}

// Start cleans now and then every Interval, until Close.
func (c *LogCleaner) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	c.stop, c.done = cancel, make(chan struct{})
	go func() {
		defer close(c.done)
		t := time.NewTicker(c.opts.Interval)
		defer t.Stop()
		for {
			if _, err := c.Clean(ctx, time.Now()); err != nil && ctx.Err() == nil {
				slog.Error("store: clean logs", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Close stops a started cleaner, waiting for a batch under way.
func (c *LogCleaner) Close() {
	c.once.Do(func() {
		if c.stop != nil {
			c.stop()
			<-c.done
		}
	})
}

// CleanResult counts what one Clean removed.
type CleanResult struct {
	Logs, Details     int64 // rows deleted
	DroppedPartitions int   // PostgreSQL: whole days dropped
}

// Clean runs the cleaner once, as of now.
func (c *LogCleaner) Clean(ctx context.Context, now time.Time) (CleanResult, error) {
	var res CleanResult
	now = now.UTC()
	if c.pg {
		if err := c.ensurePartitions(ctx, now); err != nil {
			return res, err
		}
	}
	if c.opts.LogRetention > 0 {
		cutoff := now.Add(-c.opts.LogRetention)
		if c.pg {
			n, err := c.dropPartitions(ctx, cutoff)
			res.DroppedPartitions = n
			if err != nil {
				return res, err
			}
		}
		n, err := c.deleteBefore(ctx, "logs", "id", cutoff)
		res.Logs = n
		if err != nil {
			return res, err
		}
	}
	if c.opts.DetailRetention > 0 {
		n, err := c.deleteBefore(ctx, "log_details", "request_id", now.Add(-c.opts.DetailRetention))
		res.Details = n
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// deleteBefore deletes the rows of table created before cutoff, BatchSize
// at a time (each its own short transaction), and returns how many.
func (c *LogCleaner) deleteBefore(ctx context.Context, table, key string, cutoff time.Time) (int64, error) {
	q := fmt.Sprintf("DELETE FROM %[1]s WHERE %[2]s IN (SELECT %[2]s FROM %[1]s WHERE created_at < ? LIMIT ?) AND created_at < ?", table, key)
	args := []any{utc(cutoff), c.opts.BatchSize, utc(cutoff)}
	if c.db.Dialect().Name() == dialect.MySQL { // which takes no LIMIT in a subquery, but one in DELETE
		q = fmt.Sprintf("DELETE FROM %s WHERE created_at < ? LIMIT ?", table)
		args = args[:2]
	}
	var total int64
	for {
		r, err := c.db.ExecContext(ctx, q, args...)
		if err != nil {
			return total, fmt.Errorf("store: clean %s: %w", table, err)
		}
		n, _ := r.RowsAffected()
		total += n
		if n < int64(c.opts.BatchSize) {
			return total, nil
		}
		select { // let writers in between batches
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Partition names: logs_YYYYMMDD holds that day (UTC), logs_before_YYYYMMDD
// everything before that day (the rows the migration moved).
const partitionDay = "20060102"

// partitions returns the partitions of the logs table: the first day of
// each daily one, and the end of the "before" one (zero when none).
func (c *LogCleaner) partitions(ctx context.Context) (days []time.Time, before time.Time, err error) {
	var names []string
	err = c.db.NewRaw(`SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'logs'::regclass`).Scan(ctx, &names)
	if err != nil {
		return nil, before, fmt.Errorf("store: list log partitions: %w", err)
	}
	for _, n := range names {
		if d, ok := strings.CutPrefix(n, "logs_before_"); ok {
			if t, err := time.Parse(partitionDay, d); err == nil {
				before = t
			}
		} else if d, ok := strings.CutPrefix(n, "logs_"); ok {
			if t, err := time.Parse(partitionDay, d); err == nil {
				days = append(days, t)
			}
		}
	}
	return days, before, nil
}

// ensurePartitions creates the daily partitions from the end of the last
// one (or of the "before" one) through two days after now. Rows the
// default partition holds for a new day move into it, in the
// transaction that attaches it (see createPartition).
func (c *LogCleaner) ensurePartitions(ctx context.Context, now time.Time) error {
	days, before, err := c.partitions(ctx)
	if err != nil {
		return err
	}
	today := now.Truncate(24 * time.Hour)
	from := before // the end of the last range partition
	have := map[time.Time]bool{}
	for _, d := range days {
		have[d] = true
		if end := d.Add(24 * time.Hour); end.After(from) {
			from = end
		}
	}
	if from.IsZero() {
		from = today
	}
	for d := from; !d.After(today.Add(48 * time.Hour)); d = d.Add(24 * time.Hour) {
		if have[d] {
			continue
		}
		if err := c.createPartition(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// createPartition creates the partition of day and moves into it the rows
// the default partition holds for that day. The transaction first locks
// the logs table against writes (readers go on until the ATTACH): without
// the lock, a row inserted in the default partition between the copy and
// the DELETE (READ COMMITTED statements, each with its own snapshot) would
// be deleted without having been copied. The parent is locked, not the
// default partition, so that a blocked INSERT routes its row once the new
// partition is there, instead of into the default partition, which would
// then refuse it.
func (c *LogCleaner) createPartition(ctx context.Context, day time.Time) error {
	name := "logs_" + day.Format(partitionDay)
	lo, hi := day.Format(time.RFC3339), day.Add(24*time.Hour).Format(time.RFC3339)
	return c.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		for _, q := range []string{
			`LOCK TABLE logs IN SHARE ROW EXCLUSIVE MODE`,
			fmt.Sprintf(`CREATE TABLE %s (LIKE logs INCLUDING DEFAULTS)`, name),
			fmt.Sprintf(`INSERT INTO %s SELECT * FROM logs_default WHERE created_at >= '%s' AND created_at < '%s'`, name, lo, hi),
			fmt.Sprintf(`DELETE FROM logs_default WHERE created_at >= '%s' AND created_at < '%s'`, lo, hi),
			fmt.Sprintf(`ALTER TABLE logs ATTACH PARTITION %s FOR VALUES FROM ('%s') TO ('%s')`, name, lo, hi),
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("store: create log partition %s: %w", name, err)
			}
		}
		return nil
	})
}

// dropPartitions drops the partitions whose every row is older than
// cutoff, and returns how many.
func (c *LogCleaner) dropPartitions(ctx context.Context, cutoff time.Time) (int, error) {
	days, before, err := c.partitions(ctx)
	if err != nil {
		return 0, err
	}
	var drop []string
	for _, d := range days {
		if !d.Add(24 * time.Hour).After(cutoff) {
			drop = append(drop, "logs_"+d.Format(partitionDay))
		}
	}
	if !before.IsZero() && !before.After(cutoff) {
		drop = append(drop, "logs_before_"+before.Format(partitionDay))
	}
	for i, name := range drop {
		if _, err := c.db.ExecContext(ctx, "DROP TABLE "+name); err != nil {
			return i, fmt.Errorf("store: drop log partition %s: %w", name, err)
		}
	}
	return len(drop), nil
}
