package groups_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/go-chi/chi/v5"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/views/groups"
	"github.com/aiproxy/aiproxy/views/web"
	"github.com/aiproxy/aiproxy/views/web/webtest"
)

// env is the area mounted as cmd/aiproxy mounts it, behind the session
// and CSRF middleware, with a signed-in admin and a group session of
// group "acme".
type env struct {
	svc     *services
	handler http.Handler
	admin   client
	group   client // a session of group "acme"
}

// client is a signed-in browser: its cookie and CSRF token.
type client struct {
	cookie *http.Cookie
	csrf   string
}

var now = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

func newEnv(tb testing.TB) *env {
	tb.Helper()
	svc := newServices()
	svc.addGroup(aiproxy.Group{ID: "acme", Description: "Acme Corp", Enabled: true, RPMRatio: 2, MaxConcurrency: 8,
		Prepaid: true, Credit: 50 * aiproxy.AmountUnit, UsedAmount: 20 * aiproxy.AmountUnit, LowBalance: 5 * aiproxy.AmountUnit})
	svc.addGroup(aiproxy.Group{ID: "other", Enabled: true})

	keys := webtest.NewTokens()
	auth := webtest.NewAuth(keys)
	_, groupKey := keys.Add(&aiproxy.Group{ID: "acme", Enabled: true}, "viewer")

	r := chi.NewRouter()
	r.Use(auth.Session, auth.CSRF)
	groups.Mount(r, groups.Deps{Groups: svc, Tokens: svc, Billing: svc, Now: func() time.Time { return now }})

	e := &env{svc: svc, handler: r}
	c, s := webtest.SignIn(tb, auth, webtest.AdminKey)
	e.admin = client{cookie: c, csrf: s.CSRF}
	c, s = webtest.SignIn(tb, auth, groupKey)
	e.group = client{cookie: c, csrf: s.CSRF}
	return e
}

// do sends a request as c (zero: signed out); a form body when form is
// not nil, with c's CSRF token added unless form has a "csrf" already.
func (e *env) do(tb testing.TB, c client, method, path string, form url.Values, htmx bool) *httptest.ResponseRecorder {
	tb.Helper()
	var r *http.Request
	if form != nil {
		if _, ok := form["csrf"]; !ok && c.csrf != "" {
			form = cloneValues(form)
			form.Set("csrf", c.csrf)
		}
		r = httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		r = httptest.NewRequest(method, path, nil)
	}
	if c.cookie != nil {
		r.AddCookie(c.cookie)
	}
	if htmx {
		r.Header.Set("HX-Request", "true")
	}
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, r)
	return w
}

func (e *env) get(tb testing.TB, c client, path string) *httptest.ResponseRecorder {
	tb.Helper()
	return e.do(tb, c, http.MethodGet, path, nil, false)
}

func (e *env) post(tb testing.TB, c client, path string, form url.Values) *httptest.ResponseRecorder {
	tb.Helper()
	if form == nil {
		form = url.Values{}
	}
	return e.do(tb, c, http.MethodPost, path, form, false)
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// page parses an HTML answer, failing tb on another status.
func page(tb testing.TB, w *httptest.ResponseRecorder, status int) *goquery.Document {
	tb.Helper()
	if w.Code != status {
		tb.Fatalf("status %d, want %d; body:\n%s", w.Code, status, w.Body.String())
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(w.Body.String()))
	if err != nil {
		tb.Fatal(err)
	}
	return doc
}

// testid returns the elements of data-testid id.
func testid(doc *goquery.Document, id string) *goquery.Selection {
	return doc.Find(`[data-testid="` + id + `"]`)
}

func TestGroupsList(t *testing.T) {
	e := newEnv(t)
	for i := range 120 {
		e.svc.addGroup(aiproxy.Group{ID: fmt.Sprintf("g%03d", i), Enabled: i%2 == 0})
	}
	e.svc.addToken(aiproxy.Token{GroupID: "acme", Name: "a", Enabled: true})
	e.svc.addToken(aiproxy.Token{GroupID: "acme", Name: "b", Enabled: true})
	e.svc.addToken(aiproxy.Token{GroupID: "g001", Name: "c", Enabled: true})

	tests := []struct {
		name      string
		query     string
		wantRows  int
		wantFirst string
		wantPager string // the pager's "Page N of M", "" for none
		wantCount string
	}{
		{"first page", "", 50, "acme", "Page 1 of 3", "122 groups"},
		{"last page", "page=3", 22, "g099", "Page 3 of 3", "122 groups"},
		{"page past the end", "page=9", 22, "g099", "Page 3 of 3", "122 groups"},
		{"search by id", "q=g11", 10, "g110", "", "10 groups"},
		{"search by description, any case", "q=CORP", 1, "acme", "", "1 group"},
		{"search finding nothing", "q=nothing", 0, "", "", "0 groups"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := page(t, e.get(t, e.admin, "/admin/groups?"+tt.query), http.StatusOK)
			rows := testid(doc, "group-row")
			if rows.Length() != tt.wantRows {
				t.Fatalf("%d rows, want %d", rows.Length(), tt.wantRows)
			}
			if got, _ := rows.First().Attr("data-id"); got != tt.wantFirst {
				t.Errorf("first row %q, want %q", got, tt.wantFirst)
			}
			if got := strings.TrimSpace(testid(doc, "groups-pages-current").Text()); got != tt.wantPager {
				t.Errorf("pager %q, want %q", got, tt.wantPager)
			}
			if got := strings.Join(strings.Fields(testid(doc, "groups-count").Text()), " "); !strings.HasPrefix(got, tt.wantCount) {
				t.Errorf("count %q, want %q", got, tt.wantCount)
			}
		})
	}

	t.Run("row columns", func(t *testing.T) {
		doc := page(t, e.get(t, e.admin, "/admin/groups?q=acme"), http.StatusOK)
		row := doc.Find(`[data-testid="group-row"][data-id="acme"]`)
		for id, want := range map[string]string{"group-tokens": "2", "group-balance": "30.00", "group-used": "20.00", "group-status": "enabled"} {
			if got := strings.TrimSpace(row.Find(`[data-testid="` + id + `"]`).Text()); got != want {
				t.Errorf("%s = %q, want %q", id, got, want)
			}
		}
	})

	t.Run("htmx search answers the fragment", func(t *testing.T) {
		w := e.do(t, e.admin, http.MethodGet, "/admin/groups?q=acme", nil, true)
		doc := page(t, w, http.StatusOK)
		if doc.Find("html head link").Length() != 0 || testid(doc, "groups-results").Length() != 1 {
			t.Errorf("want the fragment with the results, got:\n%s", w.Body.String())
		}
	})
}

func TestCreateGroup(t *testing.T) {
	tests := []struct {
		name       string
		form       url.Values
		wantStatus int
		wantField  string // the field with an error beside it; "" for success
	}{
		{"valid", url.Values{"id": {"newco"}, "enabled": {"on"}, "rpmRatio": {"1.5"}, "maxConcurrency": {"4"}, "prepaid": {"on"}, "lowBalanceThreshold": {"2.5"}}, http.StatusSeeOther, ""},
		{"bad id", url.Values{"id": {"bad id!"}}, http.StatusUnprocessableEntity, "id"},
		{"negative ratio", url.Values{"id": {"newco"}, "rpmRatio": {"-1"}}, http.StatusUnprocessableEntity, "rpmRatio"},
		{"ratio not a number", url.Values{"id": {"newco"}, "tpmRatio": {"lots"}}, http.StatusUnprocessableEntity, "tpmRatio"},
		{"concurrency not whole", url.Values{"id": {"newco"}, "maxConcurrency": {"1.5"}}, http.StatusUnprocessableEntity, "maxConcurrency"},
		{"taken id", url.Values{"id": {"acme"}}, http.StatusConflict, "id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			w := e.post(t, e.admin, "/admin/groups", tt.form)
			if tt.wantField == "" {
				if w.Code != tt.wantStatus || w.Header().Get("Location") != "/admin/groups/newco" {
					t.Fatalf("status %d Location %q, want %d to /admin/groups/newco", w.Code, w.Header().Get("Location"), tt.wantStatus)
				}
				g, err := e.svc.Group(t.Context(), "newco")
				if err != nil {
					t.Fatal(err)
				}
				if !g.Enabled || g.RPMRatio != 1.5 || g.MaxConcurrency != 4 || !g.Prepaid || g.LowBalance != 2_500_000_000 {
					t.Errorf("stored %+v", g)
				}
				return
			}
			doc := page(t, w, tt.wantStatus)
			field := testid(doc, "field-"+tt.wantField)
			if field.Find(`[data-testid="error-`+tt.wantField+`"]`).Length() != 1 {
				t.Errorf("no error beside %s:\n%s", tt.wantField, w.Body.String())
			}
			if got, _ := field.Find("input").Attr("aria-invalid"); got != "true" {
				t.Errorf("aria-invalid = %q, want true", got)
			}
			if got, _ := testid(doc, "input-id").Attr("value"); got != tt.form.Get("id") {
				t.Errorf("id typed %q shown as %q", tt.form.Get("id"), got)
			}
			if _, err := e.svc.Group(t.Context(), "newco"); err == nil && tt.form.Get("id") == "newco" {
				t.Error("a refused group was stored")
			}
		})
	}

	t.Run("htmx", func(t *testing.T) {
		e := newEnv(t)
		w := e.do(t, e.admin, http.MethodPost, "/admin/groups", url.Values{"id": {"newco"}}, true)
		if w.Code != http.StatusOK || !strings.Contains(w.Header().Get("HX-Location"), "/admin/groups/newco") {
			t.Errorf("status %d HX-Location %q", w.Code, w.Header().Get("HX-Location"))
		}
	})
}

func TestEditGroup(t *testing.T) {
	e := newEnv(t)
	doc := page(t, e.get(t, e.admin, "/admin/groups/acme/edit"), http.StatusOK)
	if got, _ := testid(doc, "input-maxConcurrency").Attr("value"); got != "8" {
		t.Errorf("concurrency shown %q, want 8", got)
	}
	form := url.Values{"description": {"Acme Inc"}, "maxConcurrency": {"3"}, "prepaid": {"on"}}
	if w := e.post(t, e.admin, "/admin/groups/acme", form); w.Code != http.StatusSeeOther {
		t.Fatalf("status %d", w.Code)
	}
	g, _ := e.svc.Group(t.Context(), "acme")
	if g.Description != "Acme Inc" || g.MaxConcurrency != 3 || g.RPMRatio != 0 || !g.Enabled {
		t.Errorf("stored %+v", g)
	}

	if w := e.post(t, e.admin, "/admin/groups/acme/disable", nil); w.Code != http.StatusSeeOther {
		t.Fatalf("disable: status %d", w.Code)
	}
	doc = page(t, e.get(t, e.admin, "/admin/groups/acme"), http.StatusOK)
	if got := testid(doc, "group-status").First().Text(); got != "disabled" {
		t.Errorf("status %q after disabling", got)
	}
	if testid(doc, "enable-group").Length() != 1 {
		t.Error("no enable button on a disabled group")
	}
	if w := e.post(t, e.admin, "/admin/groups/nope", form); w.Code != http.StatusNotFound {
		t.Errorf("editing a missing group: status %d, want 404", w.Code)
	}
}

func TestGroupPage(t *testing.T) {
	e := newEnv(t)
	e.svc.addToken(aiproxy.Token{GroupID: "acme", Name: "capped", Enabled: true, Quota: 10 * aiproxy.AmountUnit,
		UsedAmount: 4 * aiproxy.AmountUnit, PeriodQuota: 2 * aiproxy.AmountUnit, Period: aiproxy.PeriodDaily,
		PeriodUsed: aiproxy.AmountUnit, PeriodStart: aiproxy.PeriodDaily.Start(now, time.UTC)})
	e.svc.addToken(aiproxy.Token{GroupID: "other", Name: "theirs", Enabled: true})
	doc := page(t, e.get(t, e.admin, "/admin/groups/acme"), http.StatusOK)

	for id, want := range map[string]string{
		"limit-rpm-ratio":   "×2",
		"limit-concurrency": "8 requests in flight",
		"group-balance":     "Balance 30.00",
	} {
		sel := testid(doc, id)
		if sel.Length() == 0 {
			t.Errorf("no %s", id)
		} else if got := strings.Join(strings.Fields(sel.First().Text()), " "); !strings.Contains(got, want) {
			t.Errorf("%s = %q, want it to contain %q", id, got, want)
		}
	}
	if testid(doc, "low-balance").Length() != 0 {
		t.Error("low-balance warning shown for a balance of 30 over a threshold of 5")
	}
	credit := doc.Find("meter#group-credit")
	if v, _ := credit.Attr("value"); v != "20.00" {
		t.Errorf("credit meter value %q, want 20.00", v)
	}
	rows := testid(doc, "token-row")
	if rows.Length() != 1 || !strings.Contains(rows.Text(), "capped") {
		t.Fatalf("token rows: %q", rows.Text())
	}
	quota := rows.Find("meter[id^=quota-]")
	if max, _ := quota.Attr("max"); max != "10.00" {
		t.Errorf("quota meter max %q, want 10.00", max)
	}
	if got := rows.Find(`[data-testid^="usage-text-period-"]`).Text(); !strings.Contains(got, "1.00 used of 2.00 (50%)") {
		t.Errorf("period usage %q", got)
	}
	if n := doc.Find(`main [data-testid^="error-"]`).Length(); n != 0 {
		t.Errorf("%d error messages on a page with no error", n)
	}
	// Every input of the page's forms has a label.
	doc.Find("main input:not([type=hidden]), main select, main textarea").Each(func(_ int, s *goquery.Selection) {
		id, _ := s.Attr("id")
		if id == "" || doc.Find(`label[for="`+id+`"]`).Length() == 0 {
			t.Errorf("input %v has no label", s.AttrOr("name", "?"))
		}
	})
	if w := e.get(t, e.admin, "/admin/groups/nope"); w.Code != http.StatusNotFound {
		t.Errorf("missing group: status %d, want 404", w.Code)
	}
}

func TestTokenSecretShownOnce(t *testing.T) {
	e := newEnv(t)
	form := url.Values{"name": {"ci"}, "models": {"gpt-4o\nclaude-3"}, "subnets": {"10.0.0.0/8"}, "quota": {"5"},
		"periodQuota": {"1"}, "period": {"monthly"}, "rpm": {"60"}, "tpm": {"1000"}, "expiresAt": {"2030-01-31T18:00"},
		"mcpTools": {"weather/forecast"}}
	w := e.post(t, e.admin, "/admin/groups/acme/tokens", form)
	doc := page(t, w, http.StatusCreated)
	key := strings.TrimSpace(testid(doc, "token-secret").Text())
	if !strings.HasPrefix(key, aiproxy.TokenKeyPrefix) || len(key) < 20 {
		t.Fatalf("secret %q", key)
	}
	if got, _ := testid(doc, "copy-token-secret").Attr("data-copy"); got != "token-secret" {
		t.Errorf("copy button copies %q", got)
	}
	if testid(doc, "token-secret-warning").Length() != 1 {
		t.Error("no warning that the key is shown once")
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	ts, _ := e.svc.Tokens(t.Context(), "acme")
	if len(ts) != 1 {
		t.Fatalf("%d tokens stored", len(ts))
	}
	tok := ts[0]
	if tok.KeyHash != aiproxy.HashKey(key) || !tok.Enabled || tok.RPM != 60 || tok.Period != aiproxy.PeriodMonthly ||
		len(tok.Models) != 2 || tok.ExpiresAt == nil || !tok.ExpiresAt.Equal(time.Date(2030, 1, 31, 18, 0, 0, 0, time.UTC)) {
		t.Errorf("stored %+v", tok)
	}

	for _, path := range []string{fmt.Sprintf("/admin/tokens/%d", tok.ID), "/admin/groups/acme", "/admin/tokens", "/admin/tokens?q=ci",
		fmt.Sprintf("/admin/tokens/%d/edit", tok.ID)} {
		t.Run(path, func(t *testing.T) {
			for _, c := range []client{e.admin, e.group} {
				w := e.get(t, c, path)
				if strings.Contains(w.Body.String(), key) || strings.Contains(w.Body.String(), key[len(tok.Prefix):]) {
					t.Fatalf("the key is shown again")
				}
				if w.Code == http.StatusOK && !strings.Contains(w.Body.String(), tok.Prefix) && !strings.HasSuffix(path, "/edit") {
					t.Errorf("the prefix %q is not shown", tok.Prefix)
				}
			}
		})
	}

	t.Run("invalid", func(t *testing.T) {
		w := e.post(t, e.admin, "/admin/groups/acme/tokens", url.Values{"name": {"x"}, "periodQuota": {"1"}})
		doc := page(t, w, http.StatusUnprocessableEntity)
		if testid(doc, "error-period").Length() != 1 || testid(doc, "token-secret").Length() != 0 {
			t.Errorf("want the error beside the period:\n%s", w.Body.String())
		}
	})
	t.Run("missing group", func(t *testing.T) {
		if w := e.post(t, e.admin, "/admin/groups/nope/tokens", url.Values{"name": {"x"}}); w.Code != http.StatusNotFound {
			t.Errorf("status %d, want 404", w.Code)
		}
	})
}

func TestTokenActions(t *testing.T) {
	e := newEnv(t)
	tok := e.svc.addToken(aiproxy.Token{GroupID: "acme", Name: "ci", Enabled: true, Models: []string{"gpt-4o"}})
	path := fmt.Sprintf("/admin/tokens/%d", tok.ID)

	tests := []struct {
		name    string
		action  string
		form    url.Values
		status  int
		check   func(t *testing.T, got *aiproxy.Token, err error)
		wantErr string // the field of a 422
	}{
		{"disable", "/disable", nil, http.StatusSeeOther, func(t *testing.T, got *aiproxy.Token, _ error) {
			if got.Enabled {
				t.Error("still enabled")
			}
		}, ""},
		{"enable", "/enable", nil, http.StatusSeeOther, func(t *testing.T, got *aiproxy.Token, _ error) {
			if !got.Enabled {
				t.Error("still disabled")
			}
		}, ""},
		{"edit", "", url.Values{"name": {"ci-2"}, "rpm": {"5"}, "period": {""}}, http.StatusSeeOther, func(t *testing.T, got *aiproxy.Token, _ error) {
			if got.Name != "ci-2" || got.RPM != 5 || len(got.Models) != 0 || !got.Enabled {
				t.Errorf("stored %+v", got)
			}
		}, ""},
		{"edit with a bad subnet", "", url.Values{"name": {"ci"}, "subnets": {"nowhere"}}, http.StatusUnprocessableEntity, nil, "subnets"},
		{"edit with no name", "", url.Values{"name": {" "}}, http.StatusUnprocessableEntity, nil, "name"},
		{"delete", "/delete", nil, http.StatusSeeOther, func(t *testing.T, _ *aiproxy.Token, err error) {
			if aiproxy.ErrorCode(err) != aiproxy.ENOTFOUND {
				t.Errorf("after delete: %v", err)
			}
		}, ""},
		{"disable a deleted token", "/disable", nil, http.StatusNotFound, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := e.post(t, e.admin, path+tt.action, tt.form)
			if tt.wantErr != "" {
				doc := page(t, w, tt.status)
				if testid(doc, "error-"+tt.wantErr).Length() != 1 {
					t.Errorf("no error beside %s:\n%s", tt.wantErr, w.Body.String())
				}
				return
			}
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body.String())
			}
			if tt.check != nil {
				got, err := e.svc.Token(t.Context(), tok.ID)
				tt.check(t, got, err)
			}
		})
	}
}

func TestDisabledTokenPage(t *testing.T) {
	e := newEnv(t)
	tok := e.svc.addToken(aiproxy.Token{GroupID: "acme", Name: "ci", Enabled: true})
	path := fmt.Sprintf("/admin/tokens/%d", tok.ID)
	doc := page(t, e.get(t, e.admin, path), http.StatusOK)
	if f := testid(doc, "disable-token-form"); f.AttrOr("data-confirm", "") == "" || f.Find(`input[name=csrf]`).Length() != 1 {
		t.Error("the disable form has no confirmation or no CSRF field")
	}
	if w := e.post(t, e.admin, path+"/disable", nil); w.Code != http.StatusSeeOther || w.Header().Get("Location") != path {
		t.Fatalf("status %d to %q", w.Code, w.Header().Get("Location"))
	}
	doc = page(t, e.get(t, e.admin, path), http.StatusOK)
	if got := testid(doc, "token-status").Text(); got != "disabled" {
		t.Errorf("status %q", got)
	}
	if testid(doc, "enable-token").Length() != 1 || testid(doc, "disable-token").Length() != 0 {
		t.Error("want an enable button, no disable button")
	}
}

func TestBalance(t *testing.T) {
	tests := []struct {
		name       string
		form       url.Values
		wantStatus int
		wantField  string // the field with an error; "" for success
		wantAmount string // of the new audit row
		wantAfter  string
	}{
		{"top-up", url.Values{"kind": {"top_up"}, "amount": {"10"}, "reason": {"invoice 42"}}, http.StatusSeeOther, "", "10.00", "40.00"},
		{"deducting adjustment", url.Values{"kind": {"adjustment"}, "amount": {"-2.5"}, "reason": {"refund fix"}}, http.StatusSeeOther, "", "-2.50", "27.50"},
		{"no reason", url.Values{"kind": {"top_up"}, "amount": {"10"}, "reason": {"  "}}, http.StatusUnprocessableEntity, "reason", "", ""},
		{"no amount", url.Values{"kind": {"top_up"}, "reason": {"x"}}, http.StatusUnprocessableEntity, "amount", "", ""},
		{"zero", url.Values{"kind": {"adjustment"}, "amount": {"0"}, "reason": {"x"}}, http.StatusUnprocessableEntity, "amount", "", ""},
		{"negative top-up", url.Values{"kind": {"top_up"}, "amount": {"-1"}, "reason": {"x"}}, http.StatusUnprocessableEntity, "amount", "", ""},
		{"unknown kind", url.Values{"kind": {"gift"}, "amount": {"1"}, "reason": {"x"}}, http.StatusUnprocessableEntity, "kind", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			w := e.post(t, e.admin, "/admin/groups/acme/balance", tt.form)
			if tt.wantField != "" {
				doc := page(t, w, tt.wantStatus)
				if testid(doc, "balance-form").Find(`[data-testid="error-`+tt.wantField+`"]`).Length() != 1 {
					t.Errorf("no error beside %s:\n%s", tt.wantField, w.Body.String())
				}
				if got, _ := testid(doc, "input-reason").Attr("value"); got != tt.form.Get("reason") {
					t.Errorf("reason typed %q shown as %q", tt.form.Get("reason"), got)
				}
				if len(e.svc.entries) != 0 {
					t.Error("a refused change was recorded")
				}
				return
			}
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d: %s", w.Code, w.Body.String())
			}
			doc := page(t, e.get(t, e.admin, "/admin/groups/acme"), http.StatusOK)
			row := testid(doc, "audit-row").First()
			for id, want := range map[string]string{"audit-reason": tt.form.Get("reason"), "audit-amount": tt.wantAmount,
				"audit-balance": tt.wantAfter, "audit-actor": "admin"} {
				if got := row.Find(`[data-testid="` + id + `"]`).Text(); got != want {
					t.Errorf("%s = %q, want %q", id, got, want)
				}
			}
		})
	}
}

func TestAuditTrailPages(t *testing.T) {
	e := newEnv(t)
	for i := range 25 {
		if w := e.post(t, e.admin, "/admin/groups/acme/balance", url.Values{"kind": {"top_up"}, "amount": {"1"}, "reason": {fmt.Sprint("r", i)}}); w.Code != http.StatusSeeOther {
			t.Fatalf("status %d", w.Code)
		}
	}
	doc := page(t, e.get(t, e.admin, "/admin/groups/acme"), http.StatusOK)
	if n := testid(doc, "audit-row").Length(); n != 20 {
		t.Fatalf("%d rows on the first page", n)
	}
	older, ok := testid(doc, "audit-older").Attr("href")
	if !ok {
		t.Fatal("no link to older entries")
	}
	older, _, _ = strings.Cut(older, "#") // a browser sends no fragment
	doc = page(t, e.get(t, e.admin, older), http.StatusOK)
	rows := testid(doc, "audit-row")
	if rows.Length() != 5 || rows.First().Find(`[data-testid="audit-reason"]`).Text() != "r4" {
		t.Errorf("older page: %d rows, first %q", rows.Length(), rows.First().Text())
	}
}

func TestGroupSession(t *testing.T) {
	e := newEnv(t)
	own := e.svc.addToken(aiproxy.Token{GroupID: "acme", Name: "mine", Enabled: true})
	theirs := e.svc.addToken(aiproxy.Token{GroupID: "other", Name: "theirs", Enabled: true})

	tests := []struct {
		method, path string
		want         int
		location     string // of a redirect
	}{
		{"GET", "/admin/groups/acme", http.StatusOK, ""},
		{"GET", fmt.Sprintf("/admin/tokens/%d", own.ID), http.StatusOK, ""},
		{"GET", "/admin/groups", http.StatusSeeOther, "/admin/groups/acme"},
		{"GET", "/admin/tokens", http.StatusSeeOther, "/admin/groups/acme"},
		{"GET", "/admin/groups/other", http.StatusNotFound, ""},
		{"GET", "/admin/groups/nope", http.StatusNotFound, ""},
		{"GET", fmt.Sprintf("/admin/tokens/%d", theirs.ID), http.StatusNotFound, ""},
		{"GET", "/admin/groups/new", http.StatusForbidden, ""},
		{"GET", "/admin/groups/acme/edit", http.StatusForbidden, ""},
		{"GET", "/admin/groups/acme/tokens/new", http.StatusForbidden, ""},
		{"GET", fmt.Sprintf("/admin/tokens/%d/edit", own.ID), http.StatusForbidden, ""},
		{"POST", "/admin/groups", http.StatusForbidden, ""},
		{"POST", "/admin/groups/acme", http.StatusForbidden, ""},
		{"POST", "/admin/groups/acme/disable", http.StatusForbidden, ""},
		{"POST", "/admin/groups/acme/delete", http.StatusForbidden, ""},
		{"POST", "/admin/groups/acme/balance", http.StatusForbidden, ""},
		{"POST", "/admin/groups/acme/tokens", http.StatusForbidden, ""},
		{"POST", fmt.Sprintf("/admin/tokens/%d/disable", own.ID), http.StatusForbidden, ""},
		{"POST", fmt.Sprintf("/admin/tokens/%d/delete", own.ID), http.StatusForbidden, ""},
		{"POST", fmt.Sprintf("/admin/tokens/%d", theirs.ID), http.StatusForbidden, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			var form url.Values
			if tt.method == http.MethodPost {
				form = url.Values{"kind": {"top_up"}, "amount": {"100"}, "reason": {"free money"}, "id": {"x"}, "name": {"x"}}
			}
			w := e.do(t, e.group, tt.method, tt.path, form, false)
			if w.Code != tt.want || w.Header().Get("Location") != tt.location {
				t.Fatalf("status %d Location %q, want %d %q", w.Code, w.Header().Get("Location"), tt.want, tt.location)
			}
			if tt.want == http.StatusNotFound && strings.Contains(w.Body.String(), "theirs") {
				t.Error("the 404 page names the other group's token")
			}
		})
	}

	t.Run("read-only page", func(t *testing.T) {
		doc := page(t, e.get(t, e.group, "/admin/groups/acme"), http.StatusOK)
		if n := doc.Find("main form").Length(); n != 0 {
			t.Errorf("%d forms on a group session's page", n)
		}
		for _, id := range []string{"group-actions", "new-token", "balance-form"} {
			if testid(doc, id).Length() != 0 {
				t.Errorf("%s shown to a group session", id)
			}
		}
		if testid(doc, "limit-concurrency").Length() != 1 || testid(doc, "group-balance").Length() != 1 {
			t.Error("no limits or balance")
		}
		rows := testid(doc, "token-row")
		if rows.Length() != 1 || !strings.Contains(rows.Text(), "mine") {
			t.Errorf("tokens %q, want only mine", rows.Text())
		}
		doc = page(t, e.get(t, e.group, fmt.Sprintf("/admin/tokens/%d", own.ID)), http.StatusOK)
		if doc.Find("main form").Length() != 0 || testid(doc, "token-actions").Length() != 0 {
			t.Error("token actions shown to a group session")
		}
	})
	if len(e.svc.entries) != 0 {
		t.Error("a group session changed the balance")
	}
	if tok, _ := e.svc.Token(t.Context(), own.ID); !tok.Enabled {
		t.Error("a group session disabled a token")
	}
}

func TestCSRFAndSignIn(t *testing.T) {
	e := newEnv(t)
	tok := e.svc.addToken(aiproxy.Token{GroupID: "acme", Name: "ci", Enabled: true})
	tests := []struct {
		name string
		c    client
		path string
		form url.Values
		want int
	}{
		{"no csrf field", client{cookie: e.admin.cookie}, "/admin/groups/acme/balance", url.Values{"kind": {"top_up"}, "amount": {"1"}, "reason": {"x"}}, http.StatusForbidden},
		{"wrong csrf field", e.admin, "/admin/groups/acme/balance", url.Values{"csrf": {"forged"}, "kind": {"top_up"}, "amount": {"1"}, "reason": {"x"}}, http.StatusForbidden},
		{"the group session's token", e.admin, "/admin/groups/acme/balance", url.Values{"csrf": {e.group.csrf}, "kind": {"top_up"}, "amount": {"1"}, "reason": {"x"}}, http.StatusForbidden},
		{"no csrf, disable", client{cookie: e.admin.cookie}, fmt.Sprintf("/admin/tokens/%d/disable", tok.ID), url.Values{}, http.StatusForbidden},
		{"no csrf, create group", client{cookie: e.admin.cookie}, "/admin/groups", url.Values{"id": {"evil"}}, http.StatusForbidden},
		{"signed out", client{}, "/admin/groups", url.Values{"id": {"evil"}}, http.StatusSeeOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if w := e.post(t, tt.c, tt.path, tt.form); w.Code != tt.want {
				t.Fatalf("status %d, want %d", w.Code, tt.want)
			}
		})
	}
	if len(e.svc.entries) != 0 {
		t.Error("a refused request changed the balance")
	}
	if got, _ := e.svc.Token(t.Context(), tok.ID); !got.Enabled {
		t.Error("a refused request disabled the token")
	}
	if _, err := e.svc.Group(t.Context(), "evil"); err == nil {
		t.Error("a refused request created a group")
	}
	if w := e.get(t, client{}, "/admin/groups"); w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), web.SignInPath) {
		t.Errorf("signed out: status %d to %q", w.Code, w.Header().Get("Location"))
	}
}

// BenchmarkGroupsPage renders a page of the groups list, and a search of
// it, among 10,000 groups with 10,000 tokens.
func BenchmarkGroupsPage(b *testing.B) {
	e := newEnv(b)
	for i := range 10_000 {
		id := fmt.Sprintf("group-%05d", i)
		e.svc.addGroup(aiproxy.Group{ID: id, Description: "generated", Enabled: true, UsedAmount: aiproxy.Amount(i)})
		e.svc.addToken(aiproxy.Token{GroupID: id, Name: "t", Enabled: true})
	}
	for _, bb := range []struct{ name, path string }{
		{"list", "/admin/groups?page=100"},
		{"search", "/admin/groups?q=group-099"},
		{"tokens", "/admin/tokens?page=100"},
		{"group", "/admin/groups/group-05000"},
	} {
		b.Run(bb.name, func(b *testing.B) {
			for b.Loop() {
				if w := e.get(b, e.admin, bb.path); w.Code != http.StatusOK {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}

func TestTokenLists(t *testing.T) {
	e := newEnv(t)
	for i := range 60 {
		e.svc.addToken(aiproxy.Token{GroupID: "acme", Name: fmt.Sprintf("acme-%02d", i), Enabled: true})
	}
	e.svc.addToken(aiproxy.Token{GroupID: "other", Name: "deploy", Enabled: true})

	tests := []struct {
		name      string
		path      string
		wantRows  int
		wantFirst string // the first row's name
	}{
		{"group page 1", "/admin/groups/acme", 50, "acme-00"},
		{"group page 2", "/admin/groups/acme?tokens=2", 10, "acme-50"},
		{"every token", "/admin/tokens", 50, "acme-00"},
		{"every token, page 2", "/admin/tokens?page=2", 11, "acme-50"},
		{"search by name", "/admin/tokens?q=DEPLOY", 1, "deploy"},
		{"search by group", "/admin/tokens?q=other", 1, "deploy"},
		{"search finding nothing", "/admin/tokens?q=nothing", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := page(t, e.get(t, e.admin, tt.path), http.StatusOK)
			rows := testid(doc, "token-row")
			if rows.Length() != tt.wantRows {
				t.Fatalf("%d rows, want %d", rows.Length(), tt.wantRows)
			}
			if got := rows.First().Find(`[data-testid="token-link"]`).Text(); got != tt.wantFirst {
				t.Errorf("first row %q, want %q", got, tt.wantFirst)
			}
		})
	}
}

func TestDeleteGroup(t *testing.T) {
	e := newEnv(t)
	tok := e.svc.addToken(aiproxy.Token{GroupID: "acme", Name: "ci", Enabled: true})
	doc := page(t, e.get(t, e.admin, "/admin/groups/acme"), http.StatusOK)
	if testid(doc, "delete-group-form").AttrOr("data-confirm", "") == "" {
		t.Error("deleting a group asks no confirmation")
	}
	w := e.post(t, e.admin, "/admin/groups/acme/delete", nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/admin/groups" {
		t.Fatalf("status %d to %q", w.Code, w.Header().Get("Location"))
	}
	if _, err := e.svc.Token(t.Context(), tok.ID); err == nil {
		t.Error("the group's token survived")
	}
	if w := e.get(t, e.admin, "/admin/groups/acme"); w.Code != http.StatusNotFound {
		t.Errorf("deleted group: status %d", w.Code)
	}
}

func TestCreateTokenHTMX(t *testing.T) {
	e := newEnv(t)
	w := e.do(t, e.admin, http.MethodPost, "/admin/groups/acme/tokens", url.Values{"name": {"ci"}}, true)
	doc := page(t, w, http.StatusCreated)
	if w.Header().Get("HX-Push-Url") != "false" {
		t.Errorf("HX-Push-Url %q: the answer's URL would go to the history", w.Header().Get("HX-Push-Url"))
	}
	if doc.Find("html head link").Length() != 0 || testid(doc, "token-secret").Length() != 1 {
		t.Errorf("want the fragment with the secret:\n%s", w.Body.String())
	}
}

func TestLowBalance(t *testing.T) {
	tests := []struct {
		name   string
		credit aiproxy.Amount
		want   bool
	}{
		{"over the threshold", 50 * aiproxy.AmountUnit, false},
		{"at the threshold", 25 * aiproxy.AmountUnit, false},
		{"under the threshold", 24 * aiproxy.AmountUnit, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.svc.addGroup(aiproxy.Group{ID: "acme", Enabled: true, Prepaid: true, Credit: tt.credit,
				UsedAmount: 20 * aiproxy.AmountUnit, LowBalance: 5 * aiproxy.AmountUnit})
			doc := page(t, e.get(t, e.admin, "/admin/groups/acme"), http.StatusOK)
			if got := testid(doc, "low-balance").Length() == 1; got != tt.want {
				t.Errorf("low-balance warning shown: %v, want %v", got, tt.want)
			}
		})
	}
}
