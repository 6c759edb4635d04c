package groups

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/views/layout"
	"github.com/aiproxy/aiproxy/views/web"
)

// tokenRow is a token as the tables show it: never its secret, only its
// prefix.
type tokenRow struct {
	Token  *aiproxy.Token
	Quota  usage
	Period usage
	Status string // "enabled", "disabled" or "expired"
}

// tokenRow returns t as the tables show it, with its period usage in the
// quota time zone.
func (h *handler) tokenRow(t *aiproxy.Token) tokenRow {
	now := h.now()
	id := whole(t.ID)
	row := tokenRow{
		Token: t,
		Quota: usage{ID: "quota-" + id, Label: "Quota", Used: t.UsedAmount, Max: t.Quota},
		Period: usage{ID: "period-" + id, Label: "Period quota", Used: t.PeriodUsedAt(now, h.location()),
			Max: t.PeriodQuota},
		Status: "enabled",
	}
	if t.Period == aiproxy.PeriodNone {
		row.Period.Max = 0
	} else {
		row.Period.Note = periodName(t.Period) + ", since " + when(t.Period.Start(now, h.location()))
	}
	switch {
	case !t.Enabled:
		row.Status = "disabled"
	case t.Expired(now):
		row.Status = "expired"
	}
	return row
}

// tokenID parses the {id} of a token route.
func tokenID(r *http.Request) (int64, bool) {
	n, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	return n, err == nil && n > 0
}

// readableToken returns the token of the route when the session may read
// it: any for the admin, its own group's for a group session. Otherwise
// it answers 404 and returns nil.
func (h *handler) readableToken(w http.ResponseWriter, r *http.Request) *aiproxy.Token {
	id, ok := tokenID(r)
	if !ok {
		notFound(w, r)
		return nil
	}
	t, err := h.d.Tokens.Token(r.Context(), id)
	if err != nil {
		web.Fail(w, r, err)
		return nil
	}
	if mine, scoped := own(r); scoped && t.GroupID != mine {
		notFound(w, r)
		return nil
	}
	return t
}

// tokens serves the list of every token, searched by ?q= (in names,
// prefixes and group ids) and paginated by ?page=. A group session is
// sent to its own group's page, which lists its tokens.
func (h *handler) tokens(w http.ResponseWriter, r *http.Request) {
	if id, scoped := own(r); scoped {
		http.Redirect(w, r, groupURL(id), http.StatusSeeOther)
		return
	}
	all, err := h.allTokens(r.Context())
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	matched := all
	if q != "" {
		matched = make([]*aiproxy.Token, 0, len(all))
		for _, t := range all {
			if containsFold(t.Name, q) || containsFold(t.Prefix, q) || containsFold(t.GroupID, q) {
				matched = append(matched, t)
			}
		}
	}
	v := tokensView{Query: q, Pager: paginate(len(matched), pageNumber(r.URL.Query().Get("page")), tokensPerPage)}
	for _, t := range matched[v.Pager.from:v.Pager.to] {
		v.Rows = append(v.Rows, h.tokenRow(t))
	}
	web.Page(w, r, web.PageData{Title: "Tokens", Area: layout.AreaGroups}, tokensPage(v))
}

// token serves a token's page: its settings and usage, its prefix, never
// its secret.
func (h *handler) token(w http.ResponseWriter, r *http.Request) {
	if t := h.readableToken(w, r); t != nil {
		h.showToken(w, r, t)
	}
}

// showToken renders t's page.
func (h *handler) showToken(w http.ResponseWriter, r *http.Request, t *aiproxy.Token) {
	_, scoped := own(r)
	v := tokenView{Row: h.tokenRow(t), ReadOnly: scoped}
	web.Page(w, r, web.PageData{Title: "Token " + t.Name, Area: layout.AreaGroups}, tokenPage(v))
}

// newToken serves the empty form of a new token of a group.
func (h *handler) newToken(w http.ResponseWriter, r *http.Request) {
	g, err := h.d.Groups.Group(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	h.showTokenForm(w, r, tokenForm{GroupID: g.ID, Values: url.Values{}}, http.StatusOK)
}

// editToken serves the form of an existing token.
func (h *handler) editToken(w http.ResponseWriter, r *http.Request) {
	t := h.readableToken(w, r)
	if t == nil {
		return
	}
	h.showTokenForm(w, r, tokenForm{GroupID: t.GroupID, TokenID: t.ID, Values: tokenValues(t)}, http.StatusOK)
}

// showTokenForm renders a token form with status.
func (h *handler) showTokenForm(w http.ResponseWriter, r *http.Request, f tokenForm, status int) {
	title := "New token of " + f.GroupID
	if f.TokenID != 0 {
		title = "Edit token"
	}
	web.Page(w, r, web.PageData{Title: title, Area: layout.AreaGroups, Status: status}, tokenFormPage(f))
}

// createToken creates a token from its form and answers with the page
// that shows its secret, the only time it is ever shown. That page is
// the answer of the POST itself (201), not of a redirect: the secret is
// kept nowhere a later GET could read it from. web.Page sends it with
// "Cache-Control: no-store", and the layout keeps no htmx history
// snapshot.
func (h *handler) createToken(w http.ResponseWriter, r *http.Request) {
	if !parseForm(w, r) {
		return
	}
	groupID := chi.URLParam(r, "id")
	t, errs := parseToken(r.PostForm)
	t.GroupID, t.Enabled = groupID, true
	var key string
	err := unlessInvalid(errs, func() (err error) {
		key, err = h.d.Tokens.CreateToken(r.Context(), t)
		return err
	})
	if refused(w, r, err, func(errs web.FieldErrors, status int) {
		h.showTokenForm(w, r, tokenForm{GroupID: groupID, Values: r.PostForm, Errors: errs}, status)
	}) {
		return
	}
	// No URL of this answer goes to the history: a GET of it could not
	// show the key again.
	w.Header().Set("HX-Push-Url", "false")
	web.Page(w, r, web.PageData{Title: "Token created", Area: layout.AreaGroups, Status: http.StatusCreated},
		tokenCreatedPage(h.tokenRow(t), key))
}

// updateToken changes a token from its form.
func (h *handler) updateToken(w http.ResponseWriter, r *http.Request) {
	id, ok := tokenID(r)
	if !ok {
		notFound(w, r)
		return
	}
	if !parseForm(w, r) {
		return
	}
	upd, errs := parseTokenUpdate(r.PostForm)
	var t *aiproxy.Token
	err := unlessInvalid(errs, func() (err error) {
		t, err = h.d.Tokens.UpdateToken(r.Context(), id, upd)
		return err
	})
	if refused(w, r, err, func(errs web.FieldErrors, status int) {
		groupID := ""
		if old, err := h.d.Tokens.Token(r.Context(), id); err == nil {
			groupID = old.GroupID
		}
		h.showTokenForm(w, r, tokenForm{GroupID: groupID, TokenID: id, Values: r.PostForm, Errors: errs}, status)
	}) {
		return
	}
	web.Redirect(w, r, tokenURL(t.ID))
}

// enableToken returns the handler that enables or disables a token.
func (h *handler) enableToken(enabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := tokenID(r)
		if !ok {
			notFound(w, r)
			return
		}
		if _, err := h.d.Tokens.UpdateToken(r.Context(), id, aiproxy.TokenUpdate{Enabled: &enabled}); err != nil {
			web.Fail(w, r, err)
			return
		}
		web.Redirect(w, r, tokenURL(id))
	}
}

// deleteToken deletes a token (the form asks first) and returns to its
// group's page.
func (h *handler) deleteToken(w http.ResponseWriter, r *http.Request) {
	t := h.readableToken(w, r)
	if t == nil {
		return
	}
	if err := h.d.Tokens.DeleteToken(r.Context(), t.ID); err != nil {
		web.Fail(w, r, err)
		return
	}
	web.Redirect(w, r, groupURL(t.GroupID))
}

// tokenURL returns the path of a token's page.
func tokenURL(id int64) string { return tokensPath + "/" + whole(id) }
