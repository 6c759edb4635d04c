package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/store"
)

// BenchmarkAdminLists renders the admin UI's list pages through the wired
// gateway (SQLite, the session and CSRF middleware, the CSP) with 10,000
// channels, 10,000 groups and 10,000 tokens stored: one page of 50 rows of
// each, read from the in-memory cache rather than the database.
func BenchmarkAdminLists(b *testing.B) {
	cfg := testConfig(b, "")
	ctx := context.Background()
	// The rows are written by a store that is not started (so no change
	// reloads its cache) before the gateway opens the database.
	db, err := store.OpenSchema(ctx, cfg.DSN(), store.SchemaAll)
	if err != nil {
		b.Fatal(err)
	}
	st := store.New(db, db)
	for i := range 10_000 {
		if err := st.CreateChannel(ctx, &aiproxy.Channel{Name: fmt.Sprintf("ch-%05d", i), Type: "openai", Key: "k", Models: []string{fmt.Sprintf("m-%d", i%50)}, Enabled: true, Weight: 1}); err != nil {
			b.Fatal(err)
		}
		id := fmt.Sprintf("g-%05d", i)
		if err := st.CreateGroup(ctx, &aiproxy.Group{ID: id, Enabled: true}); err != nil {
			b.Fatal(err)
		}
		if _, err := st.CreateToken(ctx, &aiproxy.Token{GroupID: id, Name: "t", Enabled: true}); err != nil {
			b.Fatal(err)
		}
	}
	db.Close()
	g := startGateway(b, cfg)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(g.srv.URL+"/admin/signin", url.Values{"key": {adminKey}})
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "aiproxy_session" {
			cookie = c
		}
	}
	if cookie == nil {
		b.Fatalf("sign-in answered %d without a session", resp.StatusCode)
	}
	for _, page := range []string{"/admin/channels?page=100", "/admin/groups?page=100", "/admin/tokens?page=100", "/admin/channels?q=m-7&sort=name"} {
		b.Run(strings.TrimPrefix(page, "/admin/"), func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, page, nil)
				req.AddCookie(cookie)
				w := httptest.NewRecorder()
				g.app.handler.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d", page, w.Code)
				}
			}
		})
	}
}
