package repo

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Change sets the content of one file, or removes it.
type Change struct {
	Path   string
	Data   []byte
	Delete bool
}

// Tag is an annotated tag on the new commit.
type Tag struct {
	Name    string
	Message string
}

// Commit describes one operation's commit.
type Commit struct {
	Message string
	Changes []Change
	Tags    []Tag
	// Branch, when set, puts the commit on this new branch (on top of HEAD) and
	// leaves the current branch, index and work tree alone.
	Branch string
}

// journal records a published-but-unfinished commit in .git/marina/journal.json.
type journal struct {
	Ref      string            `json:"ref"`
	Old      string            `json:"old"`
	New      string            `json:"new"`
	Paths    []string          `json:"paths,omitempty"`
	Tags     map[string]string `json:"tags,omitempty"`
	Worktree bool              `json:"worktree"`
	Started  time.Time         `json:"started"`
	PID      int               `json:"pid"`
}

// Lock takes the repository's write lock (released when the process exits or
// unlock is called) and finishes any operation a killed process left behind.
func (r *Repo) Lock() (unlock func(), err error) {
	dir := filepath.Join(r.gitDir, "marina")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: another marina process is writing to %s; wait for it to finish", ErrBusy, r.Root)
	}
	r.locked = true
	unlock = func() {
		r.locked = false
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
	if err := r.recover(); err != nil {
		unlock()
		return nil, err
	}
	return unlock, nil
}

// Recover finishes an operation a killed process left behind, if there is one and
// no other process holds the write lock. Read-only commands call it so they never
// show a half-updated work tree.
func (r *Repo) Recover() error {
	_, err := os.Stat(r.journalPath())
	if _, errTmp := os.Stat(r.journalPath() + ".tmp"); err != nil && errTmp != nil {
		return nil
	}
	unlock, err := r.Lock()
	if errors.Is(err, ErrBusy) {
		return nil
	}
	if err != nil {
		return err
	}
	unlock()
	return nil
}

func (r *Repo) journalPath() string { return filepath.Join(r.gitDir, "marina", "journal.json") }

// recover finishes or discards an operation left by a killed process.
func (r *Repo) recover() error {
	// A journal being written when its process was killed never took effect.
	if err := os.Remove(r.journalPath() + ".tmp"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	b, err := os.ReadFile(r.journalPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var j journal
	if err := json.Unmarshal(b, &j); err != nil {
		// The journal is written by rename, so a torn one is not ours: drop it.
		return os.Remove(r.journalPath())
	}
	st, _ := os.Stat(r.journalPath())
	r.removeStaleLock(filepath.Join(r.gitDir, filepath.FromSlash(j.Ref)+".lock"), st)
	r.removeStaleLock(filepath.Join(r.gitDir, "index.lock"), st)
	for name := range j.Tags {
		r.removeStaleLock(filepath.Join(r.gitDir, filepath.FromSlash(name)+".lock"), st)
	}
	for _, p := range j.Paths {
		r.removeStaleLock(filepath.Join(r.top, filepath.FromSlash(p))+fmt.Sprintf(".marina-%d.tmp", j.PID), st)
	}
	cur, err := r.refHash(plumbing.ReferenceName(j.Ref))
	if err != nil {
		return err
	}
	if cur.String() != j.New {
		newHash := plumbing.NewHash(j.New)
		if published, _ := r.IsAncestor(newHash, cur); !published || cur.IsZero() {
			// The ref was never moved: the new commit is unreachable garbage.
			r.log().Warn("discarded an operation that a killed marina process had not committed", "pid", j.PID, "started", j.Started)
			return os.Remove(r.journalPath())
		}
		// The commit was published, and a Git command has moved the ref on since: finish the tags, but
		// leave the work tree and index to what that command made of them.
		r.log().Warn("a killed marina process had published its commit, but another Git command has moved the branch since; marina did not update these work-tree files for it: compare them with git diff "+j.New[:12]+" HEAD -- FILES",
			"pid", j.PID, "ref", j.Ref, "commit", j.New[:12], "now", cur.String()[:12], "files", strings.Join(j.Paths, ","))
		j.Worktree = false
	} else {
		r.log().Warn("finishing an operation that a killed marina process had committed", "pid", j.PID, "ref", j.Ref, "commit", j.New[:12])
	}
	return r.finish(j)
}

// removeStaleLock removes a lock file this package created after the journal was written.
func (r *Repo) removeStaleLock(p string, journal os.FileInfo) {
	st, err := os.Stat(p)
	if err != nil || journal == nil || st.ModTime().Before(journal.ModTime()) {
		return
	}
	_ = os.Remove(p)
}

// Head returns the current branch and its commit (zero for an unborn branch).
func (r *Repo) Head() (plumbing.ReferenceName, plumbing.Hash, error) {
	ref, err := r.git.Storer.Reference(plumbing.HEAD)
	if err != nil {
		return "", plumbing.ZeroHash, fmt.Errorf("reading HEAD: %w", err)
	}
	if ref.Type() != plumbing.SymbolicReference {
		return "", plumbing.ZeroHash, fmt.Errorf("HEAD is detached at %s; check out a branch first", ref.Hash())
	}
	h, err := r.refHash(ref.Target())
	return ref.Target(), h, err
}

func (r *Repo) refHash(name plumbing.ReferenceName) (plumbing.Hash, error) {
	ref, err := r.git.Storer.Reference(name)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return plumbing.ZeroHash, nil
	}
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("reading %s: %w", name, err)
	}
	return ref.Hash(), nil
}

// Commit writes c as one commit and publishes it atomically. The caller must hold Lock.
func (r *Repo) Commit(c Commit) (plumbing.Hash, error) {
	if !r.locked {
		return plumbing.ZeroHash, errors.New("repo: Commit called without Lock")
	}
	headRef, parent, err := r.Head()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	target := headRef
	worktree := true
	if c.Branch != "" {
		target = plumbing.NewBranchReferenceName(c.Branch)
		worktree = false
		if err := plumbing.NewBranchReferenceName(c.Branch).Validate(); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("branch %q: %w", c.Branch, err)
		}
		if h, _ := r.refHash(target); !h.IsZero() {
			return plumbing.ZeroHash, fmt.Errorf("branch %q already exists; choose another --branch name", c.Branch)
		}
	}
	var base *object.Tree
	if !parent.IsZero() {
		pc, err := r.git.CommitObject(parent)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		if base, err = pc.Tree(); err != nil {
			return plumbing.ZeroHash, err
		}
	}
	paths := make([]string, 0, len(c.Changes)) // in Git's tree
	for _, ch := range c.Changes {
		if err := CheckPath(ch.Path); err != nil {
			return plumbing.ZeroHash, err
		}
		paths = append(paths, r.GitPath(ch.Path))
	}
	if err := r.checkClean(base, paths); err != nil {
		return plumbing.ZeroHash, err
	}
	for _, t := range c.Tags {
		if err := plumbing.NewTagReferenceName(t.Name).Validate(); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("tag %q: %w", t.Name, err)
		}
		if h, _ := r.refHash(plumbing.NewTagReferenceName(t.Name)); !h.IsZero() {
			return plumbing.ZeroHash, fmt.Errorf("tag %q already exists", t.Name)
		}
	}

	blobs := map[string]plumbing.Hash{} // by path in Git's tree
	for _, ch := range c.Changes {
		if ch.Delete {
			blobs[r.GitPath(ch.Path)] = plumbing.ZeroHash
			continue
		}
		h, err := r.writeBlob(ch.Data)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		blobs[r.GitPath(ch.Path)] = h
	}
	tree, err := r.writeTree(base, blobs)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	sig := r.signature()
	commit := &object.Commit{Author: sig, Committer: sig, Message: c.Message, TreeHash: tree}
	if !parent.IsZero() {
		commit.ParentHashes = []plumbing.Hash{parent}
	}
	newHash, err := r.writeObject(commit)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	j := journal{Ref: string(target), Old: parent.String(), New: newHash.String(), Worktree: worktree, Started: time.Now().UTC(), PID: os.Getpid()}
	if len(c.Tags) > 0 {
		j.Tags = map[string]string{}
	}
	for _, t := range c.Tags {
		th, err := r.writeObject(&object.Tag{Name: t.Name, Tagger: sig, Message: t.Message, TargetType: plumbing.CommitObject, Target: newHash})
		if err != nil {
			return plumbing.ZeroHash, err
		}
		j.Tags[string(plumbing.NewTagReferenceName(t.Name))] = th.String()
	}
	if worktree {
		for p := range blobs {
			j.Paths = append(j.Paths, p)
		}
		slices.Sort(j.Paths)
	}
	failpoint("objects-written")
	if err := r.writeJournal(j); err != nil {
		return plumbing.ZeroHash, err
	}
	failpoint("journal-written")
	old := parent
	if !worktree {
		old = plumbing.ZeroHash
	}
	if err := r.updateRef(target, old, newHash); err != nil {
		_ = os.Remove(r.journalPath())
		return plumbing.ZeroHash, err
	}
	failpoint("ref-updated")
	r.log().Info("committed", "ref", target.Short(), "commit", newHash.String()[:12], "files", len(c.Changes), "tags", len(c.Tags))
	return newHash, r.finish(j)
}

// finish completes a published commit: tags, work tree, index, then drops the journal.
// Every step is idempotent so recover can run it again.
func (r *Repo) finish(j journal) error {
	names := make([]string, 0, len(j.Tags))
	for n := range j.Tags {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		want := plumbing.NewHash(j.Tags[n])
		cur, err := r.refHash(plumbing.ReferenceName(n))
		if err != nil {
			return err
		}
		if cur == want {
			continue
		}
		if err := r.updateRef(plumbing.ReferenceName(n), cur, want); err != nil {
			return err
		}
		failpoint("tag-written")
	}
	if j.Worktree && len(j.Paths) > 0 {
		c, err := r.git.CommitObject(plumbing.NewHash(j.New))
		if err != nil {
			return err
		}
		tree, err := c.Tree()
		if err != nil {
			return err
		}
		entries := map[string]plumbing.Hash{}
		for _, p := range j.Paths {
			f, err := tree.File(p)
			if errors.Is(err, object.ErrFileNotFound) {
				if err := removeIn(r.work, p); err != nil {
					return err
				}
				entries[p] = plumbing.ZeroHash
				continue
			}
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			data, err := f.Contents()
			if err != nil {
				return err
			}
			if err := writeIn(r.work, p, []byte(data)); err != nil {
				return err
			}
			entries[p] = f.Hash
			failpoint("worktree-file-written")
		}
		if err := r.updateIndex(entries); err != nil {
			return err
		}
		failpoint("index-written")
	}
	return os.Remove(r.journalPath())
}

// checkClean refuses to change paths (in Git's tree) whose work-tree file or index entry differ from base,
// HEAD's tree.
func (r *Repo) checkClean(base *object.Tree, paths []string) error {
	idx, err := r.index()
	if err != nil {
		return err
	}
	var dirty []string
	for _, p := range paths {
		var head plumbing.Hash
		if base != nil {
			if f, err := base.File(p); err == nil {
				head = f.Hash
			}
		}
		var staged plumbing.Hash
		if e, err := idx.Entry(p); err == nil {
			staged = e.Hash
		}
		work, err := r.workHash(p)
		if err != nil {
			return err
		}
		if head != staged || head != work {
			dirty = append(dirty, p)
		}
	}
	if len(dirty) > 0 {
		return fmt.Errorf("%w in %s: commit or stash them (git stash), then run marina again", ErrDirty, strings.Join(dirty, ", "))
	}
	return nil
}

// workHash is the blob hash of the work-tree file at p (in Git's tree); zero when there is none.
func (r *Repo) workHash(p string) (plumbing.Hash, error) {
	f, err := r.work.Open(filepath.FromSlash(p))
	if errors.Is(err, os.ErrNotExist) {
		return plumbing.ZeroHash, nil
	}
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("%s: %w", p, unwrapPathErr(err))
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return plumbing.ZeroHash, fmt.Errorf("%s: %w: not a regular file", p, ErrBadPath)
	}
	b, err := io.ReadAll(io.LimitReader(f, 1<<30))
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("%s: %w", p, err)
	}
	return plumbing.ComputeHash(plumbing.BlobObject, b), nil
}

func (r *Repo) writeBlob(data []byte) (plumbing.Hash, error) {
	obj := r.git.Storer.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	obj.SetSize(int64(len(data)))
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write(data); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return r.git.Storer.SetEncodedObject(obj)
}

type encoder interface {
	Encode(plumbing.EncodedObject) error
}

func (r *Repo) writeObject(o encoder) (plumbing.Hash, error) {
	obj := r.git.Storer.NewEncodedObject()
	if err := o.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return r.git.Storer.SetEncodedObject(obj)
}

// writeTree writes base with the files in blobs added or replaced (a zero hash removes
// the file), creating directories as needed and dropping directories left empty.
func (r *Repo) writeTree(base *object.Tree, blobs map[string]plumbing.Hash) (plumbing.Hash, error) {
	var entries []object.TreeEntry
	if base != nil {
		entries = append(entries, base.Entries...)
	}
	files := map[string]plumbing.Hash{}
	dirs := map[string]map[string]plumbing.Hash{}
	for p, h := range blobs {
		if i := strings.IndexByte(p, '/'); i >= 0 {
			d := p[:i]
			if dirs[d] == nil {
				dirs[d] = map[string]plumbing.Hash{}
			}
			dirs[d][p[i+1:]] = h
		} else {
			files[p] = h
		}
	}
	set := func(e object.TreeEntry) {
		for i := range entries {
			if entries[i].Name == e.Name {
				entries[i] = e
				return
			}
		}
		entries = append(entries, e)
	}
	remove := func(name string) {
		for i := range entries {
			if entries[i].Name == name {
				entries = append(entries[:i], entries[i+1:]...)
				return
			}
		}
	}
	for name, h := range files {
		if e := findEntry(entries, name); e != nil && e.Mode == filemode.Dir {
			return plumbing.ZeroHash, fmt.Errorf("%w: %s is a directory in the repository", ErrBadPath, name)
		}
		if h.IsZero() {
			remove(name)
			continue
		}
		set(object.TreeEntry{Name: name, Mode: filemode.Regular, Hash: h})
	}
	for name, sub := range dirs {
		var subBase *object.Tree
		if e := findEntry(entries, name); e != nil {
			if e.Mode != filemode.Dir {
				return plumbing.ZeroHash, fmt.Errorf("%w: %s is a file in the repository, not a directory", ErrBadPath, name)
			}
			t, err := r.git.TreeObject(e.Hash)
			if err != nil {
				return plumbing.ZeroHash, err
			}
			subBase = t
		}
		h, err := r.writeTree(subBase, sub)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("%s/%w", name, err)
		}
		if h == emptyTree {
			remove(name)
			continue
		}
		set(object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h})
	}
	// Git orders tree entries by name, comparing a directory as if it ended in "/".
	slices.SortFunc(entries, func(a, b object.TreeEntry) int { return cmp.Compare(treeKey(a), treeKey(b)) })
	return r.writeObject(&object.Tree{Entries: entries})
}

// emptyTree is the hash of the tree with no entries.
var emptyTree = plumbing.ComputeHash(plumbing.TreeObject, nil)

func findEntry(entries []object.TreeEntry, name string) *object.TreeEntry {
	for i := range entries {
		if entries[i].Name == name {
			return &entries[i]
		}
	}
	return nil
}

func treeKey(e object.TreeEntry) string {
	if e.Mode == filemode.Dir {
		return e.Name + "/"
	}
	return e.Name
}

// signature is r.Author when set, else the author from Git config (GIT_AUTHOR_* override), like git commit.
func (r *Repo) signature() object.Signature {
	if r.Author.Name != "" {
		sig := r.Author
		sig.When = time.Now()
		return sig
	}
	sig := object.Signature{Name: "marina", Email: "marina@localhost", When: time.Now()}
	if cfg, err := r.git.ConfigScoped(config.GlobalScope); err == nil {
		if cfg.User.Name != "" {
			sig.Name = cfg.User.Name
		}
		if cfg.User.Email != "" {
			sig.Email = cfg.User.Email
		}
	}
	if v := os.Getenv("GIT_AUTHOR_NAME"); v != "" {
		sig.Name = v
	}
	if v := os.Getenv("GIT_AUTHOR_EMAIL"); v != "" {
		sig.Email = v
	}
	return sig
}

func (r *Repo) writeJournal(j journal) error {
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	return writeFileAtomic(r.journalPath(), b, 0o644)
}

// updateRef moves name from old to new the way git does: name.lock, compare, rename.
func (r *Repo) updateRef(name plumbing.ReferenceName, old, new plumbing.Hash) error {
	p := filepath.Join(r.gitDir, filepath.FromSlash(string(name)))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	lock := p + ".lock"
	f, err := os.OpenFile(lock, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%w: %s exists; another Git process is updating %s (if none is running, delete the file)", ErrBusy, lock, name)
		}
		return err
	}
	committed := false
	defer func() {
		if !committed {
			f.Close()
			os.Remove(lock)
		}
	}()
	cur, err := r.refHash(name)
	if err != nil {
		return err
	}
	if cur != old {
		return fmt.Errorf("%w: %s moved to %s while marina was working; run the command again", ErrBusy, name, cur)
	}
	if _, err := io.WriteString(f, new.String()+"\n"); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(lock, p); err != nil {
		return err
	}
	committed = true
	return syncDir(os.Open(filepath.Dir(p)))
}

// updateIndex points the index entries of paths at their new blobs, with the stat
// data of the freshly written files so git status sees them clean.
func (r *Repo) updateIndex(entries map[string]plumbing.Hash) error {
	idx, err := r.index()
	if err != nil {
		return err
	}
	for p, h := range entries {
		if h.IsZero() {
			_, _ = idx.Remove(p)
			continue
		}
		e, err := idx.Entry(p)
		if err != nil {
			e = idx.Add(p)
		}
		e.Hash = h
		e.Mode = filemode.Regular
		e.Stage = 0 // go-git's index.Merged is 1, which git reads as a conflict stage
		e.SkipWorktree = false
		e.IntentToAdd = false
		if st, err := os.Lstat(filepath.Join(r.top, filepath.FromSlash(p))); err == nil {
			fillStat(e, st)
		}
	}
	slices.SortFunc(idx.Entries, func(a, b *index.Entry) int { return cmp.Compare(a.Name, b.Name) })
	idx.Cache = nil
	if idx.Version == 0 || idx.Version > 3 {
		idx.Version = 2
	}
	var buf bytes.Buffer
	if err := index.NewEncoder(&buf).Encode(idx); err != nil {
		return err
	}
	lock := filepath.Join(r.gitDir, "index.lock")
	f, err := os.OpenFile(lock, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%w: %s exists; another Git process is running (if none is, delete the file and run marina again)", ErrBusy, lock)
		}
		return err
	}
	_, werr := f.Write(buf.Bytes())
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(lock, filepath.Join(r.gitDir, "index"))
	}
	if werr != nil {
		os.Remove(lock)
		return werr
	}
	return syncDir(os.Open(r.gitDir))
}

// index reads the Git index, saying what to do about a split index, which go-git cannot read.
func (r *Repo) index() (*index.Index, error) {
	idx, err := r.git.Storer.Index()
	if errors.Is(err, index.ErrUnknownExtension) {
		return nil, fmt.Errorf("reading the Git index (%s): it uses an extension marina cannot read, most likely a split index, which marina does not support; undo it with git update-index --no-split-index and git config core.splitIndex false, then run marina again", filepath.Join(r.gitDir, "index"))
	}
	if err != nil {
		return nil, fmt.Errorf("reading the Git index: %w", err)
	}
	return idx, nil
}

func fillStat(e *index.Entry, st os.FileInfo) {
	e.Size = uint32(st.Size())
	e.ModifiedAt = st.ModTime()
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		e.CreatedAt = time.Unix(s.Ctim.Sec, s.Ctim.Nsec)
		e.Dev = uint32(s.Dev)
		e.Inode = uint32(s.Ino)
		e.UID = s.Uid
		e.GID = s.Gid
	}
}

// WriteFileAtomic replaces a file below the marina root by writing a temporary file beside it and renaming it
// over, so readers see the old or the new content, never a mix. Unchanged content is left alone.
func (r *Repo) WriteFileAtomic(p string, data []byte) error {
	if err := CheckPath(p); err != nil {
		return err
	}
	return writeIn(r.root, p, data)
}

// RemoveFile removes a file below the marina root if it exists, and its directory if that is left empty.
func (r *Repo) RemoveFile(p string) error {
	if err := CheckPath(p); err != nil {
		return err
	}
	return removeIn(r.root, p)
}

// writeIn is WriteFileAtomic in root, p a clean slash path.
func writeIn(root *os.Root, p string, data []byte) error {
	if cur, err := readIn(root, p, int64(len(data))); err == nil && bytes.Equal(cur, data) {
		return nil
	}
	dir := path.Dir(p)
	if dir != "." {
		if err := root.MkdirAll(filepath.FromSlash(dir), 0o755); err != nil {
			return fmt.Errorf("%s: %w", dir, unwrapPathErr(err))
		}
	}
	tmp := fmt.Sprintf("%s.marina-%d.tmp", p, os.Getpid())
	f, err := root.OpenFile(filepath.FromSlash(tmp), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("%s: %w", p, unwrapPathErr(err))
	}
	werr := writeSynced(f, data)
	if werr == nil {
		werr = root.Rename(filepath.FromSlash(tmp), filepath.FromSlash(p))
	}
	if werr != nil {
		_ = root.Remove(filepath.FromSlash(tmp))
		return fmt.Errorf("%s: %w", p, unwrapPathErr(werr))
	}
	if err := syncDir(root.Open(filepath.FromSlash(dir))); err != nil {
		return fmt.Errorf("%s: %w", dir, unwrapPathErr(err))
	}
	return nil
}

// readIn reads the regular file p in root when it holds at most max bytes.
func readIn(root *os.Root, p string, max int64) ([]byte, error) {
	f, err := root.Open(filepath.FromSlash(p))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() || st.Size() > max {
		return nil, ErrBadPath
	}
	return io.ReadAll(io.LimitReader(f, max))
}

// removeIn is RemoveFile in root, p a clean slash path.
func removeIn(root *os.Root, p string) error {
	if err := root.Remove(filepath.FromSlash(p)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: %w", p, unwrapPathErr(err))
	}
	if dir := path.Dir(p); dir != "." {
		_ = root.Remove(filepath.FromSlash(dir)) // fails, as wanted, when not empty
	}
	return nil
}

// writeFileAtomic replaces p with data durably: temporary file, fsync, rename, fsync of the directory.
func writeFileAtomic(p string, data []byte, mode os.FileMode) error {
	tmp := p + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	werr := writeSynced(f, data)
	if werr == nil {
		werr = os.Rename(tmp, p)
	}
	if werr != nil {
		_ = os.Remove(tmp)
		return werr
	}
	return syncDir(os.Open(filepath.Dir(p)))
}

// writeSynced writes data to the new file f, fsyncs and closes it (f is closed on every path).
func writeSynced(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir fsyncs the directory d (opened by the caller, err its error): a rename into it is durable only then,
// else a crash soon after can bring the old file back under the name.
func syncDir(d *os.File, err error) error {
	if err != nil {
		return err
	}
	serr := d.Sync()
	if cerr := d.Close(); serr == nil {
		serr = cerr
	}
	return serr
}
