package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/store/storetest"
)

func TestLogWriterFailures(t *testing.T) {
	ctx := context.Background()

	t.Run("database gone", func(t *testing.T) {
		db, err := store.Open(ctx, storetest.SQLiteDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		w := store.NewLogWriter(store.New(db, nil), store.LogWriterOptions{})
		db.Close()
		for i := range 10 {
			w.Record(testLog(i))
		}
		err = w.Close(ctx)
		if err == nil || !strings.Contains(err.Error(), "10 logs not written") {
			t.Fatalf("Close() = %v", err)
		}
		if st := w.Stats(); st.Failed != 10 || st.Written != 0 {
			t.Fatalf("Stats() = %+v", st)
		}
	})

	t.Run("one bad log", func(t *testing.T) {
		s, db := open(t, storetest.SQLiteDSN(t))
		if _, err := store.Bun(db).Exec(`CREATE TRIGGER poison BEFORE INSERT ON logs WHEN NEW.request_id = 'poison'
			BEGIN SELECT RAISE(ABORT, 'poisoned'); END`); err != nil {
			t.Fatal(err)
		}
		w := store.NewLogWriter(s, store.LogWriterOptions{})
		for i := range 20 {
			l := testLog(i)
			if i == 7 {
				l.RequestID = "poison"
			}
			w.Record(l)
		}
		if err := w.Close(ctx); err == nil || !strings.Contains(err.Error(), "1 logs not written") {
			t.Fatalf("Close() = %v", err)
		}
		if st := w.Stats(); st.Failed != 1 || st.Written != 19 {
			t.Fatalf("Stats() = %+v", st)
		}
		if n := count(t, db, "logs"); n != 19 {
			t.Fatalf("%d logs stored, want 19", n)
		}
	})

	t.Run("close deadline", func(t *testing.T) {
		dsn := storetest.SQLiteDSN(t)
		s, _ := open(t, dsn)
		// Another process holds the write lock.
		other, err := sql.Open("sqlite", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		conn, err := other.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			t.Fatal(err)
		}
		defer conn.ExecContext(ctx, "ROLLBACK")

		w := store.NewLogWriter(s, store.LogWriterOptions{})
		for i := range 5 {
			w.Record(testLog(i))
		}
		cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		begin := time.Now()
		err = w.Close(cctx)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "5 logs not written") {
			t.Fatalf("Close() = %v", err)
		}
		if d := time.Since(begin); d > 3*time.Second {
			t.Errorf("Close took %v after its deadline", d)
		}
		if st := w.Stats(); st.Failed != 5 {
			t.Fatalf("Stats() = %+v", st)
		}
	})

	t.Run("record after close", func(t *testing.T) {
		s, _ := open(t, storetest.SQLiteDSN(t))
		w := store.NewLogWriter(s, store.LogWriterOptions{})
		if err := w.Close(ctx); err != nil {
			t.Fatal(err)
		}
		w.Record(testLog(1))
		if st := w.Stats(); st.Failed != 1 {
			t.Fatalf("Stats() = %+v", st)
		}
	})
}

// TestLogWriterFullQueue fills a tiny queue from many goroutines while
// the database is locked: Record never waits, the overflow spills to
// disk, and Close stores every log once the database is free again.
func TestLogWriterFullQueue(t *testing.T) {
	dsn := storetest.SQLiteDSN(t)
	s, db := open(t, dsn)
	release := lockSQLite(t, dsn)
	w := store.NewLogWriter(s, store.LogWriterOptions{QueueSize: 4, BatchSize: 2, FlushInterval: time.Millisecond, SpillDir: t.TempDir()})
	var wg sync.WaitGroup
	var slowest atomic.Int64
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				begin := time.Now()
				w.Record(testLog(g*50 + i))
				if d := int64(time.Since(begin)); d > slowest.Load() {
					slowest.Store(d)
				}
			}
		})
	}
	wg.Wait()
	if d := time.Duration(slowest.Load()); d > 100*time.Millisecond {
		t.Errorf("the slowest Record took %v with the database locked", d)
	}
	if st := w.Stats(); st.Spilled == 0 || st.Dropped != 0 || st.Written != 0 {
		t.Fatalf("Stats() = %+v, want spilled logs, none written or dropped", st)
	}
	release()
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := w.Stats(); st.Written != 400 || st.Replayed == 0 || st.Failed != 0 || st.Dropped != 0 {
		t.Fatalf("Stats() = %+v", st)
	}
	if n := count(t, db, "logs"); n != 400 {
		t.Fatalf("%d logs stored, want 400", n)
	}
}

// TestLogWriterQueueBytes bounds the queue by size: without a spill
// directory, logs past the bound are dropped rather than waited for.
func TestLogWriterQueueBytes(t *testing.T) {
	dsn := storetest.SQLiteDSN(t)
	s, _ := open(t, dsn)
	release := lockSQLite(t, dsn)
	w := store.NewLogWriter(s, store.LogWriterOptions{QueueBytes: 64 << 10, BatchSize: 1})
	for i := range 100 {
		l := testLog(i)
		l.RequestBody = strings.Repeat("x", 4<<10)
		w.Record(l)
	}
	st := w.Stats()
	if st.Dropped == 0 || st.QueueBytes > 64<<10 || st.Queued+int(st.Dropped) < 99 { // one may be in the writer's hands
		t.Fatalf("Stats() = %+v, want at most 64 KiB queued and the rest dropped", st)
	}
	release()
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := w.Stats().Written; n != 100-st.Dropped {
		t.Fatalf("%d logs written, want the %d not dropped", n, 100-st.Dropped)
	}
}

// lockSQLite holds the write lock of the SQLite database at dsn, as
// another process would, until release.
func lockSQLite(tb testing.TB, dsn string) (release func()) {
	tb.Helper()
	ctx := context.Background()
	other, err := sql.Open("sqlite", dsn)
	if err != nil {
		tb.Fatal(err)
	}
	conn, err := other.Conn(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		tb.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			conn.ExecContext(ctx, "ROLLBACK")
			conn.Close()
			other.Close()
		})
	}
	tb.Cleanup(release)
	return release
}

// BenchmarkTokenByKey measures the hit path of the relay's key lookup.
func BenchmarkTokenByKey(b *testing.B) {
	s, _ := open(b, storetest.SQLiteDSN(b))
	createGroup(b, s, "g")
	keys := make([]string, 100)
	for i := range keys {
		_, keys[i] = createToken(b, s, "g", fmt.Sprint(i))
	}
	ctx := context.Background()
	c := s.Cache()
	for _, k := range keys {
		if _, _, err := c.TokenByKey(ctx, k); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			if _, _, err := c.TokenByKey(ctx, keys[i%len(keys)]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
