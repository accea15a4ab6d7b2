package supervisor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/render"
	"github.com/marina-dev/marina/internal/repo/repotest"
	"github.com/marina-dev/marina/internal/sandbox"
)

func TestPinRuntimePointsModelYAMLAtTheSandboxsImages(t *testing.T) {
	t.Parallel()
	const serve, pull = "10.0.0.2:5000/marina/marina-serve@sha256:aa", "10.0.0.2:5000/marina/marina@sha256:bb"
	want := "  runtime:\n    image: " + serve + "\n    artifact: {pullImage: " + pull + ", plainHTTP: true}\n    port: 8080\n"
	for _, tc := range []struct {
		name, in, want, err string
	}{
		{name: "the example's release tag", in: "spec:\n  runtime:\n    image: ghcr.io/marina-dev/marina-serve:0.1.0\n    port: 8080\n",
			want: "spec:\n" + want},
		{name: "an artifact line already there is replaced",
			in: "spec:\n  runtime:\n    image: r/x@sha256:cc\n    artifact: {via: imageVolume}\n    port: 8080\n", want: "spec:\n" + want},
		{name: "no runtime image", in: "spec:\n  backend: kserve\n", err: "no spec.runtime.image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := pinRuntime(tc.in, serve, pull)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v\nwant %q", got, err, tc.want)
			}
		})
	}
}

func TestCostMinutesReadsTheScriptsEstimates(t *testing.T) {
	t.Parallel()
	for cost, want := range map[string]int{"~15 min once": 15, "~1 min once (a 113 MB download)": 1, "": 0, "instant": 0} {
		if got := costMinutes(cost); got != want {
			t.Errorf("costMinutes(%q) = %d, want %d", cost, got, want)
		}
	}
}

// The example's model.yaml, edited as up edits it, renders staging's ModelDeployment with the whole loop: marina
// router in front, a shadow rollout, the shadow-agreement analysis on the sandbox's Prometheus, the write-back to
// the sandbox's Git server; prod keeps no strategy.
func TestCloseTheLoopRendersTheExampleBehindMarinaRouterWithTheShadowAnalysis(t *testing.T) {
	t.Parallel()
	const router, prom, gitURL = "10.0.0.2:5000/marina/marina@sha256:bb", "http://127.0.0.1:9090", "http://127.0.0.1:8000/ml-platform.git"
	app := "applications/" + sandbox.DemoModel + "/model.yaml"
	b, err := os.ReadFile(filepath.Join(repotest.ExamplePath(), app))
	if err != nil {
		t.Fatal(err)
	}
	edited, err := pinRuntime(string(b), "10.0.0.2:5000/marina/marina-serve@sha256:aa", router)
	if err == nil {
		edited, err = closeTheLoop(edited, router, prom)
	}
	if err != nil {
		t.Fatal(err)
	}
	project, err := os.ReadFile(filepath.Join(repotest.ExamplePath(), "marina.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := repotest.Example(t, map[string]string{app: edited, "marina.yaml": repositoryURL.ReplaceAllString(string(project), "${1}"+gitURL)})
	r := repotest.Open(t, dir)
	outs, err := render.Repo(r, render.Options{Model: sandbox.DemoModel})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]v1alpha1.ModelDeployment{}
	for _, o := range outs {
		for _, f := range o.Files {
			if strings.HasSuffix(f.Path, "modeldeployment.yaml") {
				var md v1alpha1.ModelDeployment
				if err := yaml.Unmarshal(f.Data, &md); err != nil {
					t.Fatalf("%s: %v", f.Path, err)
				}
				got[o.Env] = md
			}
		}
	}
	staging, prod := got["staging"], got["prod"]
	if staging.Labels[v1alpha1.LabelModel] != sandbox.DemoModel || staging.Labels[v1alpha1.LabelEnvironment] != "staging" {
		t.Errorf("staging's labels %v: marina sandbox demo finds the ModelDeployment by model and environment", staging.Labels)
	}
	if staging.Spec.Router == nil || staging.Spec.Router.Image != router {
		t.Errorf("staging's router: %+v, want image %s", staging.Spec.Router, router)
	}
	if s := staging.Spec.Strategy; s == nil || s.Shadow == nil || s.Shadow.Percent != 100 {
		t.Errorf("staging's strategy: %+v, want a shadow of 100%%", s)
	}
	if a := staging.Spec.Analysis; a == nil || len(a.Templates) != 1 || a.Templates[0].Prometheus == nil || a.Templates[0].Prometheus.Address != prom {
		t.Errorf("staging's analysis: %+v, want one template on %s", a, prom)
	}
	if wb := staging.Spec.GitWriteBack; wb == nil || wb.Repo != gitURL || wb.Mode != v1alpha1.GitWriteBackCommit {
		t.Errorf("staging's gitWriteBack: %+v, want a commit to %s", wb, gitURL)
	}
	if prod.Spec.Router == nil || prod.Spec.Strategy != nil || prod.Spec.Analysis != nil {
		t.Errorf("prod: router %+v, strategy %+v, analysis %+v; want the router alone", prod.Spec.Router, prod.Spec.Strategy, prod.Spec.Analysis)
	}
}

func TestCloseTheLoopRefusesAModelYAMLItCannotEdit(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"spec:\n  environments:\n    staging:\n      version: 1.0.0\n":                "no spec.backend",
		"spec:\n  backend: plain\n  environments:\n    prod:\n      version: 1.0.0\n": "no spec.environments.staging.version",
	} {
		if _, err := closeTheLoop(in, "r", "p"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
}
