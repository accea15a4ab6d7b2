package chart

import (
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Point is one sample of a series.
type Point struct {
	T time.Time
	V float64
}

// Series is a named line. Points are in time order; a NaN or infinite value is a gap in the line (Prometheus
// answers NaN for a ratio over no samples).
type Series struct {
	Name   string
	Points []Point
}

// Options say what the chart shows.
type Options struct {
	// Title names the chart (its title and accessible name); Unit follows the value labels ("s"), empty for none.
	Title, Unit string
	// Width and Height are the SVG's size in pixels; 640×220 when zero.
	Width, Height int
	// Min and Max fix the value axis (agreement runs from 0 to 1); nil fits it to the data.
	Min, Max *float64
	// Threshold, when set, is drawn as a dashed line: the analysis' pass mark.
	Threshold *float64
}

// Room around the plot: the title and legend above, the value labels on the left, the times below.
const (
	marginLeft, marginRight, marginTop, marginBottom = 60, 12, 32, 24
	defaultWidth, defaultHeight                      = 640, 220
	// legendCharWidth is an estimate of a legend character's width, to lay the legend out from the right.
	legendCharWidth = 7
	yTicks          = 4
	xTicks          = 4
	// maxLabel is the most characters of a value label the left margin holds.
	maxLabel = 8
)

// mark is a piece of text at a position: an axis label or a legend entry.
type mark struct {
	X, Y  float64
	Label string
	Class string
}

// line is a series as the template draws it.
type line struct {
	Class, Name, Path string
}

// view is what the template draws.
type view struct {
	Title                    string
	Width, Height            int
	Left, Right, Top, Bottom float64
	Lines                    []line
	Legend, YTicks, XTicks   []mark
	Threshold                *float64 // its y
	Empty                    bool
}

var svg = template.Must(template.New("chart").Funcs(template.FuncMap{
	"sub": func(a, b float64) float64 { return a - b },
}).Parse(`<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="{{.Title}}">
<title>{{.Title}}</title>
<text class="chart-title" x="{{.Left}}" y="18">{{.Title}}</text>
<rect class="chart-plot" x="{{.Left}}" y="{{.Top}}" width="{{sub .Right .Left}}" height="{{sub .Bottom .Top}}"/>
{{- range .YTicks}}
<line class="chart-grid" x1="{{$.Left}}" x2="{{$.Right}}" y1="{{.Y}}" y2="{{.Y}}"/>
<text class="chart-tick" x="{{.X}}" y="{{.Y}}" text-anchor="end" dy="4">{{.Label}}</text>
{{- end}}
{{- range .XTicks}}
<text class="chart-tick" x="{{.X}}" y="{{.Y}}" text-anchor="{{.Class}}">{{.Label}}</text>
{{- end}}
{{- with .Threshold}}
<line class="chart-threshold" x1="{{$.Left}}" x2="{{$.Right}}" y1="{{.}}" y2="{{.}}"/>
{{- end}}
{{- range .Lines}}
<path class="{{.Class}}" d="{{.Path}}" fill="none"><title>{{.Name}}</title></path>
{{- end}}
{{- range .Legend}}
<text class="{{.Class}}" x="{{.X}}" y="{{.Y}}">{{.Label}}</text>
{{- end}}
{{- if .Empty}}
<text class="chart-empty" x="{{.Left}}" y="{{.Top}}" dx="8" dy="20">no samples in this range</text>
{{- end}}
</svg>
`))

// Write draws series as an SVG line chart on w. Series are coloured by their position (classes chart-line-0,
// chart-line-1, …, and chart-line-N-legend for their legend entry): the page's stylesheet gives the colours.
func Write(w io.Writer, o Options, series ...Series) error {
	v := view{Title: o.Title, Width: o.Width, Height: o.Height}
	if v.Width <= 0 {
		v.Width = defaultWidth
	}
	if v.Height <= 0 {
		v.Height = defaultHeight
	}
	v.Left, v.Right = marginLeft, float64(v.Width-marginRight)
	v.Top, v.Bottom = marginTop, float64(v.Height-marginBottom)

	t0, t1, lo, hi, ok := bounds(series)
	v.Empty = !ok
	if o.Min != nil {
		lo = *o.Min
	}
	if o.Max != nil {
		hi = *o.Max
	}
	if o.Threshold != nil && o.Min == nil && o.Max == nil {
		lo, hi = min(lo, *o.Threshold), max(hi, *o.Threshold)
	}
	if !ok && o.Min == nil && o.Max == nil && o.Threshold == nil {
		lo, hi = 0, 1
	}
	if hi-lo <= 1e-9*max(math.Abs(lo), math.Abs(hi)) { // one value, give or take rounding: a band around it
		pad := math.Max(math.Abs(lo)*0.1, 1e-9)
		lo, hi = lo-pad, hi+pad
	}
	if o.Max == nil {
		lo, hi = nice(lo, hi, o.Min != nil)
	}
	if !t1.After(t0) {
		t1 = t0.Add(time.Second)
	}
	x := func(t time.Time) float64 {
		return v.Left + (v.Right-v.Left)*float64(t.Sub(t0))/float64(t1.Sub(t0))
	}
	y := func(val float64) float64 {
		return v.Bottom - (v.Bottom-v.Top)*(val-lo)/(hi-lo)
	}
	for i := range yTicks + 1 {
		val := lo + (hi-lo)*float64(i)/yTicks
		v.YTicks = append(v.YTicks, mark{X: v.Left - 6, Y: round(y(val)), Label: label(val, lo, hi) + o.Unit})
	}
	if ok {
		for i := range xTicks + 1 {
			t := t0.Add(time.Duration(float64(t1.Sub(t0)) * float64(i) / xTicks))
			// The first and last labels end at the plot's edges rather than run past them.
			anchor := "middle"
			switch i {
			case 0:
				anchor = "start"
			case xTicks:
				anchor = "end"
			}
			v.XTicks = append(v.XTicks, mark{X: round(x(t)), Y: v.Bottom + 16, Label: t.UTC().Format(timeFormat(t1.Sub(t0))), Class: anchor})
		}
	}
	if th := o.Threshold; th != nil && *th >= lo && *th <= hi {
		ty := round(y(*th))
		v.Threshold = &ty
	}
	right := v.Right
	for i := len(series) - 1; i >= 0; i-- {
		s := series[i]
		class := "chart-line-" + strconv.Itoa(i)
		v.Lines = append(v.Lines, line{Class: class, Name: s.Name, Path: path(s.Points, x, y, lo, hi)})
		right -= float64(len([]rune(s.Name))*legendCharWidth + 16)
		v.Legend = append(v.Legend, mark{X: right, Y: 18, Label: s.Name, Class: class + "-legend"})
	}
	return svg.Execute(w, v)
}

// bounds are the times and values series span, over finite values only; ok is false when there is none.
func bounds(series []Series) (t0, t1 time.Time, lo, hi float64, ok bool) {
	for _, s := range series {
		for _, p := range s.Points {
			if math.IsNaN(p.V) || math.IsInf(p.V, 0) {
				continue
			}
			if !ok {
				t0, t1, lo, hi, ok = p.T, p.T, p.V, p.V, true
				continue
			}
			if p.T.Before(t0) {
				t0 = p.T
			}
			if p.T.After(t1) {
				t1 = p.T
			}
			lo, hi = min(lo, p.V), max(hi, p.V)
		}
	}
	return t0, t1, lo, hi, ok
}

// path is the SVG path of points: a move at the start and after each gap, lines in between. Values outside lo..hi
// (a fixed axis) are clamped to the plot's edge.
func path(points []Point, x func(time.Time) float64, y func(float64) float64, lo, hi float64) string {
	var b strings.Builder
	gap := true
	for _, p := range points {
		if math.IsNaN(p.V) || math.IsInf(p.V, 0) {
			gap = true
			continue
		}
		cmd := "L"
		if gap {
			cmd = "M"
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(cmd)
		b.WriteString(strconv.FormatFloat(round(x(p.T)), 'f', -1, 64))
		b.WriteByte(' ')
		b.WriteString(strconv.FormatFloat(round(y(min(max(p.V, lo), hi))), 'f', -1, 64))
		gap = false
	}
	return b.String()
}

// round keeps a coordinate to a tenth of a pixel: the SVG stays small and its output stable.
func round(f float64) float64 { return math.Round(f*10) / 10 }

// nice widens a fitted axis to ticks at round steps (1, 2, 2.5 or 5 times a power of ten), so that its labels
// are short and evenly written: 0 to 1 by 0.25 rather than 0.0123 to 0.9876 by 0.2438. A fixed lo stays.
func nice(lo, hi float64, fixedLo bool) (float64, float64) {
	raw := (hi - lo) / yTicks
	pow := math.Pow10(int(math.Floor(math.Log10(raw))))
	for _, m := range []float64{1, 2, 2.5, 5, 10, 20} {
		step := m * pow
		start := lo
		if !fixedLo {
			start = math.Floor(lo/step) * step
		}
		if start+step*yTicks >= hi {
			return start, start + step*yTicks
		}
	}
	return lo, hi // not reached: 20 times the power of ten covers twice the span
}

// label formats an axis value of an axis from lo to hi in as few characters as tell its ticks apart: fixed
// decimals where they fit the margin (0.25, 1.50, 1200), else the significant digits in exponent form (2.1e-07),
// never more than the margin holds.
func label(v, lo, hi float64) string {
	step := (hi - lo) / yTicks
	digits := max(0, int(math.Ceil(-math.Log10(step))))
	for ; digits < 6; digits++ {
		scale := math.Pow10(digits)
		if math.Abs(math.Round(step*scale)/scale-step) <= step*1e-6 {
			break
		}
	}
	if f := strconv.FormatFloat(v, 'f', digits, 64); len(f) <= maxLabel && digits < 6 {
		return f
	}
	// Significant digits enough to tell v from its neighbour ticks: those of the largest value over the step.
	sig := min(max(2, int(math.Ceil(math.Log10(max(math.Abs(lo), math.Abs(hi))/step)))+1), 4)
	return strconv.FormatFloat(v, 'g', sig, 64)
}

// timeFormat is how the time axis is labelled for a range: hours and minutes, with seconds under ten minutes, and
// the date over a day.
func timeFormat(span time.Duration) string {
	switch {
	case span > 24*time.Hour:
		return "Jan 2 15:04"
	case span < 10*time.Minute:
		return "15:04:05"
	default:
		return "15:04"
	}
}
