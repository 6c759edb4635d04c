package store

import (
	"context"
	"database/sql"
	"fmt"
	"math/bits"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/schema"
)

// maxRowsPerStatement bounds the rows of one prepared INSERT: 128 rows of
// the log table's columns stay far below every engine's bind-parameter
// limit (SQLite 32766, PostgreSQL and MySQL 65535).
const maxRowsPerStatement = 128

// rowInserter inserts rows of one table with bound parameters through
// statements prepared once per connection, one per power-of-two row
// count: the engine parses a statement once and binds every batch to it,
// instead of parsing a literal multi-row INSERT per batch (on SQLite that
// parse was half the cost of writing a log). The columns and their values
// come from bun's model of T, so they follow the struct's tags; the
// autoincrement key is left to the database.
//
// A row whose unique key is in the table already is skipped, not an
// error (SQLite's INSERT OR IGNORE, MySQL's INSERT IGNORE, PostgreSQL's ON
// CONFLICT DO NOTHING): a batch written twice, retried after a lost
// commit or replayed from the spill, is stored once.
type rowInserter[T any] struct {
	db      *bun.DB
	table   *schema.Table
	fields  []*schema.Field
	dialect dialect.Name
	pg      bool // PostgreSQL numbers its placeholders; it takes time.Time as is

	mu    sync.Mutex
	stmts [8]*sql.Stmt // by log2 of their row count, up to maxRowsPerStatement
}

func newRowInserter[T any](db *bun.DB) *rowInserter[T] {
	t := db.Dialect().Tables().Get(reflect.TypeFor[T]())
	d := db.Dialect().Name()
	ins := &rowInserter[T]{db: db, table: t, dialect: d, pg: d == dialect.PG}
	for _, f := range t.Fields {
		if !f.AutoIncrement {
			ins.fields = append(ins.fields, f)
		}
	}
	return ins
}

// write inserts rows in one transaction of ins.db. Statements hold at
// most maxRowsPerStatement rows and, by size, about maxBytes of values;
// each takes a power-of-two row count, so that a batch of n rows takes at
// most log2(n)+1 statements from a set of eight.
func (ins *rowInserter[T]) write(ctx context.Context, rows []T, size func(*T) int, maxBytes int) error {
	var plan []int // log2 of each statement's row count, in order
	for i := 0; i < len(rows); {
		n, bytes := 0, 0
		for i+n < len(rows) && n < maxRowsPerStatement && (n == 0 || bytes+size(&rows[i+n]) <= maxBytes) {
			bytes += size(&rows[i+n])
			n++
		}
		for n > 0 {
			k := bits.Len(uint(n)) - 1
			plan = append(plan, k)
			n -= 1 << k
			i += 1 << k
		}
	}
	// Prepared before the transaction takes its connection: SQLite's
	// writer pool has a single one, which preparing would wait for.
	var stmts [len(ins.stmts)]*sql.Stmt
	for _, k := range plan {
		if stmts[k] != nil {
			continue
		}
		s, err := ins.stmt(ctx, k)
		if err != nil {
			return err
		}
		stmts[k] = s
	}
	return ins.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		args := make([]any, 0, len(ins.fields)<<slices.Max(plan))
		for _, k := range plan {
			args = args[:0]
			for i := range rows[:1<<k] {
				args = ins.appendValues(args, reflect.ValueOf(&rows[i]).Elem())
			}
			_, err := tx.StmtContext(ctx, stmts[k]).ExecContext(ctx, args...)
			clear(args) // let go of the bodies
			if err != nil {
				return err
			}
			rows = rows[1<<k:]
		}
		return nil
	})
}

// stmt returns the statement inserting 1<<k rows, preparing it the first
// time. database/sql prepares it again on each connection that runs it.
func (ins *rowInserter[T]) stmt(ctx context.Context, k int) (*sql.Stmt, error) {
	ins.mu.Lock()
	defer ins.mu.Unlock()
	if s := ins.stmts[k]; s != nil {
		return s, nil
	}
	s, err := ins.db.DB.PrepareContext(ctx, ins.query(1<<k))
	if err != nil {
		return nil, fmt.Errorf("prepare insert of %d rows into %s: %w", 1<<k, ins.table.Name, err)
	}
	ins.stmts[k] = s
	return s, nil
}

// query is the INSERT of n rows with placeholders.
func (ins *rowInserter[T]) query(n int) string {
	var b strings.Builder
	switch ins.dialect {
	case dialect.SQLite:
		b.WriteString("INSERT OR IGNORE INTO ")
	case dialect.MySQL:
		b.WriteString("INSERT IGNORE INTO ")
	default:
		b.WriteString("INSERT INTO ")
	}
	b.WriteString(string(ins.table.SQLName))
	b.WriteString(" (")
	for i, f := range ins.fields {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(f.SQLName))
	}
	b.WriteString(") VALUES ")
	p := 0
	for r := range n {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for i := range ins.fields {
			if i > 0 {
				b.WriteString(", ")
			}
			p++
			if ins.pg {
				b.WriteByte('$')
				b.WriteString(strconv.Itoa(p))
			} else {
				b.WriteByte('?')
			}
		}
		b.WriteByte(')')
	}
	if ins.pg {
		b.WriteString(" ON CONFLICT DO NOTHING")
	}
	return b.String()
}

var timeType = reflect.TypeFor[time.Time]()

// appendValues appends the column values of row, as bun would write them:
// zero values of nullzero columns as NULL, times in the dialect's text form
// (SQLite and MySQL compare times as that text) except on PostgreSQL.
func (ins *rowInserter[T]) appendValues(args []any, row reflect.Value) []any {
	for _, f := range ins.fields {
		v := f.Value(row)
		if f.NullZero && f.IsZero(v) {
			args = append(args, nil)
			continue
		}
		switch {
		case v.Type() == timeType:
			t := v.Interface().(time.Time)
			if ins.pg {
				args = append(args, t)
				break
			}
			lit := ins.db.Dialect().AppendTime(nil, t)
			args = append(args, string(lit[1:len(lit)-1])) // unquoted
		case v.Kind() == reflect.String:
			args = append(args, v.String())
		case v.Kind() == reflect.Bool:
			args = append(args, v.Bool())
		case v.CanInt():
			args = append(args, v.Int())
		default:
			args = append(args, v.Interface())
		}
	}
	return args
}

// close closes the prepared statements.
func (ins *rowInserter[T]) close() {
	ins.mu.Lock()
	defer ins.mu.Unlock()
	for i, s := range ins.stmts {
		if s != nil {
			s.Close()
			ins.stmts[i] = nil
		}
	}
}
