package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/uptrace/bun/migrate"

	"github.com/aiproxy/aiproxy"
)

// This file is an internal test: it runs a prefix of the log migrations,
// which only the package can. It cannot import storetest (which imports
// the package), so it makes its PostgreSQL schema itself, as storetest
// does.

// freshPostgres creates a schema of its own in the database of
// TEST_POSTGRES_DSN, dropped when the test ends, and returns a DSN whose
// search_path is that schema. It skips the test when TEST_POSTGRES_DSN is
// unset, or fails it when CI=true.
func freshPostgres(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv("TEST_POSTGRES_DSN")
	if base == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatal("TEST_POSTGRES_DSN is not set (required when CI=true)")
		}
		tb.Skip("TEST_POSTGRES_DSN is not set")
	}
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("TEST_POSTGRES_DSN: want a postgres:// URL: %v", err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "aiproxy_test_" + hex.EncodeToString(b)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { admin.Close() })
	if _, err := admin.Exec("CREATE SCHEMA " + name); err != nil {
		tb.Fatalf("TEST_POSTGRES_DSN: %v", err)
	}
	tb.Cleanup(func() {
		if _, err := admin.Exec("DROP SCHEMA IF EXISTS " + name + " CASCADE"); err != nil {
			tb.Errorf("drop test schema: %v", err)
		}
	})
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// migrateLogsBefore opens the database at dsn without migrating it, and
// runs the log migrations before the step whose first statement is
// step[0], as a release that stopped there left them (recorded in the same
// table, so that a later migrate runs only the rest).
func migrateLogsBefore(tb testing.TB, dsn string, step []string) *DB {
	tb.Helper()
	ctx := context.Background()
	src, err := parseDSN(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	db, err := src.open(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	i := slices.IndexFunc(migrationSets, func(s migrationSet) bool { return s.part == SchemaLogs })
	set := migrationSets[i]
	n := slices.IndexFunc(set.steps, func(s []string) bool { return &s[0] == &step[0] })
	if n < 1 {
		tb.Fatal("the step is not one of the log migrations after the first")
	}
	set.steps = set.steps[:n]
	m := migrate.NewMigrator(db.rw, set.migrations(db.dialect),
		migrate.WithTableName(set.table), migrate.WithLocksTableName(set.locksTable), migrate.WithMarkAppliedOnSuccess(true))
	if err := m.Init(ctx); err != nil {
		tb.Fatal(err)
	}
	if _, err := m.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	return db
}

// oldLog is a row of the logs table as logsV4 left it.
type oldLog struct {
	requestID, model, group, reqBody, respBody string
	createdAt                                  time.Time
}

// TestLogPartitionConversion fills a PostgreSQL logs table as the log
// migrations before logsV5 left it with rows over seven days (today's and
// tomorrow's among them, bodies on some, one row a replay of another), runs
// logsV5 and the rest, and checks that every row kept its id and values in
// the partition its day belongs to, its bodies moved to log_details, the
// indexes exist on every partition, new ids follow the old ones, the
// cleaner gives today and the next days partitions of their own (moving
// the rows the default one held), and retention deletes old rows and then
// drops whole partitions.
func TestLogPartitionConversion(t *testing.T) {
	ctx := context.Background()
	db := migrateLogsBefore(t, freshPostgres(t), logsV5)
	if db.dialect != Postgres {
		t.Fatalf("dialect %s", db.dialect)
	}

	now := time.Now().UTC()
	today := now.Truncate(24 * time.Hour)
	day := func(d int) time.Time { return today.Add(time.Duration(d) * 24 * time.Hour) }
	var old []oldLog
	for d := -5; d <= 1; d++ {
		for h := range 3 {
			at := day(d).Add(time.Duration(h*7+1) * time.Hour).Add(123456 * time.Microsecond)
			if d == 0 && at.After(now) {
				at = today.Add(time.Duration(h) * time.Microsecond) // today's rows are before the migration
			}
			l := oldLog{requestID: fmt.Sprintf("old-%d-%d", d+5, h), model: fmt.Sprintf("m%d", h), group: fmt.Sprintf("g%d", (d+5)%2), createdAt: at}
			if h == 1 {
				l.reqBody, l.respBody = `{"in":"`+l.requestID+`"}`, `{"out":"`+l.requestID+`"}`
			}
			old = append(old, l)
		}
	}
	for _, l := range old {
		if _, err := db.rw.ExecContext(ctx, `INSERT INTO logs (request_id, created_at, group_id, token_id, token_name, channel_id, model,
			upstream_model, endpoint, mode, stream, status_code, prompt_tokens, completion_tokens, cached_tokens, total_tokens,
			usage_counted, amount, unpriced, ttfb_us, latency_us, client_ip, error, request_body, response_body,
			client_protocol, reasoning_tokens, attempts, cost_input, requests)
			VALUES (?, ?, ?, 7, 'tok', 3, ?, ?, '/v1/chat/completions', 'chat', TRUE, 200, 10, 20, 0, 30,
			FALSE, 42, FALSE, 1000, 2000, '10.0.0.1', '', ?, ?, 'anthropic', 5, '[{"channel":3,"status":200,"latency_us":500}]', 11, 1)`,
			l.requestID, l.createdAt, l.group, l.model, l.model+"-up", l.reqBody, l.respBody); err != nil {
			t.Fatal(err)
		}
	}
	// A replayed batch wrote one row twice, created_at and all.
	if _, err := db.rw.ExecContext(ctx, `INSERT INTO logs SELECT nextval(pg_get_serial_sequence('logs', 'id')), request_id, created_at,
		group_id, token_id, token_name, channel_id, model, upstream_model, endpoint, mode, stream, status_code, prompt_tokens, completion_tokens,
		cached_tokens, total_tokens, usage_counted, amount, unpriced, ttfb_us, latency_us, client_ip, error, request_body, response_body,
		client_protocol, channel_protocol, cache_creation_tokens, reasoning_tokens, attempts, cache_creation_1h_tokens, image_input_tokens,
		audio_input_tokens, image_output_tokens, audio_output_tokens, requests, service_tier, cost_input, cost_cached_input, cost_cache_write,
		cost_cache_write_1h, cost_image_input, cost_audio_input, cost_output, cost_reasoning, cost_image_output, cost_audio_output, cost_request
		FROM logs WHERE request_id = 'old-2-1'`); err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	var maxID int64
	rows, err := db.rw.QueryContext(ctx, `SELECT request_id, MIN(id), MAX(id) FROM logs GROUP BY request_id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var rid string
		var lo, hi int64
		if err := rows.Scan(&rid, &lo, &hi); err != nil {
			t.Fatal(err)
		}
		ids[rid] = lo
		maxID = max(maxID, hi)
	}
	rows.Close()

	if err := db.migrate(ctx, SchemaLogs); err != nil {
		t.Fatalf("the conversion: %v", err)
	}
	var partitioned bool
	if err := db.rw.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = 'logs'::regclass)`).Scan(&partitioned); err != nil || !partitioned {
		t.Fatalf("logs is not partitioned (%v)", err)
	}
	before := "logs_before_" + today.Format(partitionDay)
	// where returns, by request id, the partition holding each row.
	where := func(t *testing.T) map[string]string {
		t.Helper()
		got := map[string]string{}
		rows, err := db.rw.QueryContext(ctx, `SELECT request_id, tableoid::regclass::text FROM logs`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var rid, part string
			if err := rows.Scan(&rid, &part); err != nil {
				t.Fatal(err)
			}
			if got[rid] != "" {
				t.Errorf("request %s has two rows", rid)
			}
			got[rid] = part
		}
		return got
	}
	// wantAt is the partition a row of that time belongs in, once the
	// cleaner made the daily ones.
	wantAt := func(at time.Time) string {
		if at.Before(today) {
			return before
		}
		return "logs_" + at.Truncate(24*time.Hour).Format(partitionDay)
	}
	parts := where(t)
	if len(parts) != len(old) {
		t.Errorf("%d rows after the conversion, want %d", len(parts), len(old))
	}
	for _, l := range old {
		want := before
		if !l.createdAt.Before(today) {
			want = "logs_default" // no daily partition yet
		}
		if parts[l.requestID] != want {
			t.Errorf("row %s of %s is in %q, want %s", l.requestID, l.createdAt, parts[l.requestID], want)
		}
	}

	s := New(db, db)
	logs := map[string]*aiproxy.Log{}
	for next := int64(0); ; {
		page, more, err := s.Logs(ctx, aiproxy.LogFilter{Before: next, Limit: 7, Detail: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range page {
			logs[l.RequestID] = l
		}
		if !more {
			break
		}
		next = page[len(page)-1].ID
	}
	for _, o := range old {
		l := logs[o.requestID]
		if l == nil {
			t.Errorf("row %s lost", o.requestID)
			continue
		}
		if l.ID != ids[o.requestID] || !l.CreatedAt.Equal(o.createdAt) || l.Model != o.model || l.UpstreamModel != o.model+"-up" ||
			l.GroupID != o.group || l.TokenID != 7 || l.ChannelID != 3 || l.Usage.TotalTokens != 30 || l.Usage.ReasoningTokens != 5 ||
			l.Usage.Requests != 1 || l.Amount != 42 || l.Cost.Input != 11 || l.ClientProtocol != aiproxy.ProtocolAnthropic ||
			l.TTFB != time.Millisecond || len(l.Attempts) != 1 || l.Attempts[0].ChannelID != 3 || l.Attempts[0].Latency != 500*time.Microsecond || l.UpstreamRequestID != "" {
			t.Errorf("row %s (id %d) read back as %+v", o.requestID, ids[o.requestID], l)
		}
		if l.RequestBody != o.reqBody || l.ResponseBody != o.respBody || l.RequestBodyTruncated || l.ResponseBodyTruncated {
			t.Errorf("row %s bodies %q %q (%v %v), want %q %q", o.requestID, l.RequestBody, l.ResponseBody,
				l.RequestBodyTruncated, l.ResponseBodyTruncated, o.reqBody, o.respBody)
		}
	}
	// The filters work on the partitioned table, through its indexes.
	for _, f := range []aiproxy.LogFilter{{GroupID: "g1"}, {Model: "m2"}, {RequestID: "old-3-2"}, {From: day(-1), To: day(1)}} {
		got, _, err := s.Logs(ctx, f)
		want := 0
		for _, o := range old {
			if (f.GroupID == "" || o.group == f.GroupID) && (f.Model == "" || o.model == f.Model) && (f.RequestID == "" || o.requestID == f.RequestID) &&
				(f.From.IsZero() || (!o.createdAt.Before(f.From) && o.createdAt.Before(f.To))) {
				want++
			}
		}
		if err != nil || len(got) != want {
			t.Errorf("filter %+v: %d logs (%v), want %d", f, len(got), err, want)
		}
	}
	var indexes []string
	if err := db.rw.NewRaw(`SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'logs' ORDER BY indexname`).Scan(ctx, &indexes); err != nil {
		t.Fatal(err)
	}
	if want := []string{"logs_channel_id", "logs_created_at", "logs_failed", "logs_group_id", "logs_model", "logs_request_id", "logs_token_id", "logs_v5_pkey"}; !slices.Equal(indexes, want) {
		t.Errorf("indexes of logs %v, want %v", indexes, want)
	}
	// Every partition, made now or later, has every index.
	checkIndexes := func(t *testing.T) {
		t.Helper()
		var bad []string
		if err := db.rw.NewRaw(`SELECT c.relname || ': ' || COUNT(ix.indexrelid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			LEFT JOIN pg_index ix ON ix.indrelid = c.oid WHERE i.inhparent = 'logs'::regclass
			GROUP BY c.relname HAVING COUNT(ix.indexrelid) <> ?`, len(indexes)).Scan(ctx, &bad); err != nil {
			t.Fatal(err)
		}
		if len(bad) > 0 {
			t.Errorf("partitions without every index (%d): %v", len(indexes), bad)
		}
	}
	checkIndexes(t)
	if _, err := db.rw.ExecContext(ctx, `INSERT INTO logs (request_id, created_at, group_id, token_id, token_name, channel_id, model,
		upstream_model, endpoint, mode, stream, status_code, prompt_tokens, completion_tokens, cached_tokens, total_tokens,
		usage_counted, amount, unpriced, ttfb_us, latency_us, client_ip, error)
		SELECT request_id, created_at, group_id, token_id, token_name, channel_id, model, upstream_model, endpoint, mode, stream, status_code,
		prompt_tokens, completion_tokens, cached_tokens, total_tokens, usage_counted, amount, unpriced, ttfb_us, latency_us, client_ip, error
		FROM logs WHERE request_id = 'old-1-0'`); err == nil {
		t.Error("a request id was logged twice at the same time: the unique index is missing")
	}

	// The cleaner makes today's and the next two days' partitions, moving
	// the rows the default partition took.
	c := NewLogCleaner(s, LogCleanerOptions{LogRetention: 48 * time.Hour, DetailRetention: 72 * time.Hour, BatchSize: 2})
	res, err := c.Clean(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	cutoff := now.Add(-48 * time.Hour)
	kept := map[string]oldLog{}
	for _, o := range old {
		if !o.createdAt.Before(cutoff) {
			kept[o.requestID] = o
		}
	}
	if res.DroppedPartitions != 0 || res.Logs != int64(len(old)-len(kept)) {
		t.Errorf("first clean %+v, want %d rows deleted and no partition dropped", res, len(old)-len(kept))
	}
	parts = where(t)
	if len(parts) != len(kept) {
		t.Errorf("%d rows after the first clean, want %d", len(parts), len(kept))
	}
	for rid, o := range kept {
		if parts[rid] != wantAt(o.createdAt) {
			t.Errorf("row %s of %s is in %q, want %s", rid, o.createdAt, parts[rid], wantAt(o.createdAt))
		}
	}
	checkIndexes(t)

	// New rows get new ids and go to their day's partition.
	w := NewLogWriter(s, LogWriterOptions{})
	fresh := map[string]time.Time{"new-today": now, "new-tomorrow": day(1).Add(time.Hour), "new-later": day(2).Add(23 * time.Hour)}
	for rid, at := range fresh {
		w.Record(&aiproxy.Log{RequestID: rid, CreatedAt: at, Model: "m", RequestBody: "in " + rid})
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	parts = where(t)
	for rid, at := range fresh {
		if parts[rid] != wantAt(at) {
			t.Errorf("new row %s of %s is in %q, want %s", rid, at, parts[rid], wantAt(at))
		}
		got, _, err := s.Logs(ctx, aiproxy.LogFilter{RequestID: rid, Detail: true})
		if err != nil || len(got) != 1 || got[0].ID <= maxID || got[0].RequestBody != "in "+rid {
			t.Errorf("new row %s: %+v %v, want an id above %d", rid, got, err, maxID)
		}
	}

	// Three days on, the "before" partition and today's are past the
	// retention: they are dropped whole.
	later := day(3).Add(2 * time.Hour)
	res, err = c.Clean(ctx, later)
	if err != nil {
		t.Fatal(err)
	}
	if res.DroppedPartitions != 2 {
		t.Errorf("clean three days on: %+v, want the before and today's partitions dropped", res)
	}
	var names []string
	if err := db.rw.NewRaw(`SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'logs'::regclass ORDER BY c.relname`).Scan(ctx, &names); err != nil {
		t.Fatal(err)
	}
	want := []string{"logs_" + day(1).Format(partitionDay), "logs_" + day(2).Format(partitionDay), "logs_" + day(3).Format(partitionDay),
		"logs_" + day(4).Format(partitionDay), "logs_" + day(5).Format(partitionDay), "logs_default"}
	if !slices.Equal(names, want) {
		t.Errorf("partitions %v, want %v", names, want)
	}
	parts = where(t)
	cutoff = later.Add(-48 * time.Hour)
	for rid, o := range kept {
		if o.createdAt.Before(cutoff) != (parts[rid] == "") {
			t.Errorf("row %s of %s: in %q after the clean with cutoff %s", rid, o.createdAt, parts[rid], cutoff)
		}
	}
	for rid, at := range fresh {
		if at.Before(cutoff) != (parts[rid] == "") {
			t.Errorf("new row %s of %s: in %q after the clean with cutoff %s", rid, at, parts[rid], cutoff)
		}
	}
	var details int
	if err := db.rw.QueryRowContext(ctx, `SELECT COUNT(*) FROM log_details WHERE created_at < ?`, utc(later.Add(-72*time.Hour))).Scan(&details); err != nil || details != 0 {
		t.Errorf("%d details past their retention (%v)", details, err)
	}
}

// Creating a day's partition moves the rows the default partition holds
// for that day without losing or refusing one written meanwhile: a row
// whose transaction is still open when the cleaner starts, and the rows
// of a writer inserting while it works, are all there afterwards, in the
// new partition.
func TestLogPartitionCreateKeepsConcurrentRows(t *testing.T) {
	ctx := context.Background()
	db := migrateLogsBefore(t, freshPostgres(t), logsV6)
	if err := db.migrate(ctx, SchemaLogs); err != nil {
		t.Fatal(err)
	}
	c := NewLogCleaner(New(db, db), LogCleanerOptions{})
	today := time.Now().UTC().Truncate(24 * time.Hour)
	insert := `INSERT INTO logs (request_id, created_at, group_id, token_id, token_name, channel_id, model,
		upstream_model, endpoint, mode, stream, status_code, prompt_tokens, completion_tokens, cached_tokens, total_tokens,
		usage_counted, amount, unpriced, ttfb_us, latency_us, client_ip, error)
		VALUES (?, ?, 'g', 0, '', 0, 'm', 'm', '/v1/chat/completions', 'chat', FALSE, 200, 0, 0, 0, 0, FALSE, 0, FALSE, 0, 0, '', '')`

	// A row whose transaction is open when the partition is made: the
	// cleaner waits for it, and moves it.
	day := today.Add(4 * 24 * time.Hour)
	tx, err := db.rw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, insert, "open-tx", day.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	made := make(chan error, 1)
	go func() { made <- c.createPartition(ctx, day) }()
	time.Sleep(200 * time.Millisecond)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-made; err != nil {
		t.Fatalf("the partition of a day a running transaction writes to: %v", err)
	}
	var part string
	if err := db.rw.QueryRowContext(ctx, `SELECT tableoid::regclass::text FROM logs WHERE request_id = 'open-tx'`).Scan(&part); err != nil || part != "logs_"+day.Format(partitionDay) {
		t.Errorf("the row of the open transaction is in %q (%v)", part, err)
	}

	// A writer going on while partitions are made.
	for d := 5; d < 10; d++ { // beyond the days the cleaner makes, so the rows go to the default partition
		day := today.Add(time.Duration(d) * 24 * time.Hour)
		stop := make(chan struct{})
		wrote := make(chan int)
		go func() {
			n := 0
			defer func() { wrote <- n }()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := db.rw.ExecContext(ctx, insert, fmt.Sprintf("d%d-%d", d, i), day.Add(time.Duration(i)*time.Millisecond)); err != nil {
					t.Error(err)
					return
				}
				n++
			}
		}()
		time.Sleep(20 * time.Millisecond)
		err := c.createPartition(ctx, day)
		time.Sleep(20 * time.Millisecond)
		close(stop)
		n := <-wrote
		if err != nil {
			t.Fatal(err)
		}
		var inDay, inDefault int
		name := "logs_" + day.Format(partitionDay)
		if err := db.rw.QueryRowContext(ctx, `SELECT COUNT(*) FILTER (WHERE tableoid = ?::regclass), COUNT(*) FILTER (WHERE tableoid = 'logs_default'::regclass)
			FROM logs WHERE created_at >= ? AND created_at < ?`, name, utc(day), utc(day.Add(24*time.Hour))).Scan(&inDay, &inDefault); err != nil {
			t.Fatal(err)
		}
		if inDay != n || inDefault != 0 {
			t.Errorf("day %s: %d rows written, %d in its partition, %d in the default one", name, n, inDay, inDefault)
		}
	}
}
