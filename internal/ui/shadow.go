package ui

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/analysis"
	"github.com/marina-dev/marina/internal/chart"
	pkgmodel "github.com/marina-dev/marina/internal/model"
)

// The ranges a shadow chart may span, its default, and the ranges the page offers as links.
const (
	minRange     = 5 * time.Minute
	maxRange     = 7 * 24 * time.Hour
	defaultRange = "30m"
	// minStep is the finest step of a chart: Prometheus scrapes every 15 s or so, finer shows nothing more.
	minStep = 5 * time.Second
	// points is about how many points a chart's range is cut into.
	points = 120
	// chartWindow is the window each point of a built-in analysis' chart looks back over, and chartMinSamples the
	// samples it needs: a point per minute of traffic, where the analysis itself judges longer windows.
	chartWindow     = "1m"
	chartMinSamples = 1
	// maxSeries bounds the lines of a chart (the drop reasons are five).
	maxSeries = 8
)

// rangeLinks are the ranges the page links to.
var rangeLinks = []string{"5m", "30m", "1h", "6h", "1d", "7d"}

// shadowQuery is what the page's address asks of the shadow charts.
type shadowQuery struct {
	// Range is as given (e.g. "30m"), Span what it means.
	Range string
	Span  time.Duration
	// Version is ?version=, empty for the version being rolled out.
	Version string
}

// parseShadowQuery reads ?range= and ?version=; its errors name the parameter and what it takes.
func parseShadowQuery(req *http.Request) (shadowQuery, error) {
	q := shadowQuery{Range: defaultRange}
	values := req.URL.Query()
	if values.Has("range") {
		q.Range = values.Get("range")
	}
	d, err := model.ParseDuration(q.Range)
	if err != nil || time.Duration(d) < minRange || time.Duration(d) > maxRange {
		return q, fmt.Errorf("range=%s: want a duration from 5m to 7d, e.g. range=30m, range=6h or range=2d", q.Range)
	}
	q.Span = time.Duration(d)
	if values.Has("version") {
		q.Version = values.Get("version")
		if _, err := pkgmodel.ParseSemver(q.Version); err != nil {
			return q, fmt.Errorf("version=%s: want the semantic version of a model, e.g. version=1.2.0 (%v)", q.Version, err)
		}
	}
	return q, nil
}

// shadowView is the shadow section of a rollout page.
type shadowView struct {
	// Version is the version charted, Range the range; Earlier says ?version= chose it.
	Version, Range string
	Earlier        bool
	Ranges         []string
	// NoPrometheus says marina ui has no --prometheus; NoVersion that no rollout is in progress and no ?version=
	// names one.
	NoPrometheus, NoVersion bool
	Charts                  []chartView
}

// chartView is one chart: its SVG, or why Prometheus did not answer.
type chartView struct {
	ID, Title string
	SVG       template.HTML
	Error     string
}

// chartSpec is a chart the shadow section draws: its query, and how.
type chartSpec struct {
	id       string
	query    string
	opts     chart.Options
	seriesBy string // the label naming each series; "" for one series named name
	name     string
}

// shadow charts the shadow version of md (or q.Version) over q's range ending at now.
func (d *dashboard) shadow(ctx context.Context, md *v1alpha1.ModelDeployment, q shadowQuery, now time.Time) shadowView {
	v := shadowView{Version: md.Status.CanaryVersion, Range: q.Range, Ranges: rangeLinks, Earlier: q.Version != ""}
	if q.Version != "" {
		v.Version = q.Version
	}
	v.NoPrometheus, v.NoVersion = d.opts.Prometheus == nil, v.Version == ""
	if v.NoPrometheus || v.NoVersion {
		return v
	}
	specs, err := shadowCharts(md, v.Version)
	if err != nil { // a built-in's name is a constant: this is marina's bug
		v.Charts = []chartView{{ID: "shadow-error", Title: "Shadow", Error: err.Error()}}
		return v
	}
	step := max(minStep, (q.Span / points).Truncate(time.Second))
	r := promv1.Range{Start: now.Add(-q.Span), End: now, Step: step}
	v.Charts = make([]chartView, len(specs))
	var wg sync.WaitGroup
	for i, s := range specs {
		wg.Go(func() { v.Charts[i] = d.draw(ctx, s, r) })
	}
	wg.Wait()
	return v
}

// shadowCharts are the charts of version mirrored beside md's live version: the built-in shadow analyses as they
// measure (each with its threshold when md's analysis has the built-in), and the mirror's drops by reason.
func shadowCharts(md *v1alpha1.ModelDeployment, version string) ([]chartSpec, error) {
	o := analysis.BuiltinOptions{Namespace: md.Namespace, Model: md.Spec.Model, Version: version, Window: chartWindow, MinSamples: chartMinSamples}
	zero, one := 0.0, 1.0
	specs := []chartSpec{
		{id: "agreement", name: "agreement", opts: chart.Options{Title: "Shadow agreement (share of rows whose predicted class is the live version's)", Min: &zero, Max: &one}},
		{id: "max-abs-diff", name: "max abs diff p99", opts: chart.Options{Title: "Largest output difference, p99"}},
		{id: "latency-delta", name: "latency delta p99", opts: chart.Options{Title: "Shadow latency minus live latency, p99", Unit: "s"}},
		{id: "error-rate", name: "error rate", opts: chart.Options{Title: "Shadow error rate (share of mirrored requests it failed)", Min: &zero}},
	}
	for i, name := range []string{analysis.ShadowAgreement, analysis.ShadowMaxAbsDiffP99, analysis.ShadowLatencyP99Delta, analysis.ShadowErrorRate} {
		query, err := analysis.BuiltinQuery(name, o)
		if err != nil {
			return nil, err
		}
		specs[i].query = query
		specs[i].opts.Threshold = threshold(md, name)
	}
	// No built-in analysis judges the relative difference; it is charted as the absolute one is measured.
	relDiff := fmt.Sprintf(`histogram_quantile(0.99, sum by (le) (increase(marina_router_shadow_max_rel_diff_bucket{namespace=%q,model=%q,shadow=%q}[%s])))`,
		md.Namespace, md.Spec.Model, version, chartWindow)
	specs = slices.Insert(specs, 2, chartSpec{id: "max-rel-diff", name: "max rel diff p99", query: relDiff,
		opts: chart.Options{Title: "Largest relative output difference, p99"}})
	drops := fmt.Sprintf(`sum by (reason) (rate(marina_router_mirror_dropped_total{namespace=%q,model=%q,shadow=%q}[%s]))`, md.Namespace, md.Spec.Model, version, chartWindow)
	return append(specs, chartSpec{id: "drops", query: drops, seriesBy: "reason", opts: chart.Options{Title: "Mirrored requests dropped, per second, by reason", Min: &zero}}), nil
}

// threshold is the pass mark of the built-in analysis name in md's analysis templates, nil when none has it.
func threshold(md *v1alpha1.ModelDeployment, name string) *float64 {
	if md.Spec.Analysis == nil {
		return nil
	}
	for _, t := range md.Spec.Analysis.Templates {
		for _, m := range t.Metrics {
			if m.Name != name {
				continue
			}
			if th, ok := analysis.BuiltinThresholdOf(m); ok {
				return &th
			}
		}
	}
	return nil
}

// draw runs s's query over r, within analysis.QueryTimeout, and draws it; a failure is the chart's Error.
func (d *dashboard) draw(ctx context.Context, s chartSpec, r promv1.Range) chartView {
	c := chartView{ID: s.id, Title: s.opts.Title}
	ctx, cancel := context.WithTimeout(ctx, analysis.QueryTimeout)
	defer cancel()
	value, _, err := d.opts.Prometheus.QueryRange(ctx, s.query, r, promv1.WithTimeout(analysis.QueryTimeout))
	if err != nil {
		d.opts.Log.Warn("querying Prometheus", "chart", s.id, "error", err)
		c.Error = fmt.Sprintf("Prometheus did not answer the query of this chart: %v", err)
		return c
	}
	matrix, ok := value.(model.Matrix)
	if !ok {
		c.Error = fmt.Sprintf("Prometheus answered a %s to a range query, not a matrix", value.Type())
		return c
	}
	series := make([]chart.Series, 0, min(len(matrix), maxSeries))
	for _, m := range matrix[:min(len(matrix), maxSeries)] {
		name := s.name
		if s.seriesBy != "" {
			name = string(m.Metric[model.LabelName(s.seriesBy)])
		}
		points := make([]chart.Point, len(m.Values))
		for i, p := range m.Values {
			points[i] = chart.Point{T: p.Timestamp.Time(), V: float64(p.Value)}
		}
		series = append(series, chart.Series{Name: name, Points: points})
	}
	slices.SortFunc(series, func(a, b chart.Series) int { return strings.Compare(a.Name, b.Name) })
	var b strings.Builder
	if err := chart.Write(&b, s.opts, series...); err != nil {
		c.Error = "the chart did not draw: " + err.Error()
		return c
	}
	c.SVG = template.HTML(b.String()) // chart.Write escapes what it writes
	return c
}
