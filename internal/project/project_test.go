package project_test

import (
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
