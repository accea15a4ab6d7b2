package repo

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// Sentinel errors callers test with errors.Is.
var (
	// ErrNotRepo means no model repository was found.
	ErrNotRepo = errors.New("not a marina model repository")
	// ErrDirty means a file an operation must change has uncommitted edits.
	ErrDirty = errors.New("uncommitted changes")
	// ErrBusy means another process is writing to the repository.
	ErrBusy = errors.New("repository is busy")
	// ErrBadPath means a path is not a clean relative path inside the repository.
	ErrBadPath = errors.New("bad path")
	// ErrTooLarge means a file is over the size limit for its kind.
	ErrTooLarge = errors.New("file too large")
)

// Repo is an opened model repository: the directory holding marina.yaml (its root) in a Git work tree. The root
// is the work tree's top directory, or a directory below it (a monorepo, or the example under examples/): paths
// given to and returned by Repo are relative to the root; Git's own paths carry the root's prefix.
type Repo struct {
	// Root is the absolute path of the marina root: the directory holding marina.yaml.
	Root string
	// top is the Git work tree's top directory, work that directory opened (root itself when they are one), and
	// prefix the marina root's slash path below it ("" at the top).
	top    string
	work   *os.Root
	prefix string
	gitDir string
	git    *git.Repository
	root   *os.Root
	rootFD int // the marina root's directory, for openat2; -1 when not open
	locked bool
	// Log receives what the repository does on its own (recovery) and each commit; nil discards.
	Log *slog.Logger
	// Author, when its Name is set, authors and commits instead of Git config and GIT_AUTHOR_*:
	// the controller writes for many rollouts from one process and cannot use the environment.
	Author object.Signature
}

func (r *Repo) log() *slog.Logger {
	if r.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Log
}

// Open finds the model repository containing start and opens it: the nearest directory at or above start that
// holds marina.yaml, up to the top of the Git work tree (walking up like git).
func Open(start string) (*Repo, error) {
	r, err := OpenGit(start)
	if err != nil {
		return nil, err
	}
	dir, err := marinaRoot(start, r.top)
	if err == nil && dir != r.top {
		err = r.setRoot(dir)
	}
	if err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// marinaRoot is the nearest directory from start up to the work tree's top that holds marina.yaml.
func marinaRoot(start, work string) (string, error) {
	dir, err := filepath.Abs(start)
	if err == nil {
		dir, err = filepath.EvalSymlinks(dir)
	}
	if err != nil {
		return "", err
	}
	top, err := filepath.EvalSymlinks(work)
	if err != nil {
		return "", err
	}
	for {
		if st, err := os.Lstat(filepath.Join(dir, "marina.yaml")); err == nil && st.Mode().IsRegular() {
			return dir, nil
		}
		if dir == top || dir == filepath.Dir(dir) {
			return "", fmt.Errorf("%w: no marina.yaml in %s or above it in the Git work tree %s", ErrNotRepo, start, work)
		}
		dir = filepath.Dir(dir)
	}
}

// setRoot makes dir, below the work tree's top, the marina root.
func (r *Repo) setRoot(dir string) error {
	top, err := filepath.EvalSymlinks(r.top)
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(top, dir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("%w: %s is not inside the Git work tree %s", ErrNotRepo, dir, r.top)
	}
	if rel == "." {
		return nil
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	closeRootFD(r.rootFD)
	// Root keeps the top's spelling (go-git's, symbolic links unresolved), like a Repo opened at the top.
	r.Root, r.root, r.rootFD, r.prefix = filepath.Join(r.top, rel), root, openRootFD(dir), filepath.ToSlash(rel)
	return nil
}

// GitPath is the path in Git's trees and index of p, a path relative to the marina root.
func (r *Repo) GitPath(p string) string {
	if r.prefix == "" {
		return p
	}
	return r.prefix + "/" + p
}

// Tree is commit c's tree at the marina root; an empty tree when c does not have the directory.
func (r *Repo) Tree(c *object.Commit) (*object.Tree, error) {
	t, err := c.Tree()
	if err != nil || r.prefix == "" {
		return t, err
	}
	sub, err := t.Tree(r.prefix)
	if errors.Is(err, object.ErrDirectoryNotFound) {
		return &object.Tree{}, nil
	}
	return sub, err
}

// OpenGit opens the Git repository containing start without requiring marina.yaml (for init).
func OpenGit(start string) (*Repo, error) {
	abs, err := filepath.Abs(start)
	if err != nil {
		return nil, err
	}
	g, err := git.PlainOpenWithOptions(abs, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		if errors.Is(err, git.ErrRepositoryNotExists) {
			return nil, fmt.Errorf("%w: no Git repository at or above %s", ErrNotRepo, abs)
		}
		return nil, fmt.Errorf("%s: %w", abs, err)
	}
	wt, err := g.Worktree()
	if err != nil {
		return nil, fmt.Errorf("%w: %s is a bare Git repository; marina needs a work tree", ErrNotRepo, abs)
	}
	st, ok := g.Storer.(*filesystem.Storage)
	if !ok {
		return nil, fmt.Errorf("%s: unsupported Git storage", abs)
	}
	rootDir := wt.Filesystem.Root()
	root, err := os.OpenRoot(rootDir)
	if err != nil {
		return nil, err
	}
	return &Repo{Root: rootDir, top: rootDir, work: root, gitDir: st.Filesystem().Root(), git: g, root: root, rootFD: openRootFD(rootDir)}, nil
}

// Close releases the repository's file handles and its write lock.
func (r *Repo) Close() error {
	closeRootFD(r.rootFD)
	r.rootFD = -1
	if r.work != r.root {
		r.work.Close()
	}
	return r.root.Close()
}

// Git returns the underlying go-git repository, for read-only queries.
func (r *Repo) Git() *git.Repository { return r.git }

// CheckPath validates a slash-separated path relative to the repository root:
// clean, UTF-8, no "..", not absolute, not inside .git.
func CheckPath(p string) error {
	switch {
	case p == "" || p == ".":
		return fmt.Errorf("%w: empty path", ErrBadPath)
	case !utf8.ValidString(p):
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrBadPath, p)
	case strings.ContainsAny(p, "\x00\\"):
		return fmt.Errorf("%w: %q contains a NUL or backslash", ErrBadPath, p)
	case path.IsAbs(p) || filepath.IsAbs(p):
		return fmt.Errorf("%w: %q is absolute; use a path relative to the repository root", ErrBadPath, p)
	case path.Clean(p) != p:
		return fmt.Errorf("%w: %q is not clean (no \"..\", \".\", or doubled slashes)", ErrBadPath, p)
	case p == ".." || strings.HasPrefix(p, "../"):
		return fmt.Errorf("%w: %q leaves the repository", ErrBadPath, p)
	case p == ".git" || strings.HasPrefix(p, ".git/"):
		return fmt.Errorf("%w: %q is inside .git", ErrBadPath, p)
	}
	return nil
}

// ReadFile reads a work-tree file of at most max bytes. Symlinks that lead out of
// the repository, "..", files that are not regular (a FIFO is refused before it is
// opened for reading) and oversized files are refused with the path in the error.
func (r *Repo) ReadFile(p string, max int64) ([]byte, error) {
	return r.readFile(p, max, false)
}

// ReadFileNoSymlinks is ReadFile refusing every symlink on the path, even one that
// stays inside the repository.
func (r *Repo) ReadFileNoSymlinks(p string, max int64) ([]byte, error) {
	return r.readFile(p, max, true)
}

// CheckRegularFile checks that p is a regular file reached without any symlink and
// returns its path on this machine, for libraries that open files by name (ONNX
// Runtime, the digest stream).
func (r *Repo) CheckRegularFile(p string) (string, error) {
	if err := CheckPath(p); err != nil {
		return "", err
	}
	fd, ok, err := r.openBeneath(p, true)
	if ok {
		if err != nil {
			return "", err
		}
		closeFD(fd)
	} else if _, err := r.rootOpen(p, true); err != nil {
		return "", err
	}
	return filepath.Join(r.Root, filepath.FromSlash(p)), nil
}

func (r *Repo) readFile(p string, max int64, noSymlinks bool) ([]byte, error) {
	if err := CheckPath(p); err != nil {
		return nil, err
	}
	if fd, ok, err := r.openBeneath(p, noSymlinks); ok {
		if err != nil {
			return nil, err
		}
		return readFD(fd, p, max)
	}
	f, err := r.rootOpen(p, noSymlinks)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if st.Size() > max {
		return nil, fmt.Errorf("%w: %s is %d bytes, over the %d byte limit", ErrTooLarge, p, st.Size(), max)
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: %s grew over the %d byte limit while being read", ErrTooLarge, p, max)
	}
	return b, nil
}

// rootOpen is openBeneath through os.Root, for kernels without openat2: every component
// is checked with Lstat first, so no FIFO is opened and, with noSymlinks, no symlink followed.
func (r *Repo) rootOpen(p string, noSymlinks bool) (*os.File, error) {
	parts := strings.Split(p, "/")
	for i := range parts {
		sub := filepath.FromSlash(strings.Join(parts[:i+1], "/"))
		st, err := r.root.Lstat(sub)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, unwrapPathErr(err))
		}
		if noSymlinks && st.Mode()&fs.ModeSymlink != 0 {
			return nil, fmt.Errorf("%s: %w: the path or a directory on it is a symlink; marina does not follow symlinks here", p, ErrBadPath)
		}
	}
	st, err := r.root.Stat(filepath.FromSlash(p))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, unwrapPathErr(err))
	}
	if err := checkRegular(p, fileType(st.Mode())); err != nil {
		return nil, err
	}
	f, err := r.root.OpenFile(filepath.FromSlash(p), os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, unwrapPathErr(err))
	}
	return f, nil
}

// ReadDir lists a work-tree directory; a missing directory is empty.
func (r *Repo) ReadDir(p string) ([]fs.DirEntry, error) {
	if err := CheckPath(p); err != nil {
		return nil, err
	}
	f, ok, err := r.openDirBeneath(p)
	if !ok {
		f, err = r.root.Open(filepath.FromSlash(p))
		if err != nil {
			err = fmt.Errorf("%s: %w", p, unwrapPathErr(err))
		}
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	entries, err := f.ReadDir(-1)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return entries, nil
}

// Exists reports whether a work-tree path exists (without following a final symlink).
func (r *Repo) Exists(p string) bool {
	if CheckPath(p) != nil {
		return false
	}
	if exists, ok := r.statBeneath(p); ok {
		return exists
	}
	_, err := r.root.Lstat(filepath.FromSlash(p))
	return err == nil
}

// unwrapPathErr drops the *PathError wrapper (whose path is absolute or relative to the
// root) so messages name the repository path once.
func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		if strings.Contains(pe.Err.Error(), "escapes") {
			return fmt.Errorf("%w: the path or a symlink on it leads out of the repository", ErrBadPath)
		}
		return pe.Err
	}
	return err
}
