// Package models is the Models area of the admin UI: the table of the
// models the gateway knows (those with a config and those its channels
// serve) with their prices, limits and price source, the unpriced ones
// marked; the create and edit forms of a model config; and each model's
// per-group overrides, with a form to set and a button to delete one.
//
// Every page and action is the admin's (web.RequireAdmin). The handlers
// call the same service-layer interfaces as the GraphQL resolvers
// (aiproxy.ModelConfigService, aiproxy.GroupModelConfigService), never
// GraphQL and never the store. Prices are typed as the GraphQL API takes
// them: decimal currency units per million tokens (per request for the
// per-request price). A plain form is answered with a 303 (post,
// redirect, get); a refused one is rendered again with a 422 and its
// errors beside the fields.
package models

import (
	"cmp"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/views/layout"
	"github.com/aiproxy/aiproxy/views/web"
)

// basePath is where the area is mounted.
const basePath = "/admin/models"

// pageSize is the number of rows of one page of the table.
const pageSize = 50

// Served lists the models the enabled channels serve (store.Cache).
type Served interface {
	// Models returns the names of the models served, in any order.
	Models() []string
}

// Deps are the services the area works on. Configs is required; the
// others say what nil means.
type Deps struct {
	// Configs stores the model configs.
	Configs aiproxy.ModelConfigService
	// Overrides stores the per-group overrides; nil shows none and
	// refuses to set or delete one (EINTERNAL).
	Overrides aiproxy.GroupModelConfigService
	// Served lists the models the channels serve; nil lists only the
	// models with a config (and so finds no unpriced model).
	Served Served
	// Catalogue is the price catalogue; nil means
	// aiproxy.BuiltinCatalogue().
	Catalogue *aiproxy.Catalogue
}

// handler serves the area's routes.
type handler struct{ d Deps }

// Mount registers the area's routes on r, under /admin/models, all of
// them the admin's (web.RequireAdmin). The caller wires the session and
// CSRF middleware (web.Auth's Session and CSRF) in front of r. A model
// is named by the query or form field "model", since model names may
// hold slashes.
func Mount(r chi.Router, d Deps) {
	h := &handler{d: d}
	r.Group(func(r chi.Router) {
		r.Use(web.RequireAdmin)
		r.Get(basePath, h.list)
		r.Get(basePath+"/new", h.newForm)
		r.Get(basePath+"/config", h.configPage)
		r.Post(basePath, h.create)
		r.Post(basePath+"/update", h.update)
		r.Post(basePath+"/delete", h.delete)
		r.Post(basePath+"/overrides", h.setOverride)
		r.Post(basePath+"/overrides/delete", h.deleteOverride)
	})
}

func (h *handler) catalogue() *aiproxy.Catalogue {
	if h.d.Catalogue != nil {
		return h.d.Catalogue
	}
	return aiproxy.BuiltinCatalogue()
}

// configURL is the page of one model: its config form and overrides.
func configURL(model string) string {
	return basePath + "/config?model=" + url.QueryEscape(model)
}

// list serves the table.
func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	q := parseListQuery(r.URL.Query())
	p, err := h.listPage(r.Context(), q)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.Page(w, r, web.PageData{Title: "Models", Area: layout.AreaModels}, listContent(p))
}

// overridesByModel returns every override, by model; none when Deps has
// no Overrides.
func (h *handler) overridesByModel(ctx context.Context) (map[string][]*aiproxy.GroupModelConfig, error) {
	if h.d.Overrides == nil {
		return nil, nil
	}
	all, err := h.d.Overrides.GroupModelConfigs(ctx, "")
	if err != nil {
		return nil, err
	}
	m := map[string][]*aiproxy.GroupModelConfig{}
	for _, o := range all {
		m[o.Model] = append(m[o.Model], o)
	}
	return m, nil
}

// listPage returns the page of the table q asks for: the union of the
// models with a config and those served, ordered by name.
func (h *handler) listPage(ctx context.Context, q listQuery) (*listPage, error) {
	configs, err := h.d.Configs.ModelConfigs(ctx)
	if err != nil {
		return nil, err
	}
	overrides, err := h.overridesByModel(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]*row{}
	for _, mc := range configs {
		byName[mc.Model] = &row{Model: mc.Model, Config: mc}
	}
	if h.d.Served != nil {
		for _, m := range h.d.Served.Models() {
			rw := byName[m]
			if rw == nil {
				rw = &row{Model: m}
				byName[m] = rw
			}
			rw.Served = true
		}
	}
	cat := h.catalogue()
	needle := strings.ToLower(q.Q)
	p := &listPage{Query: q, All: len(byName), Catalogue: cat}
	rows := make([]*row, 0, len(byName))
	for _, rw := range byName {
		rw.Catalogue, _ = cat.Lookup(rw.Model)
		rw.Overrides = len(overrides[rw.Model])
		if rw.unpriced() {
			p.Unpriced++
		}
		if needle != "" && !strings.Contains(strings.ToLower(rw.Model), needle) {
			continue
		}
		if q.Unpriced && !rw.unpriced() {
			continue
		}
		rows = append(rows, rw)
	}
	slices.SortFunc(rows, func(a, b *row) int { return strings.Compare(a.Model, b.Model) })
	p.Total = len(rows)
	p.Pages = max(1, (len(rows)+pageSize-1)/pageSize)
	p.Query.Page = min(max(q.Page, 1), p.Pages)
	start := (p.Query.Page - 1) * pageSize
	p.Rows = rows[start:min(start+pageSize, len(rows))]
	return p, nil
}

// newForm serves the create form, its model prefilled from the query.
func (h *handler) newForm(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSpace(r.URL.Query().Get("model"))
	h.render(w, r, http.StatusOK, h.modelPage(r.Context(), name, nil, newConfigForm(name, h.catalogue())))
}

// configPage serves a model's page: the edit form of its config (the
// create form when it has none) and its overrides, the override form
// filled with the override of the group the query names, if any.
func (h *handler) configPage(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSpace(r.URL.Query().Get("model"))
	if name == "" {
		web.Error(w, r, http.StatusNotFound, "Name a model.")
		return
	}
	p, err := h.pageOf(r.Context(), name)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	if g := r.URL.Query().Get("group"); g != "" {
		for _, o := range p.Overrides {
			if o.GroupID == g {
				p.Override = overrideFormOf(o)
			}
		}
	}
	h.render(w, r, http.StatusOK, p)
}

// pageOf returns the page of model name: the edit form of its config,
// or the create form when it has none.
func (h *handler) pageOf(ctx context.Context, name string) (*modelPage, error) {
	mc, err := h.d.Configs.ModelConfig(ctx, name)
	switch {
	case aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND:
		return h.modelPage(ctx, name, nil, newConfigForm(name, h.catalogue())), nil
	case err != nil:
		return nil, err
	}
	return h.modelPage(ctx, name, mc, formOf(mc)), nil
}

// modelPage returns the page of model name (empty for a new model) with
// config mc (nil for none) and form f.
func (h *handler) modelPage(ctx context.Context, name string, mc *aiproxy.ModelConfig, f configForm) *modelPage {
	p := &modelPage{Model: name, Config: mc, Form: f, OverridesAvailable: h.d.Overrides != nil}
	if name == "" {
		return p
	}
	p.Catalogue, _ = h.catalogue().Lookup(name)
	p.Currency = h.catalogue().Currency
	if h.d.Overrides != nil {
		all, err := h.d.Overrides.GroupModelConfigs(ctx, "")
		if err != nil {
			p.OverridesError = aiproxy.ErrorMessage(err)
		}
		for _, o := range all {
			if o.Model == name {
				p.Overrides = append(p.Overrides, o)
			}
		}
	}
	return p
}

// render renders the model page p with status.
func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, p *modelPage) {
	title := "New model config"
	if p.Model != "" {
		title = p.Model
	}
	web.Page(w, r, web.PageData{Title: title, Area: layout.AreaModels, Status: status}, modelContent(p))
}

// create creates a model config from the posted form.
func (h *handler) create(w http.ResponseWriter, r *http.Request) {
	f := readConfigForm(r.PostForm)
	mc, err := f.config()
	if err == nil {
		err = h.d.Configs.CreateModelConfig(r.Context(), mc)
	}
	if err != nil {
		name := f.Model // the page of the model typed, unless its name is refused
		if fe := web.FieldErrorsOf(err); fe.Has(fieldModel) && aiproxy.ErrorCode(err) != aiproxy.ECONFLICT {
			name = ""
		}
		p := h.modelPage(r.Context(), name, nil, f)
		h.refused(w, r, p, err)
		return
	}
	web.Redirect(w, r, configURL(mc.Model))
}

// update changes the config of the form's model: every field as posted,
// its price tiers kept.
func (h *handler) update(w http.ResponseWriter, r *http.Request) {
	name := r.PostFormValue("model")
	cur, err := h.d.Configs.ModelConfig(r.Context(), name)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	f := readConfigForm(r.PostForm)
	f.Editing, f.Model, f.Tiers = true, cur.Model, len(cur.Pricing.Tiers)
	upd, err := f.update(cur)
	if err == nil {
		_, err = h.d.Configs.UpdateModelConfig(r.Context(), cur.Model, upd)
	}
	if err != nil {
		h.refused(w, r, h.modelPage(r.Context(), cur.Model, cur, f), err)
		return
	}
	web.Redirect(w, r, configURL(cur.Model))
}

// delete deletes the config of the form's model; the model itself stays
// in the table while a channel serves it.
func (h *handler) delete(w http.ResponseWriter, r *http.Request) {
	if err := h.d.Configs.DeleteModelConfig(r.Context(), r.PostFormValue("model")); err != nil {
		web.Fail(w, r, err)
		return
	}
	web.Redirect(w, r, basePath)
}

// refused renders the model page p again with err: 422 with the errors
// beside their fields for EINVALID, the error's own status with the
// message above the form otherwise.
func (h *handler) refused(w http.ResponseWriter, r *http.Request, p *modelPage, err error) {
	status := relay.HTTPStatus(err)
	if status == http.StatusInternalServerError {
		web.Fail(w, r, err)
		return
	}
	if aiproxy.ErrorCode(err) == aiproxy.EINVALID {
		status = http.StatusUnprocessableEntity
	}
	p.Form.Errors = placeErrors(web.FieldErrorsOf(err), configFields)
	h.render(w, r, status, p)
}

// setOverride creates or replaces the posted group's override of the
// posted model.
func (h *handler) setOverride(w http.ResponseWriter, r *http.Request) {
	if h.d.Overrides == nil {
		web.Fail(w, r, aiproxy.Errorf(aiproxy.EINTERNAL, "group model configs are not available"))
		return
	}
	name := strings.TrimSpace(r.PostFormValue("model"))
	f := readOverrideForm(r.PostForm)
	o, err := f.override(name)
	if err == nil {
		err = h.d.Overrides.SetGroupModelConfig(r.Context(), o)
	}
	if err != nil {
		h.overrideRefused(w, r, name, f, err)
		return
	}
	web.Redirect(w, r, configURL(name)+"#overrides")
}

// overrideRefused renders the page of model name again with the
// override form f and err beside its field: 422 for EINVALID and for an
// unknown group (ENOTFOUND, shown beside the group), the error's own
// status otherwise.
func (h *handler) overrideRefused(w http.ResponseWriter, r *http.Request, name string, f overrideForm, err error) {
	status := relay.HTTPStatus(err)
	if name == "" || status == http.StatusInternalServerError {
		web.Fail(w, r, err)
		return
	}
	errs := web.FieldErrorsOf(err)
	switch aiproxy.ErrorCode(err) {
	case aiproxy.ENOTFOUND:
		errs = web.FieldErrors{fieldGroup: aiproxy.ErrorMessage(err)}
		status = http.StatusUnprocessableEntity
	case aiproxy.EINVALID:
		status = http.StatusUnprocessableEntity
	}
	f.Errors = placeErrors(errs, overrideFields)
	p, perr := h.pageOf(r.Context(), name)
	if perr != nil {
		web.Fail(w, r, perr)
		return
	}
	p.Override = f
	h.render(w, r, status, p)
}

// deleteOverride deletes the posted group's override of the posted model.
func (h *handler) deleteOverride(w http.ResponseWriter, r *http.Request) {
	if h.d.Overrides == nil {
		web.Fail(w, r, aiproxy.Errorf(aiproxy.EINTERNAL, "group model configs are not available"))
		return
	}
	name := r.PostFormValue("model")
	if err := h.d.Overrides.DeleteGroupModelConfig(r.Context(), r.PostFormValue(fieldGroup), name); err != nil {
		web.Fail(w, r, err)
		return
	}
	web.Redirect(w, r, configURL(name)+"#overrides")
}

// listQuery is what the table shows: a search, the unpriced models only,
// a page.
type listQuery struct {
	Q        string
	Unpriced bool
	Page     int
}

func parseListQuery(v url.Values) listQuery {
	page, _ := strconv.Atoi(v.Get("page"))
	return listQuery{Q: strings.TrimSpace(v.Get("q")), Unpriced: v.Get("unpriced") != "", Page: cmp.Or(page, 1)}
}

// URL returns the table's URL for q.
func (q listQuery) URL() string {
	v := url.Values{}
	if q.Q != "" {
		v.Set("q", q.Q)
	}
	if q.Unpriced {
		v.Set("unpriced", "1")
	}
	if q.Page > 1 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	if len(v) == 0 {
		return basePath
	}
	return basePath + "?" + v.Encode()
}

// WithPage returns q on page n.
func (q listQuery) WithPage(n int) listQuery { q.Page = n; return q }
