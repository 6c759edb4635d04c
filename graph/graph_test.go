package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/client"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/graph"
	"github.com/aiproxy/aiproxy/relay/providers"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/store/storetest"
)

const adminKey = "admin-key-for-tests-0123456789"

// api is the admin API under test, reached in process, on a real store in
// a fresh SQLite database.
type api struct {
	handler http.Handler
	client  *client.Client // sends the admin key
	svc     *store.Store   // for seeding and for checking what was stored
	log     *bytes.Buffer  // what the handler logged
}

func newAPI(tb testing.TB) *api {
	tb.Helper()
	return newAPIWith(tb, nil)
}

// newAPIWith builds the API on a fresh store, letting change adjust the
// resolver (to plant failing services) before the handler is made.
func newAPIWith(tb testing.TB, change func(*graph.Resolver)) *api {
	tb.Helper()
	svc := storetest.Open(tb, storetest.SQLiteDSN(tb))
	ps := providers.Providers()
	svc.CheckChannel = ps.Check
	r := graph.Resolver{
		ChannelService:     svc,
		GroupService:       svc,
		TokenService:       svc,
		ModelConfigService: svc,
		LogService:         svc,
		Providers:          ps,
		// Groups' overrides and balances.
		GroupModelConfigService: svc,
		BillingService:          svc,
	}
	if change != nil {
		change(&r)
	}
	var log bytes.Buffer
	h := graph.NewHandler(graph.Config{
		Resolver: r,
		AdminKey: adminKey,
		Keys:     svc.Cache(),
		Logger:   slog.New(slog.NewTextHandler(&log, nil)),
	})
	return &api{
		handler: h,
		client:  client.New(h, client.AddHeader("Authorization", "Bearer "+adminKey)),
		svc:     svc,
		log:     &log,
	}
}

// record stores logs, in order, through the store's log writer.
func (a *api) record(tb testing.TB, logs ...*aiproxy.Log) {
	tb.Helper()
	w := store.NewLogWriter(a.svc, store.LogWriterOptions{})
	for _, l := range logs {
		w.Record(l)
	}
	if err := w.Close(context.Background()); err != nil {
		tb.Fatal(err)
	}
}

// gqlError is one error of a GraphQL answer.
type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

func (e gqlError) String() string {
	return fmt.Sprintf("%q %v %v", e.Message, e.Path, e.Extensions)
}

// post runs query, decodes the data into out (which may be nil) and returns
// the errors of the answer.
func (a *api) post(tb testing.TB, query string, out any, opts ...client.Option) []gqlError {
	tb.Helper()
	if out == nil {
		out = &map[string]any{}
	}
	err := a.client.Post(query, out, opts...)
	var raw client.RawJsonError
	if errors.As(err, &raw) {
		var errs []gqlError
		if err := json.Unmarshal(raw.RawMessage, &errs); err != nil {
			tb.Fatalf("decode errors %s: %v", raw.RawMessage, err)
		}
		return errs
	} else if err != nil {
		tb.Fatalf("post %s: %v", query, err)
	}
	return nil
}

// mustPost runs query and fails the test on any error in the answer.
func (a *api) mustPost(tb testing.TB, query string, out any, opts ...client.Option) {
	tb.Helper()
	if errs := a.post(tb, query, out, opts...); len(errs) > 0 {
		tb.Fatalf("%s: errors %v", query, errs)
	}
}

// wantError checks that errs is one error with the code and, unless field
// is "", extensions.field. It returns the error for further checks.
func wantError(tb testing.TB, errs []gqlError, code, field string) gqlError {
	tb.Helper()
	if len(errs) != 1 {
		tb.Fatalf("got errors %v, want one %s", errs, code)
	}
	e := errs[0]
	if got := e.Extensions["code"]; got != code {
		tb.Errorf("code = %v, want %s (error %v)", got, code, e)
	}
	if got, _ := e.Extensions["field"].(string); got != field {
		tb.Errorf("field = %q, want %q (error %v)", got, field, e)
	}
	return e
}

// do sends a raw HTTP request to the handler.
func (a *api) do(method, target, body string, header map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	a.handler.ServeHTTP(w, req)
	return w
}

func gqlBody(tb testing.TB, query string) string {
	tb.Helper()
	b, err := json.Marshal(map[string]string{"query": query})
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}
