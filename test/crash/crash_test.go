//go:build e2e

package crash

import (
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/marina-dev/marina/internal/repo/repotest"
)

// The named points in internal/repo where a commit can be interrupted, in order.
var failpoints = []string{"objects-written", "journal-written", "ref-updated", "tag-written", "worktree-file-written", "index-written"}

type operation struct {
	name string
	// setup prepares a repository and returns the command line to run in it.
	setup func(t *testing.T, dir string) []string
	// committed checks that HEAD holds the operation's whole change.
	committed func(t *testing.T, dir string)
	// finished checks what is published after the commit (tags), once recovery ran.
	finished func(t *testing.T, dir string)
	// usesTags is true when the operation creates tags (so tag-written is reached).
	usesTags bool
}

func artifact(t *testing.T) string {
	f := filepath.Join(t.TempDir(), "model.bin")
	if err := os.WriteFile(f, []byte("weights"), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

var operations = []operation{
	{
		name:     "register",
		usesTags: true,
		setup: func(t *testing.T, dir string) []string {
			return []string{"model", "register", "m", "--file", artifact(t), "--version", "1.0.0", "--uri", "s3://b/m"}
		},
		committed: func(t *testing.T, dir string) {
			if !strings.Contains(repotest.Git(t, dir, "show", "HEAD:models/m/v1.0.0.json"), `"version": "1.0.0"`) {
				t.Fatal("metadata missing from HEAD")
			}
		},
		finished: func(t *testing.T, dir string) {
			head := repotest.Git(t, dir, "rev-parse", "HEAD")
			if got := repotest.Git(t, dir, "rev-parse", "m@v1.0.0^{commit}"); got != head {
				t.Fatalf("tag m@v1.0.0 at %s, HEAD %s", got, head)
			}
		},
	},
	{
		name: "promote",
		setup: func(t *testing.T, dir string) []string {
			run(t, dir, "", "model", "register", "m", "--file", artifact(t), "--version", "1.0.0", "--uri", "s3://b/m")
			return []string{"promote", "m@1.0.0", "--env", "staging"}
		},
		finished: func(*testing.T, string) {},
		committed: func(t *testing.T, dir string) {
			if !strings.Contains(repotest.Git(t, dir, "show", "HEAD:applications/m/model.yaml"), "staging:\n      version: 1.0.0") {
				t.Fatal("promotion missing from HEAD")
			}
			if !strings.Contains(repotest.Git(t, dir, "show", "HEAD:models/m/v1.0.0.json"), `"state": "active"`) {
				t.Fatal("version not marked active in the same commit")
			}
		},
	},
}

// run runs marina in dir with MARINA_FAILPOINT=fp and returns the process state and its output.
func run(t *testing.T, dir, fp string, args ...string) (*os.ProcessState, string) {
	t.Helper()
	cmd := exec.Command(marina, append([]string{"--repo", dir}, args...)...)
	cmd.Env = append(os.Environ(), "MARINA_FAILPOINT="+fp, "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	if fp == "" && err != nil {
		t.Fatalf("marina %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return cmd.ProcessState, string(out)
}

func killed(ps *os.ProcessState) bool {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// checkNoHalfState asserts HEAD is the old commit or one new commit holding the whole change.
func checkNoHalfState(t *testing.T, dir, old string, op operation) {
	t.Helper()
	repotest.Git(t, dir, "fsck", "--no-dangling")
	head := repotest.Git(t, dir, "rev-parse", "HEAD")
	if head == old {
		return
	}
	if parent := repotest.Git(t, dir, "rev-parse", "HEAD~1"); parent != old {
		t.Fatalf("HEAD %s is neither the old commit %s nor its child", head, old)
	}
	// The new commit is complete: check its content (not the work tree, which recovery finishes).
	op.committed(t, dir)
}

// checkFinished asserts the final state after a clean re-run: one new commit, clean tree, no journal.
func checkFinished(t *testing.T, dir, old string, op operation) {
	t.Helper()
	if parent := repotest.Git(t, dir, "rev-parse", "HEAD~1"); parent != old {
		t.Fatalf("expected exactly one new commit on top of %s, HEAD~1 is %s", old, parent)
	}
	op.committed(t, dir)
	op.finished(t, dir)
	if got := repotest.Git(t, dir, "status", "--porcelain", "--untracked-files=all"); got != "" {
		t.Fatalf("work tree not clean after recovery:\n%s", got)
	}
	if _, err := os.Stat(filepath.Join(dir, ".git", "marina", "journal.json")); err == nil {
		t.Fatal("journal left behind")
	}
	repotest.Git(t, dir, "fsck", "--no-dangling", "--strict")
}

func TestKillAtEveryFailpointLeavesHeadAtTheOldOrTheNewCommit(t *testing.T) {
	var mu sync.Mutex
	outcomes := map[string]int{}
	t.Cleanup(func() {
		t.Logf("kill sweep: %d trials (operation × failpoint); HEAD at the old commit %d, at the new one %d, half state 0",
			outcomes["old"]+outcomes["new"], outcomes["old"], outcomes["new"])
	})
	for _, op := range operations {
		for _, fp := range failpoints {
			if fp == "tag-written" && !op.usesTags {
				continue
			}
			t.Run(op.name+"/"+fp, func(t *testing.T) {
				t.Parallel()
				dir := repotest.Dir(t, nil)
				args := op.setup(t, dir)
				old := repotest.Git(t, dir, "rev-parse", "HEAD")
				if ps, _ := run(t, dir, fp, args...); !killed(ps) {
					t.Fatalf("marina was not killed at %s (exit %v)", fp, ps)
				}
				checkNoHalfState(t, dir, old, op)
				// A read-only command after the crash finishes a committed operation, and says so.
				_, out := run(t, dir, "", "model", "list")
				published := repotest.Git(t, dir, "rev-parse", "HEAD") != old
				mu.Lock()
				outcomes[map[bool]string{true: "new", false: "old"}[published]]++
				mu.Unlock()
				if said := strings.Contains(out, "finishing an operation that a killed marina process had committed"); said != published {
					t.Fatalf("recovery message shown=%v, commit published=%v:\n%s", said, published, out)
				}
				run(t, dir, "", args...)
				checkFinished(t, dir, old, op)
			})
		}
	}
}

func TestKillAtRandomMomentsLeavesHeadAtTheOldOrTheNewCommit(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const trials = 15
	for _, op := range operations {
		t.Run(op.name, func(t *testing.T) {
			outcomes := map[string]int{}
			defer func() {
				t.Logf("random kills of %s: %d trials; killed before publishing %d, after %d, finished before the kill %d, half state 0",
					op.name, trials, outcomes["old"], outcomes["new"], outcomes["done"])
			}()
			for i := range trials {
				dir := repotest.Dir(t, nil)
				args := op.setup(t, dir)
				old := repotest.Git(t, dir, "rev-parse", "HEAD")
				cmd := exec.Command(marina, append([]string{"--repo", dir}, args...)...)
				cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com")
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Duration(rng.IntN(40_000)) * time.Microsecond)
				_ = cmd.Process.Kill()
				err := cmd.Wait()
				checkNoHalfState(t, dir, old, op)
				switch {
				case err == nil:
					outcomes["done"]++
				case repotest.Git(t, dir, "rev-parse", "HEAD") == old:
					outcomes["old"]++
				default:
					outcomes["new"]++
				}
				run(t, dir, "", args...)
				checkFinished(t, dir, old, op)
				if t.Failed() {
					t.Fatalf("iteration %d", i)
				}
			}
		})
	}
}
