package project_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/analysis"
	"github.com/marina-dev/marina/internal/project"
)

// withAnalysis is app with a backend marina and analysis at spec level.
func withAnalysis(analysis string) string {
	return strings.Replace(app, "  model: fraud\n", "  model: fraud\n  backend: marina\n  analysis:\n"+analysis, 1)
}

func TestBuiltinAnalysesAreCheckedWithTheirFieldPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, analysis, want string
	}{
		{"an unknown name", "    builtin: [{name: accuracy, min: 0.9}]\n", "spec.analysis.builtin[0].name: value must be one of"},
		{"a threshold the analysis does not take", "    builtin: [{name: error-rate, max: 0.01}, {name: shadow-agreement, max: 0.9}]\n", "spec.analysis.builtin[1]"},
		{"no threshold", "    builtin: [{name: latency-p99-delta}]\n", "spec.analysis.builtin[0]: missing property 'maxSeconds'"},
		{"an agreement above 1", "    builtin: [{name: shadow-agreement, min: 1.5}]\n", "spec.analysis.builtin[0].min: maximum: got 1.5, want 1"},
		{"an error rate above 1", "    builtin: [{name: shadow-error-rate, max: 2}]\n", "spec.analysis.builtin[0].max: maximum: got 2, want 1"},
		{"a negative latency", "    builtin: [{name: latency-p99-delta, maxSeconds: -1}]\n", "spec.analysis.builtin[0].maxSeconds: minimum: got -1, want 0"},
		{"credentials in the Prometheus address", "    prometheus: {address: \"http://u:p@prometheus:9090\"}\n    builtin: [{name: error-rate, max: 0.01}]\n", "spec.analysis.prometheus.address"},
		{"an unknown field", "    builtin: [{name: error-rate, max: 0.01, threshold: 3}]\n", "spec.analysis.builtin[0].threshold: unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantRefused(t, withAnalysis(tc.analysis), tc.want)
		})
	}
	a, _, err := project.ParseApplication("applications/fraud/model.yaml", []byte(withAnalysis(
		"    minSamples: 50\n    builtin: [{name: shadow-agreement, min: 0.95}, {name: error-rate, max: 0.01}, {name: latency-p99-delta, maxSeconds: 0.05}]\n")))
	if err != nil {
		t.Fatalf("a valid analysis: %v", err)
	}
	if e, _ := a.Spec.Resolve("prod"); e.Analysis == nil || len(e.Analysis.Builtin) != 3 || e.Analysis.MinSamples != 50 {
		t.Fatalf("prod's analysis %+v, want the shared one", e.Analysis)
	}
}

// The schema's list of built-in analyses is package analysis' (render expands what the schema lets through).
func TestTheSchemaNamesEveryBuiltinAnalysisWithItsThreshold(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("..", "..", "schemas", "application.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Defs struct {
			BuiltinAnalysis struct {
				Properties struct {
					Name struct {
						Enum []string `json:"enum"`
					} `json:"name"`
				} `json:"properties"`
				AllOf []struct {
					If struct {
						Properties struct {
							Name struct {
								Const string   `json:"const"`
								Enum  []string `json:"enum"`
							} `json:"name"`
						} `json:"properties"`
					} `json:"if"`
					Then struct {
						Required []string `json:"required"`
					} `json:"then"`
				} `json:"allOf"`
			} `json:"builtinAnalysis"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	b := schema.Defs.BuiltinAnalysis
	if names := slices.Sorted(slices.Values(b.Properties.Name.Enum)); !slices.Equal(names, analysis.BuiltinNames()) {
		t.Errorf("schema names %v, package analysis %v", names, analysis.BuiltinNames())
	}
	required := map[string]string{}
	for _, rule := range b.AllOf {
		for _, n := range append(rule.If.Properties.Name.Enum, rule.If.Properties.Name.Const) {
			if n != "" && len(rule.Then.Required) == 1 {
				required[n] = rule.Then.Required[0]
			}
		}
	}
	for _, n := range analysis.BuiltinNames() {
		if want, _ := analysis.BuiltinThreshold(n); required[n] != want {
			t.Errorf("the schema requires %q of %s, package analysis takes %q", required[n], n, want)
		}
	}
}
