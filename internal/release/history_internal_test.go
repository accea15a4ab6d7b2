package release

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/internal/repo/repotest"
	"github.com/marina-dev/marina/schemas"
)

// gitLogHistory is what History read before Histories walked the log once for every model: go-git's log of the
// one file, each commit it lists compared with its first parent. It is the oracle Histories must agree with.
func gitLogHistory(t *testing.T, r *repo.Repo, model string) []Change {
	t.Helper()
	_, head, err := r.Head()
	if err != nil {
		t.Fatal(err)
	}
	file := r.GitPath(project.ApplicationPath(model))
	iter, err := r.Git().Log(&git.LogOptions{From: head, FileName: &file, Order: git.LogOrderCommitterTime})
	if err != nil {
		t.Fatal(err)
	}
	var out []Change
	versionsAt := func(c *object.Commit) map[string]string {
		f, err := c.File(file)
		if err != nil || f.Size > schemas.MaxFileSize {
			return nil
		}
		data, err := f.Contents()
		if err != nil {
			return nil
		}
		return versions(file, []byte(data))
	}
	if err := iter.ForEach(func(c *object.Commit) error {
		var before map[string]string
		if p, err := c.Parent(0); err == nil {
			before = versionsAt(p)
		}
		out = append(out, versionChanges(c, before, versionsAt(c))...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestHistoriesAgreeWithGitLogOfEachFile builds a history with what a model repository lives through — branches
// merged with commits interleaved in time, hand edits, a model.yaml deleted and added back, a model directory
// renamed, replaced by a file, a mode change, commits elsewhere — below a monorepo prefix, and wants Histories to
// list for every model exactly what git log of its model.yaml gives.
func TestHistoriesAgreeWithGitLogOfEachFile(t *testing.T) {
	t.Parallel()
	top := t.TempDir()
	root := filepath.Join(top, "ml")
	clock := 0
	run := func(args ...string) {
		t.Helper()
		clock++
		cmd := exec.Command("git", args...)
		cmd.Dir = top
		date := fmt.Sprintf("2026-01-01T00:%02d:00Z", clock)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@example.com",
			"GIT_COMMITTER_NAME=c", "GIT_COMMITTER_EMAIL=c@example.com", "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	write := func(rel, content string) { repotest.WriteFile(t, root, rel, content) }
	app := func(model string, versions map[string]string) {
		t.Helper()
		s := "apiVersion: marina.dev/v1alpha1\nkind: ModelApplication\nmetadata:\n  name: " + model + "\nspec:\n  model: " + model + "\n  environments:\n"
		for _, env := range []string{"staging", "prod"} {
			if v, ok := versions[env]; ok {
				s += "    " + env + ":\n      version: " + v + "\n"
			}
		}
		write(project.ApplicationPath(model), s)
	}
	commit := func(msg string) { run("add", "-A"); run("commit", "-qm", msg) }

	run("init", "-q", "-b", "main")
	write("../README.md", "not marina's\n")
	commit("the repository before marina")
	write("marina.yaml", "kind: Project\n")
	app("a", map[string]string{"staging": "1.0.0"})
	app("b", map[string]string{"staging": "1.0.0", "prod": "1.0.0"})
	commit("a and b")
	run("checkout", "-q", "-b", "feature")
	app("a", map[string]string{"staging": "1.1.0"})
	commit("feature: a 1.1.0 in staging")
	run("checkout", "-q", "main")
	app("b", map[string]string{"staging": "1.1.0", "prod": "1.0.0"})
	commit("main: b 1.1.0 in staging")
	run("checkout", "-q", "feature")
	app("c", map[string]string{"prod": "2.0.0"})
	write("applications/c/staging/deployment.yaml", "rendered\n")
	commit("feature: c")
	run("checkout", "-q", "main")
	write("../README.md", "still not marina's\n")
	commit("elsewhere")
	run("merge", "-q", "--no-ff", "-m", "merge feature", "feature")
	app("a", map[string]string{"staging": "1.1.0", "prod": "1.1.0"})
	commit("a 1.1.0 in prod")
	run("rm", "-q", filepath.Join("ml", "applications", "b", "model.yaml"))
	commit("b removed")
	app("b", map[string]string{"prod": "1.2.0"})
	commit("b back")
	run("mv", filepath.Join("ml", "applications", "c"), filepath.Join("ml", "applications", "d"))
	commit("c renamed d")
	if err := os.Chmod(filepath.Join(root, "applications", "a", "model.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	commit("a's model.yaml executable")
	run("rm", "-rq", filepath.Join("ml", "applications", "d"))
	write("applications/d", "a file where a model was\n")
	commit("d is a file")

	r, err := repo.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	models := []string{"a", "b", "c", "d", "nope"}
	all, err := Histories(r, models)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range models {
		want := gitLogHistory(t, r, m)
		if !reflect.DeepEqual(all[m], want) {
			t.Errorf("model %s:\nHistories %+v\ngit log   %+v", m, all[m], want)
		}
		if one, err := History(r, m, ""); err != nil || !reflect.DeepEqual(one, want) {
			t.Errorf("History(%s) = %+v, %v\nwant %+v", m, one, err, want)
		}
	}
	// Not only agreeing, but with what the commits above did (the merge lists a's and c's change again, against
	// its first parent, as git log does).
	for m, n := range map[string]int{"a": 4, "b": 6, "c": 3, "d": 2, "nope": 0} {
		if len(all[m]) != n {
			t.Errorf("model %s: %d changes, want %d: %+v", m, len(all[m]), n, all[m])
		}
	}
}
