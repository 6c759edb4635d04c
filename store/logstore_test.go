package store_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/store/storetest"
)

// TestLogDetails: bodies go to log_details, only for the logs that have
// them; Logs returns them only when asked, with their truncation flags.
func TestLogDetails(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s, db := open(t, dsn)
		with, without := testLog(1), testLog(2)
		with.RequestBodyTruncated = true
		without.RequestBody, without.ResponseBody = "", ""
		writeLogs(t, s, with, without)
		if n := count(t, db, "log_details"); n != 1 {
			t.Fatalf("%d detail rows, want 1", n)
		}
		logs, _, err := s.Logs(ctx, aiproxy.LogFilter{})
		if err != nil || len(logs) != 2 {
			t.Fatalf("%d logs, %v", len(logs), err)
		}
		for _, l := range logs {
			if l.RequestBody != "" || l.ResponseBody != "" || l.RequestBodyTruncated {
				t.Errorf("%s: bodies without Detail", l.RequestID)
			}
		}
		got := findLog(t, s, "r1")
		if got.RequestBody != with.RequestBody || got.ResponseBody != with.ResponseBody || !got.RequestBodyTruncated || got.ResponseBodyTruncated {
			t.Errorf("detail %q %q truncated %v %v", got.RequestBody, got.ResponseBody, got.RequestBodyTruncated, got.ResponseBodyTruncated)
		}
		if got.UpstreamRequestID != "chatcmpl-1" || got.User != "user ✓" || got.Metadata != `{"team":"search","n":1}` {
			t.Errorf("upstream id %q, user %q, metadata %q", got.UpstreamRequestID, got.User, got.Metadata)
		}
		// Metadata that is not a JSON object is not stored.
		bad := testLog(3)
		bad.Metadata = `{"cut":"in the mid`
		writeLogs(t, s, bad)
		if got := findLog(t, s, "r3"); got.Metadata != "" {
			t.Errorf("broken metadata stored: %q", got.Metadata)
		}
	})
}

// TestLogDuplicateBatch writes the same batch twice (a retry after a lost
// commit, a replay): each log is stored once.
func TestLogDuplicateBatch(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, dsn string) {
		s, db := open(t, dsn)
		var logs []*aiproxy.Log
		for i := range 300 {
			logs = append(logs, testLog(i))
		}
		writeLogs(t, s, logs...)
		again := make([]*aiproxy.Log, len(logs))
		for i, l := range logs {
			c := *l
			again[i] = &c
		}
		w := store.NewLogWriter(s, store.LogWriterOptions{})
		for _, l := range again {
			w.Record(l)
		}
		if err := w.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if st := w.Stats(); st.Failed != 0 {
			t.Fatalf("Stats() = %+v", st)
		}
		if n := count(t, db, "logs"); n != 300 {
			t.Fatalf("%d logs, want 300", n)
		}
		if n := count(t, db, "log_details"); n != 300 {
			t.Fatalf("%d details, want 300", n)
		}
	})
}

// TestLogSpillReplay cuts the database off mid-run, through a TCP proxy:
// the batches that outlive their retries spill to disk, and are replayed
// when the database is back, each log once.
func TestLogSpillReplay(t *testing.T) {
	for _, tt := range []struct {
		name string
		dsn  func(testing.TB) string
		via  func(tb testing.TB, dsn, addr string) (target, proxied string)
	}{
		{store.Postgres, storetest.PostgresDSN, func(tb testing.TB, dsn, addr string) (string, string) {
			u, err := url.Parse(dsn)
			if err != nil {
				tb.Fatal(err)
			}
			target := u.Host
			u.Host = addr
			return target, u.String()
		}},
		{store.MySQL, storetest.MySQLDSN, func(tb testing.TB, dsn, addr string) (string, string) {
			cfg, err := mysql.ParseDSN(dsn)
			if err != nil {
				tb.Fatal(err)
			}
			target := cfg.Addr
			cfg.Addr = addr
			return target, cfg.FormatDSN()
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dsn := tt.dsn(t)
			direct, _ := open(t, dsn) // migrates
			target, _ := tt.via(t, dsn, "")
			proxy := storetest.StartProxy(t, target)
			_, proxied := tt.via(t, dsn, proxy.Addr())
			s := storetest.Open(t, proxied)
			spill := t.TempDir()
			w := store.NewLogWriter(s, store.LogWriterOptions{SpillDir: spill, FlushInterval: 10 * time.Millisecond, ReplayInterval: 100 * time.Millisecond})
			for i := range 100 {
				w.Record(testLog(i))
			}
			waitFor(t, "the first logs written", func() bool { return w.Stats().Written == 100 })
			proxy.SetDown(true)
			for i := 100; i < 300; i++ {
				w.Record(testLog(i))
			}
			waitFor(t, "logs spilled", func() bool { return w.Stats().Spilled == 200 })
			if st := w.Stats(); st.Written != 100 || st.Dropped != 0 || st.Failed != 0 {
				t.Fatalf("during the outage: Stats() = %+v", st)
			}
			proxy.SetDown(false)
			waitFor(t, "spilled logs replayed", func() bool { return w.Stats().Replayed == 200 })
			if err := w.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if st := w.Stats(); st.Written != 300 || st.Failed != 0 || st.Dropped != 0 {
				t.Fatalf("Stats() = %+v", st)
			}
			logs, _, err := direct.Logs(ctx, aiproxy.LogFilter{Limit: 500})
			if err != nil || len(logs) != 300 {
				t.Fatalf("%d logs stored, %v; want 300", len(logs), err)
			}
			got := findLog(t, direct, "r250")
			wantEqual(t, got, stored(testLog(250), got.ID))
		})
	}
}

// TestLogSpillAtStart: a spill file an earlier run left (the database
// was down when it stopped) is replayed by the next LogWriter.
func TestLogSpillAtStart(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.SQLiteDSN(t)
	spill := t.TempDir()
	s, db := open(t, dsn)
	release := lockSQLite(t, dsn)
	w := store.NewLogWriter(s, store.LogWriterOptions{QueueSize: 1, BatchSize: 1, SpillDir: spill})
	for i := range 50 {
		w.Record(testLog(i))
	}
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	w.Close(cctx) // out of time: what is left spills
	release()
	spilled := w.Stats().Spilled
	if spilled == 0 {
		t.Fatalf("nothing spilled: %+v", w.Stats())
	}
	w = store.NewLogWriter(s, store.LogWriterOptions{SpillDir: spill})
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, "logs"); n != 50 {
		t.Fatalf("%d logs stored, want 50 (%d replayed)", n, w.Stats().Replayed)
	}
}

// TestLogRetention deletes old logs and details in batches; on
// PostgreSQL whole days go as partitions.
func TestLogRetention(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s, db := open(t, dsn)
		now := time.Now().UTC()
		c := store.NewLogCleaner(s, store.LogCleanerOptions{LogRetention: 48 * time.Hour, DetailRetention: 24 * time.Hour, BatchSize: 7})
		if _, err := c.Clean(ctx, now); err != nil { // creates the coming days' partitions
			t.Fatal(err)
		}
		var logs []*aiproxy.Log
		for i := range 100 { // one an hour, the newest now
			l := testLog(i)
			l.CreatedAt = now.Add(-time.Duration(i) * time.Hour)
			logs = append(logs, l)
		}
		writeLogs(t, s, logs...)
		deletes := store.CountQueries(db, "DELETE FROM")
		res, err := c.Clean(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if n := count(t, db, "logs"); n != 49 || res.Logs+int64(res.DroppedPartitions) == 0 && db.Dialect() != store.Postgres {
			t.Errorf("%d logs left, want 49 (%+v)", n, res)
		}
		if n := count(t, db, "log_details"); n != 25 {
			t.Errorf("%d details left, want 25", n)
		}
		if res.Details != 75 || deletes.Load() < 75/7 {
			t.Errorf("%+v, %d DELETE statements; want 75 details in batches of 7", res, deletes.Load())
		}
		if got := findLog(t, s, "r48"); got.RequestBody != "" {
			t.Errorf("a log 48 hours old kept its detail")
		}

		if db.Dialect() != store.Postgres {
			return
		}
		// Logs of the days ahead are in their partitions; cleaning days
		// later drops those partitions whole.
		ahead := []*aiproxy.Log{testLog(1000), testLog(1001)}
		ahead[0].CreatedAt = now.Truncate(24 * time.Hour).Add(24*time.Hour + time.Hour)
		ahead[1].CreatedAt = now.Truncate(24 * time.Hour).Add(48*time.Hour + time.Hour)
		writeLogs(t, s, ahead...)
		later := now.Add(6 * 24 * time.Hour)
		res, err = c.Clean(ctx, later)
		if err != nil {
			t.Fatal(err)
		}
		if res.DroppedPartitions < 3 || count(t, db, "logs") != 0 {
			t.Errorf("%+v, %d logs left; want the partitions dropped and nothing left", res, count(t, db, "logs"))
		}
		var parts []string
		if err := store.Bun(db).NewRaw(`SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'logs'::regclass ORDER BY 1`).Scan(ctx, &parts); err != nil {
			t.Fatal(err)
		}
		want := []string{"logs_" + later.Add(-24*time.Hour).Format("20060102"), "logs_" + later.Format("20060102"), "logs_" + later.Add(24*time.Hour).Format("20060102"), "logs_" + later.Add(48*time.Hour).Format("20060102")}
		if !strings.Contains(strings.Join(parts, ","), strings.Join(want[1:], ",")) || strings.Contains(strings.Join(parts, ","), "logs_before_") {
			t.Errorf("partitions %v, want the days from %v on and logs_default", parts, want[1])
		}
	})
}

// waitFor polls cond for up to 30 seconds.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
