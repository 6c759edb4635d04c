// Package groups is the Groups and tokens area of the admin UI: the list
// of groups, their forms, a group's page with its limits, balance, audit
// trail and tokens, and the tokens' pages and forms, whose secret is shown
// once, on the page that answers its creation.
//
// The admin sees and changes everything; a group session (signed in with
// a group token) sees its own group's page and tokens, read-only: any
// other group or token is a 404 and every POST a 403.
//
// The handlers call the service layer the GraphQL resolvers call
// (aiproxy.GroupService, TokenService and BillingService), never the
// store. Every page is rendered with web.Page: a fragment for an HTMX
// request, the whole page otherwise. A successful POST goes on with
// web.Redirect to the page that shows its result: a 303 for a plain form
// (post, redirect, get), HX-Location for htmx, which then fetches that
// page's fragment. The one exception is a token's creation, whose answer
// is the page with the secret itself (see createToken). A refused form is
// rendered again with a 422 (409 for a taken id) and its errors beside
// the fields.
package groups

import (
	"context"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/views/web"
)

// Deps are the services the area works on. Groups and Tokens are
// required.
type Deps struct {
	Groups aiproxy.GroupService
	Tokens aiproxy.TokenService
	// Billing changes balances and reads their audit trail; nil shows no
	// balance forms and no audit trail.
	Billing aiproxy.BillingService
	// QuotaLocation is the time zone token quota periods start in
	// (QUOTA_TIME_ZONE), for the period usage shown; nil means UTC.
	QuotaLocation *time.Location
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Lister lists every group and token from memory (store.Cache); nil
	// reads them from Groups and Tokens, the database, on every list page.
	Lister Lister
}

// Lister lists every group and every token, by id, from memory.
type Lister interface {
	AllGroups() []*aiproxy.Group
	AllTokens() []*aiproxy.Token
}

// allGroups returns every group, from the Lister when there is one.
func (h *handler) allGroups(ctx context.Context) ([]*aiproxy.Group, error) {
	if h.d.Lister != nil {
		return h.d.Lister.AllGroups(), nil
	}
	return h.d.Groups.Groups(ctx)
}

// allTokens returns every token, from the Lister when there is one.
func (h *handler) allTokens(ctx context.Context) ([]*aiproxy.Token, error) {
	if h.d.Lister != nil {
		return h.d.Lister.AllTokens(), nil
	}
	return h.d.Tokens.Tokens(ctx, "")
}

// Paths of the area.
const (
	groupsPath = "/admin/groups"
	tokensPath = "/admin/tokens"
)

// Page sizes.
const (
	groupsPerPage  = 50 // rows of the groups list
	tokensPerPage  = 50 // rows of a group's tokens and of the tokens list
	entriesPerPage = 20 // rows of a group's audit trail
)

// Mount registers the area's routes on r, under /admin/groups and
// /admin/tokens. The GET pages need a session (web.RequireSignedIn): the
// admin sees every group, a group session its own only. Everything else,
// every POST included, is the admin's (web.RequireAdmin). The caller
// wires the session and CSRF middleware in front of r.
func Mount(r chi.Router, d Deps) {
	h := &handler{d: d}
	r.Group(func(r chi.Router) {
		r.Use(web.RequireSignedIn)
		r.Get(groupsPath, h.groups)
		r.Get(groupsPath+"/{id}", h.group)
		r.Get(tokensPath, h.tokens)
		r.Get(tokensPath+"/{id}", h.token)
	})
	r.Group(func(r chi.Router) {
		r.Use(web.RequireAdmin)
		r.Get(groupsPath+"/new", h.newGroup)
		r.Post(groupsPath, h.createGroup)
		r.Get(groupsPath+"/{id}/edit", h.editGroup)
		r.Post(groupsPath+"/{id}", h.updateGroup)
		r.Post(groupsPath+"/{id}/enable", h.enableGroup(true))
		r.Post(groupsPath+"/{id}/disable", h.enableGroup(false))
		r.Post(groupsPath+"/{id}/delete", h.deleteGroup)
		r.Post(groupsPath+"/{id}/balance", h.changeBalance)
		r.Get(groupsPath+"/{id}/tokens/new", h.newToken)
		r.Post(groupsPath+"/{id}/tokens", h.createToken)
		r.Get(tokensPath+"/{id}/edit", h.editToken)
		r.Post(tokensPath+"/{id}", h.updateToken)
		r.Post(tokensPath+"/{id}/enable", h.enableToken(true))
		r.Post(tokensPath+"/{id}/disable", h.enableToken(false))
		r.Post(tokensPath+"/{id}/delete", h.deleteToken)
	})
}

// handler serves the area's routes.
type handler struct {
	d Deps
}

// now returns the current time.
func (h *handler) now() time.Time {
	if h.d.Now != nil {
		return h.d.Now()
	}
	return time.Now()
}

// location returns the quota time zone.
func (h *handler) location() *time.Location {
	if h.d.QuotaLocation != nil {
		return h.d.QuotaLocation
	}
	return time.UTC
}

// notFound answers that the page does not exist, or is not the
// session's to see: a group session learns nothing of other groups.
func notFound(w http.ResponseWriter, r *http.Request) {
	web.Error(w, r, http.StatusNotFound, "There is no such page.")
}
