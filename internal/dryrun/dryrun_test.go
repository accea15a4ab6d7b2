package dryrun_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/dryrun"
	"github.com/marina-dev/marina/internal/kubeschema"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/render"
	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/internal/repo/repotest"
	"github.com/marina-dev/marina/internal/testenv"
	"github.com/marina-dev/marina/schemas"
)

// exampleWithBackend copies the example repository, switches every application to backend and re-renders
// applications/ as `marina render --write` would.
func exampleWithBackend(t *testing.T, backend string) *repo.Repo {
	t.Helper()
	extra := map[string]string{}
	for _, app := range []string{"iris-classifier", "vision-gpu"} {
		p := "applications/" + app + "/model.yaml"
		b, err := os.ReadFile(filepath.Join(repotest.ExamplePath(), p))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "backend: plain") {
			t.Fatalf("%s: no `backend: plain` to replace", p)
		}
		extra[p] = strings.Replace(string(b), "backend: plain", "backend: "+backend, 1)
	}
	dir := repotest.Example(t, extra)
	r := repotest.Open(t, dir)
	outs, err := render.Repo(r, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outs {
		if err := os.RemoveAll(filepath.Join(dir, o.Dir)); err != nil {
			t.Fatal(err)
		}
		for _, f := range o.Files {
			repotest.WriteFile(t, dir, f.Path, string(f.Data))
		}
	}
	return r
}

// TestServer shares one control plane (starting one with the CRDs takes ~15 s) between the dry-run tests.
func TestServer(t *testing.T) {
	c := testenv.Start(t, testenv.Options{CRDs: true})
	t.Run("example", func(t *testing.T) { exampleOnServer(t, c) })
	t.Run("catches", func(t *testing.T) { catchesWhatOfflineMisses(t, c) })
}

// exampleOnServer applies everything the example repository deploys — rendered applications of every
// environment with each backend, infrastructure/ and gitops/ — with a server-side dry run, and expects no problem.
func exampleOnServer(t *testing.T, c *testenv.Cluster) {
	// The engines' own namespaces exist once Argo CD and Flux are installed.
	c.CreateNamespaces(t, project.ArgoCDNamespace, project.FluxNamespace)
	for _, backend := range []string{"plain", "kserve", "marina"} {
		t.Run(backend, func(t *testing.T) {
			r := exampleWithBackend(t, backend)
			objs, problems, err := dryrun.Collect(r, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				t.Errorf("collect: %+v", p)
			}
			kinds := map[string]int{}
			for _, o := range objs {
				kinds[o.Object.GetKind()]++
				if o.File == "" || strings.HasPrefix(o.File, "/") || !r.Exists(o.File) {
					t.Errorf("%s: source file %q is not a repository file", dryrun.Key(o.Object), o.File)
				}
			}
			// What each part of the repository contributes.
			want := []string{"Namespace", "ResourceQuota", "LimitRange", "DaemonSet", "ClusterRole", "Application",
				"ApplicationSet", "AppProject", "GitRepository", "Kustomization"}
			switch backend {
			case "plain":
				want = append(want, "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ConfigMap", "HTTPRoute")
			case "kserve":
				want = append(want, "InferenceService")
			case "marina":
				want = append(want, "ModelDeployment")
			}
			for _, k := range want {
				if kinds[k] == 0 {
					t.Errorf("no %s collected (got %v)", k, kinds)
				}
			}
			problems, err = dryrun.Check(context.Background(), c.Config, objs, dryrun.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				t.Errorf("server: %+v", p)
			}
		})
	}
}

// catchesWhatOfflineMisses feeds objects that pass marina's offline schemas but break rules only the
// API server enforces: a Deployment selector that does not select its template, a CEL rule of marina's CRD and
// one of Gateway API's, and a namespace nothing creates.
func catchesWhatOfflineMisses(t *testing.T, c *testenv.Cluster) {
	offline, err := kubeschema.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, file, manifest string
		offline              bool // whether marina's offline check accepts it
		wantField, wantMsg   string
	}{{
		name: "deployment selector", file: "applications/m/prod/deployment.yaml", offline: true,
		wantField: "spec.template.metadata.labels", wantMsg: "does not match template",
		manifest: `apiVersion: apps/v1
kind: Deployment
metadata: {name: m, namespace: default}
spec:
  selector: {matchLabels: {app: m}}
  template:
    metadata: {labels: {app: other}}
    spec: {containers: [{name: c, image: example.com/m:1}]}
`,
	}, {
		name: "modeldeployment CEL", file: "applications/m/prod/modeldeployment.yaml", offline: true,
		wantMsg: "replicas",
		manifest: `apiVersion: marina.dev/v1alpha1
kind: ModelDeployment
metadata: {name: m, namespace: default}
spec:
  model: m
  version: 1.0.0
  artifact: {uri: models/m/v1.0.0.onnx, digest: "sha256:` + strings.Repeat("a", 64) + `", size: 10, format: onnx}
  runtime: {image: example.com/serve:1, port: 8080}
  replicas: 2
  scaling: {hpa: {min: 1, max: 3}}
`,
	}, {
		name: "httproute CEL", file: "applications/m/prod/httproute.yaml", offline: true,
		wantMsg: "RequestRedirect filter must not be used together with backendRefs",
		manifest: `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: m, namespace: default}
spec:
  rules:
  - filters: [{type: RequestRedirect, requestRedirect: {scheme: https}}]
    backendRefs: [{name: m, port: 80}]
`,
	}, {
		name: "missing namespace", file: "applications/m/prod/service.yaml", offline: true,
		wantMsg: `namespace "nowhere" does not exist and nothing in the repository creates it`,
		manifest: `apiVersion: v1
kind: Service
metadata: {name: m, namespace: nowhere}
spec: {ports: [{port: 80}]}
`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := schemas.ParseStream(tt.file, []byte(tt.manifest), schemas.MaxManifestSize)
			if err != nil || len(docs) != 1 {
				t.Fatalf("parse: %v", err)
			}
			obj := docs[0].Value.(map[string]any)
			if err := offline.Validate(obj); (err == nil) != tt.offline {
				t.Fatalf("offline check: err = %v, want accepted = %v", err, tt.offline)
			}
			objs := []dryrun.Object{{File: tt.file, Object: unstructuredOf(t, tt.manifest)}}
			problems, err := dryrun.Check(context.Background(), c.Config, objs, dryrun.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(problems) == 0 {
				t.Fatal("the server accepted it")
			}
			var found bool
			for _, p := range problems {
				if p.File != tt.file {
					t.Errorf("problem names file %q, want %q", p.File, tt.file)
				}
				if strings.Contains(p.Message, tt.wantMsg) && strings.HasPrefix(p.Field, tt.wantField) {
					found = true
				}
			}
			if !found {
				t.Errorf("no problem with field %q and message containing %q in %+v", tt.wantField, tt.wantMsg, problems)
			}
		})
	}
}
