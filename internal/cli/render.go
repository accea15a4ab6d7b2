package cli

import (
	"context"
	"fmt"
	"path"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/marina-dev/marina/internal/render"
	"github.com/marina-dev/marina/internal/repo"
)

type renderOptions struct {
	*globalOptions
	env, model string
	write      bool
}

func (o *renderOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.env, "env", "", "only this environment")
	fs.StringVar(&o.model, "model", "", "only this model")
	fs.BoolVar(&o.write, "write", false, "update applications/<model>/<env>/ in the work tree instead of printing")
}

func (o *renderOptions) Validate() error { return nil }

func (o *renderOptions) Run(ctx context.Context) error {
	batchGC()
	if !o.write {
		return o.read(func(r *repo.Repo, _ *printer) error {
			outs, err := render.Repo(r, render.Options{Env: o.env, Model: o.model})
			if err != nil {
				return err
			}
			first := true
			for _, out := range outs {
				for _, f := range out.Files {
					if path.Base(f.Path) == "kustomization.yaml" {
						continue
					}
					if !first {
						fmt.Fprintln(o.out, "---")
					}
					first = false
					fmt.Fprintf(o.out, "# Source: %s\n%s", f.Path, f.Data)
				}
			}
			return nil
		})
	}
	return o.globalOptions.write(func(r *repo.Repo) error {
		outs, err := render.Repo(r, render.Options{Env: o.env, Model: o.model})
		if err != nil {
			return err
		}
		changes, err := render.Changes(r, outs)
		if err != nil {
			return err
		}
		for _, c := range changes {
			verb := "wrote"
			if c.Delete {
				verb = "removed"
				err = r.RemoveFile(c.Path)
			} else {
				err = r.WriteFileAtomic(c.Path, c.Data)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(o.out, "%s %s\n", verb, c.Path)
		}
		if len(changes) == 0 {
			fmt.Fprintf(o.out, "rendered output is up to date (%d model/environment pairs)\n", len(outs))
		}
		return nil
	})
}

func newRenderCommand(g *globalOptions) *cobra.Command {
	o := &renderOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "render [--env ENV] [--model NAME] [--write]",
		Short: "Turn model.yaml and the registry into the Kubernetes manifests Argo CD or Flux apply",
		Long: `render reads applications/<model>/model.yaml and the registered versions it deploys
and produces, per environment, the manifests of its backend: plain (Deployment,
Service, HTTPRoute or Ingress, HPA or KEDA ScaledObject, PodDisruptionBudget,
ConfigMap, secret references), kserve (InferenceService) or marina (ModelDeployment).

Without --write the YAML goes to stdout. With --write, applications/<model>/<env>/
is updated in the work tree (commit it with git, or let promote and rollback do it:
they re-render in the same commit). Output is deterministic, so diffs stay minimal.`,
		Example: `  marina render --env staging
  marina render --model fraud-detector --env prod | kubectl diff -f -
  marina render --write && git commit -am "render"`,
		Args: cobra.NoArgs,
		RunE: runE(o, func([]string) {}),
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
