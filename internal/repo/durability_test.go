package repo_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/prereq"
	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/internal/repo/repotest"
)

// childEnv names the repository a re-executed test binary commits to (see TestMain): the tests below watch a
// commit from outside the process, as a crash or strace sees it.
const childEnv = "MARINA_REPO_TEST_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		if err := childCommit(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childCommit commits a new file in a new directory and a tag: every kind of rename a commit makes.
func childCommit(dir string) error {
	r, err := repo.Open(dir)
	if err != nil {
		return err
	}
	defer r.Close()
	unlock, err := r.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	_, err = r.Commit(repo.Commit{
		Message: "register",
		Changes: []repo.Change{{Path: "models/a/v1.0.0.json", Data: []byte("{}\n")}},
		Tags:    []repo.Tag{{Name: "a@v1.0.0", Message: "a"}},
	})
	return err
}

// commitInChild runs childCommit on dir in a new process, through wrapper (a command line prefix) when given.
func commitInChild(t *testing.T, dir string, env []string, wrapper ...string) error {
	t.Helper()
	args := append(wrapper, os.Args[0], "-test.run=^$")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(append(os.Environ(), childEnv+"="+dir), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	return nil
}

// A rename is durable only once the directory holding the new name is synced: without it, a power cut after
// the commit can bring back the old journal, ref, index or work-tree file.
func TestCommitSyncsEveryDirectoryItRenamesInto(t *testing.T) {
	t.Parallel()
	strace, err := exec.LookPath("strace")
	if err != nil {
		prereq.Missing(t, "strace is not installed (apt-get install strace): it watches the commit's system calls")
	}
	dir := repotest.Dir(t, map[string]string{"README.md": "hi\n"})
	dir, err = filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	trace := filepath.Join(t.TempDir(), "trace")
	if err := commitInChild(t, dir, nil, strace, "-f", "-y", "-qq", "-e", "trace=rename,renameat,renameat2,fsync,fdatasync", "-o", trace); err != nil {
		t.Fatal(err)
	}
	pending := map[string]bool{} // directories renamed into and not synced since
	f, err := os.Open(trace)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	renames := 0
	calls := straceCalls{}
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line, done := calls.join(sc.Text())
		if !done {
			continue
		}
		if m := renameCall.FindStringSubmatch(line); m != nil {
			target := m[2]
			if !filepath.IsAbs(target) {
				target = filepath.Join(m[1], target)
			}
			if rel, err := filepath.Rel(dir, target); err == nil && !strings.HasPrefix(rel, "..") && !strings.HasPrefix(rel, ".git/objects/") {
				pending[filepath.Dir(target)] = true
				renames++
			}
		}
		if m := syncCall.FindStringSubmatch(line); m != nil {
			delete(pending, m[1])
		}
	}
	if renames == 0 {
		t.Fatalf("the trace shows no rename inside %s; strace output changed?", dir)
	}
	var unsynced []string
	for d := range pending {
		unsynced = append(unsynced, d)
	}
	if len(unsynced) > 0 {
		t.Fatalf("renamed into and never synced: %s", strings.Join(unsynced, ", "))
	}
}

// straceCalls joins the two lines strace -f writes for a call another thread interrupted: "PID fsync(5</d>
// <unfinished ...>" then "PID <... fsync resumed>)    = 0" (padded), so that a call is matched where it completed.
type straceCalls map[string]string

// join returns the whole call and true when line completes one, or false while the call is unfinished.
func (c straceCalls) join(line string) (string, bool) {
	pid, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimLeft(rest, " ")
	if call, ok := strings.CutSuffix(rest, " <unfinished ...>"); ok {
		c[pid] = call
		return "", false
	}
	if m := resumedCall.FindStringSubmatch(rest); m != nil {
		call := c[pid]
		delete(c, pid)
		return pid + " " + call + m[1], true
	}
	return line, true
}

var (
	// <... fsync resumed>)      = 0
	resumedCall = regexp.MustCompile(`^<\.\.\. \w+ resumed>(.*)$`)
	// renameat(3</repo>, "models/a/x.tmp", 3</repo>, "models/a/x") = 0, or rename("/a", "/b") = 0.
	renameCall = regexp.MustCompile(`rename(?:at2?)?\((?:[^,]*, )?"[^"]*", (?:(?:-?\d+|AT_FDCWD)<([^>]*)>, )?"([^"]*)".*\)\s+= 0$`)
	// fsync(5</repo/models/a>) = 0
	syncCall = regexp.MustCompile(`f(?:data)?sync\(\d+<([^>]*)>\)\s+= 0$`)
)
