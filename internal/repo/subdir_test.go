package repo_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/internal/repo/repotest"
)

// TestAMarinaRootBelowTheGitWorkTreeTop opens a model repository kept in a directory of a larger Git repository
// (a monorepo, or examples/ml-platform in marina's own): paths are relative to the directory with marina.yaml,
// Git sees them under it, and files outside it are left alone.
func TestAMarinaRootBelowTheGitWorkTreeTop(t *testing.T) {
	t.Parallel()
	dir := repotest.Dir(t, map[string]string{
		"marina.yaml":              "not the one: the top's marina.yaml belongs to another project\n",
		"platform/marina.yaml":     repotest.Project,
		"platform/models/a/x.json": "{}\n",
		"README.md":                "monorepo\n",
	})
	// Opened from below the marina root, as git finds its repository.
	r := repotest.Open(t, filepath.Join(dir, "platform", "models", "a"))
	if want := filepath.Join(dir, "platform"); r.Root != want {
		t.Fatalf("Root = %s, want %s", r.Root, want)
	}
	if got := r.GitPath("models/a/x.json"); got != "platform/models/a/x.json" {
		t.Fatalf("GitPath = %s", got)
	}
	if b, err := r.ReadFile("models/a/x.json", 100); err != nil || string(b) != "{}\n" {
		t.Fatalf("ReadFile = %q, %v", b, err)
	}
	h, err := r.Commit(repo.Commit{Message: "m", Changes: []repo.Change{
		{Path: "models/a/v1.0.0.json", Data: []byte("{\"v\":1}\n")},
		{Path: "models/a/x.json", Delete: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := repotest.Git(t, dir, "show", "HEAD:platform/models/a/v1.0.0.json"); got != `{"v":1}` {
		t.Fatalf("committed content %q", got)
	}
	if got := repotest.Git(t, dir, "ls-tree", "-r", "--name-only", "HEAD"); got != "README.md\nmarina.yaml\nplatform/marina.yaml\nplatform/models/a/v1.0.0.json" {
		t.Fatalf("tree:\n%s", got)
	}
	repotest.Clean(t, dir)
	if _, err := os.Stat(filepath.Join(dir, "platform", "models", "a", "v1.0.0.json")); err != nil {
		t.Fatalf("the work-tree file is not under the marina root: %v", err)
	}
	c, err := r.Git().CommitObject(h)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := r.Tree(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.File("models/a/v1.0.0.json"); err != nil {
		t.Fatalf("Tree is not the marina root's: %v", err)
	}
	if _, err := tree.File("README.md"); !errors.Is(err, object.ErrFileNotFound) {
		t.Fatalf("Tree holds a file above the marina root: %v", err)
	}

	// An edit under the marina root, uncommitted, is refused by its path in Git.
	repotest.WriteFile(t, dir, "platform/models/a/v1.0.0.json", "edited\n")
	if _, err := r.Commit(repo.Commit{Message: "m2", Changes: []repo.Change{{Path: "models/a/v1.0.0.json", Data: []byte("{}\n")}}}); !errors.Is(err, repo.ErrDirty) {
		t.Fatalf("commit over an uncommitted edit: %v, want ErrDirty", err)
	}
}

func TestOpenFindsNoMarinaRootBetweenStartAndTheGitTop(t *testing.T) {
	t.Parallel()
	dir := repotest.Dir(t, map[string]string{"marina.yaml": repotest.Project})
	repotest.Git(t, dir, "rm", "-q", "marina.yaml")
	repotest.Git(t, dir, "commit", "-q", "-m", "no project")
	sub := filepath.Join(dir, "a", "b")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Open(sub); !errors.Is(err, repo.ErrNotRepo) {
		t.Fatalf("Open = %v, want ErrNotRepo", err)
	}
}
