package examples_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/marina-dev/marina/internal/kubeschema"
	"github.com/marina-dev/marina/internal/kubeschema/kubeschematest"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/render"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// TestExampleRendersForEveryBackendAndTraffic renders the example's applications with each
// backend and each way of exposing them, compares with golden files, and checks every object
// against the schemas built into marina (plus KServe's CRDs).
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
	for _, backend := range []string{render.BackendPlain, render.BackendKServe, render.BackendMarina} {
		for _, traffic := range []string{"gateway", "ingress"} {
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
							err := kube.Validate(f.Object)
							if errors.Is(err, kubeschema.ErrUnknownKind) && f.Object["kind"] == "ModelDeployment" {
								continue // marina's own CRD comes with the controller
							}
							if err != nil && f.Object["kind"] != "Kustomization" {
								t.Errorf("%s: %v", f.Path, err)
							}
						}
					}
				}
				golden := filepath.Join("testdata", "golden", name+".yaml")
				if *update {
					if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(golden, all.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test ./examples -update)", err)
				}
				if !bytes.Equal(want, all.Bytes()) {
					t.Fatalf("rendered output differs from %s (run go test ./examples -update and review the diff)", golden)
				}
			})
		}
	}
}
