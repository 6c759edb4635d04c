package channels_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/go-chi/chi/v5"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/providers"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/store/storetest"
	"github.com/aiproxy/aiproxy/views/channels"
	"github.com/aiproxy/aiproxy/views/web"
)

const adminKey = "admin-key-for-the-channels-tests"

// What cmd/aiproxy wires into Deps.
var (
	_ aiproxy.ChannelService = (*store.Store)(nil)
	_ channels.Stats         = (*store.Store)(nil)
	_ channels.Health        = (*store.MemoryHealth)(nil)
	_ channels.Health        = (*store.RedisHealth)(nil)
	_ channels.Tester        = (*relay.Server)(nil)
	_ channels.Balances      = (*relay.Balances)(nil)
)

// env is the Channels area mounted as cmd/aiproxy mounts it (the session
// and CSRF middleware in front), on a real SQLite store, with an admin
// signed in.
type env struct {
	t       *testing.T
	store   *store.Store
	auth    *web.Auth
	handler http.Handler
	tester  *fakeTester
	health  *fakeHealth
	stats   *fakeStats
	bal     fakeBalances
	cookie  *http.Cookie // the admin's session
	csrf    string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st := storetest.Open(t, storetest.SQLiteDSN(t))
	ps := providers.Providers()
	st.CheckChannel = ps.Check
	e := &env{t: t, store: st, tester: &fakeTester{}, health: &fakeHealth{}, stats: &fakeStats{}, bal: fakeBalances{}}
	e.auth = &web.Auth{AdminKey: adminKey, Keys: st.Cache(), Tokens: st}
	r := chi.NewRouter()
	r.Use(e.auth.Session, e.auth.CSRF)
	channels.Mount(r, channels.Deps{
		Channels: st, Types: ps, Tester: e.tester, Balances: e.bal, Health: e.health, Stats: e.stats,
	})
	e.handler = r
	e.cookie, e.csrf = e.signIn(adminKey)
	return e
}

// signIn opens a session with key and returns its cookie and CSRF token.
func (e *env) signIn(key string) (*http.Cookie, string) {
	e.t.Helper()
	rec := httptest.NewRecorder()
	s, err := e.auth.SignIn(rec, httptest.NewRequest(http.MethodPost, "/admin/signin", nil), key)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == web.CookieName {
			return c, s.CSRF
		}
	}
	e.t.Fatal("no session cookie")
	return nil, ""
}

// do sends a request with the admin's session; HTMX ones say so.
func (e *env) do(method, target string, form url.Values, htmx bool) *httptest.ResponseRecorder {
	e.t.Helper()
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, target, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, target, nil)
	}
	req.AddCookie(e.cookie)
	if htmx {
		req.Header.Set("HX-Request", "true")
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	return rec
}

func (e *env) get(target string, htmx bool) *httptest.ResponseRecorder {
	return e.do(http.MethodGet, target, nil, htmx)
}

// post sends form with the session's CSRF token.
func (e *env) post(target string, form url.Values, htmx bool) *httptest.ResponseRecorder {
	e.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", e.csrf)
	return e.do(http.MethodPost, target, form, htmx)
}

// create stores a channel and returns it.
func (e *env) create(c *aiproxy.Channel) *aiproxy.Channel {
	e.t.Helper()
	if c.Type == "" {
		c.Type = "openai"
	}
	if err := e.store.CreateChannel(context.Background(), c); err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) channel(id int64) *aiproxy.Channel {
	e.t.Helper()
	c, err := e.store.Channel(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// doc parses an answer, which must have status want.
func doc(tb testing.TB, rec *httptest.ResponseRecorder, want int) *goquery.Document {
	tb.Helper()
	if rec.Code != want {
		tb.Fatalf("status %d, want %d; body:\n%s", rec.Code, want, rec.Body.String())
	}
	body := rec.Body.String()
	if strings.HasPrefix(body, "<tr") {
		body = "<table><tbody>" + body + "</tbody></table>" // a row, parsed where it belongs
	}
	d, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// ids returns the data-id of the rows of d.
func ids(d *goquery.Document) []string {
	var out []string
	d.Find(`[data-testid="channel-row"]`).Each(func(_ int, s *goquery.Selection) {
		out = append(out, s.AttrOr("data-id", ""))
	})
	return out
}

// formValues returns what a browser would send of the form sel: its
// inputs, textareas and selects, checked boxes only, no buttons.
func formValues(sel *goquery.Selection) url.Values {
	v := url.Values{}
	sel.Find("input, textarea, select").Each(func(_ int, s *goquery.Selection) {
		name, ok := s.Attr("name")
		if !ok {
			return
		}
		switch goquery.NodeName(s) {
		case "textarea":
			v.Add(name, s.Text())
		case "select":
			opt := s.Find("option[selected]")
			if opt.Length() == 0 {
				opt = s.Find("option").First()
			}
			v.Add(name, opt.AttrOr("value", ""))
		default:
			switch s.AttrOr("type", "text") {
			case "checkbox", "radio":
				if _, checked := s.Attr("checked"); checked {
					v.Add(name, s.AttrOr("value", "on"))
				}
			case "submit", "button":
			default:
				v.Add(name, s.AttrOr("value", ""))
			}
		}
	})
	return v
}

type fakeTester struct {
	mu    sync.Mutex
	calls []string
}

// TestChannel answers as relay.Server would: EINVALID for a model the
// channel does not serve, a failure for "broken", else OK.
func (f *fakeTester) TestChannel(_ context.Context, ch *aiproxy.Channel, model string) (*relay.ChannelTest, error) {
	f.mu.Lock()
	f.calls = append(f.calls, strconv.FormatInt(ch.ID, 10)+"/"+model)
	f.mu.Unlock()
	if !ch.HasModel(model) {
		return nil, aiproxy.FieldErrorf("model", "The channel does not serve the model `%s`.", model)
	}
	if model == "broken" {
		return &relay.ChannelTest{Status: 401, Latency: 7 * time.Millisecond, Error: "Incorrect API key provided."}, nil
	}
	return &relay.ChannelTest{OK: true, Status: 200, Latency: 42 * time.Millisecond, Answer: "OK."}, nil
}

type fakeHealth struct {
	mu      sync.Mutex
	entries []aiproxy.ChannelHealth
	resets  []int64
}

func (f *fakeHealth) Snapshot() []aiproxy.ChannelHealth {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.entries)
}

func (f *fakeHealth) Reset(ch int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resets = append(f.resets, ch)
	f.entries = slices.DeleteFunc(f.entries, func(h aiproxy.ChannelHealth) bool { return h.ChannelID == ch })
}

type fakeStats struct {
	rows []aiproxy.ChannelStats
	err  error
	got  []aiproxy.AnalyticsFilter
}

func (f *fakeStats) ChannelStats(_ context.Context, flt aiproxy.AnalyticsFilter) ([]aiproxy.ChannelStats, error) {
	f.got = append(f.got, flt)
	out := make([]aiproxy.ChannelStats, 0, len(f.rows))
	for _, r := range f.rows {
		if flt.ChannelID == 0 || r.ChannelID == flt.ChannelID {
			out = append(out, r)
		}
	}
	return out, f.err
}

type fakeBalances map[int64]aiproxy.Balance

func (f fakeBalances) Balance(id int64) (aiproxy.Balance, bool) {
	b, ok := f[id]
	return b, ok
}

// seed creates n channels "ch-001"...: odd ids serve claude-3, even ones
// gpt-4o; priority id%5; weight 200-id.
func (e *env) seed(n int) {
	e.t.Helper()
	for i := 1; i <= n; i++ {
		m := "gpt-4o"
		if i%2 == 1 {
			m = "claude-3"
		}
		e.create(&aiproxy.Channel{Name: fmt.Sprintf("ch-%03d", i), Models: []string{m}, Priority: i % 5, Weight: 200 - i, Enabled: true})
	}
}

func TestList(t *testing.T) {
	e := newEnv(t)
	e.seed(120)
	e.stats.rows = []aiproxy.ChannelStats{
		{ChannelID: 5, Stats: aiproxy.UsageStats{Requests: 10, Successes: 5}},
		{ChannelID: 6, Stats: aiproxy.UsageStats{Requests: 10, Successes: 9}},
	}
	e.health.entries = []aiproxy.ChannelHealth{
		{ChannelID: 9, Model: "claude-3", State: aiproxy.HealthState{Breaker: aiproxy.BreakerOpen}, LastError: "401"},
		{ChannelID: 10, Model: "gpt-4o", State: aiproxy.HealthState{Breaker: aiproxy.BreakerClosed}},
	}
	e.bal[11] = aiproxy.Balance{Amount: 99.5, Currency: "USD"}
	e.bal[12] = aiproxy.Balance{Amount: 3, Currency: "USD"}

	for _, tc := range []struct {
		query     string
		first     []string // the first ids, in order
		rows      int
		total     string
		current   string // the current page
		nextQuery url.Values
	}{
		{query: "", first: []string{"1", "2", "3"}, rows: 50, total: "120", current: "1", nextQuery: url.Values{"page": {"2"}}},
		{query: "page=3", first: []string{"101", "102"}, rows: 20, total: "120", current: "3"},
		{query: "page=99", first: []string{"101"}, rows: 20, total: "120", current: "3"},
		{query: "q=CH-007", first: []string{"7"}, rows: 1, total: "1"},
		{query: "q=claude", first: []string{"1", "3", "5"}, rows: 50, total: "60", current: "1", nextQuery: url.Values{"q": {"claude"}, "page": {"2"}}},
		{query: "q=claude&sort=name&dir=desc", first: []string{"119", "117"}, rows: 50, total: "60", current: "1",
			nextQuery: url.Values{"q": {"claude"}, "sort": {"name"}, "dir": {"desc"}, "page": {"2"}}},
		{query: "sort=priority", first: []string{"5", "10", "15"}, rows: 50, total: "120", current: "1"},
		{query: "sort=weight", first: []string{"120", "119"}, rows: 50, total: "120", current: "1"},
		{query: "sort=errors&dir=desc", first: []string{"5", "6"}, rows: 50, total: "120", current: "1"},
		{query: "sort=breaker&dir=desc", first: []string{"9", "10"}, rows: 50, total: "120", current: "1"},
		{query: "sort=balance&dir=desc", first: []string{"11", "12"}, rows: 50, total: "120", current: "1"},
		{query: "q=nothing-like-it", rows: 0, total: "0"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			d := doc(t, e.get("/admin/channels?"+tc.query, false), http.StatusOK)
			got := ids(d)
			if len(got) != tc.rows || !slices.Equal(got[:len(tc.first)], tc.first) {
				t.Fatalf("rows %v (%d), want %d starting with %v", got, len(got), tc.rows, tc.first)
			}
			if total := d.Find(`[data-testid="channel-results"]`).AttrOr("data-total", ""); total != tc.total {
				t.Errorf("total %q, want %q", total, tc.total)
			}
			if cur := d.Find(`[data-testid="page-current"]`).Text(); cur != tc.current {
				t.Errorf("current page %q, want %q", cur, tc.current)
			}
			if tc.rows == 0 && d.Find(`[data-testid="empty"]`).Length() != 1 {
				t.Error("no empty message")
			}
			if tc.nextQuery != nil {
				next := d.Find(`[data-testid="page-next"]`)
				u, err := url.Parse(next.AttrOr("href", ""))
				if err != nil || u.Path != "/admin/channels" || u.Query().Encode() != tc.nextQuery.Encode() {
					t.Errorf("next page link %q, want the query %q", next.AttrOr("href", ""), tc.nextQuery.Encode())
				}
				if next.AttrOr("hx-get", "") != next.AttrOr("href", "") || next.AttrOr("hx-push-url", "") != "true" ||
					next.AttrOr("hx-target", "") != "#channel-results" {
					t.Errorf("next page link is not an htmx link pushing its URL: %v", next.Nodes[0].Attr)
				}
			}
		})
	}

	t.Run("cells", func(t *testing.T) {
		d := doc(t, e.get("/admin/channels?sort=errors&dir=desc", false), http.StatusOK)
		cell := func(id, name string) string {
			return strings.Join(strings.Fields(d.Find(`#channel-`+id+` [data-testid="cell-`+name+`"]`).Text()), " ")
		}
		for _, c := range []struct{ id, cell, want string }{
			{"5", "errors", "50.0% of 10"},
			{"6", "errors", "10.0% of 10"},
			{"7", "errors", "—"},
			{"9", "breaker", "open 1/1"},
			{"10", "breaker", "closed"},
			{"7", "breaker", "no traffic"},
			{"11", "balance", "99.50 USD"},
			{"7", "balance", "—"},
			{"7", "status", "enabled"},
			{"7", "models", "claude-3"},
			{"7", "type", "openai"},
		} {
			if got := cell(c.id, c.cell); got != c.want {
				t.Errorf("channel %s %s: %q, want %q", c.id, c.cell, got, c.want)
			}
		}
		f := e.stats.got[len(e.stats.got)-1]
		if f.To.Sub(f.From) != time.Hour || f.ChannelID != 0 {
			t.Errorf("stats read over %v", f)
		}
		sorted := d.Find(`th[aria-sort="descending"] a`)
		if sorted.Length() != 1 || sorted.AttrOr("data-testid", "") != "sort-errors" || !strings.Contains(sorted.AttrOr("href", ""), "sort=errors") ||
			strings.Contains(sorted.AttrOr("href", ""), "dir=desc") {
			t.Errorf("sorted header %v: want errors, its link ascending", sorted.Nodes)
		}
	})
}

func TestListModelsTruncated(t *testing.T) {
	e := newEnv(t)
	e.create(&aiproxy.Channel{Name: "many", Models: []string{"a", "b", "c", "d", "e"}, Enabled: true})
	d := doc(t, e.get("/admin/channels", false), http.StatusOK)
	if got := strings.TrimSpace(d.Find(`[data-testid="models-more"]`).Text()); got != "+2 more (5)" {
		t.Errorf("models more %q", got)
	}
}

func TestListStatsUnavailable(t *testing.T) {
	e := newEnv(t)
	e.seed(1)
	e.stats.err = aiproxy.Errorf(aiproxy.EINTERNAL, "summaries unavailable")
	d := doc(t, e.get("/admin/channels", false), http.StatusOK)
	if d.Find(`[data-testid="stats-error"]`).Length() != 1 || len(ids(d)) != 1 {
		t.Error("a failing stats read should show the list and a warning")
	}
}

func TestFragmentOrPage(t *testing.T) {
	e := newEnv(t)
	e.seed(3)
	for _, tc := range []struct {
		name    string
		headers map[string]string
		full    bool
	}{
		{"plain", nil, true},
		{"htmx", map[string]string{"HX-Request": "true"}, false},
		{"htmx history restore", map[string]string{"HX-Request": "true", "HX-History-Restore-Request": "true"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/admin/channels", nil)
			req.AddCookie(e.cookie)
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			e.handler.ServeHTTP(rec, req)
			body := rec.Body.String()
			d := doc(t, rec, http.StatusOK)
			if got := strings.Contains(body, "<html"); got != tc.full {
				t.Errorf("whole page %v, want %v", got, tc.full)
			}
			if len(ids(d)) != 3 || d.Find(`#main [data-testid="channel-results"]`).Length() != 1 {
				t.Errorf("no results in #main:\n%s", body)
			}
		})
	}
}

func TestAccess(t *testing.T) {
	e := newEnv(t)
	c := e.create(&aiproxy.Channel{Name: "one", Models: []string{"gpt-4o"}, Enabled: true})
	ctx := context.Background()
	if err := e.store.CreateGroup(ctx, &aiproxy.Group{ID: "acme", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	key, err := e.store.CreateToken(ctx, &aiproxy.Token{GroupID: "acme", Name: "ci", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	groupCookie, groupCSRF := e.signIn(key)
	disable := "/admin/channels/" + strconv.FormatInt(c.ID, 10) + "/disable"

	for _, tc := range []struct {
		name   string
		method string
		path   string
		cookie *http.Cookie
		csrf   string // "" sends none
		want   int
	}{
		{"group session list", http.MethodGet, "/admin/channels", groupCookie, "", http.StatusForbidden},
		{"group session new", http.MethodGet, "/admin/channels/new", groupCookie, "", http.StatusForbidden},
		{"group session post", http.MethodPost, disable, groupCookie, groupCSRF, http.StatusForbidden},
		{"signed out", http.MethodGet, "/admin/channels", nil, "", http.StatusSeeOther},
		{"admin without csrf", http.MethodPost, disable, e.cookie, "", http.StatusForbidden},
		{"admin with a wrong csrf", http.MethodPost, disable, e.cookie, groupCSRF, http.StatusForbidden},
		{"admin with csrf", http.MethodPost, disable, e.cookie, e.csrf, http.StatusSeeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{}
			if tc.csrf != "" {
				form.Set("csrf", tc.csrf)
			}
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.cookie != nil {
				req.AddCookie(tc.cookie)
			}
			rec := httptest.NewRecorder()
			e.handler.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.want, rec.Body.String())
			}
		})
	}
	if e.channel(c.ID).Enabled {
		t.Error("the one accepted disable did not disable")
	}
}

// validForm is a create form that succeeds; tests change one value.
func validForm() url.Values {
	return url.Values{
		"name": {"new one"}, "type": {"openai"}, "key": {"sk-typed-secret-value"}, "models": {"gpt-4o, gpt-4o-mini\no3"},
		"modelMapping": {"gpt-4o=gpt-4o-2024-08-06"}, "priority": {"3"}, "weight": {"7"}, "sets": {"default, eu"},
		"proxyURL": {""}, "headers": {"X-Org: acme"}, "breakerThreshold": {"0.4"}, "lowBalanceThreshold": {"5"},
		"enabled": {"1"}, "config.maxOutputTokens": {"16384"},
	}
}

func TestCreate(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name  string
		set   map[string]string
		field string // the field the error is beside; "" for success
	}{
		{"no name", map[string]string{"name": " "}, "name"},
		{"priority not a number", map[string]string{"priority": "high"}, "priority"},
		{"bad base URL", map[string]string{"baseURL": "ftp://example.com"}, "baseURL"},
		{"no models", map[string]string{"models": " , "}, "models"},
		{"bad mapping", map[string]string{"modelMapping": "gpt-4o"}, "modelMapping"},
		{"bad proxy", map[string]string{"proxyURL": "ftp://proxy"}, "proxyURL"},
		{"breaker over 1", map[string]string{"breakerThreshold": "2"}, "breakerThreshold"},
		{"reserved header", map[string]string{"headers": "Host: x"}, "headers"},
		{"config not an integer", map[string]string{"config.maxOutputTokens": "lots"}, "config.maxOutputTokens"},
		{"config refused by the provider", map[string]string{"config.maxOutputTokens": "-3"}, "config.maxOutputTokens"},
		{"anthropic config", map[string]string{"type": "anthropic", "config.thinking": "sometimes"}, "config.thinking"},
		{"unknown type", map[string]string{"type": "nope"}, "type"},
		{"ok", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := validForm()
			for k, v := range tc.set {
				form.Set(k, v)
			}
			rec := e.post("/admin/channels", form, false)
			if tc.field == "" {
				if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/admin/channels" {
					t.Fatalf("status %d location %q: %s", rec.Code, rec.Header().Get("Location"), rec.Body.String())
				}
				chs, _ := e.store.Channels(context.Background())
				c := chs[len(chs)-1]
				if c.Name != "new one" || c.Key != "sk-typed-secret-value" || !slices.Equal(c.Models, []string{"gpt-4o", "gpt-4o-mini", "o3"}) ||
					c.Priority != 3 || c.Weight != 7 || !slices.Equal(c.Sets, []string{"default", "eu"}) || c.BreakerThreshold != 0.4 ||
					c.LowBalance != 5 || !c.Enabled || string(c.Config) != `{"maxOutputTokens":16384}` ||
					len(c.ModelMapping) != 1 || c.ModelMapping[0] != (aiproxy.ModelMapping{From: "gpt-4o", To: "gpt-4o-2024-08-06"}) ||
					len(c.Headers) != 1 || c.Headers[0] != (aiproxy.Header{Name: "X-Org", Value: "acme"}) {
					t.Errorf("stored %+v", c)
				}
				return
			}
			d := doc(t, rec, http.StatusUnprocessableEntity)
			errEl := d.Find(`[data-testid="error-` + tc.field + `"]`)
			if errEl.Length() != 1 {
				t.Fatalf("no error beside %s:\n%s", tc.field, rec.Body.String())
			}
			if n := d.Find(`.field-error`).Length(); n != 1 {
				t.Errorf("%d errors shown, want 1", n)
			}
			input := d.Find(`[name="` + tc.field + `"]`)
			if input.AttrOr("aria-invalid", "") != "true" || !slices.Contains(strings.Fields(input.AttrOr("aria-describedby", "")), errEl.AttrOr("id", "-")) {
				t.Errorf("input %s: aria-invalid %q, aria-describedby %q, error id %q", tc.field,
					input.AttrOr("aria-invalid", ""), input.AttrOr("aria-describedby", ""), errEl.AttrOr("id", ""))
			}
			if got := d.Find(`label[for="` + input.AttrOr("id", "-") + `"]`).Length(); got != 1 {
				t.Errorf("input %s has %d labels", tc.field, got)
			}
			// What was typed is kept, the key excepted.
			kept := formValues(d.Find(`[data-testid="channel-form"]`))
			for _, k := range []string{"name", "models", "priority", "modelMapping"} {
				if kept.Get(k) != form.Get(k) {
					t.Errorf("%s: kept %q, typed %q", k, kept.Get(k), form.Get(k))
				}
			}
			if strings.Contains(rec.Body.String(), "sk-typed-secret-value") || kept.Get("key") != "" {
				t.Error("the key typed was sent back")
			}
		})
	}
}

func TestCreateHTMX(t *testing.T) {
	e := newEnv(t)
	rec := e.post("/admin/channels", validForm(), true)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("HX-Location"), `"path":"/admin/channels"`) {
		t.Fatalf("status %d HX-Location %q", rec.Code, rec.Header().Get("HX-Location"))
	}
	f := validForm()
	f.Set("models", "")
	rec = e.post("/admin/channels", f, true)
	d := doc(t, rec, http.StatusUnprocessableEntity)
	if strings.Contains(rec.Body.String(), "<html") || d.Find(`#main [data-testid="error-models"]`).Length() != 1 {
		t.Errorf("not the form's fragment with its error:\n%s", rec.Body.String())
	}
}

func TestCreateFormTypes(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		do   func() *httptest.ResponseRecorder
		want []string // the config inputs
	}{
		{"new form of the first type", func() *httptest.ResponseRecorder { return e.get("/admin/channels/new", false) }, []string{"config.version", "config.beta", "config.maxTokens", "config.thinking"}},
		{"new form of a type", func() *httptest.ResponseRecorder { return e.get("/admin/channels/new?type=gemini", false) }, []string{"config.apiVersion", "config.maxOutputTokens"}},
		{"fields fragment", func() *httptest.ResponseRecorder { return e.get("/admin/channels/fields?type=openai", true) }, []string{"config.maxOutputTokens"}},
		{"refresh without JavaScript", func() *httptest.ResponseRecorder {
			f := validForm()
			f.Set("type", "gemini")
			f.Set("refresh", "1")
			return e.post("/admin/channels", f, false)
		}, []string{"config.apiVersion", "config.maxOutputTokens"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := doc(t, tc.do(), http.StatusOK)
			var got []string
			d.Find(`[data-testid="type-fields"] [name]`).Each(func(_ int, s *goquery.Selection) { got = append(got, s.AttrOr("name", "")) })
			if !slices.Equal(got, tc.want) {
				t.Errorf("config inputs %v, want %v", got, tc.want)
			}
			d.Find(`[data-testid="type-fields"] [name]`).Each(func(_ int, s *goquery.Selection) {
				if d.Find(`label[for="`+s.AttrOr("id", "-")+`"]`).Length() != 1 {
					t.Errorf("input %s has no label", s.AttrOr("name", ""))
				}
			})
		})
	}
	chs, _ := e.store.Channels(context.Background())
	if len(chs) != 0 {
		t.Errorf("refreshing the fields created %d channels", len(chs))
	}
	d := doc(t, e.get("/admin/channels/new", false), http.StatusOK)
	sel := d.Find(`select[name="type"]`)
	if sel.AttrOr("hx-get", "") != "/admin/channels/fields" || sel.AttrOr("hx-target", "") != "#channel-type-fields" {
		t.Errorf("type select does not reload the fields: %v", sel.Nodes[0].Attr)
	}
	// The parser reads <noscript> as text, as a browser running scripts does.
	if !strings.Contains(d.Find(`noscript`).Text(), `data-testid="refresh-fields"`) {
		t.Error("no refresh button without JavaScript")
	}
}

func TestEdit(t *testing.T) {
	const secret = "sk-stored-secret-1234567890"
	for _, tc := range []struct {
		name    string
		set     map[string]string
		wantKey string
	}{
		{"key left empty is kept", map[string]string{"name": "renamed"}, secret},
		{"new key", map[string]string{"name": "renamed", "key": "sk-new-key-0987654321"}, "sk-new-key-0987654321"},
		{"key removed", map[string]string{"name": "renamed", "clearKey": "1"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			c := e.create(&aiproxy.Channel{Name: "old", Key: secret, Models: []string{"gpt-4o"}, Enabled: true,
				ProxyURL: "http://user:proxy-password@proxy:3128", Headers: []aiproxy.Header{{Name: "X-Secret", Value: "header-secret-value"}},
				Config: []byte(`{"maxOutputTokens":100}`)})
			path := "/admin/channels/" + strconv.FormatInt(c.ID, 10)
			rec := e.get(path+"/edit", false)
			for _, s := range []string{secret, "proxy-password", "header-secret-value"} {
				if strings.Contains(rec.Body.String(), s) {
					t.Errorf("the edit form shows the secret %q", s)
				}
			}
			d := doc(t, rec, http.StatusOK)
			if !strings.Contains(d.Find("#channel-key-hint").Text(), "leave empty to keep") {
				t.Errorf("key hint %q", d.Find("#channel-key-hint").Text())
			}
			form := d.Find(`[data-testid="channel-form"]`)
			if form.AttrOr("action", "") != path {
				t.Errorf("form action %q", form.AttrOr("action", ""))
			}
			v := formValues(form)
			if v.Get("config.maxOutputTokens") != "100" {
				t.Errorf("config shown %q", v.Get("config.maxOutputTokens"))
			}
			for k, val := range tc.set {
				v.Set(k, val)
			}
			rec = e.do(http.MethodPost, path, v, false)
			if rec.Code != http.StatusSeeOther {
				t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
			}
			got := e.channel(c.ID)
			if got.Name != "renamed" || got.Key != tc.wantKey || got.ProxyURL != c.ProxyURL ||
				len(got.Headers) != 1 || got.Headers[0].Value != "header-secret-value" || string(got.Config) != `{"maxOutputTokens":100}` {
				t.Errorf("stored %+v", got)
			}
		})
	}

	t.Run("validation error", func(t *testing.T) {
		e := newEnv(t)
		c := e.create(&aiproxy.Channel{Name: "old", Models: []string{"gpt-4o"}, Enabled: true})
		path := "/admin/channels/" + strconv.FormatInt(c.ID, 10)
		v := formValues(doc(t, e.get(path+"/edit", false), http.StatusOK).Find(`[data-testid="channel-form"]`))
		v.Set("weight", "-1")
		d := doc(t, e.do(http.MethodPost, path, v, true), http.StatusUnprocessableEntity)
		if d.Find(`[data-testid="error-weight"]`).Length() != 1 || d.Find(`[name="weight"]`).AttrOr("value", "") != "-1" {
			t.Error("no weight error beside the value typed")
		}
		if got := e.channel(c.ID); got.Weight != 0 {
			t.Errorf("weight stored %d", got.Weight)
		}
	})

	t.Run("not found", func(t *testing.T) {
		e := newEnv(t)
		for _, p := range []string{"/admin/channels/999/edit", "/admin/channels/abc/edit"} {
			if rec := e.get(p, false); rec.Code != http.StatusNotFound {
				t.Errorf("%s: status %d", p, rec.Code)
			}
		}
	})
}

func TestEnableDisable(t *testing.T) {
	e := newEnv(t)
	c := e.create(&aiproxy.Channel{Name: "one", Models: []string{"gpt-4o"}, Enabled: true})
	path := "/admin/channels/" + strconv.FormatInt(c.ID, 10)
	for _, tc := range []struct {
		action  string
		htmx    bool
		enabled bool
	}{
		{"disable", false, false},
		{"enable", false, true},
		{"disable", true, false},
		{"enable", true, true},
	} {
		t.Run(fmt.Sprintf("%s htmx=%v", tc.action, tc.htmx), func(t *testing.T) {
			rec := e.post(path+"/"+tc.action, url.Values{"back": {"q=one&sort=name&page=2&evil=https://x"}}, tc.htmx)
			if e.channel(c.ID).Enabled != tc.enabled {
				t.Fatalf("enabled %v, want %v", !tc.enabled, tc.enabled)
			}
			if !tc.htmx {
				if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/admin/channels?page=2&q=one&sort=name" {
					t.Fatalf("status %d location %q", rec.Code, rec.Header().Get("Location"))
				}
				return
			}
			d := doc(t, rec, http.StatusOK)
			if strings.Contains(rec.Body.String(), "<html") || ids(d)[0] != strconv.FormatInt(c.ID, 10) {
				t.Fatalf("not the row:\n%s", rec.Body.String())
			}
			want := map[bool]string{true: "status-enabled", false: "status-disabled"}[tc.enabled]
			if d.Find(`[data-testid="`+want+`"]`).Length() != 1 {
				t.Errorf("row without %s", want)
			}
		})
	}
}

func TestResetHealth(t *testing.T) {
	e := newEnv(t)
	c := e.create(&aiproxy.Channel{Name: "one", Models: []string{"gpt-4o"}, Enabled: true})
	e.health.entries = []aiproxy.ChannelHealth{{ChannelID: c.ID, Model: "gpt-4o", State: aiproxy.HealthState{Breaker: aiproxy.BreakerOpen}}}
	d := doc(t, e.post("/admin/channels/"+strconv.FormatInt(c.ID, 10)+"/reset", nil, true), http.StatusOK)
	if !slices.Equal(e.health.resets, []int64{c.ID}) {
		t.Errorf("resets %v", e.health.resets)
	}
	if got := strings.TrimSpace(d.Find(`[data-testid="cell-breaker"]`).Text()); got != "no traffic" {
		t.Errorf("breaker after reset %q", got)
	}
	if rec := e.post("/admin/channels/999/reset", nil, false); rec.Code != http.StatusNotFound {
		t.Errorf("reset of no channel: %d", rec.Code)
	}
}

func TestDelete(t *testing.T) {
	e := newEnv(t)
	a := e.create(&aiproxy.Channel{Name: "a", Models: []string{"gpt-4o"}})
	b := e.create(&aiproxy.Channel{Name: "b", Models: []string{"gpt-4o"}})
	d := doc(t, e.get("/admin/channels", false), http.StatusOK)
	form := d.Find(`#channel-` + strconv.FormatInt(a.ID, 10) + ` [data-testid="delete-form"]`)
	if form.AttrOr("data-confirm", "") == "" || form.AttrOr("method", "") != "post" {
		t.Errorf("delete form without confirmation: %v", form.Nodes)
	}
	if rec := e.post(form.AttrOr("action", ""), nil, false); rec.Code != http.StatusSeeOther {
		t.Fatalf("plain delete: %d", rec.Code)
	}
	rec := e.post("/admin/channels/"+strconv.FormatInt(b.ID, 10)+"/delete", nil, true)
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != "" {
		t.Fatalf("htmx delete: %d %q", rec.Code, rec.Body.String())
	}
	if chs, _ := e.store.Channels(context.Background()); len(chs) != 0 {
		t.Errorf("left %d channels", len(chs))
	}
	if rec := e.post("/admin/channels/"+strconv.FormatInt(b.ID, 10)+"/delete", nil, false); rec.Code != http.StatusNotFound {
		t.Errorf("second delete: %d", rec.Code)
	}
}

func TestBatch(t *testing.T) {
	// c0 and c1 start enabled, c2 and c3 disabled.
	for _, tc := range []struct {
		action  string
		checked []int // the indexes of the channels checked
		htmx    bool
		enabled []bool // of the channels left
	}{
		{"disable", []int{0, 1}, false, []bool{false, false, false, false}},
		{"enable", []int{2, 3}, true, []bool{true, true, true, true}},
		{"enable", nil, false, []bool{true, true, false, false}},
		{"delete", []int{0, 1}, false, []bool{false, false}},
		{"delete", []int{1, 2}, true, []bool{true, false}},
	} {
		t.Run(fmt.Sprintf("%s %v htmx=%v", tc.action, tc.checked, tc.htmx), func(t *testing.T) {
			e := newEnv(t)
			var chs []*aiproxy.Channel
			for i := range 4 {
				chs = append(chs, e.create(&aiproxy.Channel{Name: fmt.Sprintf("c%d", i), Models: []string{"m"}, Enabled: i < 2}))
			}
			d := doc(t, e.get("/admin/channels", false), http.StatusOK)
			if n := d.Find(`input[type="checkbox"][name="id"][form="channel-batch"]`).Length(); n != 4 {
				t.Fatalf("%d row checkboxes in the batch form", n)
			}
			if d.Find(`[data-testid="batch-delete"]`).AttrOr("data-confirm", "") == "" {
				t.Error("batch delete without confirmation")
			}
			form := url.Values{"action": {tc.action}, "back": {"sort=name"}, "id": {"999"}} // 999: deleted meanwhile
			for _, i := range tc.checked {
				form.Add("id", strconv.FormatInt(chs[i].ID, 10))
			}
			rec := e.post("/admin/channels/batch", form, tc.htmx)
			if tc.htmx {
				d := doc(t, rec, http.StatusOK)
				if len(ids(d)) != len(tc.enabled) || d.Find(`#channel-results`).Length() != 1 || strings.Contains(rec.Body.String(), "<html") {
					t.Fatalf("not the results:\n%s", rec.Body.String())
				}
			} else if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/admin/channels?sort=name" {
				t.Fatalf("status %d location %q", rec.Code, rec.Header().Get("Location"))
			}
			left, _ := e.store.Channels(context.Background())
			if len(left) != len(tc.enabled) {
				t.Fatalf("%d channels left, want %d", len(left), len(tc.enabled))
			}
			for i, c := range left {
				if c.Enabled != tc.enabled[i] {
					t.Errorf("channel %s enabled %v, want %v", c.Name, c.Enabled, tc.enabled[i])
				}
			}
		})
	}
	t.Run("bad action", func(t *testing.T) {
		e := newEnv(t)
		if rec := e.post("/admin/channels/batch", url.Values{"action": {"explode"}}, false); rec.Code != http.StatusBadRequest {
			t.Errorf("status %d", rec.Code)
		}
	})
}

func TestTestModel(t *testing.T) {
	e := newEnv(t)
	c := e.create(&aiproxy.Channel{Name: "one", Models: []string{"gpt-4o", "broken"}, Enabled: true})
	path := "/admin/channels/" + strconv.FormatInt(c.ID, 10) + "/test"
	for _, tc := range []struct {
		model  string
		htmx   bool
		status int
		show   string // the data-testid shown
		text   string
	}{
		{"gpt-4o", true, http.StatusOK, "test-ok", "42 ms"},
		{"broken", true, http.StatusOK, "test-failed", "Incorrect API key provided."},
		{"unknown", true, http.StatusBadRequest, "test-error", "does not serve the model `unknown`"},
		{"gpt-4o", false, http.StatusOK, "test-ok", "OK."},
	} {
		t.Run(fmt.Sprintf("%s htmx=%v", tc.model, tc.htmx), func(t *testing.T) {
			rec := e.post(path, url.Values{"model": {tc.model}}, tc.htmx)
			d := doc(t, rec, tc.status)
			shown := d.Find(`[data-testid="` + tc.show + `"]`)
			if shown.Length() != 1 || !strings.Contains(shown.Text(), tc.text) {
				t.Fatalf("want %s with %q:\n%s", tc.show, tc.text, rec.Body.String())
			}
			if full := strings.Contains(rec.Body.String(), "<html"); full == tc.htmx {
				t.Errorf("whole page %v for htmx %v", full, tc.htmx)
			}
		})
	}
	d := doc(t, e.get("/admin/channels", false), http.StatusOK)
	form := d.Find(`[data-testid="test-form"]`)
	if form.AttrOr("hx-target", "") != "#test-result-"+strconv.FormatInt(c.ID, 10) || d.Find(form.AttrOr("hx-target", "")).Length() != 1 ||
		d.Find(`[data-testid="test-model"]`).AttrOr("value", "") != "gpt-4o" {
		t.Errorf("test form %v", form.Nodes[0].Attr)
	}
}

// TestForms checks what every form and input of the pages needs: a CSRF
// field on every POST form, a label on every visible input, text on
// every button.
func TestForms(t *testing.T) {
	e := newEnv(t)
	c := e.create(&aiproxy.Channel{Name: "one", Models: []string{"gpt-4o"}, Enabled: true})
	for _, path := range []string{"/admin/channels", "/admin/channels/new", "/admin/channels/" + strconv.FormatInt(c.ID, 10) + "/edit"} {
		t.Run(path, func(t *testing.T) {
			d := doc(t, e.get(path, false), http.StatusOK)
			d.Find(`#main form[method="post"]`).Each(func(_ int, f *goquery.Selection) {
				if f.Find(`input[name="csrf"]`).AttrOr("value", "") != e.csrf {
					t.Errorf("form %s without the CSRF token", f.AttrOr("action", ""))
				}
			})
			d.Find(`#main input:not([type="hidden"]), #main select, #main textarea`).Each(func(_ int, in *goquery.Selection) {
				_, aria := in.Attr("aria-label")
				labelled := aria || in.ParentsFiltered("label").Length() > 0 || d.Find(`label[for="`+in.AttrOr("id", "-")+`"]`).Length() > 0
				if !labelled {
					t.Errorf("input %s has no label", in.AttrOr("name", ""))
				}
			})
			d.Find(`#main button`).Each(func(_ int, b *goquery.Selection) {
				if strings.TrimSpace(b.Text()) == "" {
					t.Errorf("button %v has no text", b.Nodes[0].Attr)
				}
			})
		})
	}
}

func TestEditTools(t *testing.T) {
	e := newEnv(t)
	c := e.create(&aiproxy.Channel{Name: "one", Models: []string{"gpt-4o", "o3"}, Enabled: true})
	other := e.create(&aiproxy.Channel{Name: "two", Models: []string{"gpt-4o"}, Enabled: true})
	e.health.entries = []aiproxy.ChannelHealth{
		{ChannelID: c.ID, Model: "o3", State: aiproxy.HealthState{Breaker: aiproxy.BreakerOpen, ErrorRate: 1}, Requests: 5, Failures: 5, LastError: "HTTP 401", OpenReason: "401 from the provider"},
		{ChannelID: c.ID, Model: "gpt-4o", State: aiproxy.HealthState{ErrorRate: 0.25}, Requests: 4, Failures: 1},
		{ChannelID: other.ID, Model: "gpt-4o"},
	}
	path := "/admin/channels/" + strconv.FormatInt(c.ID, 10)
	d := doc(t, e.get(path+"/edit", false), http.StatusOK)
	var health []string
	d.Find(`[data-testid="health-row"]`).Each(func(_ int, s *goquery.Selection) {
		cells := s.Find("td").Map(func(_ int, c *goquery.Selection) string { return strings.Join(strings.Fields(c.Text()), " ") })
		health = append(health, strings.Join(cells, "|"))
	})
	want := []string{"gpt-4o|closed|25.0%|4|1|", "o3|open 401 from the provider|100.0%|5|5|HTTP 401"}
	if !slices.Equal(health, want) {
		t.Errorf("health rows %q, want %q", health, want)
	}
	var models []string
	d.Find(`[data-testid="edit-test-model"] option`).Each(func(_ int, s *goquery.Selection) { models = append(models, s.AttrOr("value", "")) })
	if !slices.Equal(models, c.Models) {
		t.Errorf("test models %v", models)
	}
	form := d.Find(`[data-testid="edit-test-form"]`)
	v := formValues(form)
	v.Set("model", "o3")
	res := doc(t, e.do(http.MethodPost, form.AttrOr("hx-post", ""), v, true), http.StatusOK)
	if res.Find(`[data-testid="test-ok"]`).Length() != 1 || d.Find(form.AttrOr("hx-target", "")).Length() != 1 {
		t.Error("the edit page's test does not show its result")
	}
	reset := d.Find(`[data-testid="edit-reset-form"]`)
	if rec := e.do(http.MethodPost, reset.AttrOr("action", ""), formValues(reset), false); rec.Code != http.StatusSeeOther {
		t.Fatalf("reset: %d", rec.Code)
	}
	if !slices.Equal(e.health.resets, []int64{c.ID}) {
		t.Errorf("resets %v", e.health.resets)
	}
}
