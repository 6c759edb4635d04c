package store_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/store/storetest"
)

// BenchmarkLogWriter measures sustained log rows per second into each
// database: b.N logs recorded as fast as the queue takes them, then Close
// waits for the last batch. A log is the size the relay writes for a chat
// request without saved bodies, each with its own request id.
//
//	go test ./store -run '^$' -bench LogWriter -benchtime 200000x
func BenchmarkLogWriter(b *testing.B) {
	for _, db := range []struct {
		name string
		dsn  func(testing.TB) string
	}{
		{store.SQLite, storetest.SQLiteDSN},
		{store.Postgres, storetest.PostgresDSN},
		{store.MySQL, storetest.MySQLDSN},
	} {
		b.Run(db.name, func(b *testing.B) {
			s := storetest.Open(b, db.dsn(b))
			logs := make([]*aiproxy.Log, 1024)
			for i := range logs {
				logs[i] = testLog(i)
				logs[i].RequestBody, logs[i].ResponseBody = "", ""
			}
			ids := make([]string, b.N) // request ids are unique: a repeated one is not stored again
			for i := range ids {
				ids[i] = "req_bench" + strconv.Itoa(i)
			}
			// A queue that holds every log: the figure is the database's
			// pace, not the spill's (Record outruns any database).
			w := store.NewLogWriter(s, store.LogWriterOptions{QueueSize: b.N, QueueBytes: 1 << 40, SpillDir: b.TempDir()})
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				c := *logs[i%len(logs)]
				c.RequestID = ids[i]
				w.Record(&c)
			}
			if err := w.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "rows/s")
			if st := w.Stats(); st.Written != int64(b.N) {
				b.Fatalf("Stats() = %+v, want %d written", st, b.N)
			}
		})
	}
}
