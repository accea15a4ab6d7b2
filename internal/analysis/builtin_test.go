package analysis_test

import (
	"strings"
	"testing"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/analysis"
)

func TestBuiltinAnalysesExpandIntoTheShadowTemplateFirstThenOneTemplateEach(t *testing.T) {
	t.Parallel()
	tmpls, err := analysis.BuiltinTemplates("spec.analysis", []analysis.BuiltinMetric{
		{Name: analysis.ErrorRate, Max: new(0.01)},
		{Name: analysis.ShadowAgreement, Min: new(0.95)},
		{Name: analysis.LatencyP99Delta, MaxSeconds: new(0.05)},
		{Name: analysis.ShadowErrorRate, Max: new(0.02)},
	}, analysis.BuiltinOptions{Namespace: "models", Model: "iris", Version: "1.1.0", Prometheus: &v1alpha1.PrometheusProvider{Address: "http://prom:9090"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tm := range tmpls {
		var ms []string
		for _, m := range tm.Metrics {
			ms = append(ms, m.Name)
			if *m.Count != analysis.DefaultBuiltinCount || *m.InconclusiveLimit != analysis.DefaultBuiltinCount-1 || m.Interval != analysis.DefaultBuiltinInterval {
				t.Errorf("%s: count %d, inconclusiveLimit %d, interval %s; want the defaults", m.Name, *m.Count, *m.InconclusiveLimit, m.Interval)
			}
			for _, want := range []string{`namespace="models"`, `model="iris"`, `"1.1.0"`, "[5m]", ">= 100"} {
				if !strings.Contains(m.Query, want) {
					t.Errorf("%s: query %s lacks %s", m.Name, m.Query, want)
				}
			}
		}
		if tm.Prometheus == nil || tm.Prometheus.Address != "http://prom:9090" {
			t.Errorf("template %s: prometheus %+v", tm.Name, tm.Prometheus)
		}
		got = append(got, tm.Name+"("+strings.Join(ms, ",")+")")
	}
	if want := "shadow(shadow-agreement,shadow-error-rate) error-rate(error-rate) latency-p99-delta(latency-p99-delta)"; strings.Join(got, " ") != want {
		t.Fatalf("templates %s, want %s", strings.Join(got, " "), want)
	}
}

func TestBuiltinAnalysesRefuseWhatTheyCannotJudgeNamingTheField(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		metric analysis.BuiltinMetric
		want   string
	}{
		{"an unknown name", analysis.BuiltinMetric{Name: "accuracy", Min: new(0.9)}, `spec.analysis.builtin[1].name: no built-in analysis "accuracy": use one of error-rate, latency-p99-delta, shadow-agreement, shadow-error-rate, shadow-latency-p99-delta, shadow-max-abs-diff-p99`},
		{"another analysis' threshold", analysis.BuiltinMetric{Name: analysis.ShadowAgreement, Max: new(0.9)}, "spec.analysis.builtin[1].max: shadow-agreement takes min, not max"},
		{"no threshold", analysis.BuiltinMetric{Name: analysis.LatencyP99Delta}, "spec.analysis.builtin[1].maxSeconds: latency-p99-delta needs a threshold: set maxSeconds"},
		{"a rate above 1", analysis.BuiltinMetric{Name: analysis.ShadowErrorRate, Max: new(1.5)}, "spec.analysis.builtin[1].max: 1.5 is out of range: max must be between 0 and 1"},
		{"a negative difference", analysis.BuiltinMetric{Name: analysis.ShadowMaxAbsDiffP99, Max: new(-0.1)}, "spec.analysis.builtin[1].max: -0.1 is out of range: max must be 0 or more"},
		{"the same analysis twice", analysis.BuiltinMetric{Name: analysis.ErrorRate, Max: new(0.05)}, "spec.analysis.builtin[1].name: error-rate is turned on twice: keep one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := analysis.BuiltinTemplates("spec.analysis", []analysis.BuiltinMetric{{Name: analysis.ErrorRate, Max: new(0.01)}, tc.metric}, analysis.BuiltinOptions{})
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err = %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestBuiltinQueryIsTheQueryItsTemplateMeasures(t *testing.T) {
	t.Parallel()
	o := analysis.BuiltinOptions{Namespace: "models", Model: "iris", Version: "1.2.0", Window: "1m", MinSamples: 30}
	for _, name := range analysis.BuiltinNames() {
		m := analysis.BuiltinMetric{Name: name}
		switch threshold, _ := analysis.BuiltinThreshold(name); threshold {
		case analysis.ThresholdMin:
			m.Min = new(0.5)
		case analysis.ThresholdMax:
			m.Max = new(0.5)
		default:
			m.MaxSeconds = new(0.5)
		}
		tmpls, err := analysis.BuiltinTemplates("spec.analysis", []analysis.BuiltinMetric{m}, o)
		if err != nil {
			t.Fatal(err)
		}
		got, err := analysis.BuiltinQuery(name, o)
		if want := tmpls[0].Metrics[0].Query; err != nil || got != want {
			t.Errorf("BuiltinQuery(%s) = %q, %v; its template measures %q", name, got, err, want)
		}
	}
	if _, err := analysis.BuiltinQuery("agreement", o); err == nil || !strings.Contains(err.Error(), analysis.ShadowAgreement) {
		t.Errorf("an unknown name: %v, want an error listing the names", err)
	}
}

func TestBuiltinThresholdOfReadsBackTheThresholdOfAWrittenTemplate(t *testing.T) {
	t.Parallel()
	templates, err := analysis.BuiltinTemplates("spec.analysis", []analysis.BuiltinMetric{
		{Name: analysis.ShadowAgreement, Min: new(0.97)},
		{Name: analysis.ShadowLatencyP99Delta, MaxSeconds: new(0.25)},
	}, analysis.BuiltinOptions{Namespace: "ns", Model: "m", Version: "2.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		metric v1alpha1.AnalysisMetric
		want   float64
	}{{templates[0].Metrics[0], 0.97}, {templates[0].Metrics[1], 0.25}} {
		if got, ok := analysis.BuiltinThresholdOf(tc.metric); !ok || got != tc.want {
			t.Errorf("%s: threshold %g, %v; want %g", tc.metric.Name, got, ok, tc.want)
		}
	}
	byHand := templates[0].Metrics[0]
	byHand.SuccessCondition = "result[0] >= 0.9"
	for _, m := range []v1alpha1.AnalysisMetric{byHand, {Name: "success-rate", SuccessCondition: "len(result) == 1 && result[0] >= 0.9"}} {
		if got, ok := analysis.BuiltinThresholdOf(m); ok {
			t.Errorf("%s with %q is not as BuiltinTemplates writes it: got threshold %g", m.Name, m.SuccessCondition, got)
		}
	}
}
