package gate_test

import (
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/gate"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/project"
)

func version(v string, metrics map[string]float64) *model.Version {
	return &model.Version{Name: "iris", Version: v, Metrics: metrics}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	all := &project.Gates{
		Accuracy:     &project.AccuracyGate{Min: new(0.9), MaxRegression: new(0.01)},
		LatencyP95Ms: &project.MaxGate{Max: 50},
	}
	prod := gate.Reference{Env: "prod", Version: version("1.0.0", map[string]float64{"accuracy": 0.95})}
	type want struct {
		gate    string
		passed  bool
		skipped bool
		value   *float64
		message string
	}
	tests := []struct {
		name  string
		gates *project.Gates
		v     *model.Version
		ref   gate.Reference
		want  []want
	}{
		{"pass every gate a version meets", all, version("1.1.0", map[string]float64{"accuracy": 0.96, "latency_p95_ms": 20}), prod, []want{
			{gate.AccuracyMin, true, false, new(0.96), "meets the minimum 0.9"},
			{gate.AccuracyMaxRegression, true, false, new(-0.01), "does not regress from 0.95 of iris@1.0.0 in prod"},
			{gate.LatencyP95Max, true, false, new(20.0), "within the maximum 50 ms"},
		}},
		{"fail a version below the accuracy minimum", all, version("1.1.0", map[string]float64{"accuracy": 0.85, "latency_p95_ms": 20}), prod, []want{
			{gate.AccuracyMin, false, false, new(0.85), "accuracy 0.85 is below the minimum 0.9"},
			{gate.AccuracyMaxRegression, false, false, new(0.1), "regresses 0.1 from 0.95 of iris@1.0.0 in prod, more than maxRegression 0.01"},
			{gate.LatencyP95Max, true, false, new(20.0), ""},
		}},
		{"pass a regression exactly at the limit despite float noise", all, version("1.1.0", map[string]float64{"accuracy": 0.94, "latency_p95_ms": 50}), prod, []want{
			{gate.AccuracyMin, true, false, new(0.94), ""},
			{gate.AccuracyMaxRegression, true, false, nil, "regresses 0.01 from 0.95 of iris@1.0.0 in prod, within maxRegression 0.01"},
			{gate.LatencyP95Max, true, false, new(50.0), ""},
		}},
		{"fail a version slower than the latency maximum", all, version("1.1.0", map[string]float64{"accuracy": 0.96, "latency_p95_ms": 80}), prod, []want{
			{gate.AccuracyMin, true, false, nil, ""},
			{gate.AccuracyMaxRegression, true, false, nil, ""},
			{gate.LatencyP95Max, false, false, new(80.0), "latency_p95_ms 80 ms is above the maximum 50 ms"},
		}},
		{"fail every configured gate whose metric is missing, saying how to record it", all, version("1.1.0", nil), prod, []want{
			{gate.AccuracyMin, false, false, nil, "no accuracy metric recorded; record it with `marina model register iris --version 1.1.0 --metric accuracy=VALUE`"},
			{gate.AccuracyMaxRegression, false, false, nil, "no accuracy metric recorded"},
			{gate.LatencyP95Max, false, false, nil, "no latency_p95_ms metric recorded; record it with `marina model register iris --version 1.1.0 --metric latency_p95_ms=VALUE`"},
		}},
		{"skip the regression gate when nothing is deployed in prod", all, version("1.1.0", map[string]float64{"accuracy": 0.96, "latency_p95_ms": 1}), gate.Reference{Env: "prod"}, []want{
			{gate.AccuracyMin, true, false, nil, ""},
			{gate.AccuracyMaxRegression, true, true, nil, "skipped: no version is deployed in prod yet"},
			{gate.LatencyP95Max, true, false, nil, ""},
		}},
		{"skip the regression gate when the prod version records no accuracy", all, version("1.1.0", map[string]float64{"accuracy": 0.96, "latency_p95_ms": 1}),
			gate.Reference{Env: "prod", Version: version("1.0.0", nil)}, []want{
				{gate.AccuracyMin, true, false, nil, ""},
				{gate.AccuracyMaxRegression, true, true, nil, "iris@1.0.0 in prod records no accuracy metric"},
				{gate.LatencyP95Max, true, false, nil, ""},
			}},
		{"check only the gates marina.yaml configures", &project.Gates{LatencyP95Ms: &project.MaxGate{Max: 10}}, version("1.1.0", nil), prod, []want{
			{gate.LatencyP95Max, false, false, nil, "no latency_p95_ms metric"},
		}},
		{"check nothing without gates", nil, version("1.1.0", nil), prod, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := gate.Check(tt.gates, tt.v, tt.ref)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d results, want %d: %+v", len(got), len(tt.want), got)
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Model != tt.v.Name || g.Version != tt.v.Version || g.Gate != w.gate || g.Passed != w.passed || g.Skipped != w.skipped || !strings.Contains(g.Message, w.message) {
					t.Errorf("result %d: %+v\nwant gate %s passed=%v skipped=%v message containing %q", i, g, w.gate, w.passed, w.skipped, w.message)
				}
				if w.value != nil && (g.Value == nil || *g.Value-*w.value > 1e-9 || *w.value-*g.Value > 1e-9) {
					t.Errorf("result %d (%s): value %v, want %v", i, g.Gate, g.Value, *w.value)
				}
			}
		})
	}
}
