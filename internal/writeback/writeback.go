package writeback

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/registry"
	"github.com/marina-dev/marina/internal/release"
	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/schemas"
)

// DefaultAuthor authors the revert when Request.Author is empty.
const DefaultAuthor = "marina-controller <marina@localhost>"

// ErrConflict means every push lost a race with another writer; the caller retries later.
var ErrConflict = errors.New("the branch kept moving while marina pushed")

// ErrBranchExists means the pull-request branch exists on the remote without the revert.
var ErrBranchExists = errors.New("pull-request branch already exists")

// Retries of a push that raced another writer: exponential backoff with jitter.
const (
	maxAttempts  = 5
	firstBackoff = 100 * time.Millisecond
	maxBackoff   = 2 * time.Second
)

// remoteName names the in-memory remote; the clone's config never records the URL.
const remoteName = "origin"

// Request is one write-back: Env of Model goes back from BadVersion to StableVersion,
// and BadVersion is blocked.
type Request struct {
	// RepoURL is the model repository's clone URL: https://, http://, file:// or a local path.
	RepoURL string
	// Branch is the branch written to, or the pull request's base; "" is the remote's default branch.
	Branch string
	// Mode is commit (push to Branch) or pr (push the branch PullRequestBranch names, for a pull request
	// into Branch); "" means commit.
	Mode v1alpha1.GitWriteBackMode
	// Model and Env name the model and the environment (of marina.yaml) the rollout ran in.
	Model, Env string
	// BadVersion is the aborted version; StableVersion the one the environment goes back to.
	BadVersion, StableVersion string
	// Reason is why the rollout aborted: recorded on the blocked version and in the commit message.
	Reason string
	// Auth authenticates to an HTTP(S) remote (see CredentialsFromSecret).
	Auth Credentials
	// Author authors the commit, as "Name <email>"; "" means DefaultAuthor.
	Author string

	// beforePush, when set, runs before every push. It is a test seam only: the tests
	// push a competing commit there to race the write-back.
	beforePush func()
}

// Result says what Write left on the remote.
type Result struct {
	// Commit is the pushed revert, or with NoOp the branch head that already held it.
	Commit string
	// Branch holds the revert: the written branch in commit mode, the pull-request branch
	// in pr mode (or Base itself, when the base already held the revert).
	Branch string
	// Base is the branch a pull request from Branch merges into; set in pr mode only.
	Base string
	// NoOp is true when the remote already held the revert: nothing was pushed.
	NoOp bool
	// Subject is Commit's subject line, e.g. a pull request's title.
	Subject string
}

// PullRequestOpener opens a pull (merge) request on the forge hosting the repository.
// Write in pr mode only pushes the branch and reports it (Result.Branch into
// Result.Base); opening the request needs the forge's own API, so Writer opens it
// through an opener of package forge (forge.Opener: Gitea, GitHub or GitLab).
type PullRequestOpener interface {
	// OpenPullRequest opens a request to merge pr.Head into pr.Base, or finds the open
	// one with the same head, and returns its web URL.
	OpenPullRequest(ctx context.Context, pr PullRequest) (url string, err error)
}

// PullRequest is what a PullRequestOpener opens.
type PullRequest struct {
	// RepoURL is Request.RepoURL; the opener maps it to the forge's project.
	RepoURL string
	// Head is the branch holding the revert (Result.Branch), Base the one it merges into (Result.Base).
	Head, Base string
	// Title and Body describe the request, e.g. the revert commit's subject and body.
	Title, Body string
	// Labels are put on a request that is opened.
	Labels []string
	// Commit is Head's commit: a request from Head already merged at it is returned rather than an empty one
	// opened.
	Commit string
}

// PullRequestBranch is the branch pr mode pushes for a rollback of model's bad version in env.
func PullRequestBranch(model, env, bad string) string {
	return fmt.Sprintf("marina/rollback/%s-%s-v%s", model, env, bad)
}

// Write makes the remote branch hold the rollback of req: one commit like `marina
// rollback` makes, pushed to the branch (commit mode) or to a new branch (pr mode).
// It works in a clone cached under workDir, fetched and reset to the remote on every
// call, so a restarted controller (or a lost cache) never writes twice: a branch
// already holding the revert is a NoOp. An environment that runs a third version is
// left alone with ErrSuperseded. A push that races another writer is redone on top of
// the new head, with backoff, up to a bounded number of attempts (then ErrConflict).
// Errors never hold the credentials.
func Write(ctx context.Context, req Request, workDir string) (Result, error) {
	if req.Mode == "" {
		req.Mode = v1alpha1.GitWriteBackCommit
	}
	if err := req.validate(); err != nil {
		return Result{}, err
	}
	auth, err := req.Auth.authFor(req.RepoURL)
	if err != nil {
		return Result{}, err
	}
	req.Auth.remember(req.RepoURL)
	author, err := parseAuthor(req.Author)
	if err != nil {
		return Result{}, err
	}
	dir := filepath.Join(workDir, cacheKey(req.RepoURL))
	unlock, err := lockDir(ctx, dir)
	if err != nil {
		return Result{}, err
	}
	defer unlock()
	r, closeClone, err := openClone(dir)
	if err != nil {
		return Result{}, err
	}
	defer closeClone()
	r.Author = author
	w := &writer{
		req: req, r: r, auth: auth,
		remote: git.NewRemote(r.Git().Storer, &config.RemoteConfig{Name: remoteName, URLs: []string{req.RepoURL}}),
	}
	delay := firstBackoff
	for attempt := 1; ; attempt++ {
		res, err := w.attempt(ctx)
		if !errors.Is(err, errRaced) {
			if err == nil {
				res.Subject = w.subject(res.Commit)
			}
			return res, err
		}
		if attempt == maxAttempts {
			return Result{}, fmt.Errorf("%w: %s of %s moved under each of %d pushes; the write-back is retried later", ErrConflict, w.target, safeURL(req.RepoURL), attempt)
		}
		t := time.NewTimer(delay/2 + rand.N(delay/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return Result{}, ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, maxBackoff)
	}
}

func (req Request) validate() error {
	if req.RepoURL == "" {
		return errors.New("write-back: no repository URL")
	}
	if req.Mode != v1alpha1.GitWriteBackCommit && req.Mode != v1alpha1.GitWriteBackPullRequest {
		return fmt.Errorf("write-back: mode %q: use %s or %s", req.Mode, v1alpha1.GitWriteBackCommit, v1alpha1.GitWriteBackPullRequest)
	}
	if err := registry.CheckName(req.Model); err != nil {
		return fmt.Errorf("write-back: %w", err)
	}
	if req.Env == "" {
		return errors.New("write-back: no environment")
	}
	for _, v := range []string{req.BadVersion, req.StableVersion} {
		if _, err := model.ParseSemver(v); err != nil {
			return fmt.Errorf("write-back: %w", err)
		}
	}
	if req.BadVersion == req.StableVersion {
		return fmt.Errorf("write-back: the aborted and the stable version are both %s", req.BadVersion)
	}
	if req.Branch != "" {
		if err := plumbing.NewBranchReferenceName(req.Branch).Validate(); err != nil {
			return fmt.Errorf("write-back: branch %q: %w", req.Branch, err)
		}
	}
	if err := plumbing.NewBranchReferenceName(PullRequestBranch(req.Model, req.Env, req.BadVersion)).Validate(); err != nil {
		return fmt.Errorf("write-back: environment %q cannot be part of a branch name: %w", req.Env, err)
	}
	return nil
}

// parseAuthor reads "Name <email>".
func parseAuthor(s string) (object.Signature, error) {
	if s == "" {
		s = DefaultAuthor
	}
	i := strings.LastIndexByte(s, '<')
	name, email := "", ""
	if i > 0 && strings.HasSuffix(s, ">") {
		name, email = strings.TrimSpace(s[:i]), s[i+1:len(s)-1]
	}
	if name == "" || email == "" || strings.ContainsAny(name+email, "<>\n") {
		return object.Signature{}, fmt.Errorf("write-back: author %q: want \"Name <email>\"", s)
	}
	return object.Signature{Name: name, Email: email}, nil
}

// cacheKey names the clone of repoURL under the work directory without showing the URL.
func cacheKey(repoURL string) string {
	sum := sha256.Sum256([]byte(repoURL))
	return hex.EncodeToString(sum[:16])
}

// dirLocks serialises the writes of this process to one clone; repo.Lock guards it
// against other processes.
var dirLocks sync.Map // clone directory → chan struct{} of capacity 1

func lockDir(ctx context.Context, dir string) (unlock func(), err error) {
	v, _ := dirLocks.LoadOrStore(dir, make(chan struct{}, 1))
	ch := v.(chan struct{})
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// openClone opens (or creates) the cached clone at dir and takes its write lock. A
// cache Git cannot open is disposable: it is made again.
func openClone(dir string) (*repo.Repo, func(), error) {
	if _, err := git.PlainOpen(dir); err != nil {
		if err := os.RemoveAll(dir); err != nil {
			return nil, nil, fmt.Errorf("write-back: clearing the cached clone: %w", err)
		}
		if _, err := git.PlainInit(dir, false); err != nil {
			return nil, nil, fmt.Errorf("write-back: creating the cached clone: %w", err)
		}
	}
	r, err := repo.OpenGit(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("write-back: %w", err)
	}
	unlock, err := r.Lock()
	if err != nil {
		r.Close()
		return nil, nil, fmt.Errorf("write-back: %w", err)
	}
	return r, func() { unlock(); r.Close() }, nil
}

// errRaced means the push failed because the remote branch moved: the attempt is redone.
var errRaced = errors.New("the remote branch moved")

// writer is one Write: the clone, the remote and what the errors must not show.
type writer struct {
	req    Request
	r      *repo.Repo
	remote *git.Remote
	auth   transport.AuthMethod
	// target is the branch being pushed, for messages.
	target string
	// mirror says the clone only follows the remote (Mirror), for messages.
	mirror bool
}

// what names the operation in messages.
func (w *writer) what() string {
	if w.mirror {
		return "mirror"
	}
	return "write-back"
}

// branchHint says how to name the branch when the remote names no default.
func (w *writer) branchHint() string {
	if w.mirror {
		return "name the branch"
	}
	return "set spec.gitWriteBack.branch"
}

// attempt fetches the remote, decides, commits and pushes once.
func (w *writer) attempt(ctx context.Context) (Result, error) {
	heads, base, err := w.heads(ctx)
	if err != nil {
		return Result{}, err
	}
	if w.req.Branch != "" {
		base = w.req.Branch
	}
	tip, ok := heads[base]
	if !ok {
		return Result{}, fmt.Errorf("write-back: %s has no branch %q", safeURL(w.req.RepoURL), base)
	}
	w.target = base
	branches := []string{base}
	var res Result
	var pr string
	if w.req.Mode == v1alpha1.GitWriteBackPullRequest {
		res.Base = base
		pr = PullRequestBranch(w.req.Model, w.req.Env, w.req.BadVersion)
		w.target = pr
		if _, ok := heads[pr]; ok {
			branches = append(branches, pr)
		}
	}
	if err := w.fetch(ctx, branches); err != nil {
		return Result{}, err
	}

	if prTip, ok := heads[pr]; pr != "" && ok {
		// The branch is ours, from an earlier call, when it holds the revert.
		if err := w.checkout(pr, prTip); err != nil {
			return Result{}, err
		}
		act, err := w.decide()
		if err == nil && act == noOp {
			res.Commit, res.Branch, res.NoOp = prTip.String(), pr, true
			return res, nil
		}
		return Result{}, fmt.Errorf("write-back: %w: %s on %s does not hold the rollback of %s@%s in %s; delete it or merge it, then the controller writes again",
			ErrBranchExists, pr, safeURL(w.req.RepoURL), w.req.Model, w.req.BadVersion, w.req.Env)
	}

	if err := w.checkout(base, tip); err != nil {
		return Result{}, err
	}
	act, err := w.decide()
	if err != nil {
		return Result{}, err
	}
	if act == noOp {
		res.Commit, res.Branch, res.NoOp = tip.String(), base, true
		return res, nil
	}
	res.Branch = base
	old := tip
	if pr != "" {
		if err := w.checkout(pr, tip); err != nil {
			return Result{}, err
		}
		res.Branch, old = pr, plumbing.ZeroHash
	}
	commit, err := w.commit(act)
	if err != nil {
		return Result{}, err
	}
	if err := w.push(ctx, res.Branch, old); err != nil {
		return Result{}, err
	}
	res.Commit = commit
	return res, nil
}

// subject is the first line of commit's message in the clone, "" when it cannot be read.
func (w *writer) subject(commit string) string {
	c, err := w.r.Git().CommitObject(plumbing.NewHash(commit))
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(c.Message, "\n")
	return strings.TrimSpace(line)
}

// heads lists the remote's branches and its default branch (HEAD's target).
func (w *writer) heads(ctx context.Context) (map[string]plumbing.Hash, string, error) {
	refs, err := w.remote.ListContext(ctx, &git.ListOptions{Auth: w.auth})
	if err != nil {
		return nil, "", redactErr(w.what()+": listing the branches of "+safeURL(w.req.RepoURL), err)
	}
	heads := map[string]plumbing.Hash{}
	def := ""
	for _, ref := range refs {
		switch {
		case ref.Name().IsBranch() && ref.Type() == plumbing.HashReference:
			heads[ref.Name().Short()] = ref.Hash()
		case ref.Name() == plumbing.HEAD && ref.Type() == plumbing.SymbolicReference:
			def = ref.Target().Short()
		}
	}
	if def == "" && w.req.Branch == "" {
		return nil, "", fmt.Errorf("%s: %s does not say which branch is its default; %s", w.what(), safeURL(w.req.RepoURL), w.branchHint())
	}
	return heads, def, nil
}

// fetch brings the branches into refs/remotes/origin/, overwriting what an earlier call fetched.
func (w *writer) fetch(ctx context.Context, branches []string) error {
	specs := make([]config.RefSpec, 0, len(branches))
	for _, b := range branches {
		specs = append(specs, config.RefSpec(fmt.Sprintf("+refs/heads/%s:refs/remotes/%s/%s", b, remoteName, b)))
	}
	err := w.remote.FetchContext(ctx, &git.FetchOptions{RemoteName: remoteName, RefSpecs: specs, Auth: w.auth, Tags: git.NoTags})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return redactErr(w.what()+": fetching "+safeURL(w.req.RepoURL), err)
	}
	return nil
}

// checkout points the local branch at commit, makes it HEAD and resets the index and
// work tree to it, dropping whatever an interrupted earlier call left.
func (w *writer) checkout(branch string, commit plumbing.Hash) error {
	g := w.r.Git()
	name := plumbing.NewBranchReferenceName(branch)
	if err := g.Storer.SetReference(plumbing.NewHashReference(name, commit)); err != nil {
		return fmt.Errorf("%s: %w", w.what(), err)
	}
	if err := g.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, name)); err != nil {
		return fmt.Errorf("%s: %w", w.what(), err)
	}
	wt, err := g.Worktree()
	if err != nil {
		return fmt.Errorf("%s: %w", w.what(), err)
	}
	if err := wt.Reset(&git.ResetOptions{Commit: commit, Mode: git.HardReset}); err != nil {
		return fmt.Errorf("%s: resetting the cached clone to %s: %w", w.what(), branch, err)
	}
	if err := wt.Clean(&git.CleanOptions{Dir: true}); err != nil {
		return fmt.Errorf("%s: cleaning the cached clone: %w", w.what(), err)
	}
	return nil
}

// decide reads the checked-out branch and chooses what to do.
func (w *writer) decide() (action, error) {
	obs, err := observe(w.r, w.req)
	if err != nil {
		return 0, err
	}
	return decide(w.req, obs)
}

// observe reads the environment's version and the bad version's state from the work tree.
func observe(r *repo.Repo, req Request) (observed, error) {
	if !r.Exists(project.ProjectFile) {
		return observed{}, fmt.Errorf("write-back: %s has no %s: not a marina model repository", safeURL(req.RepoURL), project.ProjectFile)
	}
	proj, err := project.Load(r)
	if err != nil {
		return observed{}, err
	}
	if _, ok := proj.Environment(req.Env); !ok {
		return observed{}, fmt.Errorf("%w %q: marina.yaml lists %s", release.ErrUnknownEnv, req.Env, strings.Join(proj.EnvironmentNames(), ", "))
	}
	var obs observed
	if file := project.ApplicationPath(req.Model); r.Exists(file) {
		data, err := r.ReadFile(file, schemas.MaxFileSize)
		if err != nil {
			return observed{}, err
		}
		app, _, err := project.ParseApplication(file, data)
		if err != nil {
			return observed{}, err
		}
		obs.envVersion = app.Spec.Environments[req.Env].Version
	}
	// A bad version missing from models/ is not blocked; committing reports it.
	v, err := (&registry.Registry{Repo: r}).Get(req.Model, req.BadVersion)
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		return observed{}, err
	}
	obs.badBlocked = v != nil && v.State == model.StateBlocked
	return obs, nil
}

// commit makes the revert commit on HEAD and returns its hash.
func (w *writer) commit(act action) (string, error) {
	req := w.req
	if act == rollBack {
		res, err := release.RollBack(w.r, release.Rollback{Model: req.Model, Environment: req.Env, To: req.StableVersion, Reason: req.Reason})
		if err != nil {
			return "", fmt.Errorf("write-back: %w", err)
		}
		return res.Commit, nil
	}
	// blockOnly: someone already moved the environment back; the version still gets blocked.
	v, err := (&registry.Registry{Repo: w.r}).Get(req.Model, req.BadVersion)
	if err != nil {
		return "", fmt.Errorf("write-back: %w", err)
	}
	reason := fmt.Sprintf("rolled back in %s on %s", req.Env, time.Now().UTC().Format(time.RFC3339))
	if req.Reason != "" {
		reason += ": " + req.Reason
	}
	data, err := registry.SetState(v, model.StateBlocked, reason)
	if err != nil {
		return "", err
	}
	msg := fmt.Sprintf("block: %s %s, %s already runs %s\n\nBlocks %s@%s: %s\n\nMarina-Model: %s\nMarina-Environment: %s\nMarina-Blocked: %s\n",
		req.Model, req.BadVersion, req.Env, req.StableVersion, req.Model, req.BadVersion, reason, req.Model, req.Env, req.BadVersion)
	h, err := w.r.Commit(repo.Commit{Message: msg, Changes: []repo.Change{{Path: model.File(req.Model, req.BadVersion), Data: data}}})
	if err != nil {
		return "", fmt.Errorf("write-back: %w", err)
	}
	return h.String(), nil
}

// push sends the local branch to the remote branch of the same name, which must
// still be at old (zero: absent). A failed push whose branch moved is errRaced.
func (w *writer) push(ctx context.Context, branch string, old plumbing.Hash) error {
	if w.req.beforePush != nil {
		w.req.beforePush()
	}
	spec := config.RefSpec("refs/heads/" + branch + ":refs/heads/" + branch)
	err := w.remote.PushContext(ctx, &git.PushOptions{RemoteName: remoteName, RefSpecs: []config.RefSpec{spec}, Auth: w.auth})
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// go-git and the server word a lost race in several ways; the remote's head tells for sure.
	if heads, _, lerr := w.heads(ctx); lerr == nil && heads[branch] != old {
		return errRaced
	}
	return redactErr(fmt.Sprintf("write-back: pushing %s to %s", branch, safeURL(w.req.RepoURL)), err)
}
