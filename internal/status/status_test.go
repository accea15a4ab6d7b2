package status

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/registry"
	"github.com/marina-dev/marina/internal/release"
	"github.com/marina-dev/marina/internal/repo/repotest"
)

func TestSyncStateComparesWhatRunsWithGitsVersion(t *testing.T) {
	t.Parallel()
	deployment := func(version string, ready bool) Workload {
		return Workload{Kind: "Deployment", Name: "iris-" + version, Version: version, Ready: ready}
	}
	// router is marina router's Deployment as deploymentWorkload reads it: no version label.
	router := func(ready bool) Workload {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "iris-router", Generation: 1,
			Labels: map[string]string{v1alpha1.LabelModel: "iris", v1alpha1.LabelRouter: "iris"}}}
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
		if !ready {
			d.Status.AvailableReplicas, d.Status.ReadyReplicas = 0, 0
		}
		w := deploymentWorkload(d)
		if want := fmt.Sprintf("router %d/1", d.Status.ReadyReplicas); w.String() != want || !w.Router || w.Ready != ready {
			t.Errorf("marina router's Deployment reads as %q (router %v, ready %v), want %q", w, w.Router, w.Ready, want)
		}
		return w
	}
	for _, tc := range []struct {
		name string
		ws   []Workload
		want string
	}{
		{"nothing runs", nil, Missing},
		{"only a CRD that is not installed", []Workload{{Kind: "ModelDeployment", Message: "the CRD is not installed"}}, Missing},
		{"Git's version runs, ready, alone", []Workload{deployment("1.1.0", true)}, InSync},
		{"Git's version runs but is not ready", []Workload{deployment("1.1.0", false)}, Progressing},
		{"Git's version and an older one run", []Workload{deployment("1.0.0", true), deployment("1.1.0", true)}, Progressing},
		{"only another version runs", []Workload{deployment("1.0.0", true)}, OutOfSync},
		{"a ready resource of Git's version", []Workload{{Kind: "ModelDeployment", Name: "iris", Version: "1.1.0", Ready: true}}, InSync},
		{"only a ready resource of another version", []Workload{{Kind: "ModelDeployment", Name: "iris", Version: "1.0.0", Ready: true}}, OutOfSync},
		{"only an InferenceService of another version, not ready", []Workload{{Kind: "InferenceService", Name: "iris", Version: "1.0.0"}}, OutOfSync},
		{"Git's version behind marina router", []Workload{{Kind: "ModelDeployment", Name: "iris", Version: "1.1.0", Ready: true}, deployment("1.1.0", true), router(true)}, InSync},
		{"Git's version behind marina router, not ready yet", []Workload{{Kind: "ModelDeployment", Name: "iris", Version: "1.1.0", Ready: true}, deployment("1.1.0", true), router(false)}, Progressing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := syncState("1.1.0", tc.ws); got != tc.want {
				t.Errorf("syncState = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestAFilterThatNamesNothingIsAnErrorCallersCanTellApart(t *testing.T) {
	t.Parallel()
	r := repotest.Open(t, repotest.Example(t, nil))
	for _, tc := range []struct {
		name    string
		filter  Filter
		is      error
		unknown bool
		want    string
	}{
		{"an unknown environment", Filter{Environment: "qa"}, ErrUnknownEnvironment, false, `"qa" is not an environment of marina.yaml: use one of staging, prod`},
		{"a namespace no environment deploys to", Filter{Namespace: "default"}, ErrNoEnvironment, false, "default: no environment of marina.yaml deploys to it"},
		{"an unknown model", Filter{Model: "fraud"}, nil, true, `model "fraud": neither applications/fraud/model.yaml nor models/fraud/ exists (marina model list shows the registered models)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Read(r, tc.filter)
			var unknown *UnknownModelError
			if err == nil || err.Error() != tc.want || (tc.is != nil && !errors.Is(err, tc.is)) || errors.As(err, &unknown) != tc.unknown {
				t.Errorf("Read(%+v) = %v, want %q", tc.filter, err, tc.want)
			}
		})
	}
}

func TestReadGivesEveryModelInEveryEnvironmentItDeploysTo(t *testing.T) {
	t.Parallel()
	r := repotest.Open(t, repotest.Example(t, nil))
	rows, err := Read(r, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, row := range rows {
		got = append(got, row.Model+"/"+row.Environment+"="+row.Version+" "+row.State+" in "+row.Namespace)
		if row.LastChange == nil || row.LastChange.Message != "initial" {
			t.Errorf("%s/%s: last change %+v, want the initial commit", row.Model, row.Environment, row.LastChange)
		}
	}
	want := []string{
		"iris-classifier/staging=1.0.0 active in models-staging",
		"iris-classifier/prod=1.0.0 active in models-prod",
		"vision-gpu/staging=1.0.0 active in models-staging",
	}
	if len(got) != len(want) {
		t.Fatalf("rows %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestReadModelHandsBackItsVersionsAndHistory(t *testing.T) {
	t.Parallel()
	dir := repotest.Example(t, map[string]string{"applications/unregistered/model.yaml": unregisteredApp(t)})
	r := repotest.Open(t, dir)
	m, err := ReadModel(r, "iris-classifier")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := Read(r, Filter{Model: "iris-classifier"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m.Rows, rows) {
		t.Errorf("ReadModel's rows %+v, Read's %+v", m.Rows, rows)
	}
	versions, err := (&registry.Registry{Repo: r}).List("iris-classifier")
	if err != nil {
		t.Fatal(err)
	}
	history, err := release.History(r, "iris-classifier", "")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m.Versions, versions) || !reflect.DeepEqual(m.History, history) || len(m.History) == 0 {
		t.Errorf("ReadModel's versions %+v and history %+v; want the registry's %+v and release.History's %+v", m.Versions, m.History, versions, history)
	}

	// A model deployed but not registered has its rows and history, and no versions.
	u, err := ReadModel(r, "unregistered")
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Rows) == 0 || u.Rows[0].State != Unregistered || len(u.Versions) != 0 || len(u.History) == 0 {
		t.Errorf("an unregistered model: %+v", u)
	}
	if _, err := ReadModel(r, "nothing"); !errors.As(err, new(*UnknownModelError)) {
		t.Errorf("an unknown model: %v, want an UnknownModelError", err)
	}
}

// unregisteredApp is the example's iris-classifier model.yaml for a model named unregistered, which models/ lacks.
func unregisteredApp(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../examples/ml-platform/applications/iris-classifier/model.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "iris-classifier", "unregistered")
}
