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
		if n := count(t, db, "bun_migrations"); n != 2 { // 0001 and 0002
			t.Errorf("%d migrations recorded, want 2", n)
		}
		if n := count(t, db, "bun_migration_locks"); n != 0 {
			t.Errorf("%d migration locks left", n)
		}
		for _, table := range []string{"channels", "groups", "tokens", "model_configs", "logs"} {
			if n := count(t, db, table); n != 0 {
				t.Errorf("table %s has %d rows", table, n)
			}
		}
	})
}
