package project_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/repo/repotest"
)

const app = `apiVersion: marina.dev/v1alpha1
kind: ModelApplication
metadata: {name: fraud}
spec:
  model: fraud
  replicas: 2
  resources: {limits: {nvidia.com/gpu: "1"}}
  strategy: {canary: {steps: [{setWeight: 20}]}}
  environments:
    staging: {version: 1.1.0, replicas: 1}
    prod: {version: 1.0.0, strategy: {shadow: {percent: 10}}}
`

// wantRefused fails the test unless doc, parsed as applications/fraud/model.yaml, is refused with an error that
// names the file and holds want.
func wantRefused(t *testing.T, doc, want string) {
	t.Helper()
	_, _, err := project.ParseApplication("applications/fraud/model.yaml", []byte(doc))
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "applications/fraud/model.yaml") {
		t.Fatalf("err = %v, want one naming the file and %q", err, want)
	}
}

func TestAnEnvironmentOverridesTheSharedSettingsFieldByField(t *testing.T) {
	t.Parallel()
	a, _, err := project.ParseApplication("applications/fraud/model.yaml", []byte(app))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env      string
		replicas int32
		strategy string
	}{
		{"staging", 1, "canary"},
		{"prod", 2, "shadow"},
	} {
		e, ok := a.Spec.Resolve(tc.env)
		if !ok {
			t.Fatalf("Resolve(%s) found nothing", tc.env)
		}
		if *e.Replicas != tc.replicas || project.StrategyName(e.Strategy) != tc.strategy || e.Resources.GPUs() != "1" {
			t.Errorf("%s: replicas %d, strategy %s, GPUs %q; want %d, %s, 1", tc.env, *e.Replicas, project.StrategyName(e.Strategy), e.Resources.GPUs(), tc.replicas, tc.strategy)
		}
	}
	if _, ok := a.Spec.Resolve("dev"); ok {
		t.Error("Resolve found an environment model.yaml does not have")
	}
}

func TestAStrategyOnABackendThatCannotRunItIsNamedWithItsField(t *testing.T) {
	t.Parallel()
	a, _, err := project.ParseApplication("applications/fraud/model.yaml", []byte(app))
	if err != nil {
		t.Fatal(err)
	}
	for env, want := range map[string]string{"staging": "spec.strategy", "prod": "spec.environments.prod.strategy"} {
		if _, field, msg := a.Spec.UnsupportedStrategy(env); field != want || !strings.Contains(msg, "spec.backend: marina") {
			t.Errorf("%s: field %q, message %q; want field %s", env, field, msg, want)
		}
	}
	a.Spec.Backend = project.BackendMarina
	if s, _, _ := a.Spec.UnsupportedStrategy("prod"); s != "" {
		t.Errorf("the marina backend runs every strategy, yet %s is unsupported", s)
	}
}

func TestAModelYAMLMustDeployTheModelItIsNamedAfter(t *testing.T) {
	t.Parallel()
	_, _, err := project.ParseApplication("applications/other/model.yaml", []byte(app))
	if err == nil || !strings.Contains(err.Error(), "spec.model") || !strings.Contains(err.Error(), "applications/other") {
		t.Fatalf("err = %v, want one naming spec.model and the directory", err)
	}
}

func TestLoadRefusesEnvironmentsOutOfOrderOrTwice(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, envs, want string }{
		{"requires a later environment", "[{name: prod, namespace: p, requires: [staging]}, {name: staging, namespace: s}]", `spec.environments[0].requires`},
		{"the same name twice", "[{name: staging, namespace: s}, {name: staging, namespace: t}]", `spec.environments[1].name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			yaml := "apiVersion: marina.dev/v1alpha1\nkind: Project\nmetadata: {name: p}\nspec:\n  repository: {url: https://git.example.com/p.git}\n  environments: " + tc.envs + "\n"
			r := repotest.Open(t, repotest.Dir(t, map[string]string{"marina.yaml": yaml}))
			_, err := project.Load(r)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load = %v, want an error at %s", err, tc.want)
			}
		})
	}
}

func TestLoadReadsTheEnvironmentsInOrder(t *testing.T) {
	t.Parallel()
	r := repotest.Open(t, repotest.Dir(t, map[string]string{}))
	p, err := project.Load(r)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.EnvironmentNames(), ","); got != "staging,prod" {
		t.Fatalf("environments %s, want staging,prod", got)
	}
	if e, ok := p.Environment("prod"); !ok || e.Namespace != "models-prod" || p.GatewayAPIChannel() != "standard" {
		t.Fatalf("prod = %+v, %t; channel %s", e, ok, p.GatewayAPIChannel())
	}
}

// Every setting, not only the ones model.yaml above uses: an environment that sets none takes all of the shared
// ones, and one that sets all keeps its own (the very values: compared by address). The settings are filled through
// reflection, so a field added to Settings is covered without editing this test.
func TestAnEnvironmentInheritsEveryUnsetSettingAndKeepsEverySetOne(t *testing.T) {
	t.Parallel()
	shared, own := filled(t, "shared"), filled(t, "own")
	spec := project.ApplicationSpec{Settings: shared, Environments: map[string]project.EnvironmentSpec{
		"bare": {Version: "1.0.0"},
		"full": {Version: "1.0.0", Settings: own},
	}}
	for env, want := range map[string]project.Settings{"bare": shared, "full": own} {
		e, _ := spec.Resolve(env)
		got, want := reflect.ValueOf(e.Settings), reflect.ValueOf(want)
		for i := range got.NumField() {
			if got.Field(i).Pointer() != want.Field(i).Pointer() {
				t.Errorf("%s: %s is not the one %s sets", env, got.Type().Field(i).Name, map[string]string{"bare": "spec", "full": "the environment"}[env])
			}
		}
	}
}

// filled returns Settings whose every field is set, pointers and maps and slices to values derived from tag.
func filled(t *testing.T, tag string) project.Settings {
	t.Helper()
	var s project.Settings
	v := reflect.ValueOf(&s).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Pointer:
			f.Set(reflect.New(f.Type().Elem()))
		case reflect.Map:
			f.Set(reflect.MakeMap(f.Type()))
			f.SetMapIndex(reflect.ValueOf(tag), reflect.ValueOf(tag))
		case reflect.Slice:
			f.Set(reflect.MakeSlice(f.Type(), 1, 1))
			f.Index(0).FieldByName("Key").SetString(tag)
		default:
			t.Fatalf("Settings.%s is a %s: teach filled to set it", v.Type().Field(i).Name, f.Kind())
		}
	}
	return s
}
