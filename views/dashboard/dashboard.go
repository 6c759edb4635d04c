// Package dashboard is the admin UI's home page, /admin: the traffic of a
// chosen range (requests, tokens, cost, error rate, latency) as totals and
// charts, the top models and groups, the failing channels, and live tiles
// (requests and tokens per minute, requests in flight, errors) updated
// every second by server-sent events.
//
// Every figure comes from the usage summaries (aiproxy.AnalyticsService)
// and the live hub's counters, never from the logs, so the page costs
// the same with ten rows of logs or ten million. A group session sees
// its own group's traffic only, whatever its URL asks for.
package dashboard

import (
	"cmp"
	"context"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // every IANA zone a browser may name, whatever the host has installed

	"github.com/go-chi/chi/v5"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/views/chart"
	"github.com/aiproxy/aiproxy/views/layout"
	"github.com/aiproxy/aiproxy/views/web"
)

// LiveFeed is the live traffic the tiles show (store.LiveHub). The tiles
// are per-minute rates and gauges, so they poll these two methods every
// second rather than subscribe to every log.
type LiveFeed interface {
	// InFlight returns the requests and streams in flight matching f's
	// group and model.
	InFlight(f store.LiveFilter) (requests, streams int64)
	// Recent returns the traffic matching f of each of the last 60
	// seconds that had some.
	Recent(f store.LiveFilter) []store.LiveSecond
}

// HealthSnapshot is the channels' health as routing sees it
// (store.MemoryHealth, store.RedisHealth).
type HealthSnapshot interface {
	Snapshot() []aiproxy.ChannelHealth
}

// ChannelReader finds a channel by id (aiproxy.ChannelService), to name
// the failing channels.
type ChannelReader interface {
	Channel(ctx context.Context, id int64) (*aiproxy.Channel, error)
}

// TokenReader finds a token by id (aiproxy.TokenService), to name a
// group's top tokens.
type TokenReader interface {
	Token(ctx context.Context, id int64) (*aiproxy.Token, error)
}

// Deps are what the dashboard reads. Only Analytics is required.
type Deps struct {
	// Analytics reads the usage summaries (store.Store).
	Analytics aiproxy.AnalyticsService
	// Live is the live traffic of the tiles (store.LiveHub); nil shows no
	// live tiles and answers /admin/dashboard/live with 404.
	Live LiveFeed
	// Health is the channels' health; its open and half-open breakers
	// list a channel among the failing ones. Nil ranks them by their
	// error rate alone.
	Health HealthSnapshot
	// Channels and Tokens name the channels and tokens listed; nil shows
	// their ids ("#12"), as does a failed lookup.
	Channels ChannelReader
	Tokens   TokenReader
	// Currency is shown after costs ("USD"); "" shows none.
	Currency string
	// Context ends every live stream when it is done (on shutdown, as
	// streams never go idle); nil means they end with their requests only.
	Context context.Context
	// LiveInterval is how often the live tiles are sent; 0 means a second.
	LiveInterval time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Logger logs the summaries that could not be read; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Mount serves the dashboard on r, which must run web's Auth.Session
// middleware: GET / redirects (303) to /admin, GET /admin is the
// dashboard and GET /admin/dashboard/live its live tiles' event stream,
// both for any signed-in session (web.RequireSignedIn).
func Mount(r chi.Router, d Deps) {
	h := &handler{d: d}
	r.Get("/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/admin", http.StatusSeeOther)
	})
	r.With(web.RequireSignedIn).Get("/admin", h.page)
	r.With(web.RequireSignedIn).Get("/admin/dashboard/live", h.live)
}

type handler struct {
	d Deps
}

func (h *handler) now() time.Time {
	if h.d.Now != nil {
		return h.d.Now()
	}
	return time.Now()
}

func (h *handler) logger() *slog.Logger {
	return cmp.Or(h.d.Logger, slog.Default())
}

// span is a range the dashboard shows: the last Length up to now, in
// buckets of Granularity.
type span struct {
	Key         string // the range parameter
	Label       string // of its link
	Heading     string // of its totals
	Length      time.Duration
	Granularity aiproxy.Granularity
	TimeFormat  string // of the charts' tables
}

// spans are the ranges offered; defaultSpan is the one shown when the URL
// names none (or one unknown).
var spans = []span{
	{"1h", "Last hour", "The last hour", time.Hour, aiproxy.GranularityMinute, "15:04"},
	{"24h", "24 hours", "The last 24 hours", 24 * time.Hour, aiproxy.GranularityHour, "Jan 2 15:04"},
	{"7d", "7 days", "The last 7 days", 7 * 24 * time.Hour, aiproxy.GranularityHour, "Jan 2 15:04"},
	{"30d", "30 days", "The last 30 days", 30 * 24 * time.Hour, aiproxy.GranularityHour, "Jan 2 15:04"},
}

const defaultSpan = 1 // 24h

// The charts' viewBox: about the width of a card, so that their text
// shows at about its nominal size.
const (
	chartWidth  = 420
	chartHeight = 200
)

// rankLimit is how many models, groups or tokens a ranking lists;
// failingLimit how many failing channels.
const (
	rankLimit    = 10
	failingLimit = 10
)

// query is what a dashboard URL asks for.
type query struct {
	Span span
	// Zone is the time zone named by the tz parameter ("" for none, which
	// means UTC); Location is it loaded, or UTC when it is unknown
	// (ZoneError set).
	Zone      string
	Location  *time.Location
	ZoneError string
}

// parseQuery reads the range and tz parameters of v.
func parseQuery(v url.Values) query {
	q := query{Span: spans[defaultSpan], Location: time.UTC}
	for _, s := range spans {
		if s.Key == v.Get("range") {
			q.Span = s
		}
	}
	q.Zone = v.Get("tz")
	if q.Zone != "" {
		loc, err := loadLocation(q.Zone)
		if err != nil {
			q.ZoneError = "Unknown time zone " + strconv.Quote(q.Zone) + ": times are in UTC."
		} else {
			q.Location = loc
		}
	}
	return q
}

// loadLocation loads an IANA zone by name, refusing "Local" (the
// server's zone, meaningless to the browser) and overlong names.
func loadLocation(name string) (*time.Location, error) {
	if name == "Local" || len(name) > 64 {
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "unknown time zone")
	}
	return time.LoadLocation(name)
}

// href returns the dashboard's URL for range s in q's zone.
func (q query) href(s span) string {
	v := url.Values{"range": {s.Key}}
	if q.Zone != "" && q.ZoneError == "" {
		v.Set("tz", q.Zone)
	}
	return "/admin?" + v.Encode()
}

// zoneName is the zone the page's times are in.
func (q query) zoneName() string {
	if q.Zone == "" || q.ZoneError != "" {
		return "UTC"
	}
	return q.Zone
}

// scope returns the group whose traffic s may see: its own for a group
// session, every group ("") for the admin; false for no session, or a
// group session without a group, which may see nothing.
func scope(s *web.Session) (string, bool) {
	switch {
	case s == nil:
		return "", false
	case s.Admin:
		return "", true
	}
	return s.GroupID, s.GroupID != ""
}

// view is everything the dashboard page shows.
type view struct {
	Query    query
	Admin    bool
	Group    string // the group shown, "" for every group
	From, To time.Time
	Errors   []string // the parts that could not be read

	Totals  aiproxy.UsageStats
	Charts  []chart.TimeChart
	Top     []ranking
	Failing []failingChannel
	// MoreFailing is how many failing channels are not listed.
	MoreFailing int
	Live        *liveTiles // nil without a live feed
	Currency    string
}

// ranking is a titled bar list.
type ranking struct {
	Heading string
	Bars    chart.Bars
}

// failingChannel is a line of the failing channels' table.
type failingChannel struct {
	ID        int64
	Name      string
	Requests  int64
	Errors    int64
	ErrorRate float64
	Breaker   aiproxy.BreakerState
	// OpenModels are the models whose breaker is open or half-open.
	OpenModels []string
	// Reason is why a breaker opened, else the last error health saw.
	Reason string
}

func (h *handler) page(w http.ResponseWriter, r *http.Request) {
	s := web.FromContext(r.Context())
	group, ok := scope(s)
	if !ok { // RequireSignedIn lets no such request through
		web.Error(w, r, http.StatusForbidden, "This session may see no traffic.")
		return
	}
	v := h.load(r.Context(), s, group, parseQuery(r.URL.Query()))
	web.Page(w, r, web.PageData{Title: "Dashboard", Area: layout.AreaDashboard}, page(v))
}

// load reads what the dashboard shows session s, of group (its scope),
// for q: the summaries of the range, read concurrently, then the names
// of what they list. A part that cannot be read is logged, named in
// v.Errors and shown empty.
func (h *handler) load(ctx context.Context, s *web.Session, group string, q query) *view {
	now := h.now()
	to := now.Truncate(time.Minute).Add(time.Minute) // the current minute included
	v := &view{
		Query: q, Admin: s.Admin, Group: group,
		From: to.Add(-q.Span.Length), To: to,
		Currency: h.d.Currency,
	}
	f := aiproxy.AnalyticsFilter{GroupID: v.Group, From: v.From, To: v.To}
	a := h.d.Analytics

	var (
		mu             sync.Mutex
		wg             sync.WaitGroup
		series         []aiproxy.UsagePoint
		models, groups []aiproxy.RankEntry
		channels       []aiproxy.ChannelStats
	)
	fail := func(part string, err error) {
		h.logger().ErrorContext(ctx, "dashboard: read summaries", "part", part, "err", err)
		mu.Lock()
		defer mu.Unlock()
		v.Errors = append(v.Errors, part+": "+aiproxy.ErrorMessage(err))
	}
	wg.Go(func() {
		var err error
		if series, err = a.UsageSeries(ctx, f, q.Span.Granularity, q.Location); err != nil {
			fail("charts", err)
		}
	})
	wg.Go(func() {
		var err error
		if v.Totals, err = a.UsageTotals(ctx, f); err != nil {
			fail("totals", err)
		}
	})
	wg.Go(func() {
		var err error
		if models, err = a.UsageRanking(ctx, f, aiproxy.RankModels, aiproxy.OrderRequests, rankLimit); err != nil {
			fail("top models", err)
		}
	})
	by := aiproxy.RankGroups
	if !v.Admin {
		by = aiproxy.RankTokens // a group ranks its own tokens
	}
	wg.Go(func() {
		var err error
		if groups, err = a.UsageRanking(ctx, f, by, aiproxy.OrderCost, rankLimit); err != nil {
			fail("top "+string(by)+"s", err)
		}
	})
	if v.Admin {
		wg.Go(func() {
			var err error
			if channels, err = a.ChannelStats(ctx, f); err != nil {
				fail("failing channels", err)
			}
		})
	}
	wg.Wait()
	slices.Sort(v.Errors) // in a stable order, whichever read failed first

	v.Charts = charts(series, q)
	v.Top = append(v.Top, ranking{Heading: "Top models by requests", Bars: h.modelBars(models)})
	if v.Admin {
		v.Top = append(v.Top, ranking{Heading: "Top groups by cost", Bars: h.groupBars(groups)})
		var health []aiproxy.ChannelHealth
		if h.d.Health != nil {
			health = h.d.Health.Snapshot()
		}
		v.Failing, v.MoreFailing = failing(channels, health, failingLimit)
		for i := range v.Failing {
			v.Failing[i].Name = h.channelName(ctx, v.Failing[i].ID)
		}
	} else {
		v.Top = append(v.Top, ranking{Heading: "Top tokens by cost", Bars: h.tokenBars(ctx, groups)})
	}
	if h.d.Live != nil {
		v.Live = readTiles(h.d.Live, store.LiveFilter{GroupID: v.Group})
	}
	return v
}

// charts returns the dashboard's charts of series.
func charts(series []aiproxy.UsagePoint, q query) []chart.TimeChart {
	n := len(series)
	times := make([]time.Time, n)
	requests, errs := make([]float64, n), make([]float64, n)
	tokens, cost := make([]float64, n), make([]float64, n)
	rate, p50, p95 := make([]float64, n), make([]float64, n), make([]float64, n)
	nan := math.NaN()
	for i := range series {
		s := &series[i].Stats
		times[i] = series[i].Start
		requests[i], errs[i] = float64(s.Requests), float64(s.Errors())
		tokens[i], cost[i] = float64(s.Usage.TotalTokens), s.Cost.Total().Float()
		rate[i], p50[i], p95[i] = nan, nan, nan // nothing to measure without requests
		if s.Requests > 0 {
			rate[i] = s.ErrorRate()
			p50[i], p95[i] = millis(s.Histogram.Percentile(0.50)), millis(s.Histogram.Percentile(0.95))
		}
	}
	base := chart.TimeChart{Times: times, Location: q.Location, TimeFormat: q.Span.TimeFormat, Width: chartWidth, Height: chartHeight}
	mk := func(id, title string, area bool, format func(float64) string, lines ...chart.Line) chart.TimeChart {
		c := base
		c.ID, c.Title, c.Area, c.Format, c.Lines = id, title, area, format, lines
		return c
	}
	return []chart.TimeChart{
		mk("chart-requests", "Requests", true, nil, chart.Line{Name: "Requests", Values: requests}, chart.Line{Name: "Errors", Values: errs}),
		mk("chart-tokens", "Tokens", true, nil, chart.Line{Name: "Tokens", Values: tokens}),
		mk("chart-cost", "Cost", true, costAxis, chart.Line{Name: "Cost", Values: cost}),
		mk("chart-error-rate", "Error rate", false, chart.Percent, chart.Line{Name: "Error rate", Values: rate}),
		mk("chart-latency", "Latency", false, chart.Millis, chart.Line{Name: "p50", Values: p50}, chart.Line{Name: "p95", Values: p95}),
	}
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// costAxis formats an amount of currency units on an axis or in a table.
func costAxis(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	if v == 0 || math.Abs(v) >= 1000 {
		return chart.Compact(v)
	}
	if math.Abs(v) >= 1 {
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// money formats an amount with the currency, if known.
func money(a aiproxy.Amount, currency string) string {
	s := costAxis(a.Float())
	if currency != "" {
		s += " " + currency
	}
	return s
}

// note returns the secondary text of a ranking entry: its requests'
// error rate when some failed.
func note(s *aiproxy.UsageStats) string {
	if s.Errors() == 0 {
		return ""
	}
	return chart.Percent(s.ErrorRate()) + " errors"
}

func (h *handler) modelBars(entries []aiproxy.RankEntry) chart.Bars {
	b := chart.Bars{ID: "top-models", Title: "Top models by requests", Empty: "No requests in this range."}
	for i := range entries {
		e := &entries[i]
		b.Items = append(b.Items, chart.Bar{
			Label: e.Model, Href: "/admin/logs?" + url.Values{"model": {e.Model}}.Encode(),
			Value: float64(e.Stats.Requests), Text: chart.Compact(float64(e.Stats.Requests)) + " requests",
			Note: note(&e.Stats),
		})
	}
	return b
}

func (h *handler) groupBars(entries []aiproxy.RankEntry) chart.Bars {
	b := chart.Bars{ID: "top-groups", Title: "Top groups by cost", Empty: "No requests in this range."}
	for i := range entries {
		e := &entries[i]
		b.Items = append(b.Items, h.costBar(e.GroupID, "/admin/groups/"+url.PathEscape(e.GroupID), &e.Stats))
	}
	return b
}

func (h *handler) tokenBars(ctx context.Context, entries []aiproxy.RankEntry) chart.Bars {
	b := chart.Bars{ID: "top-tokens", Title: "Top tokens by cost", Empty: "No requests in this range."}
	for i := range entries {
		e := &entries[i]
		name := "#" + strconv.FormatInt(e.TokenID, 10)
		if h.d.Tokens != nil && i < rankLimit { // bounded lookups, whatever the service returned
			if t, err := h.d.Tokens.Token(ctx, e.TokenID); err == nil {
				name = t.Name
			}
		}
		b.Items = append(b.Items, h.costBar(name, "", &e.Stats))
	}
	return b
}

// costBar is a ranking's bar of s's cost, with its requests in the note.
func (h *handler) costBar(label, href string, s *aiproxy.UsageStats) chart.Bar {
	n := chart.Compact(float64(s.Requests)) + " requests"
	if e := note(s); e != "" {
		n += ", " + e
	}
	return chart.Bar{Label: label, Href: href, Value: s.Cost.Total().Float(), Text: money(s.Cost.Total(), h.d.Currency), Note: n}
}

// channelName returns the name of channel id, or "#id" when it cannot
// be read; the requests that reached no channel are "No channel".
func (h *handler) channelName(ctx context.Context, id int64) string {
	if id == 0 {
		return "No channel"
	}
	if h.d.Channels != nil {
		if c, err := h.d.Channels.Channel(ctx, id); err == nil {
			return c.Name
		}
	}
	return "#" + strconv.FormatInt(id, 10)
}

// failing returns the channels failing in stats or health: those whose
// requests in the range had errors and those with a breaker open or half
// open now, worst first (open breakers, then half-open ones, then by
// error rate, errors and id), at most limit of them, and how many more
// there are.
func failing(stats []aiproxy.ChannelStats, health []aiproxy.ChannelHealth, limit int) ([]failingChannel, int) {
	byID := map[int64]*failingChannel{}
	get := func(id int64) *failingChannel {
		c := byID[id]
		if c == nil {
			c = &failingChannel{ID: id}
			byID[id] = c
		}
		return c
	}
	for i := range stats {
		s := &stats[i].Stats
		if s.Errors() == 0 {
			continue
		}
		c := get(stats[i].ChannelID)
		c.Requests, c.Errors, c.ErrorRate = s.Requests, s.Errors(), s.ErrorRate()
	}
	var lastErr map[int64]time.Time
	for _, ch := range health {
		st := ch.State.Breaker
		if st == aiproxy.BreakerClosed {
			continue
		}
		c := get(ch.ChannelID)
		if severity(st) > severity(c.Breaker) {
			c.Breaker = st
		}
		c.OpenModels = append(c.OpenModels, ch.Model)
		reason := cmp.Or(ch.OpenReason, ch.LastError)
		if lastErr == nil {
			lastErr = map[int64]time.Time{}
		}
		if reason != "" && (c.Reason == "" || ch.LastErrorAt.After(lastErr[ch.ChannelID])) {
			c.Reason, lastErr[ch.ChannelID] = reason, ch.LastErrorAt
		}
	}
	out := make([]failingChannel, 0, len(byID))
	for _, c := range byID {
		slices.Sort(c.OpenModels)
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b failingChannel) int {
		return cmp.Or(
			cmp.Compare(severity(b.Breaker), severity(a.Breaker)),
			cmp.Compare(b.ErrorRate, a.ErrorRate),
			cmp.Compare(b.Errors, a.Errors),
			cmp.Compare(a.ID, b.ID),
		)
	})
	if len(out) > limit {
		return out[:limit], len(out) - limit
	}
	return out, 0
}

// severity orders breaker states: closed, half-open, open.
func severity(b aiproxy.BreakerState) int {
	switch b {
	case aiproxy.BreakerOpen:
		return 2
	case aiproxy.BreakerHalfOpen:
		return 1
	}
	return 0
}

// count formats a count for a tile or a table.
func count(n int64) string { return chart.Compact(float64(n)) }

// breakerClass is the badge class suffix of a breaker state.
func breakerClass(b aiproxy.BreakerState) string {
	switch b {
	case aiproxy.BreakerOpen:
		return "open"
	case aiproxy.BreakerHalfOpen:
		return "half-open"
	}
	return "closed"
}

// breakerLabel is a breaker state for people.
func breakerLabel(b aiproxy.BreakerState) string {
	switch b {
	case aiproxy.BreakerOpen:
		return "Open"
	case aiproxy.BreakerHalfOpen:
		return "Half open"
	}
	return "Closed"
}

// joinModels lists the models of an open breaker, the first three by
// name and how many more.
func joinModels(models []string) string {
	const shown = 3
	if len(models) <= shown {
		return strings.Join(models, ", ")
	}
	return strings.Join(models[:shown], ", ") + " and " + strconv.Itoa(len(models)-shown) + " more"
}
