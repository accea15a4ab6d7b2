// Package charts_test checks the Helm chart. Its templates use nothing but value lookups ({{ .Values.x }},
// {{ .Release.Namespace }}), so text/template renders them exactly as `helm template` does.
package charts_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/marina-dev/marina/internal/dryrun"
	"github.com/marina-dev/marina/internal/kubeschema"
	"github.com/marina-dev/marina/internal/testenv"
	"github.com/marina-dev/marina/schemas"
)

const namespace = "marina-system"

// render returns every object the chart installs: crds/ as they are, templates/ rendered with values.yaml.
func render(t *testing.T) []dryrun.Object {
	t.Helper()
	raw, err := os.ReadFile("marina/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(raw, &values); err != nil {
		t.Fatal(err)
	}
	data := map[string]any{"Values": values, "Release": map[string]any{"Name": "marina", "Namespace": namespace}}
	var objs []dryrun.Object
	for _, pattern := range []string{"marina/crds/*.yaml", "marina/templates/*.yaml"} {
		files, err := filepath.Glob(pattern)
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: %v", pattern, err)
		}
		for _, f := range files {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			tmpl, err := template.New(f).Option("missingkey=error").Parse(string(src))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := tmpl.Execute(&out, data); err != nil {
				t.Fatal(err)
			}
			docs, err := schemas.ParseStream(f, out.Bytes(), schemas.MaxManifestSize)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range docs {
				u, err := dryrun.Unstructured(d.Value.(map[string]any))
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				objs = append(objs, dryrun.Object{File: f, Object: u})
			}
		}
	}
	return objs
}

func TestChartInstalls(t *testing.T) {
	objs := render(t)
	offline, err := kubeschema.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, o := range objs {
		kinds[o.Object.GetKind()] = true
		if err := offline.Validate(o.Object.Object); err != nil {
			t.Errorf("%s: %v", o.File, err)
		}
	}
	for _, k := range []string{"CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ServiceAccount", "Deployment"} {
		if !kinds[k] {
			t.Errorf("the chart installs no %s", k)
		}
	}
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
	c := testenv.Start(t, testenv.Options{})
	if err := c.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		t.Fatal(err) // helm install --create-namespace
	}
	problems, err := dryrun.Check(context.Background(), c.Config, objs, dryrun.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("server: %+v", p)
	}
}

// TestChartMatchesConfig keeps the chart's CRD and ClusterRole the generated ones (hack/gen-api.sh copies them).
func TestChartMatchesConfig(t *testing.T) {
	for chart, config := range map[string]string{
		"marina/crds/marina.dev_modeldeployments.yaml": "../config/crd/bases/marina.dev_modeldeployments.yaml",
		"marina/templates/clusterrole.yaml":            "../config/rbac/role.yaml",
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
