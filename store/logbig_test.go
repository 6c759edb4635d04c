package store_test

import (
	"context"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/store/storetest"
)

// TestBigLogs fills a PostgreSQL schema with AIPROXY_BIG_LOGS rows (1
// means 10 million) spread over the last 30 days (a partition a day),
// with generate_series,
// and runs EXPLAIN ANALYZE on the query Logs sends for each filter shape,
// on the first page and on a page deep in the table (keyset pagination):
// each must run in under 50 ms. Run it alone:
//
//	AIPROXY_BIG_LOGS=1 go test ./store -run TestBigLogs -v -timeout 1h
func TestBigLogs(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("AIPROXY_BIG_LOGS"))
	if n <= 0 {
		t.Skip("AIPROXY_BIG_LOGS is not set")
	}
	if n == 1 {
		n = 10_000_000
	}
	ctx := context.Background()
	s, db := open(t, storetest.PostgresDSN(t))
	if db.Dialect() != store.Postgres {
		t.Skip("PostgreSQL only")
	}
	bdb := store.Bun(db)
	if _, err := store.NewLogCleaner(s, store.LogCleanerOptions{}).Clean(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	// The steady state of a gateway that has run on the partitioned
	// table for a month: a partition a day. (A table converted by the
	// migration keeps its older rows in one logs_before_ partition, until
	// retention drops it; time-range queries there scan more.)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	exec(t, bdb, `DROP TABLE logs_before_`+today.Format("20060102"))
	for d := today.AddDate(0, 0, -31); d.Before(today); d = d.AddDate(0, 0, 1) {
		exec(t, bdb, `CREATE TABLE logs_`+d.Format("20060102")+` PARTITION OF logs FOR VALUES FROM ('`+d.Format(time.RFC3339)+`') TO ('`+d.AddDate(0, 0, 1).Format(time.RFC3339)+`')`)
	}
	// Loaded without the indexes, which are built afterwards: faster.
	indexes := map[string]string{}
	var defs []struct {
		Name string `bun:"indexname"`
		Def  string `bun:"indexdef"`
	}
	if err := bdb.NewRaw(`SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'logs' AND indexname NOT LIKE '%pkey'`).Scan(ctx, &defs); err != nil {
		t.Fatal(err)
	}
	for _, d := range defs {
		indexes[d.Name] = strings.Replace(d.Def, " ON ONLY ", " ON ", 1) // on every partition
		exec(t, bdb, `DROP INDEX `+d.Name)
	}
	begin := time.Now()
	exec(t, bdb, `SET synchronous_commit = off`)
	exec(t, bdb, `INSERT INTO logs ("request_id", "created_at", "group_id", "token_id", "token_name", "channel_id", "model", "upstream_model",
	"endpoint", "mode", "stream", "status_code", "prompt_tokens", "completion_tokens", "cached_tokens", "total_tokens", "usage_counted",
	"amount", "unpriced", "ttfb_us", "latency_us", "client_ip", "error")
SELECT 'req_' || g, now() - (`+strconv.Itoa(n)+` - g) * (interval '30 days' / `+strconv.Itoa(n)+`), 'group' || (g % 200), g % 2000 + 1, 'token',
	g % 50 + 1, 'model-' || (g % 40), 'upstream', '/v1/chat/completions', 'chat', g % 2 = 0,
	CASE WHEN g % 97 = 0 THEN 502 ELSE 200 END, 120, 240, 0, 360, FALSE, 1000000, FALSE, 300000, 2000000, '10.0.0.1',
	CASE WHEN g % 97 = 0 THEN 'upstream: the provider failed' ELSE '' END
FROM generate_series(1, `+strconv.Itoa(n)+`) g`)
	t.Logf("%d rows inserted in %v", n, time.Since(begin).Round(time.Second))
	begin = time.Now()
	var wg sync.WaitGroup
	for _, def := range indexes {
		wg.Go(func() { exec(t, bdb, def) })
	}
	wg.Wait()
	exec(t, bdb, `ANALYZE logs`)
	t.Logf("indexes built and analyzed in %v", time.Since(begin).Round(time.Second))

	var mid int64
	if err := bdb.NewRaw(`SELECT id FROM logs WHERE request_id = ?`, "req_"+strconv.Itoa(n/2)).Scan(ctx, &mid); err != nil {
		t.Fatal(err)
	}
	hook := &lastQuery{}
	bdb.AddQueryHook(hook)
	midTime := time.Now().Add(-15 * 24 * time.Hour)
	for _, tt := range []struct {
		name string
		f    aiproxy.LogFilter
	}{
		{"none", aiproxy.LogFilter{}},
		{"group", aiproxy.LogFilter{GroupID: "group7"}},
		{"token", aiproxy.LogFilter{TokenID: 42}},
		{"model", aiproxy.LogFilter{Model: "model-3"}},
		{"channel", aiproxy.LogFilter{ChannelID: 9}},
		{"failed", aiproxy.LogFilter{Failed: ptr(true)}},
		{"succeeded", aiproxy.LogFilter{Failed: ptr(false)}},
		{"time range (1 hour)", aiproxy.LogFilter{From: midTime, To: midTime.Add(time.Hour)}},
		{"time range (1 day)", aiproxy.LogFilter{From: midTime, To: midTime.Add(24 * time.Hour)}},
		{"request id", aiproxy.LogFilter{RequestID: "req_" + strconv.Itoa(n/3)}},
		{"group and model", aiproxy.LogFilter{GroupID: "group7", Model: "model-7"}},
		{"group, failed, 1 day", aiproxy.LogFilter{GroupID: "group7", Failed: ptr(true), From: midTime, To: midTime.Add(24 * time.Hour)}},
	} {
		for _, page := range []struct {
			name   string
			before int64
		}{{"first page", 0}, {"deep page", mid}} {
			f := tt.f
			f.Before = page.before
			if _, _, err := s.Logs(ctx, f); err != nil {
				t.Fatal(err)
			}
			q := hook.get()
			var plan []string
			if err := bdb.NewRaw("EXPLAIN (ANALYZE, COSTS OFF) "+q).Scan(ctx, &plan); err != nil {
				t.Fatal(err)
			}
			ms := executionTime(plan)
			t.Logf("| %s | %s | %.2f ms | %s |", tt.name, page.name, ms, strings.TrimSpace(plan[0]))
			if ms >= 50 {
				t.Errorf("%s, %s: %.2f ms:\n%s", tt.name, page.name, ms, strings.Join(plan, "\n"))
			}
		}
	}
}

var executionRE = regexp.MustCompile(`Execution Time: ([0-9.]+) ms`)

func executionTime(plan []string) float64 {
	for _, l := range plan {
		if m := executionRE.FindStringSubmatch(l); m != nil {
			v, _ := strconv.ParseFloat(m[1], 64)
			return v
		}
	}
	return -1
}

func exec(tb testing.TB, db *bun.DB, q string) {
	tb.Helper()
	if _, err := db.Exec(q); err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
}

// lastQuery keeps the last SELECT from logs.
type lastQuery struct {
	mu sync.Mutex
	q  string
}

func (h *lastQuery) BeforeQuery(ctx context.Context, e *bun.QueryEvent) context.Context {
	if strings.HasPrefix(e.Query, `SELECT "log_row"`) {
		h.mu.Lock()
		h.q = e.Query
		h.mu.Unlock()
	}
	return ctx
}

func (h *lastQuery) AfterQuery(context.Context, *bun.QueryEvent) {}

func (h *lastQuery) get() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.q
}
