package router

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/analysis"
	"github.com/marina-dev/marina/internal/analysis/prometheustest"
)

// TestBuiltinAnalysesJudgeTheRoutersMetricsOnARealPrometheus runs routers in front of OIP v2 upstreams (test
// stand-ins for model servers: goodModel, and worseModel, which picks the other class for a fifth of the inputs),
// has a real Prometheus scrape their /metrics with the namespace label Kubernetes service discovery adds, and
// measures the built-in analyses render writes: a shadow that agrees passes, one that disagrees fails, one with too
// few compared answers is Inconclusive (never a pass), and a healthy canary passes the canary analyses.
func TestBuiltinAnalysesJudgeTheRoutersMetricsOnARealPrometheus(t *testing.T) {
	t.Parallel()
	prometheustest.Binary(t)
	primary, _ := oipUpstream(t, "1.0.0", goodModel, 0)
	same, _ := oipUpstream(t, "1.1.0", goodModel, 0)
	worse, _ := oipUpstream(t, "1.2.0", worseModel, 0)
	few, _ := oipUpstream(t, "1.3.0", goodModel, 0)
	canary, _ := oipUpstream(t, "1.4.0", goodModel, 0)
	shadowed := func(version, url string) *running {
		return startRouter(t, config(fmt.Sprintf(`upstreams: [{version: "1.0.0", url: %q, weight: 1}]
shadow: {version: %q, url: %q, percent: 100}
`, primary.URL, version, url)), Options{})
	}
	routers := map[string]*running{
		"1.1.0": shadowed("1.1.0", same.URL),
		"1.2.0": shadowed("1.2.0", worse.URL),
		"1.3.0": shadowed("1.3.0", few.URL),
		"1.4.0": startRouter(t, config(fmt.Sprintf(`upstreams: [{version: "1.0.0", url: %q, weight: 1}, {version: "1.4.0", url: %q, weight: 1}]
`, primary.URL, canary.URL)), Options{}),
	}
	var targets []string
	for _, r := range routers {
		targets = append(targets, strings.TrimSuffix(strings.TrimPrefix(r.metricsURL, "http://"), "/metrics"))
	}
	p := prometheustest.StartLabeled(t, map[string]string{"namespace": "models"}, targets...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	// Every router scraped once before the traffic, so the window's increase counts all of it.
	p.WaitForData(ctx, t, `up{job="app"} == 1`, len(routers))

	const n, minSamples = 200, 50
	c := client()
	send := func(r *running, count int) {
		parallel(count, 8, func(i int) {
			if code, _, _ := infer(t, c, r.url, float64(i)/float64(count), nil); code != 200 {
				t.Errorf("request %d: status %d", i, code)
			}
		})
	}
	for v, r := range routers {
		count := n
		if v == "1.3.0" {
			count = minSamples / 5
		}
		send(r, count)
		if v != "1.4.0" {
			waitCompared(t, r, v, count)
		}
	}
	for v, want := range map[string]int{"1.1.0": n, "1.2.0": n, "1.3.0": minSamples / 5} {
		p.WaitForData(ctx, t, fmt.Sprintf(`sum(marina_router_shadow_comparisons_total{shadow=%q}) >= %d`, v, want), 1)
	}
	p.WaitForData(ctx, t, fmt.Sprintf(`sum(marina_router_requests_total{version="1.4.0"}) >= %d`, n/4), 1)

	q, err := analysis.NewClient(p.Address(), analysis.Auth{})
	if err != nil {
		t.Fatal(err)
	}
	shadow := []analysis.BuiltinMetric{
		{Name: analysis.ShadowAgreement, Min: new(0.95)},
		{Name: analysis.ShadowMaxAbsDiffP99, Max: new(0.01)},
		{Name: analysis.ShadowErrorRate, Max: new(0.01)},
		{Name: analysis.ShadowLatencyP99Delta, MaxSeconds: new(5.0)}, // the top finite bucket: loaded CI machines are slow
	}
	canaryMetrics := []analysis.BuiltinMetric{
		{Name: analysis.ErrorRate, Max: new(0.01)},
		{Name: analysis.LatencyP99Delta, MaxSeconds: new(5.0)},
	}
	for _, tc := range []struct {
		name, version string
		metrics       []analysis.BuiltinMetric
		want          v1alpha1.AnalysisPhase
		wantMessage   string
	}{
		{"a shadow that agrees with the live version passes", "1.1.0", shadow, v1alpha1.AnalysisSuccessful, ""},
		{"a shadow that picks another class for a fifth of the rows fails on agreement", "1.2.0", shadow, v1alpha1.AnalysisFailed,
			analysis.ShadowAgreement + ": 1 failed measurements"},
		{"a shadow with fewer compared answers than minSamples is inconclusive, not a pass", "1.3.0", shadow, v1alpha1.AnalysisInconclusive, ""},
		{"a healthy canary passes the error rate", "1.4.0", canaryMetrics[:1], v1alpha1.AnalysisSuccessful, ""},
		{"a healthy canary passes the latency delta", "1.4.0", canaryMetrics[1:], v1alpha1.AnalysisSuccessful, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tmpls, err := analysis.BuiltinTemplates("spec.analysis", tc.metrics, analysis.BuiltinOptions{
				Namespace: "models", Model: "iris", Version: tc.version, Window: "2m", MinSamples: minSamples, Interval: "1s", Count: 2})
			if err != nil {
				t.Fatal(err)
			}
			if len(tmpls) != 1 {
				t.Fatalf("%d templates, want 1", len(tmpls))
			}
			s := v1alpha1.AnalysisRunStatus{}
			for {
				s = analysis.Run(ctx, q, tmpls[0], s, time.Now())
				next, ok := analysis.Next(tmpls[0], s)
				if !ok {
					break
				}
				select {
				case <-ctx.Done():
					t.Fatalf("the run did not end: %s %q", s.Phase, s.Message)
				case <-time.After(time.Until(next)):
				}
			}
			if s.Phase != tc.want || !strings.Contains(s.Message, tc.wantMessage) {
				t.Fatalf("run %s %q, want %s %q; metrics %+v", s.Phase, s.Message, tc.want, tc.wantMessage, s.Metrics)
			}
			for _, m := range s.Metrics {
				if tc.want == v1alpha1.AnalysisInconclusive && m.Phase != v1alpha1.AnalysisInconclusive {
					t.Errorf("metric %s: %s %q, want Inconclusive: too few samples must never judge", m.Name, m.Phase, m.Message)
				}
			}
		})
	}
}

// waitCompared waits until the router compared count answers of shadow (mirroring is asynchronous).
func waitCompared(t *testing.T, r *running, shadow string, count int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for r.compared("1.0.0", shadow) < float64(count) {
		if time.Now().After(deadline) {
			t.Fatalf("shadow %s: %v answers compared, want %d", shadow, r.compared("1.0.0", shadow), count)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
