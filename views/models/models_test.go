package models_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/go-chi/chi/v5"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/store/storetest"
	"github.com/aiproxy/aiproxy/views/models"
	"github.com/aiproxy/aiproxy/views/web"
	"github.com/aiproxy/aiproxy/views/web/webtest"
)

// catalogueJSON is the catalogue of the tests: one model, priced.
const catalogueJSON = `{"date":"2026-01-01","source":"test","currency":"USD","models":[
	{"model":"cat-model","provider":"acme","type":"chat","prices":{"input":1,"output":2}},
	{"model":"overridden","provider":"acme","type":"chat","prices":{"input":9,"output":9}}]}`

// served is the fake list of models the channels serve.
type served []string

// The store's cache is what cmd/aiproxy passes as Served.
var _ models.Served = (*store.Cache)(nil)

func (s served) Models() []string { return s }

// env is the Models area mounted as cmd/aiproxy mounts it (the session
// and CSRF middleware in front), on a real SQLite store.
type env struct {
	t       testing.TB
	store   *store.Store
	handler http.Handler
	admin   *http.Cookie
	csrf    string
	group   *http.Cookie // a group session
	gcsrf   string       // its CSRF token
}

func newEnv(t testing.TB, names ...string) *env {
	t.Helper()
	st := storetest.Open(t, storetest.SQLiteDSN(t))
	cat, err := aiproxy.ParseCatalogue([]byte(catalogueJSON))
	if err != nil {
		t.Fatal(err)
	}
	tokens := webtest.NewTokens()
	_, key := tokens.Add(&aiproxy.Group{ID: "team-a", Enabled: true}, "ci")
	auth := webtest.NewAuth(tokens)
	r := chi.NewRouter()
	r.Use(auth.Session, auth.CSRF)
	models.Mount(r, models.Deps{Configs: st, Overrides: st, Served: served(names), Catalogue: cat})
	e := &env{t: t, store: st, handler: r}
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

// page gets target as the admin and parses it, which must answer 200.
func (e *env) page(target string) *goquery.Document {
	e.t.Helper()
	return parse(e.t, e.do(e.admin, http.MethodGet, target, nil), http.StatusOK)
}

func (e *env) createConfig(mc *aiproxy.ModelConfig) {
	e.t.Helper()
	if err := e.store.CreateModelConfig(context.Background(), mc); err != nil {
		e.t.Fatal(err)
	}
}

// parse parses an answer, which must have status want.
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

// TestTableUnpriced: a served model with neither a price of its own nor
// the catalogue's carries the "Unpriced" badge; the others show where
// their price comes from.
func TestTableUnpriced(t *testing.T) {
	e := newEnv(t, "mystery", "cat-model", "priced", "free", "overridden")
	e.createConfig(&aiproxy.ModelConfig{Model: "priced", Pricing: aiproxy.Pricing{Prices: aiproxy.Prices{Input: 2_500_000_000, Output: 10_000_000_000}}, RPM: 60})
	e.createConfig(&aiproxy.ModelConfig{Model: "free", Pricing: aiproxy.Pricing{Free: true}})
	e.createConfig(&aiproxy.ModelConfig{Model: "overridden", Pricing: aiproxy.Pricing{Prices: aiproxy.Prices{Input: 1_000_000_000}}})
	e.createConfig(&aiproxy.ModelConfig{Model: "config-only"}) // not served, unpriced too
	doc := e.page("/admin/models")

	tests := []struct {
		model    string
		unpriced bool
		source   string
		input    string
		rpm      string
	}{
		{"mystery", true, "Unpriced", "–", "–"},
		{"config-only", true, "Unpriced", "–", "–"},
		{"cat-model", false, "Catalogue", "1", "–"},
		{"priced", false, "Model config", "2.5", "60"},
		{"free", false, "Model config", "0", "–"},
		{"overridden", false, "overrides the catalogue", "1", "–"},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			rw := doc.Find(fmt.Sprintf(`[data-testid="model-row"][data-model=%q]`, tt.model))
			if rw.Length() != 1 {
				t.Fatalf("%d rows", rw.Length())
			}
			if got := rw.AttrOr("data-unpriced", ""); got != fmt.Sprint(tt.unpriced) {
				t.Errorf("data-unpriced %q, want %v", got, tt.unpriced)
			}
			badge := rw.Find(`[data-testid="unpriced-badge"]`)
			if (badge.Length() == 1) != tt.unpriced || (tt.unpriced && strings.TrimSpace(badge.Text()) != "Unpriced") {
				t.Errorf("badge %q, want one: %v", badge.Text(), tt.unpriced)
			}
			if got := rw.Find(`[data-testid="price-source"]`).Text(); !strings.Contains(got, tt.source) {
				t.Errorf("source %q, want %q", got, tt.source)
			}
			if got := strings.TrimSpace(rw.Find(`[data-testid="price-input"]`).Text()); got != tt.input {
				t.Errorf("input %q, want %q", got, tt.input)
			}
			if got := strings.TrimSpace(rw.Find(`[data-testid="rpm"]`).Text()); got != tt.rpm {
				t.Errorf("rpm %q, want %q", got, tt.rpm)
			}
		})
	}
	if got := doc.Find(`[data-testid="unpriced-summary"]`).Text(); !strings.Contains(got, "2 models have no price") {
		t.Errorf("summary %q", got)
	}
	only := e.page("/admin/models?unpriced=1")
	if n := only.Find(`[data-testid="model-row"]`).Length(); n != 2 {
		t.Errorf("unpriced only: %d rows, want 2", n)
	}
}

// TestSearchAndPages: 50 rows a page, the search narrowing them.
func TestSearchAndPages(t *testing.T) {
	var names []string
	for i := range 120 {
		names = append(names, fmt.Sprintf("model-%03d", i))
	}
	e := newEnv(t, names...)
	tests := []struct {
		target string
		rows   int
		first  string
		next   bool
	}{
		{"/admin/models", 50, "model-000", true},
		{"/admin/models?page=3", 20, "model-100", false},
		{"/admin/models?page=99", 20, "model-100", false},
		{"/admin/models?q=MODEL-11", 10, "model-110", false},
		{"/admin/models?q=nothing", 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			doc := e.page(tt.target)
			rows := doc.Find(`[data-testid="model-row"]`)
			if rows.Length() != tt.rows {
				t.Fatalf("%d rows, want %d", rows.Length(), tt.rows)
			}
			if tt.rows > 0 && rows.First().AttrOr("data-model", "") != tt.first {
				t.Errorf("first %q, want %q", rows.First().AttrOr("data-model", ""), tt.first)
			}
			if got := doc.Find(`[data-testid="page-next"]`).Length() == 1; got != tt.next {
				t.Errorf("next link %v, want %v", got, tt.next)
			}
		})
	}
}

// TestCreateConfig: a refused form comes back with a 422 and the error
// beside its field; an accepted one is stored with its prices in
// currency units per million tokens and redirects (303).
func TestCreateConfig(t *testing.T) {
	tests := []struct {
		name  string
		form  url.Values
		field string // the input whose error is shown; "" when accepted
	}{
		{"no model", url.Values{"model": {" "}, "input": {"1"}}, "model"},
		{"negative price", url.Values{"model": {"m"}, "input": {"-1"}}, "input"},
		{"price not a number", url.Values{"model": {"m"}, "cacheWrite": {"cheap"}}, "cacheWrite"},
		{"negative rpm", url.Values{"model": {"m"}, "rpm": {"-5"}}, "rpm"},
		{"too many attempts", url.Values{"model": {"m"}, "maxAttempts": {"9"}}, "maxAttempts"},
		{"timeout too long", url.Values{"model": {"m"}, "timeoutSeconds": {"4000"}}, "timeoutSeconds"},
		{"accepted", url.Values{"model": {"new/model"}, "type": {"chat"}, "input": {"2.5"}, "output": {"10"},
			"reasoning": {"12"}, "perRequest": {"0.01"}, "rpm": {"60"}, "tpm": {"1000"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			rec := e.post("/admin/models", tt.form)
			if tt.field != "" {
				doc := parse(t, rec, http.StatusUnprocessableEntity)
				msg := doc.Find(`[data-testid="error-` + tt.field + `"]`)
				if msg.Length() != 1 || strings.TrimSpace(msg.Text()) == "" {
					t.Fatalf("no error beside %s; errors: %q", tt.field, doc.Find(".field-error").Text())
				}
				in := doc.Find(`[data-testid="input-` + tt.field + `"]`)
				if in.AttrOr("aria-invalid", "") != "true" || in.AttrOr("aria-describedby", "") != "error-"+tt.field {
					t.Error("the input is not marked invalid")
				}
				if got, _ := e.store.ModelConfigs(context.Background()); len(got) != 0 {
					t.Errorf("stored %d configs", len(got))
				}
				return
			}
			if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/admin/models/config?model=new%2Fmodel" {
				t.Fatalf("got %d to %q", rec.Code, rec.Header().Get("Location"))
			}
			mc, err := e.store.ModelConfig(context.Background(), "new/model")
			if err != nil {
				t.Fatal(err)
			}
			want := aiproxy.Prices{Input: 2_500_000_000, Output: 10_000_000_000, Reasoning: 12_000_000_000, PerRequest: 10_000_000}
			if mc.Pricing.Prices != want || mc.RPM != 60 || mc.TPM != 1000 {
				t.Errorf("stored %+v, rpm %d, tpm %d", mc.Pricing.Prices, mc.RPM, mc.TPM)
			}
			doc := e.page("/admin/models/config?model=new%2Fmodel")
			if got := doc.Find(`[data-testid="input-input"]`).AttrOr("value", ""); got != "2.5" {
				t.Errorf("edit form shows input %q", got)
			}
		})
	}
}

// TestUpdateAndDelete: the edit form changes the config, its price tiers
// kept; delete removes it.
func TestUpdateAndDelete(t *testing.T) {
	e := newEnv(t)
	tier := aiproxy.PriceTier{Name: "long", MinPromptTokens: 200_000, Prices: aiproxy.Prices{Input: 5_000_000_000}}
	e.createConfig(&aiproxy.ModelConfig{Model: "m", Pricing: aiproxy.Pricing{Prices: aiproxy.Prices{Input: 1_000_000_000}, Tiers: []aiproxy.PriceTier{tier}}})
	rec := e.post("/admin/models/update", url.Values{"model": {"m"}, "type": {"chat"}, "input": {"3"}, "tpm": {"5"}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("update: %d %s", rec.Code, rec.Body.String())
	}
	mc, err := e.store.ModelConfig(context.Background(), "m")
	if err != nil {
		t.Fatal(err)
	}
	if mc.Pricing.Input != 3_000_000_000 || mc.TPM != 5 || len(mc.Pricing.Tiers) != 1 {
		t.Errorf("stored %+v", mc)
	}
	if rec := e.post("/admin/models/update", url.Values{"model": {"m"}, "output": {"-2"}}); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("invalid update: %d", rec.Code)
	}
	if rec := e.post("/admin/models/delete", url.Values{"model": {"m"}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("delete: %d", rec.Code)
	}
	if _, err := e.store.ModelConfig(context.Background(), "m"); aiproxy.ErrorCode(err) != aiproxy.ENOTFOUND {
		t.Errorf("after delete: %v", err)
	}
}

// TestOverrides: an override is added for a group, listed on the model's
// page, edited and deleted; one for an unknown group is refused beside
// the group field.
func TestOverrides(t *testing.T) {
	e := newEnv(t, "m")
	ctx := context.Background()
	if err := e.store.CreateGroup(ctx, &aiproxy.Group{ID: "team-a", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	e.createConfig(&aiproxy.ModelConfig{Model: "m", Pricing: aiproxy.Pricing{Prices: aiproxy.Prices{Input: 1_000_000_000}}})

	tests := []struct {
		name   string
		form   url.Values
		status int
		field  string
	}{
		{"unknown group", url.Values{"group": {"nobody"}, "rpm": {"10"}}, http.StatusUnprocessableEntity, "group"},
		{"no group", url.Values{"rpm": {"10"}}, http.StatusUnprocessableEntity, "group"},
		{"bad price", url.Values{"group": {"team-a"}, "input": {"x"}}, http.StatusUnprocessableEntity, "input"},
		{"added", url.Values{"group": {"team-a"}, "rpm": {"10"}, "input": {"1.5"}, "saveDetail": {"true"}}, http.StatusSeeOther, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.form.Set("model", "m")
			rec := e.post("/admin/models/overrides", tt.form)
			if tt.field != "" {
				doc := parse(t, rec, tt.status)
				if doc.Find(`[data-testid="override-form"] [data-testid="error-`+tt.field+`"]`).Length() != 1 {
					t.Errorf("no error beside %s: %q", tt.field, doc.Find(".field-error").Text())
				}
				return
			}
			if rec.Code != tt.status {
				t.Fatalf("got %d: %s", rec.Code, rec.Body.String())
			}
		})
	}
	doc := e.page("/admin/models/config?model=m")
	rw := doc.Find(`[data-testid="override-row"][data-group="team-a"]`)
	if rw.Length() != 1 || strings.TrimSpace(rw.Find(`[data-testid="override-rpm"]`).Text()) != "10" ||
		!strings.Contains(rw.Find(`[data-testid="override-price"]`).Text(), "in 1.5") {
		t.Fatalf("override row: %q", rw.Text())
	}
	if got := e.page("/admin/models").Find(`[data-model="m"] [data-testid="override-count"]`).Text(); got != "1" {
		t.Errorf("override count %q", got)
	}
	edit := e.page("/admin/models/config?model=m&group=team-a")
	if got := edit.Find(`#override-rpm`).AttrOr("value", ""); got != "10" {
		t.Errorf("edit form rpm %q", got)
	}
	if rec := e.post("/admin/models/overrides/delete", url.Values{"model": {"m"}, "group": {"team-a"}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("delete: %d", rec.Code)
	}
	if os, _ := e.store.GroupModelConfigs(ctx, "team-a"); len(os) != 0 {
		t.Errorf("%d overrides left", len(os))
	}
}

// TestAccess: a group session is refused (403) everywhere, and a POST
// without the CSRF token is refused (403) and changes nothing.
func TestAccess(t *testing.T) {
	e := newEnv(t, "m")
	tests := []struct {
		name   string
		cookie *http.Cookie
		method string
		target string
		form   url.Values
	}{
		{"group: table", e.group, http.MethodGet, "/admin/models", nil},
		{"group: model page", e.group, http.MethodGet, "/admin/models/config?model=m", nil},
		{"group: create", e.group, http.MethodPost, "/admin/models", url.Values{"model": {"x"}, "csrf": {e.gcsrf}}},
		{"admin without CSRF: create", e.admin, http.MethodPost, "/admin/models", url.Values{"model": {"x"}}},
		{"admin without CSRF: override", e.admin, http.MethodPost, "/admin/models/overrides", url.Values{"model": {"x"}, "group": {"team-a"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.do(tt.cookie, tt.method, tt.target, tt.form)
			if rec.Code != http.StatusForbidden {
				t.Fatalf("got %d, want 403", rec.Code)
			}
		})
	}
	if got, _ := e.store.ModelConfigs(context.Background()); len(got) != 0 {
		t.Errorf("stored %d configs", len(got))
	}
}

// TestHTMX: a boosted form's success answers with HX-Location (htmx
// loads the page into #main), its refusal with the page's fragment and
// a 422, no layout around it.
func TestHTMX(t *testing.T) {
	e := newEnv(t)
	rec := e.post("/admin/models", url.Values{"model": {"m"}, "input": {"1"}}, "HX-Request", "true", "HX-Boosted", "true")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("HX-Location"), `"/admin/models/config?model=m"`) {
		t.Fatalf("got %d, HX-Location %q", rec.Code, rec.Header().Get("HX-Location"))
	}
	rec = e.post("/admin/models", url.Values{"model": {"m2"}, "input": {"-1"}}, "HX-Request", "true", "HX-Boosted", "true")
	doc := parse(t, rec, http.StatusUnprocessableEntity)
	if strings.HasPrefix(rec.Body.String(), "<!doctype") || doc.Find(`main#main [data-testid="error-input"]`).Length() != 1 {
		t.Errorf("not the fragment with the error: %s", rec.Body.String())
	}
}
