package examples_test

import (
	"bytes"
	"github.com/marina-dev/marina/internal/golden"
	"path/filepath"
	"testing"

	"github.com/marina-dev/marina/internal/kubeschema"
	"github.com/marina-dev/marina/internal/kubeschema/kubeschematest"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/render"
)

// TestExampleRendersForEveryBackendAndTraffic renders the example's applications with each
// backend and each way of exposing them, compares with golden files, and checks every object
// against the schemas built into marina, its own ModelDeployment included (plus KServe's CRDs).
func TestExampleRendersForEveryBackendAndTraffic(t *testing.T) {
	t.Parallel()
	kube, err := kubeschema.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	if err := kube.AddCRDs(kubeschematest.KServe(t)); err != nil {
		t.Fatal(err)
	}
	r := exampleRepo(t)
	backends, traffics := []string{render.BackendPlain, render.BackendKServe, render.BackendMarina}, []string{"gateway", "ingress"}
	var names []string
	for _, backend := range backends {
		for _, traffic := range traffics {
			names = append(names, backend+"-"+traffic+".yaml")
		}
	}
	golden.Only(t, filepath.Join("testdata", "golden"), names...)
	for _, backend := range backends {
		for _, traffic := range traffics {
			name := backend + "-" + traffic
			t.Run(name, func(t *testing.T) {
				proj, err := project.Load(r)
				if err != nil {
					t.Fatal(err)
				}
				proj.Spec.Traffic = traffic
				var all bytes.Buffer
				for _, m := range []string{"iris-classifier", "vision-gpu"} {
					app, _, err := project.LoadApplication(r, m)
					if err != nil {
						t.Fatal(err)
					}
					app.Spec.Backend = backend
					outs, err := render.Application(r, proj, app, nil)
					if err != nil {
						t.Fatal(err)
					}
					for _, o := range outs {
						for _, f := range o.Files {
							all.WriteString("# " + f.Path + "\n")
							all.Write(f.Data)
							if f.Object == nil {
								continue
							}
							if err := kube.Validate(f.Object); err != nil && f.Object["kind"] != "Kustomization" {
								t.Errorf("%s: %v", f.Path, err)
							}
						}
					}
				}
				golden.Check(t, filepath.Join("testdata", "golden", name+".yaml"), all.Bytes())
			})
		}
	}
}
