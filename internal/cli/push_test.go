package cli_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/repo/repotest"
)

func TestPromoteOnABranchPushesItToTheRemote(t *testing.T) {
	t.Parallel()
	dir, f := initIris(t)
	remote := filepath.Join(t.TempDir(), "remote.git")
	repotest.Git(t, filepath.Dir(remote), "init", "-q", "--bare", remote)
	repotest.Git(t, dir, "remote", "add", "origin", remote)
	mustMarina(t, "--repo", dir, "model", "register", "iris", "--file", f+"1.0.0", "--uri", "s3://models/iris/1.0.0", "--version", "1.0.0")
	head := repotest.Git(t, dir, "rev-parse", "HEAD")

	out := mustMarina(t, "--repo", dir, "promote", "iris@1.0.0", "--env", "staging", "--branch", "promote-iris-1.0.0", "--push")
	if !strings.Contains(out, "on branch promote-iris-1.0.0") || !strings.Contains(out, "pushed promote-iris-1.0.0 to origin ("+remote+")") {
		t.Fatalf("output: %s", out)
	}
	if got := repotest.Git(t, dir, "rev-parse", "HEAD"); got != head {
		t.Fatal("the current branch moved")
	}
	pushed := repotest.Git(t, remote, "rev-parse", "promote-iris-1.0.0")
	if local := repotest.Git(t, dir, "rev-parse", "promote-iris-1.0.0"); pushed != local {
		t.Fatalf("remote has %s, local branch %s", pushed, local)
	}
	if got := repotest.Git(t, remote, "show", "promote-iris-1.0.0:applications/iris/model.yaml"); !strings.Contains(got, "staging:\n      version: 1.0.0") {
		t.Fatalf("pushed model.yaml:\n%s", got)
	}
	if got := repotest.Git(t, remote, "rev-parse", "promote-iris-1.0.0~1"); got != head {
		t.Fatalf("branch parent %s, want %s", got, head)
	}

	code, _, errOut := marina(t, "--repo", dir, "promote", "iris@1.0.0", "--env", "staging", "--push", "--remote", "nowhere")
	if code != 2 || !strings.Contains(errOut, `--remote "nowhere"`) {
		t.Fatalf("push to a missing remote: exit %d %s", code, errOut)
	}
	if got := repotest.Git(t, dir, "rev-parse", "HEAD"); got != head {
		t.Fatal("committed although the push could not happen")
	}
}

// pushFixture is a repository with models a and b registered and pushed to a bare remote, and a second
// clone of that remote: two people working on one model repository.
func pushFixture(t *testing.T) (mine, theirs, remote string) {
	t.Helper()
	mine, f := initIris(t)
	remote = filepath.Join(t.TempDir(), "remote.git")
	repotest.Git(t, filepath.Dir(remote), "init", "-q", "--bare", "-b", "main", remote)
	repotest.Git(t, mine, "remote", "add", "origin", remote)
	for _, m := range []string{"a", "b"} {
		mustMarina(t, "--repo", mine, "model", "register", m, "--file", f+"1.0.0", "--uri", "s3://models/"+m, "--version", "1.0.0")
	}
	repotest.Git(t, mine, "push", "-q", "origin", "main")
	theirs = filepath.Join(t.TempDir(), "theirs")
	repotest.Git(t, filepath.Dir(theirs), "clone", "-q", remote, theirs)
	return mine, theirs, remote
}

func TestARejectedPushIsReappliedOnTheRemoteHeadAndPushed(t *testing.T) {
	t.Parallel()
	mine, theirs, remote := pushFixture(t)
	mustMarina(t, "--repo", theirs, "promote", "b@1.0.0", "--env", "staging", "--push")
	code, out, errOut := marina(t, "--repo", mine, "promote", "a@1.0.0", "--env", "staging", "--push")
	if code != 0 || !strings.Contains(out, "after re-applying the change on origin/main") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if local, pushed := repotest.Git(t, mine, "rev-parse", "HEAD"), repotest.Git(t, remote, "rev-parse", "main"); local != pushed {
		t.Fatalf("local %s, remote %s", local, pushed)
	}
	// Both promotions are on the remote, once each, and the work tree is clean.
	log := repotest.Git(t, remote, "log", "--format=%s", "main")
	for _, m := range []string{"a", "b"} {
		if n := strings.Count(log, "promote: "+m+" "); n != 1 {
			t.Errorf("%d commits promoting %s on the remote:\n%s", n, m, log)
		}
	}
	repotest.Clean(t, mine)
}

func TestARejectedPushOnADivergedBranchTakesTheCommitBackAndSaysWhatToDo(t *testing.T) {
	t.Parallel()
	mine, theirs, remote := pushFixture(t)
	mustMarina(t, "--repo", theirs, "promote", "b@1.0.0", "--env", "staging", "--push")
	repotest.WriteFile(t, mine, "NOTES.md", "local only\n")
	repotest.Git(t, mine, "add", "NOTES.md")
	repotest.Git(t, mine, "commit", "-q", "-m", "a local commit the remote lacks")
	before := repotest.Git(t, mine, "rev-parse", "HEAD")
	code, out, errOut := marina(t, "--repo", mine, "promote", "a@1.0.0", "--env", "staging", "--push")
	if code != 1 || !strings.Contains(errOut, "git pull --rebase origin main") || !strings.Contains(errOut, "nothing is left unpushed") || strings.Contains(errOut, "command error") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if got := repotest.Git(t, mine, "rev-parse", "HEAD"); got != before {
		t.Fatalf("HEAD %s, want it back at %s", got, before)
	}
	if got := repotest.Git(t, mine, "status", "--porcelain"); got != "" {
		t.Fatalf("work tree not clean after taking the commit back:\n%s", got)
	}
	repotest.Git(t, mine, "pull", "-q", "--rebase", "origin", "main")
	mustMarina(t, "--repo", mine, "promote", "a@1.0.0", "--env", "staging", "--push")
	if got := repotest.Git(t, remote, "show", "main:applications/a/model.yaml"); !strings.Contains(got, "version: 1.0.0") {
		t.Fatalf("promotion not on the remote after pull --rebase and a re-run:\n%s", got)
	}
}

func TestPushOnAnAlreadyAppliedChangePushesWhatTheRemoteLacks(t *testing.T) {
	t.Parallel()
	mine, _, remote := pushFixture(t)
	// A run killed between commit and push leaves the same state as one run without --push.
	mustMarina(t, "--repo", mine, "promote", "a@1.0.0", "--env", "staging")
	out := mustMarina(t, "--repo", mine, "promote", "a@1.0.0", "--env", "staging", "--push")
	if !strings.Contains(out, "nothing to commit; pushed main to origin") {
		t.Fatalf("output: %s", out)
	}
	if local, pushed := repotest.Git(t, mine, "rev-parse", "HEAD"), repotest.Git(t, remote, "rev-parse", "main"); local != pushed {
		t.Fatalf("local %s, remote %s: the retry did not push", local, pushed)
	}
}
