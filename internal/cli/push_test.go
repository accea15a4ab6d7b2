package cli_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/repo/repotest"
)

func TestPromoteOnABranchPushesItToTheRemote(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "ml")
	mustMarina(t, "init", dir)
	remote := filepath.Join(t.TempDir(), "remote.git")
	repotest.Git(t, filepath.Dir(remote), "init", "-q", "--bare", remote)
	repotest.Git(t, dir, "remote", "add", "origin", remote)
	f := filepath.Join(t.TempDir(), "m.onnx")
	writeIrisModel(t, f)
	mustMarina(t, "--repo", dir, "model", "register", "iris", "--file", f+"1.0.0", "--uri", "s3://models/iris/1.0.0", "--version", "1.0.0")
	head := repotest.Git(t, dir, "rev-parse", "HEAD")

	out := mustMarina(t, "--repo", dir, "promote", "iris@1.0.0", "--env", "staging", "--branch", "promote-iris-1.0.0", "--push")
	if !strings.Contains(out, "on branch promote-iris-1.0.0") {
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
