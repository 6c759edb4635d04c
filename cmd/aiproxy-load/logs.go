package main

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	_ "modernc.org/sqlite" // the driver the gateway's SQLite store uses
)

// countLogs returns the number of rows in the logs table of the SQLite
// database at path. Call it only after the gateway has exited, so that
// every queued log has been flushed.
func countLogs(ctx context.Context, path string) (int64, error) {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	var n int64
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM logs`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count logs: %w", err)
	}
	return n, nil
}

// LogsResult is scenario 6: after the gateway has shut down, its log rows
// against the relay requests it answered.
type LogsResult struct {
	Answered int64    `json:"answered"`  // requests that got a response
	NoAnswer int64    `json:"no_answer"` // requests that failed without one
	Rows     int64    `json:"rows"`
	Shutdown Duration `json:"shutdown"` // from SIGTERM to exit
	Err      string   `json:"error,omitempty"`
}

// runLogs stops the gateway with SIGTERM, waits for it to flush its logs
// and exit, and counts the rows of its logs table.
func runLogs(ctx context.Context, gw *target, dbPath string) *LogsResult {
	res := &LogsResult{Answered: gw.answered.Load(), NoAnswer: gw.noAnswer.Load()}
	start := time.Now()
	if err := gw.proc.stop(time.Minute); err != nil {
		res.Err = fmt.Sprintf("gateway exit: %v", err)
	}
	res.Shutdown = Duration(time.Since(start))
	n, err := countLogs(ctx, dbPath)
	if err != nil {
		res.Err = err.Error()
	}
	res.Rows = n
	return res
}
