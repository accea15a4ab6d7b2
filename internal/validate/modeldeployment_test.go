package validate_test

import (
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/repo/repotest"
	"github.com/marina-dev/marina/internal/validate"
)

// handWritten is a ModelDeployment committed outside applications/, e.g. by a team not using model.yaml.
const handWritten = `apiVersion: marina.dev/v1alpha1
kind: ModelDeployment
metadata: {name: m, namespace: models-staging}
spec:
  model: m
  version: 1.1.0
  artifact: {uri: models/m/artifacts/v1.1.0.onnx, digest: "sha256:1111111111111111111111111111111111111111111111111111111111111111", size: 10, format: onnx}
  runtime: {image: ghcr.io/marina-dev/marina-serve:0.1.0}
  strategy:
    canary:
      steps:
        - setWeight: 50
`

func TestARenderedModelDeploymentIsCheckedAgainstMarinasCRD(t *testing.T) {
	t.Parallel()
	rep := run(t, fixture(t, replace(app, "backend: plain", "backend: marina"), nil), validate.Options{})
	if rep.Errors() != 0 || rep.Warnings() != 0 {
		t.Fatalf("want no errors or warnings (no k8s-unknown-kind for ModelDeployment):\n%s", dump(rep))
	}
}

// A shadow whose steps name the templates its built-in analyses make renders a ModelDeployment the CRD takes.
func TestAShadowWithStepsOnTemplatesThatAreOnIsValid(t *testing.T) {
	t.Parallel()
	rep := run(t, fixture(t, replace(app, "  backend: plain\n", "  backend: marina\n  analysis:\n"+
		"    builtin: [{name: shadow-agreement, min: 0.95}, {name: error-rate, max: 0.01}]\n"+
		"  strategy: {shadow: {percent: 10, duration: 30m, steps: [{setWeight: 50}, {analysis: {template: error-rate}}, {pause: {}}, {setWeight: 100}]}}\n"), nil),
		validate.Options{})
	if rep.Errors() != 0 || rep.Warnings() != 0 {
		t.Fatalf("want no errors or warnings:\n%s", dump(rep))
	}
}

func TestABadModelDeploymentIsReportedOffline(t *testing.T) {
	t.Parallel()
	const md = "gitops/flux/modeldeployment.yaml"
	rendered := "applications/m/staging/modeldeployment.yaml"
	cases := []struct {
		name  string
		edit  func(map[string]string)
		after func(dir string)
		want  validate.Finding
	}{
		{name: "a canary weight over 100 names the step and its line",
			edit: set(md, strings.Replace(handWritten, "setWeight: 50", "setWeight: 150", 1)),
			want: validate.Finding{Rule: "k8s-schema", File: md, Path: "spec.strategy.canary.steps[0].setWeight", Line: 12}},
		{name: "an unknown spec field names the field",
			edit: set(md, strings.Replace(handWritten, "  model: m\n", "  model: m\n  replicaz: 2\n", 1)),
			want: validate.Finding{Rule: "k8s-schema", File: md, Path: "spec.replicaz", Line: 6,
				Message: `marina.dev/v1alpha1 ModelDeployment "m": unknown field "replicaz"`}},
		{name: "a hand edit to a rendered ModelDeployment is checked too",
			edit: replace(app, "backend: plain", "backend: marina"),
			after: func(dir string) {
				data := repotest.ReadFile(t, dir, rendered)
				repotest.WriteFile(t, dir, rendered, strings.Replace(data, "  version: 1.1.0\n", "  version: v1.1\n", 1))
			},
			want: validate.Finding{Rule: "k8s-schema", File: rendered, Path: "spec.version"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rep := run(t, fixture(t, c.edit, c.after), validate.Options{})
			for _, f := range rep.Findings {
				if matches(f, c.want) {
					return
				}
			}
			t.Fatalf("no finding like %+v in:\n%s", c.want, dump(rep))
		})
	}
}
