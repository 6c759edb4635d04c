package chart

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Default size of a TimeChart's viewBox; the SVG scales to its container's
// width, so these set the aspect ratio and the text's relative size.
const (
	DefaultWidth  = 640
	DefaultHeight = 220
)

// Margins of the plot area inside the viewBox: room for the y labels on
// the left and the time labels below.
const (
	marginLeft   = 56
	marginRight  = 12
	marginTop    = 12
	marginBottom = 26
)

// maxHoverPoints is the most points a chart gives hover targets (a
// transparent column with a <title> per point): beyond it they would
// weigh more than the chart, and the data table holds every value.
const maxHoverPoints = 200

// Line is one series of a TimeChart.
type Line struct {
	// Name labels the line in the legend and heads its column of the data
	// table.
	Name string
	// Values holds one value per time of the chart: Values[i] is the
	// value at Times[i]. NaN, or a missing value at the end, leaves a gap
	// (a bucket with nothing to measure, such as the latency of no
	// request); values beyond len(Times) are ignored.
	Values []float64
}

// TimeChart is a line chart of one or more series over time, drawn by
// Time. Its zero value, but for ID, is a valid empty chart.
type TimeChart struct {
	// ID names the chart on the page: it is the SVG's data-testid and the
	// prefix of the ids its title and description get, so it must be
	// unique on the page.
	ID string
	// Title names the chart: the SVG's <title> and the data table's
	// caption.
	Title string
	// Desc describes it for screen readers (the SVG's <desc>); "" gives
	// a summary of the first line: its range of times, latest, lowest and
	// highest values.
	Desc string
	// Times are the times of the points, oldest first (for a bucketed
	// series, each bucket's start).
	Times []time.Time
	// Lines are the series, drawn in order with the classes line,
	// chart-line and chart-line-1, chart-line-2, ... (chart-dot and
	// chart-dot-N for the dot of a lone point).
	Lines []Line
	// Location is the time zone of the time axis and the table; nil means
	// UTC.
	Location *time.Location
	// Format formats values on the y axis, in the table and the
	// description; nil means Compact.
	Format func(float64) string
	// Area fills the space below the first line (class chart-area).
	Area bool
	// TimeFormat formats the times of the table and the hover titles, in
	// Location; "" means "Jan 2 15:04".
	TimeFormat string
	// Width and Height are the viewBox's size; 0 means DefaultWidth and
	// DefaultHeight.
	Width, Height int
}

// tick is a labelled position on an axis, in viewBox units.
type tick struct {
	Pos   string
	Label string
}

// path is one drawn line.
type path struct {
	D     string
	Class string
}

// dot is a point drawn alone: the only point of a chart, or one with no
// neighbour to join.
type dot struct {
	X, Y  string
	Class string
}

// hover is the transparent column over one point, titled with its
// values.
type hover struct {
	X, W  string
	Title string
}

// row is one line of the data table.
type row struct {
	Time   string
	Values []string
}

// layout is a TimeChart ready to draw: every coordinate computed and
// formatted.
type layout struct {
	ViewBox                  string
	Left, Right, Top, Bottom string // the plot area's edges
	PlotHeight               string
	LabelX, LabelY           string // where the y labels end and the x labels sit
	TickEnd                  string // the lower end of the x ticks
	MiddleX, MiddleY         string // the plot area's centre
	Empty                    bool
	YTicks, XTicks           []tick
	Paths                    []path
	Area                     string
	Dots                     []dot
	Hovers                   []hover
	Legend                   []string
	Header                   []string
	Rows                     []row
}

// format returns c's value formatter.
func (c *TimeChart) format() func(float64) string {
	if c.Format != nil {
		return c.Format
	}
	return Compact
}

// value returns line l's value at i, NaN when it has none.
func value(l *Line, i int) float64 {
	if i >= len(l.Values) {
		return math.NaN()
	}
	return l.Values[i]
}

// layout computes what Time draws.
func (c *TimeChart) layout() *layout {
	w, h := c.Width, c.Height
	if w <= 0 {
		w = DefaultWidth
	}
	if h <= 0 {
		h = DefaultHeight
	}
	loc := c.Location
	if loc == nil {
		loc = time.UTC
	}
	tf := c.TimeFormat
	if tf == "" {
		tf = "Jan 2 15:04"
	}
	format := c.format()
	left, right := float64(marginLeft), float64(w-marginRight)
	top, bottom := float64(marginTop), float64(h-marginBottom)
	out := &layout{
		ViewBox: "0 0 " + strconv.Itoa(w) + " " + strconv.Itoa(h),
		Left:    num(left), Right: num(right), Top: num(top), Bottom: num(bottom),
		PlotHeight: num(bottom - top),
		LabelX:     num(left - 6), LabelY: num(bottom + 17), TickEnd: num(bottom + 4),
		MiddleX: num((left + right) / 2), MiddleY: num((top + bottom) / 2),
	}
	for _, l := range c.Lines {
		out.Header = append(out.Header, l.Name)
	}
	if len(c.Lines) > 1 {
		out.Legend = out.Header
	}

	// The y domain: from 0 (or the lowest value, when negative) to the
	// highest value, widened to nice ticks.
	lo, hi := 0.0, math.Inf(-1)
	for i := range c.Lines {
		for j := range c.Times {
			if v := value(&c.Lines[i], j); !math.IsNaN(v) && !math.IsInf(v, 0) {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	out.Empty = math.IsInf(hi, -1)
	if out.Empty {
		hi = 1
	}
	yt := NiceTicks(lo, hi, 4)
	ylo, yhi := yt[0], yt[len(yt)-1]
	y := func(v float64) float64 { return bottom - (v-ylo)/(yhi-ylo)*(bottom-top) }
	for _, v := range yt {
		out.YTicks = append(out.YTicks, tick{Pos: num(y(v)), Label: format(v)})
	}

	// Rows of the data table, whether or not anything is drawn.
	out.Rows = make([]row, len(c.Times))
	for j, t := range c.Times {
		r := row{Time: t.In(loc).Format(tf), Values: make([]string, len(c.Lines))}
		for i := range c.Lines {
			r.Values[i] = format(value(&c.Lines[i], j))
		}
		out.Rows[j] = r
	}
	if len(c.Times) == 0 {
		out.Empty = true
		return out
	}

	// The x domain: the first time to the last, a lone time in the middle.
	first, last := c.Times[0], c.Times[len(c.Times)-1]
	x := func(t time.Time) float64 {
		if !last.After(first) {
			return (left + right) / 2
		}
		return left + float64(t.Sub(first))/float64(last.Sub(first))*(right-left)
	}
	if last.After(first) {
		for _, t := range TimeTicks(first, last, loc, max(2, (w-marginLeft-marginRight)/70)) {
			out.XTicks = append(out.XTicks, tick{Pos: num(x(t.At)), Label: t.Label})
		}
	} else {
		out.XTicks = []tick{{Pos: num(x(first)), Label: timeLabel(first.In(loc), time.Minute)}}
	}

	for i := range c.Lines {
		l := &c.Lines[i]
		class := "line chart-line chart-line-" + strconv.Itoa(i+1)
		var b strings.Builder
		b.Grow(len(c.Times) * 14)
		var run []int // indexes of the current run of values
		flush := func() {
			switch len(run) {
			case 0:
				return
			case 1:
				j := run[0]
				out.Dots = append(out.Dots, dot{X: num(x(c.Times[j])), Y: num(y(l.Values[j])), Class: "chart-dot chart-dot-" + strconv.Itoa(i+1)})
			default:
				for k, j := range run {
					if k == 0 {
						b.WriteByte('M')
					} else {
						b.WriteByte('L')
					}
					b.WriteString(num(x(c.Times[j])))
					b.WriteByte(',')
					b.WriteString(num(y(l.Values[j])))
				}
				if i == 0 && c.Area {
					var a strings.Builder
					a.WriteString(out.Area)
					a.WriteString("M" + num(x(c.Times[run[0]])) + "," + num(y(ylo)))
					for _, j := range run {
						a.WriteString("L" + num(x(c.Times[j])) + "," + num(y(l.Values[j])))
					}
					a.WriteString("L" + num(x(c.Times[run[len(run)-1]])) + "," + num(y(ylo)) + "Z")
					out.Area = a.String()
				}
			}
			run = run[:0]
		}
		for j := range c.Times {
			if v := value(l, j); math.IsNaN(v) || math.IsInf(v, 0) {
				flush()
			} else {
				run = append(run, j)
			}
		}
		flush()
		if b.Len() > 0 {
			out.Paths = append(out.Paths, path{D: b.String(), Class: class})
		}
	}

	if len(c.Times) <= maxHoverPoints {
		out.Hovers = make([]hover, len(c.Times))
		for j, t := range c.Times {
			// Each column spans half-way to its neighbours.
			lx, rx := left, right
			if j > 0 {
				lx = (x(c.Times[j-1]) + x(t)) / 2
			}
			if j < len(c.Times)-1 {
				rx = (x(t) + x(c.Times[j+1])) / 2
			}
			title := out.Rows[j].Time
			for i := range c.Lines {
				title += " · " + c.Lines[i].Name + " " + out.Rows[j].Values[i]
			}
			out.Hovers[j] = hover{X: num(lx), W: num(rx - lx), Title: title}
		}
	}
	return out
}

// description returns c.Desc, or a summary of the first line.
func (c *TimeChart) description() string {
	if c.Desc != "" {
		return c.Desc
	}
	if len(c.Times) == 0 || len(c.Lines) == 0 {
		return "No data."
	}
	loc := c.Location
	if loc == nil {
		loc = time.UTC
	}
	format := c.format()
	l := &c.Lines[0]
	lo, hi, latest := math.Inf(1), math.Inf(-1), math.NaN()
	for j := range c.Times {
		if v := value(l, j); !math.IsNaN(v) {
			lo, hi, latest = min(lo, v), max(hi, v), v
		}
	}
	const tf = "Jan 2 15:04 MST"
	span := c.Times[0].In(loc).Format(tf)
	if len(c.Times) > 1 {
		span = "From " + span + " to " + c.Times[len(c.Times)-1].In(loc).Format(tf)
	} else {
		span = "At " + span
	}
	if math.IsNaN(latest) {
		return span + ": no data."
	}
	return span + ", " + l.Name + ": latest " + format(latest) + ", lowest " + format(lo) + ", highest " + format(hi) + "."
}

// num formats a coordinate with at most one decimal.
func num(v float64) string {
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

// Bar is one line of a Bars list.
type Bar struct {
	// Label names the item ranked.
	Label string
	// Href, when set, links the label (to the item's page).
	Href string
	// Value sets the bar's length, relative to the list's highest value.
	Value float64
	// Text is the value shown; "" means Compact(Value).
	Text string
	// Note is secondary text shown after the value, such as a share of
	// errors; "" shows nothing.
	Note string
}

// Bars is a ranking drawn as a list of horizontal bars by BarList, each
// as long as its value relative to the highest.
type Bars struct {
	// ID is the list's data-testid; each item's is ID + "-item".
	ID string
	// Title labels the list for screen readers (aria-label).
	Title string
	// Items are the lines, in the order shown.
	Items []Bar
	// Empty is the text shown when there are no items; "" means
	// "No data".
	Empty string
}

// barItem is a Bar ready to draw.
type barItem struct {
	Bar
	Width string // of the bar, in hundredths of the track
}

// items returns the bars ready to draw.
func (b *Bars) items() []barItem {
	top := 0.0
	for _, it := range b.Items {
		if !math.IsNaN(it.Value) {
			top = max(top, it.Value)
		}
	}
	out := make([]barItem, len(b.Items))
	for i, it := range b.Items {
		if it.Text == "" {
			it.Text = Compact(it.Value)
		}
		w := 0.0
		if top > 0 && it.Value > 0 {
			w = it.Value / top * 100
		}
		out[i] = barItem{Bar: it, Width: num(w)}
	}
	return out
}

// empty returns the text of an empty list.
func (b *Bars) empty() string {
	if b.Empty != "" {
		return b.Empty
	}
	return "No data"
}
