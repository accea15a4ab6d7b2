package chart

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/marina-dev/marina/internal/golden"
)

var t0 = time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)

// points is a series sampled every 15 s from t0.
func points(values ...float64) []Point {
	ps := make([]Point, len(values))
	for i, v := range values {
		ps[i] = Point{T: t0.Add(time.Duration(i) * 15 * time.Second), V: v}
	}
	return ps
}

func draw(t *testing.T, o Options, series ...Series) string {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, o, series...); err != nil {
		t.Fatal(err)
	}
	wellFormed(t, b.Bytes())
	return b.String()
}

// wellFormed fails t unless svg parses as XML: a browser shows nothing of an SVG that does not.
func wellFormed(t *testing.T, svg []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(svg))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, svg)
		}
	}
}

func TestAShadowRolloutDrawsAsItsGolden(t *testing.T) {
	t.Parallel()
	lo, hi, th := 0.0, 1.0, 0.9
	got := draw(t, Options{Title: "shadow agreement", Min: &lo, Max: &hi, Threshold: &th},
		Series{Name: "1.1.0 vs 1.0.0", Points: points(math.NaN(), 0.98, 0.979, 0.981, 0.98)},
		Series{Name: "1.2.0 vs 1.1.0", Points: points(0.55, 0.54, math.NaN(), 0.56, 1.5)})
	golden.Check(t, filepath.Join("testdata", "shadow-agreement.svg"), []byte(got))
}

func TestWrite(t *testing.T) {
	t.Parallel()
	zero, one := 0.0, 1.0
	for _, tc := range []struct {
		name    string
		o       Options
		series  []Series
		want    []string
		notWant []string
	}{
		{name: "hostile names are text, never markup",
			o:       Options{Title: `<script>alert(1)</script>`},
			series:  []Series{{Name: `"><img src=x onerror=alert(1)>`, Points: points(1, 2)}},
			want:    []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(1)&gt;"},
			notWant: []string{"<script", "<img"}},
		{name: "a NaN is a gap: the line moves past it",
			series: []Series{{Name: "a", Points: points(1, math.NaN(), 3)}},
			want:   []string{`d="M60 196 M628 32"`}},
		{name: "no finite sample says so and draws no line",
			series:  []Series{{Name: "a", Points: points(math.NaN(), math.Inf(1))}},
			want:    []string{"no samples in this range", `d=""`},
			notWant: []string{`class="chart-tick" x="60" y="212"`}},
		{name: "no series at all",
			want: []string{"no samples in this range"}},
		{name: "a fixed axis clamps what falls outside it",
			o:      Options{Min: &zero, Max: &one},
			series: []Series{{Name: "a", Points: points(-1, 2)}},
			want:   []string{`d="M60 196 L628 32"`}},
		{name: "one value gets a band around it",
			series: []Series{{Name: "a", Points: points(5, 5)}},
			want:   []string{`d="M60 114 L628 114"`, ">4.50<", ">5.50<"}},
		{name: "a threshold outside a fixed axis is not drawn",
			o:       Options{Min: &zero, Max: &one, Threshold: new(2.0)},
			series:  []Series{{Name: "a", Points: points(0.5, 0.6)}},
			notWant: []string{"chart-threshold"}},
		{name: "the unit follows the value labels",
			o:      Options{Unit: "s"},
			series: []Series{{Name: "a", Points: points(0, 0.002)}},
			want:   []string{">0.0000s<", ">0.0020s<"}},
		{name: "tiny values are labelled in exponent form, short enough for the margin",
			series:  []Series{{Name: "a", Points: points(9.87e-8, 2.1e-7)}},
			want:    []string{">5e-08<", ">1.5e-07<", ">2.5e-07<"},
			notWant: []string{"0.0000"}},
		{name: "a fixed minimum with a fitted maximum rounds the maximum up",
			o:      Options{Min: new(0.0)},
			series: []Series{{Name: "a", Points: points(0.0021, 0.0099)}},
			want:   []string{">0.0000<", ">0.0025<", ">0.0100<"}},
		{name: "large values keep their integer digits",
			series: []Series{{Name: "a", Points: points(1000, 2000)}},
			want:   []string{">1000<", ">1250<", ">2000<"}},
		{name: "the time axis shows seconds over a short range",
			series: []Series{{Name: "a", Points: points(0, 1, 2, 3, 4)}},
			want:   []string{">18:00:00<", ">18:01:00<"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := draw(t, tc.o, tc.series...)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("the SVG has no %q:\n%s", w, got)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(got, w) {
					t.Errorf("the SVG has %q:\n%s", w, got)
				}
			}
		})
	}
}

func TestTimeFormatFitsTheRange(t *testing.T) {
	t.Parallel()
	for span, want := range map[time.Duration]string{
		time.Minute: "15:04:05", time.Hour: "15:04", 48 * time.Hour: "Jan 2 15:04",
	} {
		if got := timeFormat(span); got != want {
			t.Errorf("timeFormat(%s) = %q, want %q", span, got, want)
		}
	}
}
