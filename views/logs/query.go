package logs

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/views/web"
)

// The query parameters of the list, the tail and the links between them.
const (
	paramFrom      = "from"      // datetime-local, in the zone of tz
	paramTo        = "to"        // datetime-local, in the zone of tz
	paramZone      = "tz"        // an IANA zone; absent means UTC
	paramGroup     = "group"     // the admin's only
	paramToken     = "tokenId"   // a token id
	paramChannel   = "channelId" // a channel id
	paramModel     = "model"     // as the client asked
	paramStatus    = "status"    // "", "success" or "failed"
	paramRequestID = "requestId" // a request id
	paramBefore    = "before"    // the pagination cursor: logs older than this id
	paramTail      = "tail"      // "1" shows the table with the live tail on
)

// The status filter's values.
const (
	statusAll     = ""
	statusSuccess = "success"
	statusFailed  = "failed"
)

// localLayout is the format of a datetime-local input's value.
const localLayout = "2006-01-02T15:04"

// query is what a logs URL asks for: the filter as typed (to fill the
// form again), what it means (filter), and the errors of the fields that
// could not be read, which then filter nothing.
type query struct {
	From, To  string
	Zone      string
	Group     string
	TokenID   string
	ChannelID string
	Model     string
	Status    string
	RequestID string
	Before    int64
	Tail      bool

	// Admin is true for the admin's session; a group session has no group
	// field and its filter is always its own group.
	Admin bool
	// Location is the zone Zone names, UTC when none or unknown.
	Location *time.Location
	Errors   web.FieldErrors
	filter   aiproxy.LogFilter
	// back is backValues encoded, made once for the links of every row
	// (see finish).
	back string
}

// parseQuery reads the filter of v for session s (nil counts as a group
// session of no group, which sees nothing of any group). A group
// session's filter is its own group whatever v says.
func parseQuery(v url.Values, s *web.Session) query {
	q := query{
		From:      strings.TrimSpace(v.Get(paramFrom)),
		To:        strings.TrimSpace(v.Get(paramTo)),
		Zone:      strings.TrimSpace(v.Get(paramZone)),
		Group:     strings.TrimSpace(v.Get(paramGroup)),
		TokenID:   strings.TrimSpace(v.Get(paramToken)),
		ChannelID: strings.TrimSpace(v.Get(paramChannel)),
		Model:     strings.TrimSpace(v.Get(paramModel)),
		Status:    v.Get(paramStatus),
		RequestID: strings.TrimSpace(v.Get(paramRequestID)),
		Tail:      v.Get(paramTail) == "1",
		Admin:     s != nil && s.Admin,
		Location:  time.UTC,
	}
	fail := func(field, msg string) {
		if q.Errors == nil {
			q.Errors = web.FieldErrors{}
		}
		q.Errors[field] = msg
	}
	f := aiproxy.LogFilter{Limit: pageSize, Model: q.Model, RequestID: q.RequestID}
	if q.Zone != "" {
		if loc, err := loadLocation(q.Zone); err != nil {
			fail(paramZone, "Unknown time zone: use an IANA name such as Europe/Paris, or UTC.")
		} else {
			q.Location = loc
		}
	}
	for _, t := range []struct {
		field string
		text  string
		dst   *time.Time
	}{{paramFrom, q.From, &f.From}, {paramTo, q.To, &f.To}} {
		if t.text == "" {
			continue
		}
		at, err := parseLocal(t.text, q.Location)
		if err != nil {
			fail(t.field, "Enter a date and time, such as 2026-12-03T14:30.")
			continue
		}
		*t.dst = at
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		fail(paramTo, "The end must be after the start.")
		f.To = time.Time{}
	}
	for _, id := range []struct {
		field string
		text  string
		dst   *int64
	}{{paramToken, q.TokenID, &f.TokenID}, {paramChannel, q.ChannelID, &f.ChannelID}} {
		if id.text == "" {
			continue
		}
		n, err := strconv.ParseInt(id.text, 10, 64)
		if err != nil || n < 1 {
			fail(id.field, "Enter a positive whole number.")
			continue
		}
		*id.dst = n
	}
	switch q.Status {
	case statusAll:
	case statusSuccess, statusFailed:
		failed := q.Status == statusFailed
		f.Failed = &failed
	default:
		fail(paramStatus, "Choose all, success or failed.")
		q.Status = statusAll
	}
	if b := v.Get(paramBefore); b != "" {
		if n, err := strconv.ParseInt(b, 10, 64); err == nil && n > 0 {
			q.Before, f.Before = n, n
		}
	}
	// The tail adds to the newest page only.
	q.Tail = q.Tail && q.Before == 0
	if q.Admin {
		f.GroupID = q.Group
	} else {
		q.Group = ""
		if s != nil {
			f.GroupID = s.GroupID
		}
		if f.GroupID == "" {
			f.GroupID = noGroup
		}
	}
	q.filter = f
	return q.finish()
}

// finish returns q with its derived fields computed again, after a
// change of its fields.
func (q query) finish() query {
	q.back = q.backValues().Encode()
	return q
}

// noGroup is the group filter of a session that names none: a group id no
// group has (ids are never empty), so that it matches nothing.
const noGroup = "\x00"

// loadLocation loads an IANA zone by name, refusing "Local" (the
// server's zone, meaningless to the browser) and overlong names.
func loadLocation(name string) (*time.Location, error) {
	if name == "Local" || len(name) > 64 {
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "unknown time zone")
	}
	return time.LoadLocation(name)
}

// parseLocal reads a datetime-local value (with or without seconds) in loc.
func parseLocal(s string, loc *time.Location) (time.Time, error) {
	at, err := time.ParseInLocation(localLayout, s, loc)
	if err != nil {
		at, err = time.ParseInLocation(localLayout+":05", s, loc)
	}
	return at, err
}

// values returns the filter of q as query parameters, without the cursor
// and the tail: the parameters every link of the page keeps.
func (q query) values() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set(paramFrom, q.From)
	set(paramTo, q.To)
	set(paramZone, q.Zone)
	if q.Admin {
		set(paramGroup, q.Group)
	}
	set(paramToken, q.TokenID)
	set(paramChannel, q.ChannelID)
	set(paramModel, q.Model)
	set(paramStatus, q.Status)
	set(paramRequestID, q.RequestID)
	return v
}

// href returns path with v as its query.
func href(path string, v url.Values) string {
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

// listURL returns the list's first page for q's filter (the tail kept).
func (q query) listURL() string {
	v := q.values()
	if q.Tail {
		v.Set(paramTail, "1")
	}
	return href(basePath, v)
}

// backValues returns the parameters of the page q shows: its filter, its
// cursor and its tail, which a log's detail keeps for the way back.
func (q query) backValues() url.Values {
	v := q.values()
	if q.Before > 0 {
		v.Set(paramBefore, strconv.FormatInt(q.Before, 10))
	}
	if q.Tail {
		v.Set(paramTail, "1")
	}
	return v
}

// backURL returns the page q shows: where a log's detail goes back to.
func (q query) backURL() string { return href(basePath, q.backValues()) }

// resetURL returns the list with no filter, in q's zone.
func resetURL(q query) string {
	if q.Zone == "" {
		return basePath
	}
	return href(basePath, url.Values{paramZone: {q.Zone}})
}

// olderURL returns the page of the logs older than id.
func (q query) olderURL(id int64) string {
	v := q.values()
	v.Set(paramBefore, strconv.FormatInt(id, 10))
	return href(basePath, v)
}

// tailToggleURL returns the list with the live tail switched on (when q's
// is off) or off; the tail always starts from the newest page.
func (q query) tailToggleURL() string {
	v := q.values()
	if !q.Tail {
		v.Set(paramTail, "1")
	}
	return href(basePath, v)
}

// tailURL returns the stream of new logs matching q's filter.
func (q query) tailURL() string { return href(basePath+"/tail", q.values()) }

// detailURL returns the detail of log l, keeping q's filter for the way
// back. A log of the live tail has no id yet (the writer assigns it): it
// is found by its request id.
func (q query) detailURL(l *aiproxy.Log) string {
	p := basePath + "/" + strconv.FormatInt(l.ID, 10)
	if l.ID == 0 {
		p = basePath + "/request/" + url.PathEscape(l.RequestID)
	}
	if q.back == "" {
		return p
	}
	return p + "?" + q.back
}

// csvURL returns the CSV export of q's filter on path: the export's own
// parameters (from and to in RFC 3339, failed as a boolean), the group
// only for the admin (the export forces a group token's own).
func (q query) csvURL(path string) string {
	f := q.filter
	v := url.Values{}
	if q.Admin && f.GroupID != "" {
		v.Set("group", f.GroupID)
	}
	if f.TokenID != 0 {
		v.Set("tokenId", strconv.FormatInt(f.TokenID, 10))
	}
	if f.ChannelID != 0 {
		v.Set("channelId", strconv.FormatInt(f.ChannelID, 10))
	}
	if f.Model != "" {
		v.Set("model", f.Model)
	}
	if f.RequestID != "" {
		v.Set("requestId", f.RequestID)
	}
	if !f.From.IsZero() {
		v.Set("from", f.From.UTC().Format(time.RFC3339))
	}
	if !f.To.IsZero() {
		v.Set("to", f.To.UTC().Format(time.RFC3339))
	}
	if f.Failed != nil {
		v.Set("failed", strconv.FormatBool(*f.Failed))
	}
	return href(path, v)
}

// liveFilter returns the part of q's filter the live hub applies; the
// rest (token, request id, time range) is matched by matchTail.
func (q query) liveFilter() store.LiveFilter {
	f := q.filter
	return store.LiveFilter{GroupID: f.GroupID, Model: f.Model, ChannelID: f.ChannelID, Failed: f.Failed}
}

// matchTail reports whether a live log matches the parts of q's filter
// the live hub does not: the token, the request id and the time range.
func (q query) matchTail(l *aiproxy.Log) bool {
	f := q.filter
	return (f.TokenID == 0 || f.TokenID == l.TokenID) &&
		(f.RequestID == "" || f.RequestID == l.RequestID) &&
		(f.From.IsZero() || !l.CreatedAt.Before(f.From)) &&
		(f.To.IsZero() || l.CreatedAt.Before(f.To)) &&
		(f.GroupID == "" || f.GroupID == l.GroupID)
}
