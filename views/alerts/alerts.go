// Package alerts is the Alerts area of the admin UI: the administered
// alert sinks (list, create, edit, delete, send a test alert), the
// thresholds and throttle of the alerts with the values in effect, and
// the history of the alerts sent, by kind, newest first.
//
// Every page and action is the admin's (web.RequireAdmin). The handlers
// call the same service-layer interfaces as the GraphQL resolvers
// (aiproxy.AlertService, aiproxy.AlertHistory), never GraphQL and never
// the store. A sink's URL and secret are write-only, as in the GraphQL
// API: once stored, only the URL's host and whether a secret is set are
// shown, and an edit leaves them as they are unless new ones are typed.
// A plain form is answered with a 303 (post, redirect, get); a refused
// one is rendered again with a 422 and its errors beside the fields.
package alerts

import (
	"context"
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

// basePath is where the area is mounted.
const basePath = "/admin/alerts"

// historyPage is the number of alerts of one page of the history.
const historyPage = 50

// Tester sends a test alert to a sink at once (alert.Notifier).
type Tester interface {
	// Test delivers a test alert to s and returns why it failed, in
	// words that name neither the sink's URL nor its secret; nil when the
	// sink took it.
	Test(ctx context.Context, s *aiproxy.AlertSink) error
}

// Deps are the services the area works on. Alerts is required; the
// others say what nil or zero means.
type Deps struct {
	// Alerts keeps the sinks and the stored settings.
	Alerts aiproxy.AlertService
	// History is the alerts sent; nil shows an empty history.
	History aiproxy.AlertHistory
	// Tester sends test alerts; nil answers every test with "not
	// available".
	Tester Tester
	// Defaults are the server's settings (ALERT_*), in effect where
	// nothing is stored, as graph.Resolver.AlertDefaults.
	Defaults aiproxy.AlertSettings
}

// handler serves the area's routes.
type handler struct{ d Deps }

// Mount registers the area's routes on r, under /admin/alerts, all of
// them the admin's (web.RequireAdmin). The caller wires the session and
// CSRF middleware (web.Auth's Session and CSRF) in front of r.
func Mount(r chi.Router, d Deps) {
	h := &handler{d: d}
	r.Group(func(r chi.Router) {
		r.Use(web.RequireAdmin)
		r.Get(basePath, h.page)
		r.Post(basePath+"/settings", h.setSettings)
		r.Get(basePath+"/sinks/new", h.newSink)
		r.Post(basePath+"/sinks", h.createSink)
		r.Get(basePath+"/sinks/{id}/edit", h.editSink)
		r.Post(basePath+"/sinks/{id}", h.updateSink)
		r.Post(basePath+"/sinks/{id}/delete", h.deleteSink)
		r.Post(basePath+"/sinks/{id}/test", h.testSink)
	})
}

var pageData = web.PageData{Title: "Alerts", Area: layout.AreaAlerts}

// page serves the area's page: sinks, thresholds and history.
func (h *handler) page(w http.ResponseWriter, r *http.Request) {
	p, err := h.alertsPage(r.Context(), r.URL.Query(), nil)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.Page(w, r, pageData, alertsContent(p))
}

// alertsPage returns the area's page for query q (the history's kind and
// cursor); form, when not nil, is the thresholds form as typed.
func (h *handler) alertsPage(ctx context.Context, q url.Values, form *settingsForm) (*alertsPage, error) {
	sinks, err := h.d.Alerts.AlertSinks(ctx)
	if err != nil {
		return nil, err
	}
	st, err := h.d.Alerts.AlertSettings(ctx)
	if err != nil {
		return nil, err
	}
	p := &alertsPage{Sinks: sinks, Defaults: h.d.Defaults, Effective: st.Over(h.d.Defaults)}
	if form != nil {
		p.Settings = *form
	} else {
		p.Settings = settingsFormOf(st)
	}
	p.History, err = h.history(ctx, q)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// history reads the page of the history q asks for: kind filters,
// before is the id the page starts below.
func (h *handler) history(ctx context.Context, q url.Values) (historyView, error) {
	v := historyView{Kind: aiproxy.AlertKind(q.Get("kind"))}
	if v.Kind != "" && !isKind(v.Kind) {
		v.Kind = ""
	}
	v.Before, _ = strconv.ParseInt(q.Get("before"), 10, 64)
	v.Before = max(v.Before, 0)
	if h.d.History == nil {
		return v, nil
	}
	recs, more, err := h.d.History.Alerts(ctx, aiproxy.AlertFilter{Kind: v.Kind, Before: v.Before, Limit: historyPage})
	if err != nil {
		return v, err
	}
	v.Records = recs
	if more && len(recs) > 0 {
		v.Next = recs[len(recs)-1].ID
	}
	return v, nil
}

// setSettings stores the thresholds form: an empty input goes back to
// the server's setting.
func (h *handler) setSettings(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f := readSettingsForm(r.PostForm)
	st, err := h.d.Alerts.AlertSettings(ctx)
	if err == nil {
		err = f.apply(st)
	}
	if err == nil {
		err = h.d.Alerts.SetAlertSettings(ctx, st)
	}
	if err != nil {
		status := relay.HTTPStatus(err)
		if status == http.StatusInternalServerError {
			web.Fail(w, r, err)
			return
		}
		if aiproxy.ErrorCode(err) == aiproxy.EINVALID {
			status = http.StatusUnprocessableEntity
		}
		f.Errors = web.FieldErrorsOf(err)
		p, perr := h.alertsPage(ctx, nil, &f)
		if perr != nil {
			web.Fail(w, r, perr)
			return
		}
		d := pageData
		d.Status = status
		web.Page(w, r, d, alertsContent(p))
		return
	}
	web.Redirect(w, r, basePath+"#thresholds")
}

// sinkID returns the {id} of the route, or an ENOTFOUND error.
func sinkID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, aiproxy.Errorf(aiproxy.ENOTFOUND, "There is no alert sink %q.", chi.URLParam(r, "id"))
	}
	return id, nil
}

// sink returns the sink of the route's {id}.
func (h *handler) sink(r *http.Request) (*aiproxy.AlertSink, error) {
	id, err := sinkID(r)
	if err != nil {
		return nil, err
	}
	return h.d.Alerts.AlertSink(r.Context(), id)
}

// newSink serves the create form.
func (h *handler) newSink(w http.ResponseWriter, r *http.Request) {
	h.renderSink(w, r, http.StatusOK, sinkForm{Kind: string(aiproxy.SinkWebhook), Enabled: true})
}

// editSink serves the edit form of a sink.
func (h *handler) editSink(w http.ResponseWriter, r *http.Request) {
	s, err := h.sink(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	h.renderSink(w, r, http.StatusOK, sinkFormOf(s))
}

// createSink creates a sink from the posted form.
func (h *handler) createSink(w http.ResponseWriter, r *http.Request) {
	f := readSinkForm(r.PostForm)
	s := f.sink()
	if err := h.d.Alerts.CreateAlertSink(r.Context(), s); err != nil {
		h.refused(w, r, f, err)
		return
	}
	web.Redirect(w, r, basePath+"#sinks")
}

// updateSink changes a sink as the posted form says; an empty URL or
// secret keeps the sink's. Its kind stays (the service changes none).
func (h *handler) updateSink(w http.ResponseWriter, r *http.Request) {
	cur, err := h.sink(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	f := readSinkForm(r.PostForm)
	f.ID, f.Kind, f.Host, f.SecretSet = cur.ID, string(cur.Kind), hostOf(cur.URL), cur.Secret != ""
	if _, err := h.d.Alerts.UpdateAlertSink(r.Context(), cur.ID, f.update()); err != nil {
		h.refused(w, r, f, err)
		return
	}
	web.Redirect(w, r, basePath+"#sinks")
}

// refused renders the sink form f again with err: 422 with the errors
// beside their fields for EINVALID, the error's own status otherwise.
// The URL and secret typed are never sent back.
func (h *handler) refused(w http.ResponseWriter, r *http.Request, f sinkForm, err error) {
	status := relay.HTTPStatus(err)
	if status == http.StatusInternalServerError {
		web.Fail(w, r, err)
		return
	}
	if aiproxy.ErrorCode(err) == aiproxy.EINVALID {
		status = http.StatusUnprocessableEntity
	}
	f.Errors = placeErrors(web.FieldErrorsOf(err))
	h.renderSink(w, r, status, f)
}

// renderSink renders the sink form f with status, without its URL and
// secret.
func (h *handler) renderSink(w http.ResponseWriter, r *http.Request, status int, f sinkForm) {
	f.URL, f.Secret = "", ""
	title := "New alert sink"
	if f.ID != 0 {
		title = "Edit alert sink"
	}
	web.Page(w, r, web.PageData{Title: title, Area: layout.AreaAlerts, Status: status}, sinkContent(f))
}

// deleteSink deletes a sink.
func (h *handler) deleteSink(w http.ResponseWriter, r *http.Request) {
	id, err := sinkID(r)
	if err == nil {
		err = h.d.Alerts.DeleteAlertSink(r.Context(), id)
	}
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.Redirect(w, r, basePath+"#sinks")
}

// testSink sends a sink a test alert and shows what it answered: as a
// fragment for HTMX, as a page otherwise (a result cannot survive a
// redirect).
func (h *handler) testSink(w http.ResponseWriter, r *http.Request) {
	s, err := h.sink(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	v := testView{ID: s.ID, Name: s.Name, Host: hostOf(s.URL)}
	status := http.StatusOK
	switch {
	case h.d.Tester == nil:
		v.Error, status = "Testing alert sinks is not available on this server.", http.StatusNotImplemented
	default:
		if err := h.d.Tester.Test(r.Context(), s); err != nil {
			v.Error = scrub(err.Error(), s)
		} else {
			v.OK = true
		}
	}
	if web.IsHTMX(r) {
		web.Fragment(w, r, status, testResult(v))
		return
	}
	web.Page(w, r, web.PageData{Title: "Test of " + s.Name, Area: layout.AreaAlerts, Status: status}, testContent(v))
}

// scrub returns msg without s's URL, its path, its query or its secret,
// should a failure quote them.
func scrub(msg string, s *aiproxy.AlertSink) string {
	for _, secret := range []string{s.URL, s.Secret} {
		if secret != "" {
			msg = strings.ReplaceAll(msg, secret, "[redacted]")
		}
	}
	if u, err := url.Parse(s.URL); err == nil {
		if len(u.Path) > 1 {
			msg = strings.ReplaceAll(msg, u.Path, "/[redacted]")
		}
		if u.RawQuery != "" {
			msg = strings.ReplaceAll(msg, u.RawQuery, "[redacted]")
		}
	}
	return msg
}

// hostOf returns the host of a sink's URL, all that is shown of it.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}
