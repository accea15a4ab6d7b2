package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/marina-dev/marina/internal/report"
	"github.com/marina-dev/marina/internal/validate"
)

type validateOptions struct {
	*globalOptions
	checkOptions
	kube       kubeOptions
	env        string
	outputFile string
	server     bool

	format string // resolved from -o by Validate
}

func (o *validateOptions) AddFlags(fs *pflag.FlagSet) {
	o.checkOptions.AddFlags(fs)
	fs.StringVar(&o.env, "env", "", "only the checks of this environment")
	fs.StringVar(&o.outputFile, "output-file", "", "write the report to this file instead of stdout (stdout then gets the text report)")
	fs.BoolVar(&o.server, "server", false, "also apply everything the repository deploys to the cluster with a server-side dry run (changes nothing)")
	o.kube.AddFlags(fs)
}

func (o *validateOptions) Validate() error {
	var err error
	if o.format, err = resolveFormat("validate", o.output, report.Formats(&validate.Report{})); err != nil {
		return err
	}
	return o.checkOptions.Validate()
}

func (o *validateOptions) Run(ctx context.Context) error {
	batchGC()
	// Not g.read: its printer knows table|json|yaml, while validate writes its own formats.
	r, err := o.openRepo()
	if err != nil {
		return err
	}
	defer r.Close()
	rep, err := validate.Run(ctx, r, validate.Options{Env: o.env, ExtraCRDDirs: o.crds, Concurrency: o.concurrency})
	if err != nil {
		if errors.Is(err, validate.ErrUnknownEnv) {
			return usagef("--env: %v", err)
		}
		return usagef("%v", err)
	}
	if o.server {
		cfg, ns, err := o.kube.restConfig()
		if err != nil {
			return err
		}
		fs, err := validate.Server(ctx, r, cfg, validate.ServerOptions{Env: o.env, Namespace: ns, Concurrency: o.concurrency})
		if err != nil {
			return usagef("--server: %v", err)
		}
		rep.Add(fs...)
	}
	opts := report.Options{
		Color: o.colorEnabled() && o.outputFile == "",
		Tool:  marinaTool(),
	}
	if o.outputFile != "" {
		var buf bytes.Buffer
		if err := report.Write(&buf, o.format, rep, opts); err != nil {
			return err
		}
		if err := os.WriteFile(o.outputFile, buf.Bytes(), 0o644); err != nil {
			return usagef("--output-file: %v", err)
		}
		if err := rep.WriteText(o.out, o.colorEnabled()); err != nil {
			return err
		}
	} else if err := report.Write(o.out, o.format, rep, opts); err != nil {
		return err
	}
	if n := rep.Errors(); n > 0 {
		return failedf("validation failed: %s", plural(n, "error"))
	}
	return nil
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func newValidateCommand(g *globalOptions) *cobra.Command {
	o := &validateOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "validate [--env ENV] [--server [--kubeconfig K] [--context C]] [-o text|json|sarif|junit] [--crds DIR]... [--output-file F]",
		Short: "Check the model repository offline: schemas, references, Kubernetes objects, policies, gates, rendered output",
		Long: `validate checks the whole model repository without a cluster or network:

  - marina.yaml, applications/*/model.yaml, models/*/v*.json and ci/pipeline.yaml
    against marina's schemas;
  - every Kubernetes object under applications/*/<env>/, infrastructure/ and gitops/
    against the Kubernetes and CRD schemas built into marina (add more with --crds);
  - cross-references: registered, unblocked versions; environments, config and
    sealed-secret files that exist; an overlay and Argo CD/Flux entry per environment;
  - the policies of marina.yaml (limits, digest-pinned images, signed artifacts:
    each deployed version's signature verified with spec.signing.publicKeys),
    GPU tolerations and the GPU ResourceQuota, and the quality gates;
  - rendered output in applications/<model>/<env>/ that is stale against model.yaml.

Each finding names a rule, the file, the field path and line where known, and a
hint. Exit status: 1 when any finding is an error, 0 otherwise (warnings and notes
do not fail), 2 on a usage or environment problem.

With --server, everything the repository deploys is also sent to the cluster of
the kubeconfig (--kubeconfig, --context; -n for objects that name no namespace)
as a server-side apply dry run: the API server's own validation, CRD schemas and
CEL rules and admission judge each object, and nothing is changed. Rejections are
k8s-server findings naming the file and field.

Formats: text (default), json, sarif (SARIF 2.1.0 for code scanning) and junit
(JUnit XML for CI test reports).`,
		Example: `  # Everything, as text
  marina validate

  # Only what applies to prod, with extra CRDs for a kind marina does not know
  marina validate --env prod --crds ./crds/kserve

  # Also ask the staging cluster's API server (dry run: nothing is changed)
  marina validate --server --context staging

  # SARIF for GitHub code scanning, the text report on stdout
  marina validate -o sarif --output-file marina.sarif

  # JUnit XML for GitLab's test report
  marina validate -o junit --output-file marina-junit.xml`,
		Args: cobra.NoArgs,
		RunE: runE(o, func([]string) {}),
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
