package repo_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/internal/repo/repotest"
)

func TestCommitWritesOneCommitThatGitSeesClean(t *testing.T) {
	t.Parallel()
	dir := repotest.Dir(t, map[string]string{"README.md": "hi\n"})
	r := repotest.Open(t, dir)
	before := repotest.Git(t, dir, "rev-parse", "HEAD")
	h, err := r.Commit(repo.Commit{
		Message: "add model",
		Changes: []repo.Change{{Path: "models/a/v1.0.0.json", Data: []byte("{}\n")}, {Path: "README.md", Data: []byte("changed\n")}},
		Tags:    []repo.Tag{{Name: "a@v1.0.0", Message: "a"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := repotest.Git(t, dir, "rev-parse", "HEAD"); got != h.String() {
		t.Fatalf("HEAD = %s, want %s", got, h)
	}
	if got := repotest.Git(t, dir, "rev-parse", "HEAD~1"); got != before {
		t.Fatalf("parent = %s, want %s", got, before)
	}
	repotest.Clean(t, dir)
	if got := repotest.Git(t, dir, "rev-parse", "a@v1.0.0^{commit}"); got != h.String() {
		t.Fatalf("tag points at %s, want %s", got, h)
	}
	if got := repotest.Git(t, dir, "show", "HEAD:models/a/v1.0.0.json"); got != "{}" {
		t.Fatalf("committed content %q", got)
	}
	repotest.Git(t, dir, "fsck", "--strict")
}

func TestCommitOnBranchLeavesCurrentBranchAndWorkTreeAlone(t *testing.T) {
	t.Parallel()
	dir := repotest.Dir(t, map[string]string{"a.txt": "one\n"})
	r := repotest.Open(t, dir)
	before := repotest.Git(t, dir, "rev-parse", "HEAD")
	if _, err := r.Commit(repo.Commit{Message: "b", Branch: "promote-x", Changes: []repo.Change{{Path: "a.txt", Data: []byte("two\n")}}}); err != nil {
		t.Fatal(err)
	}
	if got := repotest.Git(t, dir, "rev-parse", "HEAD"); got != before {
		t.Fatal("current branch moved")
	}
	if got := repotest.Git(t, dir, "show", "promote-x:a.txt"); got != "two" {
		t.Fatalf("branch content %q", got)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a.txt")); string(b) != "one\n" {
		t.Fatalf("work tree changed: %q", b)
	}
	if _, err := r.Commit(repo.Commit{Message: "b", Branch: "promote-x", Changes: []repo.Change{{Path: "a.txt", Data: []byte("3\n")}}}); err == nil {
		t.Fatal("reusing an existing branch was accepted")
	}
}

func TestCommitRefusesUncommittedChangesToTheFilesItTouches(t *testing.T) {
	t.Parallel()
	cases := map[string]func(dir string){
		"modified file":  func(dir string) { repotest.WriteFile(t, dir, "a.txt", "edited\n") },
		"untracked file": func(dir string) { repotest.WriteFile(t, dir, "new.txt", "x\n") },
		"staged change": func(dir string) {
			repotest.WriteFile(t, dir, "a.txt", "staged\n")
			repotest.Git(t, dir, "add", "a.txt")
		},
	}
	for name, dirty := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := repotest.Dir(t, map[string]string{"a.txt": "one\n"})
			dirty(dir)
			r := repotest.Open(t, dir)
			_, err := r.Commit(repo.Commit{Message: "x", Changes: []repo.Change{{Path: "a.txt", Data: []byte("two\n")}, {Path: "new.txt", Data: []byte("y\n")}}})
			if !errors.Is(err, repo.ErrDirty) {
				t.Fatalf("err = %v, want ErrDirty", err)
			}
			if !strings.Contains(err.Error(), "git stash") {
				t.Fatalf("error does not say what to do: %v", err)
			}
		})
	}
}

func TestCommitIgnoresUncommittedChangesElsewhere(t *testing.T) {
	t.Parallel()
	dir := repotest.Dir(t, map[string]string{"a.txt": "one\n", "b.txt": "b\n"})
	repotest.WriteFile(t, dir, "b.txt", "mine\n")
	r := repotest.Open(t, dir)
	if _, err := r.Commit(repo.Commit{Message: "x", Changes: []repo.Change{{Path: "a.txt", Data: []byte("two\n")}}}); err != nil {
		t.Fatal(err)
	}
	if got := repotest.Git(t, dir, "status", "--porcelain"); got != "M b.txt" {
		t.Fatalf("status = %q, want the user's edit kept", got)
	}
}

func TestCheckPathRejectsPathsThatLeaveTheRepository(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"", ".", "..", "../x", "a/../../x", "/etc/passwd", "a//b", "./a", ".git/config", "a\x00b", "a\\b", "\xff.json"} {
		if err := repo.CheckPath(p); !errors.Is(err, repo.ErrBadPath) {
			t.Errorf("CheckPath(%q) = %v, want ErrBadPath", p, err)
		}
	}
	for _, p := range []string{"a", "models/x/v1.0.0.json", ".github/workflows/m.yaml", "..a"} {
		if err := repo.CheckPath(p); err != nil {
			t.Errorf("CheckPath(%q) = %v", p, err)
		}
	}
}

func TestReadFileRefusesSymlinksOutOfTheRepositoryAndLargeFiles(t *testing.T) {
	t.Parallel()
	dir := repotest.Dir(t, nil)
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(t.TempDir(), filepath.Join(dir, "dirlink")); err != nil {
		t.Fatal(err)
	}
	repotest.WriteFile(t, dir, "big", strings.Repeat("x", 2048))
	r := repotest.Open(t, dir)
	for _, p := range []string{"link", "dirlink/secret"} {
		if _, err := r.ReadFile(p, 1<<20); !errors.Is(err, repo.ErrBadPath) {
			t.Errorf("ReadFile(%s) = %v, want ErrBadPath", p, err)
		}
	}
	if _, err := r.ReadFile("big", 1024); !errors.Is(err, repo.ErrTooLarge) || !strings.Contains(err.Error(), "big") {
		t.Errorf("ReadFile(big) = %v, want ErrTooLarge naming the file", err)
	}
	if err := r.WriteFileAtomic("dirlink/x", []byte("x")); !errors.Is(err, repo.ErrBadPath) {
		t.Errorf("write through a symlinked dir = %v, want ErrBadPath", err)
	}
}

func TestLockIsExclusive(t *testing.T) {
	t.Parallel()
	dir := repotest.Dir(t, nil)
	repotest.Open(t, dir)
	r2, err := repo.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if _, err := r2.Lock(); !errors.Is(err, repo.ErrBusy) {
		t.Fatalf("second Lock = %v, want ErrBusy", err)
	}
}

func TestOpenWalksUpAndNeedsMarinaYAML(t *testing.T) {
	t.Parallel()
	dir := repotest.Dir(t, map[string]string{"models/a/x": "x"})
	r, err := repo.Open(filepath.Join(dir, "models", "a"))
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	plain := t.TempDir()
	if _, err := repo.Open(plain); !errors.Is(err, repo.ErrNotRepo) {
		t.Fatalf("Open(no git) = %v, want ErrNotRepo", err)
	}
}

func TestCommitDeletesFilesAndEmptyDirectories(t *testing.T) {
	t.Parallel()
	dir := repotest.Dir(t, map[string]string{"applications/m/staging/a.yaml": "a\n", "applications/m/staging/b.yaml": "b\n", "keep.txt": "k\n"})
	r := repotest.Open(t, dir)
	if _, err := r.Commit(repo.Commit{Message: "rm", Changes: []repo.Change{{Path: "applications/m/staging/a.yaml", Delete: true}}}); err != nil {
		t.Fatal(err)
	}
	if got := repotest.Git(t, dir, "ls-files"); got != "applications/m/staging/b.yaml\nkeep.txt\nmarina.yaml" {
		t.Fatalf("ls-files:\n%s", got)
	}
	if _, err := r.Commit(repo.Commit{Message: "rm", Changes: []repo.Change{{Path: "applications/m/staging/b.yaml", Delete: true}}}); err != nil {
		t.Fatal(err)
	}
	if got := repotest.Git(t, dir, "ls-tree", "-r", "--name-only", "HEAD"); got != "keep.txt\nmarina.yaml" {
		t.Fatalf("tree:\n%s", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "applications", "m", "staging")); !os.IsNotExist(err) {
		t.Fatal("empty directory left in the work tree")
	}
	repotest.Clean(t, dir)
	repotest.Git(t, dir, "fsck", "--strict")
}

func TestReadFileRefusesWhatIsNotARegularFileWithoutBlocking(t *testing.T) {
	t.Parallel()
	dir := repotest.Dir(t, map[string]string{"models/m/v1.0.0.json": "{}\n"})
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("models/m/v1.0.0.json", filepath.Join(dir, "inside.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("models", filepath.Join(dir, "linkdir")); err != nil {
		t.Fatal(err)
	}
	r := repotest.Open(t, dir)
	cases := []struct {
		name, path string
		read       func(string, int64) ([]byte, error)
		want       string // "" means the read succeeds
	}{
		{"FIFO", "fifo.yaml", r.ReadFile, "fifo.yaml is a named pipe (FIFO)"},
		{"FIFO, no symlinks", "fifo.yaml", r.ReadFileNoSymlinks, "fifo.yaml is a named pipe (FIFO)"},
		{"directory", "models", r.ReadFile, "models is a directory"},
		{"symlink inside the repository", "inside.json", r.ReadFile, ""},
		{"symlink, no symlinks", "inside.json", r.ReadFileNoSymlinks, "is a symlink"},
		{"symlinked directory, no symlinks", "linkdir/m/v1.0.0.json", r.ReadFileNoSymlinks, "is a symlink"},
		{"regular file, no symlinks", "models/m/v1.0.0.json", r.ReadFileNoSymlinks, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { _, err := c.read(c.path, 1<<20); done <- err }()
			select {
			case err := <-done:
				switch {
				case c.want == "" && err != nil:
					t.Fatalf("read %s: %v", c.path, err)
				case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, repo.ErrBadPath)):
					t.Fatalf("read %s: error %v, want ErrBadPath with %q", c.path, err, c.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("read %s still blocked after 10s", c.path)
			}
		})
	}
	if _, err := r.CheckRegularFile("fifo.yaml"); !errors.Is(err, repo.ErrBadPath) {
		t.Fatalf("CheckRegularFile(fifo.yaml) = %v, want ErrBadPath", err)
	}
	if got, err := r.CheckRegularFile("models/m/v1.0.0.json"); err != nil || got != filepath.Join(r.Root, "models/m/v1.0.0.json") {
		t.Fatalf("CheckRegularFile = %q, %v", got, err)
	}
}

func TestASplitIndexIsRefusedWithHowToUndoIt(t *testing.T) {
	t.Parallel()
	dir := repotest.Dir(t, map[string]string{"a.txt": "one\n"})
	repotest.Git(t, dir, "update-index", "--split-index")
	r := repotest.Open(t, dir)
	_, err := r.Commit(repo.Commit{Message: "x", Changes: []repo.Change{{Path: "a.txt", Data: []byte("two\n")}}})
	if err == nil || !strings.Contains(err.Error(), "split index") || !strings.Contains(err.Error(), "git update-index --no-split-index") {
		t.Fatalf("err = %v, want it to name the split index and how to undo it", err)
	}
}

func TestATornJournalTmpIsRemovedByTheNextCommand(t *testing.T) {
	t.Parallel()
	dir := repotest.Dir(t, nil)
	tmp := filepath.Join(dir, ".git", "marina", "journal.json.tmp")
	if err := os.WriteFile(tmp, []byte(`{"ref":"refs/heads/ma`), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Recover(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("journal.json.tmp left behind: %v", err)
	}
}

func TestPushReplacingReplacesOnlyTheBranchItRead(t *testing.T) {
	repotest.SetIdentity(t, "tester")
	work := repotest.Example(t, nil)
	bare := filepath.Join(t.TempDir(), "models.git")
	repotest.Publish(t, work, bare, bare)
	r := repotest.Open(t, work)

	if _, err := r.Fetch("origin", "marina/promote/x"); !errors.Is(err, repo.ErrNoRemoteBranch) {
		t.Fatalf("Fetch of a missing branch: %v, want ErrNoRemoteBranch", err)
	}
	repotest.Git(t, work, "checkout", "-q", "-b", "pr")
	repotest.Git(t, work, "commit", "-q", "--allow-empty", "-m", "first")
	first := strings.TrimSpace(repotest.Git(t, work, "rev-parse", "HEAD"))
	if err := r.Push("origin", "pr"); err != nil {
		t.Fatal(err)
	}
	// The branch made again on another parent: a plain push is refused, a push replacing what was read is not.
	repotest.Git(t, work, "reset", "-q", "--hard", "main")
	repotest.Git(t, work, "commit", "-q", "--allow-empty", "-m", "again")
	if err := r.Push("origin", "pr"); !errors.Is(err, repo.ErrPushRejected) {
		t.Fatalf("a plain push over another history: %v, want ErrPushRejected", err)
	}
	got, err := r.Fetch("origin", "pr")
	if err != nil || got.String() != first {
		t.Fatalf("Fetch = %s, %v, want %s", got, err, first)
	}
	if err := r.PushReplacing("origin", "pr", plumbing.NewHash(first)); err != nil {
		t.Fatalf("PushReplacing: %v", err)
	}
	again := strings.TrimSpace(repotest.Git(t, work, "rev-parse", "HEAD"))
	if got := strings.TrimSpace(repotest.Git(t, bare, "rev-parse", "pr")); got != again {
		t.Fatalf("the remote's pr is at %s, want %s", got, again)
	}
	// Someone pushed since it was read: the lease refuses.
	repotest.Git(t, work, "commit", "-q", "--allow-empty", "-m", "third")
	if err := r.PushReplacing("origin", "pr", plumbing.NewHash(first)); !errors.Is(err, repo.ErrPushRejected) || !strings.Contains(err.Error(), "is no longer at "+first[:12]) {
		t.Fatalf("replacing a branch that moved: %v, want ErrPushRejected naming the commit read", err)
	}
}
