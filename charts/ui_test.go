package charts_test

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/marina-dev/marina/charts"
	"github.com/marina-dev/marina/internal/dryrun"
	"github.com/marina-dev/marina/internal/golden"
	"github.com/marina-dev/marina/internal/testenv"
)

// templates writes the objects the chart's templates render (not its CRDs) as a YAML stream, each after the file
// it comes from.
func templates(t *testing.T, objs []dryrun.Object) []byte {
	t.Helper()
	var out bytes.Buffer
	for _, o := range objs {
		if filepath.Base(filepath.Dir(o.File)) != "templates" {
			continue
		}
		b, err := yaml.Marshal(o.Object.Object)
		if err != nil {
			t.Fatal(err)
		}
		out.WriteString("---\n# Source: templates/" + filepath.Base(o.File) + "\n")
		out.Write(b)
	}
	return out.Bytes()
}

func TestChartUIIsOffByDefault(t *testing.T) {
	objs := render(t)
	for _, o := range objs {
		if strings.HasPrefix(o.Object.GetName(), "marina-ui") {
			t.Errorf("ui.enabled is false, yet the chart installs %s %s", o.Object.GetKind(), o.Object.GetName())
		}
	}
	golden.Check(t, "testdata/templates.yaml", templates(t, objs))
	golden.Only(t, "testdata", "templates.yaml", "templates-ui.yaml")
}

func TestChartUIInstalls(t *testing.T) {
	objs, err := charts.Render("marina", "marina", namespace, testenv.UIValues)
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/templates-ui.yaml", templates(t, objs))
	var args []string
	for _, o := range objs {
		if o.Object.GetKind() == "Deployment" && o.Object.GetName() == "marina-ui" {
			args, _, _ = unstructuredContainers(o)
		}
	}
	for _, want := range []string{"ui", "--addr=:8089", "--token-file=/var/run/marina/ui-token/token", "--cluster", "--git=http://127.0.0.1:3000/ml/models.git", "--git-credentials=/var/run/marina/git"} {
		if !slices.Contains(args, want) {
			t.Errorf("marina ui's arguments %q lack %q", args, want)
		}
	}
	checkInstalls(t, objs, "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment", "Service")
}
