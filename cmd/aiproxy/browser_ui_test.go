package main

import (
	"net/http"
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
	admin(t, g.srv.URL, `mutation($u: String!) { createChannel(input: {name: "fake", type: "openai", baseURL: $u, key: "sk-upstream", models: ["gpt-4o-mini"]}) { id } }`,
		map[string]any{"u": up.URL + "/v1"}, nil)
	base := g.srv.URL
	sel := func(id string) string { return `[data-testid="` + id + `"]` }

	b.do(t, "open the sign-in page", chromedp.Navigate(base+"/admin/signin?next=/admin/groups"), chromedp.WaitVisible(sel("signin-key")))
	b.screenshots(t, "signin")
	b.do(t, "sign in", chromedp.SendKeys(sel("signin-key"), adminKey), chromedp.Click(sel("signin-submit")), chromedp.WaitVisible(sel("groups-results")))

	b.do(t, "create a group", chromedp.Click(sel("new-group")), chromedp.WaitVisible(sel("group-form")),
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
	if st := chatStatus(t, base, key); st != http.StatusOK {
		t.Fatalf("the relay answered %d to the new token", st)
	}
	b.do(t, "the group's page no longer shows the key", chromedp.Navigate(base+"/admin/groups/acme"), chromedp.WaitVisible(sel("group-title")))
	if html := value(t, b, "page", chromedp.OuterHTML("html")); strings.Contains(html, key) {
		t.Error("the group's page shows the token's key again")
	}
	b.screenshots(t, "groups")

	b.do(t, "open GraphiQL", chromedp.Navigate(base+"/graphql"), chromedp.WaitVisible(".graphiql-container"))
	b.screenshots(t, "graphiql")

	b.do(t, "sign out", chromedp.Navigate(base+"/admin/groups"), chromedp.WaitVisible(sel("signout")), chromedp.Click(sel("signout")),
		chromedp.WaitVisible(sel("signin-key")))
	b.do(t, "the admin pages refuse", chromedp.Navigate(base+"/admin/groups"), chromedp.WaitVisible(sel("signin-key")))
	if loc := value(t, b, "location", chromedp.Location()); !strings.Contains(loc, "/admin/signin") {
		t.Errorf("after sign-out /admin/groups led to %s", loc)
	}
}
