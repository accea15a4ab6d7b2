package analysis_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/analysis"
)

// FuzzMeasureConditions feeds arbitrary conditions and results to Measure: it never panics, every measurement has
// one of the four measurement phases, and a metric ValidateMetric refuses only ever measures as an Error.
func FuzzMeasureConditions(f *testing.F) {
	f.Add("result[0] >= 0.95", "len(result) == 0 || result[0] < 0.01", 0.97, 2)
	f.Add("isNaN(result[0])", "", math.NaN(), 1)
	f.Add("result[1] > result[0]", "result", 1.0, 0)
	f.Add("all(result, # > 0)", "any(result, isInf(#))", math.Inf(1), 3)
	f.Fuzz(func(t *testing.T, success, failure string, value float64, n int) {
		n = min(max(n, 0), 5)
		result := make(model.Vector, n)
		for i := range result {
			result[i] = &model.Sample{Metric: model.Metric{"i": model.LabelValue(rune('a' + i))}, Value: model.SampleValue(value * float64(i))}
		}
		q := &fakeQuerier{answers: map[string][]answer{"q": {{value: result}}}}
		m := v1alpha1.AnalysisMetric{Name: "m", Query: "q", SuccessCondition: success, FailureCondition: failure}
		got := analysis.Measure(context.Background(), q, m, time.Unix(0, 0))
		switch got.Phase {
		case v1alpha1.AnalysisSuccessful, v1alpha1.AnalysisFailed, v1alpha1.AnalysisInconclusive:
			if err := analysis.ValidateMetric(m); err != nil {
				t.Fatalf("measured %s (%s) a metric ValidateMetric refuses: %v", got.Phase, got.Message, err)
			}
		case v1alpha1.AnalysisError:
		default:
			t.Fatalf("phase %q", got.Phase)
		}
	})
}
