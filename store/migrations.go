package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"
)

// migrations returns every schema migration, in the dialect's SQL, in
// order. Append new ones; never edit one that has been released. Names
// sort as strings.
func migrations(dialect string) *migrate.Migrations {
	r := ddl[dialect]
	ms := migrate.NewMigrations()
	ms.Add(migrate.Migration{Name: "0001", Comment: "init", Up: execSchema(r, schemaV1)})
	ms.Add(migrate.Migration{Name: "0002", Comment: "protocols", Up: execSchema(r, schemaV2)})
	return ms
}

// schemaV1 creates every table. Identifiers are double-quoted (MySQL gets
// backquotes) and {id}, {time}, {text} and {table} stand for the dialect's
// auto-increment key, timestamp with microseconds in UTC, unbounded text
// and table options. Every statement is idempotent, so a migration that
// failed half-way (MySQL DDL cannot be rolled back) runs again cleanly.
var schemaV1 = []string{
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

// schemaV2 adds what the Anthropic and Gemini protocols brought: a
// channel's per-type config, the protocols of a logged request, and the
// cache-creation and reasoning token counts. SQLite and PostgreSQL run it
// in one transaction; on MySQL, whose DDL cannot be rolled back, a run
// that failed half-way is finished by the next, which skips the columns
// already added.
var schemaV2 = []string{
	`ALTER TABLE "channels" ADD COLUMN "config" {text} NULL`,
	`ALTER TABLE "logs" ADD COLUMN "client_protocol" VARCHAR(16) NOT NULL DEFAULT 'openai'`,
	`ALTER TABLE "logs" ADD COLUMN "channel_protocol" VARCHAR(16) NOT NULL DEFAULT ''`,
	`ALTER TABLE "logs" ADD COLUMN "cache_creation_tokens" BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE "logs" ADD COLUMN "reasoning_tokens" BIGINT NOT NULL DEFAULT 0`,
}

// ddl turns the portable DDL of a migration into the dialect's.
var ddl = map[string]*strings.Replacer{
	SQLite: strings.NewReplacer(
		"{id}", "INTEGER PRIMARY KEY AUTOINCREMENT",
		"{time}", "TIMESTAMP",
		"{text}", "TEXT",
		"{table}", "",
	),
	Postgres: strings.NewReplacer(
		"{id}", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
		"{time}", "TIMESTAMPTZ",
		"{text}", "TEXT",
		"{table}", "",
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
		`"`, "`",
		"INDEX IF NOT EXISTS", "INDEX",
	),
}

// execSchema returns a migration running stmts, translated by r, in one
// transaction (which makes it atomic on SQLite and PostgreSQL).
func execSchema(r *strings.Replacer, stmts []string) func(context.Context, *migrate.Migrator, *migrate.Migration) error {
	return func(ctx context.Context, m *migrate.Migrator, _ *migrate.Migration) error {
		return m.DB().RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			for _, stmt := range stmts {
				_, err := tx.ExecContext(ctx, r.Replace(stmt))
				var myErr *mysql.MySQLError
				if errors.As(err, &myErr) && (myErr.Number == 1061 || myErr.Number == 1060) { // duplicate key or column name
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

// lockWait bounds how long Open waits for another process's migration.
const lockWait = time.Minute

// errLocked reports that another process holds the migration lock.
var errLocked = errors.New("another process holds the migration lock")

// migrate runs pending migrations under bun's migration lock, so replicas
// starting together migrate once. It takes the lock only when something
// is pending: a lock left behind by a crashed process then blocks only
// the next schema change, and the error says how to clear it. Other
// failures (such as replicas racing to create bun's tables) are retried
// twice.
func (db *DB) migrate(ctx context.Context) error {
	m := migrate.NewMigrator(db.rw, migrations(db.dialect), migrate.WithMarkAppliedOnSuccess(true))
	deadline := time.Now().Add(lockWait)
	delay := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := tryMigrate(ctx, m)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, errLocked) && time.Now().After(deadline):
			return fmt.Errorf("migrate: %w (if no other aiproxy is starting, delete the row of bun_migration_locks)", err)
		case !errors.Is(err, errLocked) && attempt == 3:
			return fmt.Errorf("migrate: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("migrate: %w", errors.Join(err, ctx.Err()))
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

func tryMigrate(ctx context.Context, m *migrate.Migrator) error {
	if err := m.Init(ctx); err != nil {
		return err
	}
	ms, err := m.MigrationsWithStatus(ctx)
	if err != nil {
		return err
	}
	if len(ms.Unapplied()) == 0 {
		return nil
	}
	if err := m.Lock(ctx); err != nil {
		return fmt.Errorf("%w: %w", errLocked, err)
	}
	defer func() {
		if err := m.Unlock(context.WithoutCancel(ctx)); err != nil {
			slog.Warn("store: release the migration lock", "err", err)
		}
	}()
	_, err = m.Migrate(ctx)
	return err
}
