//go:build !failpoints

package repo_test

import (
	"testing"

	"github.com/marina-dev/marina/internal/repo/repotest"
)

func TestAReleaseBuildIgnoresMARINA_FAILPOINT(t *testing.T) {
	t.Parallel()
	for _, fp := range []string{"objects-written", "journal-written", "ref-updated", "tag-written", "worktree-file-written", "index-written"} {
		t.Run(fp, func(t *testing.T) {
			t.Parallel()
			dir := repotest.Dir(t, map[string]string{"README.md": "hi\n"})
			if err := commitInChild(t, dir, []string{"MARINA_FAILPOINT=" + fp}); err != nil {
				t.Fatalf("a build without the failpoints tag stopped at failpoint %s: %v", fp, err)
			}
			if got := repotest.Git(t, dir, "status", "--porcelain"); got != "" {
				t.Fatalf("the commit did not finish; git status:\n%s", got)
			}
		})
	}
}
