package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/repo/repotest"
)

// TestTheExampleWorksInPlaceBelowTheGitTop runs marina on a model repository kept in a directory of a larger Git
// repository, as examples/ml-platform is in marina's own (`marina --repo examples/ml-platform …`): reads, a
// register, a promote, history and ci all see the directory as the repository, and Git gets the files under it.
func TestTheExampleWorksInPlaceBelowTheGitTop(t *testing.T) {
	t.Parallel()
	example := repotest.Example(t, nil)
	files := map[string]string{"README.md": "a monorepo\n", "marina.yaml": "# not a marina project: the example's is below\n"}
	err := filepath.WalkDir(example, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			if d != nil && d.Name() == ".git" {
				return filepath.SkipDir
			}
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(example, p)
		files["examples/ml-platform/"+filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	top := repotest.Dir(t, files)
	dir := filepath.Join(top, "examples", "ml-platform")

	if out := mustMarina(t, "--repo", dir, "validate"); !strings.Contains(out, "0 errors") {
		t.Fatalf("validate:\n%s", out)
	}
	if out := mustMarina(t, "--repo", dir, "model", "list"); !strings.Contains(out, "iris-classifier") {
		t.Fatalf("model list:\n%s", out)
	}
	artifact := filepath.Join(dir, "models", "iris-classifier", "artifacts", "v1.1.0.onnx")
	if err := os.WriteFile(artifact, []byte(files["examples/ml-platform/models/iris-classifier/artifacts/v1.0.0.onnx"]), 0o644); err != nil {
		t.Fatal(err)
	}
	repotest.Git(t, top, "add", artifact) // register records the path; the artifact is committed by the user
	repotest.Git(t, top, "commit", "-q", "-m", "artifact")
	mustMarina(t, "--repo", dir, "model", "register", "iris-classifier", "--file", artifact, "--version", "1.1.0", "--metric", "accuracy=0.98", "--metric", "latency_p95_ms=5")
	mustMarina(t, "--repo", dir, "promote", "iris-classifier@1.1.0", "--env", "staging")
	if got := repotest.Git(t, top, "show", "--name-only", "--format=", "HEAD"); !strings.Contains(got, "examples/ml-platform/applications/iris-classifier/model.yaml") {
		t.Fatalf("the promote commit's files are not under the example:\n%s", got)
	}
	if got := repotest.Git(t, top, "ls-tree", "--name-only", "HEAD"); got != "README.md\nexamples\nmarina.yaml" {
		t.Fatalf("files outside the example changed; the top of the tree is:\n%s", got)
	}
	repotest.Clean(t, top)
	if out := mustMarina(t, "--repo", dir, "history", "iris-classifier", "--env", "staging"); !strings.Contains(out, "1.1.0") {
		t.Fatalf("history does not show the promote:\n%s", out)
	}
	if out := mustMarina(t, "--repo", filepath.Join(dir, "models"), "status"); !strings.Contains(out, "1.1.0") {
		t.Fatalf("status, run from below the marina root, does not show the promote:\n%s", out)
	}
	if out := mustMarina(t, "--repo", dir, "ci", "--base", "HEAD~3", "--checks", "off"); !strings.Contains(out, "iris-classifier") {
		t.Fatalf("ci does not see the register and the promote:\n%s", out)
	}
}
