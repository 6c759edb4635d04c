package store

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"
)

// LockMigrations takes db's migration lock as another process would and
// returns what that process's death does to it: its connection or file
// closed without a word.
func LockMigrations(tb testing.TB, db *DB) (die func()) {
	tb.Helper()
	l, err := db.lockMigrations(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return l.drop
}

// Bun returns the pool db writes with, for tests that look at rows
// directly.
func Bun(db *DB) *bun.DB { return db.rw }

// CountQueries counts the queries containing substr that db runs from now
// on.
func CountQueries(db *DB, substr string) *atomic.Int64 {
	h := &queryCounter{substr: substr}
	db.rw.AddQueryHook(h)
	if db.ro != db.rw {
		db.ro.AddQueryHook(h)
	}
	return &h.n
}

type queryCounter struct {
	substr string
	n      atomic.Int64
}

func (h *queryCounter) BeforeQuery(ctx context.Context, e *bun.QueryEvent) context.Context {
	if strings.Contains(e.Query, h.substr) {
		h.n.Add(1)
	}
	return ctx
}

func (h *queryCounter) AfterQuery(context.Context, *bun.QueryEvent) {}

// BatchScripts returns scriptBatcher.run on r's client.
func BatchScripts(r *Redis) func(ctx context.Context, s *redis.Script, keys []string, args ...any) *redis.Cmd {
	b := &scriptBatcher{c: r.Client}
	return b.run
}
