package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/store/storetest"
)

// open opens the database at dsn and a started Store on it.
func open(tb testing.TB, dsn string) (*store.Store, *store.DB) {
	tb.Helper()
	db := storetest.OpenDB(tb, dsn)
	s := store.New(db, db)
	start(tb, s)
	return s, db
}

func start(tb testing.TB, s *store.Store) {
	tb.Helper()
	if err := s.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
}

// wantCode fails the test unless err has the given code (and, when field
// is not "", names that field).
func wantCode(tb testing.TB, err error, code, field string) {
	tb.Helper()
	if got := aiproxy.ErrorCode(err); got != code {
		tb.Fatalf("error code = %q, want %q (error: %v)", got, code, err)
	}
	if got := aiproxy.ErrorField(err); field != "" && got != field {
		tb.Fatalf("error field = %q, want %q (error: %v)", got, field, err)
	}
}

func wantEqual[T any](tb testing.TB, got, want T) {
	tb.Helper()
	if !reflect.DeepEqual(got, want) {
		tb.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func ptr[T any](v T) *T { return &v }

// hasTable reports whether the database has the table.
func hasTable(tb testing.TB, db *store.DB, table string) bool {
	tb.Helper()
	var q string
	switch db.Dialect() {
	case store.SQLite:
		q = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	case store.Postgres:
		q = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?"
	default:
		q = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?"
	}
	var n int
	if err := store.Bun(db).QueryRowContext(context.Background(), q, table).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n > 0
}

func count(tb testing.TB, db *store.DB, table string) int64 {
	tb.Helper()
	n, err := store.Bun(db).NewSelect().Table(table).Count(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func TestOpenSQLite(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ name, dsn, path string }{
		{"plain path", filepath.Join(dir, "a.db"), filepath.Join(dir, "a.db")},
		{"missing directories", filepath.Join(dir, "x", "y", "b.db"), filepath.Join(dir, "x", "y", "b.db")},
		{"sqlite://", "sqlite://" + filepath.Join(dir, "c.db"), filepath.Join(dir, "c.db")},
		{"sqlite:", "sqlite:" + filepath.Join(dir, "d.db"), filepath.Join(dir, "d.db")},
		{"file:", "file:" + filepath.Join(dir, "e.db"), filepath.Join(dir, "e.db")},
		{"with parameters", filepath.Join(dir, "f.db") + "?_pragma=cache_size(-4000)", filepath.Join(dir, "f.db")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db := storetest.OpenDB(t, tt.dsn)
			if db.Dialect() != store.SQLite {
				t.Errorf("Dialect() = %q", db.Dialect())
			}
			if _, err := os.Stat(tt.path); err != nil {
				t.Error(err)
			}
			var mode string
			if err := store.Bun(db).QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
				t.Errorf("journal_mode = %q, %v; want wal", mode, err)
			}
		})
	}
}

func TestOpenInvalid(t *testing.T) {
	for _, dsn := range []string{"", "  ", ":memory:", "sqlite::memory:", "file::memory:", "file:x.db?mode=memory", "redis://127.0.0.1:6379"} {
		t.Run(dsn, func(t *testing.T) {
			_, err := store.Open(context.Background(), dsn)
			wantCode(t, err, aiproxy.EINVALID, "")
		})
	}
}

func TestOpenHidesPasswords(t *testing.T) {
	const secret = "Sup3rSecret"
	for _, dsn := range []string{
		"postgres://u:" + secret + "@127.0.0.1:1/db?connect_timeout=2",
		"postgresql://u:" + secret + "@127.0.0.1:1/db?connect_timeout=2&sslmode=disable",
		"postgres://u:" + secret + "%40x@127.0.0.1:1/db?connect_timeout=2",
		"postgres://u:" + secret + "@127.0.0.1:notaport/db",
		"postgres://u:" + secret + "@127.0.0.1:1/db?sslmode=bogus",
		"mysql://u:" + secret + "@127.0.0.1:1/db?timeout=2s",
		"mysql://u:" + secret + "%2Fx@127.0.0.1:1/db?timeout=2s",
		"mysql://u:" + secret + "@127.0.0.1:notaport/db",
		"mysql://u:" + secret + "@127.0.0.1:1/db?parseTime=maybe",
		"u:" + secret + "@tcp(127.0.0.1:1)/db?timeout=2s",
		"u:" + secret + "@tcp(127.0.0.1:1/db",
	} {
		t.Run(dsn, func(t *testing.T) {
			_, err := store.Open(context.Background(), dsn)
			if err == nil {
				t.Fatal("Open succeeded")
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error shows the password: %v", err)
			}
			t.Log(err)
		})
	}
}

func TestOpenMySQLURL(t *testing.T) {
	cfg, err := mysql.ParseDSN(storetest.MySQLDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	dsn := fmt.Sprintf("mysql://%s:%s@%s/%s", cfg.User, cfg.Passwd, cfg.Addr, cfg.DBName)
	s, db := open(t, dsn)
	if db.Dialect() != store.MySQL {
		t.Errorf("Dialect() = %q", db.Dialect())
	}
	if err := s.CreateGroup(context.Background(), &aiproxy.Group{ID: "g"}); err != nil {
		t.Fatal(err)
	}
}

func TestMigrations(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, dsn string) {
		// Replicas starting together: one migrates, the others wait for it.
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				db, err := store.Open(context.Background(), dsn)
				if err != nil {
					t.Error(err)
					return
				}
				db.Close()
			})
		}
		wg.Wait()
		// Opening again finds nothing to do.
		db := storetest.OpenDB(t, dsn)
		storetest.OpenDB(t, dsn)
		for table, want := range map[string]int64{"bun_migrations": 8, "bun_log_migrations": 6} {
			if n := count(t, db, table); n != want {
				t.Errorf("%s: %d migrations recorded, want %d", table, n, want)
			}
		}
		for _, table := range []string{"channels", "groups", "tokens", "model_configs", "settings", "logs", "group_model_configs", "balance_entries", "ledger_batches", "mcp_servers", "mcp_group_values"} {
			if n := count(t, db, table); n != 0 {
				t.Errorf("table %s has %d rows", table, n)
			}
		}
	})
}

// A separate log database holds the logs and nothing else; the main one
// holds everything else and no logs.
func TestMigrationsSeparateLogDatabase(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		main, err := store.OpenSchema(ctx, dsn, store.SchemaMain)
		if err != nil {
			t.Fatal(err)
		}
		defer main.Close()
		logDSN := storetest.FreshDSN(t, main.Dialect())
		logs, err := store.OpenSchema(ctx, logDSN, store.SchemaLogs)
		if err != nil {
			t.Fatal(err)
		}
		defer logs.Close()
		for _, tt := range []struct {
			db     *store.DB
			has    []string
			hasNot []string
		}{
			{main, []string{"groups", "channels", "tokens", "model_configs", "settings", "mcp_servers", "mcp_group_values", "bun_migrations"}, []string{"logs", "bun_log_migrations"}},
			{logs, []string{"logs", "bun_log_migrations"}, []string{"groups", "channels", "tokens", "model_configs", "settings", "bun_migrations"}},
		} {
			for _, table := range tt.has {
				if !hasTable(t, tt.db, table) {
					t.Errorf("table %s missing", table)
				}
			}
			for _, table := range tt.hasNot {
				if hasTable(t, tt.db, table) {
					t.Errorf("table %s should not be there", table)
				}
			}
		}
		s := store.New(main, logs)
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		w := store.NewLogWriter(s, store.LogWriterOptions{})
		w.Record(&aiproxy.Log{RequestID: "r1", Model: "m", ClientProtocol: aiproxy.ProtocolAnthropic})
		w.Close(ctx)
		got, _, err := s.Logs(ctx, aiproxy.LogFilter{})
		if err != nil || len(got) != 1 || got[0].ClientProtocol != aiproxy.ProtocolAnthropic {
			t.Fatalf("logs %+v, %v", got, err)
		}
	})
}

// A database migrated by the releases that had one migration set for
// every table (all recorded in bun_migrations) opens: the log part finds
// its tables and columns there and records its steps.
func TestMigrationsFromOneSet(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, dsn string) {
		db := storetest.OpenDB(t, dsn)
		for _, table := range []string{"bun_log_migrations", "bun_log_migration_locks"} {
			if _, err := store.Bun(db).NewDropTable().Table(table).Exec(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		again := storetest.OpenDB(t, dsn)
		if n := count(t, again, "bun_log_migrations"); n != 6 {
			t.Errorf("%d log migrations recorded, want 6", n)
		}
	})
}

// The migration lock belongs to its holder: Open waits while another
// process holds it, and a holder that died (its connection or file
// gone) leaves nothing behind.
func TestMigrationLock(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, dsn string) {
		db := storetest.OpenDB(t, dsn)
		die := store.LockMigrations(t, db)
		done := make(chan error, 1)
		go func() {
			other, err := store.Open(context.Background(), dsn)
			if err == nil {
				other.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			t.Fatalf("Open did not wait for the lock: %v", err)
		case <-time.After(300 * time.Millisecond):
		}
		die() // the holder dies: its connection closed, its file descriptor gone
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Open still waits after the holder died")
		}
	})
}

// Replicas sharing a database agree on one admin key: the first hash
// stored is the one every later call returns.
func TestAdminKeyHash(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, dsn string) {
		a, _ := open(t, dsn)
		b, _ := open(t, dsn)
		ctx := context.Background()
		kept, stored, err := a.AdminKeyHash(ctx, "first")
		if err != nil || !stored || kept != "first" {
			t.Fatalf("first: %q %v %v", kept, stored, err)
		}
		kept, stored, err = b.AdminKeyHash(ctx, "second")
		if err != nil || stored || kept != "first" {
			t.Fatalf("second: %q %v %v", kept, stored, err)
		}
	})
}
