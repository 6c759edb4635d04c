package groups

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/views/layout"
	"github.com/aiproxy/aiproxy/views/web"
)

// own returns the group a group session may read, and false for the
// admin, who may read every group.
func own(r *http.Request) (groupID string, scoped bool) {
	s := web.FromContext(r.Context())
	if s == nil || s.Admin {
		return "", false
	}
	return s.GroupID, true
}

// groups serves the list of groups: searched by ?q= (in ids and
// descriptions, ignoring case) and paginated by ?page=. A group session
// is sent to its own group's page.
func (h *handler) groups(w http.ResponseWriter, r *http.Request) {
	if id, scoped := own(r); scoped {
		http.Redirect(w, r, groupURL(id), http.StatusSeeOther)
		return
	}
	v, err := h.listGroups(r, r.URL.Query().Get("q"), pageNumber(r.URL.Query().Get("page")))
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.Page(w, r, web.PageData{Title: "Groups", Area: layout.AreaGroups}, groupsPage(v))
}

// listGroups returns one page of the groups matching q. The services
// return every group and every token, so this reads them all: a linear
// pass, no sorting (they come ordered by id).
func (h *handler) listGroups(r *http.Request, q string, page int) (groupsView, error) {
	ctx := r.Context()
	all, err := h.allGroups(ctx)
	if err != nil {
		return groupsView{}, err
	}
	tokens, err := h.allTokens(ctx)
	if err != nil {
		return groupsView{}, err
	}
	q = strings.TrimSpace(q)
	matched := all
	if q != "" {
		matched = make([]*aiproxy.Group, 0, len(all))
		for _, g := range all {
			if containsFold(g.ID, q) || containsFold(g.Description, q) {
				matched = append(matched, g)
			}
		}
	}
	p := paginate(len(matched), page, groupsPerPage)
	rows := matched[p.from:p.to]
	shown := make(map[string]int, len(rows))
	for _, g := range rows {
		shown[g.ID] = 0
	}
	for _, t := range tokens {
		if n, ok := shown[t.GroupID]; ok {
			shown[t.GroupID] = n + 1
		}
	}
	v := groupsView{Query: q, Pager: p}
	for _, g := range rows {
		v.Rows = append(v.Rows, groupRow{Group: g, Tokens: shown[g.ID]})
	}
	return v, nil
}

// containsFold reports whether s contains needle, ignoring case (simple
// folding, as strings.EqualFold), without allocating.
func containsFold(s, needle string) bool {
	for i := 0; i+len(needle) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(needle)], needle) {
			return true
		}
	}
	return false
}

// group serves a group's page. A group session may open its own group
// only (read-only); any other id is a 404.
func (h *handler) group(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if mine, scoped := own(r); scoped && id != mine {
		notFound(w, r)
		return
	}
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	h.showGroup(w, r, id, groupPageOptions{
		TokenPage: pageNumber(r.URL.Query().Get("tokens")),
		Before:    max(before, 0),
	})
}

// groupPageOptions say which part of a group's page to show and with
// what: the page of its tokens, the audit trail from entry Before (0: the
// newest), and a balance form refused with Balance's values and errors.
type groupPageOptions struct {
	TokenPage int
	Before    int64
	Balance   *balanceForm
	Status    int // 0: 200
}

// showGroup renders group id's page.
func (h *handler) showGroup(w http.ResponseWriter, r *http.Request, id string, o groupPageOptions) {
	ctx := r.Context()
	g, err := h.d.Groups.Group(ctx, id)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	tokens, err := h.d.Tokens.Tokens(ctx, id)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	_, scoped := own(r)
	v := groupView{
		Group:    g,
		ReadOnly: scoped,
		Billing:  h.d.Billing != nil,
		Balance:  o.Balance,
	}
	v.TokenPager = paginate(len(tokens), o.TokenPage, tokensPerPage)
	for _, t := range tokens[v.TokenPager.from:v.TokenPager.to] {
		v.Tokens = append(v.Tokens, h.tokenRow(t))
	}
	if h.d.Billing != nil {
		es, err := h.d.Billing.BalanceEntries(ctx, id, o.Before, entriesPerPage+1)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		if len(es) > entriesPerPage {
			es = es[:entriesPerPage]
			v.OlderEntries = es[len(es)-1].ID
		}
		v.Entries = es
		v.EntriesFrom = o.Before
	}
	if v.Balance == nil {
		v.Balance = &balanceForm{Kind: aiproxy.BalanceTopUp}
	}
	web.Page(w, r, web.PageData{Title: "Group " + g.ID, Area: layout.AreaGroups, Status: o.Status}, groupPage(v))
}

// newGroup serves the empty form of a new group.
func (h *handler) newGroup(w http.ResponseWriter, r *http.Request) {
	f := groupForm{New: true, Values: url.Values{"enabled": {"on"}}}
	h.showGroupForm(w, r, f, http.StatusOK)
}

// editGroup serves the form of an existing group.
func (h *handler) editGroup(w http.ResponseWriter, r *http.Request) {
	g, err := h.d.Groups.Group(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	h.showGroupForm(w, r, groupForm{ID: g.ID, Values: groupValues(g)}, http.StatusOK)
}

// showGroupForm renders a group form with status.
func (h *handler) showGroupForm(w http.ResponseWriter, r *http.Request, f groupForm, status int) {
	title := "New group"
	if !f.New {
		title = "Edit group " + f.ID
	}
	web.Page(w, r, web.PageData{Title: title, Area: layout.AreaGroups, Status: status}, groupFormPage(f))
}

// createGroup creates a group from its form.
func (h *handler) createGroup(w http.ResponseWriter, r *http.Request) {
	if !parseForm(w, r) {
		return
	}
	g, errs := parseGroup(r.PostForm)
	err := unlessInvalid(errs, func() error { return h.d.Groups.CreateGroup(r.Context(), g) })
	if refused(w, r, err, func(errs web.FieldErrors, status int) {
		h.showGroupForm(w, r, groupForm{New: true, Values: r.PostForm, Errors: errs}, status)
	}) {
		return
	}
	web.Redirect(w, r, groupURL(g.ID))
}

// updateGroup changes a group from its form.
func (h *handler) updateGroup(w http.ResponseWriter, r *http.Request) {
	if !parseForm(w, r) {
		return
	}
	id := chi.URLParam(r, "id")
	upd, errs := parseGroupUpdate(r.PostForm)
	err := unlessInvalid(errs, func() error {
		_, err := h.d.Groups.UpdateGroup(r.Context(), id, upd)
		return err
	})
	if refused(w, r, err, func(errs web.FieldErrors, status int) {
		h.showGroupForm(w, r, groupForm{ID: id, Values: r.PostForm, Errors: errs}, status)
	}) {
		return
	}
	web.Redirect(w, r, groupURL(id))
}

// enableGroup returns the handler that enables or disables a group.
func (h *handler) enableGroup(enabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := chi.URLParam(r, "id")
		if _, err := h.d.Groups.UpdateGroup(r.Context(), id, aiproxy.GroupUpdate{Enabled: &enabled}); err != nil {
			web.Fail(w, r, err)
			return
		}
		web.Redirect(w, r, groupURL(id))
	}
}

// deleteGroup deletes a group and its tokens (the form asks first).
func (h *handler) deleteGroup(w http.ResponseWriter, r *http.Request) {
	if err := h.d.Groups.DeleteGroup(r.Context(), chi.URLParam(r, "id")); err != nil {
		web.Fail(w, r, err)
		return
	}
	web.Redirect(w, r, groupsPath)
}

// changeBalance tops up or adjusts a group's balance with a reason. A
// refused form is shown again on the group's page, with a 422.
func (h *handler) changeBalance(w http.ResponseWriter, r *http.Request) {
	if h.d.Billing == nil {
		web.Error(w, r, http.StatusNotFound, "Billing is not available.")
		return
	}
	if !parseForm(w, r) {
		return
	}
	id := chi.URLParam(r, "id")
	kind, amount, reason, errs := parseBalance(r.PostForm)
	err := unlessInvalid(errs, func() error {
		_, err := h.d.Billing.ChangeBalance(r.Context(), id, kind, amount, reason, actor)
		return err
	})
	if refused(w, r, err, func(errs web.FieldErrors, status int) {
		f := &balanceForm{Kind: kind, Amount: r.PostForm.Get("amount"), Reason: r.PostForm.Get("reason"), Errors: errs}
		h.showGroup(w, r, id, groupPageOptions{Balance: f, Status: status})
	}) {
		return
	}
	web.Redirect(w, r, groupURL(id)+"#balance")
}

// actor names who changes a balance in its audit trail: the admin UI has
// one user, the admin, as the GraphQL API names it.
const actor = "admin"

// fieldErrors returns the form errors of a service error (see
// web.FieldErrorsOf), with a conflict's message beside the field it
// names (a group id taken); nil for nil.
func fieldErrors(err error) web.FieldErrors {
	var e *aiproxy.Error
	if errors.As(err, &e) && e.Code == aiproxy.ECONFLICT && e.Field != "" {
		return web.FieldErrors{e.Field: e.Message}
	}
	return web.FieldErrorsOf(err)
}

// formStatus returns the status of a form refused with err: 422 for
// invalid values, else the status of err's code (409 for a conflict, 403
// for a token limit, 500 for an internal error).
func formStatus(err error) int {
	if aiproxy.ErrorCode(err) == aiproxy.EINVALID {
		return http.StatusUnprocessableEntity
	}
	return relay.HTTPStatus(err)
}

// invalidForm is a form refused by its own checks, before any service
// saw it.
type invalidForm web.FieldErrors

func (e invalidForm) Error() string { return "groups: invalid form" }

// unlessInvalid runs save unless the form's own checks found errs, and
// returns its error, or invalidForm.
func unlessInvalid(errs formErrors, save func() error) error {
	if len(errs) > 0 {
		return invalidForm(errs)
	}
	return save()
}

// refused reports whether a form's submission failed with err and, when
// it did, answers it: ENOTFOUND with a 404 page (the group or the token
// is gone), other errors with show, given the errors beside the fields
// and the status (422 for invalid values).
func refused(w http.ResponseWriter, r *http.Request, err error, show func(web.FieldErrors, int)) bool {
	var inv invalidForm
	switch {
	case err == nil:
		return false
	case errors.As(err, &inv):
		show(web.FieldErrors(inv), http.StatusUnprocessableEntity)
	case aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND:
		web.Fail(w, r, err)
	default:
		show(fieldErrors(err), formStatus(err))
	}
	return true
}

// parseForm parses r's form body, or answers 400 and returns false.
func parseForm(w http.ResponseWriter, r *http.Request) bool {
	if err := r.ParseForm(); err != nil {
		web.Error(w, r, http.StatusBadRequest, "The form could not be read.")
		return false
	}
	return true
}

// groupURL returns the path of a group's page.
func groupURL(id string) string { return groupsPath + "/" + url.PathEscape(id) }
