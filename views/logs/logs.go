// Package logs is the Logs area of the admin UI: the request logs,
// filtered (time range, group, token, model, channel, status, request
// id) with a plain GET form, paged from the newest by keyset ("older"
// links carrying the last id seen), with a detail drawer (attempts, usage
// and cost components, bodies pretty-printed), a link to the CSV export
// of the filtered set and a live tail of new logs as server-sent events.
//
// The admin sees every group's logs; a group session sees its own
// group's only, whatever the URL says, and a log of another group is not
// found. Every read is one keyset query of aiproxy.LogService, so a page
// costs the same with ten rows or ten million.
package logs

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/views/layout"
	"github.com/aiproxy/aiproxy/views/web"
)

// basePath is where the area is mounted.
const basePath = "/admin/logs"

// pageSize is the number of logs a page lists.
const pageSize = 50

// drawerID is the id of the element the detail drawer is swapped into.
const drawerID = "log-drawer"

// Live tail defaults.
const (
	tailBuffer    = 256              // live logs a slow client may lag behind before it is dropped
	tailKeepalive = 15 * time.Second // between comments on a quiet stream
)

// Live is the live feed of new logs the tail reads (store.LiveHub).
type Live interface {
	// Subscribe returns a subscription to the logs matching f recorded
	// from now on, with room for buffer of them (0: the feed's default).
	// The caller stops it.
	Subscribe(f store.LiveFilter, buffer int) *store.LiveSubscription
}

var _ Live = (*store.LiveHub)(nil)

// Deps are what the area reads. Logs is required.
type Deps struct {
	// Logs reads the request logs (store.Store).
	Logs aiproxy.LogService
	// Live is the feed of new logs (store.LiveHub); nil shows no live
	// tail toggle and answers the tail with 404.
	Live Live
	// CSVPath is the CSV export of the logs (graph's GET /api/logs.csv),
	// linked with the page's filter; empty shows no export link.
	CSVPath string
	// Context, when set, ends the live tails when it ends (on shutdown);
	// nil leaves them to end with their requests.
	Context context.Context
	// Keepalive is the longest a live tail stays silent: a comment is sent
	// then, so that proxies keep the connection open. 0 means 15 seconds.
	Keepalive time.Duration
	// Logger receives the errors of the live tail; nil means
	// slog.Default().
	Logger *slog.Logger
}

// handler serves the area's routes.
type handler struct {
	d Deps
}

// Mount registers the area's routes on r, under /admin/logs, for the
// admin and group sessions alike (web.RequireSignedIn). The caller wires
// the session middleware (web.Auth.Session) in front of r. The routes
// are:
//
//	GET /admin/logs                      the list (?tail=1: with the live tail)
//	GET /admin/logs/tail                 the live tail, as server-sent events
//	GET /admin/logs/{id}                 a log's detail, by id
//	GET /admin/logs/request/{requestID}  a log's detail, by request id
func Mount(r chi.Router, d Deps) {
	h := &handler{d: d}
	r.Group(func(r chi.Router) {
		r.Use(web.RequireSignedIn)
		r.Get(basePath, h.list)
		r.Get(basePath+"/tail", h.tail)
		r.Get(basePath+"/request/{requestID}", h.detailByRequest)
		r.Get(basePath+"/{id}", h.detailByID)
	})
}

func (h *handler) logger() *slog.Logger {
	if h.d.Logger != nil {
		return h.d.Logger
	}
	return slog.Default()
}

var pageData = web.PageData{Title: "Logs", Area: layout.AreaLogs}

// listView is what the list shows.
type listView struct {
	Query query
	Logs  []*aiproxy.Log
	// More is true when older logs follow the page.
	More bool
	// CSV is the export link of the filter; "" for none.
	CSV string
	// Live is true when the live tail can be switched on.
	Live bool
}

// list serves the list: a page of 50 logs, newest first, older than the
// before cursor when there is one. A filter with errors lists nothing and
// answers 400 with the errors beside their fields. An HTMX request aimed
// at the drawer (its close link) gets the closed drawer only.
func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	if isDrawerRequest(r) {
		// The drawer's close link: the list is already on the page.
		web.Fragment(w, r, 0, emptyDrawer())
		return
	}
	q := parseQuery(r.URL.Query(), web.FromContext(r.Context()))
	v := &listView{Query: q, Live: h.d.Live != nil}
	if h.d.CSVPath != "" {
		v.CSV = q.csvURL(h.d.CSVPath)
	}
	d := pageData
	if len(q.Errors) > 0 {
		d.Status = http.StatusBadRequest
		v.Query.Tail = false
	} else {
		logs, more, err := h.d.Logs.Logs(r.Context(), q.filter)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		v.Logs, v.More = logs, more
	}
	web.Page(w, r, d, listPage(v))
}

// detailByID serves the detail of the log of the id in the path.
func (h *handler) detailByID(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil || id < 1 {
		web.Error(w, r, http.StatusNotFound, "There is no such log.")
		return
	}
	// The newest log older than id+1 is id itself, when it exists: one
	// primary-key lookup. The group is checked on the result, not put in
	// the query, which would otherwise scan back to the group's previous
	// log when id is another group's.
	h.detail(w, r, aiproxy.LogFilter{Before: id + 1, Limit: 1, Detail: true}, func(l *aiproxy.Log) bool { return l.ID == id })
}

// detailByRequest serves the detail of the newest log of the request id
// in the path (a log of the live tail, whose id is not known yet).
func (h *handler) detailByRequest(w http.ResponseWriter, r *http.Request) {
	rid := chi.URLParam(r, "requestID")
	if r.URL.RawPath != "" {
		// chi matched the escaped path: the parameter is still escaped.
		if u, err := url.PathUnescape(rid); err == nil {
			rid = u
		}
	}
	if rid == "" {
		web.Error(w, r, http.StatusNotFound, "There is no such log.")
		return
	}
	f := aiproxy.LogFilter{RequestID: rid, Limit: 1, Detail: true}
	if s := web.FromContext(r.Context()); s == nil || !s.Admin {
		f.GroupID = groupOf(s)
	}
	h.detail(w, r, f, func(l *aiproxy.Log) bool { return l.RequestID == rid })
}

// isDrawerRequest reports whether r is an HTMX request whose answer goes
// into the detail drawer.
func isDrawerRequest(r *http.Request) bool {
	return web.IsHTMX(r) && r.Header.Get("HX-Target") == drawerID
}

// groupOf returns the group a non-admin session may read.
func groupOf(s *web.Session) string {
	if s == nil || s.GroupID == "" {
		return noGroup
	}
	return s.GroupID
}

// detail reads the log f finds, which is must confirm, and renders it: as
// the drawer's fragment for an HTMX request aimed at the drawer, as a
// page otherwise. A log of another group than a group session's is not
// found (404), exactly like a log that does not exist.
func (h *handler) detail(w http.ResponseWriter, r *http.Request, f aiproxy.LogFilter, is func(*aiproxy.Log) bool) {
	s := web.FromContext(r.Context())
	logs, _, err := h.d.Logs.Logs(r.Context(), f)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	if len(logs) == 0 || !is(logs[0]) || (!(s != nil && s.Admin) && logs[0].GroupID != groupOf(s)) {
		if isDrawerRequest(r) {
			web.Fragment(w, r, http.StatusNotFound, drawerMissing(parseQuery(r.URL.Query(), s)))
			return
		}
		web.Error(w, r, http.StatusNotFound, "There is no such log, or it is not yours to see.")
		return
	}
	v := &detailView{Query: parseQuery(r.URL.Query(), s), Log: logs[0]}
	v.Admin = v.Query.Admin
	if isDrawerRequest(r) {
		web.Fragment(w, r, 0, drawer(v))
		return
	}
	d := pageData
	d.Title = "Log " + v.title()
	web.Page(w, r, d, detailPage(v))
}

// detailView is what a log's detail shows.
type detailView struct {
	Query query
	Log   *aiproxy.Log
	Admin bool
}

// title names the log: its request id, else its id.
func (v *detailView) title() string {
	if v.Log.RequestID != "" {
		return v.Log.RequestID
	}
	return "#" + strconv.FormatInt(v.Log.ID, 10)
}

// tail streams the new logs matching the filter of the query (a group
// session's own group whatever it says) as server-sent events named
// "log", whose data is the table row of the log, and a comment when
// nothing came for Keepalive. It ends when the client leaves, when the
// session expires, when Deps.Context ends or when the feed drops the
// subscription (a client too slow to keep up), and it stops its
// subscription then; it starts no goroutine.
func (h *handler) tail(w http.ResponseWriter, r *http.Request) {
	if h.d.Live == nil {
		http.NotFound(w, r)
		return
	}
	s := web.FromContext(r.Context())
	q := parseQuery(r.URL.Query(), s)
	if len(q.Errors) > 0 {
		http.Error(w, "invalid filter", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	if h.d.Context != nil {
		stop := context.AfterFunc(h.d.Context, cancel)
		defer stop()
	}
	if s != nil && !s.Expires.IsZero() {
		var cancelExp context.CancelFunc
		ctx, cancelExp = context.WithDeadline(ctx, s.Expires)
		defer cancelExp()
	}
	q.Tail = true // the rows' links come back to the list with the tail on
	q = q.finish()
	sub := h.d.Live.Subscribe(q.liveFilter(), tailBuffer)
	defer sub.Stop()

	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // the stream outlives a server's write timeout; unsupported is fine
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no") // no proxy buffering (nginx)
	w.WriteHeader(http.StatusOK)
	// A first comment, so that the client knows at once the stream is open.
	if _, err := w.Write([]byte(": tail open\n\n")); err != nil || rc.Flush() != nil {
		return
	}

	keepalive := h.d.Keepalive
	if keepalive <= 0 {
		keepalive = tailKeepalive
	}
	t := time.NewTimer(keepalive)
	defer t.Stop()
	var buf, row bytes.Buffer
	for {
		buf.Reset()
		select {
		case <-ctx.Done():
			return
		case <-sub.Done():
			return
		case <-t.C:
			buf.WriteString(": keepalive\n\n")
		case l := <-sub.C():
			if !q.matchTail(l) {
				continue
			}
			row.Reset()
			if err := logRow(q, l).Render(ctx, &row); err != nil {
				if ctx.Err() != nil {
					return // the client left while the row was rendered
				}
				h.logger().ErrorContext(ctx, "logs: render live row", "err", err)
				return
			}
			writeEvent(&buf, "log", row.Bytes())
		}
		if _, err := w.Write(buf.Bytes()); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		t.Reset(keepalive)
	}
}

// writeEvent writes a server-sent event named event carrying data to buf.
// A line break in the data would end the field: each line is a data
// field of its own, joined again by the browser.
func writeEvent(buf *bytes.Buffer, event string, data []byte) {
	buf.WriteString("event: ")
	buf.WriteString(event)
	buf.WriteByte('\n')
	for line := range bytes.Lines(data) {
		buf.WriteString("data: ")
		buf.Write(bytes.TrimRight(line, "\r\n"))
		buf.WriteByte('\n')
	}
	buf.WriteByte('\n')
}
