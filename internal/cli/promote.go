package cli

import (
	"fmt"
	"io"
	"strings"

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

// publish pushes what was committed when --push is set.
func (o *branchOptions) publish(r *repo.Repo) error {
	if !o.push {
		return nil
	}
	branch := o.branch
	if branch == "" {
		head, _, err := r.Head()
		if err != nil {
			return err
		}
		branch = head.Short()
	}
	return r.Push(o.remote, branch)
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
}

func (o *promoteOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.env, "env", "", "environment to deploy to (required)")
	fs.StringVar(&o.strategy, "strategy", "", "rollout strategy for this change: canary, bluegreen or shadow (default: keep the environment's)")
	fs.BoolVar(&o.force, "force", false, "override the environment order, policies and quality gates of marina.yaml, recorded in the commit's Marina-Forced trailer (a blocked version is still refused)")
	fs.BoolVar(&o.resume, "resume", false, "resume NAME's paused rollout in the environment's cluster instead (marina controller; uses --kubeconfig, --context)")
	o.branchOptions.AddFlags(fs)
	fs.StringVar(&o.kube.kubeconfig, "kubeconfig", "", "with --resume: path of the kubeconfig file")
	fs.StringVar(&o.kube.context, "context", "", "with --resume: kubeconfig context to use")
}

func (o *promoteOptions) Validate() error {
	if o.env == "" {
		return usagef("--env is required")
	}
	if o.resume {
		if strings.Contains(o.target, "@") || o.strategy != "" || o.branch != "" || o.push {
			return usagef("--resume takes NAME only, without --strategy, --branch or --push")
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
	return nil
}

func (o *promoteOptions) Run() error {
	if o.resume {
		return o.resumeRollout()
	}
	name, version, _ := strings.Cut(o.target, "@")
	return o.write(func(r *repo.Repo) error {
		if err := o.check(r); err != nil {
			return err
		}
		res, err := release.Promote(r, release.Promotion{Model: name, Version: version, Environment: o.env, Strategy: o.strategy, Force: o.force, Branch: o.branch,
			Check: validate.CheckPromotion})
		if err != nil {
			return err
		}
		if !res.Unchanged {
			if err := o.publish(r); err != nil {
				return err
			}
		}
		return o.report(res, "promoted")
	})
}

// report prints an operation's result: one line, or the result as data with -o json|yaml.
func (g *globalOptions) report(res *release.Result, verb string) error {
	return g.result(res, func(w io.Writer) {
		if res.Unchanged {
			fmt.Fprintf(w, "%s already runs %s in %s: nothing to do\n", res.Model, res.To, res.Environment)
			return
		}
		where := ""
		if res.Branch != "" {
			where = " on branch " + res.Branch
		}
		fmt.Fprintf(w, "%s %s in %s: %s → %s (commit %s%s)\n", verb, res.Model, res.Environment, dash(res.From), res.To, res.Commit[:12], where)
	})
}

func newPromoteCommand(g *globalOptions) *cobra.Command {
	o := &promoteOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "promote NAME@VERSION --env ENV | promote NAME --env ENV --resume",
		Short: "Deploy a registered version to an environment, as one Git commit",
		Long: `promote changes the environment's version in applications/NAME/model.yaml in one
commit, with the environment's re-rendered manifests. Before committing it checks
what validate would: it refuses a blocked or unregistered version, a version that has
not run in the environments marina.yaml says must come first, one that breaks the
environment's policies (limits, digest-pinned image, signed artifact) or the quality
gates, and a strategy the model's backend cannot carry out (canary, bluegreen and
shadow need spec.backend: marina). --force overrides all but the blocked version and
the strategy, and the commit records what it overrode (Marina-Forced trailer).

With --resume, nothing is committed: the ModelDeployment NAME in the environment's
namespace gets the annotation marina.dev/resume, and marina controller moves its
paused rollout (a pause without duration, an inconclusive analysis, a blue-green
preview) to the next step.`,
		Example: `  marina promote fraud-detector@1.1.0 --env staging
  marina promote fraud-detector --env prod --resume        # a rollout paused by marina controller goes on
  marina promote fraud-detector@1.1.0 --env prod --strategy canary
  marina promote fraud-detector@1.1.0 --env prod --branch promote-1.1.0 --push`,
		Args: exactArgs(1, "NAME@VERSION (or NAME with --resume)"),
		RunE: runE(o, func(args []string) { o.target = args[0] }),
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
