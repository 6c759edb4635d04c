package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/aiproxy/aiproxy"
)

var (
	_ aiproxy.ChannelService     = (*Store)(nil)
	_ aiproxy.GroupService       = (*Store)(nil)
	_ aiproxy.TokenService       = (*Store)(nil)
	_ aiproxy.ModelConfigService = (*Store)(nil)
	_ aiproxy.LogService         = (*Store)(nil)
)

// Store implements the services of package aiproxy on a database, and
// keeps the Cache the relay reads from. Set its exported fields before
// Start and before any other use.
type Store struct {
	// RefreshInterval is how often everything the Cache holds (tokens,
	// groups, channels, model configs) is reloaded, the safety net for
	// Changes of other replicas that the Bus lost. Zero means 10s.
	RefreshInterval time.Duration
	// Bus carries the Changes this Store makes to the Caches of every
	// replica (a RedisBus), and theirs to this Store's Cache. Nil means a
	// MemoryBus of its own: other replicas' writes then show only on the
	// periodic refresh.
	Bus Bus
	// CheckChannel checks a channel's type and config when it is created
	// or updated (the provider registry's Check, wired by cmd/aiproxy).
	// Nil accepts every well-formed type and config.
	CheckChannel aiproxy.ChannelCheck
	// MaxTokensPerGroup caps the tokens of a group (GROUP_MAX_TOKEN_NUM);
	// 0 means no cap.
	MaxTokensPerGroup int
	// Catalogue is the price catalogue models without a price of their
	// own fall back to; nil means aiproxy.BuiltinCatalogue().
	Catalogue *aiproxy.Catalogue

	db    *DB
	logDB *DB
	cache *Cache
	bus   Bus // Bus or a MemoryBus; nil before Start

	mu          sync.Mutex
	cancel      context.CancelFunc // stops the refresh loop; nil before Start
	done        chan struct{}      // closed when the refresh loop has stopped
	unsubscribe func()             // stops the Cache's subscription to bus
}

// New returns a Store keeping everything in db, except logs, which go to
// logDB. A nil logDB, like logDB == db, keeps logs in db. New does no I/O:
// Start loads the Cache.
func New(db, logDB *DB) *Store {
	if logDB == nil {
		logDB = db
	}
	s := &Store{db: db, logDB: logDB}
	s.cache = newCache(s)
	return s
}

// Start subscribes the Cache to the Bus, loads it, and then reloads it
// every RefreshInterval until ctx is done or Close is called. It returns
// the error of the first load; later failures are logged, and the Cache
// keeps serving what it last loaded. Call it once.
func (s *Store) Start(ctx context.Context) error {
	s.bus = s.Bus
	if s.bus == nil {
		s.bus = NewMemoryBus()
	}
	unsubscribe := s.bus.Subscribe(s.cache.apply) // before loading: no change slips between
	if err := s.cache.reload(ctx); err != nil {
		unsubscribe()
		return fmt.Errorf("store: start: %w", err)
	}
	interval := s.RefreshInterval
	if interval <= 0 {
		interval = 10 * time.Second
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	s.unsubscribe = unsubscribe
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := s.cache.reload(ctx); err != nil && ctx.Err() == nil {
					slog.Warn("store: refresh cache", "err", err)
				}
			}
		}
	}()
	return nil
}

// Close stops the refresh loop started by Start and the Cache's
// subscription to the Bus. It does not close the databases or the Bus,
// which belong to the caller.
func (s *Store) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		s.unsubscribe()
		s.cancel()
		<-s.done
	}
}

// announce publishes the Change a write through this Store made: this
// Store's Cache has applied it when announce returns. A failure to reach
// other replicas is logged, not returned: the write is done, and they
// catch up on a resync or their periodic refresh. Before Start it does
// nothing, since Start loads everything.
func (s *Store) announce(ctx context.Context, kind ChangeKind, id string) {
	if s.bus == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lookupTimeout)
	defer cancel()
	if err := s.bus.Publish(ctx, Change{Kind: kind, ID: id}); err != nil {
		slog.Warn("store: announce change to other replicas", "kind", kind, "id", id, "err", err)
	}
}

// Subscribe calls fn with every Change this Store's Bus carries (those
// made through it and, on a shared Bus, on other replicas) until stop is
// called; fn must not block. Call it after Start.
func (s *Store) Subscribe(fn func(Change)) (stop func()) {
	if s.bus == nil {
		return func() {}
	}
	return s.bus.Subscribe(fn)
}

// Cache returns the in-memory view of tokens, channels and model configs
// that the relay reads on every request.
func (s *Store) Cache() *Cache { return s.cache }

// now returns the current time as stored: UTC, to the microsecond, which
// every supported database keeps exactly.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// utc returns t as stored.
func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// wrap prefixes an unexpected error with the failed operation; domain
// errors, which are safe to show, pass unchanged.
func wrap(op string, err error) error {
	var e *aiproxy.Error
	if err == nil || errors.As(err, &e) {
		return err
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// notFound turns sql.ErrNoRows into an ENOTFOUND naming what is missing.
func notFound(err error, format string, args ...any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return aiproxy.Errorf(aiproxy.ENOTFOUND, format, args...)
	}
	return err
}

// forUpdate locks the selected rows until the transaction ends. SQLite
// needs no row lock: a write transaction there holds the database.
func forUpdate(q *bun.SelectQuery) *bun.SelectQuery {
	if q.DB().Dialect().Name() == dialect.SQLite {
		return q
	}
	return q.For("UPDATE")
}

// storedRow is a table row that converts back to the domain value T it
// stores and can be stamped with an update time.
type storedRow[T any] interface {
	value() (T, error)
	touch(updatedAt time.Time)
}

// findRow selects the row whose column equals key, or returns ENOTFOUND
// with the message format (given key); lock locks the row until the
// transaction db ends.
func findRow[R any](ctx context.Context, db bun.IDB, column string, key any, lock bool, format string) (*R, error) {
	row := new(R)
	q := db.NewSelect().Model(row).Where(column+" = ?", key)
	if lock {
		q = forUpdate(q)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, notFound(err, format, key)
	}
	return row, nil
}

// updateRow is the read-modify-write behind every Update method, in one
// transaction: it finds the value with key id (locking its row), applies
// apply, validates the result (Validate, then each check), stamps
// UpdatedAt, writes the row and returns the value as stored.
func updateRow[K any, T interface{ Validate() error }, R storedRow[T]](
	ctx context.Context, db bun.IDB,
	find func(context.Context, bun.IDB, K, bool) (T, error), id K,
	apply func(T), toRow func(T) R, checks ...func(T) error,
) (T, error) {
	var stored T
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		v, err := find(ctx, tx, id, true)
		if err != nil {
			return err
		}
		apply(v)
		if err := v.Validate(); err != nil {
			return err
		}
		for _, check := range checks {
			if err := check(v); err != nil {
				return err
			}
		}
		row := toRow(v)
		row.touch(now())
		q := tx.NewUpdate().Model(row).WherePK()
		if lc, ok := any(row).(interface{ ledgerColumns() []string }); ok {
			q = q.ExcludeColumn(lc.ledgerColumns()...) // the ledger's, updated by increments only
		}
		if _, err := q.Exec(ctx); err != nil {
			return err
		}
		stored, err = row.value()
		return err
	})
	return stored, err
}

// mustDelete deletes the rows q selects and reports ENOTFOUND (with the
// formatted message) when there were none.
func mustDelete(ctx context.Context, q *bun.DeleteQuery, format string, args ...any) error {
	res, err := q.Exec(ctx)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return aiproxy.Errorf(aiproxy.ENOTFOUND, format, args...)
	}
	return nil
}

// catalogue returns the price catalogue in use.
func (s *Store) catalogue() *aiproxy.Catalogue {
	if s.Catalogue != nil {
		return s.Catalogue
	}
	return aiproxy.BuiltinCatalogue()
}
