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
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), "default")
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
		objs = append(objs, dryrun.Object{File: "config/default", Object: u})
	}
	for _, k := range []string{"CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ServiceAccount", "Namespace", "Deployment"} {
		if !kinds[k] {
			t.Errorf("config/default has no %s", k)
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
}
