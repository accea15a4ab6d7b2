package cli

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/marina-dev/marina/internal/release"
	"github.com/marina-dev/marina/internal/repo"
)

type rollbackOptions struct {
	*globalOptions
	branchOptions
	name   string
	env    string
	to     string
	reason string
}

func (o *rollbackOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.env, "env", "", "environment to roll back (required)")
	fs.StringVar(&o.to, "to", "", "version to go back to (default: the one deployed before the current one)")
	fs.StringVar(&o.reason, "reason", "", "why, recorded on the blocked version")
	o.branchOptions.AddFlags(fs)
}

func (o *rollbackOptions) Validate() error {
	if o.env == "" {
		return usagef("--env is required")
	}
	return nil
}

func (o *rollbackOptions) Run(ctx context.Context) error {
	return o.commitRelease(o.globalOptions, "rolled back", func(r *repo.Repo) (*release.Result, error) {
		return release.RollBack(r, release.Rollback{Model: o.name, Environment: o.env, To: o.to, Reason: o.reason, Branch: o.branch})
	})
}

func newRollbackCommand(g *globalOptions) *cobra.Command {
	o := &rollbackOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "rollback NAME --env ENV",
		Short: "Go back to the previous version in an environment and block the current one",
		Long: `rollback makes one revert-style commit: the environment's version in
applications/NAME/model.yaml goes back to the version deployed before (or --to),
and the version being rolled back is marked blocked in models/NAME/ so it cannot
be promoted again by mistake. It names the other environments that still deploy
the blocked version (stillRunning with -o json): roll each of them back too.`,
		Example: `  marina rollback fraud-detector --env prod
  marina rollback fraud-detector --env prod --to 1.0.0 --reason "p99 latency doubled"`,
		Args: exactArgs(1, "NAME"),
		RunE: runE(o, func(args []string) { o.name = args[0] }),
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
