package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/store/storetest"
)

// BenchmarkLogWriter measures sustained log rows per second into each
// database: b.N logs recorded as fast as the queue takes them, then Close
// waits for the last batch. A log is the size the relay writes for a chat
// request without saved bodies.
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
			w := store.NewLogWriter(s, store.LogWriterOptions{})
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				c := *logs[i%len(logs)]
				w.Record(&c)
			}
			if err := w.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "rows/s")
		})
	}
}
