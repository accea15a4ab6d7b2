//go:build e2e

package crash

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/marina-dev/marina/internal/repo/repotest"
)

// TestConcurrentPromotePushesOnOneRemoteLoseAndDuplicateNothing has several people promote different models at
// once, each from their own clone, to one remote served by git http-backend. Every promotion must land on the
// remote exactly once: marina re-applies a change whose push the remote rejected on the new remote head, and a
// run that still fails says so with exit 1 (then the person pulls and runs again).
func TestConcurrentPromotePushesOnOneRemoteLoseAndDuplicateNothing(t *testing.T) {
	const rounds, people = 4, 5
	var firstTry, reapplied, conflicts, attempts int
	for round := range rounds {
		base := repotest.Dir(t, nil)
		f := artifact(t)
		for i := range people {
			run(t, base, "", "model", "register", fmt.Sprintf("m%d", i), "--file", f, "--version", "1.0.0", "--uri", "s3://b/m")
		}
		root := t.TempDir()
		repotest.Git(t, root, "clone", "-q", "--bare", base, filepath.Join(root, "r.git"))
		repotest.Git(t, filepath.Join(root, "r.git"), "config", "http.receivepack", "true")
		url := repotest.ServeGit(t, root, repotest.GitAuth{}).URL + "/r.git"
		clones := make([]string, people)
		for i := range clones {
			clones[i] = filepath.Join(t.TempDir(), "clone")
			repotest.Git(t, filepath.Dir(clones[i]), "clone", "-q", url, clones[i])
		}
		type result struct {
			tries, conflicts int
			reapplied        bool
			err              string
		}
		results := make([]result, people)
		var wg sync.WaitGroup
		for i := range people {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res := &results[i]
				for res.tries < 10 {
					res.tries++
					cmd := exec.Command(marina, "--repo", clones[i], "promote", fmt.Sprintf("m%d@1.0.0", i), "--env", "staging", "--push")
					cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com")
					out, err := cmd.CombinedOutput()
					if err == nil {
						res.reapplied = strings.Contains(string(out), "after re-applying")
						return
					}
					if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), "nothing is left unpushed") {
						res.err = fmt.Sprintf("try %d: %v\n%s", res.tries, err, out)
						return
					}
					res.conflicts++
					if !strings.Contains(string(out), "git pull --rebase") {
						continue // the remote kept moving while marina re-applied: run again, as the message says
					}
					pull := exec.Command("git", "pull", "-q", "--rebase", "origin", "main")
					pull.Dir = clones[i]
					pull.Env = append(os.Environ(), "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
					if out, err := pull.CombinedOutput(); err != nil {
						res.err = fmt.Sprintf("git pull --rebase: %v\n%s", err, out)
						return
					}
				}
				res.err = "still not pushed after 10 tries"
			}()
		}
		wg.Wait()
		for i, res := range results {
			if res.err != "" {
				t.Fatalf("round %d, person %d: %s", round, i, res.err)
			}
			attempts += res.tries
			conflicts += res.conflicts
			switch {
			case res.reapplied:
				reapplied++
			case res.tries == 1:
				firstTry++
			}
		}
		log := repotest.Git(t, filepath.Join(root, "r.git"), "log", "--format=%s", "main")
		for i := range people {
			if n := strings.Count(log, fmt.Sprintf("promote: m%d ", i)); n != 1 {
				t.Fatalf("round %d: m%d promoted %d times on the remote (want 1: lost or duplicated):\n%s", round, i, n, log)
			}
		}
		if got := repotest.Git(t, filepath.Join(root, "r.git"), "show", "main:applications/m0/model.yaml"); !strings.Contains(got, "version: 1.0.0") {
			t.Fatalf("round %d: m0's model.yaml on the remote:\n%s", round, got)
		}
	}
	t.Logf("push race: %d promotions by %d concurrent people in %d rounds, %d marina runs; pushed at once %d, re-applied on the moved remote by marina %d, exit-1 refusals (remote kept moving, or diverged) resolved by running again %d; lost 0, duplicated 0",
		rounds*people, people, rounds, attempts, firstTry, reapplied, conflicts)
}

// TestAGitCommandAfterAKillAtRefUpdatedIsReportedAsPublished: the commit was published before the kill, so the
// next marina command must not call it discarded, even when a git commit moved the branch on in between.
func TestAGitCommandAfterAKillAtRefUpdatedIsReportedAsPublished(t *testing.T) {
	t.Parallel()
	dir := repotest.Dir(t, nil)
	old := repotest.Git(t, dir, "rev-parse", "HEAD")
	if ps, _ := run(t, dir, "ref-updated", "model", "register", "m", "--file", artifact(t), "--version", "1.0.0", "--uri", "s3://b/m"); !killed(ps) {
		t.Fatalf("marina was not killed at ref-updated (exit %v)", ps)
	}
	published := repotest.Git(t, dir, "rev-parse", "HEAD")
	if published == old {
		t.Fatal("the commit was not published before the kill")
	}
	repotest.Git(t, dir, "commit", "-q", "--allow-empty", "-m", "someone else's commit")
	_, out := run(t, dir, "", "model", "list")
	if strings.Contains(out, "discarded") || !strings.Contains(out, "had published its commit") {
		t.Fatalf("recovery message after a published commit and a git commit:\n%s", out)
	}
	if got := repotest.Git(t, dir, "rev-parse", "m@v1.0.0^{commit}"); got != published {
		t.Fatalf("tag m@v1.0.0 at %s, want the published commit %s", got, published)
	}
}
