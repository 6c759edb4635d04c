package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/aiproxy/aiproxy/relay/relaytest"
)

// TestAdminUIInBrowser drives the admin pages in headless Chromium as an
// operator would: sign in with the admin key, create a group and a token
// (its key shown once, copied with the button), call the relay with that
// key, open GraphiQL, sign out, and find the admin pages refused. It
// takes the screenshots of docs/screenshots (-update-screenshots).
func TestAdminUIInBrowser(t *testing.T) {
	b := newBrowser(t)
	_, up := relaytest.Start(t)
	g := startGateway(t, testConfig(t, ""))
	base := g.srv.URL
	sel := func(id string) string { return `[data-testid="` + id + `"]` }
	field := func(name string) string { return `#main [name="` + name + `"]` }

	// A newcomer's first page: / leads to the sign-in.
	b.do(t, "open the gateway", chromedp.Navigate(base+"/"), chromedp.WaitVisible(sel("signin-key")))
	b.screenshots(t, "signin")
	b.do(t, "sign in", chromedp.SendKeys(sel("signin-key"), adminKey), chromedp.Click(sel("signin-submit")), chromedp.WaitVisible(sel("dashboard")))

	// A channel to the fake provider, created and tested in the browser.
	b.do(t, "create a channel", chromedp.Navigate(base+"/admin/channels/new"), chromedp.WaitVisible(sel("channel-form")),
		chromedp.SetValue(field("name"), "fake"), chromedp.SetValue(field("type"), "openai"), chromedp.SetValue(field("baseURL"), up.URL+"/v1"),
		chromedp.SetValue(field("key"), "sk-upstream"), chromedp.SetValue(field("models"), "gpt-4o-mini"),
		chromedp.Click(sel("save")), chromedp.WaitVisible(sel("channel-row")))
	b.do(t, "test the channel", chromedp.Click(sel("test")), chromedp.WaitVisible(sel("test-submit")), chromedp.Click(sel("test-submit")),
		chromedp.WaitVisible(sel("test-result")))
	if got := value(t, b, "read the test", chromedp.Text(sel("test-result"))); !strings.Contains(strings.ToLower(got), "ms") {
		t.Errorf("the test result reads %q", got)
	}
	b.do(t, "the test succeeded", chromedp.WaitVisible(sel("test-ok")))
	b.screenshots(t, "channels")

	b.do(t, "create a group", chromedp.Navigate(base+"/admin/groups"), chromedp.Click(sel("new-group")), chromedp.WaitVisible(sel("group-form")),
		chromedp.SendKeys(sel("input-id"), "acme"), chromedp.Click(sel("group-submit")), chromedp.WaitVisible(sel("group-title")))
	b.screenshots(t, "group")
	b.do(t, "create a token", chromedp.Click(sel("new-token")), chromedp.WaitVisible(sel("token-form")),
		chromedp.SendKeys(sel("input-name"), "backend"), chromedp.Click(sel("token-submit")), chromedp.WaitVisible(sel("token-secret")))
	key := value(t, b, "read the key", chromedp.Text(sel("token-secret")))
	if !strings.HasPrefix(key, "sk-") {
		t.Fatalf("the token page shows %q", key)
	}
	b.do(t, "copy the key", chromedp.Click(sel("copy-token-secret")), chromedp.Sleep(200*time.Millisecond))
	b.screenshots(t, "token-created")

	// The dashboard's live tile counts the request the token makes.
	b.do(t, "open the dashboard", chromedp.Navigate(base+"/admin?tz=UTC"), chromedp.WaitVisible(sel("live-rpm")))
	before := value(t, b, "read the RPM tile", chromedp.Text(sel("live-rpm")))
	if st := chatStatus(t, base, key); st != http.StatusOK {
		t.Fatalf("the relay answered %d to the new token", st)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if now := value(t, b, "read the RPM tile", chromedp.Text(sel("live-rpm"))); now != before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the RPM tile still shows %q 10s after a request", before)
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.screenshots(t, "dashboard")

	// The request is in the logs; its detail opens in the drawer.
	b.do(t, "open the logs", chromedp.Navigate(base+"/admin/logs?tz=UTC"), chromedp.WaitVisible(sel("log-row")))
	if model := value(t, b, "read the row", chromedp.Text(sel("cell-model"))); !strings.Contains(model, "gpt-4o-mini") {
		t.Errorf("the log row's model is %q", model)
	}
	b.screenshots(t, "logs")
	b.do(t, "open the detail", chromedp.Click(sel("log-open")), chromedp.WaitVisible(sel("log-detail")))
	b.screenshots(t, "log-detail")
	b.do(t, "the group's page no longer shows the key", chromedp.Navigate(base+"/admin/groups/acme"), chromedp.WaitVisible(sel("group-title")))
	if html := value(t, b, "page", chromedp.OuterHTML("html")); strings.Contains(html, key) {
		t.Error("the group's page shows the token's key again")
	}
	b.screenshots(t, "groups")

	// An OpenAPI spec uploaded, previewed, saved, and one of its tools
	// tried.
	api := newWeatherAPI(t)
	specFile := filepath.Join(t.TempDir(), "weather.yaml")
	if err := os.WriteFile(specFile, []byte(weatherSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	b.do(t, "upload a spec and preview it", chromedp.Navigate(base+"/admin/mcp/new?kind=openapi"), chromedp.WaitVisible(sel("input-name")),
		chromedp.SendKeys(sel("input-name"), "weather"), chromedp.SetUploadFiles(sel("input-specFile"), []string{specFile}),
		chromedp.SetValue(sel("input-baseURL"), api.URL), chromedp.Click(sel("preview")), chromedp.WaitVisible(sel("preview-tool")))
	b.screenshots(t, "mcp-preview")
	b.do(t, "create the server", chromedp.Click(`#main input[name="allowPrivateNetwork"]`),
		chromedp.SendKeys(sel("input-credential.bearer"), "weather-token"), chromedp.Click(sel("submit")), chromedp.WaitVisible(sel("try")))
	b.screenshots(t, "mcp-server")
	b.do(t, "try the tool", chromedp.Click(sel("try")), chromedp.WaitVisible(sel("input-arg.city")),
		chromedp.SendKeys(sel("input-arg.city"), "Oslo"), chromedp.Click(sel("call")), chromedp.WaitVisible(sel("result-text")))
	if got := value(t, b, "read the result", chromedp.Text(sel("result-text"))); !strings.Contains(got, "clear") {
		t.Errorf("the tool answered %q", got)
	}
	b.screenshots(t, "mcp-try")

	for _, p := range []struct{ path, ready, name string }{
		{"/admin/models", "#main", "models"}, {"/admin/alerts", "#main", "alerts"}, {"/admin/settings", "#main", "settings"}, {"/admin/mcp", "#main", "mcp"},
	} {
		b.do(t, "open "+p.path, chromedp.Navigate(base+p.path), chromedp.WaitVisible(p.ready))
		b.screenshots(t, p.name)
	}

	b.do(t, "open GraphiQL", chromedp.Navigate(base+"/graphql"), chromedp.WaitVisible(".graphiql-container"))
	b.screenshots(t, "graphiql")

	b.do(t, "sign out", chromedp.Navigate(base+"/admin/groups"), chromedp.WaitVisible(sel("signout")), chromedp.Click(sel("signout")),
		chromedp.WaitVisible(sel("signin-key")))
	b.do(t, "the admin pages refuse", chromedp.Navigate(base+"/admin/groups"), chromedp.WaitVisible(sel("signin-key")))
	if loc := value(t, b, "location", chromedp.Location()); !strings.Contains(loc, "/admin/signin") {
		t.Errorf("after sign-out /admin/groups led to %s", loc)
	}

	// The group's token signs in to its read-only view: no admin area in
	// the navigation, and the admin pages refused.
	b.do(t, "sign in with the group's token", chromedp.Navigate(base+"/admin/signin"), chromedp.WaitVisible(sel("signin-key")),
		chromedp.SendKeys(sel("signin-key"), key), chromedp.Click(sel("signin-submit")), chromedp.WaitVisible(sel("dashboard")))
	if nav := value(t, b, "read the navigation", chromedp.Text(sel("nav"))); strings.Contains(nav, "Channels") || strings.Contains(nav, "Settings") {
		t.Errorf("the group's navigation shows admin areas: %q", nav)
	}
	b.screenshots(t, "group-view")
	b.do(t, "a group session on an admin page", chromedp.Navigate(base+"/admin/channels"), chromedp.WaitVisible("#main"))
	if html := value(t, b, "page", chromedp.OuterHTML("#main")); strings.Contains(html, "channel-row") || !strings.Contains(strings.ToLower(html), "admin") {
		t.Errorf("a group session reached the channels page: %.300s", html)
	}
}

// newWeatherAPI is a fake weather API answering every request with a
// clear sky.
func newWeatherAPI(t *testing.T) *httptest.Server {
	t.Helper()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"city": "`+strings.TrimPrefix(r.URL.Path, "/forecast/")+`", "sky": "clear"}`)
	}))
	t.Cleanup(api.Close)
	return api
}
