// Package store keeps the gateway's state in SQL: SQLite (embedded, the
// default), PostgreSQL or MySQL/MariaDB, through bun. It implements the
// services of package aiproxy, an in-memory Cache for the relay's hot path
// and an asynchronous, batched LogWriter.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/mysqldialect"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/aiproxy/aiproxy"
)

// Dialects, as returned by (*DB).Dialect.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
	MySQL    = "mysql"
)

// DB is an open database whose schema is migrated to the latest version.
type DB struct {
	// rw runs writes and transactions; ro runs reads. They are the same
	// pool except on SQLite, where rw has a single connection (SQLite
	// serializes writers anyway, and a Go-side queue beats busy-waiting)
	// and ro has several read-only ones that WAL lets run alongside it.
	rw, ro   *bun.DB
	dialect  string
	lockPath string // SQLite: the file whose flock serializes migrations
}

// Open connects to the database named by dsn and runs pending migrations.
//
// dsn is one of:
//   - postgres://… or postgresql://… — PostgreSQL, through pgx;
//   - mysql://user:pass@host:port/db?params, or a go-sql-driver DSN such as
//     user:pass@tcp(host:3306)/db — MySQL or MariaDB; parseTime, UTC and
//     utf8mb4 are always set;
//   - sqlite://path, sqlite:path, file:path or a plain path — SQLite, in WAL
//     mode, creating the file and its directory when missing. In-memory
//     databases are refused: the store needs several connections to one
//     database.
//
// It returns EINVALID for a malformed or empty dsn. Error messages never
// contain the password of dsn.
func Open(ctx context.Context, dsn string) (*DB, error) {
	return OpenSchema(ctx, dsn, SchemaAll)
}

// OpenSchema is Open for a database that holds only the parts of the
// schema named: SchemaMain for a main database whose logs go elsewhere,
// SchemaLogs for that log database (LOG_SQL_DSN).
func OpenSchema(ctx context.Context, dsn string, schema Schema) (*DB, error) {
	src, err := parseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	db, err := src.open(ctx)
	if err == nil {
		if err = db.migrate(ctx, schema); err != nil {
			db.Close()
		}
	}
	if err != nil {
		return nil, src.errorf(err)
	}
	return db, nil
}

// Close closes the connection pools.
func (db *DB) Close() error {
	err := db.rw.Close()
	if db.ro != db.rw {
		err = errors.Join(err, db.ro.Close())
	}
	return err
}

// Dialect returns SQLite, Postgres or MySQL (which covers MariaDB).
func (db *DB) Dialect() string { return db.dialect }

// Ping checks that the database answers, within ctx.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.rw.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// source is a parsed DSN.
type source struct {
	desc    string                             // the DSN without its password, for messages
	secrets []string                           // passwords, as given and decoded, kept out of messages
	open    func(context.Context) (*DB, error) // connects and pings
}

// errorf wraps err for Open, scrubbing any password a driver put in it.
func (s *source) errorf(err error) error {
	if msg := s.scrub(err.Error()); msg != err.Error() {
		return fmt.Errorf("store: open %s: %s", s.desc, msg)
	}
	return fmt.Errorf("store: open %s: %w", s.desc, err)
}

// scrub replaces the passwords in msg.
func (s *source) scrub(msg string) string {
	for _, p := range s.secrets {
		if p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	return msg
}

func parseDSN(dsn string) (*source, error) {
	scheme, _, hasScheme := strings.Cut(dsn, "://")
	switch {
	case strings.TrimSpace(dsn) == "":
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "empty DSN")
	case hasScheme && (scheme == "postgres" || scheme == "postgresql"):
		return parsePostgres(dsn)
	case hasScheme && scheme == "mysql":
		return parseMySQLURL(dsn)
	case hasScheme && scheme != "sqlite" && scheme != "file":
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "unsupported DSN scheme %q: use postgres://, mysql://, sqlite:// or a file path", scheme)
	case strings.Contains(dsn, "@tcp(") || strings.Contains(dsn, "@unix(") || strings.HasPrefix(dsn, "tcp(") || strings.HasPrefix(dsn, "unix("):
		return parseMySQL(dsn)
	}
	return parseSQLite(dsn)
}

// sqlitePragmas are set on every SQLite connection. _txlock=immediate makes
// BEGIN take the write lock at once, so a transaction never fails to
// upgrade a read lock to a write lock with SQLITE_BUSY. busy_timeout comes
// first: the pragmas run in order, and switching a new database to WAL
// takes a lock that another process may hold.
// sqliteWriterPragmas are set on the writer connection, before the DSN's:
// a 16 MiB page cache (the default 2 MiB spills pages of the log table's
// indexes mid-transaction) and a checkpoint every 8000 pages (32 MiB of
// WAL) instead of 1000, which writes a page touched by many batches back
// to the database file once instead of many times. Together they cut the
// CPU of writing a log by a quarter (BenchmarkLogWriter).
const sqliteWriterPragmas = "_pragma=cache_size(-16384)&_pragma=wal_autocheckpoint(8000)"

const sqlitePragmas = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"

func parseSQLite(dsn string) (*source, error) {
	path := dsn
	for _, prefix := range []string{"sqlite://", "sqlite:", "file://", "file:"} {
		if p, ok := strings.CutPrefix(path, prefix); ok {
			path = p
			break
		}
	}
	path, query, _ := strings.Cut(path, "?")
	if path == "" || path == ":memory:" || strings.Contains(query, "mode=memory") {
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "SQLite needs a database file path, got %q", dsn)
	}
	params := sqlitePragmas
	if query != "" {
		params += "&" + query // later pragmas win
	}
	src := &source{desc: "sqlite " + path}
	src.open = func(ctx context.Context) (*DB, error) {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, err
		}
		rw, err := sql.Open("sqlite", path+"?"+sqliteWriterPragmas+"&"+params)
		if err != nil {
			return nil, err
		}
		rw.SetMaxOpenConns(1)
		rw.SetMaxIdleConns(1)
		if err := pingSQLite(ctx, rw); err != nil { // creates the file in WAL mode
			rw.Close()
			return nil, err
		}
		ro, err := sql.Open("sqlite", path+"?"+params+"&_query_only=1")
		if err != nil {
			rw.Close()
			return nil, err
		}
		n := max(4, runtime.GOMAXPROCS(0))
		ro.SetMaxOpenConns(n)
		ro.SetMaxIdleConns(n)
		return &DB{
			rw:       bun.NewDB(rw, sqlitedialect.New()),
			ro:       bun.NewDB(ro, sqlitedialect.New()),
			dialect:  SQLite,
			lockPath: path + "-migrate.lock",
		}, nil
	}
	return src, nil
}

// pingSQLite opens the first connection, which sets the pragmas. Switching
// a new database to WAL while another process opens it too can fail with
// SQLITE_BUSY before the busy timeout applies (SQLite does not wait on
// every lock the switch takes): that is retried for up to ten seconds.
func pingSQLite(ctx context.Context, db *sql.DB) error {
	delay := 5 * time.Millisecond
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := db.PingContext(ctx)
		var se interface{ Code() int }
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != 5 || time.Now().After(deadline) { // 5: SQLITE_BUSY and its extended codes
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}

func parsePostgres(dsn string) (*source, error) {
	src := &source{desc: "postgres", secrets: urlPassword(dsn)}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "malformed postgres DSN: %s", src.scrub(err.Error()))
	}
	src.secrets = append(src.secrets, cfg.Password)
	src.desc = fmt.Sprintf("postgres://%s@%s/%s", cfg.User, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), cfg.Database)
	// bun sends queries with their arguments inlined, so preparing and
	// caching every distinct statement would only cost round trips.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	src.open = func(ctx context.Context) (*DB, error) {
		sqldb, err := connectNetwork(ctx, stdlib.GetConnector(*cfg))
		if err != nil {
			return nil, err
		}
		b := bun.NewDB(sqldb, pgdialect.New())
		return &DB{rw: b, ro: b, dialect: Postgres}, nil
	}
	return src, nil
}

func parseMySQLURL(dsn string) (*source, error) {
	secrets := urlPassword(dsn)
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "malformed mysql DSN: want mysql://user:pass@host:port/db?params")
	}
	cfg, err := mysql.ParseDSN("/?" + u.RawQuery)
	if err != nil {
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "malformed mysql DSN parameters: %v", err)
	}
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.Net = "tcp"
	cfg.Addr = u.Host
	if u.Port() == "" {
		cfg.Addr = net.JoinHostPort(u.Hostname(), "3306")
	}
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	return mysqlSource(cfg, append(secrets, cfg.Passwd))
}

func parseMySQL(dsn string) (*source, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "malformed mysql DSN: %v", err)
	}
	return mysqlSource(cfg, []string{cfg.Passwd})
}

func mysqlSource(cfg *mysql.Config, secrets []string) (*source, error) {
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	collation := cfg.Collation
	if !strings.HasPrefix(collation, "utf8mb4_") {
		collation = ""
	}
	if err := cfg.Apply(mysql.Charset("utf8mb4", collation)); err != nil {
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "malformed mysql DSN: %v", err)
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'" // CURRENT_TIMESTAMP in UTC too
	src := &source{
		desc:    fmt.Sprintf("mysql://%s@%s/%s", cfg.User, cfg.Addr, cfg.DBName),
		secrets: secrets,
	}
	src.open = func(ctx context.Context) (*DB, error) {
		conn, err := mysql.NewConnector(cfg)
		if err != nil {
			return nil, err
		}
		sqldb, err := connectNetwork(ctx, conn)
		if err != nil {
			return nil, err
		}
		// The dialect asks the server's version here, to tell MariaDB.
		b := bun.NewDB(sqldb, mysqldialect.New())
		return &DB{rw: b, ro: b, dialect: MySQL}, nil
	}
	return src, nil
}

// urlPassword returns the password of a URL-form DSN as written (perhaps
// percent-encoded) and decoded, found without parsing the URL, which may
// be malformed.
func urlPassword(dsn string) []string {
	_, rest, _ := strings.Cut(dsn, "://")
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[:i]
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return nil
	}
	_, raw, ok := strings.Cut(rest[:at], ":")
	if !ok {
		return nil
	}
	decoded, _ := url.PathUnescape(raw)
	return []string{raw, decoded}
}

// connectNetwork opens the pool of a networked database and pings it. The
// relay reads from the Cache, so the pool serves the log writer, cache
// misses and the admin API; idle connections are recycled before servers
// or proxies drop them.
func connectNetwork(ctx context.Context, c driver.Connector) (*sql.DB, error) {
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(2 * time.Minute)
	db.SetConnMaxLifetime(30 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}
