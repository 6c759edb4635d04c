package alerts_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/go-chi/chi/v5"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/store/storetest"
	"github.com/aiproxy/aiproxy/views/alerts"
	"github.com/aiproxy/aiproxy/views/web"
	"github.com/aiproxy/aiproxy/views/web/webtest"
)

// hookURL is a sink's URL, a credential that must never be shown.
const hookURL = "https://hooks.example.com/services/T000/B000/s3cr3t-path"

// defaults are the server's alert settings of the tests.
var defaults = aiproxy.AlertSettings{Throttle: 10 * time.Minute, ErrorRate: 0.3, SpikeFactor: 3, SpikeMin: 100, LogQueueWarn: 1000}

// fakeTester fails the sinks named "broken", quoting their URL as a
// careless error might.
type fakeTester struct {
	mu    sync.Mutex
	tests []int64
}

func (f *fakeTester) Test(_ context.Context, s *aiproxy.AlertSink) error {
	f.mu.Lock()
	f.tests = append(f.tests, s.ID)
	f.mu.Unlock()
	if s.Name == "broken" {
		return errors.New("alert: post " + s.URL + ": 404 Not Found")
	}
	return nil
}

// env is the Alerts area mounted as cmd/aiproxy mounts it (the session
// and CSRF middleware in front), on a real SQLite store.
type env struct {
	t            *testing.T
	store        *store.Store
	tester       *fakeTester
	handler      http.Handler
	admin, group *http.Cookie
	csrf, gcsrf  string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st := storetest.Open(t, storetest.SQLiteDSN(t))
	tokens := webtest.NewTokens()
	_, key := tokens.Add(&aiproxy.Group{ID: "team-a", Enabled: true}, "ci")
	auth := webtest.NewAuth(tokens)
	e := &env{t: t, store: st, tester: &fakeTester{}}
	r := chi.NewRouter()
	r.Use(auth.Session, auth.CSRF)
	alerts.Mount(r, alerts.Deps{Alerts: st, History: st, Tester: e.tester, Defaults: defaults})
	e.handler = r
	var s *web.Session
	e.admin, s = webtest.SignIn(t, auth, webtest.AdminKey)
	e.csrf = s.CSRF
	e.group, s = webtest.SignIn(t, auth, key)
	e.gcsrf = s.CSRF
	return e
}

// do sends a request with cookie c and headers (pairs); a form is posted
// url-encoded.
func (e *env) do(c *http.Cookie, method, target string, form url.Values, headers ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, target, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, target, nil)
	}
	if c != nil {
		req.AddCookie(c)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	return rec
}

// post posts form as the admin, with the session's CSRF token.
func (e *env) post(target string, form url.Values, headers ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	form.Set("csrf", e.csrf)
	return e.do(e.admin, http.MethodPost, target, form, headers...)
}

func (e *env) page(target string) (*goquery.Document, string) {
	e.t.Helper()
	rec := e.do(e.admin, http.MethodGet, target, nil)
	return parse(e.t, rec, http.StatusOK), rec.Body.String()
}

func (e *env) createSink(s *aiproxy.AlertSink) *aiproxy.AlertSink {
	e.t.Helper()
	if err := e.store.CreateAlertSink(context.Background(), s); err != nil {
		e.t.Fatal(err)
	}
	return s
}

func parse(tb testing.TB, rec *httptest.ResponseRecorder, want int) *goquery.Document {
	tb.Helper()
	if rec.Code != want {
		tb.Fatalf("status %d, want %d; body:\n%s", rec.Code, want, rec.Body.String())
	}
	d, err := goquery.NewDocumentFromReader(strings.NewReader(rec.Body.String()))
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// TestCreateSink: a refused sink comes back with a 422, the error beside
// its field and the URL typed not echoed; a created one is listed with
// its URL's host only, never the URL, nor its secret.
func TestCreateSink(t *testing.T) {
	tests := []struct {
		name   string
		form   url.Values
		field  string // the input whose error is shown; "" when created
		secret string // "set" or "not set" when created
	}{
		{"no name", url.Values{"kind": {"webhook"}, "url": {hookURL}}, "name", ""},
		{"not a URL", url.Values{"name": {"ops"}, "kind": {"webhook"}, "url": {"ftp://hooks.example.com/s3cr3t-path"}}, "url", ""},
		{"secret on a webhook", url.Values{"name": {"ops"}, "kind": {"webhook"}, "url": {hookURL}, "secret": {"sig-s3cr3t"}}, "secret", ""},
		{"webhook", url.Values{"name": {"ops"}, "kind": {"webhook"}, "url": {hookURL}, "enabled": {"1"},
			"kinds": {"breaker_open", "logs"}, "minSeverity": {"warning"}}, "", "not set"},
		{"feishu with a secret", url.Values{"name": {"lark"}, "kind": {"feishu"}, "url": {hookURL}, "secret": {"sig-s3cr3t"}}, "", "set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			rec := e.post("/admin/alerts/sinks", tt.form)
			if tt.field != "" {
				body := rec.Body.String()
				doc := parse(t, rec, http.StatusUnprocessableEntity)
				if doc.Find(`[data-testid="error-`+tt.field+`"]`).Length() != 1 {
					t.Errorf("no error beside %s: %q", tt.field, doc.Find(".field-error").Text())
				}
				if strings.Contains(body, "s3cr3t") {
					t.Error("the URL or secret typed is sent back")
				}
				return
			}
			if rec.Code != http.StatusSeeOther {
				t.Fatalf("got %d: %s", rec.Code, rec.Body.String())
			}
			doc, body := e.page("/admin/alerts")
			if strings.Contains(body, "s3cr3t") || strings.Contains(body, "/services/") {
				t.Fatal("the page shows the sink's URL or secret")
			}
			rw := doc.Find(`[data-testid="sink-row"]`)
			if rw.Length() != 1 {
				t.Fatalf("%d sink rows", rw.Length())
			}
			if got := rw.Find(`[data-testid="sink-host"]`).Text(); got != "hooks.example.com" {
				t.Errorf("host %q", got)
			}
			if got := strings.TrimSpace(rw.Find(`[data-testid="sink-secret"]`).Text()); got != tt.secret {
				t.Errorf("secret %q, want %q", got, tt.secret)
			}
			id := rw.AttrOr("data-id", "")
			_, edit := e.page("/admin/alerts/sinks/" + id + "/edit")
			if strings.Contains(edit, "s3cr3t") || !strings.Contains(edit, "hooks.example.com") {
				t.Error("the edit form shows the URL or secret, or not the host")
			}
		})
	}
}

// TestUpdateSink: an empty URL and secret keep the stored ones; new ones
// replace them; "remove the secret" removes it.
func TestUpdateSink(t *testing.T) {
	tests := []struct {
		name       string
		form       url.Values
		wantURL    string
		wantSecret string
	}{
		{"keep", url.Values{"name": {"lark"}, "kind": {"feishu"}}, hookURL, "sig"},
		{"new URL", url.Values{"name": {"lark"}, "kind": {"feishu"}, "url": {"https://other.example.com/x"}}, "https://other.example.com/x", "sig"},
		{"new secret", url.Values{"name": {"lark"}, "kind": {"feishu"}, "secret": {"sig2"}}, hookURL, "sig2"},
		{"remove secret", url.Values{"name": {"lark"}, "kind": {"feishu"}, "clearSecret": {"1"}}, hookURL, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			s := e.createSink(&aiproxy.AlertSink{Name: "lark", Kind: aiproxy.SinkFeishu, URL: hookURL, Secret: "sig", Enabled: true})
			rec := e.post(fmt.Sprintf("/admin/alerts/sinks/%d", s.ID), tt.form)
			if rec.Code != http.StatusSeeOther {
				t.Fatalf("got %d: %s", rec.Code, rec.Body.String())
			}
			got, err := e.store.AlertSink(context.Background(), s.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.URL != tt.wantURL || got.Secret != tt.wantSecret || got.Enabled {
				t.Errorf("stored URL %q, secret %q, enabled %v", got.URL, got.Secret, got.Enabled)
			}
		})
	}
}

// TestSinkTestAndDelete: the test button answers HTMX with the result's
// fragment (the URL scrubbed from a failure), a plain form with a page;
// delete removes the sink.
func TestSinkTestAndDelete(t *testing.T) {
	e := newEnv(t)
	ok := e.createSink(&aiproxy.AlertSink{Name: "ops", Kind: aiproxy.SinkSlack, URL: hookURL, Enabled: true})
	broken := e.createSink(&aiproxy.AlertSink{Name: "broken", Kind: aiproxy.SinkWebhook, URL: hookURL, Enabled: true})
	tests := []struct {
		name string
		id   int64
		htmx bool
		ok   bool
	}{
		{"ok, htmx", ok.ID, true, true},
		{"failing, htmx", broken.ID, true, false},
		{"ok, plain", ok.ID, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var headers []string
			if tt.htmx {
				headers = []string{"HX-Request", "true"}
			}
			rec := e.post(fmt.Sprintf("/admin/alerts/sinks/%d/test", tt.id), url.Values{}, headers...)
			body := rec.Body.String()
			doc := parse(t, rec, http.StatusOK)
			if got := strings.HasPrefix(body, "<div"); got != tt.htmx {
				t.Errorf("a fragment: %v, want %v", got, tt.htmx)
			}
			res := doc.Find(`[data-testid="sink-test-result"]`)
			if res.Length() != 1 || res.AttrOr("id", "") != fmt.Sprintf("sink-test-%d", tt.id) || res.AttrOr("data-ok", "") != fmt.Sprint(tt.ok) {
				t.Fatalf("result %q, id %q, data-ok %q", res.Text(), res.AttrOr("id", ""), res.AttrOr("data-ok", ""))
			}
			if !tt.ok && !strings.Contains(res.Text(), "404 Not Found") {
				t.Errorf("the failure does not say why: %q", res.Text())
			}
			if strings.Contains(body, "s3cr3t") {
				t.Error("the result shows the sink's URL")
			}
		})
	}
	if len(e.tester.tests) != len(tests) {
		t.Errorf("%d tests sent, want %d", len(e.tester.tests), len(tests))
	}
	if rec := e.post(fmt.Sprintf("/admin/alerts/sinks/%d/delete", ok.ID), url.Values{}); rec.Code != http.StatusSeeOther {
		t.Fatalf("delete: %d", rec.Code)
	}
	if _, err := e.store.AlertSink(context.Background(), ok.ID); aiproxy.ErrorCode(err) != aiproxy.ENOTFOUND {
		t.Errorf("after delete: %v", err)
	}
}

// TestThresholds: the form stores the thresholds, an empty field going
// back to the server's; the page shows the values in effect; a refused
// value comes back beside its field with a 422.
func TestThresholds(t *testing.T) {
	tests := []struct {
		name   string
		form   url.Values
		field  string            // refused input; "" when stored
		effect map[string]string // by input: the value in effect shown
	}{
		{"all set", url.Values{"throttleSeconds": {"60"}, "errorRate": {"0.5"}, "spikeFactor": {"4"}, "spikeMin": {"10"}, "logQueueWarn": {"50"}}, "",
			map[string]string{"throttleSeconds": "60 s", "errorRate": "0.5", "spikeFactor": "4", "spikeMin": "10", "logQueueWarn": "50"}},
		{"empty: the server's", url.Values{"throttleSeconds": {""}, "errorRate": {""}}, "",
			map[string]string{"throttleSeconds": "600 s", "errorRate": "0.3", "spikeFactor": "3", "spikeMin": "100", "logQueueWarn": "1000"}},
		{"negative: off", url.Values{"errorRate": {"-1"}, "spikeFactor": {"-1"}}, "",
			map[string]string{"errorRate": "off", "spikeFactor": "off"}},
		{"error rate above 1", url.Values{"errorRate": {"2"}}, "errorRate", nil},
		{"throttle not a number", url.Values{"throttleSeconds": {"soon"}}, "throttleSeconds", nil},
		{"negative spike min", url.Values{"spikeMin": {"-3"}}, "spikeMin", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			rec := e.post("/admin/alerts/settings", tt.form)
			if tt.field != "" {
				doc := parse(t, rec, http.StatusUnprocessableEntity)
				if doc.Find(`[data-testid="thresholds-form"] [data-testid="error-`+tt.field+`"]`).Length() != 1 {
					t.Errorf("no error beside %s: %q", tt.field, doc.Find(".field-error").Text())
				}
				if got := doc.Find(`[data-testid="input-`+tt.field+`"]`).AttrOr("value", ""); got != tt.form.Get(tt.field) {
					t.Errorf("the value typed is not kept: %q", got)
				}
				st, _ := e.store.AlertSettings(context.Background())
				if *st != (aiproxy.AlertSettings{UpdatedAt: st.UpdatedAt}) {
					t.Errorf("stored %+v", st)
				}
				return
			}
			if rec.Code != http.StatusSeeOther {
				t.Fatalf("got %d: %s", rec.Code, rec.Body.String())
			}
			doc, _ := e.page("/admin/alerts")
			for field, want := range tt.effect {
				if got := doc.Find(`[data-testid="effective-` + field + `"]`).Text(); got != want {
					t.Errorf("%s in effect %q, want %q", field, got, want)
				}
				if got := doc.Find(`[data-testid="input-`+field+`"]`).AttrOr("value", ""); got != tt.form.Get(field) {
					t.Errorf("%s input %q, want %q", field, got, tt.form.Get(field))
				}
			}
		})
	}
}

// TestHistory: 50 alerts a page, newest first, the older ones through
// the before cursor, of one kind when filtered.
func TestHistory(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range 120 {
		kind := aiproxy.AlertBreakerOpen
		if i%3 == 0 {
			kind = aiproxy.AlertLogs
		}
		r := &aiproxy.AlertRecord{Alert: aiproxy.Alert{Kind: kind, Severity: aiproxy.SeverityWarning, Title: fmt.Sprintf("alert %d", i), At: at.Add(time.Duration(i) * time.Minute)}, Delivered: true}
		if err := e.store.RecordAlert(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// Follow the "Older" links from the first page of each filter.
	tests := []struct {
		start string
		pages []int // rows per page
		kind  string
	}{
		{"/admin/alerts", []int{50, 50, 20}, ""},
		{"/admin/alerts?kind=logs", []int{40}, "logs"},
		{"/admin/alerts?kind=usage_spike", []int{0}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.start, func(t *testing.T) {
			target, last := tt.start, int64(1<<62)
			for i, want := range tt.pages {
				doc, _ := e.page(target)
				rows := doc.Find(`[data-testid="history-row"]`)
				if rows.Length() != want {
					t.Fatalf("page %d: %d rows, want %d", i+1, rows.Length(), want)
				}
				rows.Each(func(_ int, s *goquery.Selection) {
					var id int64
					fmt.Sscan(s.AttrOr("data-id", ""), &id)
					if id >= last {
						t.Errorf("page %d: id %d not below %d", i+1, id, last)
					}
					last = id
					if tt.kind != "" && s.AttrOr("data-kind", "") != tt.kind {
						t.Errorf("kind %q", s.AttrOr("data-kind", ""))
					}
				})
				older := doc.Find(`[data-testid="history-older"]`)
				if more := i < len(tt.pages)-1; (older.Length() == 1) != more {
					t.Fatalf("page %d: older link %v, want %v", i+1, older.Length() == 1, more)
				}
				target, _, _ = strings.Cut(older.AttrOr("href", ""), "#") // a browser sends no fragment
			}
		})
	}
}

// TestAccess: a group session is refused (403) everywhere, and a POST
// without the CSRF token is refused (403) and changes nothing.
func TestAccess(t *testing.T) {
	e := newEnv(t)
	s := e.createSink(&aiproxy.AlertSink{Name: "ops", Kind: aiproxy.SinkSlack, URL: hookURL, Enabled: true})
	tests := []struct {
		name   string
		cookie *http.Cookie
		method string
		target string
		form   url.Values
	}{
		{"group: page", e.group, http.MethodGet, "/admin/alerts", nil},
		{"group: edit form", e.group, http.MethodGet, fmt.Sprintf("/admin/alerts/sinks/%d/edit", s.ID), nil},
		{"group: test", e.group, http.MethodPost, fmt.Sprintf("/admin/alerts/sinks/%d/test", s.ID), url.Values{"csrf": {e.gcsrf}}},
		{"admin without CSRF: delete", e.admin, http.MethodPost, fmt.Sprintf("/admin/alerts/sinks/%d/delete", s.ID), url.Values{}},
		{"admin without CSRF: thresholds", e.admin, http.MethodPost, "/admin/alerts/settings", url.Values{"errorRate": {"0.9"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if rec := e.do(tt.cookie, tt.method, tt.target, tt.form); rec.Code != http.StatusForbidden {
				t.Fatalf("got %d, want 403", rec.Code)
			}
		})
	}
	if _, err := e.store.AlertSink(context.Background(), s.ID); err != nil {
		t.Errorf("the sink is gone: %v", err)
	}
	if len(e.tester.tests) != 0 {
		t.Error("a group session sent a test alert")
	}
}
