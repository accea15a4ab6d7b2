package cli

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/marina-dev/marina/internal/registry"
	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/internal/status"
)

type statusOptions struct {
	*globalOptions
	cluster clusterFlags
	env     string
	model   string
}

func (o *statusOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.env, "env", "", "only this environment (default: every environment in marina.yaml)")
	o.cluster.AddFlags(fs, true)
}

func (o *statusOptions) Validate() error {
	if o.model != "" {
		if err := registry.CheckName(o.model); err != nil {
			return usagef("%v", err)
		}
	}
	return o.cluster.Validate()
}

// clusterFlags are the flags of the commands that show what a cluster runs next to Git (status, ui): --cluster,
// the kubeconfig's flags, which imply it, and --timeout.
type clusterFlags struct {
	kube    kubeOptions
	enabled bool
	timeout time.Duration
	implied []string // the flags that turn --cluster on
}

// AddFlags adds the flags; with namespace also -n, which then implies --cluster too.
func (o *clusterFlags) AddFlags(fs *pflag.FlagSet, namespace bool) {
	by := "--kubeconfig and --context"
	o.implied = []string{"kubeconfig", "context"}
	if namespace {
		o.implied, by = append(o.implied, "namespace"), "--kubeconfig, --context and -n"
		o.kube.AddFlags(fs)
	} else {
		o.kube.addClusterFlags(fs)
	}
	fs.BoolVar(&o.enabled, "cluster", false, "also show what the cluster runs, with the current kubeconfig context (implied by "+by+")")
	fs.DurationVar(&o.timeout, "timeout", 15*time.Second, "time limit of each request to the API server")
}

func (o *clusterFlags) Validate() error {
	if o.timeout <= 0 {
		return usagef("--timeout %s: use a positive duration, e.g. 15s", o.timeout)
	}
	return nil
}

// imply turns --cluster on when a flag that names a cluster was given.
func (o *clusterFlags) imply(fs *pflag.FlagSet) {
	for _, f := range o.implied {
		o.enabled = o.enabled || fs.Changed(f)
	}
}

// open returns the cluster of the kubeconfig, each request to it bounded by --timeout.
func (o *clusterFlags) open() (*status.Cluster, error) {
	cfg, _, err := o.kube.restConfig()
	if err != nil {
		return nil, err
	}
	cfg.Timeout = o.timeout
	c, err := status.NewCluster(cfg)
	if err != nil {
		return nil, usagef("kubeconfig: %v", err)
	}
	return c, nil
}

// statusReport is what -o json|yaml prints.
type statusReport struct {
	Models []status.Row `json:"models"`
}

func (o *statusOptions) Run(ctx context.Context) error {
	return o.read(func(r *repo.Repo, p *printer) error {
		rows, err := status.Read(r, status.Filter{Model: o.model, Environment: o.env, Namespace: o.cluster.kube.namespace})
		var unknown *status.UnknownModelError
		switch {
		case errors.As(err, &unknown):
			return failed(err)
		case errors.Is(err, status.ErrUnknownEnvironment):
			return usagef("--env %v", err)
		case errors.Is(err, status.ErrNoEnvironment):
			return usagef("-n %v (with --env %q)", err, o.env)
		case err != nil:
			return err
		}
		if o.cluster.enabled {
			c, err := o.cluster.open()
			if err != nil {
				return err
			}
			if err := c.Read(ctx, rows); err != nil {
				return usagef("%v", err)
			}
		}
		return p.print(statusReport{Models: rows}, o.table(rows))
	})
}

func (o *statusOptions) table(rows []status.Row) table {
	t := table{header: []string{"MODEL", "ENV", "VERSION", "STATE", "CHANGED", "BY", "BLOCKED"}}
	if o.cluster.enabled {
		t.header = append(t.header, "CLUSTER", "RUNNING")
	}
	for _, r := range rows {
		changed, by := "-", "-"
		if c := r.LastChange; c != nil {
			changed, by = c.Time.Format("2006-01-02 15:04"), c.Author
			if i := strings.Index(by, " <"); i > 0 {
				by = by[:i]
			}
		}
		cells := []string{r.Model, dash(r.Environment), dash(r.Version), dash(r.State), changed, by, dash(strings.Join(r.Blocked, ","))}
		if o.cluster.enabled {
			cells = append(cells, "-", "-")
			if c := r.Cluster; c != nil {
				cells[len(cells)-2], cells[len(cells)-1] = c.Sync, running(c.Workloads)
			}
		}
		t.rows = append(t.rows, cells)
	}
	return t
}

// running is the table cell of what runs: "1.0.0 2/2" per Deployment, "ModelDeployment 1.1.0 ready" per resource.
func running(ws []status.Workload) string {
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = w.String()
	}
	return dash(strings.Join(parts, ", "))
}

func newStatusCommand(g *globalOptions) *cobra.Command {
	o := &statusOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "status [MODEL]",
		Short: "Show every model in every environment on one screen: what Git says, and what the cluster runs",
		Long: `status lists each model in each environment of marina.yaml: the version model.yaml
names, its state in the registry (registered, active, blocked, archived), the last
change of that environment's version from Git (time and author) and the model's
blocked versions. A registered model that no environment deploys has a row without one.

With --cluster, --kubeconfig, --context or -n it also reads the cluster: the objects
render emitted for the model and environment (found by their marina.dev/model and
marina.dev/environment labels: Deployments, and the ModelDeployment or InferenceService
of the marina and kserve backends), the version each runs and whether it is ready, and
compares them with Git:

  in-sync      Git's version runs, ready, and nothing else does
  progressing  Git's version is there but not ready yet, or other versions still run
  out-of-sync  Git's version runs nowhere: the GitOps engine has not applied it
  missing      nothing of the model runs in the environment's namespace

-n limits the rows to the environments that deploy to that namespace. Exit 0 when the
report was printed, 1 for an unknown MODEL, 2 on usage errors or an unreachable cluster.`,
		Example: `  # Every model in every environment, from Git
  marina status

  # One model, next to what the staging cluster runs
  marina status iris-classifier --context staging-cluster

  # As JSON for a script: the models whose prod is not in sync
  marina status --cluster -o json | jq '.models[] | select(.environment == "prod" and .cluster.sync != "in-sync")'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.cluster.imply(c.Flags())
			return runE(o, func(args []string) {
				if len(args) == 1 {
					o.model = args[0]
				}
			})(c, args)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
