package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/marina-dev/marina/internal/ci"
	"github.com/marina-dev/marina/internal/forge"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/registry"
	"github.com/marina-dev/marina/internal/release"
	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/internal/validate"
)

// tokenEnv holds the forge's API token (it also authenticates pushes over HTTP(S), see repo.Push).
const tokenEnv = "MARINA_GIT_TOKEN"

// policy takes the defaults of --pr, --auto-merge and --approvals from marina.yaml's promotion policy of --env
// (environments[].promotion); a flag given on the command line wins, but cannot push a promotion straight to the
// branch of an environment promoted by pull request, nor merge one with fewer approvals than it asks. A marina.yaml
// that cannot be read sets nothing here: the promotion itself reports it.
func (o *promoteOptions) policy() error {
	r, err := o.openRepo()
	if err != nil {
		return nil
	}
	defer r.Close()
	p, err := project.Load(r)
	if err != nil {
		return nil
	}
	env, ok := p.Environment(o.env)
	if !ok || env.Promotion == nil {
		return nil
	}
	pol := *env.Promotion
	if !o.flags.Changed("pr") {
		o.pr = pol.PR
	}
	if !o.pr {
		if pol.PR && o.push {
			return usagef("environment %s is promoted by pull request (marina.yaml environments[].promotion.pr): drop --pr=false, or commit without --push", o.env)
		}
		return nil
	}
	if !o.flags.Changed("auto-merge") {
		o.autoMerge = pol.AutoMerge
	}
	if o.autoMerge && !o.flags.Changed("approvals") {
		o.approvals = pol.Approvals
	}
	if o.autoMerge && o.approvals < pol.Approvals {
		return usagef("--approvals %d: environment %s needs %d approving reviews before a merge (marina.yaml environments[].promotion.approvals)", o.approvals, o.env, pol.Approvals)
	}
	return nil
}

// promoteBranch is the branch promote --pr pushes when --branch is not given.
func promoteBranch(model, env, version string) string {
	return fmt.Sprintf("marina/promote/%s-%s-v%s", model, env, strings.TrimPrefix(version, "v"))
}

// validatePR checks the --pr flags before anything is read or committed, and fills the defaults --pr implies:
// --push, and the branch.
func (o *promoteOptions) validatePR(name, version string) error {
	if !o.pr {
		if o.forge != "" || len(o.labels) > 0 || len(o.reviewers) > 0 {
			return usagef("--forge, --labels and --reviewers go with --pr")
		}
		return nil
	}
	if err := checkForgeName(o.forge, "--pr"); err != nil {
		return err
	}
	for flag, names := range map[string][]string{"--labels": o.labels, "--reviewers": o.reviewers} {
		for i, n := range names {
			if names[i] = strings.TrimSpace(n); names[i] == "" {
				return usagef("%s: an empty name", flag)
			}
		}
	}
	if err := needForgeToken("--pr", " (it also authenticates the push); nothing was committed"); err != nil {
		return err
	}
	o.push = true
	if o.branch == "" {
		o.branch = promoteBranch(name, o.env, version)
	}
	if err := plumbing.NewBranchReferenceName(o.branch).Validate(); err != nil {
		return usagef("branch %q: %v (pass --branch)", o.branch, err)
	}
	return nil
}

// prResult is promote --pr's result: the promotion's and the pull request's.
type prResult struct {
	*release.Result
	// Base is the branch the pull request merges into.
	Base string `json:"base"`
	// PullRequest is the pull request; Opened says whether this run opened it or found it open.
	PullRequest *forge.PullRequest `json:"pullRequest"`
	Opened      bool               `json:"opened"`
	// Merged says, with --auto-merge, that the pull request is merged (by this run, or before).
	Merged bool `json:"merged,omitempty"`
}

// promotePR commits the promotion on its branch (or finds the branch holding it from an earlier run, in this
// clone or pushed from another), pushes it, and opens the pull request into the branch it was cut from, or finds
// the open one and updates its body; with --auto-merge it then merges it once its checks and reviews allow
// (promote_automerge.go). A branch cut from a base that has moved on since is made again on the base's head and
// pushed in place of the old one; when the base already deploys the version, the pull request is closed saying so.
func (o *promoteOptions) promotePR(ctx context.Context, name, version string) error {
	var (
		res   *release.Result
		note  string
		base  string
		tip   plumbing.Hash
		f     forge.Forge
		again bool   // the branch held the promotion already
		moved string // the base moved since the branch was cut: what the branch was
	)
	err := o.globalOptions.write(func(r *repo.Repo) error {
		if err := o.check(r); err != nil {
			return err
		}
		var err error
		if base, err = prBase(r); err != nil {
			return err
		}
		if base == o.branch {
			return usagef("--branch %s is the branch it would merge into; name another", o.branch)
		}
		if f, err = connectForge(ctx, r, o.remote, o.forge); err != nil {
			return err
		}
		earlier, prev, pushed, err := o.earlierPromotion(r, name, version)
		if err != nil {
			return err
		}
		if !prev.IsZero() {
			_, head, err := r.Head()
			if err != nil {
				return err
			}
			current, err := r.IsAncestor(head, prev)
			if err == nil && !current {
				current, err = r.IsAncestor(prev, head) // merged into the base already
			}
			if err != nil || current {
				// An earlier run committed the promotion on the base's head (and perhaps pushed it and opened the
				// pull request, or it was merged since).
				res, tip, again = earlier, prev, true
				note, err = o.apply(r, func() (string, error) { return "", nil })
				return err
			}
			// The base moved on since: the promotion is made again on its head, in place of the old branch.
			moved = prev.String()[:12]
			if err := r.SetBranch(o.branch, prev, plumbing.ZeroHash); err != nil {
				return err
			}
		}
		res, err = release.Promote(r, release.Promotion{Model: name, Version: version, Environment: o.env, Strategy: o.strategy,
			Force: o.force, Branch: o.branch, Check: validate.CheckPromotion})
		if err != nil || res.Unchanged {
			return err
		}
		tip = plumbing.NewHash(res.Commit)
		if pushed.IsZero() {
			note, err = o.apply(r, func() (string, error) { return res.Commit, nil })
			return err
		}
		if err := r.PushReplacing(o.remote, o.branch, pushed); err != nil {
			return fmt.Errorf("%w; the promotion made again on %s's head, commit %s, stays on the local branch %s", err, base, res.Commit[:12], o.branch)
		}
		note = fmt.Sprintf("pushed %s to %s in place of %s, as %s had moved on", o.branch, o.remoteLocation(r), moved, base)
		return nil
	})
	if err != nil {
		return err
	}
	if res.Unchanged {
		if moved != "" {
			return o.closeStale(ctx, f, res, base, moved)
		}
		return o.report(res, "promoted", "")
	}
	title, body, err := o.prText(ctx, tip, res)
	if err != nil {
		return err
	}
	pr, opened, err := f.Ensure(ctx, forge.Request{Head: o.branch, Base: base, Title: title, Body: body, Labels: o.labels,
		Reviewers: o.reviewers, HeadSHA: tip.String()})
	if err != nil {
		return fmt.Errorf("%w (the branch %s is pushed: run the same command again to open the pull request)", err, o.branch)
	}
	out := prResult{Result: res, Base: base, PullRequest: pr, Opened: opened}
	mergedNow := false
	if o.autoMerge {
		if mergedNow = pr.State != forge.Merged; mergedNow {
			fmt.Fprintf(o.errOut, "pull request #%d (%s into %s): %s\n", pr.Number, o.branch, base, pr.URL)
		}
		merged, err := o.newAutoMerge().merge(ctx, f, pr)
		if err != nil {
			return err
		}
		out.PullRequest, out.Merged = merged, true
	}
	return o.result(out, func(w io.Writer) {
		if again {
			fmt.Fprintf(w, "branch %s already holds the promotion of %s in %s: %s → %s (commit %s); %s\n", o.branch, res.Model,
				res.Environment, dash(res.From), res.To, res.Commit[:12], note)
		} else {
			fmt.Fprintf(w, "promoted %s in %s: %s → %s (commit %s on branch %s); %s\n", res.Model, res.Environment,
				dash(res.From), res.To, res.Commit[:12], o.branch, note)
		}
		switch {
		case opened:
			fmt.Fprintf(w, "opened pull request #%d (%s into %s): %s\n", pr.Number, o.branch, base, pr.URL)
		case pr.State == forge.Merged:
			fmt.Fprintf(w, "pull request #%d from %s into %s is merged already: %s\n", pr.Number, o.branch, base, pr.URL)
		default:
			fmt.Fprintf(w, "pull request #%d from %s into %s is already open (its description brought up to date): %s\n", pr.Number, o.branch, base, pr.URL)
		}
		if mergedNow {
			fmt.Fprintf(w, "merged pull request #%d into %s: its checks passed%s\n", pr.Number, base, approvalsNote(o.approvals))
		}
	})
}

// earlierPromotion reads the promotion an earlier run left on the branch: the remote's commit (pushed from this
// clone or another, e.g. an earlier CI job), else the local branch's (a run whose push failed). The local branch
// is made the remote's. pushed is the remote's commit, ZeroHash when the remote has no such branch; prev is
// ZeroHash when no run left one. A branch holding anything else is a usage error.
func (o *promoteOptions) earlierPromotion(r *repo.Repo, name, version string) (earlier *release.Result, prev, pushed plumbing.Hash, err error) {
	pushed, err = r.Fetch(o.remote, o.branch)
	if err != nil && !errors.Is(err, repo.ErrNoRemoteBranch) {
		return nil, prev, pushed, err
	}
	var local plumbing.Hash
	if ref, err := r.Git().Reference(plumbing.NewBranchReferenceName(o.branch), true); err == nil {
		local = ref.Hash()
	}
	if prev = pushed; prev.IsZero() {
		prev = local
	}
	if prev.IsZero() {
		return nil, prev, pushed, nil
	}
	if earlier, err = promotionOnBranch(r, prev, o.branch, name, o.env, version); err != nil {
		return nil, prev, pushed, err
	}
	if local != prev {
		err = r.SetBranch(o.branch, local, prev)
	}
	return earlier, prev, pushed, err
}

// closeStale closes the open pull request from the branch, whose promotion (the commit was) the base now holds
// (merged by another way), saying why; with none open it says nothing was left to do.
func (o *promoteOptions) closeStale(ctx context.Context, f forge.Forge, res *release.Result, base, was string) error {
	pr, err := f.Find(ctx, o.branch, base)
	if err != nil {
		return err
	}
	out := prResult{Result: res, Base: base, PullRequest: pr}
	if pr != nil {
		why := fmt.Sprintf("%s already deploys %s %s in %s, so this pull request (branch %s at %s) no longer changes anything: closed by `marina promote --pr`.",
			base, res.Model, res.To, res.Environment, o.branch, was)
		if err := f.Close(ctx, pr.Number, why); err != nil {
			return err
		}
		pr.State = forge.Closed
	}
	return o.result(out, func(w io.Writer) {
		fmt.Fprintf(w, "%s already runs %s in %s on %s: nothing to promote", res.Model, res.To, res.Environment, base)
		if pr != nil {
			fmt.Fprintf(w, "; closed pull request #%d from %s, which no longer changes anything: %s", pr.Number, o.branch, pr.URL)
		}
		fmt.Fprintln(w)
	})
}

// prBase is the branch a promotion's pull request merges into: the current branch, else marina.yaml's
// spec.repository.branch.
func prBase(r *repo.Repo) (string, error) {
	head, _, err := r.Head()
	if err == nil && head.IsBranch() {
		return head.Short(), nil
	}
	if p, err := project.Load(r); err == nil && p.Spec.Repository.Branch != "" {
		return p.Spec.Repository.Branch, nil
	}
	return "", usagef("--pr: HEAD is on no branch and marina.yaml sets no spec.repository.branch: check out the branch the pull request merges into")
}

// promotionOnBranch reads back the promotion an earlier run committed at commit, the head of branch: its
// subject must be promote's for model in env to version.
func promotionOnBranch(r *repo.Repo, commit plumbing.Hash, branch, model, env, version string) (*release.Result, error) {
	c, err := r.Git().CommitObject(commit)
	if err != nil {
		return nil, err
	}
	subject, _, _ := strings.Cut(c.Message, "\n")
	m, from, to, in, ok := parsePromoteSubject(subject)
	if !ok || m != model || in != env || strings.TrimPrefix(to, "v") != strings.TrimPrefix(version, "v") {
		return nil, usagef("branch %s exists and its last commit (%s, %q) is not the promotion of %s@%s to %s: choose another --branch name, or delete it (git branch -D %s)",
			branch, commit.String()[:12], subject, model, version, env, branch)
	}
	return &release.Result{Model: model, Environment: env, From: from, To: to, Commit: commit.String(), Branch: branch}, nil
}

// parsePromoteSubject reads a promotion commit's subject, "promote: MODEL FROM → TO in ENV" (FROM "(none)" for
// a first deployment, returned as "").
func parsePromoteSubject(subject string) (model, from, to, env string, ok bool) {
	rest, ok := strings.CutPrefix(subject, "promote: ")
	if ok {
		model, rest, ok = strings.Cut(rest, " ")
	}
	if ok {
		from, rest, ok = strings.Cut(rest, " → ")
	}
	if ok {
		to, env, ok = strings.Cut(rest, " in ")
	}
	if !ok || model == "" || from == "" || to == "" || env == "" || strings.Contains(env, " ") {
		return "", "", "", "", false
	}
	if from == "(none)" {
		from = ""
	}
	return model, from, to, env, true
}

// prText is the pull request's title, the promotion commit's subject, and its body: the versions it swaps
// (ci.WriteVersions: artifacts, digests, signatures, what changed) and marina ci's Markdown summary of the change
// from the commit's parent to the commit, read in a clone of the branch (validate and render read a work tree,
// and the branch is not checked out). A summary that cannot be made is said in the body and on stderr, not fatal:
// the pull request's own CI runs marina ci again.
func (o *promoteOptions) prText(ctx context.Context, tip plumbing.Hash, res *release.Result) (string, string, error) {
	r, err := o.openRepo()
	if err != nil {
		return "", "", err
	}
	defer r.Close()
	c, err := r.Git().CommitObject(tip)
	if err != nil {
		return "", "", err
	}
	title, _, _ := strings.Cut(c.Message, "\n")
	footer := "\n---\n<sub>Opened by `marina promote --pr`. Merging it deploys the version: Argo CD or Flux apply the branch it merges into.</sub>\n"
	var versions strings.Builder
	if err := writeVersions(&versions, r, res); err != nil {
		return "", "", err
	}
	md, err := o.ciMarkdown(ctx, r, tip)
	if err != nil {
		fmt.Fprintf(o.errOut, "warning: no marina ci summary in the pull request: %v\n", err)
		md = fmt.Sprintf("%s\n\n_marina ci could not summarize the change: %s._\n", title, repo.Redact(err.Error()))
	}
	return title, md + "\n" + versions.String() + footer, nil
}

// writeVersions writes the section on the versions res swaps in its environment, as the registry of r holds them.
func writeVersions(w io.Writer, r *repo.Repo, res *release.Result) error {
	reg := &registry.Registry{Repo: r}
	to, err := reg.Get(res.Model, res.To)
	if err != nil {
		return err
	}
	var from *model.Version
	if res.From != "" {
		if from, err = reg.Get(res.Model, res.From); err != nil {
			return err
		}
	}
	return ci.WriteVersions(w, res.Environment, from, to)
}

// ciMarkdown runs marina ci (without model checks: the pull request's CI runs them) in a clone of the repository
// at tip, comparing tip with its parent, and returns its Markdown summary.
func (o *promoteOptions) ciMarkdown(ctx context.Context, r *repo.Repo, tip plumbing.Hash) (string, error) {
	c, err := r.Git().CommitObject(tip)
	if err != nil {
		return "", err
	}
	if c.NumParents() != 1 {
		return "", fmt.Errorf("commit %s has %d parents", tip.String()[:12], c.NumParents())
	}
	wt, err := r.Git().Worktree()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "marina-promote-pr-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	if _, err := git.PlainCloneContext(ctx, dir, false, &git.CloneOptions{URL: wt.Filesystem.Root(),
		ReferenceName: plumbing.NewBranchReferenceName(o.branch), SingleBranch: true}); err != nil {
		return "", fmt.Errorf("cloning the branch %s to summarize it: %s", o.branch, repo.Redact(err.Error()))
	}
	root := dir
	if prefix := path.Dir(r.GitPath(project.ProjectFile)); prefix != "." {
		root = filepath.Join(dir, filepath.FromSlash(prefix))
	}
	clone, err := repo.Open(root)
	if err != nil {
		return "", err
	}
	defer clone.Close()
	res, err := ci.Run(ctx, clone, ci.Options{Base: c.ParentHashes[0].String(), Checks: ci.ChecksOff})
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := ci.WriteMarkdownWith(&b, res, markdownOptions(clone, "")); err != nil {
		return "", err
	}
	return b.String(), nil
}
