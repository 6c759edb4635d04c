package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"
)

// Schema says which tables a database holds: the main ones (groups,
// channels, tokens, model configs, settings), the request logs, or both.
// Each part has its own migrations, recorded in its own table, so that a
// separate log database (LOG_SQL_DSN) holds only logs and the main one no
// logs.
type Schema uint8

const (
	SchemaMain Schema = 1 << iota
	SchemaLogs
	SchemaAll = SchemaMain | SchemaLogs
)

// migrationSet is the migrations of one part of the schema.
type migrationSet struct {
	part       Schema
	table      string // where bun records the migrations applied
	locksTable string // bun's lock table, created by Init and never used
	steps      [][]string
}

// migrationSets are the parts, main first. Append steps; never edit one
// that has been released. The main part keeps the table names of the
// releases that had one set for everything, whose 0001 and 0002 created
// and altered every table: a database they migrated has the main part's
// steps recorded, and its log part (recorded nowhere yet) finds its
// tables there already, which the idempotent steps allow.
var migrationSets = []migrationSet{
	{SchemaMain, "bun_migrations", "bun_migration_locks", [][]string{mainV1, mainV2, mainV3, mainV4, mainV5, mainV6, mainV7, mainV8}},
	{SchemaLogs, "bun_log_migrations", "bun_log_migration_locks", [][]string{logsV1, logsV2, logsV3, logsV4, logsV5, logsV6}},
}

// migrations returns the set's migrations in the dialect's SQL, named
// 0001, 0002, ... in order.
func (set *migrationSet) migrations(dialect string) *migrate.Migrations {
	r := ddl[dialect]
	ms := migrate.NewMigrations()
	for i, stmts := range set.steps {
		ms.Add(migrate.Migration{Name: fmt.Sprintf("%04d", i+1), Up: execSchema(r, dialect, forDialect(stmts, dialect))})
	}
	return ms
}

// forDialect returns the statements that run on dialect: a statement
// beginning with "{only d1 d2}" runs only on the dialects named (and
// loses the prefix), the others everywhere.
func forDialect(stmts []string, dialect string) []string {
	out := make([]string, 0, len(stmts))
	for _, stmt := range stmts {
		if rest, ok := strings.CutPrefix(stmt, "{only "); ok {
			names, body, _ := strings.Cut(rest, "}")
			if !slices.Contains(strings.Fields(names), dialect) {
				continue
			}
			stmt = strings.TrimLeft(body, " \n")
		}
		out = append(out, stmt)
	}
	return out
}

// mainV1 creates the main tables. Identifiers are double-quoted (MySQL
// gets backquotes) and {id}, {time}, {text}, {table} and {add} stand for
// the dialect's auto-increment key, timestamp with microseconds in UTC,
// unbounded text, table options and ADD COLUMN (IF NOT EXISTS where the
// dialect has it). Every statement is idempotent, so a migration that
// failed half-way (MySQL DDL cannot be rolled back) runs again cleanly.
var mainV1 = []string{
	`CREATE TABLE IF NOT EXISTS "groups" (
	"id" VARCHAR(64) NOT NULL PRIMARY KEY,
	"description" {text} NOT NULL,
	"enabled" BOOLEAN NOT NULL,
	"created_at" {time} NOT NULL,
	"updated_at" {time} NOT NULL
) {table}`,
	`CREATE TABLE IF NOT EXISTS "channels" (
	"id" {id},
	"name" VARCHAR(128) NOT NULL,
	"type" VARCHAR(32) NOT NULL,
	"base_url" {text} NOT NULL,
	"api_key" {text} NOT NULL,
	"models" {text} NOT NULL,
	"model_mapping" {text} NOT NULL,
	"priority" INTEGER NOT NULL,
	"weight" INTEGER NOT NULL,
	"enabled" BOOLEAN NOT NULL,
	"created_at" {time} NOT NULL,
	"updated_at" {time} NOT NULL
) {table}`,
	`CREATE TABLE IF NOT EXISTS "tokens" (
	"id" {id},
	"group_id" VARCHAR(64) NOT NULL,
	"name" VARCHAR(128) NOT NULL,
	"prefix" VARCHAR(16) NOT NULL,
	"key_hash" VARCHAR(64) NOT NULL,
	"models" {text} NOT NULL,
	"subnets" {text} NOT NULL,
	"expires_at" {time} NULL,
	"enabled" BOOLEAN NOT NULL,
	"created_at" {time} NOT NULL,
	"updated_at" {time} NOT NULL,
	FOREIGN KEY ("group_id") REFERENCES "groups" ("id")
) {table}`,
	`CREATE UNIQUE INDEX IF NOT EXISTS "tokens_key_hash" ON "tokens" ("key_hash")`,
	`CREATE INDEX IF NOT EXISTS "tokens_group_id" ON "tokens" ("group_id")`,
	`CREATE TABLE IF NOT EXISTS "model_configs" (
	"model" VARCHAR(256) NOT NULL PRIMARY KEY,
	"mode" VARCHAR(32) NOT NULL,
	"input_price" BIGINT NOT NULL,
	"output_price" BIGINT NOT NULL,
	"cached_price" BIGINT NOT NULL,
	"rpm" BIGINT NOT NULL,
	"tpm" BIGINT NOT NULL,
	"created_at" {time} NOT NULL,
	"updated_at" {time} NOT NULL
) {table}`,
}

// logsV1 creates the logs table.
var logsV1 = []string{
	`CREATE TABLE IF NOT EXISTS "logs" (
	"id" {id},
	"request_id" VARCHAR(128) NOT NULL,
	"created_at" {time} NOT NULL,
	"group_id" VARCHAR(64) NOT NULL,
	"token_id" BIGINT NOT NULL,
	"token_name" VARCHAR(128) NOT NULL,
	"channel_id" BIGINT NOT NULL,
	"model" VARCHAR(256) NOT NULL,
	"upstream_model" VARCHAR(256) NOT NULL,
	"endpoint" VARCHAR(256) NOT NULL,
	"mode" VARCHAR(32) NOT NULL,
	"stream" BOOLEAN NOT NULL,
	"status_code" INTEGER NOT NULL,
	"prompt_tokens" BIGINT NOT NULL,
	"completion_tokens" BIGINT NOT NULL,
	"cached_tokens" BIGINT NOT NULL,
	"total_tokens" BIGINT NOT NULL,
	"usage_counted" BOOLEAN NOT NULL,
	"amount" BIGINT NOT NULL,
	"unpriced" BOOLEAN NOT NULL,
	"ttfb_us" BIGINT NOT NULL,
	"latency_us" BIGINT NOT NULL,
	"client_ip" VARCHAR(64) NOT NULL,
	"error" {text} NOT NULL,
	"request_body" {text} NOT NULL,
	"response_body" {text} NOT NULL
) {table}`,
	`CREATE INDEX IF NOT EXISTS "logs_group_id" ON "logs" ("group_id", "id")`,
	`CREATE INDEX IF NOT EXISTS "logs_token_id" ON "logs" ("token_id", "id")`,
	`CREATE INDEX IF NOT EXISTS "logs_channel_id" ON "logs" ("channel_id", "id")`,
	`CREATE INDEX IF NOT EXISTS "logs_model" ON "logs" ("model", "id")`,
	`CREATE INDEX IF NOT EXISTS "logs_created_at" ON "logs" ("created_at")`,
	`CREATE INDEX IF NOT EXISTS "logs_request_id" ON "logs" ("request_id")`,
}

// mainV2 and logsV2 add what the Anthropic and Gemini protocols brought:
// a channel's per-type config, the protocols of a logged request, and the
// cache-creation and reasoning token counts. A column that exists already
// is skipped (a database migrated by the releases with one set has the
// log columns; a MySQL run that failed half-way, its DDL not rolled back,
// has some).
var mainV2 = []string{
	`ALTER TABLE "channels" {add} "config" {text} NULL`,
}

// mainV4 adds channel sets (the sets a channel belongs to and those a
// group may use: JSON arrays, NULL meaning {"default"}), a channel's
// proxy, extra headers and breaker threshold, and a model's retry and
// timeout overrides (NULL: the gateway's).
var mainV4 = []string{
	`ALTER TABLE "channels" {add} "sets" {text} NULL`,
	`ALTER TABLE "groups" {add} "available_sets" {text} NULL`,
	`ALTER TABLE "channels" {add} "proxy_url" {text} NULL`,
	`ALTER TABLE "channels" {add} "headers" {text} NULL`,
	`ALTER TABLE "channels" {add} "breaker_threshold" DOUBLE PRECISION NULL`,
	`ALTER TABLE "model_configs" {add} "max_attempts" INTEGER NULL`,
	`ALTER TABLE "model_configs" {add} "timeout_ms" BIGINT NULL`,
	`ALTER TABLE "model_configs" {add} "first_event_timeout_ms" BIGINT NULL`,
}

// logsV3 adds the attempts of a request: the channels tried, as JSON.
var logsV3 = []string{
	`ALTER TABLE "logs" {add} "attempts" {text} NULL`,
}

// mainV3 adds the settings every replica shares, such as the hash of a
// generated admin key.
var mainV3 = []string{
	`CREATE TABLE IF NOT EXISTS "settings" (
	"name" VARCHAR(64) NOT NULL PRIMARY KEY,
	"value" {text} NOT NULL,
	"updated_at" {time} NOT NULL
) {table}`,
}

var logsV2 = []string{
	`ALTER TABLE "logs" {add} "client_protocol" VARCHAR(16) NOT NULL DEFAULT 'openai'`,
	`ALTER TABLE "logs" {add} "channel_protocol" VARCHAR(16) NOT NULL DEFAULT ''`,
	`ALTER TABLE "logs" {add} "cache_creation_tokens" BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE "logs" {add} "reasoning_tokens" BIGINT NOT NULL DEFAULT 0`,
}

// mainV5 adds tenancy and billing: groups' ratios, concurrency cap,
// prepaid credit and used amounts; tokens' quotas, own limits and used
// amounts; model configs' full pricing (JSON, integer nanos) and forced
// detail logging; per-group model overrides; the balance audit trail;
// and the ledger's record of applied batches, which makes a retried
// flush apply once.
var mainV5 = []string{
	`ALTER TABLE "groups" {add} "rpm_ratio" DOUBLE PRECISION NOT NULL DEFAULT 0`,
	`ALTER TABLE "groups" {add} "tpm_ratio" DOUBLE PRECISION NOT NULL DEFAULT 0`,
	`ALTER TABLE "groups" {add} "max_concurrency" BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE "groups" {add} "prepaid" BOOLEAN NOT NULL DEFAULT FALSE`,
	`ALTER TABLE "groups" {add} "credit" BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE "groups" {add} "low_balance" BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE "groups" {add} "used_amount" BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE "groups" {add} "request_count" BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE "tokens" {add} "quota" BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE "tokens" {add} "period_quota" BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE "tokens" {add} "period" VARCHAR(16) NOT NULL DEFAULT ''`,
	`ALTER TABLE "tokens" {add} "rpm" BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE "tokens" {add} "tpm" BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE "tokens" {add} "used_amount" BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE "tokens" {add} "request_count" BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE "tokens" {add} "period_used" BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE "tokens" {add} "period_start" {time} NULL`,
	`ALTER TABLE "model_configs" {add} "pricing" {text} NULL`,
	`ALTER TABLE "model_configs" {add} "save_detail" BOOLEAN NOT NULL DEFAULT FALSE`,
	`CREATE TABLE IF NOT EXISTS "group_model_configs" (
	"group_id" VARCHAR(64) NOT NULL,
	"model" VARCHAR(256) NOT NULL,
	"config" {text} NOT NULL,
	"created_at" {time} NOT NULL,
	"updated_at" {time} NOT NULL,
	PRIMARY KEY ("group_id", "model"),
	FOREIGN KEY ("group_id") REFERENCES "groups" ("id") ON DELETE CASCADE
) {table}`,
	`CREATE TABLE IF NOT EXISTS "balance_entries" (
	"id" {id},
	"group_id" VARCHAR(64) NOT NULL,
	"amount" BIGINT NOT NULL,
	"balance" BIGINT NOT NULL,
	"kind" VARCHAR(32) NOT NULL,
	"reason" {text} NOT NULL,
	"actor" VARCHAR(128) NOT NULL,
	"created_at" {time} NOT NULL
) {table}`,
	`CREATE INDEX IF NOT EXISTS "balance_entries_group_id" ON "balance_entries" ("group_id", "id")`,
	`CREATE TABLE IF NOT EXISTS "ledger_batches" (
	"id" VARCHAR(64) NOT NULL PRIMARY KEY,
	"created_at" {time} NOT NULL
) {table}`,
}

// logsV4 adds every usage and cost component of a request and its
// service tier.
var logsV4 = []string{
	`ALTER TABLE "logs" {add} "cache_creation_1h_tokens" BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE "logs" {add} "image_input_tokens" BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE "logs" {add} "audio_input_tokens" BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE "logs" {add} "image_output_tokens" BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE "logs" {add} "audio_output_tokens" BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE "logs" {add} "requests" BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE "logs" {add} "service_tier" VARCHAR(32) NOT NULL DEFAULT ''`,
	`ALTER TABLE "logs" {add} "cost_input" BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE "logs" {add} "cost_cached_input" BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE "logs" {add} "cost_cache_write" BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE "logs" {add} "cost_cache_write_1h" BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE "logs" {add} "cost_image_input" BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE "logs" {add} "cost_audio_input" BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE "logs" {add} "cost_output" BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE "logs" {add} "cost_reasoning" BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE "logs" {add} "cost_image_output" BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE "logs" {add} "cost_audio_output" BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE "logs" {add} "cost_request" BIGINT NOT NULL DEFAULT 0`,
}

// ddl turns the portable DDL of a migration into the dialect's.
var ddl = map[string]*strings.Replacer{
	SQLite: strings.NewReplacer(
		"{id}", "INTEGER PRIMARY KEY AUTOINCREMENT",
		"{time}", "TIMESTAMP",
		"{text}", "TEXT",
		"{table}", "",
		"{add}", "ADD COLUMN",
	),
	Postgres: strings.NewReplacer(
		"{id}", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
		"{time}", "TIMESTAMPTZ",
		"{text}", "TEXT",
		"{table}", "",
		"{add}", "ADD COLUMN IF NOT EXISTS",
	),
	// MySQL's DATETIME drops fractions of a second unless given a
	// precision, and TEXT holds only 64 KiB. The binary collation compares
	// like the other databases do: case-sensitively. MySQL has no CREATE
	// INDEX IF NOT EXISTS, so execSchema ignores "duplicate key name".
	MySQL: strings.NewReplacer(
		"{id}", "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY",
		"{time}", "DATETIME(6)",
		"{text}", "LONGTEXT",
		"{table}", "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
		"{add}", "ADD COLUMN",
		`"`, "`",
		"INDEX IF NOT EXISTS", "INDEX",
	),
}

// execSchema returns a migration running stmts, translated by r, in one
// transaction (which makes it atomic on SQLite and PostgreSQL). A
// statement beginning with "{if column table.column}" runs only while
// the table has the column, which makes dropping one idempotent.
func execSchema(r *strings.Replacer, dialect string, stmts []string) func(context.Context, *migrate.Migrator, *migrate.Migration) error {
	return func(ctx context.Context, m *migrate.Migrator, _ *migrate.Migration) error {
		return m.DB().RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			for _, stmt := range stmts {
				if rest, ok := strings.CutPrefix(stmt, "{if column "); ok {
					col, body, _ := strings.Cut(rest, "}")
					table, column, _ := strings.Cut(col, ".")
					has, err := hasColumn(ctx, tx, dialect, table, column)
					if err != nil {
						return err
					}
					if !has {
						continue
					}
					stmt = strings.TrimLeft(body, " \n")
				}
				_, err := tx.ExecContext(ctx, r.Replace(stmt))
				var myErr *mysql.MySQLError
				if errors.As(err, &myErr) && (myErr.Number == 1061 || myErr.Number == 1060 || myErr.Number == 1091) { // duplicate key or column name, or dropped already
					err = nil
				}
				if err != nil && strings.Contains(err.Error(), "duplicate column name") { // SQLite, which has no ADD COLUMN IF NOT EXISTS; the transaction goes on
					err = nil
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
}

// hasColumn reports whether table has column.
func hasColumn(ctx context.Context, db bun.IDB, dialect, table, column string) (bool, error) {
	var q string
	switch dialect {
	case SQLite:
		q = "SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?"
	case MySQL:
		q = "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ? AND column_name = ?"
	default:
		q = "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? AND column_name = ?"
	}
	var n int
	if err := db.QueryRowContext(ctx, q, table, column).Scan(&n); err != nil {
		return false, fmt.Errorf("look for column %s.%s: %w", table, column, err)
	}
	return n > 0, nil
}

// lockWait bounds how long Open waits for another process's migration.
const lockWait = time.Minute

// migrate runs the pending migrations of the parts of schema, holding the
// database's migration lock (lockMigrations), so that replicas starting
// together migrate once: the others wait, then find nothing to do.
func (db *DB) migrate(ctx context.Context, schema Schema) error {
	lock, err := db.lockMigrations(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer lock.release()
	for i := range migrationSets {
		set := &migrationSets[i]
		if schema&set.part == 0 {
			continue
		}
		m := migrate.NewMigrator(db.rw, set.migrations(db.dialect),
			migrate.WithTableName(set.table), migrate.WithLocksTableName(set.locksTable), migrate.WithMarkAppliedOnSuccess(true))
		if err := m.Init(ctx); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if _, err := m.Migrate(ctx); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	return nil
}

// lockMigrations takes the lock that serializes migrations between
// processes, waiting up to lockWait. The lock goes with its holder: a
// PostgreSQL advisory lock and a MySQL named lock (GET_LOCK, named after
// the database) belong to a connection the server drops when the process
// dies; SQLite's is an flock on a file beside the database, which the
// kernel drops with the process. A crashed replica never leaves a lock
// behind.
func (db *DB) lockMigrations(ctx context.Context) (*migrationLock, error) {
	ctx, cancel := context.WithTimeout(ctx, lockWait)
	defer cancel()
	if db.dialect == SQLite {
		f, err := lockFile(ctx, db.lockPath)
		if err != nil {
			return nil, err
		}
		return &migrationLock{file: f}, nil
	}
	conn, err := db.rw.DB.Conn(ctx)
	if err != nil {
		return nil, err
	}
	l := &migrationLock{conn: conn}
	var lock string
	switch db.dialect {
	case Postgres:
		lock, l.unlock = "SELECT pg_advisory_lock(4242170505)", "SELECT pg_advisory_unlock(4242170505)" // per database
	case MySQL:
		lock, l.unlock = "SELECT GET_LOCK(CONCAT('aiproxy.migrate.', DATABASE()), 60)", "SELECT RELEASE_LOCK(CONCAT('aiproxy.migrate.', DATABASE()))"
	}
	var got sql.NullString // PostgreSQL's is void; MySQL's 1 when taken, 0 on its timeout, NULL on an error
	if err := conn.QueryRowContext(ctx, lock).Scan(&got); err != nil || (db.dialect == MySQL && got.String != "1") {
		conn.Close()
		if err == nil || ctx.Err() != nil {
			err = errors.Join(err, errLockWait)
		}
		return nil, err
	}
	return l, nil
}

// migrationLock is a migration lock held.
type migrationLock struct {
	conn   *sql.Conn // PostgreSQL and MySQL: the session holding it
	unlock string
	file   io.Closer // SQLite: the locked file
}

// release frees the lock, and closes the session that held it.
func (l *migrationLock) release() {
	if l.conn != nil {
		if _, err := l.conn.ExecContext(context.Background(), l.unlock); err != nil {
			slog.Warn("store: release the migration lock", "err", err) // closing the connection releases it
		}
	}
	l.drop()
}

// drop lets go of the lock as a process that dies does: its connection
// or file closed, nothing said.
func (l *migrationLock) drop() {
	if l.conn != nil {
		// Close the session itself, not only hand it back to the pool,
		// where it would keep the lock.
		l.conn.Raw(func(any) error { return driver.ErrBadConn })
		l.conn.Close()
	}
	if l.file != nil {
		l.file.Close()
	}
}

// errLockWait reports that the migration lock was not free in time.
var errLockWait = errors.New("another process has held the migration lock for over a minute (a migration still running, or a stuck connection)")

// Issue 8's migrations, each owned by one part of the monitoring work:
// logsV5 the log rows' new columns, their detail table and retention;
// logsV6 the summaries; mainV6 the alerts.
var (
	// logsV5: the log rows gain the upstream request id and the request's
	// user and metadata; bodies move to log_details, which is cleaned on
	// its own schedule; a request id is unique, which makes a replayed
	// batch harmless. PostgreSQL's logs become a table partitioned by day
	// of created_at (so retention drops partitions): the rows move to a
	// partition before the day of the migration, later days get theirs
	// from the LogCleaner, and a default partition takes what none covers.
	// On PostgreSQL a unique index must hold the partition key, so there
	// it is (request_id, created_at), which a replay repeats exactly.
	logsV5 = []string{
		`CREATE TABLE IF NOT EXISTS "log_details" (
	"request_id" VARCHAR(128) NOT NULL PRIMARY KEY,
	"created_at" {time} NOT NULL,
	"request_body" {text} NOT NULL,
	"response_body" {text} NOT NULL,
	"request_truncated" BOOLEAN NOT NULL,
	"response_truncated" BOOLEAN NOT NULL
) {table}`,
		`CREATE INDEX IF NOT EXISTS "log_details_created_at" ON "log_details" ("created_at")`,

		`{only postgres} DO $$
BEGIN
IF EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = 'logs'::regclass) THEN
	RETURN; -- converted already
END IF;
	CREATE SEQUENCE IF NOT EXISTS "logs_v5_id_seq";
	CREATE TABLE "logs_v5" (
		"id" BIGINT NOT NULL DEFAULT nextval('logs_v5_id_seq'),
		"request_id" VARCHAR(128) NOT NULL,
		"created_at" TIMESTAMPTZ NOT NULL,
		"group_id" VARCHAR(64) NOT NULL,
		"token_id" BIGINT NOT NULL,
		"token_name" VARCHAR(128) NOT NULL,
		"channel_id" BIGINT NOT NULL,
		"model" VARCHAR(256) NOT NULL,
		"upstream_model" VARCHAR(256) NOT NULL,
		"endpoint" VARCHAR(256) NOT NULL,
		"mode" VARCHAR(32) NOT NULL,
		"stream" BOOLEAN NOT NULL,
		"status_code" INTEGER NOT NULL,
		"prompt_tokens" BIGINT NOT NULL,
		"completion_tokens" BIGINT NOT NULL,
		"cached_tokens" BIGINT NOT NULL,
		"total_tokens" BIGINT NOT NULL,
		"usage_counted" BOOLEAN NOT NULL,
		"amount" BIGINT NOT NULL,
		"unpriced" BOOLEAN NOT NULL,
		"ttfb_us" BIGINT NOT NULL,
		"latency_us" BIGINT NOT NULL,
		"client_ip" VARCHAR(64) NOT NULL,
		"error" TEXT NOT NULL,
		"client_protocol" VARCHAR(16) NOT NULL DEFAULT 'openai',
		"channel_protocol" VARCHAR(16) NOT NULL DEFAULT '',
		"cache_creation_tokens" BIGINT NOT NULL DEFAULT 0,
		"reasoning_tokens" BIGINT NOT NULL DEFAULT 0,
		"attempts" TEXT NULL,
		"cache_creation_1h_tokens" BIGINT NOT NULL DEFAULT 0,
		"image_input_tokens" BIGINT NOT NULL DEFAULT 0,
		"audio_input_tokens" BIGINT NOT NULL DEFAULT 0,
		"image_output_tokens" BIGINT NOT NULL DEFAULT 0,
		"audio_output_tokens" BIGINT NOT NULL DEFAULT 0,
		"requests" BIGINT NOT NULL DEFAULT 0,
		"service_tier" VARCHAR(32) NOT NULL DEFAULT '',
		"cost_input" BIGINT NOT NULL DEFAULT 0,
		"cost_cached_input" BIGINT NOT NULL DEFAULT 0,
		"cost_cache_write" BIGINT NOT NULL DEFAULT 0,
		"cost_cache_write_1h" BIGINT NOT NULL DEFAULT 0,
		"cost_image_input" BIGINT NOT NULL DEFAULT 0,
		"cost_audio_input" BIGINT NOT NULL DEFAULT 0,
		"cost_output" BIGINT NOT NULL DEFAULT 0,
		"cost_reasoning" BIGINT NOT NULL DEFAULT 0,
		"cost_image_output" BIGINT NOT NULL DEFAULT 0,
		"cost_audio_output" BIGINT NOT NULL DEFAULT 0,
		"cost_request" BIGINT NOT NULL DEFAULT 0,
		"upstream_request_id" VARCHAR(128) NOT NULL DEFAULT '',
		"user" VARCHAR(256) NOT NULL DEFAULT '',
		"metadata" TEXT NULL,
		PRIMARY KEY ("id", "created_at")
	) PARTITION BY RANGE ("created_at");
	EXECUTE format('CREATE TABLE %I PARTITION OF logs_v5 FOR VALUES FROM (MINVALUE) TO (%L)',
			'logs_before_' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD'), to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD') || ' 00:00:00+00');
	CREATE TABLE "logs_default" PARTITION OF "logs_v5" DEFAULT;
	CREATE UNIQUE INDEX "logs_v5_request_id" ON "logs_v5" ("request_id", "created_at");
	INSERT INTO "logs_v5" ("id", "request_id", "created_at", "group_id", "token_id", "token_name", "channel_id", "model",
		"upstream_model", "endpoint", "mode", "stream", "status_code", "prompt_tokens", "completion_tokens", "cached_tokens", "total_tokens",
		"usage_counted", "amount", "unpriced", "ttfb_us", "latency_us", "client_ip", "error", "client_protocol", "channel_protocol",
		"cache_creation_tokens", "reasoning_tokens", "attempts", "cache_creation_1h_tokens", "image_input_tokens", "audio_input_tokens",
		"image_output_tokens", "audio_output_tokens", "requests", "service_tier", "cost_input", "cost_cached_input", "cost_cache_write",
		"cost_cache_write_1h", "cost_image_input", "cost_audio_input", "cost_output", "cost_reasoning", "cost_image_output",
		"cost_audio_output", "cost_request")
	SELECT "id", "request_id", "created_at", "group_id", "token_id", "token_name", "channel_id", "model",
		"upstream_model", "endpoint", "mode", "stream", "status_code", "prompt_tokens", "completion_tokens", "cached_tokens", "total_tokens",
		"usage_counted", "amount", "unpriced", "ttfb_us", "latency_us", "client_ip", "error", "client_protocol", "channel_protocol",
		"cache_creation_tokens", "reasoning_tokens", "attempts", "cache_creation_1h_tokens", "image_input_tokens", "audio_input_tokens",
		"image_output_tokens", "audio_output_tokens", "requests", "service_tier", "cost_input", "cost_cached_input", "cost_cache_write",
		"cost_cache_write_1h", "cost_image_input", "cost_audio_input", "cost_output", "cost_reasoning", "cost_image_output",
		"cost_audio_output", "cost_request"
	FROM "logs" ORDER BY "id" ON CONFLICT DO NOTHING;
	PERFORM setval('logs_v5_id_seq', COALESCE((SELECT MAX("id") FROM "logs"), 0) + 1, false);
	INSERT INTO "log_details" SELECT "request_id", "created_at", "request_body", "response_body", FALSE, FALSE
	FROM "logs" WHERE "request_body" <> '' OR "response_body" <> '' ON CONFLICT DO NOTHING;
	DROP TABLE "logs";
	ALTER TABLE "logs_v5" RENAME TO "logs";
	ALTER INDEX "logs_v5_request_id" RENAME TO "logs_request_id";
	ALTER SEQUENCE "logs_v5_id_seq" OWNED BY "logs"."id";
END $$`,
		`{only postgres} CREATE INDEX IF NOT EXISTS "logs_group_id" ON "logs" ("group_id", "id")`,
		`{only postgres} CREATE INDEX IF NOT EXISTS "logs_token_id" ON "logs" ("token_id", "id")`,
		`{only postgres} CREATE INDEX IF NOT EXISTS "logs_channel_id" ON "logs" ("channel_id", "id")`,
		`{only postgres} CREATE INDEX IF NOT EXISTS "logs_model" ON "logs" ("model", "id")`,
		`{only postgres} CREATE INDEX IF NOT EXISTS "logs_created_at" ON "logs" ("created_at")`,
		`{only postgres} CREATE INDEX IF NOT EXISTS "logs_failed" ON "logs" ("id") WHERE "error" <> ''`,

		`{only sqlite mysql} ALTER TABLE "logs" {add} "upstream_request_id" VARCHAR(128) NOT NULL DEFAULT ''`,
		`{only sqlite mysql} ALTER TABLE "logs" {add} "user" VARCHAR(256) NOT NULL DEFAULT ''`,
		`{only sqlite mysql} ALTER TABLE "logs" {add} "metadata" {text} NULL`,
		`{only sqlite}{if column logs.request_body} INSERT OR IGNORE INTO "log_details" SELECT "request_id", "created_at", "request_body", "response_body", FALSE, FALSE
FROM "logs" WHERE "request_body" <> '' OR "response_body" <> ''`,
		`{only mysql}{if column logs.request_body} INSERT IGNORE INTO "log_details" SELECT "request_id", "created_at", "request_body", "response_body", FALSE, FALSE
FROM "logs" WHERE "request_body" <> '' OR "response_body" <> ''`,
		`{only sqlite mysql}{if column logs.request_body} ALTER TABLE "logs" DROP COLUMN "request_body"`,
		`{only sqlite mysql}{if column logs.response_body} ALTER TABLE "logs" DROP COLUMN "response_body"`,
		// The unique index would fail on a request id logged twice: the
		// later rows go.
		`{only sqlite} DELETE FROM "logs" WHERE EXISTS (SELECT 1 FROM "logs" "l" WHERE "l"."request_id" = "logs"."request_id" AND "l"."id" < "logs"."id")`,
		`{only mysql} DELETE "a" FROM "logs" "a" JOIN "logs" "b" ON "b"."request_id" = "a"."request_id" AND "b"."id" < "a"."id"`,
		`{only sqlite mysql} CREATE UNIQUE INDEX IF NOT EXISTS "logs_request_id_unique" ON "logs" ("request_id")`,
		`{only sqlite} DROP INDEX IF EXISTS "logs_request_id"`,
		`{only mysql} DROP INDEX "logs_request_id" ON "logs"`,
		`{only sqlite} CREATE INDEX IF NOT EXISTS "logs_failed" ON "logs" ("id") WHERE "error" <> ''`,
	}
	// logsV6: the usage summaries (see Summarizer), per minute (span 60)
	// and per hour (span 3600) of bucket, the unix second the bucket
	// starts at; by channel × model and by group × token × model; and the
	// ids of the batches applied, so that a batch written again is not
	// counted twice.
	logsV6 = []string{
		`CREATE TABLE IF NOT EXISTS "summary_channels" (
	"span" INTEGER NOT NULL,
	"bucket" BIGINT NOT NULL,
	"channel_id" BIGINT NOT NULL,
	"model" VARCHAR(256) NOT NULL,
	"requests" BIGINT NOT NULL DEFAULT 0,
	"successes" BIGINT NOT NULL DEFAULT 0,
	"errors_4xx" BIGINT NOT NULL DEFAULT 0,
	"errors_5xx" BIGINT NOT NULL DEFAULT 0,
	"errors_429" BIGINT NOT NULL DEFAULT 0,
	"retries" BIGINT NOT NULL DEFAULT 0,
	"streams" BIGINT NOT NULL DEFAULT 0,
	"prompt_tokens" BIGINT NOT NULL DEFAULT 0,
	"completion_tokens" BIGINT NOT NULL DEFAULT 0,
	"cached_tokens" BIGINT NOT NULL DEFAULT 0,
	"cache_creation_tokens" BIGINT NOT NULL DEFAULT 0,
	"cache_creation_1h_tokens" BIGINT NOT NULL DEFAULT 0,
	"image_input_tokens" BIGINT NOT NULL DEFAULT 0,
	"audio_input_tokens" BIGINT NOT NULL DEFAULT 0,
	"reasoning_tokens" BIGINT NOT NULL DEFAULT 0,
	"image_output_tokens" BIGINT NOT NULL DEFAULT 0,
	"audio_output_tokens" BIGINT NOT NULL DEFAULT 0,
	"total_tokens" BIGINT NOT NULL DEFAULT 0,
	"billable_requests" BIGINT NOT NULL DEFAULT 0,
	"cost_input" BIGINT NOT NULL DEFAULT 0,
	"cost_cached_input" BIGINT NOT NULL DEFAULT 0,
	"cost_cache_write" BIGINT NOT NULL DEFAULT 0,
	"cost_cache_write_1h" BIGINT NOT NULL DEFAULT 0,
	"cost_image_input" BIGINT NOT NULL DEFAULT 0,
	"cost_audio_input" BIGINT NOT NULL DEFAULT 0,
	"cost_output" BIGINT NOT NULL DEFAULT 0,
	"cost_reasoning" BIGINT NOT NULL DEFAULT 0,
	"cost_image_output" BIGINT NOT NULL DEFAULT 0,
	"cost_audio_output" BIGINT NOT NULL DEFAULT 0,
	"cost_request" BIGINT NOT NULL DEFAULT 0,
	"latency_us" BIGINT NOT NULL DEFAULT 0,
	"ttfb_us" BIGINT NOT NULL DEFAULT 0,
	"latency_b00" BIGINT NOT NULL DEFAULT 0,
	"latency_b01" BIGINT NOT NULL DEFAULT 0,
	"latency_b02" BIGINT NOT NULL DEFAULT 0,
	"latency_b03" BIGINT NOT NULL DEFAULT 0,
	"latency_b04" BIGINT NOT NULL DEFAULT 0,
	"latency_b05" BIGINT NOT NULL DEFAULT 0,
	"latency_b06" BIGINT NOT NULL DEFAULT 0,
	"latency_b07" BIGINT NOT NULL DEFAULT 0,
	"latency_b08" BIGINT NOT NULL DEFAULT 0,
	"latency_b09" BIGINT NOT NULL DEFAULT 0,
	"latency_b10" BIGINT NOT NULL DEFAULT 0,
	"latency_b11" BIGINT NOT NULL DEFAULT 0,
	"latency_b12" BIGINT NOT NULL DEFAULT 0,
	"latency_b13" BIGINT NOT NULL DEFAULT 0,
	"latency_b14" BIGINT NOT NULL DEFAULT 0,
	"latency_b15" BIGINT NOT NULL DEFAULT 0,
	"latency_b16" BIGINT NOT NULL DEFAULT 0,
	"latency_b17" BIGINT NOT NULL DEFAULT 0,
	"latency_b18" BIGINT NOT NULL DEFAULT 0,
	"latency_b19" BIGINT NOT NULL DEFAULT 0,
	"latency_b20" BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY ("span", "bucket", "channel_id", "model")
) {table}`,
		`CREATE INDEX IF NOT EXISTS "summary_channels_channel" ON "summary_channels" ("channel_id", "span", "bucket")`,
		`CREATE TABLE IF NOT EXISTS "summary_tokens" (
	"span" INTEGER NOT NULL,
	"bucket" BIGINT NOT NULL,
	"group_id" VARCHAR(64) NOT NULL,
	"token_id" BIGINT NOT NULL,
	"model" VARCHAR(256) NOT NULL,
	"requests" BIGINT NOT NULL DEFAULT 0,
	"successes" BIGINT NOT NULL DEFAULT 0,
	"errors_4xx" BIGINT NOT NULL DEFAULT 0,
	"errors_5xx" BIGINT NOT NULL DEFAULT 0,
	"errors_429" BIGINT NOT NULL DEFAULT 0,
	"retries" BIGINT NOT NULL DEFAULT 0,
	"streams" BIGINT NOT NULL DEFAULT 0,
	"prompt_tokens" BIGINT NOT NULL DEFAULT 0,
	"completion_tokens" BIGINT NOT NULL DEFAULT 0,
	"cached_tokens" BIGINT NOT NULL DEFAULT 0,
	"cache_creation_tokens" BIGINT NOT NULL DEFAULT 0,
	"cache_creation_1h_tokens" BIGINT NOT NULL DEFAULT 0,
	"image_input_tokens" BIGINT NOT NULL DEFAULT 0,
	"audio_input_tokens" BIGINT NOT NULL DEFAULT 0,
	"reasoning_tokens" BIGINT NOT NULL DEFAULT 0,
	"image_output_tokens" BIGINT NOT NULL DEFAULT 0,
	"audio_output_tokens" BIGINT NOT NULL DEFAULT 0,
	"total_tokens" BIGINT NOT NULL DEFAULT 0,
	"billable_requests" BIGINT NOT NULL DEFAULT 0,
	"cost_input" BIGINT NOT NULL DEFAULT 0,
	"cost_cached_input" BIGINT NOT NULL DEFAULT 0,
	"cost_cache_write" BIGINT NOT NULL DEFAULT 0,
	"cost_cache_write_1h" BIGINT NOT NULL DEFAULT 0,
	"cost_image_input" BIGINT NOT NULL DEFAULT 0,
	"cost_audio_input" BIGINT NOT NULL DEFAULT 0,
	"cost_output" BIGINT NOT NULL DEFAULT 0,
	"cost_reasoning" BIGINT NOT NULL DEFAULT 0,
	"cost_image_output" BIGINT NOT NULL DEFAULT 0,
	"cost_audio_output" BIGINT NOT NULL DEFAULT 0,
	"cost_request" BIGINT NOT NULL DEFAULT 0,
	"latency_us" BIGINT NOT NULL DEFAULT 0,
	"ttfb_us" BIGINT NOT NULL DEFAULT 0,
	"latency_b00" BIGINT NOT NULL DEFAULT 0,
	"latency_b01" BIGINT NOT NULL DEFAULT 0,
	"latency_b02" BIGINT NOT NULL DEFAULT 0,
	"latency_b03" BIGINT NOT NULL DEFAULT 0,
	"latency_b04" BIGINT NOT NULL DEFAULT 0,
	"latency_b05" BIGINT NOT NULL DEFAULT 0,
	"latency_b06" BIGINT NOT NULL DEFAULT 0,
	"latency_b07" BIGINT NOT NULL DEFAULT 0,
	"latency_b08" BIGINT NOT NULL DEFAULT 0,
	"latency_b09" BIGINT NOT NULL DEFAULT 0,
	"latency_b10" BIGINT NOT NULL DEFAULT 0,
	"latency_b11" BIGINT NOT NULL DEFAULT 0,
	"latency_b12" BIGINT NOT NULL DEFAULT 0,
	"latency_b13" BIGINT NOT NULL DEFAULT 0,
	"latency_b14" BIGINT NOT NULL DEFAULT 0,
	"latency_b15" BIGINT NOT NULL DEFAULT 0,
	"latency_b16" BIGINT NOT NULL DEFAULT 0,
	"latency_b17" BIGINT NOT NULL DEFAULT 0,
	"latency_b18" BIGINT NOT NULL DEFAULT 0,
	"latency_b19" BIGINT NOT NULL DEFAULT 0,
	"latency_b20" BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY ("span", "bucket", "group_id", "token_id", "model")
) {table}`,
		`CREATE INDEX IF NOT EXISTS "summary_tokens_group" ON "summary_tokens" ("group_id", "span", "bucket")`,
		`CREATE TABLE IF NOT EXISTS "summary_batches" (
	"id" VARCHAR(64) NOT NULL PRIMARY KEY,
	"created_at" BIGINT NOT NULL
) {table}`,
		`CREATE INDEX IF NOT EXISTS "summary_batches_created_at" ON "summary_batches" ("created_at")`,
	}
	// mainV6: the alert history (package alert's Notifier), newest first
	// by id; alert_key is what alerts are throttled by.
	mainV6 = []string{
		`CREATE TABLE IF NOT EXISTS "alerts" (
	"id" {id},
	"kind" VARCHAR(32) NOT NULL,
	"severity" VARCHAR(16) NOT NULL,
	"alert_key" VARCHAR(256) NOT NULL,
	"title" {text} NOT NULL,
	"text" {text} NOT NULL,
	"channel_id" BIGINT NOT NULL,
	"group_id" VARCHAR(64) NOT NULL,
	"model" VARCHAR(256) NOT NULL,
	"delivered" BOOLEAN NOT NULL,
	"created_at" {time} NOT NULL
) {table}`,
		`CREATE INDEX IF NOT EXISTS "alerts_kind" ON "alerts" ("kind", "id")`,
		`CREATE INDEX IF NOT EXISTS "alerts_channel_id" ON "alerts" ("channel_id", "id")`,
	}
)

// mainV7: the MCP servers the gateway hosts and what each group set for
// them, and tokens' MCP tool allow-lists (a JSON array like models; NULL,
// for the rows before it, is every tool). A server's kind-specific
// config (the OpenAPI spec included, which may be large), tool prices
// and tools are JSON. A GROUP server's group_id references its group, a
// PUBLIC one's is NULL; deleting a group deletes its servers and its
// values for every server, as it deletes its model overrides, and
// deleting a server deletes every group's values for it.
var mainV7 = []string{
	`CREATE TABLE IF NOT EXISTS "mcp_servers" (
	"id" {id},
	"name" VARCHAR(48) NOT NULL,
	"description" {text} NOT NULL,
	"kind" VARCHAR(16) NOT NULL,
	"scope" VARCHAR(16) NOT NULL,
	"group_id" VARCHAR(64) NULL,
	"enabled" BOOLEAN NOT NULL,
	"allow_private_network" BOOLEAN NOT NULL,
	"call_price" BIGINT NOT NULL,
	"tool_prices" {text} NOT NULL,
	"config" {text} NOT NULL,
	"tools" {text} NOT NULL,
	"created_at" {time} NOT NULL,
	"updated_at" {time} NOT NULL,
	FOREIGN KEY ("group_id") REFERENCES "groups" ("id") ON DELETE CASCADE
) {table}`,
	`CREATE UNIQUE INDEX IF NOT EXISTS "mcp_servers_name" ON "mcp_servers" ("name")`,
	`CREATE INDEX IF NOT EXISTS "mcp_servers_group_id" ON "mcp_servers" ("group_id", "id")`,
	`CREATE INDEX IF NOT EXISTS "mcp_servers_scope" ON "mcp_servers" ("scope", "id")`,
	`CREATE TABLE IF NOT EXISTS "mcp_group_values" (
	"server_id" BIGINT NOT NULL,
	"group_id" VARCHAR(64) NOT NULL,
	"values" {text} NOT NULL,
	"disabled" BOOLEAN NOT NULL,
	"updated_at" {time} NOT NULL,
	PRIMARY KEY ("server_id", "group_id"),
	FOREIGN KEY ("server_id") REFERENCES "mcp_servers" ("id") ON DELETE CASCADE,
	FOREIGN KEY ("group_id") REFERENCES "groups" ("id") ON DELETE CASCADE
) {table}`,
	`CREATE INDEX IF NOT EXISTS "mcp_group_values_group_id" ON "mcp_group_values" ("group_id")`,
	`ALTER TABLE "tokens" {add} "mcp_tools" {text} NULL`,
}
