package static

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// get serves one request to Handler.
func get(tb testing.TB, method, target string, header map[string]string) *httptest.ResponseRecorder {
	tb.Helper()
	r := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	Handler().ServeHTTP(w, r)
	return w
}

func TestEveryAssetServed(t *testing.T) {
	names := Names()
	for _, want := range []string{
		"app.css", "app.js", "graphiql-init.js",
		"vendor/htmx.min.js", "vendor/sse.min.js",
		"vendor/react.production.min.js", "vendor/react-dom.production.min.js",
		"vendor/graphiql.min.js", "vendor/graphiql.min.css",
	} {
		if !contains(names, want) {
			t.Errorf("asset %q is not embedded", want)
		}
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			url := Path(name)
			ext := filepath.Ext(name)
			if !regexp.MustCompile(`^/static/[a-z0-9./_-]+\.[0-9a-f]{10}` + regexp.QuoteMeta(ext) + `$`).MatchString(url) {
				t.Errorf("Path(%q) = %q", name, url)
			}
			w := get(t, http.MethodGet, url, nil)
			if w.Code != http.StatusOK {
				t.Fatalf("GET %s: status %d", url, w.Code)
			}
			want, _ := files.ReadFile(name)
			if !bytes.Equal(w.Body.Bytes(), want) {
				t.Errorf("GET %s: body differs from the embedded file", url)
			}
			ct := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}[ext]
			if got := w.Header().Get("Content-Type"); got != ct {
				t.Errorf("Content-Type %q, want %q", got, ct)
			}
			if got := w.Header().Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
				t.Errorf("Cache-Control %q", got)
			}
			if w.Header().Get("ETag") == "" || w.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("headers %v", w.Header())
			}
			if got := w.Header().Get("Content-Length"); got != strconv.Itoa(len(want)) {
				t.Errorf("Content-Length %q, want %d", got, len(want))
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestPathCallsOfTheModule reads every Go and templ file of the module for
// static.Path calls with a string literal and checks that each names an asset, so
// a typo fails here rather than in a browser.
func TestPathCallsOfTheModule(t *testing.T) {
	call := regexp.MustCompile(`static\.Path\("([^"]*)"\)`)
	seen := 0
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && p != ".." || d.Name() == "node_modules" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !(strings.HasSuffix(p, ".go") || strings.HasSuffix(p, ".templ")) || strings.HasSuffix(p, "_templ.go") {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range call.FindAllSubmatch(src, -1) {
			seen++
			if _, ok := byName[string(m[1])]; !ok {
				t.Errorf("%s: static.Path(%q): no such asset (have %v)", p, m[1], Names())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen == 0 {
		t.Error("no static.Path call found in the module: is the walk broken?")
	}
}

func TestPathUnknownPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Path of an unknown name did not panic")
		}
	}()
	Path("app.cs")
}

func TestHashedURLFollowsContent(t *testing.T) {
	a := hashedURL("app.css", []byte("body { color: red }"))
	b := hashedURL("app.css", []byte("body { color: blue }"))
	if a == b {
		t.Errorf("two contents, one URL %q", a)
	}
	if again := hashedURL("app.css", []byte("body { color: red }")); again != a {
		t.Errorf("one content, two URLs %q and %q", a, again)
	}
	if !strings.HasPrefix(a, "/static/app.") || !strings.HasSuffix(a, ".css") {
		t.Errorf("URL %q", a)
	}
	if x, y := newAsset("x.js", []byte("1")), newAsset("x.js", []byte("2")); x.etag == y.etag {
		t.Errorf("two contents, one ETag %s", x.etag)
	}
}

func TestGzip(t *testing.T) {
	url := Path("vendor/htmx.min.js")
	want, _ := files.ReadFile("vendor/htmx.min.js")
	tests := []struct {
		accept string
		gzip   bool
	}{
		{"", false},
		{"gzip", true},
		{"br, gzip, deflate", true},
		{"gzip;q=0.5", true},
		{"*", true},
		{"gzip;q=0", false},
		{"br", false},
		{"identity", false},
	}
	for _, tt := range tests {
		t.Run(tt.accept, func(t *testing.T) {
			w := get(t, http.MethodGet, url, map[string]string{"Accept-Encoding": tt.accept})
			if w.Header().Get("Vary") != "Accept-Encoding" {
				t.Errorf("Vary %q", w.Header().Get("Vary"))
			}
			got := w.Body.Bytes()
			if enc := w.Header().Get("Content-Encoding"); (enc == "gzip") != tt.gzip {
				t.Fatalf("Content-Encoding %q, want gzip %v", enc, tt.gzip)
			}
			if tt.gzip {
				if len(got) >= len(want) {
					t.Errorf("gzipped %d bytes, plain %d", len(got), len(want))
				}
				zr, err := gzip.NewReader(bytes.NewReader(got))
				if err != nil {
					t.Fatal(err)
				}
				if got, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got, want) {
				t.Error("body differs from the embedded file")
			}
			if w.Header().Get("Content-Length") != strconv.Itoa(w.Body.Len()) {
				t.Errorf("Content-Length %q, body %d bytes", w.Header().Get("Content-Length"), w.Body.Len())
			}
		})
	}
}

func TestConditionalAndHead(t *testing.T) {
	url := Path("app.js")
	etag := get(t, http.MethodGet, url, nil).Header().Get("ETag")
	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		if w := get(t, http.MethodGet, url, map[string]string{"If-None-Match": inm}); w.Code != http.StatusNotModified || w.Body.Len() != 0 {
			t.Errorf("If-None-Match %s: status %d, %d bytes", inm, w.Code, w.Body.Len())
		}
	}
	if w := get(t, http.MethodGet, url, map[string]string{"If-None-Match": `"other"`}); w.Code != http.StatusOK {
		t.Errorf("If-None-Match of another version: status %d", w.Code)
	}
	if w := get(t, http.MethodHead, url, nil); w.Code != http.StatusOK || w.Body.Len() != 0 || w.Header().Get("Content-Length") == "" {
		t.Errorf("HEAD: status %d, %d bytes, headers %v", w.Code, w.Body.Len(), w.Header())
	}
	if w := get(t, http.MethodPost, url, nil); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d", w.Code)
	}
}

func TestNotFound(t *testing.T) {
	stale := strings.Replace(Path("app.css"), ".css", "", 1)
	stale = stale[:strings.LastIndex(stale, ".")] + ".0000000000.css"
	for _, target := range []string{
		"/static/app.css",             // unhashed
		stale,                         // another version
		"/static/vendor/htmx.LICENSE", // not embedded
		"/static/static.go",
		"/static/",
		"/static/../static/app.css",
		Path("app.css")[len("/static"):], // without the prefix
	} {
		w := get(t, http.MethodGet, target, nil)
		if w.Code != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", target, w.Code)
		}
		if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
			t.Errorf("GET %s: Cache-Control %q", target, cc)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := SecurityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/admin", nil))
	want := map[string]string{
		"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "same-origin",
	}
	for k, v := range want {
		if got := w.Header().Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	if strings.Contains(CSP, "unsafe") {
		t.Errorf("CSP allows unsafe sources: %s", CSP)
	}

	// A handler may replace the policy.
	h = SecurityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'")
	}))
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if got := w.Header().Get("Content-Security-Policy"); got != "default-src 'none'" {
		t.Errorf("replaced policy: %q", got)
	}
}

// TestOwnFilesSelfContained checks that the files written for aiproxy load
// nothing from elsewhere and use nothing the CSP forbids.
func TestOwnFilesSelfContained(t *testing.T) {
	for _, name := range []string{"app.css", "app.js", "graphiql-init.js"} {
		src, _ := files.ReadFile(name)
		for _, bad := range []string{"http://", "https://", "eval(", "new Function", "innerHTML", "@import"} {
			if bytes.Contains(src, []byte(bad)) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
	}
}
