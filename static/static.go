// Package static holds the browser assets of the admin UI and of GraphiQL,
// embedded in the binary: app.css, app.js and graphiql-init.js, written for
// aiproxy, and the files vendored from npm under vendor/ (see VENDOR.md).
//
// Every asset is served under a content-hashed name, such as
// /static/app.3f2a9c01b4.css, with a cache lifetime of a year: a page asks
// for Path("app.css") and gets the URL of the current content, so a new
// release is never hidden by a stale cache. The package imports the
// standard library only.
package static

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Prefix is the URL path under which Handler serves the assets.
const Prefix = "/static/"

// CSP is the Content-Security-Policy SecurityHeaders sends: every script,
// style, image, font, connection and form target from the page's own
// origin, images also as data: URLs, and no framing. No inline script or
// style is allowed: pages load app.js and app.css.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"

// hashLen is the number of hex digits of the SHA-256 of its content in an
// asset's URL: 40 bits, enough to tell two versions of one file apart.
const hashLen = 10

//go:embed app.css app.js graphiql-init.js vendor/*.js vendor/*.css
var files embed.FS

// asset is one embedded file, ready to serve.
type asset struct {
	name        string // as passed to Path, such as "vendor/htmx.min.js"
	url         string // its hashed URL path
	contentType string
	etag        string
	body        []byte
	gzipped     []byte // nil when gzip would not make it smaller
}

var (
	byName = map[string]*asset{} // by name
	byURL  = map[string]*asset{} // by hashed URL path
)

func init() {
	err := fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := files.ReadFile(name)
		if err != nil {
			return err
		}
		a := newAsset(name, body)
		byName[a.name] = a
		byURL[a.url] = a
		return nil
	})
	if err != nil {
		panic(fmt.Sprintf("static: read embedded files: %v", err))
	}
}

// newAsset returns the asset name holding body, with its hashed URL, ETag
// and gzipped body computed.
func newAsset(name string, body []byte) *asset {
	sum := sha256.Sum256(body)
	a := &asset{
		name:        name,
		url:         hashedURL(name, body),
		contentType: contentType(name),
		etag:        `"` + hex.EncodeToString(sum[:16]) + `"`,
		body:        body,
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(body)
	zw.Close()
	if buf.Len() < len(body) {
		a.gzipped = buf.Bytes()
	}
	return a
}

// hashedURL returns the URL path of name holding body: the short hash of
// body inserted before the extension, as in /static/vendor/htmx.min.<hash>.js.
func hashedURL(name string, body []byte) string {
	sum := sha256.Sum256(body)
	ext := path.Ext(name)
	return Prefix + strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:])[:hashLen] + ext
}

// contentType returns the media type of a file named name, from a fixed
// table so that it does not depend on the host's mime.types.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	case ".woff2":
		return "font/woff2"
	default:
		return "application/octet-stream"
	}
}

// Path returns the URL path, content-hashed, of the embedded asset name,
// such as Path("app.css") == "/static/app.<hash>.css" or
// Path("vendor/htmx.min.js"). Names are relative to the static directory.
//
// Path panics for a name that is not embedded: a typo fails the first test
// that renders the page, rather than a browser silently getting a 404
// (static_test.go also checks every literal static.Path call of the
// module).
func Path(name string) string {
	a, ok := byName[name]
	if !ok {
		panic(fmt.Sprintf("static: no asset %q", name))
	}
	return a.url
}

// Names returns the names of every embedded asset, sorted, as Path takes
// them.
func Names() []string {
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Handler returns the handler of the assets, to be mounted at Prefix
// without stripping it: mux.Handle("/static/", static.Handler()), or
// r.Handle("/static/*", static.Handler()) with chi. It answers GET and
// HEAD for the hashed URLs Path returns, with the asset's Content-Type, a
// strong ETag (If-None-Match answers 304), "Cache-Control: public,
// max-age=31536000, immutable" and, when the client accepts it and it
// makes the file smaller, gzip (compressed once, when the program starts).
//
// Any other path, the unhashed name of an asset included, is a 404, with
// "Cache-Control: no-store" so that a typo is not cached; other methods
// get 405.
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	a, ok := byURL[r.URL.Path]
	if !ok {
		w.Header().Set("Cache-Control", "no-store")
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("ETag", a.etag)
	h.Set("Vary", "Accept-Encoding")
	h.Set("X-Content-Type-Options", "nosniff")
	if etagMatch(r.Header.Get("If-None-Match"), a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if a.gzipped != nil && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		body = a.gzipped
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Type", a.contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// etagMatch reports whether an If-None-Match header value names etag (or
// is "*"). Weak tags match too, as RFC 9110 asks for If-None-Match.
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// acceptsGzip reports whether an Accept-Encoding header value accepts gzip:
// it lists gzip (or *) without q=0.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "*" {
			continue
		}
		q := strings.ReplaceAll(strings.ToLower(params), " ", "")
		if q, ok := strings.CutPrefix(q, "q="); ok {
			if v, err := strconv.ParseFloat(q, 64); err == nil && v == 0 {
				return false
			}
		}
		return true
	}
	return false
}

// SecurityHeaders returns next with the security headers of every page set
// before it runs: Content-Security-Policy (CSP), "X-Content-Type-Options:
// nosniff" and "Referrer-Policy: same-origin". A handler that needs
// another policy (the GraphiQL page) replaces the header with
// w.Header().Set before writing.
func SecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}
