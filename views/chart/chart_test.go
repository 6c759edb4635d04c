package chart

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
)

func TestNiceTicks(t *testing.T) {
	tests := []struct {
		lo, hi float64
		n      int
		want   []float64
	}{
		{0, 1, 4, []float64{0, 0.5, 1}},
		{0, 0, 4, []float64{0, 0.5, 1}},
		{0, 7, 4, []float64{0, 2, 4, 6, 8}},
		{0, 93, 4, []float64{0, 50, 100}},
		{0, 1234, 4, []float64{0, 500, 1000, 1500}},
		{0, 0.3, 3, []float64{0, 0.1, 0.2, 0.3}},
		{-3, 9, 4, []float64{-5, 0, 5, 10}},
		{5, 5, 4, []float64{0, 2, 4, 6}},
		{0, 2.5e9, 5, []float64{0, 5e8, 1e9, 1.5e9, 2e9, 2.5e9}},
		{9, 0, 4, []float64{0, 5, 10}}, // reversed
		{0, 1, 0, []float64{0, 1}},     // n below 1
	}
	for _, tt := range tests {
		got := NiceTicks(tt.lo, tt.hi, tt.n)
		if !slices.Equal(got, tt.want) {
			t.Errorf("NiceTicks(%v, %v, %d) = %v, want %v", tt.lo, tt.hi, tt.n, got, tt.want)
		}
	}
	if got := NiceTicks(math.NaN(), 1, 4); got != nil {
		t.Errorf("NiceTicks(NaN) = %v", got)
	}
	// Every step is 1, 2 or 5 × 10^k.
	for _, hi := range []float64{0.0007, 0.013, 1, 3.3, 47, 999, 12345, 6.7e7} {
		ticks := NiceTicks(0, hi, 5)
		step := ticks[1] - ticks[0]
		m := step / math.Pow(10, math.Floor(math.Log10(step)))
		if r := math.Round(m); math.Abs(m-r) > 1e-6 || (r != 1 && r != 2 && r != 5) {
			t.Errorf("NiceTicks(0, %v): step %v", hi, step)
		}
		if ticks[len(ticks)-1] < hi || len(ticks) > 7 {
			t.Errorf("NiceTicks(0, %v) = %v: does not cover the range in a few ticks", hi, ticks)
		}
	}
}

func labels(ticks []TimeTick) []string {
	var out []string
	for _, t := range ticks {
		out = append(out, t.Label)
	}
	return out
}

func TestTimeTicks(t *testing.T) {
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	day := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		from, to time.Time
		loc      *time.Location
		n        int
		want     []string
	}{
		{"an hour by 15 minutes", day.Add(10*time.Hour + 7*time.Minute), day.Add(11*time.Hour + 7*time.Minute), time.UTC, 6,
			[]string{"10:15", "10:30", "10:45", "11:00"}},
		{"a day by 6 hours, midnight as a date", day.Add(-3 * time.Hour), day.Add(21 * time.Hour), time.UTC, 6,
			[]string{"Dec 3", "06:00", "12:00", "18:00"}},
		// Kolkata is UTC+5:30: its round hours are at half past in UTC.
		{"a day on Kolkata's clocks", day, day.Add(24 * time.Hour), kolkata, 6,
			[]string{"06:00", "12:00", "18:00", "Dec 4"}},
		{"a month by weeks", day, day.AddDate(0, 0, 30), time.UTC, 6,
			[]string{"Dec 3", "Dec 10", "Dec 17", "Dec 24", "Dec 31"}},
		// 2026-11-01 is the end of daylight saving time in New York: the
		// ticks stay on the clocks' round hours across the change.
		{"across a DST change", time.Date(2026, 11, 1, 0, 0, 0, 0, newYork), time.Date(2026, 11, 1, 23, 0, 0, 0, newYork), newYork, 6,
			[]string{"Nov 1", "06:00", "12:00", "18:00"}},
		// On 2026-03-08 New York's clocks skip 02:00: no tick twice at 03:00.
		{"across a skipped hour", time.Date(2026, 3, 8, 0, 0, 0, 0, newYork), time.Date(2026, 3, 8, 5, 0, 0, 0, newYork), newYork, 6,
			[]string{"Mar 8", "01:00", "03:00", "04:00", "05:00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := TimeTicks(tt.from, tt.to, tt.loc, tt.n)
			if !slices.Equal(labels(got), tt.want) {
				t.Errorf("labels %q, want %q", labels(got), tt.want)
			}
			for i, tk := range got {
				if tk.At.Before(tt.from) || tk.At.After(tt.to) || (i > 0 && !tk.At.After(got[i-1].At)) {
					t.Errorf("tick %v out of range or order", tk.At)
				}
			}
		})
	}
	if got := TimeTicks(day, day.Add(-time.Hour), nil, 5); got != nil {
		t.Errorf("reversed range: %v", got)
	}
}

func TestFormats(t *testing.T) {
	tests := []struct {
		f    func(float64) string
		v    float64
		want string
	}{
		{Compact, 0, "0"},
		{Compact, 0.125, "0.125"},
		{Compact, 7, "7"},
		{Compact, 950, "950"},
		{Compact, 999.7, "1k"},
		{Compact, 1234, "1.23k"},
		{Compact, 34_500_000, "34.5M"},
		{Compact, 2.1e9, "2.1G"},
		{Compact, -1500, "-1.5k"},
		{Compact, math.NaN(), "–"},
		{Percent, 0.0534, "5.3%"},
		{Percent, 0, "0%"},
		{Percent, 1, "100%"},
		{Millis, 850.4, "850 ms"},
		{Millis, 1250, "1.25 s"},
		{Millis, 30000, "30 s"},
		{Millis, math.NaN(), "–"},
	}
	for _, tt := range tests {
		if got := tt.f(tt.v); got != tt.want {
			t.Errorf("format(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

// render renders c and parses it.
func render(tb testing.TB, c templ.Component) *goquery.Document {
	tb.Helper()
	var b strings.Builder
	if err := c.Render(context.Background(), &b); err != nil {
		tb.Fatal(err)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(b.String()))
	if err != nil {
		tb.Fatal(err)
	}
	return doc
}

func hourly(n int, f func(i int) float64) ([]time.Time, []float64) {
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	times, values := make([]time.Time, n), make([]float64, n)
	for i := range n {
		times[i], values[i] = start.Add(time.Duration(i)*time.Hour), f(i)
	}
	return times, values
}

func TestTimeChart(t *testing.T) {
	tests := []struct {
		name                        string
		points                      int
		value                       func(i int) float64
		paths, dots, rows, segments int
		empty                       bool
		minXTicks                   int
	}{
		{name: "empty", points: 0, empty: true},
		{name: "one point", points: 1, value: func(int) float64 { return 42 }, dots: 1, rows: 1, minXTicks: 1},
		{name: "many points", points: 72, value: func(i int) float64 { return float64(i * i) }, paths: 1, rows: 72, segments: 1, minXTicks: 3},
		{name: "all zero", points: 24, value: func(int) float64 { return 0 }, paths: 1, rows: 24, segments: 1, minXTicks: 3},
		{name: "a gap", points: 10, value: func(i int) float64 {
			if i == 4 || i == 5 {
				return math.NaN()
			}
			return float64(i)
		}, paths: 1, rows: 10, segments: 2, minXTicks: 3},
		{name: "nothing measured", points: 5, value: func(int) float64 { return math.NaN() }, rows: 5, empty: true, minXTicks: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := TimeChart{ID: "req", Title: "Requests", Area: true}
			var values []float64
			if tt.points > 0 {
				c.Times, values = hourly(tt.points, tt.value)
			}
			c.Lines = []Line{{Name: "requests", Values: values}}
			doc := render(t, Time(c))
			svg := doc.Find(`[data-testid="req-svg"]`)
			if svg.Length() != 1 || svg.AttrOr("role", "") != "img" || svg.AttrOr("aria-labelledby", "") != "req-title" {
				t.Fatalf("svg %d, role and label wrong", svg.Length())
			}
			if got := svg.Find("title#req-title").Text(); got != "Requests" {
				t.Errorf("title %q", got)
			}
			if svg.Find("desc#req-desc").Text() == "" {
				t.Error("no description")
			}
			if got := svg.Find("path.chart-line").Length(); got != tt.paths {
				t.Errorf("%d lines, want %d", got, tt.paths)
			}
			if got := svg.Find("circle.chart-dot").Length(); got != tt.dots {
				t.Errorf("%d dots, want %d", got, tt.dots)
			}
			if tt.paths > 0 {
				d := svg.Find("path.chart-line").AttrOr("d", "")
				if got := strings.Count(d, "M"); got != tt.segments {
					t.Errorf("%d segments in %q, want %d", got, d, tt.segments)
				}
				if svg.Find("path.chart-area").Length() != 1 {
					t.Error("no area")
				}
			}
			if got := doc.Find(`[data-testid="req-empty"]`).Length() == 1; got != tt.empty {
				t.Errorf("empty %v, want %v", got, tt.empty)
			}
			if got := doc.Find(`[data-testid="req-table"] tbody tr th`).Length(); got != tt.rows {
				t.Errorf("%d table rows, want %d", got, tt.rows)
			}
			if got := doc.Find(`[data-testid="req-xticks"] text`).Length(); got < tt.minXTicks {
				t.Errorf("%d time labels, want at least %d", got, tt.minXTicks)
			}
			if doc.Find(`[data-testid="req-yticks"] text`).Length() < 2 {
				t.Error("fewer than two y labels")
			}
			if doc.Find(`[style]`).Length() != 0 {
				t.Error("an inline style attribute: the CSP refuses it")
			}
		})
	}
}

func TestTimeChartValues(t *testing.T) {
	times, values := hourly(3, func(i int) float64 { return []float64{0.01, 0.2, 0.05}[i] })
	c := TimeChart{ID: "err", Title: "Error rate", Times: times, Format: Percent, Location: time.FixedZone("X", -5*3600),
		Lines: []Line{{Name: "error rate", Values: values}, {Name: "other", Values: values[:1]}}}
	doc := render(t, Time(c))
	var ys []string
	doc.Find(`[data-testid="err-yticks"] text`).Each(func(_ int, s *goquery.Selection) { ys = append(ys, s.Text()) })
	if want := []string{"0%", "5%", "10%", "15%", "20%"}; !slices.Equal(ys, want) {
		t.Errorf("y labels %q, want %q", ys, want)
	}
	if got := doc.Find(`[data-testid="err-table"] tbody tr`).First().Text(); !strings.Contains(got, "Nov 30 19:00") || !strings.Contains(got, "1%") {
		t.Errorf("first row %q: not in the chart's zone, or not formatted", got)
	}
	// The second line has one value: a dot, and "–" for the values it lacks.
	if doc.Find("circle.chart-dot-2").Length() != 1 || !strings.Contains(doc.Find(`[data-testid="err-table"] tbody tr`).Last().Text(), "–") {
		t.Error("the short line is not drawn as a dot and dashes")
	}
	if got := doc.Find(`[data-testid="err-legend"] li`).Length(); got != 2 {
		t.Errorf("%d legend keys", got)
	}
	if got := doc.Find(".chart-hover rect").Length(); got != 3 {
		t.Errorf("%d hover targets", got)
	}
	desc := doc.Find("desc").Text()
	if !strings.Contains(desc, "highest 20%") || !strings.Contains(desc, "latest 5%") {
		t.Errorf("description %q", desc)
	}
	// The highest value reaches the top of the plot area.
	d := doc.Find("path.chart-line-1").AttrOr("d", "")
	if !strings.Contains(d, ","+num(marginTop)) {
		t.Errorf("path %q does not reach the top", d)
	}
}

func TestBarList(t *testing.T) {
	doc := render(t, BarList(Bars{ID: "top", Title: "Top", Items: []Bar{
		{Label: "gpt-5", Value: 200, Href: "/admin/models/gpt-5"},
		{Label: "claude", Value: 50, Text: "50 requests", Note: "2% errors"},
		{Label: "none", Value: 0},
	}}))
	items := doc.Find(`[data-testid="top-item"]`)
	if items.Length() != 3 {
		t.Fatalf("%d items", items.Length())
	}
	var widths, values []string
	items.Each(func(_ int, s *goquery.Selection) {
		widths = append(widths, s.Find("rect.bar-fill").AttrOr("width", ""))
		values = append(values, s.Find(`[data-testid="top-value"]`).Text())
	})
	if want := []string{"100", "25", "0"}; !slices.Equal(widths, want) {
		t.Errorf("widths %q, want %q", widths, want)
	}
	if want := []string{"200", "50 requests", "0"}; !slices.Equal(values, want) {
		t.Errorf("values %q, want %q", values, want)
	}
	if href := items.First().Find("a").AttrOr("href", ""); href != "/admin/models/gpt-5" {
		t.Errorf("href %q", href)
	}
	if doc.Find("ol").AttrOr("aria-label", "") != "Top" || doc.Find("svg[aria-hidden=true]").Length() != 3 {
		t.Error("not labelled, or the bars are not hidden from screen readers")
	}

	doc = render(t, BarList(Bars{ID: "top", Empty: "No requests"}))
	if got := doc.Find(`[data-testid="top-empty"]`).Text(); got != "No requests" || doc.Find("li").Length() != 0 {
		t.Errorf("empty list: %q", got)
	}
}
