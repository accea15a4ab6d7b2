package controller

import (
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/marina-dev/marina/api/v1alpha1"
)

// Metrics on controller-runtime's registry, served on the manager's metrics address next to its own
// (controller_runtime_reconcile_*, workqueue_*).
var (
	reconcileDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "marina_reconcile_duration_seconds", Help: "Time to reconcile one ModelDeployment.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	})
	rolloutPhase = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "marina_modeldeployment_phase", Help: "1 for the phase each ModelDeployment is in (Ready, Progressing, Degraded).",
	}, []string{"namespace", "name", "phase"})
	analysisResults = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "marina_analysis_measurements_total", Help: "Analysis run updates by resulting phase.",
	}, []string{"phase"})
)

func init() {
	metrics.Registry.MustRegister(reconcileDuration, rolloutPhase, analysisResults)
}

// recordPhase publishes which of Ready, Progressing and Degraded md is in.
func recordPhase(md *v1alpha1.ModelDeployment) {
	for _, t := range []string{v1alpha1.ReadyCondition, v1alpha1.ProgressingCondition, v1alpha1.DegradedCondition} {
		v := 0.0
		if meta.IsStatusConditionTrue(md.Status.Conditions, t) {
			v = 1
		}
		rolloutPhase.WithLabelValues(md.Namespace, md.Name, t).Set(v)
	}
}

func ctrlOptions(concurrency int) controller.Options {
	return controller.Options{MaxConcurrentReconciles: max(concurrency, 1)}
}

// forget drops the metrics of a ModelDeployment that is gone.
func forget(namespace, name string) {
	rolloutPhase.DeletePartialMatch(prometheus.Labels{"namespace": namespace, "name": name})
}
