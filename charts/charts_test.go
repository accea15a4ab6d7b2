// Package charts_test checks the Helm chart, rendered by package charts as `helm template` does.
package charts_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/marina-dev/marina/charts"
	"github.com/marina-dev/marina/internal/dryrun"
	"github.com/marina-dev/marina/internal/kubeschema"
	"github.com/marina-dev/marina/internal/testenv"
)

const namespace = "marina-system"

// render returns every object the chart installs.
func render(t *testing.T) []dryrun.Object {
	t.Helper()
	objs, err := charts.Render("marina", "marina", namespace)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func TestChartInstalls(t *testing.T) {
	objs := render(t)
	checkInstalls(t, objs, "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ServiceAccount", "Deployment")
	var args []string
	for _, o := range objs {
		if o.Object.GetKind() == "Deployment" {
			cs, _, _ := unstructuredContainers(o)
			args = cs
		}
	}
	if !strings.Contains(strings.Join(args, " "), "--concurrency=4") {
		t.Errorf("values do not reach the controller's arguments: %v", args)
	}
}

// checkInstalls checks objs offline and with a server-side dry run on a real API server, and that they hold each
// of kinds.
func checkInstalls(t *testing.T, objs []dryrun.Object, kinds ...string) {
	t.Helper()
	offline, err := kubeschema.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	has := map[string]bool{}
	for _, o := range objs {
		has[o.Object.GetKind()] = true
		if err := offline.Validate(o.Object.Object); err != nil {
			t.Errorf("%s: %v", o.File, err)
		}
	}
	for _, k := range kinds {
		if !has[k] {
			t.Errorf("the chart installs no %s", k)
		}
	}
	c := testenv.Start(t, testenv.Options{})
	c.CreateNamespaces(t, namespace) // helm install --create-namespace
	problems, err := dryrun.Check(context.Background(), c.Config, objs, dryrun.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("server: %+v", p)
	}
}

// TestChartMatchesConfig keeps the chart's CRD and ClusterRoles those of config/ (hack/gen-api.sh copies them).
func TestChartMatchesConfig(t *testing.T) {
	for chart, config := range map[string]string{
		"marina/crds/marina.dev_modeldeployments.yaml": "../config/crd/bases/marina.dev_modeldeployments.yaml",
		"marina/templates/clusterrole.yaml":            "../config/rbac/role.yaml",
		"marina/templates/router-clusterrole.yaml":     "../config/rbac/router_role.yaml",
		"marina/templates/doctor-clusterrole.yaml":     "../config/rbac/doctor_role.yaml",
	} {
		a, err := os.ReadFile(chart)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(config)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from %s: run hack/gen-api.sh", chart, config)
		}
	}
}

func unstructuredContainers(o dryrun.Object) ([]string, bool, error) {
	cs, ok, err := unstructured.NestedSlice(o.Object.Object, "spec", "template", "spec", "containers")
	if !ok || err != nil || len(cs) == 0 {
		return nil, ok, err
	}
	var out []string
	for _, a := range cs[0].(map[string]any)["args"].([]any) {
		out = append(out, a.(string))
	}
	return out, true, nil
}
