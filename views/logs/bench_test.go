package logs_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/store"
)

// pageLogs is a LogService that answers every query with the same full
// page: what a keyset query of a 10-million-row table returns, without
// the database.
type pageLogs []*aiproxy.Log

func (p pageLogs) Logs(context.Context, aiproxy.LogFilter) ([]*aiproxy.Log, bool, error) {
	return p, true, nil
}

// BenchmarkLogsPage measures the server side of a page of 50 logs, with
// a filter and the whole layout, apart from the database query.
func BenchmarkLogsPage(b *testing.B) {
	page := make(pageLogs, 50)
	for i := range page {
		page[i] = newLog(int64(10_000_000-i), "acme")
	}
	fx := newFixture(b, 0)
	fx.deps.Logs = page
	h := fx.handler(admin)
	target := "/admin/logs?from=2026-12-01T10:00&tz=Europe/Paris&model=gpt-4o&status=success&before=10000051"
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}

var (
	_ aiproxy.LogService = pageLogs(nil)
	_ aiproxy.LogService = (*store.Store)(nil) // what cmd/aiproxy wires as Deps.Logs
)
