package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/marina-dev/marina/internal/release"
	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/internal/validate"
)

// branchOptions put a change on a new branch and push it, for review flows.
type branchOptions struct {
	branch string
	push   bool
	remote string
}

func (o *branchOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.branch, "branch", "", "commit on this new branch instead of the current one (for a pull request)")
	fs.BoolVar(&o.push, "push", false, "push the branch (or the current branch) to --remote after committing")
	fs.StringVar(&o.remote, "remote", "origin", "remote to push to")
}

// check fails early, before anything is committed, when --push names a missing remote.
func (o *branchOptions) check(r *repo.Repo) error {
	if !o.push {
		return nil
	}
	if _, err := r.Git().Remote(o.remote); err != nil {
		return usagef("--remote %q: %v (add it with git remote add, or pass --remote)", o.remote, err)
	}
	return nil
}

// commit opens the repository for writing and runs op, which commits at most once and returns the commit, through
// apply: with --push a missing remote is refused before anything is committed, and the commit is pushed. It returns
// apply's note on the push.
func (o *branchOptions) commit(g *globalOptions, op func(*repo.Repo) (string, error)) (string, error) {
	var note string
	err := g.write(func(r *repo.Repo) error {
		if err := o.check(r); err != nil {
			return err
		}
		var err error
		note, err = o.apply(r, func() (string, error) { return op(r) })
		return err
	})
	return note, err
}

// pushAttempts bounds how often apply re-applies an operation on a remote that keeps moving.
const pushAttempts = 3

// apply runs op, which commits at most once and returns the commit ("" when there was nothing to do),
// and with --push pushes the branch, also when op had nothing to do (a run killed between commit and
// push, or whose push failed, left the commit unpushed). A push the remote rejects because its branch
// moved takes this run's commit off the branch again; when the remote only moved ahead, op runs again
// on the remote's head (an operation is a function of the files it reads) and that is pushed. It
// returns a note for the user on what happened to the push.
func (o *branchOptions) apply(r *repo.Repo, op func() (string, error)) (string, error) {
	if !o.push {
		_, err := op()
		return "", err
	}
	branch := o.branch
	if branch == "" {
		head, _, err := r.Head()
		if err != nil {
			return "", err
		}
		branch = head.Short()
	}
	to := o.remoteLocation(r)
	note := fmt.Sprintf("pushed %s to %s", branch, to)
	for attempt := 1; ; attempt++ {
		commit, err := op()
		if err != nil {
			return "", err
		}
		err = r.Push(o.remote, branch)
		if err == nil {
			return note, nil
		}
		if !errors.Is(err, repo.ErrPushRejected) {
			if commit != "" {
				return "", fmt.Errorf("%w; commit %s stays on %s: run the same command with --push again to push it", err, commit[:12], branch)
			}
			return "", err
		}
		if o.branch != "" {
			return "", failedf("%v: branch %s already exists there; choose another --branch name (the local branch %s is kept; delete it with git branch -D %s)", err, branch, branch, branch)
		}
		if commit != "" {
			if err := o.takeBack(r, commit); err != nil {
				return "", err
			}
		}
		remoteHead, err := r.Fetch(o.remote, branch)
		if err != nil {
			return "", err
		}
		_, local, err := r.Head()
		if err != nil {
			return "", err
		}
		ahead, err := r.IsAncestor(local, remoteHead)
		if err != nil {
			return "", err
		}
		undone := ""
		if commit != "" {
			undone = " This run's commit was taken back: nothing is left unpushed."
		}
		if !ahead {
			return "", failedf("%v, and %s has commits %s/%s does not: run git pull --rebase %s %s, then run the command again.%s", err, branch, o.remote, branch, o.remote, branch, undone)
		}
		if attempt == pushAttempts {
			return "", failedf("%v: %s/%s moved %d times while marina re-applied the change; run the command again.%s", repo.ErrPushRejected, o.remote, branch, attempt, undone)
		}
		if err := r.MoveBranch(remoteHead); err != nil {
			return "", fmt.Errorf("fast-forwarding %s to %s/%s (%s) to re-apply the change: %w", branch, o.remote, branch, remoteHead.String()[:12], err)
		}
		note = fmt.Sprintf("pushed %s to %s after re-applying the change on %s/%s (%s), which had moved", branch, to, o.remote, branch, remoteHead.String()[:12])
	}
}

// takeBack moves the current branch back to the parent of commit, this run's commit, and drops its tags.
func (o *branchOptions) takeBack(r *repo.Repo, commit string) error {
	c, err := r.Git().CommitObject(plumbing.NewHash(commit))
	if err != nil {
		return err
	}
	if c.NumParents() != 1 {
		return fmt.Errorf("commit %s has %d parents; cannot take it back", commit[:12], c.NumParents())
	}
	if err := r.MoveBranch(c.ParentHashes[0]); err != nil {
		return fmt.Errorf("taking back commit %s after the rejected push: %w", commit[:12], err)
	}
	return r.DropTags(c.Hash)
}

type promoteOptions struct {
	*globalOptions
	branchOptions
	target   string
	env      string
	strategy string
	force    bool
	resume   bool
	kube     kubeOptions
	// pr, forge, labels and reviewers open a pull request for the promotion (promote_pr.go).
	pr        bool
	forge     string
	labels    []string
	reviewers []string
	// autoMerge, mergeWait, approvals and requiredStatus merge it once its checks and reviews allow
	// (promote_automerge.go).
	autoMerge      bool
	mergeWait      time.Duration
	approvals      int
	requiredStatus []string
	// flags tells the flags given on the command line from those marina.yaml's promotion policy sets (policy).
	flags *pflag.FlagSet
}

func (o *promoteOptions) AddFlags(fs *pflag.FlagSet) {
	o.flags = fs
	fs.StringVar(&o.env, "env", "", "environment to deploy to (required)")
	fs.StringVar(&o.strategy, "strategy", "", "rollout strategy for this change: canary, bluegreen or shadow (default: keep the environment's)")
	fs.BoolVar(&o.force, "force", false, "override the environment order, policies and quality gates of marina.yaml, recorded in the commit's Marina-Forced trailer (a blocked version is still refused)")
	fs.BoolVar(&o.resume, "resume", false, "resume NAME's paused rollout in the environment's cluster instead (marina controller; uses --kubeconfig, --context)")
	o.branchOptions.AddFlags(fs)
	fs.BoolVar(&o.pr, "pr", false, "open a pull request for the promotion on the forge hosting --remote (implies --push; default --branch marina/promote/NAME-ENV-vVERSION; token in $MARINA_GIT_TOKEN), or find the open one")
	fs.StringVar(&o.forge, "forge", "", forgeFlagUsage("--pr"))
	fs.StringSliceVar(&o.labels, "labels", nil, "labels of the pull request --pr opens, comma-separated (created when missing)")
	fs.StringSliceVar(&o.reviewers, "reviewers", nil, "usernames asked to review the pull request --pr opens, comma-separated")
	fs.BoolVar(&o.autoMerge, "auto-merge", false, "with --pr, merge the pull request (a merge commit) once the checks on its head are success and it has --approvals approving reviews, waiting up to --wait")
	fs.DurationVar(&o.mergeWait, "wait", defaultMergeWait, "with --auto-merge, how long to wait for the checks and approvals (0: check once)")
	fs.IntVar(&o.approvals, "approvals", 0, "with --auto-merge, the approving reviews of the head the pull request needs")
	fs.StringSliceVar(&o.requiredStatus, "required-status", slices.Clone(defaultRequiredStatus), "with --auto-merge, the commit statuses (contexts) that must be on the head and success, besides any other posted there")
	o.kube.addClusterFlags(fs) // with --resume; the namespace is the environment's
}

func (o *promoteOptions) Validate() error {
	if o.env == "" {
		return usagef("--env is required")
	}
	if o.resume {
		if strings.Contains(o.target, "@") || o.strategy != "" || o.branch != "" || o.push || o.pr {
			return usagef("--resume takes NAME only, without --strategy, --branch, --push or --pr")
		}
		return nil
	}
	name, version, ok := strings.Cut(o.target, "@")
	if !ok || name == "" || version == "" {
		return usagef("want NAME@VERSION, e.g. fraud-detector@1.1.0 (got %q)", o.target)
	}
	switch o.strategy {
	case "", "canary", "bluegreen", "shadow":
	default:
		return usagef("--strategy %q: use canary, bluegreen or shadow", o.strategy)
	}
	if err := o.policy(); err != nil {
		return err
	}
	if err := o.validateAutoMerge(); err != nil {
		return err
	}
	return o.validatePR(name, version)
}

func (o *promoteOptions) Run(ctx context.Context) error {
	if o.resume {
		return o.resumeRollout(ctx)
	}
	name, version, _ := strings.Cut(o.target, "@")
	if o.pr {
		return o.promotePR(ctx, name, version)
	}
	return o.commitRelease(o.globalOptions, "promoted", func(r *repo.Repo) (*release.Result, error) {
		return release.Promote(r, release.Promotion{Model: name, Version: version, Environment: o.env, Strategy: o.strategy, Force: o.force, Branch: o.branch,
			Check: validate.CheckPromotion})
	})
}

// commitRelease runs a release operation (promote, rollback) through commit and reports its result.
func (o *branchOptions) commitRelease(g *globalOptions, verb string, op func(*repo.Repo) (*release.Result, error)) error {
	var res *release.Result
	note, err := o.commit(g, func(r *repo.Repo) (string, error) {
		var err error
		if res, err = op(r); err != nil {
			return "", err
		}
		return res.Commit, nil
	})
	if err != nil {
		return err
	}
	return g.report(res, verb, note)
}

// report prints an operation's result: one line, or the result as data with -o json|yaml.
// note, when set, says what happened to the push.
func (g *globalOptions) report(res *release.Result, verb, note string) error {
	return g.result(res, func(w io.Writer) {
		if res.Unchanged && note == "" {
			fmt.Fprintf(w, "%s already runs %s in %s: nothing to do\n", res.Model, res.To, res.Environment)
			return
		}
		if note != "" {
			note = "; " + note
		}
		if res.Unchanged {
			fmt.Fprintf(w, "%s already runs %s in %s: nothing to commit%s\n", res.Model, res.To, res.Environment, note)
			return
		}
		where := ""
		if res.Branch != "" {
			where = " on branch " + res.Branch
		}
		fmt.Fprintf(w, "%s %s in %s: %s → %s (commit %s%s)%s\n", verb, res.Model, res.Environment, dash(res.From), res.To, res.Commit[:12], where, note)
		for _, e := range res.StillRunning {
			fmt.Fprintf(w, "%s@%s is now blocked but still deployed in %s: roll it back there too (marina rollback %s --env %s)\n", res.Model, res.From, e, res.Model, e)
		}
	})
}

func newPromoteCommand(g *globalOptions) *cobra.Command {
	o := &promoteOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "promote NAME@VERSION --env ENV [--pr [--auto-merge]] | promote NAME --env ENV --resume",
		Short: "Deploy a registered version to an environment, as one Git commit",
		Long: `promote changes the environment's version in applications/NAME/model.yaml in one
commit, with the environment's re-rendered manifests. Before committing it checks
what validate would: it refuses a blocked or unregistered version, a version that has
not run in the environments marina.yaml says must come first, one that breaks the
environment's policies (limits, digest-pinned image, signed artifact) or the quality
gates, and a strategy the model's backend cannot carry out (canary, bluegreen and
shadow need spec.backend: marina). --force overrides all but the blocked version and
the strategy, and the commit records what it overrode (Marina-Forced trailer).

With --pr, the commit goes on its own branch (--branch, default
marina/promote/NAME-ENV-vVERSION), which is pushed to --remote, and a pull request
from it into the branch it was cut from (the current branch, else marina.yaml's
spec.repository.branch) is opened on the forge hosting --remote's HTTP(S) URL: the
commit's subject as title, marina ci's Markdown summary of the change as description
(model checks left to the pull request's CI), --labels on it, --reviewers asked to
review it. The forge's API token is read from MARINA_GIT_TOKEN (it also authenticates
the push; a missing token is a usage error before anything is committed) and never
printed. Running the same
command again (in this clone or another, e.g. a CI job's) finds the branch and the
open pull request, updating its description, instead of opening a second. When the
base has moved on since the branch was cut, the promotion is made again on the base's
head and pushed in place of the old branch (a force push that replaces only the
commit it read): the same pull request, with a fresh diff. When the base already
deploys the version (merged another way), the pull request is closed with a comment
saying so. --forge is gitea, github (or GitHub Enterprise Server) or gitlab (a merge
request there); by default the forge the remote's host names (github.com, gitlab.com, a
host with a github or gitlab label), else gitea. docs/promotion.md sets each one up.

With --pr --auto-merge, marina then merges the pull request itself (a merge commit,
held to the head it checked), the same way on every forge: once every commit status
on its head is success, --required-status among them (default marina/ci, which
marina ci --post-status posts), and it has --approvals approving reviews of that
head (default 0; dismissed and stale ones do not count). It reads them again every
5 s, saying on stderr what it waits for, up to --wait (default 10m; 0 checks once).
A failed or errored status ends the wait at once: exit 1 naming the check and its
description, the pull request left open. Still waiting when --wait has passed is
exit 1 saying for what (a check, an approval): run the same command again to wait
more. A pull request merged already is success; -o json has "merged": true.

marina.yaml's environments[].promotion sets these per environment: pr: true makes
--pr the default, autoMerge: true --auto-merge, approvals: N --approvals. A flag on
the command line wins (e.g. --pr=false commits locally only), but cannot push
straight to the branch of an environment promoted by pull request, nor merge with
fewer approvals than the environment asks.

With --resume, nothing is committed: the ModelDeployment NAME in the environment's
namespace gets the annotation marina.dev/resume, and marina controller moves its
paused rollout (a pause without duration, an inconclusive analysis, a blue-green
preview) to the next step.`,
		Example: `  marina promote fraud-detector@1.1.0 --env staging
  marina promote fraud-detector --env prod --resume        # a rollout paused by marina controller goes on
  marina promote fraud-detector@1.1.0 --env prod --strategy canary
  marina promote fraud-detector@1.1.0 --env prod --branch promote-1.1.0 --push
  marina promote fraud-detector@1.1.0 --env prod --pr --labels promotion --reviewers ada   # a pull request; token in MARINA_GIT_TOKEN
  marina promote fraud-detector@1.1.0 --env prod --pr --auto-merge --approvals 1 --wait 30m   # merged once marina ci passed on it and it is approved`,
		Args: exactArgs(1, "NAME@VERSION (or NAME with --resume)"),
		RunE: runE(o, func(args []string) { o.target = args[0] }),
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
