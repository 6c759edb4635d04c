package settings_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/go-chi/chi/v5"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/views/settings"
	"github.com/aiproxy/aiproxy/views/web/webtest"
)

// secrets are values that must never reach the page.
var secrets = []string{"admin-k3y-value", "p4ssw0rd", "metrics-t0ken", "hooks.example.com/services/T0"}

var testSettings = []settings.Setting{
	{Section: settings.SectionServer, Name: "ADMIN_KEY", Value: "admin-k3y-value", Secret: true, Description: "The admin key."},
	{Section: settings.SectionServer, Name: "SQL_DSN", Value: "postgres://aiproxy:p4ssw0rd@db/aiproxy", Secret: true, Description: "The main database."},
	{Section: settings.SectionServer, Name: "REDIS", Value: "", Secret: true, Description: "Redis."},
	{Section: settings.SectionRelay, Name: "MAX_ATTEMPTS", Value: "3", Description: "Channels one request may try."},
	{Section: settings.SectionLimits, Name: "BILLING_ENABLED", Value: "false", Description: "Refuse what quotas do not cover."},
	{Section: settings.SectionLogs, Name: "LOG_STORAGE_HOURS", Value: "0", Description: "How long logs are kept."},
	{Section: settings.SectionMonitoring, Name: "METRICS_TOKEN", Value: "metrics-t0ken", Secret: true, Description: "Reads /metrics."},
	{Section: settings.SectionMonitoring, Name: "ALERT_SLACK_URL", Value: "https://hooks.example.com/services/T0/B0/x", Secret: true, Description: "Slack."},
	{Section: settings.SectionMCP, Name: "MCP_SESSION_TTL", Value: "30m0s", Description: "MCP sessions' lifetime."},
	{Section: "Experimental", Name: "X_FLAG", Value: "", Description: "Another section."},
}

func newHandler(t *testing.T, metrics bool) (http.Handler, *http.Cookie, *http.Cookie) {
	t.Helper()
	tokens := webtest.NewTokens()
	_, key := tokens.Add(&aiproxy.Group{ID: "team-a", Enabled: true}, "ci")
	auth := webtest.NewAuth(tokens)
	r := chi.NewRouter()
	r.Use(auth.Session, auth.CSRF)
	settings.Mount(r, settings.Deps{Settings: testSettings, Metrics: metrics})
	admin, _ := webtest.SignIn(t, auth, webtest.AdminKey)
	group, _ := webtest.SignIn(t, auth, key)
	return r, admin, group
}

func get(h http.Handler, c *http.Cookie, method string) *httptest.ResponseRecorder {
	var req *http.Request
	if method == http.MethodPost {
		req = httptest.NewRequest(method, "/admin/settings", strings.NewReader(url.Values{"x": {"1"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, "/admin/settings", nil)
	}
	req.AddCookie(c)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestPage: every setting is listed in its section, in the sections'
// order; a secret says "set" or "not set" and its value never appears.
func TestPage(t *testing.T) {
	h, admin, _ := newHandler(t, true)
	rec := get(h, admin, http.MethodGet)
	if rec.Code != http.StatusOK {
		t.Fatalf("got %d", rec.Code)
	}
	body := rec.Body.String()
	for _, s := range secrets {
		if strings.Contains(body, s) {
			t.Errorf("the page shows the secret %q", s)
		}
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	doc.Find(`[data-testid="settings-section"]`).Each(func(_ int, s *goquery.Selection) { order = append(order, s.AttrOr("data-section", "")) })
	want := "Server and storage|Relay|Limits and billing|Logs and retention|Monitoring and alerts|MCP|Experimental"
	if strings.Join(order, "|") != want {
		t.Errorf("sections %q", order)
	}
	tests := []struct {
		name, section, shown string
	}{
		{"ADMIN_KEY", "Server and storage", "set"},
		{"SQL_DSN", "Server and storage", "set"},
		{"REDIS", "Server and storage", "not set"},
		{"METRICS_TOKEN", "Monitoring and alerts", "set"},
		{"ALERT_SLACK_URL", "Monitoring and alerts", "set"},
		{"MAX_ATTEMPTS", "Relay", "3"},
		{"MCP_SESSION_TTL", "MCP", "30m0s"},
		{"X_FLAG", "Experimental", "(empty)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rw := doc.Find(`[data-testid="setting-row"][data-name="` + tt.name + `"]`)
			if rw.Length() != 1 {
				t.Fatalf("%d rows", rw.Length())
			}
			if got := strings.TrimSpace(rw.Find(`[data-testid="setting-value"]`).Text()); got != tt.shown {
				t.Errorf("shown %q, want %q", got, tt.shown)
			}
			if got := rw.Closest(`[data-testid="settings-section"]`).AttrOr("data-section", ""); got != tt.section {
				t.Errorf("in section %q, want %q", got, tt.section)
			}
		})
	}
	for _, id := range []string{"graphiql-link", "metrics-link", "alerts-link"} {
		if doc.Find(`[data-testid="`+id+`"]`).Length() != 1 {
			t.Errorf("no %s", id)
		}
	}
	if doc.Find(`[data-testid="graphiql-link"]`).AttrOr("href", "") != "/graphql" {
		t.Error("GraphiQL link")
	}
}

// TestMetricsOff: without /metrics the page links to none.
func TestMetricsOff(t *testing.T) {
	h, admin, _ := newHandler(t, false)
	doc, err := goquery.NewDocumentFromReader(get(h, admin, http.MethodGet).Body)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Find(`[data-testid="metrics-link"]`).Length() != 0 || doc.Find(`[data-testid="metrics-off"]`).Length() != 1 {
		t.Error("a link to /metrics that is not served")
	}
}

// TestAccess: a group session gets 403; so does a POST without the CSRF
// token.
func TestAccess(t *testing.T) {
	h, admin, group := newHandler(t, true)
	tests := []struct {
		name   string
		cookie *http.Cookie
		method string
	}{
		{"group", group, http.MethodGet},
		{"admin, POST without CSRF", admin, http.MethodPost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := get(h, tt.cookie, tt.method)
			if rec.Code != http.StatusForbidden {
				t.Fatalf("got %d, want 403", rec.Code)
			}
			if strings.Contains(rec.Body.String(), "MAX_ATTEMPTS") {
				t.Error("the refusal shows the settings")
			}
		})
	}
}
