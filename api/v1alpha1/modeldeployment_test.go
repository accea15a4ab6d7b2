package v1alpha1_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/render"
	"github.com/marina-dev/marina/internal/repo/repotest"
)

func int32p(i int32) *int32 { return &i }

// TestTypesTakeWhatRenderEmits renders the example repository with the marina backend, for every application and
// environment and each strategy and autoscaler model.yaml offers, and decodes every ModelDeployment strictly into
// the Go type: an unknown field fails. Encoding the spec again must give back what render wrote.
func TestTypesTakeWhatRenderEmits(t *testing.T) {
	t.Parallel()
	r := repotest.Open(t, repotest.Example(t, nil))
	proj, err := project.Load(r)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		edit func(*project.Settings)
	}{
		{"take the example as committed", func(*project.Settings) {}},
		{"take canary steps of each kind", func(s *project.Settings) {
			s.Strategy = &v1alpha1.Strategy{Canary: &v1alpha1.CanaryStrategy{Steps: []v1alpha1.CanaryStep{
				{SetWeight: int32p(0)}, {SetWeight: int32p(20)}, {Pause: &v1alpha1.PauseStep{Duration: "10m"}},
				{Pause: &v1alpha1.PauseStep{}}, {Analysis: &v1alpha1.AnalysisStep{Template: "error-rate"}}, {SetWeight: int32p(100)},
			}}}
		}},
		{"take blue-green with a scale-down delay", func(s *project.Settings) {
			s.Strategy = &v1alpha1.Strategy{BlueGreen: &v1alpha1.BlueGreenStrategy{AutoPromote: true, ScaleDownDelay: "1h30m"}}
		}},
		{"take shadow traffic for a while", func(s *project.Settings) {
			s.Strategy = &v1alpha1.Strategy{Shadow: &v1alpha1.ShadowStrategy{Percent: 100, Duration: "2.5h"}}
		}},
		{"take shadow traffic, then canary steps", func(s *project.Settings) {
			s.Strategy = &v1alpha1.Strategy{Shadow: &v1alpha1.ShadowStrategy{Percent: 25, Duration: "30m", Steps: []v1alpha1.CanaryStep{
				{SetWeight: int32p(20)}, {Analysis: &v1alpha1.AnalysisStep{Template: "error-rate"}}, {Pause: &v1alpha1.PauseStep{}}, {SetWeight: int32p(50)},
			}}}
		}},
		{"take KEDA scaling instead of replicas", func(s *project.Settings) {
			s.Scaling = &v1alpha1.Scaling{KEDA: &v1alpha1.KEDAScaling{Min: 0, Max: 20, Query: "sum(rate(marina_requests_total[1m]))", Threshold: "50", ServerAddress: "http://prometheus:9090"}}
		}},
	}
	for _, c := range cases {
		for _, model := range []string{"iris-classifier", "vision-gpu"} {
			app, _, err := project.LoadApplication(r, model)
			if err != nil {
				t.Fatal(err)
			}
			app.Spec.Backend = render.BackendMarina
			c.edit(&app.Spec.Settings)
			outs, err := render.Application(r, proj, app, nil)
			if err != nil {
				t.Fatalf("%s: %v", model, err)
			}
			for _, o := range outs {
				for _, f := range o.Files {
					if f.Object["kind"] != "ModelDeployment" {
						continue
					}
					t.Run(c.name+"/"+f.Path, func(t *testing.T) {
						t.Parallel()
						checkRoundTrip(t, f)
					})
				}
			}
		}
	}
}

func checkRoundTrip(t *testing.T, f render.File) {
	t.Helper()
	var md v1alpha1.ModelDeployment
	if err := yaml.UnmarshalStrict(f.Data, &md); err != nil {
		t.Fatalf("%s: %v", f.Path, err)
	}
	if md.GroupVersionKind() != v1alpha1.GroupVersion.WithKind("ModelDeployment") {
		t.Fatalf("%s: decoded as %s", f.Path, md.GroupVersionKind())
	}
	got, want := plain(t, md.Spec), plain(t, f.Object["spec"])
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: spec changed in a round trip\n got: %v\nwant: %v", f.Path, got, want)
	}
}

// plain is v as the generic JSON values encoding/json decodes.
func plain(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDurationStringParsesAsWritten(t *testing.T) {
	t.Parallel()
	for in, want := range map[v1alpha1.DurationString]string{"10m": "10m0s", "1h30m": "1h30m0s", "2.5h": "2h30m0s", "250ms": "250ms"} {
		d, err := in.Duration()
		if err != nil || d.String() != want {
			t.Errorf("%q.Duration() = %v, %v; want %s", in, d, err, want)
		}
	}
	if _, err := v1alpha1.DurationString("soon").Duration(); err == nil {
		t.Error(`"soon".Duration() gave no error`)
	}
}

func TestAddToSchemeRegistersBothKinds(t *testing.T) {
	t.Parallel()
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"ModelDeployment", "ModelDeploymentList"} {
		if !s.Recognizes(v1alpha1.GroupVersion.WithKind(kind)) {
			t.Errorf("the scheme does not know %s", kind)
		}
	}
}
