package ui

import (
	"testing"

	"github.com/marina-dev/marina/internal/gate"
)

func TestGateSummaryCountsSkippedGatesAsPassed(t *testing.T) {
	t.Parallel()
	passed := gate.Result{Gate: gate.AccuracyMin, Passed: true, Message: "accuracy 0.98 meets the minimum 0.9"}
	skipped := gate.Result{Gate: gate.AccuracyMaxRegression, Passed: true, Skipped: true, Message: "skipped: prod is the last environment"}
	failed := gate.Result{Gate: gate.LatencyP95Max, Message: "no latency_p95_ms metric recorded; record it with …"}
	for _, tc := range []struct {
		name    string
		results []gate.Result
		want    gates
	}{
		{"all pass", []gate.Result{passed, skipped}, gates{Class: "gate-passed", Text: "gates 2/2 passed", Title: "every gate of marina.yaml passes"}},
		{"one fails: its reason without the hint", []gate.Result{passed, skipped, failed},
			gates{Class: "gate-failed", Text: "gates 2/3 passed", Title: "latencyP95Ms.max: no latency_p95_ms metric recorded"}},
	} {
		if got := gateSummary(tc.results); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
