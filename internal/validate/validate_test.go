package validate_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/marina-dev/marina/internal/kubeschema/kubeschematest"
	"github.com/marina-dev/marina/internal/render"
	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/internal/repo/repotest"
	"github.com/marina-dev/marina/internal/validate"
)

const projectYAML = `apiVersion: marina.dev/v1alpha1
kind: Project
metadata:
  name: test
spec:
  repository: {url: https://git.example.com/test.git, branch: main}
  engines: [argocd, flux]
  environments:
    - name: staging
      namespace: models-staging
    - name: prod
      namespace: models-prod
      requires: [staging]
      policy:
        requireLimits: true
        requireDigestPinnedImages: true
  gates:
    accuracy: {min: 0.9, maxRegression: 0.05}
    latencyP95Ms: {max: 50}
`

const appYAML = `apiVersion: marina.dev/v1alpha1
kind: ModelApplication
metadata:
  name: m
spec:
  model: m
  backend: plain
  runtime:
    image: registry.example.com/serve@sha256:0000000000000000000000000000000000000000000000000000000000000000
    port: 8080
  resources:
    requests: {cpu: 100m, memory: 128Mi}
    limits: {cpu: "1", memory: 256Mi}
  environments:
    staging:
      version: 1.1.0
    prod:
      version: 1.0.0
`

func versionJSON(version, state, extra string) string {
	return `{
  "name": "m",
  "version": "` + version + `",
  "tag": "v` + version + `-abcdef0",
  "format": "onnx",
  "artifact": {"uri": "s3://models/m/` + version + `.onnx", "digest": "sha256:1111111111111111111111111111111111111111111111111111111111111111", "size": 10},
  "metrics": {"accuracy": 0.95, "latency_p95_ms": 20},
  "created": "2026-01-01T00:00:00Z",
  "state": "` + state + `"` + extra + `
}
`
}

const quotaYAML = `apiVersion: v1
kind: ResourceQuota
metadata:
  name: models
  namespace: models
spec:
  hard:
    requests.cpu: "8"
    requests.nvidia.com/gpu: "2"
`

const overlayYAML = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: models-ENV
resources:
  - ../../base/environment
`

const appSetYAML = `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: models
  namespace: argocd
spec:
  generators:
    - git:
        repoURL: https://git.example.com/test.git
        revision: main
        directories:
          - path: applications/*/staging
          - path: applications/*/prod
  template:
    metadata:
      name: '{{path.basename}}'
    spec:
      project: default
      source: {repoURL: https://git.example.com/test.git, path: '{{path}}', targetRevision: main}
      destination: {server: https://kubernetes.default.svc, namespace: models}
`

// baseFiles is a small repository with nothing wrong in it (before rendering).
func baseFiles() map[string]string {
	return map[string]string{
		"marina.yaml":               projectYAML,
		"applications/m/model.yaml": appYAML,
		"models/m/v1.0.0.json":      versionJSON("1.0.0", "active", ""),
		"models/m/v1.1.0.json":      versionJSON("1.1.0", "registered", ""),
		"infrastructure/base/environment/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - resourcequota.yaml\n",
		"infrastructure/base/environment/resourcequota.yaml": quotaYAML,
		"infrastructure/overlays/staging/kustomization.yaml": strings.ReplaceAll(overlayYAML, "ENV", "staging"),
		"infrastructure/overlays/prod/kustomization.yaml":    strings.ReplaceAll(overlayYAML, "ENV", "prod"),
		"gitops/argocd/applicationset.yaml":                  appSetYAML,
		"gitops/flux/apps/staging/kustomization.yaml":        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n",
		"gitops/flux/apps/prod/kustomization.yaml":           "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n",
		"ci/pipeline.yaml": "apiVersion: marina.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: test}\nspec:\n  stages:\n    - name: validate\n      validate: {failOn: error}\n",
	}
}

// fixture builds a repository from baseFiles changed by edit, commits it, then renders its applications into the
// work tree (when they render) so that only the mistakes edit made are found; after, when set, changes the work
// tree further.
func fixture(t *testing.T, edit func(map[string]string), after func(dir string)) *repo.Repo {
	t.Helper()
	files := baseFiles()
	if edit != nil {
		edit(files)
	}
	dir := repotest.Dir(t, files)
	r := repotest.Open(t, dir)
	if outs, err := render.Repo(r, render.Options{}); err == nil {
		if changes, err := render.Changes(r, outs); err == nil {
			for _, c := range changes {
				if c.Delete {
					if err := os.Remove(filepath.Join(dir, filepath.FromSlash(c.Path))); err != nil {
						t.Fatal(err)
					}
					continue
				}
				repotest.WriteFile(t, dir, c.Path, string(c.Data))
			}
		}
	}
	if after != nil {
		after(dir)
	}
	return r
}

func run(t *testing.T, r *repo.Repo, opts validate.Options) *validate.Report {
	t.Helper()
	rep, err := validate.Run(context.Background(), r, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Findings {
		if _, ok := validate.RuleByID(f.Rule); !ok {
			t.Errorf("finding with a rule missing from Rules: %+v", f)
		}
		if r, _ := validate.RuleByID(f.Rule); r.Severity != f.Severity {
			t.Errorf("finding severity %s differs from its rule's %s: %+v", f.Severity, r.Severity, f)
		}
	}
	return rep
}

func dump(rep *validate.Report) string {
	var b strings.Builder
	_ = rep.WriteText(&b, false)
	return b.String()
}

func TestABaseRepositoryHasNoErrors(t *testing.T) {
	t.Parallel()
	rep := run(t, fixture(t, nil, nil), validate.Options{})
	if rep.Errors() != 0 || rep.Warnings() != 0 {
		t.Fatalf("want no errors or warnings:\n%s", dump(rep))
	}
	if len(rep.Files) < 10 {
		t.Fatalf("checked only %v", rep.Files)
	}
}

func replace(file, old, new string) func(map[string]string) {
	return func(m map[string]string) {
		if !strings.Contains(m[file], old) {
			panic(file + " lacks " + old)
		}
		m[file] = strings.Replace(m[file], old, new, 1)
	}
}

func set(file, content string) func(map[string]string) {
	return func(m map[string]string) { m[file] = content }
}

func del(file string) func(map[string]string) {
	return func(m map[string]string) { delete(m, file) }
}

func all(edits ...func(map[string]string)) func(map[string]string) {
	return func(m map[string]string) {
		for _, e := range edits {
			e(m)
		}
	}
}

const app = "applications/m/model.yaml"

const gpuApp = `apiVersion: marina.dev/v1alpha1
kind: ModelApplication
metadata:
  name: m
spec:
  model: m
  runtime:
    image: registry.example.com/serve@sha256:0000000000000000000000000000000000000000000000000000000000000000
  resources:
    requests: {cpu: "1", memory: 1Gi, nvidia.com/gpu: "1"}
    limits: {cpu: "1", memory: 1Gi, nvidia.com/gpu: "1"}
  environments:
    staging:
      version: 1.1.0
      replicas: 3
`

func TestRunFindsEachKindOfMistake(t *testing.T) {
	t.Parallel()
	// artifactURI records uri as version 1.1.0's artifact; badArtifact is the finding it must bring.
	artifactURI := func(uri string) func(map[string]string) {
		return replace("models/m/v1.1.0.json", "s3://models/m/1.1.0.onnx", uri)
	}
	badArtifact := validate.Finding{Rule: "artifact-location", File: "models/m/v1.1.0.json", Path: "artifact.uri", Line: 6}
	cases := []struct {
		name  string
		edit  func(map[string]string)
		after func(dir string)
		opts  validate.Options
		// want is one finding that must be present (fields left empty are not compared).
		want validate.Finding
	}{
		{name: "a misspelt field in model.yaml names its path and line",
			edit: replace(app, "  backend: plain\n", "  backend: plain\n  replicaz: 2\n"),
			want: validate.Finding{Rule: "schema", File: app, Path: "spec.replicaz", Line: 8}},
		{name: "a wrong type in marina.yaml",
			edit: replace("marina.yaml", "name: test", "name: 12"),
			want: validate.Finding{Rule: "schema", File: "marina.yaml", Path: "metadata.name", Line: 4}},
		{name: "an environment listed twice in marina.yaml",
			edit: replace("marina.yaml", "    - name: prod\n", "    - name: staging\n      namespace: x\n    - name: prod\n"),
			want: validate.Finding{Rule: "schema", File: "marina.yaml", Path: "spec.environments[1].name", Line: 11}},
		{name: "a bad digest in a registry file",
			edit: replace("models/m/v1.1.0.json", "sha256:1111", "sha256:zz11"),
			want: validate.Finding{Rule: "schema", File: "models/m/v1.1.0.json", Path: "artifact.digest", Line: 6}},
		{name: "an absolute artifact path would read outside the repository", edit: artifactURI("/etc/passwd"), want: badArtifact},
		{name: "a file:// artifact URI would read outside the repository", edit: artifactURI("file:///etc/passwd"), want: badArtifact},
		{name: "an artifact path with .. leaves the repository", edit: artifactURI("models/../../x.onnx"), want: badArtifact},
		{name: "an artifact that is a committed symlink",
			edit: artifactURI("models/m/model.onnx"),
			after: func(dir string) {
				if err := os.Symlink("/etc/passwd", filepath.Join(dir, "models", "m", "model.onnx")); err != nil {
					panic(err)
				}
			},
			want: badArtifact},
		{name: "a FIFO among the manifests is refused without blocking",
			after: func(dir string) {
				if err := syscall.Mkfifo(filepath.Join(dir, "infrastructure", "base", "pipe.yaml"), 0o644); err != nil {
					panic(err)
				}
			},
			want: validate.Finding{Rule: "file-unreadable", File: "infrastructure/base/pipe.yaml"}},
		{name: "a registry file with SemVer build metadata",
			edit: set("models/m/v1.1.0+build.7.json", strings.Replace(versionJSON("1.1.0+build.7", "registered", ""), "abcdef0", "abcdef1", 1)),
			want: validate.Finding{Rule: "schema", File: "models/m/v1.1.0+build.7.json", Path: "version", Line: 3}},
		{name: "a label value the API server refuses",
			edit: set("infrastructure/base/labelled.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: l\n  labels:\n    app.kubernetes.io/version: 1.0.0+build.7\n"),
			want: validate.Finding{Rule: "k8s-label", File: "infrastructure/base/labelled.yaml", Path: "metadata.labels.app.kubernetes.io/version", Line: 6}},
		{name: "a model directory named ..x, which model list refuses too",
			edit: set("models/..x/v1.0.0.json", versionJSON("1.0.0", "registered", "")),
			want: validate.Finding{Rule: "file-name", File: "models"}},
		{name: "a registry file named after another version",
			edit: set("models/m/v1.2.0.json", versionJSON("1.1.0", "registered", "")),
			want: validate.Finding{Rule: "schema", File: "models/m/v1.2.0.json", Path: "name"}},
		{name: "an unknown stage field in ci/pipeline.yaml",
			edit: replace("ci/pipeline.yaml", "failOn: error", "failOn: error, colour: red"),
			want: validate.Finding{Rule: "schema", File: "ci/pipeline.yaml", Line: 7}},
		{name: "a canary on the plain backend, which would ignore it",
			edit: replace(app, "    staging:\n      version: 1.1.0\n", "    staging:\n      version: 1.1.0\n      strategy: {canary: {steps: [{setWeight: 20}]}}\n"),
			want: validate.Finding{Rule: "strategy-backend", File: app, Path: "spec.environments.staging.strategy", Line: 17}},
		{name: "a spec-level shadow on the kserve backend",
			edit: replace(app, "  backend: plain\n", "  backend: kserve\n  strategy: {shadow: {percent: 10}}\n"),
			want: validate.Finding{Rule: "strategy-backend", File: app, Path: "spec.strategy", Line: 8}},
		{name: "a canary's analysis step naming a template no built-in analysis turns on",
			edit: all(replace(app, "  backend: plain\n", "  backend: marina\n"),
				replace(app, "    staging:\n      version: 1.1.0\n", "    staging:\n      version: 1.1.0\n      strategy: {canary: {steps: [{setWeight: 20}, {analysis: {template: error-rate}}]}}\n")),
			want: validate.Finding{Rule: "strategy-analysis-template", File: app, Path: "spec.environments.staging.strategy.canary.steps[1].analysis.template", Line: 17,
				Message: `step 1 of the canary runs analysis template "error-rate", which the ModelDeployment rendered for staging does not have`}},
		{name: "a shadow's analysis step naming a template no built-in analysis turns on",
			edit: replace(app, "  backend: plain\n", "  backend: marina\n  analysis:\n    builtin: [{name: shadow-agreement, min: 0.95}]\n"+
				"  strategy:\n    shadow:\n      percent: 10\n      steps:\n        - setWeight: 50\n        - analysis: {template: error-rate}\n"),
			want: validate.Finding{Rule: "strategy-analysis-template", File: app, Path: "spec.strategy.shadow.steps[1].analysis.template", Line: 15,
				Message: `step 1 of the shadow runs analysis template "error-rate", which the ModelDeployment rendered for prod does not have`}},
		{name: "a write-back Secret name Kubernetes refuses",
			edit: replace(app, "  backend: plain\n", "  backend: marina\n  writeBack: {secretRef: Git_Credentials}\n"),
			want: validate.Finding{Rule: "schema", File: app, Path: "spec.writeBack.secretRef", Line: 8}},
		{name: "an unknown write-back mode in an environment",
			edit: all(replace(app, "  backend: plain\n", "  backend: marina\n"), replace(app, "      version: 1.1.0\n", "      version: 1.1.0\n      writeBack: {mode: push}\n")),
			want: validate.Finding{Rule: "schema", File: app, Path: "spec.environments.staging.writeBack.mode", Line: 17}},
		{name: "a write-back pull request on a forge marina does not talk to",
			edit: replace(app, "  backend: plain\n", "  backend: marina\n  writeBack: {mode: pr, pullRequest: {forge: bitbucket}}\n"),
			want: validate.Finding{Rule: "schema", File: app, Path: "spec.writeBack.pullRequest.forge", Line: 8}},
		{name: "a write-back pull request in mode commit",
			edit: replace(app, "  backend: plain\n", "  backend: marina\n  writeBack: {pullRequest: {forge: gitea}}\n"),
			want: validate.Finding{Rule: "stale-render", File: app,
				Message: "cannot render: applications/m/model.yaml: spec.writeBack.pullRequest goes with mode pr: set spec.writeBack.mode: pr, or remove spec.writeBack.pullRequest"}},
		{name: "a write-back on the plain backend, which would ignore it",
			edit: replace(app, "  backend: plain\n", "  backend: plain\n  writeBack: {secretRef: git-credentials}\n"),
			want: validate.Finding{Rule: "stale-render", File: app,
				Message: "cannot render: applications/m/model.yaml: spec.writeBack (environment prod) is marina controller's: set spec.backend: marina, or remove it (backend plain would ignore it)"}},
		{name: "a write-back to the repository marina.yaml pulls over SSH",
			edit: all(replace("marina.yaml", "url: https://git.example.com/test.git", "url: ssh://git@git.example.com/test.git"),
				replace(app, "  backend: plain\n", "  backend: marina\n  writeBack: {secretRef: git-credentials}\n")),
			want: validate.Finding{Rule: "stale-render", File: app,
				Message: "cannot render: applications/m/model.yaml: spec.writeBack: marina.yaml spec.repository.url ssh://git@git.example.com/test.git is not an http(s) URL, and marina controller writes back over HTTP(S) only: use the repository's https:// clone URL, or remove spec.writeBack"}},
		{name: "an environment that merges promotions itself without pull requests",
			edit: replace("marina.yaml", "      requires: [staging]\n", "      requires: [staging]\n      promotion: {autoMerge: true, approvals: 1}\n"),
			want: validate.Finding{Rule: "schema", File: "marina.yaml", Path: "spec.environments[1].promotion", Line: 14}},
		{name: "an environment asking for more approvals than the schema allows",
			edit: replace("marina.yaml", "      requires: [staging]\n", "      requires: [staging]\n      promotion: {pr: true, approvals: 11}\n"),
			want: validate.Finding{Rule: "schema", File: "marina.yaml", Path: "spec.environments[1].promotion.approvals", Line: 14}},
		{name: "a YAML alias in model.yaml",
			edit: replace(app, "  backend: plain\n", "  backend: &b plain\n  config: *b\n"),
			want: validate.Finding{Rule: "yaml", File: app, Path: "spec.config", Line: 8}},
		{name: "a syntax error in a manifest",
			edit: set("infrastructure/base/extra.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [\n"),
			want: validate.Finding{Rule: "yaml", File: "infrastructure/base/extra.yaml"}},
		{name: "a wrong field type in a core object names the field and line",
			edit: replace("infrastructure/base/environment/resourcequota.yaml", "spec:\n", "spec:\n  scopes: terminating\n"),
			want: validate.Finding{Rule: "k8s-schema", File: "infrastructure/base/environment/resourcequota.yaml", Path: "spec.scopes", Line: 7}},
		{name: "an unknown field in a core object in the second document",
			edit: set("infrastructure/base/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\ndata: {}\nbinaryDta: {}\n"),
			want: validate.Finding{Rule: "k8s-schema", File: "infrastructure/base/cm.yaml", Path: "binaryDta", Line: 10}},
		{name: "a missing required field in a CRD object",
			edit: replace("gitops/argocd/applicationset.yaml", "  template:\n", "  templat:\n"),
			want: validate.Finding{Rule: "k8s-schema", File: "gitops/argocd/applicationset.yaml", Path: "spec.template"}},
		{name: "an unknown kind is a warning that suggests --crds",
			edit: set("gitops/flux/extra.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n"),
			want: validate.Finding{Rule: "k8s-unknown-kind", Severity: validate.SeverityWarning, File: "gitops/flux/extra.yaml", Line: 1, Message: `no schema for example.com/v1 Widget "w"; pass --crds DIR`}},
		{name: "an unregistered version names the file it lacks",
			edit: replace(app, "version: 1.1.0", "version: 1.2.0"),
			want: validate.Finding{Rule: "xref-version", File: app, Path: "spec.environments.staging.version", Line: 16}},
		{name: "a blocked version says how to move on",
			edit: set("models/m/v1.0.0.json", versionJSON("1.0.0", "blocked", `, "stateReason": "error rate"`)),
			want: validate.Finding{Rule: "version-blocked", File: app, Path: "spec.environments.prod.version", Line: 18,
				Hint: "marina promote m@VERSION --env prod, or marina rollback m --env prod"}},
		{name: "a deployed version whose artifact only the repository holds is a warning with the push",
			edit: replace("models/m/v1.0.0.json", `"uri": "s3://models/m/1.0.0.onnx"`, `"uri": "models/m/artifacts/v1.0.0.onnx"`),
			want: validate.Finding{Rule: "artifact-in-repository", Severity: validate.SeverityWarning, File: app, Path: "spec.environments.prod.version", Line: 18,
				Message: `m@1.0.0 is deployed to "prod" from models/m/artifacts/v1.0.0.onnx, a file in this repository that the cluster cannot fetch`,
				Hint:    "marina model push m@1.0.0"}},
		{name: "an archived version is a warning",
			edit: set("models/m/v1.0.0.json", versionJSON("1.0.0", "archived", "")),
			want: validate.Finding{Rule: "version-archived", Severity: validate.SeverityWarning, File: app, Path: "spec.environments.prod.version", Line: 18}},
		{name: "a deployed version whose metadata is invalid cannot be trusted",
			edit: replace("models/m/v1.0.0.json", `"size": 10`, `"size": "ten"`),
			want: validate.Finding{Rule: "artifact-digest", File: app, Path: "spec.environments.prod.version", Line: 18}},
		{name: "an environment marina.yaml lacks",
			edit: replace(app, "    prod:\n", "    qa:\n      version: 1.0.0\n    prod:\n"),
			want: validate.Finding{Rule: "xref-environment", File: app, Path: "spec.environments.qa", Line: 17}},
		{name: "a model with no registered versions",
			edit: all(del("models/m/v1.0.0.json"), del("models/m/v1.1.0.json")),
			want: validate.Finding{Rule: "xref-model", File: app, Path: "spec.model", Line: 6}},
		{name: "a missing config file",
			edit: replace(app, "  backend: plain\n", "  backend: plain\n  config: config.yaml\n"),
			want: validate.Finding{Rule: "xref-config", File: app, Path: "spec.config", Line: 8}},
		{name: "a config path leaving the application is refused by the schema",
			edit: replace(app, "  backend: plain\n", "  backend: plain\n  config: ../x.yaml\n"),
			want: validate.Finding{Rule: "schema", File: app, Path: "spec.config", Line: 8}},
		{name: "a missing sealed secret file",
			edit: replace(app, "  backend: plain\n", "  backend: plain\n  secrets:\n    - name: token\n      sealedSecret: {file: token.yaml}\n"),
			want: validate.Finding{Rule: "xref-secret", File: app, Path: "spec.secrets[0].sealedSecret.file", Line: 10}},
		{name: "an environment without an overlay",
			edit: del("infrastructure/overlays/prod/kustomization.yaml"),
			want: validate.Finding{Rule: "env-overlay", File: "marina.yaml", Path: "spec.environments[1]", Line: 11}},
		{name: "an environment without a Flux index",
			after: func(dir string) {
				if err := os.Remove(filepath.Join(dir, "gitops", "flux", "apps", "prod", "kustomization.yaml")); err != nil {
					panic(err)
				}
			},
			want: validate.Finding{Rule: "env-flux", File: "marina.yaml", Path: "spec.environments[1]"}},
		{name: "an environment the ApplicationSet does not cover",
			edit: replace("gitops/argocd/applicationset.yaml", "          - path: applications/*/prod\n", ""),
			want: validate.Finding{Rule: "env-argocd", File: "marina.yaml", Path: "spec.environments[1]"}},
		{name: "no gitops/argocd with argocd in spec.engines",
			edit: del("gitops/argocd/applicationset.yaml"),
			want: validate.Finding{Rule: "env-argocd", File: "marina.yaml", Path: "spec.engines", Line: 7}},
		{name: "a missing CPU limit where the policy requires limits",
			edit: replace(app, `limits: {cpu: "1", memory: 256Mi}`, `limits: {memory: 256Mi}`),
			want: validate.Finding{Rule: "policy-limits", File: app, Path: "spec.resources.limits", Line: 13}},
		{name: "an environment's resources override the shared limits",
			edit: replace(app, "    prod:\n      version: 1.0.0\n", "    prod:\n      version: 1.0.0\n      resources: {requests: {cpu: \"1\"}}\n"),
			want: validate.Finding{Rule: "policy-limits", File: app, Path: "spec.environments.prod.resources.limits", Line: 19}},
		{name: "an image pinned by tag where the policy requires digests",
			edit: replace(app, "serve@sha256:0000000000000000000000000000000000000000000000000000000000000000", "serve:1.0"),
			want: validate.Finding{Rule: "policy-digest", File: app, Path: "spec.runtime.image", Line: 9}},
		{name: "an init container pulling an oci:// artifact with an image pinned by tag where the policy requires digests",
			edit: replace("models/m/v1.0.0.json", `"uri": "s3://models/m/1.0.0.onnx"`, `"uri": "oci://registry.example.com/models/m@sha256:1111111111111111111111111111111111111111111111111111111111111111"`),
			want: validate.Finding{Rule: "policy-digest", File: app, Path: "spec.runtime.artifact.pullImage",
				Message: `environment "prod" requires images pinned by digest; m@1.0.0 is pulled by an init container running ghcr.io/marina-dev/marina:0.1.0, which is not`}},
		{name: "an unsigned version where the policy requires signatures",
			edit: replace("marina.yaml", "requireLimits: true", "requireLimits: true\n        requireSignedArtifacts: true"),
			want: validate.Finding{Rule: "policy-signed", File: app, Path: "spec.environments.prod.version", Line: 18}},
		{name: "a GPU model without a GPU toleration",
			edit: set(app, gpuApp),
			want: validate.Finding{Rule: "gpu-toleration", File: app, Path: "spec.tolerations", Line: 5}},
		{name: "a GPU model without a nodeSelector is a warning",
			edit: set(app, gpuApp),
			want: validate.Finding{Rule: "gpu-node-selector", Severity: validate.SeverityWarning, File: app, Path: "spec.nodeSelector"}},
		{name: "a GPU model over the environment's quota",
			edit: set(app, gpuApp),
			want: validate.Finding{Rule: "gpu-quota", File: app, Path: "spec.environments.staging", Line: 13,
				Message: `m needs 3 GPUs in "staging" (3 replicas × 1 GPU), over the quota of 2 in infrastructure/base/environment/resourcequota.yaml`}},
		{name: "an overlay's quota replaces the base quota",
			edit: all(set(app, strings.Replace(gpuApp, "replicas: 3", "replicas: 2", 1)),
				set("infrastructure/overlays/staging/quota.yaml", strings.Replace(quotaYAML, `"2"`, `"1"`, 1))),
			want: validate.Finding{Rule: "gpu-quota", File: app, Path: "spec.environments.staging",
				Message: `m needs 2 GPUs in "staging" (2 replicas × 1 GPU), over the quota of 1 in infrastructure/overlays/staging/quota.yaml`}},
		{name: "the placeholder repository URL of marina init is a note (the base fixture has it)",
			want: validate.Finding{Rule: "repo-url-placeholder", Severity: validate.SeverityInfo, File: "marina.yaml", Path: "spec.repository.url"}},
		{name: "a write-back to the placeholder repository URL of marina init",
			edit: all(replace(app, "  backend: plain\n", "  backend: marina\n"), replace(app, "      version: 1.1.0\n", "      version: 1.1.0\n      writeBack: {secretRef: git-credentials}\n")),
			want: validate.Finding{Rule: "repo-url-writeback", File: app, Path: "spec.environments.staging.writeBack", Line: 17,
				Message: "m writes aborted rollouts back to https://git.example.com/test.git, the placeholder marina init writes without --repo-url: the push would fail when a rollout aborts"}},
		{name: "no gates in marina.yaml is a warning",
			edit: replace("marina.yaml", "  gates:\n    accuracy: {min: 0.9, maxRegression: 0.05}\n    latencyP95Ms: {max: 50}\n", ""),
			want: validate.Finding{Rule: "gates-missing", Severity: validate.SeverityWarning, File: "marina.yaml", Path: "spec.gates"}},
		{name: "a version below the accuracy gate names the metric",
			edit: replace("models/m/v1.1.0.json", `"accuracy": 0.95`, `"accuracy": 0.85`),
			want: validate.Finding{Rule: "gate-accuracy", File: app, Path: "spec.environments.staging.version", Line: 16,
				Message: "m@1.1.0: accuracy 0.85 is below the minimum 0.9 (spec.gates.accuracy.min)"}},
		{name: "a version that regresses against prod",
			edit: all(replace("models/m/v1.1.0.json", `"accuracy": 0.95`, `"accuracy": 0.91`), replace("models/m/v1.0.0.json", `"accuracy": 0.95`, `"accuracy": 0.99`)),
			want: validate.Finding{Rule: "gate-accuracy", File: app, Path: "spec.environments.staging.version"}},
		{name: "a version above the latency gate",
			edit: replace("models/m/v1.0.0.json", `"latency_p95_ms": 20`, `"latency_p95_ms": 80`),
			want: validate.Finding{Rule: "gate-latency", File: app, Path: "spec.environments.prod.version"}},
		{name: "a version without the gate's metric is a note",
			edit: replace("models/m/v1.0.0.json", `"accuracy": 0.95, `, ``),
			want: validate.Finding{Rule: "gate-metric-missing", Severity: validate.SeverityInfo, File: app, Path: "spec.environments.prod.version"}},
		{name: "a hand-edited rendered file is stale",
			after: func(dir string) {
				p := filepath.Join(dir, "applications", "m", "prod", "deployment.yaml")
				b, err := os.ReadFile(p)
				if err != nil {
					panic(err)
				}
				if err := os.WriteFile(p, append(b, "# edited\n"...), 0o644); err != nil {
					panic(err)
				}
			},
			want: validate.Finding{Rule: "stale-render", File: "applications/m/prod/deployment.yaml", Hint: "run `marina render --write` and commit the result"}},
		{name: "an extra file in a rendered directory is stale",
			after: func(dir string) {
				repotest.WriteFile(t, dir, "applications/m/staging/extra.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
			},
			want: validate.Finding{Rule: "stale-render", File: "applications/m/staging/extra.yaml"}},
		{name: "a Flux index that misses a model is stale",
			after: func(dir string) {
				repotest.WriteFile(t, dir, "gitops/flux/apps/prod/kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n")
			},
			want: validate.Finding{Rule: "stale-render", File: "gitops/flux/apps/prod/kustomization.yaml"}},
		{name: "a symlinked registry file is not followed",
			after: func(dir string) {
				if err := os.Symlink("/etc/passwd", filepath.Join(dir, "models", "m", "v9.9.9.json")); err != nil {
					panic(err)
				}
			},
			want: validate.Finding{Rule: "file-unreadable", File: "models/m/v9.9.9.json"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rep := run(t, fixture(t, c.edit, c.after), c.opts)
			for _, f := range rep.Findings {
				if matches(f, c.want) {
					return
				}
			}
			t.Fatalf("no finding like %+v in:\n%s", c.want, dump(rep))
		})
	}
}

// matches compares the fields want sets.
func matches(got, want validate.Finding) bool {
	return got.Rule == want.Rule && got.File == want.File &&
		(want.Path == "" || got.Path == want.Path) &&
		(want.Line == 0 || got.Line == want.Line) &&
		(want.Severity == "" || got.Severity == want.Severity) &&
		(want.Message == "" || got.Message == want.Message) &&
		(want.Hint == "" || got.Hint == want.Hint)
}

func TestAWriteBackOfABackendMarinaModelRendersAModelDeploymentTheSchemaTakes(t *testing.T) {
	t.Parallel()
	r := fixture(t, all(
		replace("marina.yaml", "url: https://git.example.com/test.git", "url: https://git.example.org/ml/test.git"),
		replace(app, "  backend: plain\n", "  backend: marina\n  writeBack: {secretRef: git-credentials}\n"),
		replace(app, "      version: 1.1.0\n", "      version: 1.1.0\n      writeBack: {secretRef: git-credentials-staging, mode: pr, pullRequest: {forge: gitea, labels: [rollback]}}\n")), nil)
	rep := run(t, r, validate.Options{})
	if rep.Errors() != 0 || rep.Warnings() != 0 {
		t.Fatalf("want no errors or warnings:\n%s", dump(rep))
	}
	for _, env := range []string{"staging", "prod"} {
		md, err := r.ReadFile("applications/m/"+env+"/modeldeployment.yaml", 1<<20)
		if err != nil || !strings.Contains(string(md), "gitWriteBack:") {
			t.Fatalf("%s: no spec.gitWriteBack rendered (%v):\n%s", env, err, md)
		}
		if pr := strings.Contains(string(md), "pullRequest:"); pr != (env == "staging") {
			t.Fatalf("%s: spec.gitWriteBack.pullRequest rendered: %v:\n%s", env, pr, md)
		}
	}
}

func TestARecordedImageDigestSatisfiesTheDigestPolicy(t *testing.T) {
	t.Parallel()
	r := fixture(t, all(
		replace(app, "serve@sha256:0000000000000000000000000000000000000000000000000000000000000000", "serve:1.0"),
		set("models/m/v1.0.0.json", versionJSON("1.0.0", "active", `, "image": {"ref": "registry.example.com/m", "digest": "sha256:2222222222222222222222222222222222222222222222222222222222222222"}`)),
	), nil)
	for _, f := range run(t, r, validate.Options{}).Findings {
		if f.Rule == "policy-digest" {
			t.Fatalf("the version's image is pinned, yet: %+v", f)
		}
	}
}

func TestEnvLimitsTheChecksToOneEnvironment(t *testing.T) {
	t.Parallel()
	r := fixture(t, all(
		replace(app, "serve@sha256:0000000000000000000000000000000000000000000000000000000000000000", "serve:1.0"), // prod policy
		del("infrastructure/overlays/prod/kustomization.yaml"),
	), nil)
	if rep := run(t, r, validate.Options{Env: "prod"}); rep.Errors() != 2 {
		t.Fatalf("--env prod: want the digest and overlay errors:\n%s", dump(rep))
	}
	if rep := run(t, r, validate.Options{Env: "staging"}); rep.Errors() != 0 {
		t.Fatalf("--env staging: want no errors:\n%s", dump(rep))
	}
}

func TestAnUnknownEnvIsAnError(t *testing.T) {
	t.Parallel()
	_, err := validate.Run(context.Background(), fixture(t, nil, nil), validate.Options{Env: "qa"})
	if !errors.Is(err, validate.ErrUnknownEnv) || !strings.Contains(err.Error(), "staging, prod") {
		t.Fatalf("err = %v", err)
	}
}

func TestKustomizePatchesAreNotCheckedAsWholeObjects(t *testing.T) {
	t.Parallel()
	r := fixture(t, all(
		set("infrastructure/overlays/prod/kustomization.yaml", strings.ReplaceAll(overlayYAML, "ENV", "prod")+"patches:\n  - path: quota.yaml\n"),
		set("infrastructure/overlays/prod/quota.yaml", "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: models}\nspec:\n  hard:\n    requests.nvidia.com/gpu: \"0\"\n"),
		set(app, strings.Replace(strings.Replace(gpuApp, "replicas: 3", "replicas: 1", 1), "    staging:\n", "    prod:\n", 1)),
	), nil)
	rep := run(t, r, validate.Options{})
	for _, f := range rep.Findings {
		if f.File == "infrastructure/overlays/prod/quota.yaml" && f.Rule == "k8s-schema" {
			t.Fatalf("patch checked as an object: %+v", f)
		}
	}
	// The patch's quota still binds the environment.
	found := false
	for _, f := range rep.Findings {
		found = found || (f.Rule == "gpu-quota" && strings.Contains(f.Message, "over the quota of 0 in infrastructure/overlays/prod/quota.yaml"))
	}
	if !found {
		t.Fatalf("no gpu-quota finding from the patch:\n%s", dump(rep))
	}
}

func TestExtraCRDsAddKinds(t *testing.T) {
	t.Parallel()
	crds := t.TempDir()
	kubeschematest.WriteCRD(t, crds, "example.com", "Widget", "v1", `type: object
properties:
  spec:
    type: object
    properties:
      size: {type: integer}
`)
	r := fixture(t, set("gitops/flux/widget.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec:\n  size: big\n"), nil)
	rep := run(t, r, validate.Options{ExtraCRDDirs: []string{crds}})
	want := validate.Finding{Rule: "k8s-schema", File: "gitops/flux/widget.yaml", Path: "spec.size", Line: 5}
	for _, f := range rep.Findings {
		if matches(f, want) {
			return
		}
	}
	t.Fatalf("no finding like %+v:\n%s", want, dump(rep))
}

func TestUnreadableCRDDirsStopValidation(t *testing.T) {
	t.Parallel()
	_, err := validate.Run(context.Background(), fixture(t, nil, nil), validate.Options{ExtraCRDDirs: []string{t.TempDir()}})
	if err == nil || !strings.Contains(err.Error(), "--crds") {
		t.Fatalf("err = %v", err)
	}
}

// mistakes is a repository with many kinds of mistakes at once, for order and format tests.
func mistakes(t *testing.T) *repo.Repo {
	return fixture(t, all(
		replace(app, "  backend: plain\n", "  backend: plain\n  config: config.yaml\n"),
		replace(app, "serve@sha256:0000000000000000000000000000000000000000000000000000000000000000", "serve:1.0"),
		replace(app, "version: 1.1.0", "version: 1.2.0"),
		replace("models/m/v1.0.0.json", `"accuracy": 0.95`, `"accuracy": 0.5`),
		replace("infrastructure/base/environment/resourcequota.yaml", "spec:\n", "spec:\n  scopes: terminating\n"),
		set("gitops/flux/extra.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n"),
		set("applications/gpu/model.yaml", strings.ReplaceAll(gpuApp, "m\n", "gpu\n")),
		set("models/gpu/v1.1.0.json", strings.ReplaceAll(versionJSON("1.1.0", "registered", ""), `"m"`, `"gpu"`)),
		del("infrastructure/overlays/prod/kustomization.yaml"),
		replace("ci/pipeline.yaml", "failOn: error", "failOn: sometimes"),
	), func(dir string) {
		repotest.WriteFile(t, dir, "applications/gpu/staging/notes.yaml", "hand: written\n")
	})
}

func TestOutputIsTheSameForAnyConcurrency(t *testing.T) {
	t.Parallel()
	r := mistakes(t)
	one := run(t, r, validate.Options{Concurrency: 1})
	if one.Errors() < 8 {
		t.Fatalf("the fixture should have many errors:\n%s", dump(one))
	}
	for range 3 {
		eight := run(t, r, validate.Options{Concurrency: 8})
		if !reflect.DeepEqual(one, eight) {
			t.Fatalf("1 worker:\n%s\n8 workers:\n%s", dump(one), dump(eight))
		}
	}
}

func TestRulesAreDocumentedAndUnique(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, r := range validate.Rules {
		if seen[r.ID] {
			t.Errorf("rule %s listed twice", r.ID)
		}
		seen[r.ID] = true
		if r.Short == "" || r.Help == "" || strings.HasSuffix(r.Short, ".") {
			t.Errorf("rule %s needs a short description without a final period and help text", r.ID)
		}
		switch r.Severity {
		case validate.SeverityError, validate.SeverityWarning, validate.SeverityInfo:
		default:
			t.Errorf("rule %s has severity %q", r.ID, r.Severity)
		}
	}
}

// TestEveryRuleIsReachable keeps the table honest in the other direction: each rule is produced by some test
// fixture in this file (collected by name from the mistakes above).
func TestEveryRuleIsReachable(t *testing.T) {
	t.Parallel()
	var src strings.Builder
	for _, f := range []string{"validate_test.go", "server_test.go", "corpus_test.go", "signature_test.go"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src.Write(b)
	}
	for _, r := range validate.Rules {
		if !strings.Contains(src.String(), `Rule: "`+r.ID+`"`) {
			t.Errorf("no test expects a finding of rule %s", r.ID)
		}
	}
}

func TestRulesMarkdownListsEveryRule(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	if err := validate.WriteRulesMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(b.String(), "\n"); got != len(validate.Rules)+2 {
		t.Fatalf("%d lines for %d rules:\n%s", got, len(validate.Rules), b.String())
	}
}
