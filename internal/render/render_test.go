package render_test

import (
	"bytes"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/analysis"
	"github.com/marina-dev/marina/internal/golden"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/render"
	"github.com/marina-dev/marina/schemas"
)

func projectFile(traffic string) string {
	return `apiVersion: marina.dev/v1alpha1
kind: Project
metadata: {name: platform}
spec:
  repository: {url: https://git.example.com/platform.git, branch: main}
  traffic: ` + traffic + `
  environments:
    - {name: staging, namespace: models-staging}
    - {name: prod, namespace: models-prod, requires: [staging]}
`
}

// Digests of real files, so that no golden file carries a made-up one (examples.TestNoDigestIsMadeUp): the
// example's models, examples/ml-platform/models/{iris-classifier,vision-gpu}/artifacts/v1.0.0.onnx, the first as
// the model file, the second standing for an artifact's manifest in a registry (render never resolves it).
const (
	fileDigest     = "sha256:05f6759bd4f24b056f0d290267459d5b63dcc1f451fd702ee5796f4179c78cf5"
	manifestDigest = "sha256:1e3fa9ff4412f893618f6767cdecb4b0ad04754682bd48f47dbf51e78e3b4318"
	ociRepository  = "oci://registry.example.com/models/fraud@"
)

func version(v string, size int64) *model.Version {
	return &model.Version{
		Name: "fraud", Version: v, Tag: "v" + v + "-abcdef0", Format: "onnx", State: model.StateActive,
		Artifact: model.Artifact{URI: "s3://models/fraud/" + v + ".onnx", Digest: fileDigest, Size: size},
		Created:  time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC),
	}
}

type renderCase struct {
	name    string
	traffic string
	app     string
	env     string
	size    int64
	config  string
	sealed  map[string][]byte
	// uri and file replace the version's artifact.uri and artifact.file.
	uri, file string
	// keys are marina.yaml's spec.signing.publicKeys.
	keys [][]byte
}

// publicKey is an Ed25519 public key as openssl pkey -pubout writes it.
var publicKey = []byte("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA7dX/+k4w36iRQV83UTR4sZSX7hpD5sJYTGDuW/FzP1o=\n-----END PUBLIC KEY-----\n")

// writeBackApp turns the Git write-back on for every environment, and staging overrides it.
const writeBackApp = `
  backend: marina
  writeBack: {secretRef: git-credentials}
  environments:
    staging:
      version: 1.1.0
      writeBack: {secretRef: git-credentials-staging, mode: pr, pullRequest: {forge: gitea, labels: [rollback, staging]}}
    prod:
      version: 1.0.0
      strategy: {canary: {steps: [{setWeight: 20}, {pause: {}}]}}
`

var cases = []renderCase{
	{name: "plain-gateway-hpa-config", traffic: "gateway", env: "prod", size: 350, config: "LOG_LEVEL: info\nMAX_BATCH: 64\n", app: `
  runtime: {image: "registry.example.com/serve:1.4.2", port: 9000}
  config: config.yaml
  resources: {requests: {cpu: 250m, memory: 256Mi}, limits: {cpu: "1", memory: 512Mi}}
  scaling: {hpa: {min: 2, max: 6, cpuUtilization: 60}}
  environments:
    prod: {version: 1.0.0}
`},
	{name: "plain-ingress-keda-secrets", traffic: "ingress", env: "staging", size: 1 << 30, app: `
  secrets:
    - {name: feature-store, externalSecret: {store: vault, key: ml/feature-store}}
    - {name: api-key, sealedSecret: {file: api-key.sealed.yaml}}
  scaling: {keda: {min: 1, max: 20, query: "sum(rate(marina_requests_total[1m]))", threshold: "50"}}
  environments:
    staging: {version: 2.0.0-rc.1, resources: {requests: {cpu: "2", memory: 4Gi}, limits: {memory: 8Gi}}}
`, sealed: map[string][]byte{"api-key": []byte("apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: api-key\n  namespace: models-staging\nspec:\n  encryptedData:\n    API_KEY: AgBy3i4OJSWK+PiTySYZZA==\n")}},
	{name: "plain-gpu", traffic: "gateway", env: "staging", size: 5 << 30, app: `
  resources: {requests: {cpu: "4", memory: 16Gi, nvidia.com/gpu: "1"}, limits: {memory: 24Gi, nvidia.com/gpu: "1"}}
  nodeSelector: {nvidia.com/gpu.present: "true"}
  tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
  replicas: 2
  environments:
    staging: {version: 1.0.0}
`},
	{name: "kserve-gpu-hpa", traffic: "gateway", env: "prod", size: 350, app: `
  backend: kserve
  resources: {requests: {cpu: "1", memory: 2Gi, nvidia.com/gpu: "1"}, limits: {nvidia.com/gpu: "1"}}
  tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
  scaling: {hpa: {min: 1, max: 3}}
  secrets:
    - {name: feature-store, externalSecret: {store: vault, key: ml/feature-store}}
  environments:
    prod: {version: 1.0.0}
`},
	{name: "plain-oci-pull-secret", traffic: "gateway", env: "staging", size: 350, uri: ociRepository + manifestDigest, file: "fraud-detector.onnx", app: `
  runtime: {artifact: {pullSecret: model-registry}}
  resources: {requests: {cpu: 250m, memory: 256Mi}, limits: {cpu: "1", memory: 512Mi}}
  environments:
    staging: {version: 1.0.0}
`},
	{name: "plain-oci-signed", traffic: "gateway", env: "prod", size: 350, uri: ociRepository + manifestDigest, file: "fraud-detector.onnx", keys: [][]byte{publicKey}, app: `
  runtime: {artifact: {pullSecret: model-registry}}
  environments:
    prod: {version: 1.0.0}
`},
	{name: "plain-oci-image-volume", traffic: "gateway", env: "staging", size: 350, uri: ociRepository + manifestDigest, app: `
  runtime: {artifact: {via: imageVolume, pullSecret: model-registry}}
  environments:
    staging: {version: 1.0.0}
`},
	{name: "kserve-oci", traffic: "gateway", env: "staging", size: 350, uri: ociRepository + manifestDigest, file: "fraud-detector.onnx", app: `
  backend: kserve
  environments:
    staging: {version: 1.0.0}
`},
	{name: "marina-canary-config", traffic: "gateway", env: "prod", size: 350, config: "THRESHOLD: 0.5\n", uri: ociRepository + manifestDigest, app: `
  backend: marina
  runtime: {artifact: {pullSecret: model-registry}}
  config: config.yaml
  resources: {requests: {cpu: 500m, memory: 1Gi}, limits: {memory: 2Gi}}
  environments:
    prod:
      version: 1.0.0
      replicas: 3
      strategy: {canary: {steps: [{setWeight: 20}, {pause: {duration: 5m}}, {analysis: {template: error-rate}}, {setWeight: 50}]}}
`},
	{name: "marina-shadow-router-builtin-analysis", traffic: "gateway", env: "staging", size: 350, app: `
  backend: marina
  router: {replicas: 3, image: "registry.example.com/marina@sha256:1e3fa9ff4412f893618f6767cdecb4b0ad04754682bd48f47dbf51e78e3b4318"}
  analysis:
    prometheus: {address: "http://prometheus.monitoring.svc:9090", secretRef: prometheus-reader}
    minSamples: 200
    builtin:
      - {name: shadow-agreement, min: 0.95}
      - {name: shadow-max-abs-diff-p99, max: 0.01}
      - {name: shadow-error-rate, max: 0.01}
      - {name: shadow-latency-p99-delta, maxSeconds: 0.05}
      - {name: error-rate, max: 0.01}
      - {name: latency-p99-delta, maxSeconds: 0.05}
  environments:
    staging:
      version: 1.1.0
      replicas: 2
      strategy: {shadow: {percent: 50, duration: 30m}}
`},
	{name: "marina-shadow-canary-steps", traffic: "gateway", env: "prod", size: 350, app: `
  backend: marina
  analysis:
    builtin:
      - {name: shadow-agreement, min: 0.95}
      - {name: error-rate, max: 0.01}
  environments:
    prod:
      version: 1.1.0
      replicas: 4
      strategy:
        shadow:
          percent: 25
          duration: 30m
          steps: [{setWeight: 20}, {analysis: {template: error-rate}}, {pause: {duration: 10m}}, {setWeight: 50}, {pause: {}}]
`},
	{name: "marina-writeback-commit", traffic: "gateway", env: "prod", size: 350, app: writeBackApp},
	{name: "marina-writeback-staging-pr", traffic: "gateway", env: "staging", size: 350, app: writeBackApp},
}

func input(t *testing.T, c renderCase) render.Input {
	t.Helper()
	var p project.Project
	if err := schemas.Decode(schemas.Project, "marina.yaml", []byte(projectFile(c.traffic)), &p); err != nil {
		t.Fatal(err)
	}
	app, _, err := project.ParseApplication("applications/fraud/model.yaml", []byte("apiVersion: marina.dev/v1alpha1\nkind: ModelApplication\nmetadata: {name: fraud}\nspec:\n  model: fraud"+c.app))
	if err != nil {
		t.Fatal(err)
	}
	in := render.Input{Project: &p, App: app, Env: c.env, Version: version(app.Spec.Environments[c.env].Version, c.size), SealedSecrets: c.sealed, PublicKeys: c.keys}
	if c.uri != "" {
		in.Version.Artifact.URI, in.Version.Artifact.File = c.uri, c.file
	}
	if c.config != "" {
		in.Config = []byte(c.config)
	}
	return in
}

func TestRenderMatchesTheGoldenFiles(t *testing.T) {
	t.Parallel()
	var names []string
	for _, c := range cases {
		names = append(names, c.name+".yaml")
	}
	golden.Only(t, filepath.Join("testdata", "golden"), names...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			files, err := render.Render(input(t, c))
			if err != nil {
				t.Fatal(err)
			}
			again, _ := render.Render(input(t, c))
			var all bytes.Buffer
			for i, f := range files {
				if f.Path != again[i].Path || !bytes.Equal(f.Data, again[i].Data) {
					t.Fatalf("%s differs between two renders of the same input", f.Path)
				}
				if !strings.HasPrefix(f.Path, "applications/fraud/"+c.env+"/") {
					t.Fatalf("rendered outside the environment directory: %s", f.Path)
				}
				var obj map[string]any
				if err := yaml.Unmarshal(f.Data, &obj); err != nil {
					t.Fatalf("%s does not parse: %v", f.Path, err)
				}
				all.WriteString("# " + f.Path + "\n")
				all.Write(f.Data)
			}
			golden.Check(t, filepath.Join("testdata", "golden", c.name+".yaml"), all.Bytes())
		})
	}
}

func objects(t *testing.T, files []render.File) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, f := range files {
		var obj map[string]any
		if err := yaml.Unmarshal(f.Data, &obj); err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f.Path)] = obj
	}
	return out
}

func get(obj map[string]any, keys ...string) any {
	var cur any = obj
	for _, k := range keys {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

func TestReplicasAreLeftToTheAutoscaler(t *testing.T) {
	t.Parallel()
	files, err := render.Render(input(t, cases[0]))
	if err != nil {
		t.Fatal(err)
	}
	objs := objects(t, files)
	if r := get(objs["deployment.yaml"], "spec", "replicas"); r != nil {
		t.Fatalf("replicas %v rendered although an HPA owns them", r)
	}
	if objs["hpa.yaml"] == nil || objs["pdb.yaml"] == nil {
		t.Fatal("HPA with min 2 must come with an HPA and a PodDisruptionBudget")
	}
}

func TestGPUModelsNeverSurge(t *testing.T) {
	t.Parallel()
	files, _ := render.Render(input(t, cases[2]))
	d := objects(t, files)["deployment.yaml"]
	if s := get(d, "spec", "strategy", "rollingUpdate", "maxSurge"); s != float64(0) {
		t.Fatalf("maxSurge %v for a GPU model", s)
	}
	// A 5 GiB model gets a startup budget of 60 s + 5 GiB / 50 MiB/s = 162 s → 33 probes of 5 s.
	if f := get(d, "spec", "template", "spec", "containers"); f.([]any)[0].(map[string]any)["startupProbe"].(map[string]any)["failureThreshold"] != float64(33) {
		t.Fatalf("startup probe not sized by model size: %v", f)
	}
}

func TestAConfigChangeRenamesTheConfigMapAndAVersionChangeKeepsTheSelector(t *testing.T) {
	t.Parallel()
	a := input(t, cases[0])
	b := input(t, cases[0])
	b.Config = []byte("LOG_LEVEL: debug\nMAX_BATCH: 64\n")
	fa, _ := render.Render(a)
	fb, _ := render.Render(b)
	ca, cb := objects(t, fa)["configmap.yaml"], objects(t, fb)["configmap.yaml"]
	if get(ca, "metadata", "name") == get(cb, "metadata", "name") {
		t.Fatal("the ConfigMap name did not change with its content, so pods would not roll")
	}
	if ref := get(objects(t, fb)["deployment.yaml"], "spec", "template", "spec", "containers").([]any)[0].(map[string]any)["envFrom"].([]any)[0].(map[string]any)["configMapRef"].(map[string]any)["name"]; ref != get(cb, "metadata", "name") {
		t.Fatalf("the Deployment refers to %v, not the new ConfigMap", ref)
	}
	c := input(t, cases[0])
	c.Version = version("1.1.0", 350)
	c.App.Spec.Environments["prod"] = project.EnvironmentSpec{Version: "1.1.0"}
	fc, err := render.Render(c)
	if err != nil {
		t.Fatal(err)
	}
	sa := get(objects(t, fa)["deployment.yaml"], "spec", "selector")
	sc := get(objects(t, fc)["deployment.yaml"], "spec", "selector")
	if !equalYAML(t, sa, sc) {
		t.Fatalf("the selector changed with the version: %v → %v", sa, sc)
	}
}

func equalYAML(t *testing.T, a, b any) bool {
	ba, _ := yaml.Marshal(a)
	bb, _ := yaml.Marshal(b)
	return bytes.Equal(ba, bb)
}

func TestRenderRefusesBadInput(t *testing.T) {
	t.Parallel()
	bad := []struct {
		name string
		edit func(*render.Input)
		want string
	}{
		{"an environment missing from marina.yaml", func(in *render.Input) { in.Env = "qa" }, `environment "qa" is not in marina.yaml`},
		{"metadata of another version", func(in *render.Input) { in.Version = version("9.9.9", 1) }, "no metadata given"},
		{"a nested config value", func(in *render.Input) { in.Config = []byte("A:\n  B: 1\n") }, "applications/fraud/config.yaml:1: A: value must be a string"},
		{"a config key that is not a ConfigMap key", func(in *render.Input) { in.Config = []byte("\"A B\": 1\n") }, "key must be letters"},
		{"a config with an alias", func(in *render.Input) { in.Config = []byte("a: &x 1\nb: *x\n") }, "aliases"},
		{"a bad quantity", func(in *render.Input) { in.App.Spec.Resources.Requests["cpu"] = "lots" }, `resources.requests["cpu"]: "lots" is not a Kubernetes quantity`},
		{"an image volume of an artifact by tag", func(in *render.Input) {
			in.Version.Artifact.URI = "oci://registry.example.com/models/fraud:1.0.0"
			in.App.Spec.Runtime = &project.Runtime{Artifact: &v1alpha1.RuntimeArtifact{Via: "imageVolume"}}
		}, `applications/fraud/model.yaml: spec.runtime.artifact: models/fraud/v1.0.0.json: artifact.uri "oci://registry.example.com/models/fraud:1.0.0" is not pinned by digest`},
		{"built-in analyses without marina controller", func(in *render.Input) {
			in.App.Spec.Analysis = &project.AnalysisSpec{Builtin: []analysis.BuiltinMetric{{Name: analysis.ErrorRate, Max: new(0.01)}}}
		}, "applications/fraud/model.yaml: spec.analysis (environment prod) is marina controller's: set spec.backend: marina, or remove it (backend plain would ignore it)"},
		{"a write-back without marina controller", func(in *render.Input) {
			in.App.Spec.WriteBack = &project.WriteBack{SecretRef: "git-credentials"}
		}, "applications/fraud/model.yaml: spec.writeBack (environment prod) is marina controller's: set spec.backend: marina, or remove it (backend plain would ignore it)"},
		{"a write-back in an environment and a router on the kserve backend", func(in *render.Input) {
			in.App.Spec.Backend = project.BackendKServe
			in.App.Spec.Router = &project.Router{}
			e := in.App.Spec.Environments["prod"]
			e.WriteBack = &project.WriteBack{Mode: project.WriteBackPullRequest}
			in.App.Spec.Environments["prod"] = e
		}, "applications/fraud/model.yaml: spec.router, spec.environments.prod.writeBack (environment prod) are marina controller's: set spec.backend: marina, or remove them (backend kserve would ignore them)"},
		{"a write-back pull request in mode commit", func(in *render.Input) {
			in.App.Spec.Backend = project.BackendMarina
			in.App.Spec.WriteBack = &project.WriteBack{SecretRef: "git-credentials", PullRequest: &project.PullRequest{Forge: "gitea"}}
			in.Project.Spec.Repository.URL = "https://git.example.com/platform.git"
		}, "applications/fraud/model.yaml: spec.writeBack.pullRequest goes with mode pr: set spec.writeBack.mode: pr, or remove spec.writeBack.pullRequest"},
		{"a write-back when marina.yaml names no repository", writeBackTo(""), "applications/fraud/model.yaml: spec.writeBack: marina.yaml has no spec.repository.url, the repository marina controller writes an aborted rollout's revert to: set it to this repository's https:// clone URL, or remove spec.writeBack"},
		{"a write-back to an SSH repository", writeBackTo("ssh://git@git.example.com/platform.git"), "applications/fraud/model.yaml: spec.writeBack: marina.yaml spec.repository.url ssh://git@git.example.com/platform.git is not an http(s) URL, and marina controller writes back over HTTP(S) only"},
		{"a write-back to an scp-like SSH repository", writeBackTo("git@git.example.com:platform.git"), "applications/fraud/model.yaml: spec.writeBack: marina.yaml spec.repository.url is not a URL (an scp-like git@host:path is SSH)"},
		{"a write-back to a URL with a token in it", writeBackTo("https://ci:s3cr3t-token@git.example.com/platform.git"), "applications/fraud/model.yaml: spec.writeBack: marina.yaml spec.repository.url carries user information, which would be written into the ModelDeployment: remove it from the URL and put the credentials in the Secret spec.writeBack.secretRef names"},
		{"a built-in analysis with another analysis' threshold", func(in *render.Input) {
			in.App.Spec.Backend = project.BackendMarina
			in.App.Spec.Analysis = &project.AnalysisSpec{Builtin: []analysis.BuiltinMetric{{Name: analysis.ErrorRate, Max: new(0.01)}, {Name: analysis.ShadowAgreement, Max: new(0.9)}}}
		}, "applications/fraud/model.yaml: spec.analysis.builtin[1].max: shadow-agreement takes min, not max"},
		{"an unknown built-in analysis in an environment", func(in *render.Input) {
			in.App.Spec.Backend = project.BackendMarina
			e := in.App.Spec.Environments["prod"]
			e.Analysis = &project.AnalysisSpec{Builtin: []analysis.BuiltinMetric{{Name: "accuracy", Min: new(0.9)}}}
			in.App.Spec.Environments["prod"] = e
		}, `applications/fraud/model.yaml: spec.environments.prod.analysis.builtin[0].name: no built-in analysis "accuracy": use one of error-rate, latency-p99-delta, shadow-agreement`},
		{"a Prometheus address with its scheme written twice", func(in *render.Input) {
			in.App.Spec.Backend = project.BackendMarina
			in.App.Spec.Analysis = &project.AnalysisSpec{Prometheus: &project.Prometheus{Address: "http://http://127.0.0.1:9090"},
				Builtin: []analysis.BuiltinMetric{{Name: analysis.ShadowAgreement, Min: new(0.9)}}}
		}, "applications/fraud/model.yaml: spec.analysis.prometheus.address: prometheus address: want http://host:port or https://host:port"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			in := input(t, cases[0])
			c.edit(&in)
			if _, err := render.Render(in); err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("err = %v, want %q (and no secret)", err, c.want)
			}
		})
	}
}

// writeBackTo turns the write-back on for a backend marina model, with repoURL as marina.yaml's repository.
func writeBackTo(repoURL string) func(*render.Input) {
	return func(in *render.Input) {
		in.App.Spec.Backend = project.BackendMarina
		in.App.Spec.WriteBack = &project.WriteBack{SecretRef: "git-credentials"}
		in.Project.Spec.Repository.URL = repoURL
	}
}

// Whatever marina.yaml's repository URL, render refuses the write-back or writes an http(s) URL without credentials
// into the ModelDeployment.
func FuzzGitWriteBackRepository(f *testing.F) {
	for _, s := range []string{"https://git.example.com/p.git", "http://127.0.0.1:3000/p.git", "ssh://git@git.example.com/p.git",
		"git@git.example.com:p.git", "https://ci:token@git.example.com/p.git", "https://:token@h/p", "https:///p", "", "%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		in := input(t, cases[0])
		writeBackTo(raw)(&in)
		files, err := render.Render(in)
		if err != nil {
			return
		}
		repo, _ := get(objects(t, files)["modeldeployment.yaml"], "spec", "gitWriteBack", "repo").(string)
		if u, err := url.Parse(repo); err != nil || u.User != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			t.Fatalf("rendered gitWriteBack.repo %q from %q", repo, raw)
		}
	})
}

func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{"A: 1\n", "A: [1]\n", "{}", "a: &x 1\nb: *x\n", "- 1\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := render.ParseConfig("config.yaml", data)
		if err == nil && m == nil {
			t.Fatal("nil map without an error")
		}
	})
}

func TestOnlyAnInitContainerPullingFromARegistryVerifiesTheSignature(t *testing.T) {
	t.Parallel()
	signed := cases[0]
	for _, c := range cases {
		if c.name == "plain-oci-signed" {
			signed = c
		}
	}
	for _, tc := range []struct {
		name     string
		edit     func(c *renderCase)
		verifies bool
	}{
		{"an init container pulling an oci:// artifact verifies with marina.yaml's keys", func(*renderCase) {}, true},
		{"without public keys nothing is verified", func(c *renderCase) { c.keys = nil }, false},
		{"an artifact outside a registry has no attached signature to verify", func(c *renderCase) { c.uri = "" }, false},
		{"an image volume runs nothing that could verify", func(c *renderCase) {
			c.app = strings.Replace(c.app, "pullSecret: model-registry", "via: imageVolume", 1)
		}, false},
		{"KServe fetches the artifact itself", func(c *renderCase) { c.app = "\n  backend: kserve" + c.app }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := signed
			tc.edit(&c)
			files, err := render.Render(input(t, c))
			if err != nil {
				t.Fatal(err)
			}
			var all strings.Builder
			for _, f := range files {
				all.Write(f.Data)
			}
			if got := strings.Contains(all.String(), "--verify-key"); got != tc.verifies || strings.Contains(all.String(), "signing-keys") != tc.verifies {
				t.Fatalf("verifies = %v, want %v:\n%s", got, tc.verifies, all.String())
			}
		})
	}
}
