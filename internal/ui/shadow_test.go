package ui_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/marina-dev/marina/internal/analysis"
	"github.com/marina-dev/marina/internal/analysis/prometheustest"
	"github.com/marina-dev/marina/internal/eventually"
	"github.com/marina-dev/marina/internal/ui"
)

// fedAgreement is the share of rows the fake router reports as agreeing.
const fedAgreement = 0.96

// shadowRouter serves what marina router exports of its shadow comparison (internal/router/metrics.go's names and
// labels) for iris-classifier mirroring 1.1.0 beside 1.0.0, each scrape advancing the counters: 100 compared
// answers and rows, 96 of them agreeing, a max abs diff of 0.002 (relative 0.004), a latency delta of 0.02 s, 1 drop for timeout
// and 2 for queue_full. It returns its host:port.
func shadowRouter(t *testing.T) string {
	t.Helper()
	pair := []string{"model", "primary", "shadow"}
	comparisons := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "marina_router_shadow_comparisons_total", Help: "Compared."}, append(pair, "result"))
	argmax := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "marina_router_shadow_argmax_rows_total", Help: "Rows."}, append(pair, "agreement"))
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "marina_router_mirror_dropped_total", Help: "Dropped."}, []string{"model", "shadow", "reason"})
	absDiff := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "marina_router_shadow_max_abs_diff", Help: "Diff.",
		Buckets: []float64{0, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 10}}, pair)
	relDiff := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "marina_router_shadow_max_rel_diff", Help: "Relative diff.",
		Buckets: []float64{0, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 10}}, pair)
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "marina_router_shadow_latency_delta_seconds", Help: "Delta.",
		Buckets: []float64{-5, -1, -0.25, -0.05, -0.01, -0.001, 0, 0.001, 0.01, 0.05, 0.25, 1, 5}}, pair)
	reg := prometheus.NewRegistry()
	reg.MustRegister(comparisons, argmax, dropped, absDiff, relDiff, latency)
	versions := []string{rolloutModel, "1.0.0", "1.1.0"}
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		comparisons.WithLabelValues(append(versions, "differs")...).Add(100)
		argmax.WithLabelValues(append(versions, "agree")...).Add(100 * fedAgreement)
		argmax.WithLabelValues(append(versions, "disagree")...).Add(100 * (1 - fedAgreement))
		dropped.WithLabelValues(rolloutModel, "1.1.0", "timeout").Add(1)
		dropped.WithLabelValues(rolloutModel, "1.1.0", "queue_full").Add(2)
		for range 100 {
			absDiff.WithLabelValues(versions...).Observe(0.002)
			relDiff.WithLabelValues(versions...).Observe(0.004)
			latency.WithLabelValues(versions...).Observe(0.02)
		}
		metrics.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// shadowDashboard serves the dashboard of rolloutRepo with the mid-rollout cluster and a real Prometheus scraping
// shadowRouter every second, once Prometheus holds scrapes of it over the last minute; it returns the
// dashboard's address and Prometheus.
func shadowDashboard(t *testing.T, scrapes int) (string, *prometheustest.Server) {
	t.Helper()
	p := prometheustest.StartLabeled(t, map[string]string{"namespace": rolloutNS}, shadowRouter(t))
	cluster := midRollout(t)
	prom, err := analysis.NewClient(p.Address(), analysis.Auth{})
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, ui.Options{Repo: rolloutRepo(t), Cluster: cluster, Prometheus: prom, Now: time.Now})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p.WaitForData(ctx, t, fmt.Sprintf(`count_over_time(marina_router_shadow_argmax_rows_total{agreement="agree"}[1m]) >= %d`, scrapes), 1)
	return base, p
}

// pathOf is the path (its d) of the line class draws in the chart with id: the figure's SVG.
func pathOf(t *testing.T, body, id, class string) string {
	t.Helper()
	fig := regexp.MustCompile(`(?s)<figure class="chart-box" id="chart-` + id + `">.*?</figure>`).FindString(body)
	m := regexp.MustCompile(`<path class="` + class + `" d="([^"]*)"`).FindStringSubmatch(fig)
	if m == nil {
		t.Fatalf("chart %s has no %s line:\n%s", id, class, fig)
	}
	return m[1]
}

// TestShadowChartsPlotWhatARealPrometheusScrapedFromTheRouter runs a real Prometheus scraping a router's shadow
// metrics with the namespace label Kubernetes service discovery adds, and the rollout page's charts of it.
func TestShadowChartsPlotWhatARealPrometheusScrapedFromTheRouter(t *testing.T) {
	t.Parallel()
	// The agreement needs two scrapes in its minute.
	base, p := shadowDashboard(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var body string
	err := eventually.Poll(ctx, func(context.Context) (bool, error) {
		got := request(t, "GET", base+"/rollouts/"+rolloutNS+"/"+rolloutModel+"?range=5m")
		body = got.body
		return got.code == http.StatusOK && !strings.Contains(body, `<path class="chart-line-0" d=""`), nil
	})
	if err != nil {
		t.Fatalf("the charts never had a line:\n%s", body)
	}
	if strings.Contains(body, `class="error"`) {
		t.Errorf("a chart's query failed:\n%s", body)
	}
	// The agreement chart spans 0 to 1 over its plot's 164 pixels from y=32 to y=196 (internal/chart's 220-pixel
	// height and margins).
	y := func(v float64) float64 { return 196 - 164*v }
	agreement := pathOf(t, body, "agreement", "chart-line-0")
	coords := strings.Fields(strings.NewReplacer("M", "", "L", "").Replace(agreement))
	for i := 1; i < len(coords); i += 2 {
		got, err := strconv.ParseFloat(coords[i], 64)
		if err != nil {
			t.Fatalf("agreement path %q: %v", agreement, err)
		}
		if got < y(fedAgreement+0.01) || got > y(fedAgreement-0.01) {
			t.Errorf("agreement at y=%g, want about y=%g (%g): path %s", got, y(fedAgreement), fedAgreement, agreement)
		}
	}
	if want := `<line class="chart-threshold" x1="60" x2="628" y1="40.2" y2="40.2"/>`; !strings.Contains(body, want) {
		t.Errorf("the agreement chart draws the analysis' min %g at y=40.2: no %q", agreementBar, want)
	}
	for _, c := range []struct{ id, class string }{
		{"max-abs-diff", "chart-line-0"}, {"max-rel-diff", "chart-line-0"}, {"latency-delta", "chart-line-0"}, {"error-rate", "chart-line-0"},
		{"drops", "chart-line-0"}, {"drops", "chart-line-1"},
	} {
		if pathOf(t, body, c.id, c.class) == "" {
			t.Errorf("chart %s: %s has no point", c.id, c.class)
		}
	}
	for _, w := range []string{">queue_full</text>", ">timeout</text>", `<b id="range">5m</b>`, `Shadow <span class="version">1.1.0</span>`} {
		if !strings.Contains(body, w) {
			t.Errorf("the shadow section lacks %q", w)
		}
	}
	if earlier := request(t, "GET", base+"/rollouts/"+rolloutNS+"/"+rolloutModel+"?version=1.0.5").body; !strings.Contains(earlier, `Shadow <span class="version">1.0.5</span>`) ||
		!strings.Contains(earlier, "no samples in this range") || !strings.Contains(earlier, `href="?range=1h&amp;version=1.0.5"`) {
		t.Errorf("?version=1.0.5 charts that version, of which Prometheus has nothing:\n%s", earlier)
	}

	p.Stop(t)
	down := request(t, "GET", base+"/rollouts/"+rolloutNS+"/"+rolloutModel)
	if down.code != http.StatusOK || strings.Count(down.body, "Prometheus did not answer the query of this chart") != 6 {
		t.Errorf("with Prometheus down each chart says so, the page stays: %d\n%s", down.code, down.body)
	}
}
