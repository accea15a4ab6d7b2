package analysis_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/analysis"
	"github.com/marina-dev/marina/internal/analysis/prometheustest"
)

// scraped holds once Prometheus has scraped both series of the app.
const scraped = `app_requests_total and on() up{job="app"} == 1`

// TestAnalysisOnARealPrometheus measures metrics of an app this test serves, as scraped every second by a real
// Prometheus (hack/prometheus.sh installs Debian's): runs pass and fail on the app's numbers, bad PromQL is an
// Error, and a run survives Prometheus going away and coming back.
func TestAnalysisOnARealPrometheus(t *testing.T) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "app_requests_total", Help: "Requests by code."}, []string{"code"})
	requests.WithLabelValues("200").Add(990)
	requests.WithLabelValues("500").Add(10)
	registry := prometheus.NewRegistry()
	registry.MustRegister(requests)
	app := httptest.NewServer(promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	t.Cleanup(app.Close)

	p := prometheustest.Start(t, app.Listener.Addr().String())
	q, err := analysis.NewClient(p.Address(), analysis.Auth{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	t.Cleanup(cancel)
	p.WaitForData(ctx, t, scraped, 2)

	successRate := v1alpha1.AnalysisMetric{Name: "success-rate",
		Query:            `sum(app_requests_total{code!~"5.."}) / sum(app_requests_total)`,
		SuccessCondition: "result[0] >= 0.95", FailureCondition: "result[0] < 0.95", Interval: "1s", Count: new(int32(3))}

	t.Run("measurements", func(t *testing.T) {
		cases := []struct {
			name        string
			metrics     []v1alpha1.AnalysisMetric
			wantPhase   v1alpha1.AnalysisPhase
			wantMessage string
		}{
			{name: "a success rate above its threshold passes", wantPhase: v1alpha1.AnalysisSuccessful, metrics: []v1alpha1.AnalysisMetric{
				successRate,
				{Name: "by-code", Query: "sum by (code) (app_requests_total)", Interval: "1s", Count: new(int32(2)),
					SuccessCondition: "len(result) == 2 && result[0] == 990 && result[1] == 10"},
				{Name: "no-404", Query: `app_requests_total{code="404"}`, SuccessCondition: "len(result) == 0"},
			}},
			{name: "an error rate above its threshold fails", wantPhase: v1alpha1.AnalysisFailed, metrics: []v1alpha1.AnalysisMetric{{
				Name: "error-rate", Query: `sum(app_requests_total{code=~"5.."}) / sum(app_requests_total)`,
				FailureCondition: "result[0] > 0.005", Interval: "1s", Count: new(int32(3))}},
				wantMessage: `error-rate: 1 failed measurements, more than failureLimit 0: result [0.01]: failureCondition "result[0] > 0.005" holds`},
			{name: "a query Prometheus cannot parse is an Error", wantPhase: v1alpha1.AnalysisError, metrics: []v1alpha1.AnalysisMetric{{
				Name: "typo", Query: "sum(app_requests_total", SuccessCondition: "result[0] > 0", Interval: "1s", ConsecutiveErrorLimit: new(int32(1))}},
				wantMessage: "typo: 2 measurement errors in a row, more than consecutiveErrorLimit 1: query: bad_data: "},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				tmpl := v1alpha1.AnalysisTemplate{Name: "t", Metrics: c.metrics}
				s := runToEnd(ctx, t, q, tmpl, v1alpha1.AnalysisRunStatus{})
				if s.Phase != c.wantPhase || !strings.Contains(s.Message, c.wantMessage) {
					t.Fatalf("run %s %q, want %s %q", s.Phase, s.Message, c.wantPhase, c.wantMessage)
				}
			})
		}
	})

	t.Run("a run waits while Prometheus is down and succeeds once it is back", func(t *testing.T) {
		tmpl := v1alpha1.AnalysisTemplate{Name: "t", Metrics: []v1alpha1.AnalysisMetric{successRate}}
		s := analysis.Run(ctx, q, tmpl, v1alpha1.AnalysisRunStatus{}, time.Now())
		if s.Phase != v1alpha1.AnalysisRunning || s.Metrics[0].Successful != 1 {
			t.Fatalf("first measurement: %s %q, want Running with one success", s.Phase, s.Message)
		}
		p.Stop(t)
		for i := range 2 {
			next, _ := analysis.Next(tmpl, s)
			time.Sleep(time.Until(next))
			s = analysis.Run(ctx, q, tmpl, s, time.Now())
			if s.Phase != v1alpha1.AnalysisRunning || !analysis.Erroring(s) || s.Metrics[0].ConsecutiveErrors != int32(i+1) ||
				!strings.Contains(s.Message, "connection refused") {
				t.Fatalf("Prometheus down, measurement %d: %s %q, want Running, retrying after a connection error", i+2, s.Phase, s.Message)
			}
		}
		// The controller restarts too: the run continues from what status holds.
		data, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var resumed v1alpha1.AnalysisRunStatus
		if err := json.Unmarshal(data, &resumed); err != nil {
			t.Fatal(err)
		}
		if a, _ := analysis.Next(tmpl, s); !func() bool { b, _ := analysis.Next(tmpl, resumed); return a.Equal(b) }() {
			t.Fatalf("the resumed run is due at another time than %v", a)
		}
		p.Start(t)
		p.WaitForData(ctx, t, scraped, 2)
		s = runToEnd(ctx, t, q, tmpl, resumed)
		m := s.Metrics[0]
		if s.Phase != v1alpha1.AnalysisSuccessful || m.Successful != 3 || m.Error != 2 || m.ConsecutiveErrors != 0 {
			t.Fatalf("after Prometheus came back: %s %q %+v, want Successful with 3 successes and 2 errors", s.Phase, s.Message, m)
		}
	})
}

// runToEnd reconciles the run as a controller would, coming back when Next says, until the run is over.
func runToEnd(ctx context.Context, t *testing.T, q analysis.Querier, tmpl v1alpha1.AnalysisTemplate, s v1alpha1.AnalysisRunStatus) v1alpha1.AnalysisRunStatus {
	t.Helper()
	for {
		s = analysis.Run(ctx, q, tmpl, s, time.Now())
		next, ok := analysis.Next(tmpl, s)
		if !ok {
			return s
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the run did not end: %s %q", s.Phase, s.Message)
		case <-time.After(time.Until(next)):
		}
	}
}
