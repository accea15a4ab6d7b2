package repotest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/internal/source"
)

// Project is a marina.yaml with staging and prod, prod requiring staging.
const Project = `apiVersion: marina.dev/v1alpha1
kind: Project
metadata:
  name: test
spec:
  repository:
    url: https://git.example.com/test.git
    branch: main
  environments:
    - name: staging
      namespace: models-staging
    - name: prod
      namespace: models-prod
      requires: [staging]
`

// Dir makes a Git repository in a temporary directory whose first commit holds files
// (marina.yaml defaults to Project), and returns its path.
func Dir(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.Main}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := files["marina.yaml"]; !ok {
		files = copyWith(files, "marina.yaml", Project)
	}
	r, err := repo.OpenGit(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	unlock, err := r.Lock()
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	var changes []repo.Change
	for p, c := range files {
		changes = append(changes, repo.Change{Path: p, Data: []byte(c)})
	}
	if _, err := r.Commit(repo.Commit{Message: "initial", Changes: changes}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Open opens the repository at dir and takes its write lock for the test.
func Open(t testing.TB, dir string) *repo.Repo {
	t.Helper()
	r, err := repo.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := r.Lock()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unlock(); r.Close() })
	return r
}

// Git runs the git CLI in dir and returns its trimmed output, failing the test on error.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.com", "GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// Clean fails the test when the Git work tree at dir has uncommitted changes or untracked files.
func Clean(t testing.TB, dir string) {
	t.Helper()
	if got := Git(t, dir, "status", "--porcelain"); got != "" {
		t.Fatalf("work tree %s not clean (git status --porcelain):\n%s", dir, got)
	}
}

// SetIdentity makes the git commits of the rest of the test — the git CLI's and marina's, which reads the same
// variables — authored and committed by name <name@marina.dev>.
func SetIdentity(t testing.TB, name string) {
	t.Helper()
	for _, v := range []string{"GIT_AUTHOR", "GIT_COMMITTER"} {
		t.Setenv(v+"_NAME", name)
		t.Setenv(v+"_EMAIL", name+"@marina.dev")
	}
}

// Publish puts the clone work on a Git server: a bare copy at bare (a repository under ServeGit's root, whose URL
// is url) that takes anonymous pushes, made work's origin with main tracking it — as a team pushes a new
// repository to its forge.
func Publish(t testing.TB, work, bare, url string) {
	t.Helper()
	Git(t, work, "clone", "-q", "--bare", work, bare)
	Git(t, bare, "config", "http.receivepack", "true")
	Git(t, work, "remote", "add", "origin", url)
	Git(t, work, "fetch", "-q", "origin")
	Git(t, work, "branch", "-q", "--set-upstream-to=origin/main")
}

// WriteFile writes a file into the work tree without committing it.
func WriteFile(t testing.TB, dir, rel, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ReadFile returns the content of a file of the work tree.
func ReadFile(t testing.TB, dir, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func copyWith(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for kk, vv := range m {
		out[kk] = vv
	}
	return out
}

// ExamplePath is the path of examples/ml-platform in the source tree at or above the test's working directory.
func ExamplePath() string {
	root, err := source.FindRootFromWorkingDir()
	if err != nil {
		panic("repotest.ExamplePath: " + err.Error())
	}
	return filepath.Join(root, "examples", "ml-platform")
}

// Example copies examples/ml-platform, with extra files added or replaced, into a new
// Git repository whose first commit holds them all, and returns its path.
func Example(t testing.TB, extra map[string]string) string {
	t.Helper()
	root := ExamplePath()
	files := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range extra {
		files[k] = v
	}
	return Dir(t, files)
}
