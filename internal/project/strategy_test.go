package project_test

import (
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/project"
)

// withShadowSteps is app whose prod environment rolls out as a shadow followed by steps.
func withShadowSteps(steps string) string {
	return strings.Replace(app, "{shadow: {percent: 10}}", "{shadow: {percent: 10, duration: 30m, steps: "+steps+"}}", 1)
}

func TestShadowStepsAreCheckedAsACanarysWithTheirFieldPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, steps, want string
	}{
		{"a weight over 100", "[{setWeight: 20}, {setWeight: 150}]", "spec.environments.prod.strategy.shadow.steps[1].setWeight: maximum: got 150, want 100"},
		{"two kinds in one step", "[{setWeight: 20, pause: {}}]", "spec.environments.prod.strategy.shadow.steps[0]: maxProperties: got 2, want 1"},
		{"an empty step", "[{}]", "spec.environments.prod.strategy.shadow.steps[0]: minProperties: got 0, want 1"},
		{"a bad pause duration", "[{pause: {duration: soon}}]", "spec.environments.prod.strategy.shadow.steps[0].pause.duration"},
		{"a template name Kubernetes refuses", "[{analysis: {template: Error_Rate}}]", "spec.environments.prod.strategy.shadow.steps[0].analysis.template"},
		{"an unknown field", "[{setWeigth: 20}]", "spec.environments.prod.strategy.shadow.steps[0].setWeigth: unknown field"},
		{"more steps than the API takes", "[" + strings.Repeat("{pause: {}}, ", 100) + "{setWeight: 100}]", "spec.environments.prod.strategy.shadow.steps: maxItems: got 101, want 100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantRefused(t, withShadowSteps(tc.steps), tc.want)
		})
	}
	a, _, err := project.ParseApplication("applications/fraud/model.yaml", []byte(withShadowSteps("[{setWeight: 20}, {analysis: {template: error-rate}}, {pause: {}}]")))
	if err != nil {
		t.Fatalf("valid shadow steps: %v", err)
	}
	if e, _ := a.Spec.Resolve("prod"); project.StrategyName(e.Strategy) != "shadow" || len(e.Strategy.Shadow.Steps) != 3 || *e.Strategy.Shadow.Steps[0].SetWeight != 20 ||
		e.Strategy.Shadow.Steps[1].Analysis.Template != "error-rate" || e.Strategy.Shadow.Steps[2].Pause == nil {
		t.Fatalf("prod's strategy %+v, want the shadow with its three steps", e.Strategy.Shadow)
	}
}
