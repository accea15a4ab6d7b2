package controller

import (
	"context"
	"sync"
	"time"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/analysis"
)

// PrometheusAnalyzer measures analysis templates on Prometheus (package analysis), keeping a run's whole state in
// its AnalysisRunStatus so a restarted controller resumes it.
type PrometheusAnalyzer struct {
	// DefaultAddress is the Prometheus of templates that name none.
	DefaultAddress string

	mu      sync.Mutex
	clients map[string]analysis.Querier
}

// Measure implements Analyzer.
func (a *PrometheusAnalyzer) Measure(ctx context.Context, tmpl v1alpha1.AnalysisTemplate, run *v1alpha1.AnalysisRunStatus, now time.Time) time.Duration {
	addr := a.DefaultAddress
	if tmpl.Prometheus != nil && tmpl.Prometheus.Address != "" {
		addr = tmpl.Prometheus.Address
	}
	if addr == "" {
		run.Phase, run.Message = v1alpha1.AnalysisError, "no Prometheus to ask: set prometheus.address in the template, or run the controller with --prometheus"
		return 0
	}
	q, err := a.client(addr)
	if err != nil {
		run.Phase, run.Message = v1alpha1.AnalysisError, err.Error()
		return 0
	}
	s := analysis.Run(ctx, q, tmpl, stateOf(*run), now)
	st := s.Status(run.Name, run.Template)
	for _, m := range s.Metrics {
		st.Metrics = append(st.Metrics, v1alpha1.AnalysisMetricStatus(m))
	}
	*run = st
	next, ok := analysis.Next(tmpl, s)
	if !ok {
		return 0
	}
	return max(next.Sub(now), time.Second)
}

// stateOf is the analysis state a run's status holds.
func stateOf(run v1alpha1.AnalysisRunStatus) analysis.RunState {
	s := analysis.RunState{Phase: run.Phase, StartedAt: run.StartedAt, Message: run.Message}
	if s.Phase == v1alpha1.AnalysisPending {
		s.Phase = ""
	}
	for _, m := range run.Metrics {
		s.Metrics = append(s.Metrics, analysis.MetricState(m))
	}
	return s
}

// erroring reports whether a running analysis's last measurement of some metric failed to measure: the rollout
// waits, saying why, and never goes on.
func erroring(run *v1alpha1.AnalysisRunStatus) bool {
	return run != nil && stateOf(*run).Erroring()
}

func (a *PrometheusAnalyzer) client(addr string) (analysis.Querier, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if q, ok := a.clients[addr]; ok {
		return q, nil
	}
	q, err := analysis.NewClient(addr)
	if err != nil {
		return nil, err
	}
	if a.clients == nil {
		a.clients = map[string]analysis.Querier{}
	}
	a.clients[addr] = q
	return q, nil
}
