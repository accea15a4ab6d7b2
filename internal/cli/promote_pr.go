package cli

import (
	"bytes"
	"context"
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
	"github.com/marina-dev/marina/internal/project"
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
		if o.forge != "gitea" || len(o.labels) > 0 {
			return usagef("--forge and --labels go with --pr")
		}
		return nil
	}
	if err := checkForgeName(o.forge, "--pr"); err != nil {
		return err
	}
	for i, l := range o.labels {
		o.labels[i] = strings.TrimSpace(l)
		if o.labels[i] == "" {
			return usagef("--labels: an empty label name")
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

// promotePR commits the promotion on its branch (or finds the branch holding it from an earlier run), pushes it,
// and opens the pull request into the branch it was cut from, or finds the open one and updates its body; with
// --auto-merge it then merges it once its checks and reviews allow (promote_automerge.go).
func (o *promoteOptions) promotePR(ctx context.Context, name, version string) error {
	var (
		res   *release.Result
		note  string
		base  string
		tip   plumbing.Hash
		f     forge.Forge
		again bool // the branch held the promotion already
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
		existing, err := r.Git().Reference(plumbing.NewBranchReferenceName(o.branch), true)
		if err == nil {
			// An earlier run committed the promotion there (and perhaps pushed it and opened the pull request).
			if res, err = promotionOnBranch(r, existing.Hash(), o.branch, name, o.env, version); err != nil {
				return err
			}
			tip, again = existing.Hash(), true
			note, err = o.apply(r, func() (string, error) { return "", nil })
			return err
		}
		res, err = release.Promote(r, release.Promotion{Model: name, Version: version, Environment: o.env, Strategy: o.strategy,
			Force: o.force, Branch: o.branch, Check: validate.CheckPromotion})
		if err != nil {
			return err
		}
		if res.Unchanged {
			return nil
		}
		tip = plumbing.NewHash(res.Commit)
		note, err = o.apply(r, func() (string, error) { return res.Commit, nil })
		return err
	})
	if err != nil {
		return err
	}
	if res.Unchanged {
		return o.report(res, "promoted", "")
	}
	title, body, err := o.prText(ctx, tip)
	if err != nil {
		return err
	}
	pr, opened, err := f.Ensure(ctx, forge.Request{Head: o.branch, Base: base, Title: title, Body: body, Labels: o.labels, HeadSHA: tip.String()})
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

// prText is the pull request's title, the promotion commit's subject, and its body: marina ci's Markdown summary
// of the change from the commit's parent to the commit, read in a clone of the branch (validate and render read
// a work tree, and the branch is not checked out). A summary that cannot be made is said in the body and on
// stderr, not fatal: the pull request's own CI runs marina ci again.
func (o *promoteOptions) prText(ctx context.Context, tip plumbing.Hash) (string, string, error) {
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
	md, err := o.ciMarkdown(ctx, r, tip)
	if err != nil {
		fmt.Fprintf(o.errOut, "warning: no marina ci summary in the pull request: %v\n", err)
		return title, fmt.Sprintf("%s\n\n_marina ci could not summarize the change: %s._\n%s", title, repo.Redact(err.Error()), footer), nil
	}
	return title, md + footer, nil
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
