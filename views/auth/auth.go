// Package auth is the sign-in area of the admin UI: the sign-in page
// (the admin key, or a group token for its group's read-only view), sign
// out, and the colour scheme switch of the layout.
package auth

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/views/layout"
	"github.com/aiproxy/aiproxy/views/web"
)

// Paths of the area.
const (
	signInPath  = web.SignInPath
	signOutPath = "/admin/signout"
	themePath   = "/admin/theme"
	home        = "/admin"
)

// Mount serves the area on r: GET and POST /admin/signin, POST
// /admin/signout and POST /admin/theme, behind a.Session and a.CSRF
// (applied here; the outer router may apply them too, they run once).
func Mount(r chi.Router, a *web.Auth) {
	h := &handler{a: a}
	r.Group(func(r chi.Router) {
		r.Use(a.Session, a.CSRF)
		r.Get(signInPath, h.signInForm)
		r.Post(signInPath, h.signIn)
		r.Post(signOutPath, h.signOut)
		r.Post(themePath, h.theme)
	})
}

type handler struct{ a *web.Auth }

// signInForm shows the form, or, to a signed-in user, goes where next
// says.
func (h *handler) signInForm(w http.ResponseWriter, r *http.Request) {
	next := web.LocalPath(r.URL.Query().Get("next"))
	if web.FromContext(r.Context()) != nil {
		http.Redirect(w, r, or(next, home), http.StatusSeeOther)
		return
	}
	web.Page(w, r, web.PageData{Title: "Sign in"}, signInPage(form{Next: next}))
}

// signIn opens a session and goes to next (or the dashboard); a refused
// key gets the form again, with the error beside the input and never the
// key.
func (h *handler) signIn(w http.ResponseWriter, r *http.Request) {
	next := web.LocalPath(r.PostFormValue("next"))
	_, err := h.a.SignIn(w, r, r.PostFormValue("key"))
	if err == nil {
		http.Redirect(w, r, or(next, home), http.StatusSeeOther)
		return
	}
	status := relay.HTTPStatus(err)
	if status == http.StatusInternalServerError {
		web.Fail(w, r, err)
		return
	}
	if e := (*aiproxy.Error)(nil); errors.As(err, &e) && e.RetryAfter > 0 {
		w.Header().Set("Retry-After", seconds(e.RetryAfter))
	}
	web.Page(w, r, web.PageData{Title: "Sign in", Status: status},
		signInPage(form{Next: next, Errors: web.FieldErrors{"key": aiproxy.ErrorMessage(err)}}))
}

// signOut forgets the session and shows the sign-in page.
func (h *handler) signOut(w http.ResponseWriter, r *http.Request) {
	h.a.SignOut(w, r)
	http.Redirect(w, r, signInPath, http.StatusSeeOther)
}

// theme keeps the colour scheme chosen ("light", "dark"; anything else
// follows the browser) in a cookie, and goes back to next.
func (h *handler) theme(w http.ResponseWriter, r *http.Request) {
	t, _ := layout.ParseTheme(r.PostFormValue("theme"))
	h.a.SetTheme(w, r, t)
	http.Redirect(w, r, or(web.LocalPath(r.PostFormValue("next")), home), http.StatusSeeOther)
}

// form is the sign-in form's state.
type form struct {
	Next   string
	Errors web.FieldErrors
}

func or(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

// seconds returns d in whole seconds, rounded up, for Retry-After.
func seconds(d time.Duration) string {
	return strconv.Itoa(int((d + time.Second - 1) / time.Second))
}
