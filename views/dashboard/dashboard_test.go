package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/go-chi/chi/v5"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/views/web"
	"github.com/aiproxy/aiproxy/views/web/webtest"
)

// now is the fake clock of the tests.
var now = time.Date(2026, 12, 3, 14, 30, 20, 0, time.UTC)

// call is one call of fakeAnalytics.
type call struct {
	Method      string
	Filter      aiproxy.AnalyticsFilter
	Granularity aiproxy.Granularity
	Location    *time.Location
	By          aiproxy.RankBy
}

// fakeAnalytics is an aiproxy.AnalyticsService answering from its
// fields and recording its calls.
type fakeAnalytics struct {
	mu    sync.Mutex
	calls []call

	perBucket aiproxy.UsageStats // the stats of every bucket of a series
	// bucket, when set, returns the stats of the i-th bucket instead.
	bucket   func(i int) aiproxy.UsageStats
	totals   aiproxy.UsageStats
	ranks    map[aiproxy.RankBy][]aiproxy.RankEntry
	channels []aiproxy.ChannelStats
	failing  string // the method that fails, with EINTERNAL
}

var _ aiproxy.AnalyticsService = (*fakeAnalytics)(nil)

func (a *fakeAnalytics) record(c call) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, c)
	if c.Method == a.failing {
		return fmt.Errorf("store: usage: %w", errors.New("pq: password authentication failed for s3cret"))
	}
	return nil
}

// reset forgets the calls made so far.
func (a *fakeAnalytics) reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = a.calls[:0]
}

// Calls returns the calls made so far, sorted by method.
func (a *fakeAnalytics) Calls() []call {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := slices.Clone(a.calls)
	slices.SortStableFunc(out, func(x, y call) int { return strings.Compare(x.Method, y.Method) })
	return out
}

func (a *fakeAnalytics) UsageSeries(_ context.Context, f aiproxy.AnalyticsFilter, g aiproxy.Granularity, loc *time.Location) ([]aiproxy.UsagePoint, error) {
	if err := a.record(call{Method: "UsageSeries", Filter: f, Granularity: g, Location: loc}); err != nil {
		return nil, err
	}
	step := time.Hour
	start := f.From.In(loc).Truncate(time.Hour)
	if g == aiproxy.GranularityMinute {
		step, start = time.Minute, f.From.Truncate(time.Minute)
	}
	var out []aiproxy.UsagePoint
	for t := start; t.Before(f.To); t = t.Add(step) {
		p := aiproxy.UsagePoint{Start: t, End: t.Add(step), Stats: a.perBucket}
		if a.bucket != nil {
			p.Stats = a.bucket(len(out))
		}
		out = append(out, p)
	}
	return out, nil
}

func (a *fakeAnalytics) UsageTotals(_ context.Context, f aiproxy.AnalyticsFilter) (aiproxy.UsageStats, error) {
	return a.totals, a.record(call{Method: "UsageTotals", Filter: f})
}

func (a *fakeAnalytics) UsageRanking(_ context.Context, f aiproxy.AnalyticsFilter, by aiproxy.RankBy, _ aiproxy.RankOrder, _ int) ([]aiproxy.RankEntry, error) {
	if err := a.record(call{Method: "UsageRanking", Filter: f, By: by}); err != nil {
		return nil, err
	}
	return a.ranks[by], nil
}

func (a *fakeAnalytics) ChannelStats(_ context.Context, f aiproxy.AnalyticsFilter) ([]aiproxy.ChannelStats, error) {
	if err := a.record(call{Method: "ChannelStats", Filter: f}); err != nil {
		return nil, err
	}
	return a.channels, nil
}

// stats returns the stats of n requests, failed of them failing, with
// latencies spread over the histogram's first buckets.
func stats(n, failed int64) aiproxy.UsageStats {
	s := aiproxy.UsageStats{Requests: n, Successes: n - failed, Errors5xx: failed,
		Usage: aiproxy.Usage{PromptTokens: 100 * n, CompletionTokens: 20 * n, TotalTokens: 120 * n},
		Cost:  aiproxy.Cost{Input: aiproxy.Amount(n) * 1_000_000}}
	for i := range n {
		s.Histogram[i%8]++
	}
	return s
}

// fakeLive is a LiveFeed with set figures, recording the filters it is
// asked about.
type fakeLive struct {
	mu                sync.Mutex
	filters           []store.LiveFilter
	requests, failed  int64 // per second, over the last 3 seconds
	inflight, streams int64
}

func (l *fakeLive) set(requests, failed, inflight int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests, l.failed, l.inflight = requests, failed, inflight
}

func (l *fakeLive) Recent(f store.LiveFilter) []store.LiveSecond {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.filters = append(l.filters, f)
	n := l.requests
	if f.Failed != nil && *f.Failed {
		n = l.failed
	}
	var out []store.LiveSecond
	for i := range int64(3) {
		out = append(out, store.LiveSecond{Unix: now.Unix() - i, Requests: n, Tokens: 10 * n})
	}
	return out
}

func (l *fakeLive) InFlight(f store.LiveFilter) (int64, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.filters = append(l.filters, f)
	return l.inflight, l.streams
}

func (l *fakeLive) Filters() []store.LiveFilter {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.filters)
}

type fakeHealth []aiproxy.ChannelHealth

func (h fakeHealth) Snapshot() []aiproxy.ChannelHealth { return h }

type fakeChannels map[int64]string

func (c fakeChannels) Channel(_ context.Context, id int64) (*aiproxy.Channel, error) {
	if n, ok := c[id]; ok {
		return &aiproxy.Channel{ID: id, Name: n}, nil
	}
	return nil, aiproxy.Errorf(aiproxy.ENOTFOUND, "no channel")
}

type fakeTokens map[int64]string

func (t fakeTokens) Token(_ context.Context, id int64) (*aiproxy.Token, error) {
	if n, ok := t[id]; ok {
		return &aiproxy.Token{ID: id, Name: n}, nil
	}
	return nil, aiproxy.Errorf(aiproxy.ENOTFOUND, "no token")
}

// The sessions of the tests. Their expiry is on the real clock, which
// ends live streams.
var (
	admin = &web.Session{Admin: true, CSRF: "csrf", Expires: time.Now().Add(24 * time.Hour)}
	group = &web.Session{GroupID: "acme", TokenID: 7, TokenName: "ci", CSRF: "csrf", Expires: time.Now().Add(24 * time.Hour)}
)

// fixture is a dashboard over fakes.
type fixture struct {
	analytics *fakeAnalytics
	live      *fakeLive
	deps      Deps
}

func newFixture() *fixture {
	a := &fakeAnalytics{
		perBucket: stats(10, 1),
		totals:    stats(1000, 50),
		ranks: map[aiproxy.RankBy][]aiproxy.RankEntry{
			aiproxy.RankModels: {{Model: "gpt-5", Stats: stats(800, 40)}, {Model: "claude-opus", Stats: stats(200, 0)}},
			aiproxy.RankGroups: {{GroupID: "acme", Stats: stats(600, 0)}, {GroupID: "beta", Stats: stats(400, 50)}},
			aiproxy.RankTokens: {{GroupID: "acme", TokenID: 7, Stats: stats(500, 0)}, {GroupID: "acme", TokenID: 8, Stats: stats(100, 0)}},
		},
		channels: []aiproxy.ChannelStats{
			{ChannelID: 1, Stats: stats(100, 0)},  // healthy: not listed
			{ChannelID: 2, Stats: stats(100, 10)}, // 10%
			{ChannelID: 3, Stats: stats(10, 5)},   // 50%
			{ChannelID: 0, Stats: stats(4, 4)},    // reached no channel
		},
	}
	l := &fakeLive{requests: 2, failed: 1, inflight: 3, streams: 1}
	return &fixture{analytics: a, live: l, deps: Deps{
		Analytics: a,
		Live:      l,
		Health: fakeHealth{
			{ChannelID: 4, Model: "gpt-5", State: aiproxy.HealthState{Breaker: aiproxy.BreakerOpen}, OpenReason: "401 from the provider"},
			{ChannelID: 2, Model: "gpt-5", State: aiproxy.HealthState{Breaker: aiproxy.BreakerHalfOpen}},
		},
		Channels: fakeChannels{2: "openai-main", 3: "azure-eu", 4: "anthropic"},
		Tokens:   fakeTokens{7: "ci"},
		Currency: "USD",
		Now:      func() time.Time { return now },
	}}
}

// router returns the dashboard mounted on a router that signs every
// request in as s (nil: nobody).
func (fx *fixture) router(s *web.Session) http.Handler {
	r := chi.NewRouter()
	r.Use(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if s != nil {
				req = req.WithContext(web.WithSession(req.Context(), s))
			}
			next.ServeHTTP(w, req)
		})
	})
	Mount(r, fx.deps)
	return r
}

// get requests target from fx's dashboard as s, with the headers given
// in pairs, and returns the response and its parsed body.
func (fx *fixture) get(tb testing.TB, s *web.Session, target string, headers ...string) (*httptest.ResponseRecorder, *goquery.Document) {
	tb.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	fx.router(s).ServeHTTP(rec, req)
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(rec.Body.String()))
	if err != nil {
		tb.Fatal(err)
	}
	return rec, doc
}

func testid(id string) string { return `[data-testid="` + id + `"]` }

func TestPageAndFragment(t *testing.T) {
	fx := newFixture()
	tests := []struct {
		name    string
		headers []string
		whole   bool
	}{
		{"page", nil, true},
		{"htmx", []string{"HX-Request", "true"}, false},
		{"boosted htmx", []string{"HX-Request", "true", "HX-Boosted", "true"}, false},
		{"history restore", []string{"HX-Request", "true", "HX-History-Restore-Request", "true"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, doc := fx.get(t, admin, "/admin", tt.headers...)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			body := rec.Body.String()
			if got := strings.Contains(body, "<html") && doc.Find(testid("body")).Length() == 1; got != tt.whole {
				t.Errorf("whole page %v, want %v", got, tt.whole)
			}
			if doc.Find("main#main "+testid("dashboard")).Length() != 1 {
				t.Fatal("no dashboard in #main")
			}
			if doc.Find(testid("nav-dashboard")).AttrOr("aria-current", "") != "page" {
				t.Error("the dashboard's link is not current")
			}
			for _, id := range []string{"chart-requests", "chart-tokens", "chart-cost", "chart-error-rate", "chart-latency"} {
				if doc.Find(testid(id+"-svg")).Length() != 1 || doc.Find(testid(id+"-table")).Length() != 1 {
					t.Errorf("chart %s or its table missing", id)
				}
			}
			if got := doc.Find(testid("top-models-item")).Length(); got != 2 {
				t.Errorf("%d top models", got)
			}
			if got := doc.Find(testid("top-groups-item")).First().Find(".bar-label").Text(); got != "acme" {
				t.Errorf("top group %q", got)
			}
			if got := doc.Find(testid("total-requests-value")).Text(); got != "1k" {
				t.Errorf("requests %q", got)
			}
			if got := doc.Find(testid("total-error-rate-value")).Text(); got != "5%" {
				t.Errorf("error rate %q", got)
			}
			if got := doc.Find(testid("total-cost-value")).Text(); got != "1.00 USD" {
				t.Errorf("cost %q", got)
			}
			if p50, p95 := doc.Find(testid("total-p50-value")).Text(), doc.Find(testid("total-p95-value")).Text(); p50 == "" || p50 == p95 || !strings.HasSuffix(p95, "ms") {
				t.Errorf("latency p50 %q, p95 %q", p50, p95)
			}
			if live := doc.Find(testid("live")); live.AttrOr("sse-connect", "") != "/admin/dashboard/live" || live.AttrOr("hx-ext", "") != "sse" {
				t.Error("the live section does not connect to its stream")
			}
			// Each tile is the target of its own event, not the #main the
			// layout's body names for every swap.
			for _, name := range []string{"rpm", "tpm", "inflight", "errors"} {
				tile := doc.Find(testid("tile-" + name))
				if tile.AttrOr("sse-swap", "") != name || tile.AttrOr("hx-target", "") != "this" || tile.AttrOr("hx-swap", "") != "innerHTML" {
					t.Errorf("%s tile: sse-swap %q, hx-target %q, hx-swap %q", name, tile.AttrOr("sse-swap", ""), tile.AttrOr("hx-target", ""), tile.AttrOr("hx-swap", ""))
				}
			}
			if got := doc.Find(testid("live-rpm")).Text(); got != "6" {
				t.Errorf("rpm %q, want the live feed's 3 seconds × 2", got)
			}
			if doc.Find("[style], script:not([src])").Length() != 0 {
				t.Error("inline style or script: the CSP refuses them")
			}
		})
	}
}

func TestRedirectAndSignIn(t *testing.T) {
	fx := newFixture()
	rec, _ := fx.get(t, nil, "/")
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/admin" {
		t.Errorf("GET /: %d to %q", rec.Code, rec.Header().Get("Location"))
	}
	for _, target := range []string{"/admin", "/admin/dashboard/live"} {
		rec, _ := fx.get(t, nil, target)
		if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), web.SignInPath) {
			t.Errorf("%s signed out: %d to %q", target, rec.Code, rec.Header().Get("Location"))
		}
	}
	if calls := fx.analytics.Calls(); len(calls) != 0 {
		t.Errorf("summaries read for nobody: %v", calls)
	}
}

func TestRanges(t *testing.T) {
	to := now.Truncate(time.Minute).Add(time.Minute)
	tests := []struct {
		query       string
		key         string
		length      time.Duration
		granularity aiproxy.Granularity
		points      int
	}{
		{"", "24h", 24 * time.Hour, aiproxy.GranularityHour, 25},
		{"?range=1h", "1h", time.Hour, aiproxy.GranularityMinute, 60},
		{"?range=24h", "24h", 24 * time.Hour, aiproxy.GranularityHour, 25},
		{"?range=7d", "7d", 7 * 24 * time.Hour, aiproxy.GranularityHour, 169},
		{"?range=30d", "30d", 30 * 24 * time.Hour, aiproxy.GranularityHour, 721},
		{"?range=1y", "24h", 24 * time.Hour, aiproxy.GranularityHour, 25}, // unknown: the default
	}
	for _, tt := range tests {
		t.Run(tt.key+tt.query, func(t *testing.T) {
			fx := newFixture()
			_, doc := fx.get(t, admin, "/admin"+tt.query, "HX-Request", "true")
			calls := fx.analytics.Calls()
			if len(calls) != 5 { // ChannelStats, UsageRanking ×2, UsageSeries, UsageTotals
				t.Fatalf("%d calls: %+v", len(calls), calls)
			}
			for _, c := range calls {
				if !c.Filter.To.Equal(to) || c.Filter.To.Sub(c.Filter.From) != tt.length || c.Filter.GroupID != "" {
					t.Errorf("%s filter %+v, want the %v before %v", c.Method, c.Filter, tt.length, to)
				}
				if c.Method == "UsageSeries" && c.Granularity != tt.granularity {
					t.Errorf("granularity %s, want %s", c.Granularity, tt.granularity)
				}
			}
			if got := doc.Find(testid("dashboard")).AttrOr("data-range", ""); got != tt.key {
				t.Errorf("range %q, want %q", got, tt.key)
			}
			current := doc.Find(`[data-testid="range-picker"] [aria-current="page"]`)
			if current.Length() != 1 || current.AttrOr("data-testid", "") != "range-"+tt.key {
				t.Errorf("current range link %q", current.AttrOr("data-testid", ""))
			}
			link := doc.Find(testid("range-7d"))
			if link.AttrOr("href", "") != "/admin?range=7d" || link.AttrOr("hx-get", "") != "/admin?range=7d" || link.AttrOr("hx-push-url", "") != "true" {
				t.Errorf("7d link: href %q hx-get %q", link.AttrOr("href", ""), link.AttrOr("hx-get", ""))
			}
			if got := doc.Find(testid("chart-requests-table") + " tbody tr").Length(); got != tt.points {
				t.Errorf("%d points in the table, want %d", got, tt.points)
			}
		})
	}
}

func TestTimeZone(t *testing.T) {
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		tz       string
		loc      *time.Location
		shown    string
		browser  bool // asks app.js for the browser's zone
		zoneErr  bool
		linkZone string
	}{
		{"none", "", time.UTC, "UTC", true, false, ""},
		{"Kolkata", "Asia/Kolkata", kolkata, "Asia/Kolkata", false, false, "&tz=Asia%2FKolkata"},
		{"unknown", "Mars/Olympus", time.UTC, "UTC", false, true, ""},
		{"the server's", "Local", time.UTC, "UTC", false, true, ""},
		{"a path", "../../etc/passwd", time.UTC, "UTC", false, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture()
			_, doc := fx.get(t, admin, "/admin?range=1h&tz="+tt.tz, "HX-Request", "true")
			for _, c := range fx.analytics.Calls() {
				if c.Method == "UsageSeries" && c.Location.String() != tt.loc.String() {
					t.Errorf("series in %v, want %v", c.Location, tt.loc)
				}
			}
			if got := doc.Find(testid("tz")).Text(); !strings.Contains(got, "("+tt.shown+")") {
				t.Errorf("zone shown %q, want %q", got, tt.shown)
			}
			if _, got := doc.Find(testid("dashboard")).Attr("data-browser-tz"); got != tt.browser {
				t.Errorf("data-browser-tz %v", got)
			}
			if got := doc.Find(testid("tz-error")).Length() == 1; got != tt.zoneErr {
				t.Errorf("zone error shown %v", got)
			}
			if got := doc.Find(testid("range-7d")).AttrOr("href", ""); got != "/admin?range=7d"+tt.linkZone {
				t.Errorf("7d link %q", got)
			}
			// The table's times are on the zone's clocks: Kolkata is UTC+5:30.
			first := doc.Find(testid("chart-requests-table") + " tbody th").First().Text()
			if want := now.Add(time.Minute - time.Hour).Truncate(time.Minute).In(tt.loc).Format("15:04"); first != want {
				t.Errorf("first time %q, want %q", first, want)
			}
		})
	}
}

// A group session sees its own group only, whatever the URL says.
func TestGroupSession(t *testing.T) {
	fx := newFixture()
	rec, doc := fx.get(t, group, "/admin?range=7d&group=beta&groupId=beta", "HX-Request", "true")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	calls := fx.analytics.Calls()
	if len(calls) != 4 {
		t.Errorf("%d calls, want 4 (no channel stats): %+v", len(calls), calls)
	}
	for _, c := range calls {
		if c.Filter.GroupID != "acme" {
			t.Errorf("%s read group %q", c.Method, c.Filter.GroupID)
		}
		if c.Method == "ChannelStats" || c.By == aiproxy.RankGroups || c.By == aiproxy.RankChannels {
			t.Errorf("a group session read %s by %q", c.Method, c.By)
		}
	}
	for _, f := range fx.live.Filters() {
		if f.GroupID != "acme" {
			t.Errorf("live figures of group %q", f.GroupID)
		}
	}
	if doc.Find(testid("group-scope")).Text() != "Group acme" {
		t.Errorf("scope %q", doc.Find(testid("group-scope")).Text())
	}
	if doc.Find(testid("failing-channels")+","+testid("failing-channels-empty")+","+testid("top-groups")).Length() != 0 {
		t.Error("a group session sees channels or other groups")
	}
	var tokens []string
	doc.Find(testid("top-tokens-item") + " .bar-label").Each(func(_ int, s *goquery.Selection) { tokens = append(tokens, strings.TrimSpace(s.Text())) })
	if !slices.Equal(tokens, []string{"ci", "#8"}) {
		t.Errorf("top tokens %q", tokens)
	}
}

func TestFailingChannels(t *testing.T) {
	fx := newFixture()
	_, doc := fx.get(t, admin, "/admin", "HX-Request", "true")
	type line struct{ id, name, rate, breaker, reason string }
	var got []line
	doc.Find(testid("failing-channel")).Each(func(_ int, s *goquery.Selection) {
		got = append(got, line{
			s.AttrOr("data-channel-id", ""), strings.TrimSpace(s.Find("th").Text()),
			strings.TrimSpace(s.Find("td").Eq(2).Text()), s.Find(testid("breaker")).Text(),
			strings.TrimSpace(s.Find("td").Eq(4).Text()),
		})
	})
	// Open breakers first, then half-open ones, then by error rate.
	want := []line{
		{"4", "anthropic", "–", "Open", "401 from the provider"},
		{"2", "openai-main", "10%", "Half open", ""},
		{"0", "No channel", "100%", "Closed", ""},
		{"3", "azure-eu", "50%", "Closed", ""},
	}
	if !slices.Equal(got, want) {
		t.Errorf("failing channels\n got %q\nwant %q", got, want)
	}
	if href := doc.Find(testid("failing-channel")).First().Find("a").AttrOr("href", ""); href != "/admin/channels/4" {
		t.Errorf("link %q", href)
	}

	lines, more := failing(manyFailing(25), nil, failingLimit)
	if len(lines) != failingLimit || more != 15 || lines[0].ErrorRate < lines[9].ErrorRate {
		t.Errorf("%d lines and %d more", len(lines), more)
	}
	fx.analytics.channels = []aiproxy.ChannelStats{{ChannelID: 1, Stats: stats(10, 0)}}
	fx.deps.Health = nil
	_, doc = fx.get(t, admin, "/admin", "HX-Request", "true")
	if doc.Find(testid("failing-channels-empty")).Length() != 1 {
		t.Error("no empty state without failing channels")
	}
}

func manyFailing(n int) []aiproxy.ChannelStats {
	out := make([]aiproxy.ChannelStats, n)
	for i := range out {
		out[i] = aiproxy.ChannelStats{ChannelID: int64(i + 1), Stats: stats(100, int64(i%50+1))}
	}
	return out
}

// A summary that cannot be read is named, and the rest still shows.
func TestAnalyticsError(t *testing.T) {
	for _, method := range []string{"UsageSeries", "UsageTotals", "UsageRanking", "ChannelStats"} {
		t.Run(method, func(t *testing.T) {
			fx := newFixture()
			fx.analytics.failing = method
			rec, doc := fx.get(t, admin, "/admin")
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d", rec.Code)
			}
			msg := doc.Find(testid("dashboard-error")).Text()
			if !strings.Contains(msg, "internal error") || strings.Contains(msg, "s3cret") {
				t.Errorf("error %q: not shown, or its details leaked", msg)
			}
			if doc.Find(testid("chart-latency-svg")).Length() != 1 || doc.Find(testid("totals")).Length() != 1 {
				t.Error("the page is not complete")
			}
		})
	}
	fx := newFixture()
	_, doc := fx.get(t, admin, "/admin")
	if doc.Find(testid("dashboard-error")).Length() != 0 {
		t.Error("an error shown with none")
	}
}

func TestChartsOfSeries(t *testing.T) {
	s := stats(4, 1)
	series := []aiproxy.UsagePoint{{Start: now, Stats: s}, {Start: now.Add(time.Hour)}} // the second: no requests
	cs := charts(series, query{Span: spans[1], Location: time.UTC})
	byID := map[string][]float64{}
	for _, c := range cs {
		for _, l := range c.Lines {
			byID[c.ID+"/"+l.Name] = l.Values
		}
	}
	if v := byID["chart-requests/Requests"]; v[0] != 4 || v[1] != 0 {
		t.Errorf("requests %v", v)
	}
	if v := byID["chart-error-rate/Error rate"]; v[0] != 0.25 || v[1] == v[1] {
		t.Errorf("error rate %v: want 25%% and a gap (NaN) where nothing was measured", v)
	}
	if p50, p95 := byID["chart-latency/p50"], byID["chart-latency/p95"]; p50[0] <= 0 || p95[0] < p50[0] || p95[1] == p95[1] {
		t.Errorf("latency p50 %v p95 %v", p50, p95)
	}
	if want := millis(s.Histogram.Percentile(0.95)); byID["chart-latency/p95"][0] != want {
		t.Errorf("p95 %v, want the histogram's %v", byID["chart-latency/p95"][0], want)
	}
}

func TestCostAxis(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 0.00123: "0.00123", 0.5: "0.5", 3.456: "3.46", 12345: "12.3k"} {
		if got := costAxis(v); got != want {
			t.Errorf("costAxis(%v) = %q, want %q", v, got, want)
		}
	}
}

// BenchmarkDashboard renders the dashboard of 30 days (a series of 720
// hourly buckets) over fakes. "1000-ranked" has the services return 1,000
// entries per ranking, which the page renders all of (a service keeping
// to the limit returns 10), and 1,000 channels with errors; "10k-channels"
// is a gateway of 10,000 channels, every one with errors and a breaker
// open on 1,000 of them.
func BenchmarkDashboard(b *testing.B) {
	ranking := func(by aiproxy.RankBy, n int) []aiproxy.RankEntry {
		out := make([]aiproxy.RankEntry, n)
		for i := range out {
			out[i] = aiproxy.RankEntry{Stats: stats(int64(10000-i), int64(i%7))}
			switch by {
			case aiproxy.RankModels:
				out[i].Model = fmt.Sprintf("model-%04d", i)
			case aiproxy.RankGroups:
				out[i].GroupID = fmt.Sprintf("group-%04d", i)
			}
		}
		return out
	}
	breakers := func(n int) fakeHealth {
		out := make(fakeHealth, n)
		for i := range out {
			out[i] = aiproxy.ChannelHealth{ChannelID: int64(i*10 + 1), Model: "gpt-5", State: aiproxy.HealthState{Breaker: aiproxy.BreakerOpen}, OpenReason: "429"}
		}
		return out
	}
	tests := []struct {
		name             string
		ranked, channels int
		health           fakeHealth
	}{
		{"1000-ranked", 1000, 1000, nil},
		{"10k-channels", rankLimit, 10_000, breakers(1000)},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			fx := newFixture()
			fx.analytics.ranks = map[aiproxy.RankBy][]aiproxy.RankEntry{
				aiproxy.RankModels: ranking(aiproxy.RankModels, tt.ranked),
				aiproxy.RankGroups: ranking(aiproxy.RankGroups, tt.ranked),
			}
			fx.analytics.channels = manyFailing(tt.channels)
			fx.deps.Health = tt.health
			h := fx.router(admin)
			b.ReportAllocs()
			var size int
			for b.Loop() {
				fx.analytics.reset() // recorded calls would grow without bound
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/admin?range=30d&tz=Europe/Paris", nil))
				if rec.Code != http.StatusOK {
					b.Fatal(rec.Code)
				}
				size = rec.Body.Len()
			}
			b.ReportMetric(float64(size), "bytes/page")
		})
	}
}

// Through the real session middleware: a group token's cookie sees its
// group, the admin key's every group, and no cookie none.
func TestSessionCookies(t *testing.T) {
	tokens := webtest.NewTokens()
	_, key := tokens.Add(&aiproxy.Group{ID: "acme", Enabled: true}, "ci")
	auth := webtest.NewAuth(tokens)
	tests := []struct {
		name  string
		key   string
		group string
	}{
		{"group token", key, "acme"},
		{"admin key", webtest.AdminKey, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture()
			r := chi.NewRouter()
			r.Use(auth.Session)
			Mount(r, fx.deps)
			cookie, _ := webtest.SignIn(t, auth, tt.key)
			req := httptest.NewRequest(http.MethodGet, "/admin?range=1h", nil)
			req.AddCookie(cookie)
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d", rec.Code)
			}
			calls := fx.analytics.Calls()
			if len(calls) == 0 {
				t.Fatal("no summaries read")
			}
			for _, c := range calls {
				if c.Filter.GroupID != tt.group {
					t.Errorf("%s of group %q, want %q", c.Method, c.Filter.GroupID, tt.group)
				}
			}
		})
	}
}

// A group session without a group sees nothing, not every group.
func TestSessionWithoutGroup(t *testing.T) {
	fx := newFixture()
	s := &web.Session{GroupID: "", TokenID: 9, Expires: time.Now().Add(time.Hour)}
	for _, target := range []string{"/admin", "/admin/dashboard/live"} {
		if rec, _ := fx.get(t, s, target); rec.Code != http.StatusForbidden {
			t.Errorf("%s: status %d", target, rec.Code)
		}
	}
	if calls := fx.analytics.Calls(); len(calls) != 0 || len(fx.live.Filters()) != 0 {
		t.Errorf("read %v", calls)
	}
}
