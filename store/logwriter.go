package store

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
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
	QueueBytes    int64         // their bodies and text, estimated; 0 means 64 MiB
	BatchSize     int           // logs per transaction; 0 means 512
	FlushInterval time.Duration // longest wait of a queued log; 0 means 100ms
	// SpillDir is where logs go that the queue has no room for, and
	// batches the database did not take through its retries; they are
	// replayed when it answers again (and when a LogWriter starts). ""
	// means nowhere: such logs are dropped (Dropped) or failed (Failed).
	// One directory per log database.
	SpillDir string
	// ReplayInterval is how often spilled logs are tried again; 0 means
	// 5s.
	ReplayInterval time.Duration
}

// LogWriterStats counts what a LogWriter did.
type LogWriterStats struct {
	Written  int64 // logs stored, replayed ones included
	Failed   int64 // logs the database refused, or given up on without a spill directory; each reported with slog
	Spilled  int64 // logs set aside in the spill directory
	Replayed int64 // spilled logs stored since
	Dropped  int64 // logs lost because there was no room and no spill file could take them
	Queued   int   // logs in the queue now
	// QueueBytes is the estimated size of the queued logs.
	QueueBytes int64
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
// A log's bodies, when it has any, go to the log_details table.
//
// Record never waits: the queue is bounded in logs and in bytes, and a
// log that finds it full goes to the spill directory (SpillDir) instead.
// A batch the database refuses is retried with backoff; if it still
// fails while the database answers, its logs are tried one by one, so one
// bad log costs only itself (Failed, reported with slog); if the database
// does not answer, the batch is spilled (fsynced) and replayed when it
// does. Rows are inserted or ignored by request id, so a batch written
// twice is stored once.
type LogWriter struct {
	db       *bun.DB
	ins      *rowInserter[logRow]
	details  *rowInserter[logDetailRow]
	batch    int
	interval time.Duration
	replay   time.Duration
	maxBytes int64
	spill    *spill // nil without SpillDir

	mu     sync.RWMutex // held for reading while sending to queue, for writing to close it
	closed bool
	queue  chan *aiproxy.Log
	bytes  atomic.Int64 // estimated size of the queued logs

	ctx    context.Context // ends when Close runs out of time: writing stops
	cancel context.CancelFunc
	done   chan struct{} // closed when the writing goroutine has finished

	written, failed, spilled, replayed, dropped atomic.Int64
	warned                                      atomic.Int64 // unix nanos of the last warning about lost or spilled logs
}

// NewLogWriter starts a LogWriter storing logs in s's log database. Close
// it to flush the queue. It fails only when opts.SpillDir cannot be
// created.
func NewLogWriter(s *Store, opts LogWriterOptions) *LogWriter {
	w, err := OpenLogWriter(s, opts)
	if err != nil {
		slog.Error("store: log writer without its spill directory", "dir", opts.SpillDir, "err", err)
		opts.SpillDir = ""
		w, _ = OpenLogWriter(s, opts)
	}
	return w
}

// OpenLogWriter is NewLogWriter returning the error of a SpillDir that
// cannot be created.
func OpenLogWriter(s *Store, opts LogWriterOptions) (*LogWriter, error) {
	ctx, cancel := context.WithCancel(context.Background())
	w := &LogWriter{
		db:       s.logDB.rw,
		ins:      newRowInserter[logRow](s.logDB.rw),
		details:  newRowInserter[logDetailRow](s.logDB.rw),
		batch:    cmp.Or(max(opts.BatchSize, 0), 512),
		interval: cmp.Or(max(opts.FlushInterval, 0), 100*time.Millisecond),
		replay:   cmp.Or(max(opts.ReplayInterval, 0), 5*time.Second),
		maxBytes: cmp.Or(max(opts.QueueBytes, 0), 64<<20),
		queue:    make(chan *aiproxy.Log, cmp.Or(max(opts.QueueSize, 0), 16384)),
		ctx:      ctx,
		cancel:   cancel,
		done:     make(chan struct{}),
	}
	if opts.SpillDir != "" {
		sp, err := newSpill(opts.SpillDir)
		if err != nil {
			cancel()
			return nil, err
		}
		w.spill = sp
	}
	go w.run()
	return w, nil
}

// Record queues l for writing and returns at once, without touching the
// database: when the queue has no room, l goes to the spill file, or
// without one is dropped. The LogWriter owns l from then on: the caller
// must not change it. A zero CreatedAt is set to now. After Close,
// Record only counts l as failed.
func (w *LogWriter) Record(l *aiproxy.Log) {
	if l.CreatedAt.IsZero() {
		l.CreatedAt = time.Now()
	}
	size := logSize(l)
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.failed.Add(1)
		slog.Error("store: log recorded after the log writer was closed", "request_id", l.RequestID)
		return
	}
	if w.bytes.Add(size) <= w.maxBytes || len(w.queue) == 0 {
		select {
		case w.queue <- l:
			return
		default:
		}
	}
	w.bytes.Add(-size)
	w.overflow(l)
}

// overflow sets aside a log the queue had no room for. The spill file is
// written without waiting for the disk; the writing goroutine syncs it
// every FlushInterval.
func (w *LogWriter) overflow(l *aiproxy.Log) {
	if w.spill != nil {
		err := w.spill.add([]*aiproxy.Log{l}, false)
		if err == nil {
			w.spilled.Add(1)
			w.warn("store: log queue full; logs spill to disk", nil)
			return
		}
		w.dropped.Add(1)
		w.warn("store: log queue full and the spill file failed; logs are lost", err)
		return
	}
	w.dropped.Add(1)
	w.warn("store: log queue full and no spill directory; logs are lost", nil)
}

// warn logs msg at most every 10 seconds, with the counters.
func (w *LogWriter) warn(msg string, err error) {
	now := time.Now().UnixNano()
	last := w.warned.Load()
	if now-last < int64(10*time.Second) || !w.warned.CompareAndSwap(last, now) {
		return
	}
	st := w.Stats()
	slog.Warn(msg, "spilled", st.Spilled, "dropped", st.Dropped, "queued", st.Queued, "err", err)
}

// Close stops accepting logs, writes every queued one, replays the spill
// directory when the database answers, and returns. When ctx ends first,
// writing stops, and the logs still queued are spilled (or, without a
// spill directory, counted as failed). It returns an error telling how
// many logs were neither written nor spilled since Close was called, if
// any.
func (w *LogWriter) Close(ctx context.Context) error {
	lost := w.failed.Load() + w.dropped.Load()
	stop := context.AfterFunc(ctx, w.cancel)
	defer stop()
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()
	<-w.done
	n := w.failed.Load() + w.dropped.Load() - lost
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
		Written:    w.written.Load(),
		Failed:     w.failed.Load(),
		Spilled:    w.spilled.Load(),
		Replayed:   w.replayed.Load(),
		Dropped:    w.dropped.Load(),
		Queued:     len(w.queue),
		QueueBytes: w.bytes.Load(),
	}
}

func (w *LogWriter) run() {
	defer close(w.done)
	defer w.ins.close()
	defer w.details.close()
	defer w.cancel()
	tick := time.NewTicker(w.interval)
	defer tick.Stop()
	var replay <-chan time.Time
	if w.spill != nil {
		w.replaySpill() // what an earlier run left
		t := time.NewTicker(w.replay)
		defer t.Stop()
		replay = t.C
	}
	batch := make([]*aiproxy.Log, 0, w.batch)
	rows := make([]logRow, 0, w.batch)
	for {
		select {
		case l, ok := <-w.queue:
			if !ok {
				w.flush(batch, rows)
				w.finish()
				return
			}
			w.bytes.Add(-logSize(l))
			if batch = append(batch, l); len(batch) < w.batch {
				continue
			}
		case <-tick.C:
			if w.spill != nil {
				if err := w.spill.sync(); err != nil {
					slog.Error("store: sync log spill file", "err", err)
				}
			}
			if len(batch) == 0 {
				continue
			}
		case <-replay:
			if w.spill.pending() || w.spilled.Load() > w.replayed.Load() {
				w.replaySpill()
			}
			continue
		}
		w.flush(batch, rows)
		clear(batch)
		batch = batch[:0]
	}
}

// finish ends the spill when the queue is written: the file closed, and
// replayed when the database answers.
func (w *LogWriter) finish() {
	if w.spill == nil {
		return
	}
	if w.ctx.Err() == nil {
		w.replaySpill()
	}
	if err := w.spill.rotate(); err != nil {
		slog.Error("store: close log spill file", "err", err)
	}
}

// flush writes batch, using rows as scratch space.
func (w *LogWriter) flush(batch []*aiproxy.Log, rows []logRow) {
	if len(batch) == 0 {
		return
	}
	if w.ctx.Err() != nil { // Close ran out of time
		w.setAside(batch, w.ctx.Err())
		return
	}
	written, err := w.write(batch, rows)
	w.written.Add(int64(written))
	if err != nil {
		w.setAside(batch[written:], err)
	}
}

// write stores logs; it returns how many it stored, the first ones of
// logs, and why the others were not when the database does not answer.
// Logs the database refuses while answering are counted as failed and
// reported.
func (w *LogWriter) write(logs []*aiproxy.Log, rows []logRow) (int, error) {
	rows = rows[:0]
	var details []logDetailRow
	for _, l := range logs {
		rows = append(rows, toLogRow(l))
		if hasDetail(l) {
			details = append(details, toDetailRow(l))
		}
	}
	defer clear(rows)
	err := w.insertRetrying(rows, details)
	if err == nil {
		return len(rows), nil
	}
	if w.ctx.Err() != nil || w.ping() != nil {
		return 0, err // the database is away: all of them wait
	}
	// The database answers, so some log is at fault: save the others.
	written := 0
	for i, l := range logs {
		var d []logDetailRow
		if hasDetail(l) {
			d = []logDetailRow{toDetailRow(l)}
		}
		if err := w.insert(rows[i:i+1], d); err != nil {
			w.failed.Add(1)
			slog.Error("store: write log", "request_id", rows[i].RequestID, "err", err)
			continue
		}
		written++
	}
	return written, nil
}

// setAside spills logs the database did not take, or without a spill
// directory counts them as failed.
func (w *LogWriter) setAside(logs []*aiproxy.Log, cause error) {
	if len(logs) == 0 {
		return
	}
	if w.spill == nil {
		w.failed.Add(int64(len(logs)))
		slog.Error("store: write logs", "failed", len(logs), "err", cause)
		return
	}
	if err := w.spill.add(logs, true); err != nil {
		w.dropped.Add(int64(len(logs)))
		slog.Error("store: spill logs; they are lost", "logs", len(logs), "cause", cause, "err", err)
		return
	}
	w.spilled.Add(int64(len(logs)))
	w.warn("store: the log database does not answer; logs spill to disk", cause)
}

// replaySpill writes the spilled logs, file by file, when the database
// answers; a file is removed once every log in it is stored (or refused
// by a database that answers). It stops at the first batch the database
// does not take: that file stays for the next try.
func (w *LogWriter) replaySpill() {
	if w.ping() != nil {
		return
	}
	if err := w.spill.rotate(); err != nil {
		slog.Error("store: close log spill file", "err", err)
	}
	files, err := w.spill.files()
	if err != nil {
		slog.Error("store: replay spilled logs", "err", err)
		return
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	rows := make([]logRow, 0, w.batch)
	for _, f := range files {
		r := newSpillReader(f)
		for {
			logs, err := r.next(w.batch)
			if err != nil {
				slog.Error("store: read spilled logs", "file", f.Name(), "err", err)
				return
			}
			if len(logs) == 0 {
				break
			}
			n, err := w.write(logs, rows)
			w.written.Add(int64(n))
			w.replayed.Add(int64(n))
			if err != nil {
				return // the file stays; what it wrote is ignored next time
			}
		}
		if r.bad > 0 {
			w.failed.Add(int64(r.bad))
			slog.Error("store: unreadable lines in a log spill file", "file", f.Name(), "lines", r.bad)
		}
		if err := os.Remove(f.Name()); err != nil {
			slog.Error("store: remove replayed log spill file", "file", f.Name(), "err", err)
		}
	}
}

func (w *LogWriter) insertRetrying(rows []logRow, details []logDetailRow) error {
	backoff := firstBackoff
	for attempt := 1; ; attempt++ {
		err := w.insert(rows, details)
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

// insert writes rows, then their details: a batch that fails between the
// two is written again whole, its rows then ignored as duplicates.
func (w *LogWriter) insert(rows []logRow, details []logDetailRow) error {
	ctx, cancel := context.WithTimeout(w.ctx, attemptTimeout)
	defer cancel()
	if err := w.ins.write(ctx, rows, rowSize, maxInsertBytes); err != nil {
		return err
	}
	if len(details) == 0 {
		return nil
	}
	return w.details.write(ctx, details, detailSize, maxInsertBytes)
}

func (w *LogWriter) ping() error {
	ctx, cancel := context.WithTimeout(w.ctx, 5*time.Second)
	defer cancel()
	return w.db.PingContext(ctx)
}

// logSize estimates the memory a queued log holds.
func logSize(l *aiproxy.Log) int64 {
	const fixed = 700
	return int64(fixed + len(l.RequestID) + len(l.GroupID) + len(l.TokenName) + len(l.Model) + len(l.UpstreamModel) +
		len(l.Endpoint) + len(l.ClientIP) + len(l.Error) + len(l.UpstreamRequestID) + len(l.User) + len(l.Metadata) +
		len(l.RequestBody) + len(l.ResponseBody) + 96*len(l.Attempts))
}

func detailSize(r *logDetailRow) int {
	return 64 + len(r.RequestID) + len(r.RequestBody) + len(r.ResponseBody)
}

// rowSize estimates the bytes of a row's values.
func rowSize(r *logRow) int {
	const fixed = 650 // numbers, times, quotes and commas
	return fixed + len(r.RequestID) + len(r.GroupID) + len(r.TokenName) + len(r.Model) + len(r.UpstreamModel) +
		len(r.Endpoint) + len(r.Mode) + len(r.ClientIP) + len(r.Error) + len(r.Attempts) + len(r.UpstreamRequestID) +
		len(r.User) + len(r.Metadata)
}
