package web

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/a-h/templ"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/views/layout"
)

// ThemeCookie is the name of the cookie holding the colour scheme chosen
// with the layout's switch ("light" or "dark"; absent follows the
// browser).
const ThemeCookie = "aiproxy_theme"

// PageData describes a page for the layout.
type PageData struct {
	// Title is the page's title ("Channels"); empty shows "aiproxy".
	Title string
	// Area is the navigation link marked current (layout.AreaChannels, or
	// the same as an untyped string, "channels").
	Area layout.Area
	// Status is the HTTP status; 0 means 200.
	Status int
}

// IsHTMX reports whether r was sent by htmx to swap part of a page in (it
// has "HX-Request: true"), not to restore a page of the history, which
// needs the whole page.
func IsHTMX(r *http.Request) bool {
	return r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-History-Restore-Request") != "true"
}

// Page renders content as a page of the admin UI, with status d.Status:
// inside the layout (layout.Page, filled from r's session), or, for an
// HTMX request, only the layout's Fragment (title, header and main).
func Page(w http.ResponseWriter, r *http.Request, d PageData, content templ.Component) {
	Render(w, r, d.Status, layout.Page(layoutData(r, d), content))
}

// layoutData returns what the layout needs from r and d.
func layoutData(r *http.Request, d PageData) layout.Data {
	ld := layout.Data{Title: d.Title, Area: d.Area, Path: LocalPath(r.URL.RequestURI())}
	if IsHTMX(r) && r.Header.Get("HX-Boosted") != "true" {
		ld.Path = "" // a fragment's URL; the switch returns to /admin
	}
	if s := FromContext(r.Context()); s != nil {
		ld.Viewer = &layout.Viewer{Admin: s.Admin, GroupID: s.GroupID, TokenName: s.TokenName, CSRF: s.CSRF}
	}
	if c, err := r.Cookie(ThemeCookie); err == nil {
		ld.Theme, _ = layout.ParseTheme(c.Value)
	}
	return ld
}

// Render writes page, a layout.Page, with status (0 means 200): whole, or,
// for an HTMX request (IsHTMX), only its layout.Fragment. It renders into
// memory first, so that a failing component answers 500 rather than half
// a page. Responses vary on HX-Request and are not cached (they show
// what only the signed-in user may see).
func Render(w http.ResponseWriter, r *http.Request, status int, page templ.Component) {
	render(w, r, status, func(ctx context.Context, buf *bytes.Buffer) error {
		if IsHTMX(r) {
			return templ.RenderFragments(ctx, buf, page, layout.Fragment)
		}
		return page.Render(ctx, buf)
	})
}

// Fragment writes c as it is, with status (0 means 200): a part of a page
// that an HTMX request swaps in (table rows, a form with its errors).
func Fragment(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	render(w, r, status, func(ctx context.Context, buf *bytes.Buffer) error { return c.Render(ctx, buf) })
}

func render(w http.ResponseWriter, r *http.Request, status int, fn func(context.Context, *bytes.Buffer) error) {
	var buf bytes.Buffer
	if err := fn(r.Context(), &buf); err != nil {
		slog.ErrorContext(r.Context(), "web: render", "path", r.URL.Path, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Add("Vary", "HX-Request")
	h.Set("Cache-Control", "no-store")
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// Error renders an error page (message, in an element with
// data-testid="error") with status, as Page does.
func Error(w http.ResponseWriter, r *http.Request, status int, message string) {
	Page(w, r, PageData{Title: http.StatusText(status), Status: status}, errorPage(status, message))
}

// Fail renders the error page of err: its caller-safe message
// (aiproxy.ErrorMessage) with the status of its code (StatusOf); an
// internal error is logged and shown as "internal error".
func Fail(w http.ResponseWriter, r *http.Request, err error) {
	status := relay.HTTPStatus(err)
	if status == http.StatusInternalServerError {
		slog.ErrorContext(r.Context(), "web: internal error", "path", r.URL.Path, "err", err)
	}
	Error(w, r, status, aiproxy.ErrorMessage(err))
}

// Redirect sends the browser to url, a local path, after a successful
// form: 303 See Other for a plain request; for an HTMX one, HX-Location,
// so that htmx fetches url into #main and pushes it to the history.
func Redirect(w http.ResponseWriter, r *http.Request, url string) {
	if IsHTMX(r) {
		loc, _ := json.Marshal(map[string]string{"path": url, "target": "#main", "select": "#main", "swap": "outerHTML"})
		w.Header().Set("HX-Location", string(loc))
		w.WriteHeader(http.StatusOK)
		return
	}
	http.Redirect(w, r, url, http.StatusSeeOther)
}
