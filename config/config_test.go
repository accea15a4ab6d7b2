package config_test

import (
	"context"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/marina-dev/marina/internal/dryrun"
	"github.com/marina-dev/marina/internal/kubeschema"
	"github.com/marina-dev/marina/internal/testenv"
)

// TestDefaultInstalls builds config/default as `kubectl apply -k` would and checks every object offline and with a
// server-side dry run on a real API server (no CRDs installed: the ModelDeployment CRD is among the objects).
func TestDefaultInstalls(t *testing.T) {
	objs := checkBuild(t, "default", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ServiceAccount", "Namespace", "Deployment")
	for _, o := range objs {
		if o.Object.GetName() == testenv.UIAccount {
			t.Errorf("config/default installs %s %s: marina ui is the optional component config/ui", o.Object.GetKind(), o.Object.GetName())
		}
	}
}

// TestUIComponentInstalls builds config/default with the config/ui component, as an overlay of a user does, and
// checks it as TestDefaultInstalls does.
func TestUIComponentInstalls(t *testing.T) {
	objs := checkBuild(t, testenv.UIOverlay(t), "Service", "Deployment")
	ui := map[string]bool{}
	for _, o := range objs {
		if o.Object.GetName() == testenv.UIAccount {
			ui[o.Object.GetKind()] = true
		}
	}
	for _, k := range []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment", "Service"} {
		if !ui[k] {
			t.Errorf("config/ui installs no %s %s", k, testenv.UIAccount)
		}
	}
}

// checkBuild builds the kustomization in dir as `kubectl apply -k` would, checks every object offline and with a
// server-side dry run on a real API server (no CRDs installed: the ModelDeployment CRD is among the objects), and
// that kinds are among them.
func checkBuild(t *testing.T, dir string, want ...string) []dryrun.Object {
	t.Helper()
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatal(err)
	}
	offline, err := kubeschema.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	var objs []dryrun.Object
	kinds := map[string]bool{}
	for _, r := range res.Resources() {
		m, err := r.Map()
		if err != nil {
			t.Fatal(err)
		}
		if err := offline.Validate(m); err != nil {
			t.Errorf("%s %s: %v", r.GetKind(), r.GetName(), err)
		}
		u, err := dryrun.Unstructured(m)
		if err != nil {
			t.Fatal(err)
		}
		kinds[r.GetKind()] = true
		objs = append(objs, dryrun.Object{File: dir, Object: u})
	}
	for _, k := range want {
		if !kinds[k] {
			t.Errorf("%s has no %s", dir, k)
		}
	}
	c := testenv.Start(t, testenv.Options{})
	problems, err := dryrun.Check(context.Background(), c.Config, objs, dryrun.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("server: %+v", p)
	}
	return objs
}
