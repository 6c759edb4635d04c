// Package storetest gives tests fresh, empty databases of every kind the
// store supports, and open Stores on them.
//
// SQLite is always available. PostgreSQL and MySQL/MariaDB are used when
// TEST_POSTGRES_DSN (such as
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable) and
// TEST_MYSQL_DSN (a go-sql-driver DSN such as root@tcp(127.0.0.1:3306)/test)
// name a reachable server; otherwise their tests are skipped, except when
// CI=true, where they fail.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"github.com/aiproxy/aiproxy/store"
)

// EachDB runs fn as the subtests "sqlite", "postgres" and "mysql", each
// with the DSN of a fresh, isolated, empty database that is dropped when
// the subtest ends.
func EachDB(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Helper()
	for _, db := range []struct {
		name string
		dsn  func(testing.TB) string
	}{
		{store.SQLite, SQLiteDSN},
		{store.Postgres, PostgresDSN},
		{store.MySQL, MySQLDSN},
	} {
		t.Run(db.name, func(t *testing.T) { fn(t, db.dsn(t)) })
	}
}

// Open opens a Store on dsn, keeping logs in the same database, and starts
// it; the test's cleanup closes everything.
func Open(tb testing.TB, dsn string) *store.Store {
	tb.Helper()
	db := OpenDB(tb, dsn)
	s := store.New(db, db)
	if err := s.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

// OpenDB opens (and migrates) the database at dsn; the test's cleanup
// closes it.
func OpenDB(tb testing.TB, dsn string) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Error(err)
		}
	})
	return db
}

// FreshDSN returns the DSN of another fresh, empty database of the
// dialect, dropped when the test ends.
func FreshDSN(tb testing.TB, dialect string) string {
	switch dialect {
	case store.Postgres:
		return PostgresDSN(tb)
	case store.MySQL:
		return MySQLDSN(tb)
	}
	return SQLiteDSN(tb)
}

// SQLiteDSN returns the path of a new SQLite database in a temporary
// directory.
func SQLiteDSN(tb testing.TB) string {
	return filepath.Join(tb.TempDir(), "aiproxy.db")
}

// PostgresDSN creates a schema with a unique name in the database of
// TEST_POSTGRES_DSN and returns a DSN whose search_path is that schema.
// The schema is dropped when the test ends.
func PostgresDSN(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv("TEST_POSTGRES_DSN")
	if base == "" {
		unavailable(tb, "TEST_POSTGRES_DSN is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	name := uniqueName()
	dsn, err := withSearchPath(base, name)
	if err != nil {
		tb.Fatalf("TEST_POSTGRES_DSN: %v", err)
	}
	admin := connect(tb, "PostgreSQL (TEST_POSTGRES_DSN)", "pgx", base)
	create(tb, admin, `CREATE SCHEMA `+name, `DROP SCHEMA IF EXISTS `+name+` CASCADE`)
	return dsn
}

// withSearchPath adds search_path=schema to a URL or keyword/value DSN.
func withSearchPath(dsn, schema string) (string, error) {
	if !strings.Contains(dsn, "://") {
		return dsn + " search_path=" + schema, nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", errors.New("malformed URL")
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// MySQLDSN creates a database with a unique name on the server of
// TEST_MYSQL_DSN, a go-sql-driver DSN, and returns a DSN naming it. The
// database is dropped when the test ends.
func MySQLDSN(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv("TEST_MYSQL_DSN")
	if base == "" {
		unavailable(tb, "TEST_MYSQL_DSN is not set (e.g. root@tcp(127.0.0.1:3306)/test)")
	}
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		tb.Fatalf("TEST_MYSQL_DSN must be a go-sql-driver DSN such as root@tcp(127.0.0.1:3306)/test: %v", err)
	}
	admin := connect(tb, "MySQL (TEST_MYSQL_DSN)", "mysql", base)
	name := uniqueName()
	create(tb, admin, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", "DROP DATABASE IF EXISTS "+name)
	cfg.DBName = name
	return cfg.FormatDSN()
}

// connect opens an administrative connection, closed when the test ends.
func connect(tb testing.TB, what, driver, dsn string) *sql.DB {
	tb.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
	tb.Cleanup(func() { db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		unavailable(tb, "%s is unreachable: %v", what, err)
	}
	return db
}

// create runs the statement creating a database object, and the one
// dropping it when the test ends.
func create(tb testing.TB, db *sql.DB, createStmt, dropStmt string) {
	tb.Helper()
	if _, err := db.Exec(createStmt); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if _, err := db.Exec(dropStmt); err != nil {
			tb.Errorf("drop test database: %v", err)
		}
	})
}

// unavailable skips the test, or fails it when CI=true.
func unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf(format+" (required when CI=true)", args...)
	}
	tb.Skipf(format, args...)
}

// uniqueName returns a fresh lower-case identifier.
func uniqueName() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "aiproxy_test_" + hex.EncodeToString(b)
}

// Redis connects to TEST_REDIS_URL with a key prefix of its own, so that
// tests running at once do not see each other's keys; the test's cleanup
// deletes the keys under the prefix and closes the client. It skips the
// test when TEST_REDIS_URL is unset, or fails it when CI=true.
func Redis(tb testing.TB) *store.Redis {
	tb.Helper()
	url := os.Getenv("TEST_REDIS_URL")
	if url == "" {
		unavailable(tb, "TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/0)")
	}
	r, err := store.OpenRedis(context.Background(), url, uniqueName()+":")
	if err != nil {
		unavailable(tb, "Redis (TEST_REDIS_URL): %v", err)
	}
	tb.Cleanup(func() {
		ctx := context.Background()
		iter := r.Client.Scan(ctx, 0, r.Prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			r.Client.Del(ctx, iter.Val())
		}
		r.Close()
	})
	return r
}
