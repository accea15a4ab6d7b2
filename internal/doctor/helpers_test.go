package doctor_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/internal/doctor"
	"github.com/marina-dev/marina/internal/eventually"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/testenv"
)

// examplePath is a path inside examples/ml-platform.
func examplePath(t *testing.T, parts ...string) string {
	t.Helper()
	return filepath.Join(append([]string{testenv.RepoRoot(t), "examples", "ml-platform"}, parts...)...)
}

// exampleApp loads applications/<name>/model.yaml of the example repository.
func exampleApp(t *testing.T, name string) *project.ModelApplication {
	t.Helper()
	file := project.ApplicationPath(name)
	data, err := os.ReadFile(examplePath(t, filepath.FromSlash(file)))
	if err != nil {
		t.Fatal(err)
	}
	app, _, err := project.ParseApplication(file, data)
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// newProject is a marina.yaml pulled from repoURL, with engines and environments given as name, namespace pairs.
func newProject(repoURL string, engines []string, envNS ...string) *project.Project {
	p := &project.Project{APIVersion: project.APIVersion, Kind: "Project", Metadata: project.Meta{Name: "ml-platform"}}
	p.Spec.Repository = project.Repository{URL: repoURL, Branch: "main"}
	p.Spec.Engines = engines
	for i := 0; i+1 < len(envNS); i += 2 {
		p.Spec.Environments = append(p.Spec.Environments, project.Environment{Name: envNS[i], Namespace: envNS[i+1]})
	}
	return p
}

// input checks cluster c against p and apps.
func input(t *testing.T, c *testenv.Cluster, p *project.Project, apps ...*project.ModelApplication) doctor.Input {
	t.Helper()
	d, err := discovery.NewDiscoveryClientForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	return doctor.Input{Client: c.Client, Discovery: d, Server: c.Config.Host, Project: p, Apps: apps}
}

// find returns the check with name and target, failing the test when there is none.
func find(t *testing.T, checks []doctor.Check, name, target string) doctor.Check {
	t.Helper()
	for _, c := range checks {
		if c.Name == name && c.Target == target {
			return c
		}
	}
	t.Fatalf("no check %s %q in:\n%s", name, target, dump(checks))
	return doctor.Check{}
}

// expect asserts a check's status and that its evidence (and fix) hold the given substrings.
func expect(t *testing.T, checks []doctor.Check, name, target string, status doctor.Status, evidence []string, fix ...string) {
	t.Helper()
	c := find(t, checks, name, target)
	if c.Status != status {
		t.Errorf("%s %s: status %s, want %s\nevidence: %s\nfix: %s", name, target, c.Status, status, c.Evidence, c.Fix)
	}
	for _, s := range evidence {
		if !strings.Contains(c.Evidence, s) {
			t.Errorf("%s %s: evidence %q lacks %q", name, target, c.Evidence, s)
		}
	}
	for _, s := range fix {
		if !strings.Contains(c.Fix, s) {
			t.Errorf("%s %s: fix %q lacks %q", name, target, c.Fix, s)
		}
	}
	if (status == doctor.Fail || status == doctor.Warn) && c.Fix == "" {
		t.Errorf("%s %s: %s without a fix", name, target, status)
	}
}

func dump(checks []doctor.Check) string {
	var b strings.Builder
	for _, c := range checks {
		b.WriteString(string(c.Status) + "\t" + c.Name + "\t" + c.Target + "\t" + c.Evidence + "\n")
	}
	return b.String()
}

func createNamespace(t *testing.T, c client.Client, name string) {
	t.Helper()
	err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// apply creates every object of a YAML file (kustomization.yaml skipped), placing namespaced objects in ns when
// ns is not empty.
func apply(t *testing.T, c client.Client, file, ns string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
			return
		} else if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if obj == nil {
			continue
		}
		u := &unstructured.Unstructured{Object: obj}
		if u.GetKind() == "Kustomization" {
			continue
		}
		if ns != "" && u.GetNamespace() != "" {
			u.SetNamespace(ns)
		}
		if err := c.Create(context.Background(), u); err != nil {
			t.Fatalf("%s: creating %s %s: %v", file, u.GetKind(), u.GetName(), err)
		}
	}
}

// applyDir applies every YAML file of a directory.
func applyDir(t *testing.T, c client.Client, dir, ns string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if filepath.Base(f) != "kustomization.yaml" {
			apply(t, c, f, ns)
		}
	}
}

// createWithStatus creates obj, then writes status as its controller would: through the status subresource, or
// with an update of the whole object for kinds without one (Argo CD's Application).
func createWithStatus(t *testing.T, c client.Client, obj *unstructured.Unstructured, status map[string]any) {
	t.Helper()
	ctx := context.Background()
	if err := c.Create(ctx, obj); err != nil {
		t.Fatalf("creating %s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
	obj.Object["status"] = status
	err := c.Status().Update(ctx, obj)
	if apierrors.IsNotFound(err) {
		err = c.Update(ctx, obj)
	}
	if err != nil {
		t.Fatalf("writing the status of %s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
}

// wait polls cond for up to 90 s.
func wait(t *testing.T, what string, cond func(context.Context) (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := eventually.Poll(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func condition(typ, status, reason, message string) map[string]any {
	return map[string]any{"type": typ, "status": status, "reason": reason, "message": message,
		"lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}
}
