package repo_test

import (
	"testing"

	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/internal/repo/repotest"
)

func TestCommitUsesTheRepoAuthorOverTheEnvironment(t *testing.T) {
	t.Setenv("GIT_AUTHOR_NAME", "from-env")
	t.Setenv("GIT_AUTHOR_EMAIL", "env@example.com")
	dir := repotest.Dir(t, map[string]string{"README.md": "hi\n"})
	r := repotest.Open(t, dir)
	r.Author = object.Signature{Name: "marina-controller", Email: "marina@localhost"}
	if _, err := r.Commit(repo.Commit{Message: "by the controller", Changes: []repo.Change{{Path: "README.md", Data: []byte("bye\n")}}}); err != nil {
		t.Fatal(err)
	}
	if got := repotest.Git(t, dir, "log", "-1", "--format=%an <%ae> / %cn <%ce>"); got != "marina-controller <marina@localhost> / marina-controller <marina@localhost>" {
		t.Fatalf("author / committer = %q", got)
	}
}
