package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
	"github.com/go-chi/chi/v5"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/views/layout"
	"github.com/aiproxy/aiproxy/views/web"
	"github.com/aiproxy/aiproxy/views/web/webtest"
)

// content is a page's content for the tests.
func content(testid string) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		_, err := io.WriteString(w, `<h1 data-testid="`+testid+`">`+testid+`</h1>`)
		return err
	})
}

// newServer returns a router of a few pages behind a's middleware, wired
// as cmd/aiproxy wires the admin UI.
func newServer(a *web.Auth) http.Handler {
	r := chi.NewRouter()
	r.Group(func(r chi.Router) {
		r.Use(a.Session, a.CSRF)
		r.With(web.RequireSignedIn).Get("/admin", func(w http.ResponseWriter, r *http.Request) {
			web.Page(w, r, web.PageData{Title: "Dashboard", Area: layout.AreaDashboard}, content("dashboard"))
		})
		r.With(web.RequireSignedIn).Get("/admin/logs", func(w http.ResponseWriter, r *http.Request) {
			web.Page(w, r, web.PageData{Title: "Logs", Area: "logs"}, content("logs"))
		})
		r.With(web.RequireSignedIn).MethodFunc(http.MethodPost, "/admin/things", noContent)
		r.With(web.RequireSignedIn).MethodFunc(http.MethodDelete, "/admin/things", noContent)
		r.With(web.RequireAdmin).Get("/admin/channels", func(w http.ResponseWriter, r *http.Request) {
			web.Page(w, r, web.PageData{Title: "Channels", Area: layout.AreaChannels}, content("channels"))
		})
	})
	return r
}

func noContent(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }

// do sends a request to h with the cookie (if any) and headers (pairs).
func do(tb testing.TB, h http.Handler, method, target string, body url.Values, c *http.Cookie, headers ...string) *http.Response {
	tb.Helper()
	var r *http.Request
	if body != nil {
		r = httptest.NewRequest(method, target, strings.NewReader(body.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		r = httptest.NewRequest(method, target, nil)
	}
	if c != nil {
		r.AddCookie(c)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func document(tb testing.TB, res *http.Response) *goquery.Document {
	tb.Helper()
	doc, err := goquery.NewDocumentFromReader(res.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return doc
}

// cleared reports whether res deletes the session cookie.
func cleared(res *http.Response) bool {
	for _, c := range res.Cookies() {
		if c.Name == web.CookieName && c.MaxAge < 0 {
			return true
		}
	}
	return false
}

// TestSessionCookieRefused: a cookie that was not issued as it is, or has
// expired, or was signed under another admin key, opens no session: the
// page redirects to the sign-in page and the cookie is cleared.
func TestSessionCookieRefused(t *testing.T) {
	a := webtest.NewAuth(nil)
	good, _ := webtest.SignIn(t, a, webtest.AdminKey)
	payload, sig, _ := strings.Cut(good.Value, ".")
	other := webtest.NewAuth(nil)
	other.AdminKey = "another admin key"
	forged, _ := webtest.SignIn(t, other, "another admin key")
	tampered := []byte(payload)
	tampered[len(tampered)/2] ^= 1

	tests := []struct {
		name  string
		value string
		auth  *web.Auth
	}{
		{"garbage", "not a cookie", a},
		{"no signature", payload, a},
		{"forged with another secret", forged.Value, a},
		{"tampered payload", string(tampered) + "." + sig, a},
		{"tampered signature", payload + "." + strings.Repeat("A", len(sig)), a},
		{"expired", good.Value, &web.Auth{AdminKey: webtest.AdminKey, Now: func() time.Time { return time.Now().Add(13 * time.Hour) }}},
		{"admin key changed", good.Value, &web.Auth{AdminKey: "a new admin key", Secret: []byte(strings.Repeat("s", 32))}},
		{"signed with the same secret, admin key changed", good.Value, &web.Auth{AdminKey: "a new admin key", Secret: web.DeriveSecret(webtest.AdminKey, "")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := do(t, newServer(tt.auth), http.MethodGet, "/admin/logs?x=1", nil, &http.Cookie{Name: web.CookieName, Value: tt.value})
			if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/admin/signin?next=%2Fadmin%2Flogs%3Fx%3D1" {
				t.Fatalf("got %d to %q, want 303 to the sign-in page", res.StatusCode, res.Header.Get("Location"))
			}
			if !cleared(res) {
				t.Error("the cookie was not cleared")
			}
		})
	}
	t.Run("valid", func(t *testing.T) {
		if res := do(t, newServer(a), http.MethodGet, "/admin/logs", nil, good); res.StatusCode != http.StatusOK {
			t.Fatalf("got %d, want 200", res.StatusCode)
		}
	})
	t.Run("same admin key on another replica", func(t *testing.T) {
		replica := &web.Auth{AdminKey: webtest.AdminKey}
		if res := do(t, newServer(replica), http.MethodGet, "/admin/logs", nil, good); res.StatusCode != http.StatusOK {
			t.Fatalf("got %d, want 200", res.StatusCode)
		}
	})
}

// TestGroupSessionRechecked: a group session ends on the next request
// once its token is disabled, expired or deleted, or its group disabled.
func TestGroupSessionRechecked(t *testing.T) {
	past := time.Now().Add(-time.Minute)
	tests := []struct {
		name   string
		change func(f *webtest.Tokens, tok *aiproxy.Token)
	}{
		{"token disabled", func(f *webtest.Tokens, tok *aiproxy.Token) {
			f.UpdateToken(tok.ID, func(t *aiproxy.Token) { t.Enabled = false })
		}},
		{"token expired", func(f *webtest.Tokens, tok *aiproxy.Token) {
			f.UpdateToken(tok.ID, func(t *aiproxy.Token) { t.ExpiresAt = &past })
		}},
		{"token deleted", func(f *webtest.Tokens, tok *aiproxy.Token) { f.DeleteToken(tok.ID) }},
		{"token limited to other subnets", func(f *webtest.Tokens, tok *aiproxy.Token) {
			f.UpdateToken(tok.ID, func(t *aiproxy.Token) { t.Subnets = []string{"10.9.9.0/24"} })
		}},
		{"group disabled", func(f *webtest.Tokens, tok *aiproxy.Token) {
			f.UpdateGroup(tok.GroupID, func(g *aiproxy.Group) { g.Enabled = false })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := webtest.NewTokens()
			tok, key := f.Add(&aiproxy.Group{ID: "team-a", Enabled: true}, "ci")
			a := webtest.NewAuth(f)
			h := newServer(a)
			c, s := webtest.SignIn(t, a, key)
			if s.Admin || s.GroupID != "team-a" || s.TokenID != tok.ID || s.TokenName != "ci" {
				t.Fatalf("session %+v, want team-a's read-only one", s)
			}
			if res := do(t, h, http.MethodGet, "/admin", nil, c); res.StatusCode != http.StatusOK {
				t.Fatalf("before: got %d, want 200", res.StatusCode)
			}
			tt.change(f, tok)
			res := do(t, h, http.MethodGet, "/admin", nil, c)
			if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), web.SignInPath) {
				t.Fatalf("after: got %d to %q, want 303 to the sign-in page", res.StatusCode, res.Header.Get("Location"))
			}
			if !cleared(res) {
				t.Error("the cookie was not cleared")
			}
		})
	}
}

// TestCSRF: a state-changing request of a session must carry that
// session's token and come from this host.
func TestCSRF(t *testing.T) {
	a := webtest.NewAuth(nil)
	h := newServer(a)
	c, s := webtest.SignIn(t, a, webtest.AdminKey)
	_, other := webtest.SignIn(t, a, webtest.AdminKey)
	if other.CSRF == s.CSRF {
		t.Fatal("two sessions share a CSRF token")
	}
	tests := []struct {
		name    string
		method  string
		form    url.Values
		cookie  *http.Cookie
		headers []string
		want    int
	}{
		{"no token", http.MethodPost, url.Values{"a": {"1"}}, c, nil, http.StatusForbidden},
		{"another session's token", http.MethodPost, url.Values{"csrf": {other.CSRF}}, c, nil, http.StatusForbidden},
		{"another session's token in the header", http.MethodPost, nil, c, []string{"X-CSRF-Token", other.CSRF}, http.StatusForbidden},
		{"a truncated token", http.MethodPost, url.Values{"csrf": {s.CSRF[:10]}}, c, nil, http.StatusForbidden},
		{"token in the form", http.MethodPost, url.Values{"csrf": {s.CSRF}}, c, nil, http.StatusNoContent},
		{"token in the header", http.MethodPost, nil, c, []string{"X-CSRF-Token", s.CSRF}, http.StatusNoContent},
		{"same origin", http.MethodPost, url.Values{"csrf": {s.CSRF}}, c, []string{"Origin", "http://example.com"}, http.StatusNoContent},
		{"another origin", http.MethodPost, url.Values{"csrf": {s.CSRF}}, c, []string{"Origin", "https://evil.example"}, http.StatusForbidden},
		{"another referer", http.MethodPost, url.Values{"csrf": {s.CSRF}}, c, []string{"Referer", "https://evil.example/x"}, http.StatusForbidden},
		{"opaque origin", http.MethodPost, url.Values{"csrf": {s.CSRF}}, c, []string{"Origin", "null"}, http.StatusForbidden},
		{"DELETE without token", http.MethodDelete, nil, c, nil, http.StatusForbidden},
		{"no session: sent to sign in", http.MethodPost, url.Values{}, nil, nil, http.StatusSeeOther},
		{"GET needs none", http.MethodGet, nil, c, nil, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := "/admin/things"
			if tt.method == http.MethodGet {
				target = "/admin/logs"
			}
			res := do(t, h, tt.method, target, tt.form, tt.cookie, tt.headers...)
			if res.StatusCode != tt.want {
				t.Fatalf("got %d, want %d", res.StatusCode, tt.want)
			}
			if tt.want == http.StatusForbidden {
				if doc := document(t, res); doc.Find(`[data-testid="error"]`).Length() != 1 {
					t.Error("no error message")
				}
			}
		})
	}
}

// TestRender: a page request gets the whole page in the layout; an HTMX
// request only the title, the header (out of band) and #main, unless it
// restores the history.
func TestRender(t *testing.T) {
	a := webtest.NewAuth(nil)
	h := newServer(a)
	c, s := webtest.SignIn(t, a, webtest.AdminKey)
	tests := []struct {
		name    string
		headers []string
		full    bool
	}{
		{"page", nil, true},
		{"htmx", []string{"HX-Request", "true"}, false},
		{"htmx boosted", []string{"HX-Request", "true", "HX-Boosted", "true"}, false},
		{"history restore", []string{"HX-Request", "true", "HX-History-Restore-Request", "true"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := do(t, h, http.MethodGet, "/admin/logs", nil, c, tt.headers...)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("got %d", res.StatusCode)
			}
			if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if v := res.Header.Get("Vary"); !strings.Contains(v, "HX-Request") {
				t.Errorf("Vary %q, want HX-Request", v)
			}
			body, _ := io.ReadAll(res.Body)
			html := string(body)
			if got := strings.HasPrefix(html, "<!doctype html>"); got != tt.full {
				t.Errorf("doctype: %v, want %v", got, tt.full)
			}
			if got := strings.Contains(html, "<head>"); got != tt.full {
				t.Errorf("head: %v, want %v", got, tt.full)
			}
			doc, _ := goquery.NewDocumentFromReader(strings.NewReader(html))
			if got := doc.Find("title").Text(); got != "Logs · aiproxy" {
				t.Errorf("title %q", got)
			}
			if doc.Find(`main#main [data-testid="logs"]`).Length() != 1 {
				t.Error("no content in main#main")
			}
			hdr := doc.Find(`header[data-testid="header"]`)
			if _, oob := hdr.Attr("hx-swap-oob"); !oob {
				t.Error("the header is not swapped out of band")
			}
			if cur := doc.Find(`nav [aria-current="page"]`); cur.Length() != 1 || cur.AttrOr("data-testid", "") != "nav-logs" {
				t.Errorf("current link %q, want nav-logs", cur.AttrOr("data-testid", ""))
			}
			if got := doc.Find(`[data-testid="signout-form"] input[name="csrf"]`).AttrOr("value", ""); got != s.CSRF {
				t.Errorf("sign-out form's csrf %q, want the session's", got)
			}
			if tt.full {
				body := doc.Find(`body`)
				if body.AttrOr("hx-boost", "") != "true" || body.AttrOr("hx-target", "") != "#main" || body.AttrOr("hx-select", "") != "#main" {
					t.Error("body is not boosted onto #main")
				}
				if !strings.Contains(body.AttrOr("hx-headers", ""), s.CSRF) {
					t.Error("htmx does not send the CSRF token")
				}
				if doc.Find(`[data-testid="skip-link"][href="#main"]`).Length() != 1 {
					t.Error("no skip link")
				}
				if doc.Find(`html[lang="en"]`).Length() != 1 {
					t.Error("no lang")
				}
				if n := doc.Find("script:not([src]), style, [style]").Length(); n != 0 {
					t.Errorf("%d inline scripts or styles", n)
				}
				doc.Find("script").Each(func(_ int, s *goquery.Selection) {
					if _, ok := s.Attr("defer"); !ok {
						t.Errorf("script %s not deferred", s.AttrOr("src", ""))
					}
				})
			}
		})
	}
}

// TestNav: the admin sees every area; a group session only the dashboard,
// its own group's tokens, the logs and MCP.
func TestNav(t *testing.T) {
	f := webtest.NewTokens()
	_, key := f.Add(&aiproxy.Group{ID: "team a", Enabled: true}, "ci")
	a := webtest.NewAuth(f)
	h := newServer(a)
	tests := []struct {
		name string
		key  string
		want []string
	}{
		{"admin", webtest.AdminKey, []string{"/admin", "/admin/channels", "/admin/groups", "/admin/models", "/admin/logs", "/admin/mcp", "/admin/alerts", "/admin/settings"}},
		{"group", key, []string{"/admin", "/admin/groups/team%20a", "/admin/logs", "/admin/mcp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := webtest.SignIn(t, a, tt.key)
			doc := document(t, do(t, h, http.MethodGet, "/admin", nil, c))
			var got []string
			doc.Find(`[data-testid="nav"] a`).Each(func(_ int, s *goquery.Selection) { got = append(got, s.AttrOr("href", "")) })
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("links %q, want %q", got, tt.want)
			}
			if cur := doc.Find(`[aria-current="page"]`).AttrOr("data-testid", ""); cur != "nav-dashboard" {
				t.Errorf("current %q", cur)
			}
		})
	}
}

// TestRequireAdmin: a group session gets 403 on the admin's pages, no
// session goes to sign in (401 with HX-Redirect for htmx).
func TestRequireAdmin(t *testing.T) {
	f := webtest.NewTokens()
	_, key := f.Add(&aiproxy.Group{ID: "team-a", Enabled: true}, "ci")
	a := webtest.NewAuth(f)
	h := newServer(a)
	admin, _ := webtest.SignIn(t, a, webtest.AdminKey)
	group, _ := webtest.SignIn(t, a, key)
	tests := []struct {
		name     string
		cookie   *http.Cookie
		headers  []string
		want     int
		location string
		redirect string
	}{
		{"admin", admin, nil, http.StatusOK, "", ""},
		{"group", group, nil, http.StatusForbidden, "", ""},
		{"group, htmx", group, []string{"HX-Request", "true"}, http.StatusForbidden, "", ""},
		{"nobody", nil, nil, http.StatusSeeOther, "/admin/signin?next=%2Fadmin%2Fchannels", ""},
		{"nobody, htmx boosted", nil, []string{"HX-Request", "true", "HX-Boosted", "true"}, http.StatusUnauthorized, "", "/admin/signin?next=%2Fadmin%2Fchannels"},
		{"nobody, htmx fragment", nil, []string{"HX-Request", "true", "HX-Current-URL", "http://example.com/admin/logs?page=2"}, http.StatusUnauthorized, "", "/admin/signin?next=%2Fadmin%2Flogs%3Fpage%3D2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := do(t, h, http.MethodGet, "/admin/channels", nil, tt.cookie, tt.headers...)
			if res.StatusCode != tt.want || res.Header.Get("Location") != tt.location || res.Header.Get("HX-Redirect") != tt.redirect {
				t.Fatalf("got %d, Location %q, HX-Redirect %q; want %d, %q, %q", res.StatusCode,
					res.Header.Get("Location"), res.Header.Get("HX-Redirect"), tt.want, tt.location, tt.redirect)
			}
			if tt.want == http.StatusForbidden {
				doc := document(t, res)
				if doc.Find(`[data-testid="error-page"][data-status="403"]`).Length() != 1 || doc.Find(`[data-testid="channels"]`).Length() != 0 {
					t.Error("not the 403 page")
				}
			}
		})
	}
}

func TestFieldErrorsOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want web.FieldErrors
	}{
		{"nil", nil, nil},
		{"field", aiproxy.FieldErrorf("name", "name is required"), web.FieldErrors{"name": "name is required"}},
		{"invalid, no field", aiproxy.Errorf(aiproxy.EINVALID, "bad"), web.FieldErrors{"": "bad"}},
		{"conflict", aiproxy.Errorf(aiproxy.ECONFLICT, "taken"), web.FieldErrors{"": "taken"}},
		{"internal", io.ErrUnexpectedEOF, web.FieldErrors{"": "internal error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := web.FieldErrorsOf(tt.err)
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%q: got %q, want %q", k, got[k], v)
				}
			}
		})
	}
	fe := web.FieldErrors{"name": "name is required"}
	if fe.Invalid("name") != "true" || fe.Invalid("rpm") != "false" || fe.DescribedBy("name") != "error-name" || fe.DescribedBy("rpm") != "" {
		t.Error("FieldErrors helpers")
	}
}

func TestLocalPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/admin", "/admin"},
		{"/admin/logs?model=gpt-4o&page=2", "/admin/logs?model=gpt-4o&page=2"},
		{"", ""},
		{"/", ""},
		{"/administrator", ""},
		{"https://evil.example/admin", ""},
		{"//evil.example/admin", ""},
		{"/\\evil.example", ""},
		{"javascript:alert(1)", ""},
		{"/admin/\r\nSet-Cookie: x", ""},
	}
	for _, tt := range tests {
		if got := web.LocalPath(tt.in); got != tt.want {
			t.Errorf("LocalPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// What cmd/aiproxy wires into an Auth.
var (
	_ web.TokenReader = (*store.Store)(nil)
	_ web.Throttle    = (*store.MemoryThrottle)(nil)
	_ web.Throttle    = (*store.RedisThrottle)(nil)
	_ relay.Keys      = (*store.Cache)(nil)
)
