package examples_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/registry"
	"github.com/marina-dev/marina/internal/release"
	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/internal/repo/repotest"
	"github.com/marina-dev/marina/internal/scaffold"
)

// exampleRepo copies ml-platform into a Git repository in a temporary directory.
func exampleRepo(t *testing.T) *repo.Repo {
	t.Helper()
	return repotest.Open(t, repotest.Example(t, nil))
}

func TestExampleScaffoldIsWhatInitWrites(t *testing.T) {
	t.Parallel()
	files, err := scaffold.Files(scaffold.Options{Name: "ml-platform", Envs: []string{"staging", "prod"}, Engine: "both", CI: "both", RepoURL: "https://git.example.com/ml-platform.git", Branch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasPrefix(f.Path, "gitops/flux/apps/") {
			continue // render maintains these indexes as models are deployed
		}
		got, err := os.ReadFile(filepath.Join("ml-platform", filepath.FromSlash(f.Path)))
		if err != nil {
			t.Errorf("%s: %v (run make generate)", f.Path, err)
			continue
		}
		if f.Path == "marina.yaml" {
			// The one rule hack/gen-example.sh turns off: no release of marina's image exists to pin yet.
			f.Data = []byte(strings.Replace(string(f.Data), "      requireDigestPinnedImages: true\n",
				"      # requireDigestPinnedImages: true  (marina init writes it; pin runtime.image by digest, then restore it)\n", 1))
		}
		if !bytes.Equal(got, f.Data) {
			t.Errorf("%s differs from what marina init writes now (run make generate)", f.Path)
		}
	}
}

func TestExampleModelsAreRegisteredWithTheirTrueDigests(t *testing.T) {
	t.Parallel()
	r := exampleRepo(t)
	versions, err := (&registry.Registry{Repo: r}).List("")
	if err != nil {
		t.Fatal(err)
	}
	gpu := false
	for _, v := range versions {
		digest, size, err := model.DigestFile(filepath.Join("ml-platform", filepath.FromSlash(v.Artifact.URI)))
		if err != nil {
			t.Fatalf("%s@%s: artifact %s: %v", v.Name, v.Version, v.Artifact.URI, err)
		}
		if digest != v.Artifact.Digest || size != v.Artifact.Size {
			t.Errorf("%s@%s: metadata says %s (%d bytes), file is %s (%d bytes)", v.Name, v.Version, v.Artifact.Digest, v.Artifact.Size, digest, size)
		}
		if v.Format != "onnx" || v.Signature == nil || v.Signature.Opset != 17 {
			t.Errorf("%s@%s: not recorded as an opset-17 ONNX model: %+v", v.Name, v.Version, v.Signature)
		}
		gpu = gpu || v.Name == "vision-gpu"
	}
	if len(versions) != 2 || !gpu {
		t.Fatalf("want the CPU classifier and the GPU model, got %d versions", len(versions))
	}
}

func TestExampleApplicationsDeployRegisteredVersions(t *testing.T) {
	t.Parallel()
	r := exampleRepo(t)
	for _, m := range []string{"iris-classifier", "vision-gpu"} {
		hist, err := release.History(r, m, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) == 0 {
			t.Fatalf("%s deploys nothing", m)
		}
		for _, c := range hist {
			if _, err := (&registry.Registry{Repo: r}).Get(m, c.To); err != nil {
				t.Errorf("%s in %s: %v", m, c.Environment, err)
			}
		}
	}
	gpuApp, _ := os.ReadFile("ml-platform/applications/vision-gpu/model.yaml")
	for _, want := range []string{"nvidia.com/gpu: \"1\"", "tolerations:", "nodeSelector:"} {
		if !strings.Contains(string(gpuApp), want) {
			t.Errorf("the GPU application lacks %s", want)
		}
	}
}

func TestExampleArtifactsAreWhatTheGeneratorWrites(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	cmd := exec.Command("go", "run", "github.com/marina-dev/marina/hack/genmodels", "-out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("genmodels: %v\n%s", err, b)
	}
	for gen, committed := range map[string]string{
		"iris-classifier-v1.onnx": "models/iris-classifier/artifacts/v1.0.0.onnx",
		"vision-gpu.onnx":         "models/vision-gpu/artifacts/v1.0.0.onnx",
		"iris-eval.csv":           "models/iris-classifier/eval/iris.csv",
	} {
		a, _ := os.ReadFile(filepath.Join(out, gen))
		b, _ := os.ReadFile(filepath.Join("ml-platform", committed))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s is not what hack/genmodels writes as %s (run make generate)", committed, gen)
		}
	}
}
