package repo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/http"
)

// ErrPushRejected means the remote refused a push because its branch has commits this repository
// does not have (someone pushed first).
var ErrPushRejected = errors.New("push rejected")

// rejections are how go-git and git servers say a ref was not updated because it moved.
var rejections = []string{"non-fast-forward", "failed to update ref", "fetch first", "failed to lock", "reference already exists", "stale info", "some refs were not updated"}

// Push sends branch to remote. HTTP(S) remotes authenticate with MARINA_GIT_TOKEN
// (and MARINA_GIT_USERNAME, default "marina"); the token never appears in errors.
// A push the remote refuses because its branch moved is ErrPushRejected.
func (r *Repo) Push(remote, branch string) error {
	return r.push(remote, branch, nil, "has commits this repository does not have (someone pushed first)")
}

// PushReplacing sends branch to remote in place of the remote's branch, which must still be at old (a
// force-with-lease push: what was read is what is replaced, never commits pushed since). A remote whose branch
// moved from old is ErrPushRejected.
func (r *Repo) PushReplacing(remote, branch string, old plumbing.Hash) error {
	lease := &git.ForceWithLease{RefName: plumbing.NewBranchReferenceName(branch), Hash: old}
	return r.push(remote, branch, lease, "is no longer at "+old.String()[:12]+" (someone pushed to it)")
}

// push sends branch to remote, replacing the remote's branch under lease when there is one; a rejection says the
// remote's branch moved, in the words of moved.
func (r *Repo) push(remote, branch string, lease *git.ForceWithLease, moved string) error {
	auth, err := r.remoteAuth(remote)
	if err != nil {
		return err
	}
	spec := "refs/heads/" + branch + ":refs/heads/" + branch
	if lease != nil {
		spec = "+" + spec
	}
	err = r.git.Push(&git.PushOptions{RemoteName: remote, RefSpecs: []config.RefSpec{config.RefSpec(spec)}, Auth: auth, ForceWithLease: lease})
	if err == nil || errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil
	}
	msg := Redact(err.Error())
	for _, s := range rejections {
		if strings.Contains(msg, s) {
			return fmt.Errorf("%w: %s's %s %s", ErrPushRejected, remote, branch, moved)
		}
	}
	return fmt.Errorf("pushing %s to %s: %s", branch, remote, msg)
}

// ErrNoRemoteBranch means the remote has no such branch.
var ErrNoRemoteBranch = errors.New("no such branch on the remote")

// Fetch brings remote's branch into refs/remotes/REMOTE/BRANCH and returns its commit; a branch the remote does
// not have is ErrNoRemoteBranch.
func (r *Repo) Fetch(remote, branch string) (plumbing.Hash, error) {
	auth, err := r.remoteAuth(remote)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	local := plumbing.NewRemoteReferenceName(remote, branch)
	spec := config.RefSpec("+refs/heads/" + branch + ":" + string(local))
	err = r.git.Fetch(&git.FetchOptions{RemoteName: remote, RefSpecs: []config.RefSpec{spec}, Auth: auth})
	if errors.Is(err, git.NoMatchingRefSpecError{}) {
		return plumbing.ZeroHash, fmt.Errorf("%w: %s has no branch %s", ErrNoRemoteBranch, remote, branch)
	}
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return plumbing.ZeroHash, fmt.Errorf("fetching %s from %s: %s", branch, remote, Redact(err.Error()))
	}
	return r.refHash(local)
}

// remoteAuth is the authentication for remote: basic auth with MARINA_GIT_TOKEN for HTTP(S).
func (r *Repo) remoteAuth(remote string) (transport.AuthMethod, error) {
	rem, err := r.git.Remote(remote)
	if err != nil {
		return nil, fmt.Errorf("remote %q: %w (add it with git remote add)", remote, err)
	}
	urls := rem.Config().URLs
	if len(urls) == 0 {
		return nil, nil
	}
	ep, err := transport.NewEndpoint(urls[0])
	if err != nil || (ep.Protocol != "http" && ep.Protocol != "https") {
		return nil, nil
	}
	RememberCredential(ep.User, ep.Password)
	tok := os.Getenv("MARINA_GIT_TOKEN")
	if tok == "" {
		return nil, nil
	}
	RememberCredential(gitUsername(), tok)
	return &http.BasicAuth{Username: gitUsername(), Password: tok}, nil
}

// IsAncestor reports whether commit a is b or an ancestor of b.
func (r *Repo) IsAncestor(a, b plumbing.Hash) (bool, error) {
	if a == b {
		return true, nil
	}
	ca, err := r.git.CommitObject(a)
	if err != nil {
		return false, err
	}
	cb, err := r.git.CommitObject(b)
	if err != nil {
		return false, err
	}
	return ca.IsAncestor(cb)
}

// MoveBranch moves the current branch from its commit to another one (back to a parent, or fast-forward
// to a fetched commit) with the work-tree files and index entries that differ between the two, through
// the same journal as Commit, so a kill leaves the branch at either commit. Files with uncommitted edits
// among them are refused (ErrDirty). The caller must hold Lock.
func (r *Repo) MoveBranch(to plumbing.Hash) error {
	if !r.locked {
		return errors.New("repo: MoveBranch called without Lock")
	}
	ref, cur, err := r.Head()
	if err != nil || cur == to {
		return err
	}
	from, err := r.commitTree(cur)
	if err != nil {
		return err
	}
	target, err := r.commitTree(to)
	if err != nil {
		return err
	}
	diff, err := object.DiffTree(from, target)
	if err != nil {
		return err
	}
	var paths []string
	for _, ch := range diff {
		for _, p := range []string{ch.From.Name, ch.To.Name} {
			if p != "" && (len(paths) == 0 || paths[len(paths)-1] != p) {
				paths = append(paths, p)
			}
		}
	}
	if err := r.checkClean(from, paths); err != nil {
		return err
	}
	j := journal{Ref: string(ref), Old: cur.String(), New: to.String(), Paths: paths, Worktree: true, Started: time.Now().UTC(), PID: os.Getpid()}
	if err := r.writeJournal(j); err != nil {
		return err
	}
	if err := r.updateRef(ref, cur, to); err != nil {
		_ = os.Remove(r.journalPath())
		return err
	}
	return r.finish(j)
}

// SetBranch points branch, which must not be the one checked out, from old (ZeroHash: it does not exist yet) at
// to, or deletes it when to is ZeroHash. A branch no longer at old is ErrBusy. The caller must hold Lock.
func (r *Repo) SetBranch(branch string, old, to plumbing.Hash) error {
	if !r.locked {
		return errors.New("repo: SetBranch called without Lock")
	}
	name := plumbing.NewBranchReferenceName(branch)
	if head, _, err := r.Head(); err == nil && head == name {
		return fmt.Errorf("repo: SetBranch: %s is checked out", branch)
	}
	if !to.IsZero() {
		return r.updateRef(name, old, to)
	}
	if cur, err := r.refHash(name); err != nil || cur != old {
		if err == nil {
			err = fmt.Errorf("%w: %s moved to %s while marina was working; run the command again", ErrBusy, name, cur)
		}
		return err
	}
	return r.git.Storer.RemoveReference(name)
}

// DropTags deletes the tags pointing at commit (after MoveBranch took it off the branch, so that
// the operation can run again).
func (r *Repo) DropTags(commit plumbing.Hash) error {
	tags, err := r.git.Tags()
	if err != nil {
		return err
	}
	defer tags.Close()
	var drop []plumbing.ReferenceName
	_ = tags.ForEach(func(t *plumbing.Reference) error {
		h := t.Hash()
		if to, err := r.git.TagObject(h); err == nil {
			h = to.Target
		}
		if h == commit {
			drop = append(drop, t.Name())
		}
		return nil
	})
	for _, n := range drop {
		if err := os.Remove(filepath.Join(r.gitDir, filepath.FromSlash(string(n)))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

func (r *Repo) commitTree(h plumbing.Hash) (*object.Tree, error) {
	c, err := r.git.CommitObject(h)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", h, err)
	}
	return c.Tree()
}
