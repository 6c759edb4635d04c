package store

import (
	"context"
	"strings"
	"sync/atomic"

	"github.com/uptrace/bun"
)

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
