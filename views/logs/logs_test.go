package logs_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/go-chi/chi/v5"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/views/logs"
	"github.com/aiproxy/aiproxy/views/web"
)

// The sessions of the tests: the admin, and a group session of acme.
var (
	admin = &web.Session{Admin: true, CSRF: "csrf"}
	acme  = &web.Session{GroupID: "acme", TokenID: 7, TokenName: "ci", CSRF: "csrf"}
)

// t0 is when the first log of the fixtures was made.
var t0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

// newLog returns a log of id in group, made id seconds after t0.
func newLog(id int64, group string) *aiproxy.Log {
	return &aiproxy.Log{
		ID: id, RequestID: fmt.Sprintf("req-%d", id), CreatedAt: t0.Add(time.Duration(id) * time.Second),
		GroupID: group, TokenID: 7, TokenName: "ci", ChannelID: 3, Model: "gpt-4o", UpstreamModel: "gpt-4o-2024-08-06",
		Endpoint: "/v1/chat/completions", Mode: aiproxy.ModeChat, ClientProtocol: aiproxy.ProtocolOpenAI,
		StatusCode: 200, Usage: aiproxy.Usage{PromptTokens: 10, CompletionTokens: 5, TotalTokens: 15, Requests: 1},
		Amount: 1500, Latency: 420 * time.Millisecond, TTFB: 80 * time.Millisecond,
	}
}

// fixture is the area mounted with a fake log service and a real live
// hub.
type fixture struct {
	logs *fakeLogs
	live *store.LiveHub
	deps logs.Deps
}

func newFixture(t testing.TB, n int) *fixture {
	t.Helper()
	fx := &fixture{logs: &fakeLogs{}, live: store.NewLiveHub(nil, store.LiveOptions{})}
	t.Cleanup(func() { fx.live.Close() })
	for id := int64(n); id >= 1; id-- {
		group := "acme"
		if id%2 == 0 {
			group = "other"
		}
		fx.logs.logs = append(fx.logs.logs, newLog(id, group))
	}
	fx.deps = logs.Deps{Logs: fx.logs, Live: fx.live, CSVPath: "/api/logs.csv"}
	return fx
}

// handler returns the area as s sees it (nil: nobody signed in).
func (fx *fixture) handler(s *web.Session) http.Handler {
	r := chi.NewRouter()
	if s != nil {
		r.Use(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				next.ServeHTTP(w, r.WithContext(web.WithSession(r.Context(), s)))
			})
		})
	}
	logs.Mount(r, fx.deps)
	return r
}

// get requests target as s, with the headers given in pairs, and parses
// the answer.
func (fx *fixture) get(t testing.TB, s *web.Session, target string, headers ...string) (*httptest.ResponseRecorder, *goquery.Document) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	fx.handler(s).ServeHTTP(w, r)
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(w.Body.String()))
	if err != nil {
		t.Fatal(err)
	}
	return w, doc
}

func testid(id string) string { return `[data-testid="` + id + `"]` }

func ptr[T any](v T) *T { return &v }

func TestListFilter(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		session *web.Session
		query   string
		want    aiproxy.LogFilter
	}{
		{"none", admin, "", aiproxy.LogFilter{Limit: 50}},
		{"every field", admin,
			"from=2026-12-01T10:00&to=2026-12-02T10:30&group=acme&tokenId=7&model=gpt-4o&channelId=3&status=failed&requestId=req-9",
			aiproxy.LogFilter{Limit: 50, GroupID: "acme", TokenID: 7, Model: "gpt-4o", ChannelID: 3, Failed: ptr(true), RequestID: "req-9",
				From: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), To: time.Date(2026, 12, 2, 10, 30, 0, 0, time.UTC)}},
		{"success", admin, "status=success", aiproxy.LogFilter{Limit: 50, Failed: ptr(false)}},
		{"browser zone", admin, "from=2026-12-01T10:00&tz=Europe/Paris",
			aiproxy.LogFilter{Limit: 50, From: time.Date(2026, 12, 1, 10, 0, 0, 0, paris)}},
		{"cursor", admin, "before=120&model=m", aiproxy.LogFilter{Limit: 50, Before: 120, Model: "m"}},
		{"group session", acme, "model=m", aiproxy.LogFilter{Limit: 50, GroupID: "acme", Model: "m"}},
		{"group session naming another group", acme, "group=other", aiproxy.LogFilter{Limit: 50, GroupID: "acme"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, 0)
			w, _ := fx.get(t, tt.session, "/admin/logs?"+tt.query)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			got := fx.logs.recorded()
			if len(got) != 1 {
				t.Fatalf("%d queries, want 1", len(got))
			}
			if !filterEqual(got[0], tt.want) {
				t.Errorf("filter\n%+v\nwant\n%+v", got[0], tt.want)
			}
		})
	}
}

// filterEqual compares filters, times by instant and Failed by value.
func filterEqual(a, b aiproxy.LogFilter) bool {
	if !a.From.Equal(b.From) || !a.To.Equal(b.To) || (a.Failed == nil) != (b.Failed == nil) || (a.Failed != nil && *a.Failed != *b.Failed) {
		return false
	}
	a.From, a.To, a.Failed, b.From, b.To, b.Failed = time.Time{}, time.Time{}, nil, time.Time{}, time.Time{}, nil
	return reflect.DeepEqual(a, b)
}

func TestListFilterErrors(t *testing.T) {
	tests := []struct {
		query, field string
	}{
		{"tokenId=abc", "tokenId"},
		{"channelId=-1", "channelId"},
		{"from=yesterday", "from"},
		{"from=2026-12-02T10:00&to=2026-12-01T10:00", "to"},
		{"tz=Mars/Olympus", "tz"},
		{"status=maybe", "status"},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			fx := newFixture(t, 3)
			w, doc := fx.get(t, admin, "/admin/logs?"+tt.query)
			if w.Code != http.StatusBadRequest {
				t.Errorf("status %d, want 400", w.Code)
			}
			if n := len(fx.logs.recorded()); n != 0 {
				t.Errorf("%d queries of an invalid filter", n)
			}
			if doc.Find(testid("error-"+tt.field)).Length() != 1 {
				t.Errorf("no error beside %s", tt.field)
			}
			if got, _ := doc.Find(testid("filter-" + tt.field)).Attr("aria-invalid"); got != "true" {
				t.Errorf("aria-invalid %q", got)
			}
		})
	}
}

func TestListForm(t *testing.T) {
	tests := []struct {
		name    string
		session *web.Session
		group   bool
	}{
		{"admin", admin, true},
		{"group", acme, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, 3)
			_, doc := fx.get(t, tt.session, "/admin/logs?model=gpt-4o&status=failed")
			form := doc.Find(testid("filter-form"))
			if m, _ := form.Attr("method"); m != "get" {
				t.Errorf("method %q", m)
			}
			for _, a := range []string{"action", "hx-get"} {
				if v, _ := form.Attr(a); v != "/admin/logs" {
					t.Errorf("%s %q", a, v)
				}
			}
			if v, _ := form.Attr("hx-push-url"); v != "true" {
				t.Errorf("hx-push-url %q", v)
			}
			if got := doc.Find(testid("filter-group")).Length() == 1; got != tt.group {
				t.Errorf("group field shown %v, want %v", got, tt.group)
			}
			// Every input has a label.
			form.Find("input:not([type=hidden]), select").Each(func(_ int, s *goquery.Selection) {
				id, _ := s.Attr("id")
				if id == "" || doc.Find(`label[for="`+id+`"]`).Length() != 1 {
					t.Errorf("input %v has no label", s.AttrOr("name", "?"))
				}
			})
			if v, _ := doc.Find(testid("filter-model")).Attr("value"); v != "gpt-4o" {
				t.Errorf("model field %q", v)
			}
			if v, _ := doc.Find(testid("filter-status") + " option[selected]").Attr("value"); v != "failed" {
				t.Errorf("status selected %q", v)
			}
		})
	}
}

func TestListRows(t *testing.T) {
	fx := newFixture(t, 0)
	ok := newLog(2, "acme")
	ok.Stream = true
	failed := newLog(1, "acme")
	failed.StatusCode, failed.Error, failed.Unpriced = 502, "upstream broke", true
	failed.ChannelProtocol = aiproxy.ProtocolAnthropic
	fx.logs.logs = []*aiproxy.Log{ok, failed}
	_, doc := fx.get(t, admin, "/admin/logs")
	rows := doc.Find(testid("log-row"))
	if rows.Length() != 2 {
		t.Fatalf("%d rows", rows.Length())
	}
	tests := []struct {
		row          int
		testid, want string
	}{
		{0, "status", "✓ OK 200"},
		{1, "status", "✕ Failed 502"},
		{0, "cell-model", "gpt-4o → gpt-4o-2024-08-06"},
		{0, "cell-token", "ci (#7)"},
		{0, "cell-channel", "3"},
		{0, "cell-tokens", "15"},
		{0, "cell-cost", "0.0000015"},
		{1, "cell-cost", "unpriced"},
		{0, "cell-latency", "420 ms"},
		{0, "cell-ttfb", "80 ms"},
		{0, "cell-protocol", "openai"},
		{1, "cell-protocol", "openai → anthropic"},
		{0, "cell-stream", "⇶ Stream"},
		{1, "cell-stream", "→ Single"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.row, tt.testid), func(t *testing.T) {
			got := strings.Join(strings.Fields(rows.Eq(tt.row).Find(testid(tt.testid)).Text()), " ")
			if got != tt.want {
				t.Errorf("%q, want %q", got, tt.want)
			}
		})
	}
	if got, _ := rows.Eq(1).Find(testid("log-open")).Attr("href"); got != "/admin/logs/1" {
		t.Errorf("detail link %q", got)
	}
	if got, _ := rows.Eq(1).Find(testid("log-open")).Attr("hx-target"); got != "#log-drawer" {
		t.Errorf("detail hx-target %q", got)
	}
}

func TestPagination(t *testing.T) {
	tests := []struct {
		name         string
		query        string
		rows         int
		first, last  string // request ids of the first and last rows
		older        string // the older link, "" for none
		newest       bool
		wantedBefore int64
	}{
		{"first page", "model=gpt-4o", 50, "req-120", "req-71", "/admin/logs?before=71&model=gpt-4o", false, 0},
		{"second page", "before=71&model=gpt-4o", 50, "req-70", "req-21", "/admin/logs?before=21&model=gpt-4o", true, 71},
		{"last page", "before=21&model=gpt-4o", 20, "req-20", "req-1", "", true, 21},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, 120)
			_, doc := fx.get(t, admin, "/admin/logs?"+tt.query)
			rows := doc.Find(testid("log-row"))
			if rows.Length() != tt.rows {
				t.Fatalf("%d rows, want %d", rows.Length(), tt.rows)
			}
			if got := rows.First().AttrOr("data-request-id", ""); got != tt.first {
				t.Errorf("first row %s, want %s", got, tt.first)
			}
			if got := rows.Last().AttrOr("data-request-id", ""); got != tt.last {
				t.Errorf("last row %s, want %s", got, tt.last)
			}
			older := doc.Find(testid("page-older"))
			if got := older.AttrOr("href", ""); got != tt.older {
				t.Errorf("older link %q, want %q", got, tt.older)
			}
			if tt.older != "" && older.AttrOr("hx-get", "") != tt.older {
				t.Errorf("older hx-get %q", older.AttrOr("hx-get", ""))
			}
			newest := doc.Find(testid("page-newest"))
			if got := newest.Length() == 1; got != tt.newest {
				t.Errorf("newest link shown %v, want %v", got, tt.newest)
			} else if tt.newest && newest.AttrOr("href", "") != "/admin/logs?model=gpt-4o" {
				t.Errorf("newest link %q", newest.AttrOr("href", ""))
			}
			if f := fx.logs.recorded(); len(f) != 1 || f[0].Before != tt.wantedBefore || f[0].Limit != 50 {
				t.Errorf("queries %+v", f)
			}
		})
	}
}

func TestDetail(t *testing.T) {
	tests := []struct {
		name    string
		session *web.Session
		target  string
		status  int
		request string // the request id shown
	}{
		{"admin by id", admin, "/admin/logs/4", http.StatusOK, "req-4"},
		{"admin by request id", admin, "/admin/logs/request/req-4", http.StatusOK, "req-4"},
		{"group, its own log", acme, "/admin/logs/5", http.StatusOK, "req-5"},
		{"group, its own log by request id", acme, "/admin/logs/request/req-5", http.StatusOK, "req-5"},
		{"group, another group's log", acme, "/admin/logs/4", http.StatusNotFound, ""},
		{"group, another group's log by request id", acme, "/admin/logs/request/req-4", http.StatusNotFound, ""},
		{"request id needing escapes", admin, "/admin/logs/request/" + url.PathEscape("a/b c%"), http.StatusOK, "a/b c%"},
		{"no such log", admin, "/admin/logs/99", http.StatusNotFound, ""},
		{"not an id", admin, "/admin/logs/x", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, 10)
			fx.logs.logs[0].RequestID = "a/b c%" // log 10
			w, doc := fx.get(t, tt.session, tt.target)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d", w.Code, tt.status)
			}
			if got := doc.Find(testid("detail-request-id")).Text(); got != tt.request {
				t.Errorf("request id %q, want %q", got, tt.request)
			}
			for _, f := range fx.logs.recorded() {
				if !f.Detail || f.Limit != 1 {
					t.Errorf("filter %+v: want Detail and Limit 1", f)
				}
			}
		})
	}
}

func TestDetailFragmentOrPage(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		mode    string
		page    bool
	}{
		{"plain request", nil, "page", true},
		{"htmx into the drawer", []string{"HX-Request", "true", "HX-Target", "log-drawer"}, "drawer", false},
		{"boosted navigation", []string{"HX-Request", "true", "HX-Boosted", "true", "HX-Target", "main"}, "page", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, 3)
			w, doc := fx.get(t, admin, "/admin/logs/2?model=gpt-4o", tt.headers...)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d", w.Code)
			}
			if got := doc.Find(testid("log-detail")).AttrOr("data-mode", ""); got != tt.mode {
				t.Errorf("mode %q, want %q", got, tt.mode)
			}
			if got := strings.Contains(w.Body.String(), "<!doctype html>"); got != tt.page {
				t.Errorf("whole document %v, want %v", got, tt.page)
			}
			back := "/admin/logs?model=gpt-4o"
			if tt.mode == "drawer" {
				if got := doc.Find(testid("drawer-close")).AttrOr("href", ""); got != back {
					t.Errorf("close link %q, want %q", got, back)
				}
			} else if got := doc.Find(testid("back-to-logs")).AttrOr("href", ""); got != back {
				t.Errorf("back link %q, want %q", got, back)
			}
		})
	}
}

func TestDrawerClose(t *testing.T) {
	fx := newFixture(t, 3)
	w, doc := fx.get(t, admin, "/admin/logs?model=gpt-4o", "HX-Request", "true", "HX-Target", "log-drawer")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	if d := doc.Find(testid("log-drawer")); d.Length() != 1 || strings.TrimSpace(d.Text()) != "" {
		t.Errorf("drawer %q", w.Body)
	}
	if n := len(fx.logs.recorded()); n != 0 {
		t.Errorf("closing the drawer read the logs %d times", n)
	}
}

func TestDetailBodies(t *testing.T) {
	const script = `<script>alert(1)</script>`
	tests := []struct {
		name               string
		req, resp          string
		reqTrunc, respTrun bool
		reqShown           string // the request body's text as shown
		format             string
	}{
		{"json", `{"model":"gpt-4o","messages":[{"role":"user","content":"` + script + `"}]}`, `{"ok":true}`, false, false,
			"{\n  \"model\": \"gpt-4o\",\n  \"messages\": [\n    {\n      \"role\": \"user\",\n      \"content\": \"" + script + "\"\n    }\n  ]\n}", "json"},
		{"text", script + " not json", "", true, false, script + " not json", "text"},
		{"truncated json", `{"model":"gpt`, `{"a":`, true, true, `{"model":"gpt`, "text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, 0)
			l := newLog(1, "acme")
			l.RequestBody, l.ResponseBody = tt.req, tt.resp
			l.RequestBodyTruncated, l.ResponseBodyTruncated = tt.reqTrunc, tt.respTrun
			fx.logs.logs = []*aiproxy.Log{l}
			w, doc := fx.get(t, admin, "/admin/logs/1", "HX-Request", "true", "HX-Target", "log-drawer")
			if strings.Contains(w.Body.String(), "<script>") {
				t.Fatalf("a body's HTML is rendered raw:\n%s", w.Body)
			}
			body := doc.Find(testid("request-body"))
			if got := body.Text(); got != tt.reqShown {
				t.Errorf("request body\n%s\nwant\n%s", got, tt.reqShown)
			}
			if got := body.AttrOr("data-format", ""); got != tt.format {
				t.Errorf("format %q, want %q", got, tt.format)
			}
			if got := doc.Find(testid("request-body-truncated")).Length() == 1; got != tt.reqTrunc {
				t.Errorf("request truncated shown %v, want %v", got, tt.reqTrunc)
			}
			if got := doc.Find(testid("response-body-truncated")).Length() == 1; got != tt.respTrun {
				t.Errorf("response truncated shown %v, want %v", got, tt.respTrun)
			}
			if got := doc.Find(testid("response-body-none")).Length() == 1; got != (tt.resp == "") {
				t.Errorf("response body absent shown %v", got)
			}
		})
	}
}

func TestDetailComponents(t *testing.T) {
	fx := newFixture(t, 0)
	l := newLog(1, "acme")
	l.Usage = aiproxy.Usage{PromptTokens: 100, CachedTokens: 40, CompletionTokens: 30, ReasoningTokens: 12, TotalTokens: 130, Requests: 1}
	l.Cost = aiproxy.Cost{Input: 150_000, CachedInput: 20_000, Output: 300_000}
	l.Amount = l.Cost.Total()
	l.Attempts = []aiproxy.LogAttempt{
		{ChannelID: 3, Status: 503, Error: "overloaded", Latency: 90 * time.Millisecond},
		{ChannelID: 4, Status: 200, Latency: 300 * time.Millisecond},
	}
	l.UpstreamRequestID, l.User, l.Metadata = "up-1", "user-9", `{"team":"ml"}`
	l.ChannelProtocol = aiproxy.ProtocolAnthropic
	fx.logs.logs = []*aiproxy.Log{l}
	_, doc := fx.get(t, admin, "/admin/logs/1")
	tests := []struct{ testid, want string }{
		{"usage-prompt", "100"},
		{"usage-cached", "40"},
		{"usage-completion", "30"},
		{"usage-reasoning", "12"},
		{"usage-total", "130"},
		{"cost-input", "0.00015"},
		{"cost-cached-input", "0.00002"},
		{"cost-output", "0.0003"},
		{"cost-total", "0.00047"},
		{"detail-upstream-request-id", "up-1"},
		{"detail-user", "user-9"},
		{"detail-client-protocol", "openai"},
		{"detail-channel-protocol", "anthropic"},
		{"metadata", "{\n  \"team\": \"ml\"\n}"},
	}
	for _, tt := range tests {
		t.Run(tt.testid, func(t *testing.T) {
			if got := doc.Find(testid(tt.testid)).Text(); got != tt.want {
				t.Errorf("%q, want %q", got, tt.want)
			}
		})
	}
	attempts := doc.Find(testid("attempt"))
	if attempts.Length() != 2 {
		t.Fatalf("%d attempts", attempts.Length())
	}
	for i, want := range []string{"3 503 ✕ failed overloaded 90 ms", "4 200 ✓ answered — 300 ms"} {
		cells := attempts.Eq(i).Find("td:not(:first-child)").Map(func(_ int, s *goquery.Selection) string {
			return strings.Join(strings.Fields(s.Text()), " ")
		})
		got := strings.Join(cells, " ")
		if got != want {
			t.Errorf("attempt %d %q, want %q", i, got, want)
		}
	}
}

func TestCSVLink(t *testing.T) {
	tests := []struct {
		name    string
		session *web.Session
		query   string
		want    url.Values
	}{
		{"no filter", admin, "", url.Values{}},
		{"every field", admin, "from=2026-12-01T10:00&to=2026-12-02T10:00&tz=Europe/Paris&group=acme&tokenId=7&channelId=3&model=m&status=failed&requestId=r",
			url.Values{"from": {"2026-12-01T09:00:00Z"}, "to": {"2026-12-02T09:00:00Z"}, "group": {"acme"}, "tokenId": {"7"},
				"channelId": {"3"}, "model": {"m"}, "failed": {"true"}, "requestId": {"r"}}},
		{"success", admin, "status=success", url.Values{"failed": {"false"}}},
		{"the cursor is not the export's", admin, "before=9&model=m", url.Values{"model": {"m"}}},
		{"group session: the export forces the group", acme, "group=other&model=m", url.Values{"model": {"m"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, 0)
			_, doc := fx.get(t, tt.session, "/admin/logs?"+tt.query)
			u, err := url.Parse(doc.Find(testid("csv-export")).AttrOr("href", ""))
			if err != nil {
				t.Fatal(err)
			}
			if u.Path != "/api/logs.csv" {
				t.Errorf("path %q", u.Path)
			}
			if got := u.Query(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("query %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTailToggle(t *testing.T) {
	tests := []struct {
		name    string
		live    bool
		query   string
		toggle  string // the toggle's href, "" for none
		connect string // sse-connect, "" for none
	}{
		{"off", true, "model=m", "/admin/logs?model=m&tail=1", ""},
		{"on", true, "model=m&tail=1", "/admin/logs?model=m", "/admin/logs/tail?model=m"},
		{"no live feed", false, "tail=1", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, 3)
			if !tt.live {
				fx.deps.Live = nil
			}
			_, doc := fx.get(t, admin, "/admin/logs?"+tt.query)
			if got := doc.Find(testid("tail-toggle")).AttrOr("href", ""); got != tt.toggle {
				t.Errorf("toggle %q, want %q", got, tt.toggle)
			}
			table := doc.Find(testid("log-table"))
			if got := table.AttrOr("sse-connect", ""); got != tt.connect {
				t.Errorf("sse-connect %q, want %q", got, tt.connect)
			}
			rows := doc.Find(testid("log-rows"))
			if tt.connect != "" {
				if table.AttrOr("hx-ext", "") != "sse" || rows.AttrOr("sse-swap", "") != "log" ||
					rows.AttrOr("hx-swap", "") != "afterbegin" || rows.AttrOr("hx-target", "") != "this" {
					t.Errorf("tail attributes missing: table %v, rows %v", table.Nodes[0].Attr, rows.Nodes[0].Attr)
				}
			} else if _, ok := rows.Attr("sse-swap"); ok {
				t.Error("sse-swap without the tail")
			}
		})
	}
}

// sseStream reads the events of a server-sent event stream: their name
// and data, comments dropped.
func sseStream(t testing.TB, resp *http.Response) <-chan [2]string {
	t.Helper()
	out := make(chan [2]string, 16)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		var name, data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if name != "" || data != "" {
					out <- [2]string{name, data}
				}
				name, data = "", ""
			case strings.HasPrefix(line, ":"):
				if line == ": tail open" {
					out <- [2]string{"open", ""}
				}
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data += strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return out
}

func nextEvent(t testing.TB, events <-chan [2]string) [2]string {
	t.Helper()
	select {
	case e, ok := <-events:
		if !ok {
			t.Fatal("the stream ended")
		}
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no event in 5s")
	}
	return [2]string{}
}

func TestTail(t *testing.T) {
	tests := []struct {
		name    string
		session *web.Session
		query   string
		logs    []*aiproxy.Log // recorded in order
		want    string         // request id of the first event
	}{
		{"admin", admin, "", []*aiproxy.Log{liveLog("r-1", "other", 3)}, "r-1"},
		{"admin filtering on a group", admin, "group=acme", []*aiproxy.Log{liveLog("r-1", "other", 3), liveLog("r-2", "acme", 3)}, "r-2"},
		{"group session, forced to its group", acme, "group=other", []*aiproxy.Log{liveLog("r-1", "other", 3), liveLog("r-2", "acme", 3)}, "r-2"},
		{"token filter, applied by the tail", admin, "tokenId=9", []*aiproxy.Log{liveLog("r-1", "acme", 3), liveLog("r-2", "acme", 9)}, "r-2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, 0)
			srv := httptest.NewServer(fx.handler(tt.session))
			defer srv.Close()
			ctx, leave := context.WithCancel(context.Background())
			defer leave()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/admin/logs/tail?"+tt.query, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
				t.Fatalf("content type %q", ct)
			}
			events := sseStream(t, resp)
			if e := nextEvent(t, events); e[0] != "open" {
				t.Fatalf("first event %v", e)
			}
			for _, l := range tt.logs {
				fx.live.Record(l)
			}
			e := nextEvent(t, events)
			if e[0] != "log" {
				t.Fatalf("event %q, want log", e[0])
			}
			doc, err := goquery.NewDocumentFromReader(strings.NewReader("<table><tbody>" + e[1] + "</tbody></table>"))
			if err != nil {
				t.Fatal(err)
			}
			row := doc.Find("tr" + testid("log-row"))
			if got := row.AttrOr("data-request-id", ""); got != tt.want {
				t.Errorf("row of %q, want %q: %s", got, tt.want, e[1])
			}
			if got := row.Find(testid("log-open")).AttrOr("href", ""); !strings.HasPrefix(got, "/admin/logs/request/"+tt.want) {
				t.Errorf("detail link %q: a live log is found by its request id", got)
			}
			leave()
			waitFor(t, "the subscription to stop", func() bool { return fx.live.Subscribers() == 0 })
		})
	}
}

// liveLog returns a log as the live hub hands it out: no id yet.
func liveLog(requestID, group string, token int64) *aiproxy.Log {
	l := newLog(0, group)
	l.RequestID, l.TokenID, l.CreatedAt = requestID, token, time.Now()
	return l
}

func TestTailKeepalive(t *testing.T) {
	fx := newFixture(t, 0)
	fx.deps.Keepalive = 10 * time.Millisecond
	srv := httptest.NewServer(fx.handler(admin))
	defer srv.Close()
	ctx, leave := context.WithCancel(context.Background())
	defer leave()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/admin/logs/tail", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for n := 0; n < 3; {
		if !sc.Scan() {
			t.Fatal("the stream ended")
		}
		if sc.Text() == ": keepalive" {
			n++
		}
	}
}

func TestTailLeavesNoGoroutine(t *testing.T) {
	fx := newFixture(t, 0)
	srv := httptest.NewServer(fx.handler(admin))
	open := func() {
		ctx, leave := context.WithCancel(context.Background())
		defer leave()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/admin/logs/tail", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		events := sseStream(t, resp)
		nextEvent(t, events)
		fx.live.Record(liveLog("r", "acme", 7))
		if e := nextEvent(t, events); e[0] != "log" {
			t.Fatalf("event %v", e)
		}
		leave()
		resp.Body.Close()
		for range events {
		}
	}
	open() // warm up: the connections' goroutines
	waitFor(t, "the subscription to stop", func() bool { return fx.live.Subscribers() == 0 })
	before := settledGoroutines(-1)
	for range 50 {
		open()
	}
	waitFor(t, "every subscription to stop", func() bool { return fx.live.Subscribers() == 0 })
	srv.Close()
	http.DefaultClient.CloseIdleConnections()
	if after := settledGoroutines(before); after > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines after 50 tails, %d before:\n%s", after, before, buf[:runtime.Stack(buf, true)])
	}
}

func TestTailEndsWithDepsContext(t *testing.T) {
	fx := newFixture(t, 0)
	life, end := context.WithCancel(context.Background())
	fx.deps.Context = life
	srv := httptest.NewServer(fx.handler(admin))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/admin/logs/tail")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := sseStream(t, resp)
	nextEvent(t, events)
	end()
	select {
	case _, ok := <-events:
		if ok {
			t.Error("an event after the end")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not end with Deps.Context")
	}
	waitFor(t, "the subscription to stop", func() bool { return fx.live.Subscribers() == 0 })
}

func TestSignedOut(t *testing.T) {
	for _, target := range []string{"/admin/logs", "/admin/logs/1", "/admin/logs/tail", "/admin/logs/request/r"} {
		t.Run(target, func(t *testing.T) {
			fx := newFixture(t, 3)
			w, _ := fx.get(t, nil, target)
			if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), web.SignInPath) {
				t.Errorf("status %d, location %q", w.Code, w.Header().Get("Location"))
			}
			if n := len(fx.logs.recorded()); n != 0 {
				t.Errorf("%d queries without a session", n)
			}
		})
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("waited 5s for %s", what)
}

// settledGoroutines waits up to 5s for the goroutine count to reach want
// (or, with want -1, to stop changing) and returns it.
func settledGoroutines(want int) int {
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		m := runtime.NumGoroutine()
		if (want >= 0 && m <= want) || (want < 0 && m == n) {
			return m
		}
		n = m
	}
	return n
}
