package store

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"

	"github.com/aiproxy/aiproxy"
)

var _ aiproxy.LogRecorder = (*LogWriter)(nil)

// LogWriterOptions tunes a LogWriter; zero fields take the defaults.
type LogWriterOptions struct {
	QueueSize     int           // logs waiting to be written; 0 means 16384
	BatchSize     int           // logs per transaction; 0 means 512
	FlushInterval time.Duration // longest wait of a queued log; 0 means 100ms
}

// LogWriterStats counts what a LogWriter did.
type LogWriterStats struct {
	Written int64 // logs stored
	Failed  int64 // logs given up on, each reported with slog
	Waits   int64 // Record calls that waited for room in a full queue
	Queued  int   // logs in the queue now
}

// Batch insert tuning.
const (
	writeAttempts  = 4                      // per batch, with exponential backoff
	firstBackoff   = 100 * time.Millisecond // then 200ms, 400ms
	attemptTimeout = 30 * time.Second       // per attempt, so a hung connection does not stall logging
	// maxInsertBytes bounds the values of one INSERT statement: MySQL
	// refuses a statement whose parameters pass max_allowed_packet (4 MiB
	// and up), which a batch with request and response bodies can.
	maxInsertBytes = 1 << 20
)

// LogWriter stores request logs asynchronously: Record queues a log, and
// one goroutine inserts the queue in batches of prepared multi-row INSERTs
// (see rowInserter), one transaction per batch, at least every FlushInterval.
//
// No log is dropped to keep up: when the queue is full, Record waits for
// room. A batch the database refuses is retried with backoff; if it still
// fails and the database answers, its logs are tried one by one, so one
// bad log costs only itself. Logs that cannot be written are counted in
// Stats().Failed and reported with slog.
type LogWriter struct {
	db       *bun.DB
	ins      *rowInserter[logRow]
	batch    int
	interval time.Duration

	mu     sync.RWMutex // held for reading while sending to queue, for writing to close it
	closed bool
	queue  chan *aiproxy.Log

	ctx    context.Context // ends when Close runs out of time: writing stops
	cancel context.CancelFunc
	done   chan struct{} // closed when the writing goroutine has finished

	written, failed, waits atomic.Int64
}

// NewLogWriter starts a LogWriter storing logs in s's log database. Close
// it to flush the queue.
func NewLogWriter(s *Store, opts LogWriterOptions) *LogWriter {
	ctx, cancel := context.WithCancel(context.Background())
	w := &LogWriter{
		db:       s.logDB.rw,
		ins:      newRowInserter[logRow](s.logDB.rw),
		batch:    cmp.Or(max(opts.BatchSize, 0), 512),
		interval: cmp.Or(max(opts.FlushInterval, 0), 100*time.Millisecond),
		queue:    make(chan *aiproxy.Log, cmp.Or(max(opts.QueueSize, 0), 16384)),
		ctx:      ctx,
		cancel:   cancel,
		done:     make(chan struct{}),
	}
	go w.run()
	return w
}

// Record queues l for writing and returns without touching the database;
// it waits only while the queue is full. The LogWriter owns l from then
// on: the caller must not change it. A zero CreatedAt is set to now.
// After Close, Record only counts l as failed.
func (w *LogWriter) Record(l *aiproxy.Log) {
	if l.CreatedAt.IsZero() {
		l.CreatedAt = time.Now()
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.failed.Add(1)
		slog.Error("store: log recorded after the log writer was closed", "request_id", l.RequestID)
		return
	}
	select {
	case w.queue <- l:
	default:
		w.waits.Add(1)
		w.queue <- l
	}
}

// Close stops accepting logs, writes every queued one and returns. When ctx
// ends first, writing stops and the logs still queued are counted as
// failed. It returns an error telling how many logs were not written
// since Close was called, if any.
func (w *LogWriter) Close(ctx context.Context) error {
	failed := w.failed.Load()
	stop := context.AfterFunc(ctx, w.cancel)
	defer stop()
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()
	<-w.done
	n := w.failed.Load() - failed
	switch {
	case n > 0 && ctx.Err() != nil:
		return fmt.Errorf("store: close log writer: %d logs not written: %w", n, ctx.Err())
	case n > 0:
		return fmt.Errorf("store: close log writer: %d logs not written", n)
	}
	return nil
}

// Stats returns the counters of w.
func (w *LogWriter) Stats() LogWriterStats {
	return LogWriterStats{
		Written: w.written.Load(),
		Failed:  w.failed.Load(),
		Waits:   w.waits.Load(),
		Queued:  len(w.queue),
	}
}

func (w *LogWriter) run() {
	defer close(w.done)
	defer w.ins.close()
	defer w.cancel()
	tick := time.NewTicker(w.interval)
	defer tick.Stop()
	batch := make([]*aiproxy.Log, 0, w.batch)
	rows := make([]logRow, 0, w.batch)
	for {
		select {
		case l, ok := <-w.queue:
			if !ok {
				w.flush(batch, rows)
				return
			}
			if batch = append(batch, l); len(batch) < w.batch {
				continue
			}
		case <-tick.C:
			if len(batch) == 0 {
				continue
			}
		}
		w.flush(batch, rows)
		clear(batch)
		batch = batch[:0]
	}
}

// flush writes batch, using rows as scratch space.
func (w *LogWriter) flush(batch []*aiproxy.Log, rows []logRow) {
	if len(batch) == 0 {
		return
	}
	if w.ctx.Err() != nil { // Close ran out of time
		w.failed.Add(int64(len(batch)))
		return
	}
	rows = rows[:0]
	for _, l := range batch {
		rows = append(rows, toLogRow(l))
	}
	defer clear(rows) // let go of the bodies
	err := w.insertRetrying(rows)
	if err == nil {
		w.written.Add(int64(len(rows)))
		return
	}
	failed := len(rows)
	if len(rows) > 1 && w.ctx.Err() == nil && w.ping() == nil {
		// The database answers, so some log is at fault: save the others.
		for i := range rows {
			if err := w.insert(rows[i : i+1]); err != nil {
				slog.Error("store: write log", "request_id", rows[i].RequestID, "err", err)
				continue
			}
			w.written.Add(1)
			failed--
		}
	}
	if failed > 0 {
		w.failed.Add(int64(failed))
		slog.Error("store: write logs", "failed", failed, "batch", len(rows), "err", err)
	}
}

func (w *LogWriter) insertRetrying(rows []logRow) error {
	backoff := firstBackoff
	for attempt := 1; ; attempt++ {
		err := w.insert(rows)
		if err == nil || attempt == writeAttempts || w.ctx.Err() != nil {
			return err
		}
		select {
		case <-w.ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

func (w *LogWriter) insert(rows []logRow) error {
	ctx, cancel := context.WithTimeout(w.ctx, attemptTimeout)
	defer cancel()
	return w.ins.write(ctx, rows, rowSize, maxInsertBytes)
}

func (w *LogWriter) ping() error {
	ctx, cancel := context.WithTimeout(w.ctx, 5*time.Second)
	defer cancel()
	return w.db.PingContext(ctx)
}

// rowSize estimates the bytes of a row's values.
func rowSize(r *logRow) int {
	const fixed = 650 // numbers, times, quotes and commas
	return fixed + len(r.RequestID) + len(r.GroupID) + len(r.TokenName) + len(r.Model) + len(r.UpstreamModel) +
		len(r.Endpoint) + len(r.Mode) + len(r.ClientIP) + len(r.Error) + len(r.RequestBody) + len(r.ResponseBody)
}
