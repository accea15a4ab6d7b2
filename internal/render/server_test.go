package render_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/marina-dev/marina/internal/render"
	"github.com/marina-dev/marina/internal/testenv"
)

// TestTheAPIServerTakesWhatRenderWritesForAnOCIArtifact creates the objects of every oci:// case on a real
// kube-apiserver: the init container, the image volume and the ModelDeployment's runtime.artifact are judged
// by the server's own validation and marina's CRD, not only by the offline schemas.
func TestTheAPIServerTakesWhatRenderWritesForAnOCIArtifact(t *testing.T) {
	t.Parallel()
	c := testenv.Start(t, testenv.Options{CRDs: true})
	n := 0
	for _, rc := range cases {
		if !strings.HasPrefix(rc.uri, "oci://") {
			continue
		}
		files, err := render.Render(input(t, rc))
		if err != nil {
			t.Fatalf("%s: %v", rc.name, err)
		}
		for _, f := range files {
			if f.Object == nil || f.Object["kind"] == "Kustomization" {
				continue
			}
			obj := &unstructured.Unstructured{Object: f.Object}
			// One namespace per case: the cases share object names.
			obj.SetNamespace(rc.name)
			c.Create(t, obj)
			n++
		}
	}
	if n == 0 {
		t.Fatal("no case renders an oci:// artifact")
	}
}
