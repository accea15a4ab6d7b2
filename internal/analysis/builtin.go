package analysis

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/marina-dev/marina/api/v1alpha1"
)

// Names of the built-in analyses: PromQL over the metrics of marina router (internal/router/metrics.go) that a
// model.yaml turns on by name with a threshold. The shadow ones judge the comparison of the new version's mirrored
// answers with the live version's; the others judge the new version's live answers during a canary.
const (
	// ShadowAgreement is the share of classification rows whose predicted class (argmax) is the live version's;
	// threshold min.
	ShadowAgreement = "shadow-agreement"
	// ShadowMaxAbsDiffP99 is the 99th percentile of the largest absolute difference between an output of the
	// shadow and of the live version, per compared answer; threshold max.
	ShadowMaxAbsDiffP99 = "shadow-max-abs-diff-p99"
	// ShadowErrorRate is the share of mirrored requests the shadow did not answer as the live version did: timed
	// out, refused, overloaded, or an error where the live version answered (or the reverse); threshold max.
	ShadowErrorRate = "shadow-error-rate"
	// ShadowLatencyP99Delta is the 99th percentile of the shadow's latency minus the live version's, per compared
	// answer; threshold maxSeconds.
	ShadowLatencyP99Delta = "shadow-latency-p99-delta"
	// ErrorRate is the share of the new version's live answers with a 5xx status; threshold max.
	ErrorRate = "error-rate"
	// LatencyP99Delta is the new version's p99 latency minus the other versions'; threshold maxSeconds.
	LatencyP99Delta = "latency-p99-delta"
)

// BuiltinShadowTemplate is the template render writes the shadow analyses into, first: a shadow rollout runs the
// first template of spec.analysis. Every other built-in analysis is a template of its own name, which a canary
// step names ({analysis: {template: error-rate}}).
const BuiltinShadowTemplate = "shadow"

// Thresholds of the built-in analyses, as model.yaml names them.
const (
	ThresholdMin        = "min"
	ThresholdMax        = "max"
	ThresholdMaxSeconds = "maxSeconds"
)

// Defaults of a built-in analysis run.
const (
	DefaultBuiltinWindow     = "5m"
	DefaultBuiltinInterval   = "1m"
	DefaultBuiltinCount      = 5
	DefaultBuiltinMinSamples = 100
)

// builtin is one built-in analysis: the template it belongs to ("" for its own), the threshold it takes, its
// bounds, and its query.
type builtin struct {
	template, threshold string
	// lo and hi bound the threshold (NaN-free, inclusive); hi < lo means no upper bound.
	lo, hi float64
	query  func(s scope) string
}

var builtins = map[string]builtin{
	ShadowAgreement: {BuiltinShadowTemplate, ThresholdMin, 0, 1, func(s scope) string {
		return fmt.Sprintf(`(sum(increase(marina_router_shadow_argmax_rows_total{%s,agreement="agree"}[%s])) or on() vector(0)) / sum(increase(marina_router_shadow_argmax_rows_total{%s}[%s])) and on() %s`,
			s.shadow(), s.window, s.shadow(), s.window, s.enoughCompared())
	}},
	ShadowMaxAbsDiffP99: {BuiltinShadowTemplate, ThresholdMax, 0, -1, func(s scope) string {
		return fmt.Sprintf(`histogram_quantile(0.99, sum by (le) (increase(marina_router_shadow_max_abs_diff_bucket{%s}[%s]))) and on() %s`,
			s.shadow(), s.window, s.enoughCompared())
	}},
	ShadowErrorRate: {BuiltinShadowTemplate, ThresholdMax, 0, 1, func(s scope) string {
		failed := fmt.Sprintf(`(sum(increase(marina_router_mirror_dropped_total{%s,reason=~"timeout|upstream_error|overloaded"}[%s])) or on() vector(0))`, s.shadow(), s.window)
		mismatched := fmt.Sprintf(`(sum(increase(marina_router_shadow_comparisons_total{%s,result="error_mismatch"}[%s])) or on() vector(0))`, s.shadow(), s.window)
		attempted := fmt.Sprintf(`(%s + %s)`, s.compared(), failed)
		return fmt.Sprintf(`(%s + %s) / %s and on() %s >= %d`, failed, mismatched, attempted, attempted, s.minSamples)
	}},
	ShadowLatencyP99Delta: {BuiltinShadowTemplate, ThresholdMaxSeconds, 0, -1, func(s scope) string {
		return fmt.Sprintf(`histogram_quantile(0.99, sum by (le) (increase(marina_router_shadow_latency_delta_seconds_bucket{%s}[%s]))) and on() %s`,
			s.shadow(), s.window, s.enoughCompared())
	}},
	ErrorRate: {"", ThresholdMax, 0, 1, func(s scope) string {
		answered := fmt.Sprintf(`sum(increase(marina_router_requests_total{%s}[%s]))`, s.versions("="), s.window)
		return fmt.Sprintf(`(sum(increase(marina_router_requests_total{%s,code=~"5.."}[%s])) or on() vector(0)) / %s and on() %s >= %d`,
			s.versions("="), s.window, answered, answered, s.minSamples)
	}},
	LatencyP99Delta: {"", ThresholdMaxSeconds, 0, -1, func(s scope) string {
		p99 := func(op string) string {
			return fmt.Sprintf(`histogram_quantile(0.99, sum by (le) (increase(marina_router_request_duration_seconds_bucket{%s}[%s])))`, s.versions(op), s.window)
		}
		return fmt.Sprintf(`%s - on() %s and on() sum(increase(marina_router_requests_total{%s}[%s])) >= %d`,
			p99("="), p99("!="), s.versions("="), s.window, s.minSamples)
	}},
}

// BuiltinNames lists the built-in analyses, sorted.
func BuiltinNames() []string {
	names := make([]string, 0, len(builtins))
	for n := range builtins {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// BuiltinThreshold is the threshold the built-in analysis name takes (ThresholdMin, ThresholdMax or
// ThresholdMaxSeconds), and whether there is such an analysis.
func BuiltinThreshold(name string) (string, bool) {
	b, ok := builtins[name]
	return b.threshold, ok
}

// BuiltinMetric turns on one built-in analysis with its threshold: exactly the one its name takes is set.
type BuiltinMetric struct {
	Name       string   `json:"name"`
	Min        *float64 `json:"min,omitempty"`
	Max        *float64 `json:"max,omitempty"`
	MaxSeconds *float64 `json:"maxSeconds,omitempty"`
}

// BuiltinOptions say what the built-in analyses measure and how often.
type BuiltinOptions struct {
	// Namespace, Model and Version scope the queries to the router of one model in one namespace (the namespace
	// label Prometheus' Kubernetes service discovery or a PodMonitor adds) and to the new version.
	Namespace, Model, Version string
	// Window is the range each measurement looks back over; DefaultBuiltinWindow when empty.
	Window string
	// MinSamples is how many compared (shadow) or answered (canary) requests the window must hold before a
	// measurement judges: fewer is no value, an Inconclusive measurement, never a pass. DefaultBuiltinMinSamples
	// when 0.
	MinSamples int32
	// Interval and Count are each metric's; DefaultBuiltinInterval and DefaultBuiltinCount when unset. The
	// metrics tolerate Count-1 inconclusive measurements (a window still filling up), not Count.
	Interval string
	Count    int32
	// Prometheus is the templates' server; nil means the controller's --prometheus.
	Prometheus *v1alpha1.PrometheusProvider
}

// BuiltinTemplates expands metrics into the analysis templates render writes into a ModelDeployment:
// BuiltinShadowTemplate (first, when a shadow analysis is on) with the shadow analyses, then one template per
// other analysis, named like it, in the order of metrics. where prefixes errors (e.g. "applications/iris/model.yaml: spec.analysis"), which name the
// field and the fix.
func BuiltinTemplates(where string, metrics []BuiltinMetric, o BuiltinOptions) ([]v1alpha1.AnalysisTemplate, error) {
	s := o.scope()
	interval, count := v1alpha1.DurationString(o.Interval), o.Count
	if interval == "" {
		interval = DefaultBuiltinInterval
	}
	if count == 0 {
		count = DefaultBuiltinCount
	}
	var shadow v1alpha1.AnalysisTemplate
	var own []v1alpha1.AnalysisTemplate
	seen := map[string]bool{}
	for i, m := range metrics {
		at := fmt.Sprintf("%s.builtin[%d]", where, i)
		b, ok := builtins[m.Name]
		if !ok {
			return nil, fmt.Errorf("%s.name: no built-in analysis %q: use one of %s", at, m.Name, strings.Join(BuiltinNames(), ", "))
		}
		if seen[m.Name] {
			return nil, fmt.Errorf("%s.name: %s is turned on twice: keep one", at, m.Name)
		}
		seen[m.Name] = true
		t, err := b.thresholdOf(at, m)
		if err != nil {
			return nil, err
		}
		success, failure := conditions(b.threshold, t)
		metric := v1alpha1.AnalysisMetric{
			Name: m.Name, Query: b.query(s), SuccessCondition: success, FailureCondition: failure,
			Interval: interval, Count: new(count), InconclusiveLimit: new(count - 1),
		}
		if b.template == BuiltinShadowTemplate {
			shadow.Metrics = append(shadow.Metrics, metric)
			continue
		}
		own = append(own, v1alpha1.AnalysisTemplate{Name: m.Name, Prometheus: o.Prometheus, Metrics: []v1alpha1.AnalysisMetric{metric}})
	}
	if len(shadow.Metrics) == 0 {
		return own, nil
	}
	shadow.Name, shadow.Prometheus = BuiltinShadowTemplate, o.Prometheus
	return append([]v1alpha1.AnalysisTemplate{shadow}, own...), nil
}

// BuiltinQuery is the PromQL of the built-in analysis name scoped by o (its Namespace, Model, Version, Window and
// MinSamples): the value each of its measurements judges. Run over a range, it is what a chart of the analysis
// plots, with no value where a window held too few samples.
func BuiltinQuery(name string, o BuiltinOptions) (string, error) {
	b, ok := builtins[name]
	if !ok {
		return "", fmt.Errorf("no built-in analysis %q: use one of %s", name, strings.Join(BuiltinNames(), ", "))
	}
	return b.query(o.scope()), nil
}

// BuiltinThresholdOf is the threshold of m when m is a built-in analysis as BuiltinTemplates writes it: its name
// a built-in's and its conditions those of a threshold. ok is false for any other metric, e.g. one written by hand.
func BuiltinThresholdOf(m v1alpha1.AnalysisMetric) (threshold float64, ok bool) {
	b, known := builtins[m.Name]
	if !known {
		return 0, false
	}
	success, _ := conditions(b.threshold, 0)
	v, found := strings.CutPrefix(m.SuccessCondition, strings.TrimSuffix(success, "0"))
	if !found {
		return 0, false
	}
	t, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, false
	}
	if s, f := conditions(b.threshold, t); s != m.SuccessCondition || f != m.FailureCondition {
		return 0, false
	}
	return t, true
}

// scope is what o's queries select, with the defaults of Window and MinSamples.
func (o BuiltinOptions) scope() scope {
	s := scope{namespace: o.Namespace, model: o.Model, version: o.Version, window: o.Window, minSamples: o.MinSamples}
	if s.window == "" {
		s.window = DefaultBuiltinWindow
	}
	if s.minSamples == 0 {
		s.minSamples = DefaultBuiltinMinSamples
	}
	return s
}

// thresholdOf is the one threshold m sets, the one b takes, within b's bounds.
func (b builtin) thresholdOf(at string, m BuiltinMetric) (float64, error) {
	set := map[string]*float64{ThresholdMin: m.Min, ThresholdMax: m.Max, ThresholdMaxSeconds: m.MaxSeconds}
	for _, k := range []string{ThresholdMin, ThresholdMax, ThresholdMaxSeconds} {
		if k != b.threshold && set[k] != nil {
			return 0, fmt.Errorf("%s.%s: %s takes %s, not %s", at, k, m.Name, b.threshold, k)
		}
	}
	t := set[b.threshold]
	switch {
	case t == nil:
		return 0, fmt.Errorf("%s.%s: %s needs a threshold: set %s", at, b.threshold, m.Name, b.threshold)
	case *t < b.lo || (b.hi >= b.lo && *t > b.hi):
		bounds := fmt.Sprintf("%g or more", b.lo)
		if b.hi >= b.lo {
			bounds = fmt.Sprintf("between %g and %g", b.lo, b.hi)
		}
		return 0, fmt.Errorf("%s.%s: %g is out of range: %s must be %s", at, b.threshold, *t, b.threshold, bounds)
	}
	return *t, nil
}

// conditions judge a query's one value against threshold t. No value (too few samples) or NaN satisfies neither:
// the measurement is Inconclusive.
func conditions(threshold string, t float64) (success, failure string) {
	v := strconv.FormatFloat(t, 'g', -1, 64)
	if threshold == ThresholdMin {
		return "len(result) == 1 && result[0] >= " + v, "len(result) == 1 && result[0] < " + v
	}
	return "len(result) == 1 && result[0] <= " + v, "len(result) == 1 && result[0] > " + v
}

// scope is what the queries select.
type scope struct {
	namespace, model, version, window string
	minSamples                        int32
}

// shadow selects the router's series of mirrored requests to the new version.
func (s scope) shadow() string {
	return fmt.Sprintf(`namespace=%q,model=%q,shadow=%q`, s.namespace, s.model, s.version)
}

// version selects the router's series of requests answered by the new version (op "=") or the others ("!=").
func (s scope) versions(op string) string {
	return fmt.Sprintf(`namespace=%q,model=%q,version%s%q`, s.namespace, s.model, op, s.version)
}

// compared is the number of answers of the shadow compared in the window.
func (s scope) compared() string {
	return fmt.Sprintf(`sum(increase(marina_router_shadow_comparisons_total{%s}[%s]))`, s.shadow(), s.window)
}

// enoughCompared has a value only when the window compared at least minSamples answers.
func (s scope) enoughCompared() string {
	return fmt.Sprintf("%s >= %d", s.compared(), s.minSamples)
}
