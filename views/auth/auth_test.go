package auth_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/go-chi/chi/v5"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/views/auth"
	"github.com/aiproxy/aiproxy/views/web"
	"github.com/aiproxy/aiproxy/views/web/webtest"
)

// newServer returns the area and a dashboard behind RequireSignedIn,
// wired as cmd/aiproxy does.
func newServer(a *web.Auth) http.Handler {
	r := chi.NewRouter()
	auth.Mount(r, a)
	r.Group(func(r chi.Router) {
		r.Use(a.Session, a.CSRF, web.RequireSignedIn)
		r.Get("/admin", func(w http.ResponseWriter, r *http.Request) {
			web.Page(w, r, web.PageData{Title: "Dashboard", Area: "dashboard"}, nil)
		})
	})
	return r
}

// request is a request to the server.
type request struct {
	method, target string
	form           url.Values
	cookie         *http.Cookie
	addr           string // RemoteAddr; "" for httptest's
	tls            bool
	headers        []string // pairs
}

func send(tb testing.TB, h http.Handler, q request) *http.Response {
	tb.Helper()
	var body io.Reader
	if q.form != nil {
		body = strings.NewReader(q.form.Encode())
	}
	r := httptest.NewRequest(q.method, q.target, body)
	if q.form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if q.cookie != nil {
		r.AddCookie(q.cookie)
	}
	if q.addr != "" {
		r.RemoteAddr = q.addr
	}
	if q.tls {
		r.TLS = &tls.ConnectionState{}
	}
	for i := 0; i+1 < len(q.headers); i += 2 {
		r.Header.Set(q.headers[i], q.headers[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

// sessionCookie returns the last session cookie res sets, or nil.
func sessionCookie(res *http.Response) *http.Cookie {
	var c *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == web.CookieName {
			c = ck
		}
	}
	return c
}

func document(tb testing.TB, res *http.Response) (*goquery.Document, string) {
	tb.Helper()
	b, _ := io.ReadAll(res.Body)
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(string(b)))
	if err != nil {
		tb.Fatal(err)
	}
	return doc, string(b)
}

// TestSignInForm: the form has one labelled password input, no
// autocomplete, and keeps a local next.
func TestSignInForm(t *testing.T) {
	h := newServer(webtest.NewAuth(nil))
	for _, tt := range []struct{ next, want string }{
		{"/admin/logs?page=2", "/admin/logs?page=2"},
		{"https://evil.example/admin", ""},
		{"//evil.example", ""},
	} {
		res := send(t, h, request{method: http.MethodGet, target: "/admin/signin?next=" + url.QueryEscape(tt.next)})
		if res.StatusCode != http.StatusOK {
			t.Fatalf("got %d", res.StatusCode)
		}
		doc, _ := document(t, res)
		in := doc.Find(`[data-testid="signin-form"] input[data-testid="signin-key"]`)
		if in.AttrOr("type", "") != "password" || in.AttrOr("autocomplete", "") != "off" || in.AttrOr("name", "") != "key" {
			t.Errorf("key input %v", in.Nodes)
		}
		if doc.Find(`label[for="`+in.AttrOr("id", "-")+`"]`).Text() != "Admin key or group token" {
			t.Error("the input has no label")
		}
		if doc.Find(`[data-testid="nav"], [data-testid="signout-form"]`).Length() != 0 {
			t.Error("navigation shown to nobody")
		}
		if got := doc.Find(`[data-testid="signin-form"] input[name="next"]`).AttrOr("value", ""); got != tt.want {
			t.Errorf("next %q, want %q", got, tt.want)
		}
	}
}

// TestSignIn: the admin key and a group token open their sessions, in a
// cookie that is HttpOnly, SameSite=Strict, on /admin, Secure over TLS,
// and holds no key.
func TestSignIn(t *testing.T) {
	f := webtest.NewTokens()
	_, key := f.Add(&aiproxy.Group{ID: "team-a", Enabled: true}, "ci")
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name   string
		key    string
		next   string
		tls    bool
		addr   string
		proto  string
		admin  bool
		secure bool
		to     string
	}{
		{name: "admin", key: webtest.AdminKey, admin: true, to: "/admin"},
		{name: "admin, padded", key: "  " + webtest.AdminKey + "\n", admin: true, to: "/admin"},
		{name: "admin over TLS", key: webtest.AdminKey, tls: true, admin: true, secure: true, to: "/admin"},
		{name: "admin behind a trusted proxy", key: webtest.AdminKey, addr: "10.1.2.3:5000", proto: "https", admin: true, secure: true, to: "/admin"},
		{name: "X-Forwarded-Proto of an untrusted peer", key: webtest.AdminKey, addr: "192.0.2.9:5000", proto: "https", admin: true, to: "/admin"},
		{name: "admin to next", key: webtest.AdminKey, next: "/admin/logs?page=2", admin: true, to: "/admin/logs?page=2"},
		{name: "admin to another site", key: webtest.AdminKey, next: "https://evil.example/", admin: true, to: "/admin"},
		{name: "group token", key: key, to: "/admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := webtest.NewAuth(f)
			a.TrustedProxies = trusted
			h := newServer(a)
			form := url.Values{"key": {tt.key}}
			if tt.next != "" {
				form.Set("next", tt.next)
			}
			q := request{method: http.MethodPost, target: "/admin/signin", form: form, tls: tt.tls, addr: tt.addr}
			if tt.proto != "" {
				q.headers = []string{"X-Forwarded-Proto", tt.proto}
			}
			res := send(t, h, q)
			if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != tt.to {
				t.Fatalf("got %d to %q, want 303 to %q", res.StatusCode, res.Header.Get("Location"), tt.to)
			}
			c := sessionCookie(res)
			switch {
			case c == nil:
				t.Fatal("no session cookie")
			case !c.HttpOnly:
				t.Error("not HttpOnly")
			case c.SameSite != http.SameSiteStrictMode:
				t.Errorf("SameSite %v", c.SameSite)
			case c.Path != "/admin":
				t.Errorf("Path %q", c.Path)
			case c.Secure != tt.secure:
				t.Errorf("Secure %v, want %v", c.Secure, tt.secure)
			case c.MaxAge <= 0 || c.Expires.IsZero():
				t.Errorf("no expiry: Max-Age %d, Expires %v", c.MaxAge, c.Expires)
			}
			for _, secret := range []string{strings.TrimSpace(tt.key), aiproxy.HashKey(strings.TrimSpace(tt.key)), url.QueryEscape(strings.TrimSpace(tt.key))} {
				if strings.Contains(c.Value, secret) || strings.Contains(decoded(c.Value), secret) {
					t.Error("the cookie holds the key or its hash")
				}
			}
			res = send(t, h, request{method: http.MethodGet, target: "/admin", cookie: c, addr: tt.addr})
			if res.StatusCode != http.StatusOK {
				t.Fatalf("dashboard: got %d", res.StatusCode)
			}
			doc, body := document(t, res)
			if got := doc.Find(`[data-testid="viewer"]`).AttrOr("data-admin", ""); got != map[bool]string{true: "true", false: "false"}[tt.admin] {
				t.Errorf("data-admin %q, want %v", got, tt.admin)
			}
			if strings.Contains(body, strings.TrimSpace(tt.key)) {
				t.Error("the page shows the key")
			}
		})
	}
}

// decoded returns the base64url payload of a cookie value, decoded.
func decoded(v string) string {
	p, _, _ := strings.Cut(v, ".")
	b, _ := base64URL.DecodeString(p)
	return string(b)
}

// TestSignInRefused: a key that opens no session gets the form again,
// 401, with the error beside the input, and neither the key nor a cookie.
func TestSignInRefused(t *testing.T) {
	f := webtest.NewTokens()
	disabled, disabledKey := f.Add(&aiproxy.Group{ID: "team-a", Enabled: true}, "old")
	f.UpdateToken(disabled.ID, func(t *aiproxy.Token) { t.Enabled = false })
	_, offGroupKey := f.Add(&aiproxy.Group{ID: "team-off", Enabled: false}, "ci")
	limited, limitedKey := f.Add(&aiproxy.Group{ID: "team-a", Enabled: true}, "office")
	f.UpdateToken(limited.ID, func(t *aiproxy.Token) { t.Subnets = []string{"10.9.9.0/24"} })
	tests := []struct {
		name string
		key  string
		want int
	}{
		{"wrong key", "sk-not-a-key-of-this-gateway", http.StatusUnauthorized},
		{"empty", "", http.StatusUnauthorized},
		{"admin key with a typo", webtest.AdminKey + "x", http.StatusUnauthorized},
		{"disabled token", disabledKey, http.StatusUnauthorized},
		{"token of a disabled group", offGroupKey, http.StatusForbidden},
		{"token from another address", limitedKey, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newServer(webtest.NewAuth(f))
			res := send(t, h, request{method: http.MethodPost, target: "/admin/signin", form: url.Values{"key": {tt.key}}})
			if res.StatusCode != tt.want {
				t.Fatalf("got %d, want %d", res.StatusCode, tt.want)
			}
			if c := sessionCookie(res); c != nil && c.MaxAge >= 0 {
				t.Error("a session cookie was set")
			}
			doc, body := document(t, res)
			msg := doc.Find(`[data-testid="error-key"]`)
			if msg.Length() != 1 || strings.TrimSpace(msg.Text()) == "" {
				t.Fatal("no error beside the input")
			}
			in := doc.Find(`[data-testid="signin-key"]`)
			if in.AttrOr("aria-invalid", "") != "true" || in.AttrOr("aria-describedby", "") != msg.AttrOr("id", "-") {
				t.Error("the input does not point at its error")
			}
			if _, ok := in.Attr("value"); ok {
				t.Error("the input has a value")
			}
			if tt.key != "" && strings.Contains(body, tt.key) {
				t.Error("the key is echoed")
			}
		})
	}
}

// TestSignInThrottled: the 6th attempt within a minute from one address
// gets 429, even with the right key; other addresses are not affected.
func TestSignInThrottled(t *testing.T) {
	h := newServer(webtest.NewAuth(nil))
	attempt := func(key, addr string) *http.Response {
		return send(t, h, request{method: http.MethodPost, target: "/admin/signin", form: url.Values{"key": {key}}, addr: addr})
	}
	for i := range 5 {
		if res := attempt("wrong", "203.0.113.7:1000"); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: got %d, want 401", i+1, res.StatusCode)
		}
	}
	for _, tt := range []struct {
		name, key, addr string
		want            int
	}{
		{"6th attempt", "wrong", "203.0.113.7:1000", http.StatusTooManyRequests},
		{"the right key, throttled", webtest.AdminKey, "203.0.113.7:2000", http.StatusTooManyRequests},
		{"another address", "wrong", "203.0.113.8:1000", http.StatusUnauthorized},
		{"another address, right key", webtest.AdminKey, "203.0.113.9:1000", http.StatusSeeOther},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := attempt(tt.key, tt.addr)
			if res.StatusCode != tt.want {
				t.Fatalf("got %d, want %d", res.StatusCode, tt.want)
			}
			if tt.want != http.StatusTooManyRequests {
				return
			}
			if res.Header.Get("Retry-After") != "60" {
				t.Errorf("Retry-After %q", res.Header.Get("Retry-After"))
			}
			if c := sessionCookie(res); c != nil && c.MaxAge >= 0 {
				t.Error("a session cookie was set")
			}
			doc, _ := document(t, res)
			if !strings.Contains(doc.Find(`[data-testid="error-key"]`).Text(), "Too many sign-in attempts") {
				t.Error("no throttling message")
			}
		})
	}
}

// TestSignOut: signing out clears the cookie, and needs the session's
// CSRF token.
func TestSignOut(t *testing.T) {
	a := webtest.NewAuth(nil)
	h := newServer(a)
	c, s := webtest.SignIn(t, a, webtest.AdminKey)
	if res := send(t, h, request{method: http.MethodPost, target: "/admin/signout", form: url.Values{}, cookie: c}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("without the CSRF token: got %d, want 403", res.StatusCode)
	}
	res := send(t, h, request{method: http.MethodPost, target: "/admin/signout", form: url.Values{"csrf": {s.CSRF}}, cookie: c})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/admin/signin" {
		t.Fatalf("got %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	got := sessionCookie(res)
	if got == nil || got.MaxAge >= 0 || got.Value != "" || got.Path != "/admin" {
		t.Fatalf("cookie %+v, want it cleared", got)
	}
	// The browser now sends no cookie: the dashboard refuses.
	if res := send(t, h, request{method: http.MethodGet, target: "/admin"}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("after sign-out: got %d, want 303", res.StatusCode)
	}
	// Signed in, the sign-in page goes to the dashboard.
	if res := send(t, h, request{method: http.MethodGet, target: "/admin/signin", cookie: c}); res.Header.Get("Location") != "/admin" {
		t.Fatalf("sign-in page when signed in: got %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
}

// TestTheme: the switch keeps the scheme in a cookie the layout reads.
func TestTheme(t *testing.T) {
	a := webtest.NewAuth(nil)
	h := newServer(a)
	c, s := webtest.SignIn(t, a, webtest.AdminKey)
	for _, tt := range []struct{ theme, want string }{{"dark", "dark"}, {"light", "light"}, {"system", ""}, {"<script>", ""}} {
		res := send(t, h, request{method: http.MethodPost, target: "/admin/theme", cookie: c,
			form: url.Values{"csrf": {s.CSRF}, "theme": {tt.theme}, "next": {"/admin?range=7d"}}})
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/admin?range=7d" {
			t.Fatalf("%s: got %d to %q", tt.theme, res.StatusCode, res.Header.Get("Location"))
		}
		var theme *http.Cookie
		for _, ck := range res.Cookies() {
			if ck.Name == web.ThemeCookie {
				theme = ck
			}
		}
		if theme == nil {
			t.Fatalf("%s: no theme cookie", tt.theme)
		}
		res = func() *http.Response {
			r := httptest.NewRequest(http.MethodGet, "/admin", nil)
			r.AddCookie(c)
			if theme.MaxAge > 0 {
				r.AddCookie(theme)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			return w.Result()
		}()
		doc, _ := document(t, res)
		if got := doc.Find("html").AttrOr("data-theme", ""); got != tt.want {
			t.Errorf("%s: data-theme %q, want %q", tt.theme, got, tt.want)
		}
		if got := doc.Find(`[data-testid="theme-`+strings.Trim(tt.theme, "<>")+`"]`).AttrOr("aria-pressed", ""); tt.want != "" && got != "true" {
			t.Errorf("%s: aria-pressed %q", tt.theme, got)
		}
	}
}

// TestSignInCrossSite: a sign-in form posted from another site is refused
// (no login CSRF), whatever the key.
func TestSignInCrossSite(t *testing.T) {
	h := newServer(webtest.NewAuth(nil))
	for _, hdr := range [][]string{{"Origin", "https://evil.example"}, {"Referer", "https://evil.example/login"}} {
		res := send(t, h, request{method: http.MethodPost, target: "/admin/signin", form: url.Values{"key": {webtest.AdminKey}}, headers: hdr})
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("%s: got %d, want 403", hdr[0], res.StatusCode)
		}
		if c := sessionCookie(res); c != nil && c.MaxAge >= 0 {
			t.Errorf("%s: a session cookie was set", hdr[0])
		}
	}
}
