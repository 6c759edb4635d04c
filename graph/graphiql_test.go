package graph_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/aiproxy/aiproxy/graph"
	"github.com/aiproxy/aiproxy/static"
)

// graphiQLServer serves the GraphiQL page at /admin/graphql, behind
// static.SecurityHeaders as cmd/aiproxy mounts it, and the assets.
func graphiQLServer(tb testing.TB) *http.ServeMux {
	tb.Helper()
	mux := http.NewServeMux()
	mux.Handle(static.Prefix, static.Handler())
	mux.Handle("/admin/graphql", static.SecurityHeaders(graph.GraphiQL("")))
	return mux
}

// pageRefs returns the src and href attributes of a page, with the tag
// of each, the attributes of the element of id "graphiql", and the inline
// scripts, styles and event handlers it holds.
func pageRefs(tb testing.TB, page string) (refs, mount map[string]string, inline []string) {
	tb.Helper()
	refs, mount = map[string]string{}, map[string]string{}
	z := html.NewTokenizer(strings.NewReader(page))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return refs, mount, inline
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			attrs := map[string]string{}
			for _, a := range tok.Attr {
				attrs[a.Key] = a.Val
				if a.Key == "style" || strings.HasPrefix(a.Key, "on") {
					inline = append(inline, tok.String())
				}
			}
			if _, ok := attrs["src"]; tok.Data == "script" && !ok || tok.Data == "style" {
				inline = append(inline, tok.String())
			}
			for _, k := range []string{"src", "href"} {
				if v, ok := attrs[k]; ok {
					refs[v] = tok.Data
				}
			}
			if attrs["id"] == "graphiql" {
				mount = attrs
			}
		}
	}
}

func TestGraphiQLPage(t *testing.T) {
	mux := graphiQLServer(t)
	r := httptest.NewRequest(http.MethodGet, "/admin/graphql", nil)
	r.Header.Set("Accept", "text/html")
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	page := w.Body.String()
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") {
		t.Errorf("the page names another site:\n%s", page)
	}
	refs, mount, inline := pageRefs(t, page)
	for _, bad := range inline {
		t.Errorf("inline script or style, which the CSP refuses: %s", bad)
	}
	want := map[string]string{
		static.Path("vendor/react.production.min.js"):     "script",
		static.Path("vendor/react-dom.production.min.js"): "script",
		static.Path("vendor/graphiql.min.js"):             "script",
		static.Path("graphiql-init.js"):                   "script",
		static.Path("vendor/graphiql.min.css"):            "link",
	}
	for ref, tag := range want {
		if refs[ref] != tag {
			t.Errorf("the page does not load %s with <%s>: refs %v", ref, tag, refs)
		}
	}
	for ref, tag := range refs {
		if !strings.HasPrefix(ref, static.Prefix) {
			t.Errorf("<%s> loads %q, outside %s", tag, ref, static.Prefix)
			continue
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, ref, nil))
		wantType := map[string]string{"script": "text/javascript; charset=utf-8", "link": "text/css; charset=utf-8"}[tag]
		if w.Code != http.StatusOK || w.Header().Get("Content-Type") != wantType {
			t.Errorf("GET %s: status %d, Content-Type %q, want 200 %q", ref, w.Code, w.Header().Get("Content-Type"), wantType)
		}
	}

	if got := mount["data-endpoint"]; got != "/admin/graphql" {
		t.Errorf("data-endpoint %q", got)
	}
	if got := mount["data-headers"]; !strings.Contains(got, `"Authorization": "Bearer <admin key>"`) {
		t.Errorf("data-headers %q", got)
	}
	if got := mount["data-storage"]; got != "aiproxy" {
		t.Errorf("data-storage %q", got)
	}

	csp := w.Header().Get("Content-Security-Policy")
	directives := map[string]string{}
	for _, d := range strings.Split(csp, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = value
	}
	if directives["script-src"] != "'self'" {
		t.Errorf("script-src %q, want 'self' only (CSP %q)", directives["script-src"], csp)
	}
	for _, name := range []string{"default-src", "img-src", "font-src", "frame-ancestors", "base-uri", "form-action"} {
		if directives[name] == "" || strings.Contains(directives[name], "unsafe") {
			t.Errorf("%s %q (CSP %q)", name, directives[name], csp)
		}
	}
	if want := "'self' ws://example.com wss://example.com"; directives["connect-src"] != want {
		t.Errorf("connect-src %q, want %q", directives["connect-src"], want)
	}
	if w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Header().Get("Referrer-Policy") != "same-origin" {
		t.Errorf("headers %v", w.Header())
	}
}

func TestGraphiQLEndpointAndHost(t *testing.T) {
	tests := []struct {
		endpoint, target, host string
		wantEndpoint           string
		wantConnect            string
	}{
		{"", "/graphql", "localhost:3000", "/graphql", "'self' ws://localhost:3000 wss://localhost:3000"},
		{"/api/graphql", "/graphql", "[::1]:3000", "/api/graphql", "'self' ws://[::1]:3000 wss://[::1]:3000"},
		{"", "/graphql", "evil.example; script-src *", "/graphql", "'self'"},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, tt.target, nil)
			r.Host = tt.host
			w := httptest.NewRecorder()
			graph.GraphiQL(tt.endpoint).ServeHTTP(w, r)
			_, mount, _ := pageRefs(t, w.Body.String())
			if mount["data-endpoint"] != tt.wantEndpoint {
				t.Errorf("data-endpoint %q, want %q", mount["data-endpoint"], tt.wantEndpoint)
			}
			if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src "+tt.wantConnect+";") {
				t.Errorf("CSP %q, want connect-src %s", csp, tt.wantConnect)
			}
		})
	}
}
