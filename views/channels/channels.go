// Package channels is the Channels area of the admin UI: the searchable,
// sortable, paginated list of channels with their error rate, breaker
// state and balance; the create and edit forms, whose settings follow the
// chosen type; and the actions on a channel (enable, disable, test a
// model, reset health, delete) and on the rows checked (enable, disable,
// delete).
//
// Every page and action is the admin's (web.RequireAdmin). The handlers
// call the same service-layer interfaces as the GraphQL resolvers, never
// GraphQL and never the store. A plain form is answered with a 303 back
// to the list (post, redirect, get); an HTMX one with the fragment it
// swaps in: a row, the list's results, or the test's result. A refused
// form is rendered again with a 422 and its errors beside the fields.
package channels

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/go-chi/chi/v5"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/views/layout"
	"github.com/aiproxy/aiproxy/views/web"
)

// basePath is where the area is mounted.
const basePath = "/admin/channels"

// statsWindow is the span the list's error rates are counted over.
const statsWindow = time.Hour

// Tester tests a channel with a real request (relay.Server).
type Tester interface {
	// TestChannel sends ch a small request for model and reports the
	// answer; it returns an error (EINVALID) only when the request cannot
	// be built, such as for a model the channel does not serve.
	TestChannel(ctx context.Context, ch *aiproxy.Channel, model string) (*relay.ChannelTest, error)
}

// Balances knows the channels' last balances read (relay.Balances).
type Balances interface {
	// Balance returns the last balance read of channel id, if any.
	Balance(id int64) (aiproxy.Balance, bool)
}

// Health is the channels' health as routing sees it (store's MemoryHealth
// and RedisHealth).
type Health interface {
	// Snapshot returns the health of every channel × model tracked.
	Snapshot() []aiproxy.ChannelHealth
	// Reset forgets the health of every model of channel ch.
	Reset(ch int64)
}

// Stats reads the channels' summarized requests (aiproxy.AnalyticsService,
// store.Store).
type Stats interface {
	// ChannelStats returns the sums of each channel with requests in f.
	ChannelStats(ctx context.Context, f aiproxy.AnalyticsFilter) ([]aiproxy.ChannelStats, error)
}

// Deps are the services the area works on. Channels and Types are
// required; the others say what nil means.
type Deps struct {
	// Channels stores the channels.
	Channels aiproxy.ChannelService
	// Types is the registry of channel types, whose config keys the forms
	// show.
	Types relay.Providers
	// Tester sends a channel's test request; nil answers every test with
	// "tests are not available".
	Tester Tester
	// Balances are the channels' balances; nil shows none.
	Balances Balances
	// Health is the channels' breaker state; nil shows none and makes
	// "reset health" do nothing.
	Health Health
	// Stats gives the error rates of the last hour; nil shows none.
	Stats Stats
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Lister lists every channel from memory (store.Cache); nil reads them
	// from Channels, the database, on every list page.
	Lister Lister
}

// Lister lists every channel, by id, from memory (store.Cache.AllChannels).
type Lister interface {
	AllChannels() []*aiproxy.Channel
}

// handler serves the area's routes.
type handler struct {
	d     Deps
	types []*relay.Provider // d.Types by name
}

// Mount registers the area's routes on r, under /admin/channels, all of
// them the admin's (web.RequireAdmin). The caller wires the session and
// CSRF middleware (web.Auth's Session and CSRF) in front of r.
func Mount(r chi.Router, d Deps) {
	h := &handler{d: d}
	for _, p := range d.Types {
		h.types = append(h.types, p)
	}
	slices.SortFunc(h.types, func(a, b *relay.Provider) int { return strings.Compare(string(a.Type), string(b.Type)) })
	r.Group(func(r chi.Router) {
		r.Use(web.RequireAdmin)
		r.Get(basePath, h.list)
		r.Get(basePath+"/new", h.newForm)
		r.Post(basePath, h.create)
		r.Get(basePath+"/fields", h.fields)
		r.Post(basePath+"/batch", h.batch)
		r.Get(basePath+"/{id}/edit", h.editForm)
		r.Post(basePath+"/{id}", h.update)
		r.Post(basePath+"/{id}/enable", h.setEnabled(true))
		r.Post(basePath+"/{id}/disable", h.setEnabled(false))
		r.Post(basePath+"/{id}/reset", h.reset)
		r.Post(basePath+"/{id}/delete", h.delete)
		r.Post(basePath+"/{id}/test", h.test)
	})
}

func (h *handler) now() time.Time {
	if h.d.Now != nil {
		return h.d.Now()
	}
	return time.Now()
}

var listData = web.PageData{Title: "Channels", Area: layout.AreaChannels}

// list serves the list.
func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	p, err := h.listPage(r.Context(), parseListQuery(r.URL.Query()))
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.Page(w, r, listData, listContent(p))
}

// listPage returns the view of the list q asks for. Only the rows of the
// page are decorated with their stats, health and balance, unless the
// order depends on them.
func (h *handler) listPage(ctx context.Context, q listQuery) (*listPage, error) {
	var chs []*aiproxy.Channel
	var err error
	if h.d.Lister != nil {
		chs = h.d.Lister.AllChannels()
	} else {
		chs, err = h.d.Channels.Channels(ctx)
	}
	if err != nil {
		return nil, err
	}
	needle := strings.ToLower(q.Q)
	all := make([]row, 0, len(chs)) // one allocation for the rows, pointed to by rows
	for _, c := range chs {
		if matches(c, needle) {
			all = append(all, row{Ch: c})
		}
	}
	rows := make([]*row, len(all))
	for i := range all {
		rows[i] = &all[i]
	}
	p := &listPage{Query: q, Total: len(rows), All: len(chs)}
	stats, err := h.stats(ctx, 0)
	if err != nil {
		p.StatsError = aiproxy.ErrorMessage(err)
	}
	health := h.health()
	decorated := false
	switch q.Sort {
	case sortErrors, sortBreaker, sortBalance:
		h.decorate(rows, stats, health)
		decorated = true
	}
	if q.Sort == sortName {
		for _, r := range rows {
			r.name = strings.ToLower(r.Ch.Name)
		}
	}
	if q.Sort != sortID || q.Desc {
		slices.SortFunc(rows, func(a, b *row) int { return compareRows(q.Sort, q.Desc, a, b) })
	}
	p.Rows, p.Page, p.Pages = pageOf(rows, q.Page)
	p.Query.Page = p.Page
	if !decorated {
		h.decorate(p.Rows, stats, health)
	}
	return p, nil
}

// traffic is a channel's requests and failures.
type traffic struct{ requests, failures int64 }

// stats returns the requests of the last hour by channel: of channel id
// only, or of every channel when id is 0. Nil Stats gives none.
func (h *handler) stats(ctx context.Context, id int64) (map[int64]traffic, error) {
	if h.d.Stats == nil {
		return nil, nil
	}
	now := h.now()
	cs, err := h.d.Stats.ChannelStats(ctx, aiproxy.AnalyticsFilter{ChannelID: id, From: now.Add(-statsWindow), To: now})
	if err != nil {
		return nil, err
	}
	m := make(map[int64]traffic, len(cs))
	for i := range cs {
		m[cs[i].ChannelID] = traffic{cs[i].Stats.Requests, cs[i].Stats.Errors()}
	}
	return m, nil
}

// healthOf is a channel's health summed over its models.
type healthOf struct {
	worst        breakerRank
	open, models int
	lastError    string
	lastErrorAt  time.Time
}

// health returns the health of every channel tracked, by channel.
func (h *handler) health() map[int64]*healthOf {
	if h.d.Health == nil {
		return nil
	}
	snap := h.d.Health.Snapshot()
	m := make(map[int64]*healthOf, len(snap))
	all := make([]healthOf, 0, len(snap)) // one allocation, pointed to by m
	for i := range snap {
		e := &snap[i]
		s := m[e.ChannelID]
		if s == nil {
			all = append(all, healthOf{})
			s = &all[len(all)-1]
			m[e.ChannelID] = s
		}
		s.models++
		rank := rankClosed
		switch e.State.Breaker {
		case aiproxy.BreakerOpen:
			rank = rankOpen
		case aiproxy.BreakerHalfOpen:
			rank = rankHalfOpen
		}
		if rank != rankClosed {
			s.open++
		}
		s.worst = max(s.worst, rank)
		if e.LastError != "" && e.LastErrorAt.After(s.lastErrorAt) {
			s.lastError, s.lastErrorAt = e.LastError, e.LastErrorAt
		}
	}
	return m
}

// decorate sets the stats, health and balance of rows.
func (h *handler) decorate(rows []*row, stats map[int64]traffic, health map[int64]*healthOf) {
	for _, r := range rows {
		id := r.Ch.ID
		t := stats[id]
		r.Requests, r.Failures, r.HasStats = t.requests, t.failures, t.requests > 0
		if s := health[id]; s != nil {
			r.Breaker, r.Open, r.Models, r.LastError = s.worst, s.open, s.models, s.lastError
		}
		if h.d.Balances != nil {
			r.Balance, r.HasBalance = h.d.Balances.Balance(id)
		}
	}
}

// row returns the decorated row of c alone, for an HTMX action's answer.
func (h *handler) row(ctx context.Context, c *aiproxy.Channel) *row {
	rw := &row{Ch: c}
	stats, _ := h.stats(ctx, c.ID) // a row without its error rate rather than no answer
	h.decorate([]*row{rw}, stats, h.health())
	return rw
}

// channelID returns the {id} of the route, or an ENOTFOUND error.
func channelID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, aiproxy.Errorf(aiproxy.ENOTFOUND, "There is no channel %q.", chi.URLParam(r, "id"))
	}
	return id, nil
}

// channel returns the channel of the route's {id}, or an ENOTFOUND error.
func (h *handler) channel(r *http.Request) (*aiproxy.Channel, error) {
	id, err := channelID(r)
	if err != nil {
		return nil, err
	}
	return h.d.Channels.Channel(r.Context(), id)
}

// setEnabled enables or disables a channel.
func (h *handler) setEnabled(enabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := channelID(r)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		c, err := h.d.Channels.UpdateChannel(r.Context(), id, aiproxy.ChannelUpdate{Enabled: &enabled})
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		h.rowDone(w, r, c)
	}
}

// reset forgets a channel's health: its breakers close.
func (h *handler) reset(w http.ResponseWriter, r *http.Request) {
	c, err := h.channel(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	if h.d.Health != nil {
		h.d.Health.Reset(c.ID)
	}
	h.rowDone(w, r, c)
}

// rowDone answers an action on channel c: its row for HTMX, else a
// redirect to the list the form came from.
func (h *handler) rowDone(w http.ResponseWriter, r *http.Request, c *aiproxy.Channel) {
	if web.IsHTMX(r) {
		web.Fragment(w, r, http.StatusOK, channelRow(h.row(r.Context(), c), backQuery(r).Encoded()))
		return
	}
	http.Redirect(w, r, backQuery(r).URL(), http.StatusSeeOther)
}

// delete deletes a channel: for HTMX, the empty answer removes its row.
func (h *handler) delete(w http.ResponseWriter, r *http.Request) {
	id, err := channelID(r)
	if err == nil {
		err = h.d.Channels.DeleteChannel(r.Context(), id)
	}
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	if web.IsHTMX(r) {
		web.Fragment(w, r, http.StatusOK, templ.NopComponent)
		return
	}
	http.Redirect(w, r, backQuery(r).URL(), http.StatusSeeOther)
}

// batch enables, disables or deletes the channels checked (the form's id
// values). A channel deleted meanwhile is skipped. For HTMX it answers
// the list's results, else a redirect to the list.
func (h *handler) batch(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	action := r.PostFormValue("action")
	if action != "enable" && action != "disable" && action != "delete" {
		web.Error(w, r, http.StatusBadRequest, "Choose enable, disable or delete.")
		return
	}
	for _, s := range r.PostForm["id"] {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			web.Error(w, r, http.StatusBadRequest, "A channel id must be a number.")
			return
		}
		switch action {
		case "delete":
			err = h.d.Channels.DeleteChannel(ctx, id)
		default:
			enabled := action == "enable"
			_, err = h.d.Channels.UpdateChannel(ctx, id, aiproxy.ChannelUpdate{Enabled: &enabled})
		}
		if err != nil && aiproxy.ErrorCode(err) != aiproxy.ENOTFOUND {
			web.Fail(w, r, err)
			return
		}
	}
	q := backQuery(r)
	if !web.IsHTMX(r) {
		http.Redirect(w, r, q.URL(), http.StatusSeeOther)
		return
	}
	p, err := h.listPage(ctx, q)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.Fragment(w, r, http.StatusOK, results(p))
}

// test sends a channel a test request for the posted model and shows the
// result: as a fragment for HTMX, as a page otherwise (a result cannot
// survive a redirect).
func (h *handler) test(w http.ResponseWriter, r *http.Request) {
	v := &testView{Model: strings.TrimSpace(r.PostFormValue("model"))}
	status := http.StatusOK
	c, err := h.channel(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	v.ID, v.Name = c.ID, c.Name
	if h.d.Tester == nil {
		v.Error, status = "Channel tests are not available on this server.", http.StatusNotImplemented
	} else if v.Res, err = h.d.Tester.TestChannel(r.Context(), c, v.Model); err != nil {
		v.Res, v.Error, status = nil, aiproxy.ErrorMessage(err), relay.HTTPStatus(err)
	}
	if web.IsHTMX(r) {
		web.Fragment(w, r, status, testResult(v))
		return
	}
	web.Page(w, r, web.PageData{Title: "Test of " + c.Name, Area: layout.AreaChannels, Status: status}, testContent(v))
}

// provider returns the registered provider of type t, nil for none.
func (h *handler) provider(t string) *relay.Provider {
	return h.d.Types[aiproxy.ChannelType(t)]
}

// newForm serves the create form, for the type of the type parameter
// (the first type when it names none).
func (h *handler) newForm(w http.ResponseWriter, r *http.Request) {
	t := r.URL.Query().Get("type")
	if h.provider(t) == nil && len(h.types) > 0 {
		t = string(h.types[0].Type)
	}
	h.renderForm(w, r, http.StatusOK, &formPage{Form: newForm(aiproxy.ChannelType(t))})
}

// fields serves the config inputs of the type parameter's type, which
// the form's type select swaps in.
func (h *handler) fields(w http.ResponseWriter, r *http.Request) {
	web.Fragment(w, r, http.StatusOK, typeFields(h.provider(r.URL.Query().Get(fieldType)), nil, nil))
}

// create creates a channel from the posted form.
func (h *handler) create(w http.ResponseWriter, r *http.Request) {
	p := &formPage{Form: readForm(r.PostForm)}
	if r.PostFormValue("refresh") != "" {
		h.renderForm(w, r, http.StatusOK, p)
		return
	}
	c, err := p.Form.channel(h.provider(p.Form.Type))
	if err == nil {
		err = h.d.Channels.CreateChannel(r.Context(), c)
	}
	if err != nil {
		h.refused(w, r, p, err)
		return
	}
	web.Redirect(w, r, basePath)
}

// editForm serves the edit form of a channel.
func (h *handler) editForm(w http.ResponseWriter, r *http.Request) {
	c, err := h.channel(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	h.renderForm(w, r, http.StatusOK, &formPage{ID: c.ID, Form: formOf(c), Channel: c})
}

// update changes a channel as the posted form says; an empty key keeps
// the channel's.
func (h *handler) update(w http.ResponseWriter, r *http.Request) {
	cur, err := h.channel(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	id := cur.ID
	p := &formPage{ID: id, Form: readForm(r.PostForm), Channel: cur}
	p.Form.HasKey = cur.Key != ""
	if r.PostFormValue("refresh") != "" {
		h.renderForm(w, r, http.StatusOK, p)
		return
	}
	upd, err := p.Form.update(cur, h.provider(p.Form.Type))
	if err == nil {
		_, err = h.d.Channels.UpdateChannel(r.Context(), id, upd)
	}
	if err != nil {
		h.refused(w, r, p, err)
		return
	}
	web.Redirect(w, r, basePath)
}

// refused renders the form p again with err: 422 with the errors beside
// their fields for EINVALID, the error's own status with the message
// above the form otherwise.
func (h *handler) refused(w http.ResponseWriter, r *http.Request, p *formPage, err error) {
	status := relay.HTTPStatus(err)
	if status == http.StatusInternalServerError {
		web.Fail(w, r, err)
		return
	}
	if aiproxy.ErrorCode(err) == aiproxy.EINVALID {
		status = http.StatusUnprocessableEntity
	}
	p.Errors = h.placeErrors(web.FieldErrorsOf(err), h.provider(p.Form.Type))
	h.renderForm(w, r, status, p)
}

// formFields are the form's inputs, as the errors name them.
var formFields = []string{fieldName, fieldType, fieldBaseURL, fieldKey, fieldModels, fieldMapping, fieldPriority,
	fieldWeight, fieldSets, fieldProxyURL, fieldHeaders, fieldBreaker, fieldLowBalance, fieldConfig}

// placeErrors moves an error naming no input of the form to where it is
// shown: one of an unknown config key to the config's, any other to the
// form's own.
func (h *handler) placeErrors(errs web.FieldErrors, p *relay.Provider) web.FieldErrors {
	out := web.FieldErrors{}
	for field, msg := range errs {
		switch {
		case field == "" || slices.Contains(formFields, field):
		case strings.HasPrefix(field, configPrefix):
			known := p != nil && slices.ContainsFunc(p.Config, func(cf relay.ConfigField) bool { return configPrefix+cf.Name == field })
			if !known {
				field = fieldConfig
			}
		default:
			field = ""
		}
		out[field] = msg
	}
	return out
}

// renderForm renders the form page p with status; the key typed is never
// sent back.
func (h *handler) renderForm(w http.ResponseWriter, r *http.Request, status int, p *formPage) {
	p.Types = h.types
	if p.Channel != nil && h.d.Health != nil {
		for _, e := range h.d.Health.Snapshot() {
			if e.ChannelID == p.Channel.ID {
				p.Health = append(p.Health, e)
			}
		}
		slices.SortFunc(p.Health, func(a, b aiproxy.ChannelHealth) int { return strings.Compare(a.Model, b.Model) })
	}
	p.Form.Key = ""
	title := "New channel"
	if p.editing() {
		title = "Edit channel"
	}
	web.Page(w, r, web.PageData{Title: title, Area: layout.AreaChannels, Status: status}, formContent(p))
}
