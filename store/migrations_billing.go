package store

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
