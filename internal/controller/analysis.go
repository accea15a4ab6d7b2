package controller

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/analysis"
)

// PrometheusAnalyzer measures analysis templates on Prometheus (package analysis), keeping a run's whole state in
// its AnalysisRunStatus so a restarted controller resumes it.
type PrometheusAnalyzer struct {
	// DefaultAddress is the Prometheus of templates that name none.
	DefaultAddress string

	mu      sync.Mutex
	clients map[clientKey]analysis.Querier
}

// clientKey identifies a client: one per address and credentials, so a rotated Secret gets a new one.
type clientKey struct {
	addr string
	auth analysis.Auth
}

// Measure implements Analyzer.
func (a *PrometheusAnalyzer) Measure(ctx context.Context, tmpl v1alpha1.AnalysisTemplate, secret *corev1.Secret, run *v1alpha1.AnalysisRunStatus, now time.Time) time.Duration {
	addr := a.DefaultAddress
	if tmpl.Prometheus != nil && tmpl.Prometheus.Address != "" {
		addr = tmpl.Prometheus.Address
	}
	if addr == "" {
		run.Phase, run.Message = v1alpha1.AnalysisError, "no Prometheus to ask: set prometheus.address in the template, or run the controller with --prometheus"
		return 0
	}
	auth, err := prometheusAuth(secret)
	if err != nil {
		run.Phase, run.Message = v1alpha1.AnalysisError, err.Error()
		return 0
	}
	q, err := a.client(clientKey{addr: addr, auth: auth})
	if err != nil {
		run.Phase, run.Message = v1alpha1.AnalysisError, err.Error()
		return 0
	}
	*run = analysis.Run(ctx, q, tmpl, *run, now)
	next, ok := analysis.Next(tmpl, *run)
	if !ok {
		return 0
	}
	return max(next.Sub(now), time.Second)
}

// prometheusAuth reads the credentials of a template's prometheus.secretRef; nil is none.
func prometheusAuth(secret *corev1.Secret) (analysis.Auth, error) {
	if secret == nil {
		return analysis.Auth{}, nil
	}
	auth := analysis.Auth{
		Username: string(secret.Data[v1alpha1.PrometheusUsernameKey]),
		Password: string(secret.Data[v1alpha1.PrometheusPasswordKey]),
		Token:    string(secret.Data[v1alpha1.PrometheusTokenKey]),
	}
	if auth == (analysis.Auth{}) {
		return auth, fmt.Errorf("prometheus.secretRef: Secret %s has none of the keys %s and %s, or %s: add them, or remove secretRef",
			secret.Name, v1alpha1.PrometheusUsernameKey, v1alpha1.PrometheusPasswordKey, v1alpha1.PrometheusTokenKey)
	}
	return auth, nil
}

// erroring reports whether a running analysis's last measurement of some metric failed to measure: the rollout
// waits, saying why, and never goes on.
func erroring(run *v1alpha1.AnalysisRunStatus) bool {
	return run != nil && analysis.Erroring(*run)
}

func (a *PrometheusAnalyzer) client(k clientKey) (analysis.Querier, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if q, ok := a.clients[k]; ok {
		return q, nil
	}
	q, err := analysis.NewClient(k.addr, k.auth)
	if err != nil {
		return nil, err
	}
	if a.clients == nil {
		a.clients = map[clientKey]analysis.Querier{}
	}
	a.clients[k] = q
	return q, nil
}
